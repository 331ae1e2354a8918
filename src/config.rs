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
    }
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
        let raw = match std::fs::read_to_string(path) {
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
        };
        let file = raw.is_some().then(|| path.to_path_buf());
        let raw = raw.unwrap_or_default();
        let mut profiles = builtin_profiles();
        for (name, p) in raw.profiles {
            if crate::state::validate_name(&name).is_err() {
                return Err(ConfigError::Parse {
                    path: path.into(),
                    message: format!(
                        "profile name {name:?} is not valid: use letters, digits, `-`, `_`, `.`"
                    ),
                });
            }
            profiles.insert(name, p);
        }
        let tmux_socket = std::env::var("ORC_TMUX_SOCKET")
            .ok()
            .filter(|s| !s.is_empty())
            .or(raw.tmux_socket)
            .unwrap_or_else(|| "orc".into());
        Ok(Self {
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
