//! The [`Host`]: everything install, uninstall and status read from the
//! outside world, and the tools the unit's PATH must reach.

use super::*;

/// A command the supervisor or its agents need, and what breaks without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    pub command: String,
    pub needed_by: String,
}

/// What install/uninstall/status read from the outside world.
#[derive(Debug, Clone)]
pub struct Host {
    /// The orc binary the unit runs (absolute).
    pub orc_exe: PathBuf,
    /// PATH of the installing shell; `systemctl` is looked up on it too.
    pub path_var: String,
    /// Variables for the unit besides PATH (see [`CARRIED_ENV`]).
    pub carried: Vec<(String, String)>,
    /// Where the unit file goes.
    pub unit_path: PathBuf,
    /// Commands to find for the unit's PATH.
    pub tools: Vec<Tool>,
    /// The supervisor's paths, to ask whether one is running.
    pub paths: Paths,
    /// The login name, for the `loginctl enable-linger` advice.
    pub user: Option<String>,
    /// logind's flag file for lingering (`/var/lib/systemd/linger/<user>`).
    pub linger_file: Option<PathBuf>,
    /// Whether the installing shell has XDG_RUNTIME_DIR (cron will not).
    pub has_runtime_dir: bool,
}

impl Host {
    pub fn from_env(paths: Paths, config: &Config) -> Result<Host> {
        let orc_exe = std::env::current_exe().context("cannot find orc's own executable")?;
        if !orc_exe.is_file() {
            bail!(
                "orc's own executable {} is gone (replaced while running?); run `orc service install` with the new binary",
                orc_exe.display()
            );
        }
        if orc_exe.to_str().is_none() {
            bail!("the path of orc's executable is not UTF-8: a unit file cannot name it");
        }
        let mut carried = Vec::new();
        for &name in CARRIED_ENV {
            let Some(raw) = std::env::var_os(name).filter(|v| !v.is_empty()) else {
                continue;
            };
            let value = if PATH_VARS.contains(&name) {
                std::path::absolute(&raw)
                    .with_context(|| format!("cannot make {name} absolute"))?
                    .into_os_string()
            } else {
                raw
            };
            let Some(value) = value.to_str() else {
                bail!("{name} is not UTF-8: a unit file cannot carry it");
            };
            carried.push((name.to_string(), value.to_string()));
        }
        let user = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .or_else(|| std::env::var("USER").ok());
        Ok(Host {
            tools: tools_for(config, &orc_exe),
            orc_exe,
            path_var: std::env::var("PATH").unwrap_or_default(),
            carried,
            unit_path: unit_path()?,
            paths,
            linger_file: user
                .as_ref()
                .map(|u| Path::new("/var/lib/systemd/linger").join(u)),
            user,
            has_runtime_dir: std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|v| !v.is_empty()),
        })
    }

    /// The unit PATH, the tools missing from it, and the unit text.
    pub(super) fn plan(&self) -> (String, Vec<&Tool>, String) {
        let names: Vec<&str> = self.tools.iter().map(|t| t.command.as_str()).collect();
        let (path, found) = build_path(&self.path_var, &names);
        let missing = self
            .tools
            .iter()
            .zip(&found)
            .filter(|(_, (_, hit))| hit.is_none())
            .map(|(tool, _)| tool)
            .collect();
        let text = unit_text(&self.orc_exe, &path, &self.carried);
        (path, missing, text)
    }

    pub(super) fn wants_link(&self) -> Option<PathBuf> {
        Some(
            self.unit_path
                .parent()?
                .join("default.target.wants")
                .join(UNIT_NAME),
        )
    }

    pub(super) fn var(&self, name: &str) -> Option<&str> {
        self.carried
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// tmux, git and the commands of the configured profiles (orc's own `sim`
/// profile left out).
pub(super) fn tools_for(config: &Config, orc_exe: &Path) -> Vec<Tool> {
    let mut tools = vec![
        Tool {
            command: config.tmux.clone(),
            needed_by: "the supervisor cannot start without it".into(),
        },
        Tool {
            command: "git".into(),
            needed_by: "agents' worktrees and commits need it".into(),
        },
    ];
    let mut by_command: Vec<(String, Vec<String>)> = Vec::new();
    for (name, profile) in &config.profiles {
        if Path::new(&profile.command) == orc_exe {
            continue;
        }
        match by_command.iter_mut().find(|(c, _)| *c == profile.command) {
            Some((_, names)) => names.push(name.clone()),
            None => by_command.push((profile.command.clone(), vec![name.clone()])),
        }
    }
    for (command, names) in by_command {
        let needed_by = match names.as_slice() {
            [one] => format!("agents with the {one} profile will not start under the service"),
            many => format!(
                "agents with the {} profiles will not start under the service",
                many.join(", ")
            ),
        };
        match tools.iter_mut().find(|t| t.command == command) {
            Some(t) => t.needed_by = format!("{}; {needed_by}", t.needed_by),
            None => tools.push(Tool { command, needed_by }),
        }
    }
    tools
}
