//! Names are names. Agent names, senders, projects, accounts and sessions
//! become file names, tmux tags and message headers: they all follow the
//! agent-name rule ([`check`]). `orc` and `user` are reserved agent names,
//! and `orc` is a sender nobody can claim from the CLI. Every request is
//! checked here at the daemon's door ([`check_request`]) before it reaches an
//! actor; [`confined`] checks that a state path resolves under the state dir.

use std::path::{Component, Path, PathBuf};

use crate::proto::Request;
use crate::routing::SYSTEM_SENDER;

/// The sender of messages from a person or a script.
pub const USER: &str = "user";
/// The most a message, a check-in note, or a report's details may hold.
pub const MAX_TEXT: usize = 64 * 1024;
/// The shortest interval between check-ins, unless `[checkins]
/// min_every_seconds` lowers it (tests do).
pub const MIN_EVERY_SECS: u64 = 60;

/// The name rule: 1–64 bytes of letters, digits, `-`, `_`, `.`; not starting
/// with `-` or `.`. `kind` names what is checked ("agent name", "project").
pub fn check(kind: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{kind} is empty"));
    }
    if name.len() > 64 {
        return Err(format!(
            "{kind} is {} bytes long; the limit is 64",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("{kind} `{name}` is reserved"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "{kind} {name:?} contains {c:?}; use letters, digits, `-`, `_` and `.` only"
        ));
    }
    if name.starts_with('-') || name.starts_with('.') {
        return Err(format!("{kind} {name:?} must not start with `-` or `.`"));
    }
    Ok(())
}

/// A new agent's name: the rule, and not `orc` or `user`.
pub fn agent(name: &str) -> Result<(), String> {
    check("agent name", name)?;
    if name == SYSTEM_SENDER {
        return Err(format!("agent name `{name}` is reserved: orc signs its own messages (briefings, check-ins, resume prompts) with it; pick another name"));
    }
    if name == USER {
        return Err(format!("agent name `{name}` is reserved: it is the sender of messages from a person, so nobody could message such an agent; pick another name"));
    }
    Ok(())
}

/// `--from`: the rule, and never `orc` (orc's own messages skip the hub copy).
pub fn sender(from: &str) -> Result<(), String> {
    check("sender (--from)", from)?;
    if from == SYSTEM_SENDER {
        return Err(format!("sender `{from}` is reserved for orc's own messages; send as yourself (`user`, the default) or as an agent"));
    }
    Ok(())
}

/// A role: free text in role files, but it lands in window titles and
/// headers: printable, 1–64 characters.
pub fn role(role: &str) -> Result<(), String> {
    if role.is_empty()
        || role.chars().count() > 64
        || role
            .chars()
            .any(|c| c.is_control() || crate::shown::is_hidden(c))
    {
        return Err(format!(
            "role {} must be 1 to 64 printable characters",
            crate::shown::debug(role)
        ));
    }
    Ok(())
}

/// Check a request before it reaches any actor: every name in it follows the
/// name rule, texts are within their limits.
pub fn check_request(req: &Request) -> Result<(), String> {
    let text_limit = |what: &str, t: &str| {
        if t.len() > MAX_TEXT {
            Err(format!(
                "{what} is {} bytes; the limit is {MAX_TEXT}: put it in a file and send its path instead",
                t.len()
            ))
        } else {
            Ok(())
        }
    };
    match req {
        Request::Spawn(s) => {
            agent(&s.name)?;
            if let Some(p) = &s.project {
                check("project (--project)", p)?;
            }
            if let Some(a) = &s.account {
                if !a.trim().is_empty() {
                    check("account (--account)", a)?;
                }
            }
            if let Some(r) = &s.role {
                role(r)?;
            }
            if let Some(p) = &s.profile {
                check("profile (--profile)", p)?;
            }
            if let Some(x) = &s.session {
                check("tmux session name", x)?;
            }
        }
        Request::Kill { name }
        | Request::Restart { name }
        | Request::Locate { name }
        | Request::Screen { name }
        | Request::DebugPanic { name } => check("agent name", name)?,
        Request::Logs { name, .. } => check("agent name", name)?,
        Request::Rename { name, title } => {
            check("agent name", name)?;
            let t = title.trim();
            if t.is_empty() || t.chars().count() > 64 || t.chars().any(|c| c.is_control()) {
                return Err("the title must be 1 to 64 printable characters".into());
            }
        }
        Request::Send {
            name, text, from, ..
        } => {
            check("agent name", name)?;
            if let Some(f) = from {
                sender(f)?;
            }
            text_limit("the message", text)?;
        }
        Request::Brief { name, text } => {
            check("agent name", name)?;
            text_limit("the briefing", text)?;
        }
        Request::Report { from, details, .. } => {
            check("agent name (--from)", from)?;
            text_limit("the report's details", details)?;
        }
        Request::Schedule { to, from, note, .. } => {
            check("agent name (--to)", to)?;
            if let Some(f) = from {
                sender(f)?;
            }
            text_limit("the check-in note", note)?;
        }
        Request::Messages { agent: Some(a), .. } => check("agent name (--agent)", a)?,
        Request::Hook { agent, event, .. } => {
            check("agent name (ORC_AGENT)", agent)?;
            check("hook event", event)?;
        }
        Request::Git { project: Some(p) } => check("project (--project)", p)?,
        Request::ScheduleCancel { id } => check("job id", id)?,
        _ => {}
    }
    Ok(())
}

/// The shortest allowed `--every`, in seconds.
pub fn check_every(every: Option<u64>, floor: u64) -> Result<(), String> {
    match every {
        Some(e) if e < floor => Err(format!(
            "--every {} minutes is too often: check-ins may come at most once every {} (set `[checkins] min_every_seconds` in config.toml to change it)",
            e as f64 / 60.0,
            if floor % 60 == 0 {
                format!("{} minute(s)", floor / 60)
            } else {
                format!("{floor} s")
            }
        )),
        _ => Ok(()),
    }
}

/// `path` (absolute, or relative to `root`) resolved as far as it exists,
/// symlinks followed; an error unless the result stays under `root`.
pub fn confined(root: &Path, path: &Path) -> Result<PathBuf, String> {
    let joined = root.join(path);
    let base = root.canonicalize().unwrap_or_else(|_| lexical(root));
    // Resolve the longest existing ancestor; add the rest lexically.
    let mut existing = joined.as_path();
    let mut rest = Vec::new();
    let resolved = loop {
        match existing.canonicalize() {
            Ok(p) => break p,
            Err(_) => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    existing = parent;
                }
                _ => break lexical(existing),
            },
        }
    };
    let mut full = resolved;
    for r in rest.into_iter().rev() {
        full.push(r);
    }
    let full = lexical(&full);
    if full.starts_with(&base) {
        Ok(full)
    } else {
        Err(format!(
            "{} resolves to {}, outside orc's state dir {}; refusing to use it",
            joined.display(),
            full.display(),
            base.display()
        ))
    }
}

/// `..` and `.` removed without touching the file system.
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_bad_names() {
        assert!(agent("orc").unwrap_err().contains("reserved"));
        assert!(agent("user").unwrap_err().contains("reserved"));
        assert!(agent("dev-1").is_ok());
        assert!(sender("orc").unwrap_err().contains("reserved for orc"));
        assert!(sender("").unwrap_err().contains("sender (--from) is empty"));
        let e = sender("mallory\x1b[201~x\r").unwrap_err();
        assert!(e.contains("\\u{1b}") && !e.contains('\x1b'), "{e}");
        assert!(sender("user").is_ok());
        for p in ["/abs", "../..", "a/b", "..", ""] {
            assert!(check("project", p).is_err(), "{p}");
        }
        assert!(
            role("x#(touch${IFS}/tmp/y)").is_ok(),
            "printable: escaped for tmux"
        );
        assert!(role("a\x1b]0;t\x07").is_err());
    }

    #[test]
    fn requests_are_checked_at_the_door() {
        let send = |from: Option<&str>, text: &str| Request::Send {
            name: "dev".into(),
            text: text.into(),
            from: from.map(Into::into),
            wait: false,
        };
        assert!(check_request(&send(Some("orc"), "x")).is_err());
        assert!(check_request(&send(Some(""), "x")).is_err());
        assert!(check_request(&send(None, &"x".repeat(MAX_TEXT + 1))).is_err());
        assert!(check_request(&send(Some("pm"), "x")).is_ok());
        let logs = Request::Logs {
            name: "../../etc".into(),
            transcript: false,
        };
        assert!(check_request(&logs).is_err());
        let sched = Request::Schedule {
            to: "dev".into(),
            from: None,
            note: "n".repeat(MAX_TEXT + 1),
            at: chrono::Utc::now(),
            every: None,
        };
        assert!(check_request(&sched).unwrap_err().contains("check-in note"));
    }

    #[test]
    fn every_has_a_floor() {
        assert!(check_every(Some(1), 60).unwrap_err().contains("too often"));
        assert!(check_every(Some(60), 60).is_ok());
        assert!(check_every(Some(1), 1).is_ok());
        assert!(check_every(None, 60).is_ok());
    }

    #[test]
    fn paths_stay_under_the_state_dir() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("state");
        std::fs::create_dir_all(root.join("projects")).unwrap();
        assert!(confined(&root, Path::new("projects/p/team.json")).is_ok());
        assert!(confined(&root, Path::new("projects/../../x")).is_err());
        assert!(confined(&root, Path::new("/etc/passwd")).is_err());
        std::os::unix::fs::symlink("/etc", root.join("projects/evil")).unwrap();
        assert!(confined(&root, Path::new("projects/evil/passwd")).is_err());
    }
}
