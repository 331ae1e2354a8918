//! `config.toml`: the tmux socket name and agent profiles.
//!
//! ```toml
//! tmux_socket = "orc"
//! [profiles.claude]
//! command = "/opt/claude/bin/claude"
//! args = ["--dangerously-skip-permissions"]
//! env = { IS_SANDBOX = "1" }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How an agent is launched, and which screen rules apply to it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Which CLI's screen detectors apply (`claude-code`, `codex`, `gemini`,
    /// `aider`, `sim`, `shell`); defaults to the profile's name.
    #[serde(default)]
    pub detector: Option<String>,
    /// Answer the CLI's tool permission prompts with "yes".
    #[serde(default)]
    pub auto_approve: bool,
    /// Agents on the same account share one usage limit.
    #[serde(default)]
    pub account: Option<String>,
    /// What orc types to resume an agent after a usage limit.
    #[serde(default)]
    pub resume_message: Option<String>,
    /// Claude Code: record the agent's folder as trusted (and, for an agent
    /// launched with `--dangerously-skip-permissions`, keep the bypass
    /// warning away) in its config before launch, instead of answering the
    /// dialogs. Default: on for `orc up` teams, off for `orc spawn`.
    #[serde(default)]
    pub pre_trust: Option<bool>,
    /// Keep the installed CLI version for the agent's lifetime (Claude Code:
    /// `DISABLE_AUTOUPDATER=1`). Default: on for `orc up` teams.
    #[serde(default)]
    pub pin_version: Option<bool>,
}

/// `[credits]`: how limited agents are resumed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredits {
    buffer_secs: Option<u64>,
    resume_message: Option<String>,
    max_tries: Option<u32>,
    fallback_hours: Option<f64>,
    verify_secs: Option<u64>,
    retry_secs: Option<u64>,
    /// Warn when a usage window (status line) reaches this percent; 0: never.
    warn_percent: Option<f64>,
}

/// `[checkins]`: recurring check-ins per role, in minutes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheckins {
    note: Option<String>,
    /// For agents whose role has no entry (0: none).
    default: Option<f64>,
    #[serde(default)]
    roles: BTreeMap<String, f64>,
    /// The shortest `orc schedule --every`, in seconds (default 60; tests lower it).
    min_every_seconds: Option<u64>,
}

/// `[context]`: what to do when an agent's context runs low.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContext {
    threshold: Option<u8>,
    action: Option<ContextAction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextAction {
    /// Tell the team's hub (its orchestrator).
    Notify,
    /// Queue `/compact` for the agent (typed when it is idle).
    Compact,
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContextPolicy {
    /// Act below this many percent left.
    pub threshold: u8,
    pub action: ContextAction,
}

impl Default for ContextPolicy {
    fn default() -> Self {
        Self {
            threshold: 15,
            action: ContextAction::Notify,
        }
    }
}

/// `[notify]`: how orc tells a person that an agent needs one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    command: Option<Vec<String>>,
    permission_minutes: Option<f64>,
    choice_minutes: Option<f64>,
}

/// Run `command` (argv, no shell) with the event as JSON on stdin and
/// `ORC_EVENT`, `ORC_AGENT`, `ORC_DETAIL` in its environment; e.g.
/// `["notify-send", "orc"]` or `["curl", "-sS", "-H", "content-type: application/json", "-d", "@-", "https://..."]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NotifyPolicy {
    pub command: Vec<String>,
    /// A permission prompt unanswered this long needs a human.
    pub permission_after: Option<std::time::Duration>,
    /// A question or menu (`awaiting_choice`) unanswered this long is
    /// escalated: a note to the hub and a notification, once.
    pub choice_after: Option<std::time::Duration>,
}

/// `[git]`: the git activity monitor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGit {
    interval_secs: Option<u64>,
    commit_limit_minutes: Option<f64>,
    remind_every_minutes: Option<f64>,
    escalate_after: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GitPolicy {
    /// How often the worktrees are looked at (0: never).
    pub interval: std::time::Duration,
    pub rule: crate::gitmon::CommitRule,
}

/// Recurring check-ins for agents with a role.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkins {
    pub note: String,
    /// Minutes for roles without an entry; 0 means none.
    pub default_minutes: f64,
    pub roles: BTreeMap<String, f64>,
    /// The shortest `--every`, in seconds.
    pub min_every_secs: u64,
}

pub const DEFAULT_CHECKIN: &str = "Scheduled check-in: report your status to the orchestrator (`orc report`), then carry on with your task.";

impl Default for Checkins {
    fn default() -> Self {
        // Per-role intervals come from the role files (orchestrator 20,
        // project manager 25, others 30); `[checkins.roles]` overrides them.
        Checkins {
            note: DEFAULT_CHECKIN.into(),
            default_minutes: 30.0,
            roles: BTreeMap::new(),
            min_every_secs: crate::names::MIN_EVERY_SECS,
        }
    }
}

impl Checkins {
    /// Seconds between check-ins for an agent with this role, if any.
    /// `role_default` is the role file's `checkin_minutes`.
    pub fn every_secs(&self, role: Option<&str>, role_default: Option<f64>) -> Option<u64> {
        let role = role?;
        let m = self
            .roles
            .get(role)
            .copied()
            .or(role_default)
            .unwrap_or(self.default_minutes);
        (m > 0.0).then(|| (m * 60.0).round() as u64)
    }
}

impl Profile {
    pub fn detector_name<'a>(&'a self, profile_name: &'a str) -> &'a str {
        self.detector.as_deref().unwrap_or(profile_name)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    tmux_socket: Option<String>,
    tmux: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
    #[serde(default)]
    routing: crate::routing::Policy,
    /// role -> the roles it depends on (told when those report).
    dependencies: Option<BTreeMap<String, Vec<String>>>,
    credits: Option<RawCredits>,
    checkins: Option<RawCheckins>,
    context: Option<RawContext>,
    notify: Option<RawNotify>,
    git: Option<RawGit>,
    team: Option<RawTeam>,
}

/// `[team]`: what `orc up` starts each role with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    /// role -> profile (`developer = "codex"`); other roles use `--profile`.
    #[serde(default)]
    profiles: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Who may message whom (`[routing]`).
    pub routing: crate::routing::Policy,
    /// role -> the roles it depends on (`[dependencies]`).
    pub dependencies: BTreeMap<String, Vec<String>>,
    pub tmux_socket: String,
    /// The tmux binary (name or path).
    pub tmux: String,
    pub profiles: BTreeMap<String, Profile>,
    /// The file it came from, if any.
    pub file: Option<PathBuf>,
    pub credits: crate::credits::CreditPolicy,
    pub checkins: Checkins,
    pub context: ContextPolicy,
    pub notify: NotifyPolicy,
    pub git: GitPolicy,
    /// role -> profile for `orc up` (`[team.profiles]`), each profile known.
    pub team_profiles: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot read config file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn profile(command: &str, args: &[&str], detector: &str) -> Profile {
    Profile {
        command: command.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: BTreeMap::new(),
        detector: Some(detector.into()),
        auto_approve: false,
        account: None,
        resume_message: None,
        pre_trust: None,
        pin_version: None,
    }
}

/// A detector a driver knows (by name or alias, a `@generation` suffix
/// allowed), or a table's name.
pub fn known_detector(d: &str) -> bool {
    let base = d.split('@').next().unwrap_or("");
    crate::drivers::find(base).is_some() || crate::drivers::table_for(base).is_some()
}

/// The profiles every orc knows.
pub fn builtin_profiles() -> BTreeMap<String, Profile> {
    let mut p = BTreeMap::new();
    p.insert("claude".into(), profile("claude", &[], "claude-code"));
    p.insert("codex".into(), profile("codex", &[], "codex"));
    p.insert("gemini".into(), profile("gemini", &[], "gemini"));
    p.insert("aider".into(), profile("aider", &[], "aider"));
    p.insert("shell".into(), profile("bash", &[], "shell"));
    // orc's own simulated agent: draws Claude Code-like screens.
    let me = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "orc".into());
    p.insert("sim".into(), profile(&me, &["sim-agent"], "sim"));
    p
}

impl Config {
    /// Read `path` if it exists; built-in defaults otherwise. `ORC_TMUX_SOCKET`
    /// overrides the file's `tmux_socket`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw = read_raw(path)?;
        let file = raw.is_some().then(|| path.to_path_buf());
        let raw = raw.unwrap_or_default();
        let profiles = profiles_from(path, raw.profiles)?;
        let tmux_socket = std::env::var("ORC_TMUX_SOCKET")
            .ok()
            .filter(|s| !s.is_empty())
            .or(raw.tmux_socket)
            .unwrap_or_else(|| "orc".into());
        let credits = credits_from(path, raw.credits)?;
        let checkins = checkins_from(path, raw.checkins)?;
        let context = context_from(path, raw.context)?;
        let notify = notify_from(path, raw.notify)?;
        let git = git_from(path, raw.git)?;
        let team_profiles = team_profiles_from(path, raw.team, &profiles)?;
        Ok(Self {
            team_profiles,
            git,
            notify,
            credits,
            checkins,
            context,
            routing: raw.routing,
            dependencies: raw.dependencies.unwrap_or_else(default_dependencies),
            tmux_socket,
            tmux: std::env::var("ORC_TMUX")
                .ok()
                .filter(|s| !s.is_empty())
                .or(raw.tmux)
                .unwrap_or_else(|| "tmux".into()),
            profiles,
            file,
        })
    }
}

/// `[team.profiles]`: every value a profile this config has. Roles are
/// checked by `orc up` against the team it builds.
fn team_profiles_from(
    path: &Path,
    raw: Option<RawTeam>,
    profiles: &BTreeMap<String, Profile>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let map = raw.map(|t| t.profiles).unwrap_or_default();
    for (role, profile) in &map {
        if !profiles.contains_key(profile) {
            let known: Vec<&str> = profiles.keys().map(|k| k.as_str()).collect();
            return Err(bad_at(
                path,
                format!(
                    "[team.profiles] {role} = {profile:?} is not a profile; use one of {} or add [profiles.{profile}]",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(map)
}

fn bad_at(path: &Path, message: String) -> ConfigError {
    ConfigError::Parse {
        path: path.into(),
        message,
    }
}

/// The file's contents, or `None` when there is no file.
fn read_raw(path: &Path) -> Result<Option<RawConfig>, ConfigError> {
    Ok(match std::fs::read_to_string(path) {
        Ok(text) => {
            let raw: RawConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.into(),
                message: e.to_string().trim_end().to_string(),
            })?;
            Some(raw)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(ConfigError::Io {
                path: path.into(),
                source: e,
            })
        }
    })
}

/// The built-in profiles with the file's added (or replacing them), each checked.
fn profiles_from(
    path: &Path,
    raw: BTreeMap<String, Profile>,
) -> Result<BTreeMap<String, Profile>, ConfigError> {
    let mut profiles = builtin_profiles();
    for (name, p) in raw {
        if crate::state::validate_name(&name).is_err() {
            return Err(ConfigError::Parse {
                path: path.into(),
                message: format!(
                    "profile name {name:?} is not valid: use letters, digits, `-`, `_`, `.`"
                ),
            });
        }
        if p.command.trim().is_empty() {
            return Err(ConfigError::Parse {
                path: path.into(),
                message: format!(
                    "[profiles.{name}] command is empty: give the program to run (a name found in PATH, or an absolute path)"
                ),
            });
        }
        if let Some(d) = &p.detector {
            if !known_detector(d) {
                return Err(ConfigError::Parse {
                    path: path.into(),
                    message: format!(
                        "[profiles.{name}] detector = {d:?} is not a detector orc knows; use one of {}",
                        crate::drivers::names().join(", ")
                    ),
                });
            }
        }
        profiles.insert(name, p);
    }
    Ok(profiles)
}

/// `[credits]`, checked.
fn credits_from(
    path: &Path,
    raw: Option<RawCredits>,
) -> Result<crate::credits::CreditPolicy, ConfigError> {
    let bad = |message: String| bad_at(path, message);
    let mut credits = crate::credits::CreditPolicy::default();
    if let Some(c) = raw {
        if let Some(b) = c.buffer_secs {
            if b > 24 * 3600 {
                return Err(bad(format!(
                    "[credits] buffer_secs = {b} is more than a day"
                )));
            }
            credits.buffer = std::time::Duration::from_secs(b);
        }
        if let Some(m) = c.resume_message {
            if m.trim().is_empty() {
                return Err(bad("[credits] resume_message is empty".into()));
            }
            credits.resume_message = m;
        }
        if let Some(n) = c.max_tries {
            if n == 0 {
                return Err(bad("[credits] max_tries must be at least 1".into()));
            }
            credits.max_tries = n;
        }
        if let Some(h) = c.fallback_hours {
            if !(h > 0.0 && h <= 24.0 * 8.0) {
                return Err(bad(format!(
                    "[credits] fallback_hours = {h}: use a number of hours between 0 and 192"
                )));
            }
            credits.fallback = std::time::Duration::from_secs_f64(h * 3600.0);
            credits.fallback_from_config = true;
        }
        if let Some(v) = c.verify_secs {
            credits.verify = std::time::Duration::from_secs(v.max(1));
        }
        if let Some(r) = c.retry_secs {
            if !(1..=3600).contains(&r) {
                return Err(bad(format!(
                    "[credits] retry_secs = {r}: use 1 to 3600 seconds"
                )));
            }
            credits.retry = std::time::Duration::from_secs(r);
        }
        if let Some(w) = c.warn_percent {
            if !(0.0..=100.0).contains(&w) {
                return Err(bad(format!(
                    "[credits] warn_percent = {w}: use a percent between 0 (never) and 100"
                )));
            }
            credits.warn_percent = (w > 0.0).then_some(w);
        }
    }
    Ok(credits)
}

/// `[checkins]`, checked.
fn checkins_from(path: &Path, raw: Option<RawCheckins>) -> Result<Checkins, ConfigError> {
    let bad = |message: String| bad_at(path, message);
    let mut checkins = Checkins::default();
    if let Some(c) = raw {
        if let Some(n) = c.note {
            checkins.note = n;
        }
        if let Some(d) = c.default {
            checkins.default_minutes = d;
        }
        for (role, m) in c.roles {
            checkins.roles.insert(role, m);
        }
        if let Some(m) = c.min_every_seconds {
            checkins.min_every_secs = m.max(1);
        }
        for (what, m) in std::iter::once(("default".to_string(), checkins.default_minutes)).chain(
            checkins
                .roles
                .iter()
                .map(|(r, m)| (format!("roles.{r}"), *m)),
        ) {
            if !(0.0..=43200.0).contains(&m) || m.is_nan() {
                return Err(bad(format!(
                    "[checkins] {what} = {m}: minutes must be between 0 (none) and 43200 (30 days)"
                )));
            }
        }
    }
    Ok(checkins)
}

/// `[context]`, checked.
fn context_from(path: &Path, raw: Option<RawContext>) -> Result<ContextPolicy, ConfigError> {
    let bad = |message: String| bad_at(path, message);
    let mut context = ContextPolicy::default();
    if let Some(c) = raw {
        if let Some(t) = c.threshold {
            if t == 0 || t >= 100 {
                return Err(bad(format!(
                    "[context] threshold = {t}: use a percentage between 1 and 99"
                )));
            }
            context.threshold = t;
        }
        if let Some(a) = c.action {
            context.action = a;
        }
    }
    Ok(context)
}

/// `[notify]`, checked.
fn notify_from(path: &Path, raw: Option<RawNotify>) -> Result<NotifyPolicy, ConfigError> {
    let bad = |message: String| bad_at(path, message);
    let mut notify = NotifyPolicy {
        command: Vec::new(),
        permission_after: Some(std::time::Duration::from_secs(600)),
        choice_after: Some(std::time::Duration::from_secs(600)),
    };
    if let Some(n) = raw {
        if let Some(c) = n.command {
            if c.first().is_none_or(|c| c.trim().is_empty()) {
                return Err(bad(
                    "[notify] command is empty: give the program and its arguments as a list"
                        .into(),
                ));
            }
            notify.command = c;
        }
        if let Some(m) = n.permission_minutes {
            if !(m > 0.0 && m <= 1440.0) {
                return Err(bad(format!(
                    "[notify] permission_minutes = {m}: use minutes between 0 and 1440"
                )));
            }
            notify.permission_after = Some(std::time::Duration::from_secs_f64(m * 60.0));
        }
        if let Some(m) = n.choice_minutes {
            if !(m > 0.0 && m <= 1440.0) {
                return Err(bad(format!(
                    "[notify] choice_minutes = {m}: use minutes between 0 and 1440"
                )));
            }
            notify.choice_after = Some(std::time::Duration::from_secs_f64(m * 60.0));
        }
    }
    Ok(notify)
}

/// `[git]`, checked.
fn git_from(path: &Path, raw: Option<RawGit>) -> Result<GitPolicy, ConfigError> {
    let bad = |message: String| bad_at(path, message);
    let mut git = GitPolicy {
        interval: std::time::Duration::from_secs(60),
        rule: crate::gitmon::CommitRule::default(),
    };
    if let Some(g) = raw {
        let mins = |what: &str, m: f64| {
            if m > 0.0 && m <= 1440.0 {
                Ok(std::time::Duration::from_secs_f64(m * 60.0))
            } else {
                Err(bad(format!(
                    "[git] {what} = {m}: use minutes between 0 and 1440"
                )))
            }
        };
        if let Some(i) = g.interval_secs {
            git.interval = std::time::Duration::from_secs(i);
        }
        if let Some(m) = g.commit_limit_minutes {
            git.rule.limit = mins("commit_limit_minutes", m)?;
            git.rule.period = git.rule.limit;
        }
        if let Some(m) = g.remind_every_minutes {
            git.rule.period = mins("remind_every_minutes", m)?;
        }
        if let Some(n) = g.escalate_after {
            git.rule.escalate_after = n;
        }
    }
    Ok(git)
}

/// Find `cmd` the way execvp would, on `path_var`. A name with a `/` is taken
/// as a path. Returns the absolute path, or the list of folders searched.
pub fn resolve_command(cmd: &str, path_var: &str, cwd: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if cmd.is_empty() {
        return Err("the command is empty".into());
    }
    if cmd.contains('/') {
        let p = if Path::new(cmd).is_absolute() {
            PathBuf::from(cmd)
        } else {
            cwd.join(cmd)
        };
        return if is_exec(&p) {
            Ok(p)
        } else {
            Err(format!("{} is not an executable file", p.display()))
        };
    }
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(cmd);
        if is_exec(&p) {
            return Ok(p);
        }
    }
    Err(format!(
        "command `{cmd}` was not found in PATH ({path_var})"
    ))
}

/// Which roles wait on which, unless `[dependencies]` says otherwise.
pub fn default_dependencies() -> BTreeMap<String, Vec<String>> {
    let mut d = BTreeMap::new();
    let mut put = |role: &str, on: &[&str]| {
        d.insert(role.to_string(), on.iter().map(|s| s.to_string()).collect());
    };
    put("project_manager", &["developer", "tester", "devops"]);
    put("tester", &["developer"]);
    put("testrunner", &["developer"]);
    put("code_reviewer", &["developer"]);
    put("documentation_writer", &["developer"]);
    for ops in ["monitoringops", "securityops", "databaseops", "networkops"] {
        put(ops, &["sysadmin"]);
    }
    d
}
