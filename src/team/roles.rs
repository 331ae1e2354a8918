//! Role briefings (`roles/*.md`, built in; a user roles folder overrides or adds).
//!
//! A role file is TOML front matter between two lines that are exactly `+++`,
//! followed by a Markdown briefing. The briefing may use `{{name}}`
//! placeholders (see [`PLACEHOLDERS`]); [`render`] fills them in when an agent
//! is briefed. The front matter says how orc treats the role:
//!
//! ```text
//! +++
//! name = "developer"            # must equal the file stem
//! title = "Developer"           # tmux window title
//! description = "one line"
//! checkin_minutes = 30          # optional: default recurring check-in
//! branch_prefix = "dev"
//! may_message = ["orchestrator", "tester"]   # roles it may message directly
//! depends_on = []               # roles whose work it waits on
//! +++
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use toml::Spanned;

include!(concat!(env!("OUT_DIR"), "/role_files.rs"));

/// The placeholders orc fills in a briefing.
#[cfg(test)]
pub const PLACEHOLDERS: &[&str] = &[
    "agent",
    "role",
    "project",
    "project_path",
    "spec",
    "plan",
    "worktree",
    "branch",
    "parent_branch",
    "roster",
    "hub",
];

/// `Role::source` of a role compiled into orc.
pub const BUILTIN: &str = "built-in";

#[derive(Debug, Clone, Serialize)]
pub struct Role {
    pub name: String,
    /// The tmux window title.
    pub title: String,
    pub description: String,
    /// The default recurring check-in, in minutes.
    pub checkin_minutes: Option<f64>,
    /// Short, for branch names.
    pub branch_prefix: String,
    /// Roles this role may message directly (the hub is always allowed).
    pub may_message: Vec<String>,
    /// Roles whose work this role waits on.
    pub depends_on: Vec<String>,
    /// The Markdown briefing, placeholders unfilled.
    pub body: String,
    /// `"built-in"` or the path of the file it came from.
    pub source: String,
}

impl Role {
    /// The placeholder names the briefing uses, sorted, each once.
    #[cfg(test)]
    pub fn placeholders(&self) -> Vec<String> {
        let set: BTreeSet<String> = placeholder_re()
            .captures_iter(&self.body)
            .map(|c| c[1].to_string())
            .collect();
        set.into_iter().collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// Something wrong inside a role file, with the file line it is on.
    #[error("{file} line {line}: {message}")]
    Invalid {
        file: String,
        line: usize,
        message: String,
    },
    #[error("cannot read {}: {error}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error(
        "{file} line {line}: {key} names {name:?}, which is not a role; known roles: {}. \
         Fix the name or add {name}.md to the roles folder",
        known.join(", ")
    )]
    UnknownReference {
        file: String,
        line: usize,
        key: String,
        name: String,
        known: Vec<String>,
    },
    #[error(
        "no role named {name:?}; known roles: {}. To define it, add {name}.md to the roles folder",
        known.join(", ")
    )]
    UnknownRole { name: String, known: Vec<String> },
    #[error(
        "the briefing of role {role:?} uses {} but no value was given for {}; \
         fill it in, or remove it from the briefing",
        braced(missing),
        if missing.len() == 1 { "it" } else { "them" }
    )]
    MissingValue { role: String, missing: Vec<String> },
}

fn braced(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{{{{{n}}}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn placeholder_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}").unwrap())
}

/// Front matter as written; spans locate errors.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Front {
    name: Spanned<String>,
    title: Spanned<String>,
    description: Spanned<String>,
    #[serde(default)]
    checkin_minutes: Option<Spanned<f64>>,
    branch_prefix: Spanned<String>,
    #[serde(default)]
    may_message: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    depends_on: Option<Spanned<Vec<String>>>,
}

/// A parsed role and where its keys are in its file, for later checks.
struct Parsed {
    role: Role,
    /// The file as errors name it.
    file: String,
    name_line: usize,
    may_message_line: usize,
    depends_on_line: usize,
}

/// Parse one role file. `source` names it in errors and becomes `Role::source`.
#[cfg(test)]
pub fn parse(source: &str, text: &str) -> Result<Role, RoleError> {
    parse_inner(source, source, text).map(|p| p.role)
}

fn parse_inner(file: &str, source: &str, text: &str) -> Result<Parsed, RoleError> {
    let err = |line: usize, message: String| invalid(file, line, message);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (fm_start, fm_end, body_start, close_line) = front_matter_bounds(file, text)?;
    let fm = &text[fm_start..fm_end];
    // Line in the file of a byte offset in the front matter (line 1 is `+++`).
    let line_of = |pos: usize| 2 + fm[..pos.min(fm.len())].matches('\n').count();

    let front: Front = toml::from_str(fm).map_err(|e| {
        let line = e.span().map(|s| line_of(s.start)).unwrap_or(1);
        err(line, format!("front matter: {}", e.message().trim_end()))
    })?;
    check_front(file, &front, &line_of)?;
    let name = front.name.get_ref();
    let list =
        |key: &str, v: &Option<Spanned<Vec<String>>>| name_list(file, key, v, name, &line_of);
    let (may_message, may_message_line) = list("may_message", &front.may_message)?;
    let (depends_on, depends_on_line) = list("depends_on", &front.depends_on)?;

    let body = text[body_start..].trim_start_matches(['\n', '\r']);
    if body.trim().is_empty() {
        return Err(err(
            close_line,
            "the briefing is empty: write it in Markdown after the closing `+++`".into(),
        ));
    }

    Ok(Parsed {
        role: Role {
            name: name.clone(),
            title: front.title.get_ref().trim().to_string(),
            description: front.description.get_ref().trim().to_string(),
            checkin_minutes: front.checkin_minutes.map(|m| m.into_inner()),
            branch_prefix: front.branch_prefix.into_inner(),
            may_message,
            depends_on,
            body: body.to_string(),
            source: source.to_string(),
        },
        file: file.to_string(),
        name_line: line_of(front.name.span().start),
        may_message_line,
        depends_on_line,
    })
}

fn invalid(file: &str, line: usize, message: String) -> RoleError {
    RoleError::Invalid {
        file: file.to_string(),
        line,
        message,
    }
}

/// Where the front matter is: (its start, its end, the body's start, the
/// line of the closing fence), in bytes of `text`.
fn front_matter_bounds(file: &str, text: &str) -> Result<(usize, usize, usize, usize), RoleError> {
    let err = |line: usize, message: String| invalid(file, line, message);
    let is_fence = |l: &str| l.trim_end() == "+++";

    let mut lines = text.split_inclusive('\n');
    match lines.next() {
        Some(first) if is_fence(first) => {}
        _ => {
            return Err(err(
                1,
                "a role file must start with a line `+++` that opens its TOML front matter \
                 (name, title, description, ...), closed by another `+++` line"
                    .into(),
            ))
        }
    }
    let fm_start = text.split_inclusive('\n').next().unwrap().len();
    // Find the closing fence; `offset` is the byte offset of the current line.
    let mut offset = fm_start;
    let mut line_no = 1;
    let mut close = None;
    for l in lines {
        line_no += 1;
        if is_fence(l) {
            close = Some((offset, offset + l.len(), line_no));
            break;
        }
        offset += l.len();
    }
    let Some((fm_end, body_start, close_line)) = close else {
        return Err(err(
            1,
            "the front matter opened here is never closed: add a line `+++` after its keys".into(),
        ));
    };
    Ok((fm_start, fm_end, body_start, close_line))
}

/// The one-line fields of the front matter, the check-in interval and the
/// branch prefix.
fn check_front(
    file: &str,
    front: &Front,
    line_of: &dyn Fn(usize) -> usize,
) -> Result<(), RoleError> {
    let err = |line: usize, message: String| invalid(file, line, message);
    let name = front.name.get_ref();
    if let Err(why) = check_name(name) {
        return Err(err(
            line_of(front.name.span().start),
            format!("name: {why}"),
        ));
    }
    if front.title.get_ref().trim().is_empty() || front.title.get_ref().contains(['\n', '\r']) {
        return Err(err(
            line_of(front.title.span().start),
            "title must be one non-empty line (it becomes the tmux window title)".into(),
        ));
    }
    if front.description.get_ref().contains(['\n', '\r']) {
        return Err(err(
            line_of(front.description.span().start),
            "description must be a single line".into(),
        ));
    }
    if let Some(m) = &front.checkin_minutes {
        let v = *m.get_ref();
        if !v.is_finite() || v <= 0.0 {
            return Err(err(
                line_of(m.span().start),
                format!("checkin_minutes must be a number of minutes above 0; got {v}"),
            ));
        }
    }
    if let Err(why) = check_name(front.branch_prefix.get_ref()) {
        return Err(err(
            line_of(front.branch_prefix.span().start),
            format!("branch_prefix: {why}"),
        ));
    }
    Ok(())
}

/// A list of role names (`may_message`, `depends_on`), checked, without
/// duplicates, and its line (1 when absent).
fn name_list(
    file: &str,
    key: &str,
    v: &Option<Spanned<Vec<String>>>,
    name: &str,
    line_of: &dyn Fn(usize) -> usize,
) -> Result<(Vec<String>, usize), RoleError> {
    let err = |line: usize, message: String| invalid(file, line, message);
    let Some(v) = v else {
        return Ok((Vec::new(), 1));
    };
    let line = line_of(v.span().start);
    let mut out: Vec<String> = Vec::new();
    for n in v.get_ref() {
        check_name(n).map_err(|why| err(line, format!("{key}: {why}")))?;
        if n == name {
            return Err(err(line, format!("{key} lists the role itself ({name:?})")));
        }
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    Ok((out, line))
}

/// Role names become file names and parts of branch names: keep them plain.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > 64 {
        return Err(format!(
            "{name:?} is {} bytes long; the limit is 64",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
    {
        return Err(format!(
            "{name:?} contains {c:?}; use letters, digits, `_` and `-` only"
        ));
    }
    if name.starts_with('-') {
        return Err(format!("{name:?} must not start with `-`"));
    }
    Ok(())
}

/// Fill every `{{name}}` in the role's briefing from `vars`. A placeholder with
/// no value is an error; values are inserted as they are (not expanded again).
pub fn render(role: &Role, vars: &BTreeMap<String, String>) -> Result<String, RoleError> {
    let re = placeholder_re();
    let mut missing = BTreeSet::new();
    let mut out = String::with_capacity(role.body.len());
    let mut last = 0;
    for c in re.captures_iter(&role.body) {
        let whole = c.get(0).unwrap();
        out.push_str(&role.body[last..whole.start()]);
        match vars.get(&c[1]) {
            Some(v) => out.push_str(v),
            None => {
                missing.insert(c[1].to_string());
            }
        }
        last = whole.end();
    }
    out.push_str(&role.body[last..]);
    if !missing.is_empty() {
        return Err(RoleError::MissingValue {
            role: role.name.clone(),
            missing: missing.into_iter().collect(),
        });
    }
    Ok(out)
}

/// Every role orc knows: the built-in ones and those from a user folder.
#[derive(Debug, Clone)]
pub struct RoleSet {
    roles: BTreeMap<String, Role>,
}

impl RoleSet {
    /// The roles compiled into orc. Panics only if a built-in file is broken,
    /// which a unit test rules out.
    pub fn builtin() -> RoleSet {
        match Self::try_builtin() {
            Ok(set) => set,
            Err(e) => panic!("a built-in role file is broken: {e}"),
        }
    }

    fn builtin_parsed() -> Result<BTreeMap<String, Parsed>, RoleError> {
        let mut out = BTreeMap::new();
        for (stem, text) in ROLE_FILES {
            let file = format!("roles/{stem}.md");
            let p = parse_inner(&file, BUILTIN, text)?;
            check_stem(&p, stem)?;
            out.insert(p.role.name.clone(), p);
        }
        Ok(out)
    }

    fn try_builtin() -> Result<RoleSet, RoleError> {
        Self::finish(Self::builtin_parsed()?)
    }

    /// The built-in roles, then every `*.md` in `user_dir`: a file overrides the
    /// built-in role of the same name or adds a new role. A `user_dir` that does
    /// not exist is the same as none.
    pub fn load(user_dir: Option<&Path>) -> Result<RoleSet, RoleError> {
        let mut all = Self::builtin_parsed()?;
        if let Some(dir) = user_dir {
            for path in role_files_in(dir)? {
                let text = std::fs::read_to_string(&path).map_err(|error| RoleError::Io {
                    path: path.clone(),
                    error,
                })?;
                let file = path.display().to_string();
                let p = parse_inner(&file, &file, &text)?;
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                check_stem(&p, stem)?;
                all.insert(p.role.name.clone(), p);
            }
        }
        Self::finish(all)
    }

    /// Check that every role named in `may_message` and `depends_on` exists.
    fn finish(all: BTreeMap<String, Parsed>) -> Result<RoleSet, RoleError> {
        let known: Vec<String> = all.keys().cloned().collect();
        for p in all.values() {
            for (key, names, line) in [
                ("may_message", &p.role.may_message, p.may_message_line),
                ("depends_on", &p.role.depends_on, p.depends_on_line),
            ] {
                if let Some(n) = names.iter().find(|n| !all.contains_key(*n)) {
                    return Err(RoleError::UnknownReference {
                        file: p.file.clone(),
                        line,
                        key: key.into(),
                        name: n.clone(),
                        known,
                    });
                }
            }
        }
        Ok(RoleSet {
            roles: all.into_iter().map(|(k, p)| (k, p.role)).collect(),
        })
    }

    pub fn get(&self, name: &str) -> Result<&Role, RoleError> {
        self.roles.get(name).ok_or_else(|| RoleError::UnknownRole {
            name: name.to_string(),
            known: self.roles.keys().cloned().collect(),
        })
    }

    /// Role names, sorted.
    #[cfg(test)]
    pub fn names(&self) -> Vec<&str> {
        self.roles.keys().map(String::as_str).collect()
    }

    /// Roles, sorted by name.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.roles.len()
    }
}

fn check_stem(p: &Parsed, stem: &str) -> Result<(), RoleError> {
    if p.role.name != stem {
        return Err(RoleError::Invalid {
            file: p.file.clone(),
            line: p.name_line,
            message: format!(
                "name {:?} does not match the file name {stem:?}: a role file is named \
                 <name>.md; rename the file or change the name",
                p.role.name
            ),
        });
    }
    Ok(())
}

/// `*.md` files in `dir` (not hidden, not folders), sorted; none if `dir` is missing.
fn role_files_in(dir: &Path) -> Result<Vec<PathBuf>, RoleError> {
    let io = |error| RoleError::Io {
        path: dir.to_path_buf(),
        error,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(io)?.path();
        let visible = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.starts_with('.'));
        if visible && path.extension().is_some_and(|e| e == "md") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPECTED: &[&str] = &[
        "code_reviewer",
        "databaseops",
        "developer",
        "devops",
        "documentation_writer",
        "logtracker",
        "monitoringops",
        "networkops",
        "orchestrator",
        "project_manager",
        "researcher",
        "securityops",
        "sysadmin",
        "tester",
        "testrunner",
    ];

    fn vars() -> BTreeMap<String, String> {
        PLACEHOLDERS
            .iter()
            .map(|p| (p.to_string(), format!("<{p}>")))
            .collect()
    }

    fn role_text(name: &str, extra: &str) -> String {
        format!(
            "+++\nname = \"{name}\"\ntitle = \"T\"\ndescription = \"d\"\nbranch_prefix = \"x\"\n\
             {extra}+++\nHello {{{{agent}}}}.\n"
        )
    }

    fn err_text(r: Result<Role, RoleError>) -> String {
        r.expect_err("should fail").to_string()
    }

    #[test]
    fn all_builtins_parse_with_expected_names() {
        let set = RoleSet::try_builtin().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.names(), EXPECTED);
        for r in set.iter() {
            assert_eq!(r.source, BUILTIN);
            let want = match r.name.as_str() {
                "orchestrator" => 20.0,
                "project_manager" => 25.0,
                _ => 30.0,
            };
            assert_eq!(r.checkin_minutes, Some(want), "{}", r.name);
            assert!(!r.title.is_empty() && !r.description.is_empty());
        }
        let d = set.get("developer").unwrap();
        assert_eq!(d.branch_prefix, "dev");
        assert!(d.may_message.iter().any(|m| m == "orchestrator"));
    }

    #[test]
    fn builtin_references_name_known_roles() {
        let set = RoleSet::builtin();
        for r in set.iter() {
            for n in r.may_message.iter().chain(&r.depends_on) {
                assert!(EXPECTED.contains(&n.as_str()), "{}: {n}", r.name);
            }
            if r.name != "orchestrator" {
                assert!(
                    r.may_message.iter().any(|m| m == "orchestrator"),
                    "{}",
                    r.name
                );
            }
        }
        for ops in ["monitoringops", "securityops", "networkops", "databaseops"] {
            assert_eq!(set.get(ops).unwrap().depends_on, ["sysadmin"]);
        }
        for r in [
            "tester",
            "testrunner",
            "code_reviewer",
            "documentation_writer",
        ] {
            assert!(set
                .get(r)
                .unwrap()
                .depends_on
                .iter()
                .any(|d| d == "developer"));
        }
        assert_eq!(
            set.get("project_manager").unwrap().depends_on,
            ["developer", "tester", "devops"]
        );
    }

    #[test]
    fn builtin_placeholders_are_documented_and_braces_balanced() {
        let re = placeholder_re();
        for r in RoleSet::builtin().iter() {
            for p in r.placeholders() {
                assert!(
                    PLACEHOLDERS.contains(&p.as_str()),
                    "{}: {{{{{p}}}}}",
                    r.name
                );
            }
            // No half-written placeholder such as `{{agent}` or `{ {hub}}`.
            let rest = re.replace_all(&r.body, "");
            assert!(!rest.contains("{{") && !rest.contains("}}"), "{}", r.name);
            let out = render(r, &vars()).unwrap();
            assert!(!out.contains("{{"), "{}", r.name);
        }
    }

    #[test]
    fn builtin_briefings_cover_orc_and_git() {
        for r in RoleSet::builtin().iter() {
            let lines = r.body.lines().count();
            assert!((40..=100).contains(&lines), "{}: {lines} lines", r.name);
            for needle in [
                "orc send",
                "orc report",
                "orc schedule",
                "orc schedule list",
                "orc messages",
                "orc log",
                "{{hub}}",
                "{{worktree}}",
                "{{branch}}",
                "{{parent_branch}}",
                "{{roster}}",
                "{{spec}}",
                "force-push",
                "30 minutes",
            ] {
                if r.name == "orchestrator" && needle == "{{hub}}" {
                    continue; // it is the hub
                }
                assert!(r.body.contains(needle), "{} lacks {needle:?}", r.name);
            }
            assert!(!r.body.contains("MUST"), "{}", r.name);
        }
        let orch = RoleSet::builtin().get("orchestrator").unwrap().body.clone();
        for needle in ["orc task", "orc ps", "orc credits", "{{plan}}"] {
            assert!(orch.contains(needle), "orchestrator lacks {needle:?}");
        }
    }

    #[test]
    fn parses_a_minimal_role() {
        let r = parse("roles/x.md", &role_text("x", "")).unwrap();
        assert_eq!(r.name, "x");
        assert_eq!(r.checkin_minutes, None);
        assert!(r.may_message.is_empty() && r.depends_on.is_empty());
        assert_eq!(r.body, "Hello {{agent}}.\n");
        assert_eq!(r.source, "roles/x.md");
        let r = parse("f", &role_text("x", "checkin_minutes = 0.5\n")).unwrap();
        assert_eq!(r.checkin_minutes, Some(0.5));
        let r = parse("f", &role_text("x", "checkin_minutes = 45\n")).unwrap();
        assert_eq!(r.checkin_minutes, Some(45.0));
        // CRLF line endings are fine.
        let crlf = role_text("x", "").replace('\n', "\r\n");
        assert_eq!(parse("f", &crlf).unwrap().title, "T");
    }

    #[test]
    fn toml_error_reports_the_file_line() {
        // Line 1 is `+++`; the bad value is on line 4.
        let text = "+++\nname = \"x\"\ntitle = \"T\"\ndescription = \n+++\nbody\n";
        let e = err_text(parse("roles/x.md", text));
        assert!(e.starts_with("roles/x.md line 4: front matter:"), "{e}");
        let text = role_text("x", "checkin_minutes = \"soon\"\n");
        let e = err_text(parse("roles/x.md", &text));
        assert!(e.starts_with("roles/x.md line 6:"), "{e}");
    }

    #[test]
    fn front_matter_must_open_on_line_one_and_close() {
        let e = err_text(parse("roles/x.md", &format!("\n{}", role_text("x", ""))));
        assert!(
            e.starts_with("roles/x.md line 1:") && e.contains("`+++`"),
            "{e}"
        );
        let e = err_text(parse("roles/x.md", "+++\nname = \"x\"\ntitle = \"T\"\n"));
        assert!(
            e.starts_with("roles/x.md line 1:") && e.contains("never closed"),
            "{e}"
        );
        let e = err_text(parse("roles/x.md", ""));
        assert!(e.starts_with("roles/x.md line 1:"), "{e}");
        let e = err_text(parse(
            "roles/x.md",
            &role_text("x", "").replace("Hello {{agent}}.\n", "\n"),
        ));
        assert!(
            e.starts_with("roles/x.md line 6:") && e.contains("empty"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_is_an_error_on_its_line() {
        let e = err_text(parse("roles/x.md", &role_text("x", "colour = \"red\"\n")));
        assert!(e.starts_with("roles/x.md line 6:"), "{e}");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn bad_values_are_rejected_with_their_line() {
        let e = err_text(parse("r.md", &role_text("a b", "")));
        assert!(
            e.starts_with("r.md line 2: name:") && e.contains("letters, digits"),
            "{e}"
        );
        let e = err_text(parse("r.md", &role_text("x", "checkin_minutes = 0\n")));
        assert!(
            e.starts_with("r.md line 6:") && e.contains("above 0"),
            "{e}"
        );
        let e = err_text(parse("r.md", &role_text("x", "depends_on = [\"x\"]\n")));
        assert!(e.starts_with("r.md line 6:") && e.contains("itself"), "{e}");
        let e = err_text(parse("r.md", &role_text("x", "may_message = [\"a/b\"]\n")));
        assert!(e.starts_with("r.md line 6: may_message:"), "{e}");
        let e = err_text(parse("r.md", "+++\nname = \"x\"\n+++\nbody\n"));
        assert!(e.contains("missing field") && e.contains("title"), "{e}");
    }

    #[test]
    fn user_dir_overrides_and_adds() {
        let dir = tempfile::tempdir().unwrap();
        let dev = "+++\nname = \"developer\"\ntitle = \"Dev\"\ndescription = \"mine\"\n\
                   branch_prefix = \"d\"\nmay_message = [\"orchestrator\", \"qa\"]\n+++\nMine.\n";
        std::fs::write(dir.path().join("developer.md"), dev).unwrap();
        let qa = role_text("qa", "depends_on = [\"developer\"]\n");
        std::fs::write(dir.path().join("qa.md"), qa).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        std::fs::create_dir(dir.path().join("teams")).unwrap();

        let set = RoleSet::load(Some(dir.path())).unwrap();
        assert_eq!(set.len(), EXPECTED.len() + 1);
        let d = set.get("developer").unwrap();
        assert_eq!(d.description, "mine");
        assert_eq!(d.body, "Mine.\n");
        assert_eq!(
            d.source,
            dir.path().join("developer.md").display().to_string()
        );
        assert_eq!(set.get("qa").unwrap().depends_on, ["developer"]);
        assert_eq!(set.get("tester").unwrap().source, BUILTIN);

        // A missing folder, or none, gives the built-ins.
        let none = RoleSet::load(Some(&dir.path().join("absent"))).unwrap();
        assert_eq!(none.names(), EXPECTED);
        assert_eq!(RoleSet::load(None).unwrap().names(), EXPECTED);
    }

    #[test]
    fn user_dir_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.md");
        std::fs::write(&path, role_text("qa", "")).unwrap();
        let e = RoleSet::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{} line 2:", path.display())), "{e}");
        assert!(e.contains("does not match the file name"), "{e}");

        std::fs::remove_file(&path).unwrap();
        let path = dir.path().join("qa.md");
        std::fs::write(&path, role_text("qa", "may_message = [\"nobody\"]\n")).unwrap();
        let e = RoleSet::load(Some(dir.path())).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{} line 6: may_message", path.display())),
            "{e}"
        );
        assert!(e.contains("\"nobody\"") && e.contains("developer"), "{e}");

        let file = dir.path().join("qa.md");
        let e = RoleSet::load(Some(&file)).unwrap_err().to_string();
        assert!(e.starts_with("cannot read"), "{e}");
    }

    #[test]
    fn render_fills_values_and_rejects_missing_ones() {
        let mut r = parse("f", &role_text("x", "")).unwrap();
        r.body = "{{agent}} on {{ project }}; plan:\n{{plan}}\n{{agent}}".into();
        let mut v = BTreeMap::new();
        v.insert("agent".to_string(), "dev1".to_string());
        v.insert("project".to_string(), "shop".to_string());
        v.insert("plan".to_string(), "1. {{hub}} first\n2. then".to_string());
        assert_eq!(
            render(&r, &v).unwrap(),
            "dev1 on shop; plan:\n1. {{hub}} first\n2. then\ndev1"
        );
        v.remove("plan");
        let e = render(&r, &v).unwrap_err().to_string();
        assert!(e.contains("\"x\"") && e.contains("{{plan}}"), "{e}");

        r.body = "plain text, { braces } and }} alone {{".into();
        assert_eq!(render(&r, &BTreeMap::new()).unwrap(), r.body);
    }

    #[test]
    fn unknown_role_error_lists_the_names() {
        let e = RoleSet::builtin().get("wizard").unwrap_err().to_string();
        assert!(e.contains("\"wizard\""), "{e}");
        for n in EXPECTED {
            assert!(e.contains(n), "{e}");
        }
    }
}
