//! `orc doctor`: is this machine ready for an unattended run? For each
//! profile: the CLI and its version, and whether orc has recordings of that
//! version; tmux; the config; the state dir; Claude Code hooks and statusLine.
//! `--live PROFILE` runs the CLI for real (see [`live`]).

pub mod live;
mod openai_wire;
pub mod stand_in;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use serde::Serialize;

use crate::config::{builtin_profiles, resolve_command, Config, Profile};
use crate::paths::Paths;

// `RECORDED`: (cli, version) of every `fixtures/<cli>/<version>/`.
include!(concat!(env!("OUT_DIR"), "/recorded_versions.rs"));

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Check only this profile (default: every profile)
    pub profile: Option<String>,
    /// Start PROFILE's CLI in a private tmux server against a built-in API
    /// stand-in and check what orc sees: startup, a turn, a tool call, a usage limit
    #[arg(long, value_name = "PROFILE", conflicts_with = "profile")]
    pub live: Option<String>,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// The agent folder whose Claude Code hooks and statusLine are checked
    /// (default: the current directory)
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// With --live: keep the private ORC_HOME (logs, saved screens) and say where
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    /// Worth knowing; not a failure.
    Warn,
    Fail,
    /// Not applicable or not installed (and not needed).
    Skip,
}

impl Status {
    pub fn mark(self) -> &'static str {
        match self {
            Status::Pass => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
            Status::Skip => "–",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `orc`, or `profile <name>`.
    pub section: String,
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub checks: Vec<Check>,
}

/// The report failed: `main` exits 1 with this.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Failed(pub String);

pub async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    if let Some(profile) = &args.live {
        let report = live::run(profile, args.keep).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", report.human());
        }
        if !report.ok {
            return Err(Failed(format!("doctor --live {profile}: {}", report.summary())).into());
        }
        return Ok(());
    }
    let cwd = match &args.cwd {
        Some(c) => c.clone(),
        None => std::env::current_dir()?,
    };
    let report = checks(&Paths::from_env(), args.profile.as_deref(), &cwd).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", human(&report.checks));
    }
    let failed = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    if failed > 0 {
        return Err(Failed(format!("doctor: {failed} check(s) failed")).into());
    }
    Ok(())
}

fn human(checks: &[Check]) -> String {
    let mut out = String::new();
    let mut section = "";
    let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
    for c in checks {
        if c.section != section {
            section = &c.section;
            out.push_str(&format!("{section}\n"));
        }
        out.push_str(&format!(
            "  {} {:width$}  {}\n",
            c.status.mark(),
            c.check,
            c.detail
        ));
        if let Some(h) = &c.hint {
            out.push_str(&format!("    {:width$}  → {h}\n", ""));
        }
    }
    let n = |s| checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "{} passed, {} warning(s), {} failed\n",
        n(Status::Pass),
        n(Status::Warn),
        n(Status::Fail)
    ));
    out
}

struct Checks(Vec<Check>);

impl Checks {
    fn add(&mut self, section: &str, check: &str, status: Status, detail: String) {
        self.0.push(Check {
            section: section.into(),
            check: check.into(),
            status,
            detail,
            hint: None,
        });
    }
    fn hint(&mut self, hint: impl Into<String>) {
        if let Some(c) = self.0.last_mut() {
            c.hint = Some(hint.into());
        }
    }
}

/// Every static check; `only` limits the profiles to one (unknown: an error).
pub async fn checks(paths: &Paths, only: Option<&str>, cwd: &Path) -> anyhow::Result<Report> {
    let mut c = Checks(Vec::new());
    let (profiles, tmux_bin) = match Config::load(&paths.config_file) {
        Ok(cfg) => {
            let detail = match &cfg.file {
                Some(f) => format!("{} parses", f.display()),
                None => format!("no {} (built-in defaults)", paths.config_file.display()),
            };
            c.add("orc", "config", Status::Pass, detail);
            (cfg.profiles, cfg.tmux)
        }
        Err(e) => {
            c.add("orc", "config", Status::Fail, e.to_string());
            c.hint("fix the file: orc will not start with it (checking the built-in profiles meanwhile)");
            (builtin_profiles(), "tmux".into())
        }
    };
    tmux_check(&mut c, &tmux_bin).await;
    private_dir(
        &mut c,
        "state dir",
        &paths.state,
        "`orc supervise` creates it",
    );
    let names: Vec<String> = match only {
        Some(p) if profiles.contains_key(p) => vec![p.to_string()],
        Some(p) => bail!("{}", unknown_profile(p, &profiles, paths)),
        None => profiles.keys().cloned().collect(),
    };
    let builtin = builtin_profiles();
    let mut agent_found = false;
    let mut claude_seen = false;
    for name in &names {
        let p = &profiles[name];
        // A built-in profile nobody asked for may well be absent.
        let optional = only.is_none() && builtin.get(name) == Some(p);
        let found = profile_checks(&mut c, name, p, optional).await;
        let det = detector_of(name, p);
        if found && !matches!(det, "shell" | "sim") {
            agent_found = true;
        }
        claude_seen |= det == "claude-code";
    }
    if only.is_none() && !agent_found {
        c.add(
            "agent CLIs",
            "agent CLI",
            Status::Fail,
            "no agent CLI of any profile was found".into(),
        );
        c.hint("install Claude Code (`npm install -g @anthropic-ai/claude-code`) or set a profile's `command` to its path in config.toml");
    }
    if claude_seen {
        claude_settings(&mut c, cwd);
    }
    let ok = !c.0.iter().any(|x| x.status == Status::Fail);
    Ok(Report { ok, checks: c.0 })
}

pub(crate) fn unknown_profile(
    p: &str,
    profiles: &std::collections::BTreeMap<String, Profile>,
    paths: &Paths,
) -> String {
    let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
    format!(
        "unknown profile `{p}`; known profiles: {} (add [profiles.{p}] to {} for a new one)",
        known.join(", "),
        paths.config_file.display()
    )
}

/// The detector name as the screen module knows it.
pub(crate) fn detector_of<'a>(name: &'a str, p: &'a Profile) -> &'a str {
    let d = p.detector_name(name);
    crate::drivers::find(d).map_or(d, |drv| drv.name)
}

async fn tmux_check(c: &mut Checks, bin: &str) {
    let t = crate::tmux::Tmux::new(bin.into(), String::new(), PathBuf::new());
    match t.check_version().await {
        Ok(v) => c.add(
            "orc",
            "tmux",
            Status::Pass,
            format!(
                "{v} (orc needs >= {}.{})",
                crate::tmux::MIN_VERSION.0,
                crate::tmux::MIN_VERSION.1
            ),
        ),
        Err(e) => {
            c.add("orc", "tmux", Status::Fail, e.to_string());
            c.hint("install tmux >= 3.2 (`apt-get install tmux`), or set `tmux = \"/path/to/tmux\"` in config.toml");
        }
    }
}

/// A folder of orc's: if it exists, it must be ours and 0700.
fn private_dir(c: &mut Checks, what: &str, dir: &Path, missing: &str) {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(dir) {
        Err(_) => {
            c.add(
                "orc",
                what,
                Status::Warn,
                format!("{} does not exist yet", dir.display()),
            );
            c.hint(missing);
        }
        Ok(m) if m.uid() != nix::unistd::getuid().as_raw() => {
            c.add(
                "orc",
                what,
                Status::Fail,
                format!("{} belongs to uid {}, not to you", dir.display(), m.uid()),
            );
            c.hint("set ORC_HOME (or XDG_STATE_HOME) to a folder of yours");
        }
        Ok(m) if m.mode() & 0o077 != 0 => {
            c.add(
                "orc",
                what,
                Status::Fail,
                format!(
                    "{} has mode {:04o}: other users can read the agents' environment and screens",
                    dir.display(),
                    m.mode() & 0o7777
                ),
            );
            c.hint(format!("chmod 700 {}", dir.display()));
        }
        Ok(m) => c.add(
            "orc",
            what,
            Status::Pass,
            format!("{} (mode {:04o})", dir.display(), m.mode() & 0o7777),
        ),
    }
}

/// Where the CLI of a profile comes from, for hints.
fn install_hint(det: &str) -> &'static str {
    crate::drivers::of(det).install
}

/// Which folder of `fixtures/` holds a detector's recordings.
fn fixtures_cli(det: &str) -> Option<&'static str> {
    crate::drivers::find(det).and_then(|d| d.fixtures)
}

/// The recorded versions of a CLI, oldest first.
pub fn recorded(cli: &str) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = RECORDED
        .iter()
        .filter(|(c, _)| *c == cli)
        .map(|(_, v)| *v)
        .collect();
    v.sort_by_key(|v| version_key(v));
    v
}

/// `2.1.197 (Claude Code)`, `codex-cli 0.169.0` -> `2.1.197`, `0.169.0`.
pub fn parse_version(out: &str) -> Option<String> {
    out.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .map(|w| w.trim_start_matches('v'))
        .find(|w| {
            w.starts_with(|c: char| c.is_ascii_digit())
                && w.contains('.')
                && w.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
        .map(String::from)
}

fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// How an installed version relates to the recordings.
pub fn fixture_status(cli: &str, version: &str) -> (Status, String, Option<String>) {
    let known = recorded(cli);
    let Some(newest) = known.last() else {
        return (
            Status::Warn,
            format!("orc has no recordings of {cli}: its screens are read by rules never checked against a recording"),
            None,
        );
    };
    if known.contains(&version) {
        return (
            Status::Pass,
            format!("{version} is recorded (fixtures/{cli}/{version}; newest recorded: {newest})"),
            None,
        );
    }
    let detail = if version_key(version) > version_key(newest) {
        format!("{version} is newer than the newest recorded version, {newest}: orc's screen rules may not know its screens")
    } else {
        format!(
            "{version} is not recorded (recorded: {}; newest: {newest})",
            known.join(", ")
        )
    };
    (Status::Warn, detail, None)
}

/// The checks of one profile; true if its command was found.
async fn profile_checks(c: &mut Checks, name: &str, p: &Profile, optional: bool) -> bool {
    let section = format!("profile {name}");
    let det = detector_of(name, p).to_string();
    let path_var = p
        .env
        .get("PATH")
        .cloned()
        .unwrap_or_else(|| std::env::var("PATH").unwrap_or_default());
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let exe = match resolve_command(&p.command, &path_var, &cwd) {
        Ok(exe) => {
            c.add(&section, "command", Status::Pass, exe.display().to_string());
            exe
        }
        Err(e) if optional => {
            c.add(
                &section,
                "command",
                Status::Skip,
                format!("not installed ({})", e.split(" (").next().unwrap_or(&e)),
            );
            return false;
        }
        Err(e) => {
            c.add(&section, "command", Status::Fail, e);
            c.hint(format!(
                "{}, or set `command` in [profiles.{name}] of config.toml to its path",
                install_hint(&det)
            ));
            return false;
        }
    };
    if det == "sim" {
        c.add(
            &section,
            "version",
            Status::Skip,
            format!("orc's simulated agent (orc {})", env!("CARGO_PKG_VERSION")),
        );
        return true;
    }
    let Some(cli) = fixtures_cli(&det) else {
        c.add(
            &section,
            "version",
            Status::Skip,
            format!("detector `{det}`: orc has no screen tables for it and uses its generic rule (settled = idle)"),
        );
        return true;
    };
    match cli_version(&exe, p).await {
        Ok((line, version)) => {
            c.add(&section, "version", Status::Pass, line);
            let (st, detail, _) = fixture_status(cli, &version);
            c.add(&section, "recordings", st, detail);
            if st == Status::Warn && matches!(det.as_str(), "claude-code" | "sim") {
                c.hint(format!(
                    "run `orc doctor --live {name}` to check orc against it before an unattended run"
                ));
            }
        }
        Err(e) => {
            c.add(&section, "version", Status::Fail, e);
            c.hint(format!(
                "check that `{} --version` works in a terminal",
                exe.display()
            ));
        }
    }
    true
}

/// `<exe> --version`: (its first line, the version in it).
pub async fn cli_version(exe: &Path, p: &Profile) -> Result<(String, String), String> {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("--version")
        .envs(&p.env)
        .env("DISABLE_AUTOUPDATER", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .map_err(|_| format!("`{} --version` gave no answer within 20 s", exe.display()))?
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "`{} --version` failed ({}): {}",
            exe.display(),
            out.status,
            err.lines().next().unwrap_or("").trim()
        ));
    }
    match parse_version(&line) {
        Some(v) => Ok((line, v)),
        None => Err(format!(
            "`{} --version` printed {line:?}: no version in it",
            exe.display()
        )),
    }
}

/// orc's hooks and statusLine in a Claude Code agent folder.
fn claude_settings(c: &mut Checks, cwd: &Path) {
    let section = format!("claude code settings for {}", cwd.display());
    let local = crate::hooks::settings_path(cwd);
    let read = |p: &Path| -> Result<Option<serde_json::Value>, String> {
        match std::fs::read(p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| format!("{} is not valid JSON ({e})", p.display())),
            Err(_) => Ok(None),
        }
    };
    match read(&local) {
        Err(e) => {
            c.add(&section, "hooks", Status::Fail, e);
            c.hint("Claude Code ignores a broken settings file: fix it by hand");
        }
        Ok(None) => {
            c.add(
                &section,
                "hooks",
                Status::Skip,
                format!("not installed ({} does not exist)", local.display()),
            );
            c.hint("optional second signal: `orc up` and `orc spawn --hooks` install them, `orc hooks install --cwd DIR` by hand");
        }
        Ok(Some(v)) => hooks_check(c, &section, &local, &v),
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut files = vec![local, cwd.join(".claude").join("settings.json")];
    if let Some(h) = home {
        files.push(h.join(".claude").join("settings.json"));
    }
    let mut theirs = None;
    for f in &files {
        if let Ok(Some(v)) = read(f) {
            if v["statusLine"]["command"].is_string() {
                if crate::statusline::is_ours(&v["statusLine"]) {
                    c.add(
                        &section,
                        "statusLine",
                        Status::Pass,
                        format!("orc's statusLine in {}", f.display()),
                    );
                    return;
                }
                theirs.get_or_insert_with(|| f.display().to_string());
            }
        }
    }
    let detail = match theirs {
        Some(f) => format!("orc's is not installed (a statusLine of your own is set in {f})"),
        None => "orc's is not installed".into(),
    };
    c.add(&section, "statusLine", Status::Skip, detail);
}

fn hooks_check(c: &mut Checks, section: &str, file: &Path, v: &serde_json::Value) {
    let mut present = Vec::new();
    let mut missing = Vec::new();
    let mut broken = Vec::new();
    for (event, _) in crate::hooks::EVENTS {
        let cmds: Vec<&str> = v["hooks"][event]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|e| e["hooks"].as_array().into_iter().flatten())
            .filter_map(|h| h["command"].as_str())
            .filter(|cmd| cmd.contains(" hook ") && cmd.contains("orc"))
            .collect();
        if cmds.is_empty() {
            missing.push(event);
        } else {
            present.push(event);
        }
        for cmd in cmds {
            let prog = first_word(cmd);
            if !Path::new(&prog).exists() && prog.contains('/') {
                broken.push(format!("{event} runs {prog}, which does not exist"));
            }
        }
    }
    if !broken.is_empty() {
        c.add(section, "hooks", Status::Fail, broken.join("; "));
        c.hint(format!(
            "`orc hooks uninstall --cwd DIR` then `orc hooks install --cwd DIR` (in {})",
            file.display()
        ));
    } else if present.is_empty() {
        c.add(
            section,
            "hooks",
            Status::Skip,
            format!("not installed ({} has none of orc's)", file.display()),
        );
        c.hint("optional second signal: `orc hooks install --cwd DIR`");
    } else if !missing.is_empty() {
        c.add(
            section,
            "hooks",
            Status::Warn,
            format!(
                "{} of orc's {} hooks in {}; missing: {}",
                present.len(),
                crate::hooks::EVENTS.len(),
                file.display(),
                missing.join(", ")
            ),
        );
        c.hint("`orc hooks install --cwd DIR` adds the missing ones");
    } else {
        c.add(
            section,
            "hooks",
            Status::Pass,
            format!("all {} of orc's hooks in {}", present.len(), file.display()),
        );
    }
}

/// The program of a hook command: its first shell word (single quotes and
/// backslashes undone, as `hooks::sh_quote` writes it).
fn first_word(cmd: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = cmd.trim_start().chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\'' => quoted = !quoted,
            '\\' if !quoted => out.extend(chars.next()),
            c if c.is_whitespace() && !quoted => break,
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_parsed_and_compared() {
        assert_eq!(
            parse_version("2.1.332 (Claude Code)").as_deref(),
            Some("2.1.332")
        );
        assert_eq!(
            parse_version("codex-cli 0.169.0").as_deref(),
            Some("0.169.0")
        );
        assert_eq!(parse_version("aider v0.86.2").as_deref(), Some("0.86.2"));
        assert_eq!(parse_version("no version here"), None);
        assert!(version_key("2.1.332") > version_key("2.1.197"));
        assert!(version_key("2.10.0") > version_key("2.9.9"));
    }

    #[test]
    fn recordings_come_from_the_fixture_folders() {
        let claude = recorded("claude-code");
        assert!(
            claude.contains(&"2.1.197") && claude.contains(&"1.0.100"),
            "{claude:?}"
        );
        assert!(recorded("screens").is_empty() && recorded("tmux").is_empty());
        let newest = *claude.last().unwrap();
        assert_eq!(fixture_status("claude-code", newest).0, Status::Pass);
        let (st, detail, _) = fixture_status("claude-code", "99.0.0");
        assert_eq!(st, Status::Warn);
        assert!(
            detail.contains("newer than the newest recorded version"),
            "{detail}"
        );
        assert_eq!(fixture_status("claude-code", "0.0.1").0, Status::Warn);
        assert_eq!(fixture_status("gemini", "1.0.0").0, Status::Warn);
    }

    #[test]
    fn hook_programs_are_unquoted() {
        assert_eq!(
            first_word("'/opt/my tools/orc' hook Stop"),
            "/opt/my tools/orc"
        );
        assert_eq!(first_word(r"'/a/it'\''s/orc' hook Stop"), "/a/it's/orc");
        assert_eq!(first_word("/usr/bin/orc hook Stop"), "/usr/bin/orc");
    }
}
