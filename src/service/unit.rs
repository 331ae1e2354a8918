//! The unit file: its text, the quoting systemd and sh want, its PATH and where
//! it goes.

use super::*;

/// The unit file for `orc supervise`. `path_var` becomes the service's PATH
/// (see [`build_path`]); `env` are further variables (ORC_HOME, ...).
pub fn unit_text(orc_exe: &Path, path_var: &str, env: &[(String, String)]) -> String {
    let exe = orc_exe.to_string_lossy();
    let mut t = String::new();
    t.push_str("# Written by `orc service install`; run it again after moving orc or\n");
    t.push_str("# changing ORC_HOME. `orc service uninstall` removes it.\n");
    t.push_str("[Unit]\n");
    t.push_str("Description=orc supervisor for AI coding agents in tmux\n");
    // No After=network-online.target: a user manager has no such target.
    // Default dependencies already order the service after basic.target.
    t.push('\n');
    t.push_str("[Service]\n");
    t.push_str("Type=simple\n");
    t.push_str(&format!("ExecStart={} supervise\n", quote(&exe)));
    t.push_str("Restart=on-failure\n");
    t.push_str("RestartSec=5\n");
    // Why KillMode=process, for whoever reads the unit file.
    t.push_str("# Stopping or restarting the service signals the supervisor only. The tmux\n");
    t.push_str("# server it starts forks away into its own session, but systemd tracks\n");
    t.push_str("# processes by cgroup: with the default KillMode=control-group a stop would\n");
    t.push_str("# also kill tmux and every agent. (A restart may log \"left-over process\".)\n");
    t.push_str("KillMode=process\n");
    t.push_str(&format!(
        "Environment={}\n",
        quote(&format!("PATH={path_var}"))
    ));
    for (k, v) in env {
        t.push_str(&format!("Environment={}\n", quote(&format!("{k}={v}"))));
    }
    t.push('\n');
    t.push_str("[Install]\n");
    t.push_str("WantedBy=default.target\n");
    t
}

/// Quote one word for a unit file, per systemd.unit(5)/systemd.service(5):
/// `%` starts a specifier everywhere (`%%` is a literal `%`); a word with
/// blanks, quotes, backslashes or anything unusual goes in double quotes with
/// C escapes. `$` needs nothing: `Environment=` does not expand variables, and
/// `ExecStart=` expands them in the arguments only, not in the executable's
/// path (our one argument is `supervise`).
pub(super) fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:+,=@%".contains(c);
    let bare = !word.is_empty() && word.chars().all(plain);
    let mut out = String::with_capacity(word.len() + 2);
    if !bare {
        out.push('"');
    }
    for c in word.chars() {
        match c {
            '%' => out.push_str("%%"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    if !bare {
        out.push('"');
    }
    out
}

/// Quote one word for `/bin/sh` (a crontab line): plain words bare, the
/// rest single-quoted.
pub(super) fn sh_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:+,=@".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        crate::hooks::sh_quote(word)
    }
}

/// The unit's PATH: the absolute entries of `current_path` in their order
/// (a later duplicate dropped), then the folder of any tool found only outside
/// them (a tool named by path). Keeping the order means the service finds
/// every command where the installing shell finds it; relative entries (`.`,
/// `bin`, `~/x`) are dropped, since the service runs elsewhere.
///
/// Also returns, for each tool, where it was found (`None`: missing), looked
/// up on that same PATH.
pub fn build_path(current_path: &str, tools: &[&str]) -> (String, Vec<(String, Option<PathBuf>)>) {
    let mut dirs: Vec<String> = Vec::new();
    for d in current_path.split(':') {
        if Path::new(d).is_absolute() && !dirs.iter().any(|x| x == d) {
            dirs.push(d.to_string());
        }
    }
    let absolute_only = dirs.join(":");
    let mut found = Vec::with_capacity(tools.len());
    for &tool in tools {
        let hit = resolve_command(tool, &absolute_only, Path::new("/"))
            .ok()
            .filter(|p| p.is_absolute());
        if let Some(dir) = hit.as_ref().and_then(|p| p.parent()) {
            let dir = dir.to_string_lossy().into_owned();
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        found.push((tool.to_string(), hit));
    }
    let path = if dirs.is_empty() {
        FALLBACK_PATH.to_string()
    } else {
        dirs.join(":")
    };
    (path, found)
}

/// `$XDG_CONFIG_HOME/systemd/user/orc.service` (default `~/.config/...`).
pub fn unit_path() -> Result<PathBuf> {
    unit_path_from(
        std::env::var_os("XDG_CONFIG_HOME").as_deref(),
        std::env::var_os("HOME").as_deref(),
    )
}

pub(super) fn unit_path_from(
    xdg_config_home: Option<&std::ffi::OsStr>,
    home: Option<&std::ffi::OsStr>,
) -> Result<PathBuf> {
    // The XDG spec says to ignore a relative value; systemd does too.
    let config = match xdg_config_home.map(Path::new).filter(|p| p.is_absolute()) {
        Some(dir) => dir.to_path_buf(),
        None => match home.map(Path::new).filter(|p| p.is_absolute()) {
            Some(home) => home.join(".config"),
            None => bail!(
                "neither XDG_CONFIG_HOME nor HOME is an absolute path: cannot place the unit file"
            ),
        },
    };
    Ok(config.join("systemd").join("user").join(UNIT_NAME))
}
