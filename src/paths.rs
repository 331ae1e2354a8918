//! Where orc keeps things. `$ORC_HOME` puts everything under one folder
//! (tests always set it); otherwise the XDG state, config and runtime dirs.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Paths {
    pub state: PathBuf,
    pub config_file: PathBuf,
    pub runtime: PathBuf,
}

impl Paths {
    pub fn from_env() -> Self {
        if let Some(home) = std::env::var_os("ORC_HOME").filter(|v| !v.is_empty()) {
            return Self::under(Path::new(&home));
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"));
        let xdg = |var: &str, default: &str| -> PathBuf {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(default))
        };
        let runtime = match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d).join("orc"),
            None => std::env::temp_dir().join(format!("orc-{}", nix::unistd::getuid())),
        };
        Self {
            state: xdg("XDG_STATE_HOME", ".local/state").join("orc"),
            config_file: xdg("XDG_CONFIG_HOME", ".config")
                .join("orc")
                .join("config.toml"),
            runtime,
        }
    }

    pub fn under(home: &Path) -> Self {
        Self {
            state: home.join("state"),
            config_file: home.join("config.toml"),
            runtime: home.join("run"),
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime.join("orc.sock")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.runtime.join("orc.pid")
    }
    pub fn agents_file(&self) -> PathBuf {
        self.state.join("agents.json")
    }
    pub fn tmux_conf(&self) -> PathBuf {
        self.state.join("tmux.conf")
    }
    pub fn logs(&self) -> PathBuf {
        self.state.join("logs")
    }
    pub fn agent_log_dir(&self, name: &str) -> PathBuf {
        self.logs().join("agents").join(name)
    }
    pub fn queue_file(&self, agent: &str) -> PathBuf {
        self.state.join("queues").join(format!("{agent}.jsonl"))
    }
    /// `p` resolved (symlinks followed): an error unless it stays under the
    /// state dir. For paths built from names before they are read.
    pub fn inside(&self, p: &Path) -> Result<PathBuf, String> {
        crate::names::confined(&self.state, p)
    }
    pub fn supervisor_log(&self) -> PathBuf {
        self.logs().join("supervisor.log")
    }
}
