//! `orc service install|uninstall|status`: run `orc supervise` as a systemd
//! *user* unit, so the supervisor comes back after a crash, a logout (with
//! linger) and a reboot.
//!
//! Everything the commands read from the outside world (the orc binary, PATH,
//! the carried variables, where the unit goes) sits in a [`Host`], so tests
//! pass their own and never touch the process environment. `systemctl` is
//! looked up on the host's PATH, so a test can put a fake one first.
//!
//! When there is no `systemctl`, or it cannot reach a user manager (common in
//! containers: "Failed to connect to bus"), `install` still writes the unit and
//! says how to start the supervisor without systemd.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::config::{resolve_command, Config};
use crate::paths::Paths;
use crate::proto::{Request, Response};

/// The unit's file name.
pub const UNIT_NAME: &str = "orc.service";

/// Variables copied from the installing shell into the unit when set: they
/// decide where the supervisor keeps its state, socket and tmux server, so the
/// service must see the same values as the `orc` commands typed in a shell.
pub const CARRIED_ENV: &[&str] = &[
    "ORC_HOME",
    "ORC_TMUX_SOCKET",
    "ORC_LOG",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
];

/// Of [`CARRIED_ENV`], the ones holding a path (made absolute: the service
/// runs in the home directory, not where `install` ran).
const PATH_VARS: &[&str] = &["ORC_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"];

/// PATH for the unit when the installing one has no absolute entry at all.
const FALLBACK_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// `orc service ...`
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum ServiceCmd {
    /// Write the systemd user unit for `orc supervise`, enable and start it
    Install,
    /// Stop and disable the unit and remove it; agents keep running in tmux
    Uninstall,
    /// Show the unit file, the service and the running supervisor, if any
    Status,
}

/// The CLI entry point: gather the host, act, print the report.
pub async fn run(action: ServiceCmd) -> Result<()> {
    let paths = Paths::from_env();
    let config = Config::load(&paths.config_file)?;
    let host = Host::from_env(paths, &config)?;
    let report = match action {
        ServiceCmd::Install => install(&host).await?,
        ServiceCmd::Uninstall => uninstall(&host).await?,
        ServiceCmd::Status => status(&host).await?,
    };
    print!("{report}");
    match report.failure {
        Some(why) => bail!(why),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// The unit file

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
fn quote(word: &str) -> String {
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
fn sh_quote(word: &str) -> String {
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

fn unit_path_from(
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

// ---------------------------------------------------------------------------
// The host

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
    fn plan(&self) -> (String, Vec<&Tool>, String) {
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

    fn wants_link(&self) -> Option<PathBuf> {
        Some(
            self.unit_path
                .parent()?
                .join("default.target.wants")
                .join(UNIT_NAME),
        )
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.carried
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// tmux, git and the commands of the configured profiles (orc's own `sim`
/// profile left out).
fn tools_for(config: &Config, orc_exe: &Path) -> Vec<Tool> {
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

// ---------------------------------------------------------------------------
// systemctl

/// `systemctl --user`, found on the host's PATH.
struct Systemctl {
    bin: PathBuf,
    path_var: String,
}

struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Outcome {
    /// The first line systemctl wrote to say what went wrong.
    fn reason(&self) -> String {
        self.stderr
            .lines()
            .chain(self.stdout.lines())
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no message")
            .to_string()
    }
}

/// What `systemctl --user show orc.service` says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ServiceState {
    load: String,
    active: String,
    sub: String,
    unit_file: String,
    main_pid: u32,
    restarts: u32,
}

impl ServiceState {
    fn parse(text: &str) -> ServiceState {
        let mut s = ServiceState::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim().to_string();
            match key.trim() {
                "LoadState" => s.load = value,
                "ActiveState" => s.active = value,
                "SubState" => s.sub = value,
                "UnitFileState" => s.unit_file = value,
                "MainPID" => s.main_pid = value.parse().unwrap_or(0),
                "NRestarts" => s.restarts = value.parse().unwrap_or(0),
                _ => {}
            }
        }
        s
    }

    fn running(&self) -> bool {
        matches!(self.active.as_str(), "active" | "activating" | "reloading")
    }

    fn describe(&self) -> String {
        let mut d = format!("{UNIT_NAME}: {}", or_unknown(&self.active));
        if !self.sub.is_empty() {
            d.push_str(&format!(" ({})", self.sub));
        }
        d.push_str(&format!(", {}", or_unknown(&self.unit_file)));
        if self.main_pid != 0 {
            d.push_str(&format!(", main pid {}", self.main_pid));
        }
        if self.restarts != 0 {
            d.push_str(&format!(", restarted {} times", self.restarts));
        }
        d
    }
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() {
        "unknown"
    } else {
        s
    }
}

impl Systemctl {
    fn find(path_var: &str) -> Option<Systemctl> {
        let (_, found) = build_path(path_var, &["systemctl"]);
        let bin = found.into_iter().next()?.1?;
        Some(Systemctl {
            bin,
            path_var: path_var.to_string(),
        })
    }

    fn run(&self, args: &[&str]) -> Outcome {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--user")
            .args(args)
            .env("PATH", &self.path_var)
            .env("SYSTEMD_PAGER", "")
            .stdin(std::process::Stdio::null());
        // ETXTBSY: a script written a moment ago while another thread forked
        // (tests write fake systemctls); it clears at once.
        let mut tries = 0;
        let out = loop {
            match cmd.output() {
                Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) && tries < 20 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => break other,
            }
        };
        match out {
            Ok(o) => Outcome {
                ok: o.status.success(),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            },
            Err(e) => Outcome {
                ok: false,
                stdout: String::new(),
                stderr: format!("cannot run {}: {e}", self.bin.display()),
            },
        }
    }

    fn show(&self) -> std::result::Result<ServiceState, Outcome> {
        let o = self.run(&[
            "show",
            "--property=LoadState,ActiveState,SubState,UnitFileState,MainPID,NRestarts",
            UNIT_NAME,
        ]);
        if o.ok {
            Ok(ServiceState::parse(&o.stdout))
        } else {
            Err(o)
        }
    }
}

/// Whether systemd can run the unit here, and if not why.
enum Manager {
    /// It answers; the unit's state as of now.
    Ready(Systemctl, ServiceState),
    Unavailable(String),
}

/// Find systemctl and check that it reaches a user manager (`show` changes
/// nothing and fails exactly when the bus is out of reach).
fn manager(host: &Host) -> Manager {
    let Some(sc) = Systemctl::find(&host.path_var) else {
        return Manager::Unavailable("systemctl was not found on PATH".into());
    };
    match sc.show() {
        Ok(state) => Manager::Ready(sc, state),
        Err(o) => Manager::Unavailable(format!(
            "`systemctl --user` cannot reach a user manager ({})",
            o.reason()
        )),
    }
}

/// The pid of the supervisor answering on this host's socket, if any.
async fn supervisor_pid(paths: &Paths) -> Option<u32> {
    match crate::ipc::request(&paths.socket(), &Request::Ping, Duration::from_secs(2)).await {
        Ok(Response::Pong { pid }) => Some(pid),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Reports

/// What a command did, for the CLI to print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub lines: Vec<String>,
    /// Set when nothing useful could be done: the CLI exits non-zero with it.
    pub failure: Option<String>,
}

impl Report {
    fn say(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }
    fn warn(&mut self, line: impl AsRef<str>) {
        self.lines.push(format!("warning: {}", line.as_ref()));
    }
    /// Whether some line contains `needle` (for tests and callers).
    #[cfg(test)]
    pub fn mentions(&self, needle: &str) -> bool {
        self.lines.iter().any(|l| l.contains(needle))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// Ways to keep a supervisor running without systemd.
fn manual_alternatives(r: &mut Report, host: &Host, unit_written: bool) {
    if unit_written {
        r.say(format!(
            "The unit file is in place for a machine where a user manager runs: \
             `systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}`."
        ));
    }
    r.say("Without systemd, start the supervisor one of these ways:");
    r.say(format!(
        "  orc supervise --detach    from a login shell (a detached `nohup orc supervise &`; log: {})",
        host.paths.supervisor_log().display()
    ));
    let (path, _, _) = host.plan();
    let mut line = String::from("@reboot");
    line.push_str(&format!(" PATH={}", sh_quote(&path)));
    for (k, v) in &host.carried {
        line.push_str(&format!(" {k}={}", sh_quote(v)));
    }
    line.push_str(&format!(
        " {} supervise --detach",
        sh_quote(&host.orc_exe.to_string_lossy())
    ));
    // cron turns a bare `%` into a newline.
    let line = line.replace('%', r"\%");
    r.say(format!("  {line}"));
    r.say("      a crontab line (`crontab -e`) that starts it at every boot");
    if host.has_runtime_dir && host.var("ORC_HOME").is_none() {
        r.say(
            "      (cron has no XDG_RUNTIME_DIR, so that supervisor would listen where your \
             shell's orc does not look: set ORC_HOME in both)",
        );
    }
}

fn linger_advice(r: &mut Report, host: &Host) {
    let Some(file) = &host.linger_file else {
        return;
    };
    if file.exists() {
        r.say("linger: on (the service runs from boot, without a login)");
    } else {
        let user = host.user.as_deref().unwrap_or("$USER");
        r.warn(format!(
            "linger is off: your user manager, and the service with tmux and the agents, \
             stops at your last logout and starts only at your next login. \
             Turn it on with `loginctl enable-linger {user}`."
        ));
    }
}

fn missing_tools(r: &mut Report, missing: &[&Tool]) {
    for t in missing {
        r.warn(format!("{} not found on PATH: {}", t.command, t.needed_by));
    }
}

// ---------------------------------------------------------------------------
// Commands

/// Write the unit, then `daemon-reload` and `enable --now` it.
pub async fn install(host: &Host) -> Result<Report> {
    let mut r = Report::default();
    let (_, missing, text) = host.plan();
    missing_tools(&mut r, &missing);

    let before = std::fs::read_to_string(&host.unit_path).ok();
    let changed = before.as_deref() != Some(text.as_str());
    if changed {
        crate::state::write_atomic(&host.unit_path, text.as_bytes())
            .with_context(|| format!("cannot write {}", host.unit_path.display()))?;
        let verb = if before.is_some() { "updated" } else { "wrote" };
        r.say(format!("{verb} {}", host.unit_path.display()));
    } else {
        r.say(format!("{} is up to date", host.unit_path.display()));
    }
    r.say(format!("ExecStart={} supervise", host.orc_exe.display()));

    let running = supervisor_pid(&host.paths).await;
    let (sc, before_state) = match manager(host) {
        Manager::Ready(sc, state) => (sc, state),
        Manager::Unavailable(why) => {
            r.warn(format!("{why}: the service was not started."));
            if let Some(pid) = running {
                r.say(format!(
                    "A supervisor is running now (pid {pid}), outside systemd."
                ));
            }
            manual_alternatives(&mut r, host, true);
            return Ok(r);
        }
    };

    let reload = sc.run(&["daemon-reload"]);
    if !reload.ok {
        r.warn(format!(
            "`systemctl --user daemon-reload` failed ({}): the service was not started.",
            reload.reason()
        ));
        manual_alternatives(&mut r, host, true);
        return Ok(r);
    }
    if let Some(pid) = running.filter(|&p| p != before_state.main_pid) {
        r.warn(format!(
            "a supervisor (pid {pid}) already answers on {} outside systemd. The service's \
             supervisor fails on its pid lock and retries every 5 s until that one stops: \
             run `orc stop` to hand over (agents keep running in tmux).",
            host.paths.socket().display()
        ));
    }
    let enable = sc.run(&["enable", "--now", UNIT_NAME]);
    if !enable.ok {
        r.failure = Some(format!(
            "`systemctl --user enable --now {UNIT_NAME}` failed: {}",
            enable.reason()
        ));
        r.say(format!("see `journalctl --user -u {UNIT_NAME}`"));
        return Ok(r);
    }
    r.say(format!("enabled {UNIT_NAME}"));
    if changed && before_state.running() {
        let restart = sc.run(&["restart", UNIT_NAME]);
        if restart.ok {
            r.say("restarted the supervisor under the new unit (agents keep running in tmux)");
        } else {
            r.warn(format!(
                "the new unit is not in effect: `systemctl --user restart {UNIT_NAME}` failed ({})",
                restart.reason()
            ));
        }
    }
    if let Ok(state) = sc.show() {
        r.say(state.describe());
    }
    linger_advice(&mut r, host);
    r.say(format!("logs: journalctl --user -u {UNIT_NAME}"));
    Ok(r)
}

/// `disable --now` the unit, remove its file, `daemon-reload`.
pub async fn uninstall(host: &Host) -> Result<Report> {
    let mut r = Report::default();
    let exists = host.unit_path.exists();
    match manager(host) {
        Manager::Ready(sc, state) => {
            if exists {
                let off = sc.run(&["disable", "--now", UNIT_NAME]);
                if off.ok {
                    r.say(format!("disabled and stopped {UNIT_NAME}"));
                } else {
                    r.warn(format!(
                        "`systemctl --user disable --now {UNIT_NAME}` failed ({})",
                        off.reason()
                    ));
                }
            } else if state.running() {
                // Loaded from a file we did not write (or already removed).
                let stop = sc.run(&["stop", UNIT_NAME]);
                if stop.ok {
                    r.say(format!("stopped {UNIT_NAME}"));
                }
            }
            if exists {
                remove_unit(&mut r, host)?;
            }
            sc.run(&["daemon-reload"]);
            sc.run(&["reset-failed", UNIT_NAME]);
            if !exists && !state.running() {
                r.say(format!(
                    "{UNIT_NAME} is not installed (no {})",
                    host.unit_path.display()
                ));
                return Ok(r);
            }
        }
        Manager::Unavailable(why) => {
            if !exists {
                r.say(format!(
                    "{UNIT_NAME} is not installed (no {})",
                    host.unit_path.display()
                ));
                return Ok(r);
            }
            remove_unit(&mut r, host)?;
            // What `disable` would have removed.
            if let Some(link) = host.wants_link() {
                if link.is_symlink() && std::fs::remove_file(&link).is_ok() {
                    r.say(format!("removed {}", link.display()));
                }
            }
            r.say(format!("({why}: nothing to stop there)"));
        }
    }
    r.say("Agents keep running in tmux; to supervise them, run `orc supervise --detach`.");
    Ok(r)
}

fn remove_unit(r: &mut Report, host: &Host) -> Result<()> {
    match std::fs::remove_file(&host.unit_path) {
        Ok(()) => r.say(format!("removed {}", host.unit_path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot remove {}", host.unit_path.display()))
        }
    }
    Ok(())
}

/// The unit file, the service, linger, and who answers on the socket.
pub async fn status(host: &Host) -> Result<Report> {
    let mut r = Report::default();
    let (_, missing, text) = host.plan();
    match std::fs::read_to_string(&host.unit_path) {
        Ok(current) if current == text => r.say(format!("unit file: {}", host.unit_path.display())),
        Ok(_) => {
            r.say(format!("unit file: {}", host.unit_path.display()));
            r.warn(
                "it differs from what `orc service install` would write now \
                 (orc moved, or PATH/ORC_HOME changed): run it again",
            );
        }
        Err(_) => r.say(format!(
            "unit file: none (would be {}); install with `orc service install`",
            host.unit_path.display()
        )),
    }
    missing_tools(&mut r, &missing);

    let service = match manager(host) {
        Manager::Ready(_, state) => {
            r.say(state.describe());
            if host.unit_path.exists() {
                linger_advice(&mut r, host);
            }
            Some(state)
        }
        Manager::Unavailable(why) => {
            r.say(format!("systemd: {why}"));
            None
        }
    };

    let service_pid = service
        .as_ref()
        .filter(|s| s.running())
        .map(|s| s.main_pid)
        .filter(|&p| p != 0);
    match (supervisor_pid(&host.paths).await, service_pid) {
        (Some(pid), Some(main)) if pid == main => r.say(format!(
            "supervisor: pid {pid}, under systemd, on {}",
            host.paths.socket().display()
        )),
        (Some(pid), Some(main)) => {
            r.say(format!(
                "supervisor: pid {pid} on {}, started outside systemd",
                host.paths.socket().display()
            ));
            r.warn(format!(
                "the service's supervisor (pid {main}) cannot take the pid lock while pid {pid} \
                 runs: `orc stop` hands over to the service"
            ));
        }
        (Some(pid), None) => r.say(format!(
            "supervisor: pid {pid} on {}, started outside systemd",
            host.paths.socket().display()
        )),
        (None, Some(_)) => r.say(format!(
            "supervisor: none answers on {} yet; see `journalctl --user -u {UNIT_NAME}`",
            host.paths.socket().display()
        )),
        (None, None) => r.say(format!(
            "supervisor: none answers on {}",
            host.paths.socket().display()
        )),
    }
    Ok(r)
}

// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write_exec(path: &Path, body: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn quoting_follows_systemd_rules() {
        assert_eq!(quote("/usr/bin/orc"), "/usr/bin/orc");
        assert_eq!(quote("PATH=/a:/b"), "PATH=/a:/b");
        assert_eq!(quote("/home/me/My Tools/orc"), r#""/home/me/My Tools/orc""#);
        assert_eq!(quote("/x/100%"), "/x/100%%");
        assert_eq!(quote("/x/$HOME"), r#""/x/$HOME""#);
        assert_eq!(quote(r#"A=say "hi" \o/"#), r#""A=say \"hi\" \\o/""#);
        assert_eq!(quote("A=a\nb"), r#""A=a\nb""#);
        assert_eq!(quote("A=\u{1b}"), r#""A=\x1b""#);
        assert_eq!(quote(""), r#""""#);
        assert_eq!(quote("A=it's"), r#""A=it's""#);
    }

    #[test]
    fn sh_quoting() {
        assert_eq!(sh_quote("/usr/bin/orc"), "/usr/bin/orc");
        assert_eq!(sh_quote("/a b/orc"), "'/a b/orc'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn unit_text_runs_orc_with_the_tools_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        write_exec(&bin.join("tmux"), "#!/bin/sh\n");
        let current = format!("{}:/usr/bin:relative/dir", bin.display());
        let (path, found) = build_path(&current, &["tmux"]);
        assert_eq!(found[0].1.as_deref(), Some(bin.join("tmux").as_path()));
        let exe = dir.path().join("orc");
        let text = unit_text(&exe, &path, &env(&[("ORC_HOME", "/srv/orc home")]));
        let lines: Vec<&str> = text.lines().collect();
        let has = |l: &str| lines.contains(&l);
        assert!(
            has(&format!("ExecStart={} supervise", exe.display())),
            "{text}"
        );
        assert!(has("Type=simple"));
        assert!(has("Restart=on-failure"));
        assert!(has("RestartSec=5"));
        assert!(has("KillMode=process"));
        assert!(has("WantedBy=default.target"));
        assert!(
            has(&format!("Environment=PATH={}:/usr/bin", bin.display())),
            "{text}"
        );
        assert!(has(r#"Environment="ORC_HOME=/srv/orc home""#), "{text}");
        assert!(!text.contains("relative/dir"));
        for section in ["[Unit]", "[Service]", "[Install]"] {
            assert!(has(section), "{section} missing:\n{text}");
        }
    }

    #[test]
    fn unit_text_quotes_an_exe_path_with_spaces() {
        let text = unit_text(Path::new("/opt/my tools/orc"), "/usr/bin", &[]);
        assert!(
            text.contains("ExecStart=\"/opt/my tools/orc\" supervise\n"),
            "{text}"
        );
    }

    #[test]
    fn build_path_reports_found_and_missing_and_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let extra = dir.path().join("extra");
        write_exec(&a.join("tmux"), "#!/bin/sh\n");
        write_exec(&b.join("claude"), "#!/bin/sh\n");
        write_exec(&b.join("tmux"), "#!/bin/sh\n"); // shadowed by a/tmux
        write_exec(&extra.join("aider"), "#!/bin/sh\n");
        std::fs::write(b.join("codex"), "not executable").unwrap();
        let current = format!(
            "{a}::.:{b}:~/bin:{a}:/nonexistent-dir",
            a = a.display(),
            b = b.display()
        );
        let aider = extra.join("aider");
        let tools = ["tmux", "claude", "codex", "gemini", aider.to_str().unwrap()];
        let (path, found) = build_path(&current, &tools);
        assert_eq!(
            path,
            format!(
                "{}:{}:/nonexistent-dir:{}",
                a.display(),
                b.display(),
                extra.display()
            )
        );
        let got: Vec<(&str, Option<&Path>)> = found
            .iter()
            .map(|(t, p)| (t.as_str(), p.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("tmux", Some(a.join("tmux").as_path())),
                ("claude", Some(b.join("claude").as_path())),
                ("codex", None),
                ("gemini", None),
                (tools[4], Some(aider.as_path())),
            ]
        );
        // Nothing absolute at all: a sane default rather than an empty PATH.
        assert_eq!(build_path(".:bin", &[]).0, FALLBACK_PATH);
    }

    #[test]
    fn unit_path_prefers_xdg_config_home() {
        let os = |s: &'static str| Some(std::ffi::OsStr::new(s));
        assert_eq!(
            unit_path_from(os("/x/cfg"), os("/home/me")).unwrap(),
            Path::new("/x/cfg/systemd/user/orc.service")
        );
        assert_eq!(
            unit_path_from(None, os("/home/me")).unwrap(),
            Path::new("/home/me/.config/systemd/user/orc.service")
        );
        assert_eq!(
            unit_path_from(os("relative"), os("/home/me")).unwrap(),
            Path::new("/home/me/.config/systemd/user/orc.service")
        );
        assert!(unit_path_from(None, None).is_err());
    }

    #[test]
    fn tools_come_from_tmux_git_and_profiles() {
        let config = Config::load(Path::new("/nonexistent/config.toml")).unwrap();
        let exe = std::env::current_exe().unwrap();
        let tools = tools_for(&config, &exe);
        let names: Vec<&str> = tools.iter().map(|t| t.command.as_str()).collect();
        for want in ["tmux", "git", "claude", "codex", "gemini", "aider", "bash"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        let claude = tools.iter().find(|t| t.command == "claude").unwrap();
        assert_eq!(
            claude.needed_by,
            "agents with the claude profile will not start under the service"
        );
    }

    /// Lines of `systemd-analyze verify` output that are about the unit file
    /// itself (its syntax, values, executables), not about the manager.
    fn verify_complaints(unit: &Path, runtime: &Path) -> Option<(String, Vec<String>)> {
        let run = |user: bool| {
            let mut cmd = Command::new("systemd-analyze");
            cmd.arg("verify");
            if user {
                cmd.arg("--user");
            }
            // A user-mode verify needs a runtime dir; give it a private one
            // (set on the child only: tests share the process environment).
            cmd.arg(unit)
                .env("XDG_RUNTIME_DIR", runtime)
                .env("SYSTEMD_LOG_COLOR", "0")
                .output()
        };
        let out = run(true).ok()?;
        let text = |o: &std::process::Output| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        };
        let mut all = text(&out);
        let manager_trouble = |s: &str| {
            s.contains("Failed to initialize manager")
                || s.contains("Failed to connect to bus")
                || s.contains("Failed to lookup RuntimeDirectory")
        };
        let mut mode = "--user";
        if manager_trouble(&all) {
            let out = run(false).ok()?;
            all = text(&out);
            mode = "system mode";
            if manager_trouble(&all) {
                return None;
            }
        }
        let name = unit.file_name().unwrap().to_string_lossy().into_owned();
        let unit_s = unit.to_string_lossy().into_owned();
        // Every complaint about a unit names it: "<path>:<line>: ..." for a
        // bad line, "orc.service: ..." for a bad unit as a whole.
        let complaints = all
            .lines()
            .filter(|l| l.contains(&unit_s) || l.contains(&name))
            .map(str::to_string)
            .collect();
        Some((format!("{mode}: {all}"), complaints))
    }

    #[test]
    fn systemd_analyze_accepts_the_unit() {
        if build_path(
            &std::env::var("PATH").unwrap_or_default(),
            &["systemd-analyze"],
        )
        .1[0]
            .1
            .is_none()
        {
            println!("SKIP: systemd-analyze is not installed");
            return;
        }
        // A folder name with a space, a specifier (`%u`) and `$`, to check
        // the quoting: the verifier rejects an ExecStart= naming no file.
        let dir = tempfile::Builder::new()
            .prefix("orc unit %u $x ")
            .tempdir()
            .unwrap();
        let exe = dir.path().join("bin dir").join("orc");
        write_exec(&exe, "#!/bin/sh\nexit 0\n");
        let runtime = dir.path().join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        let unit = dir.path().join("units").join(UNIT_NAME);
        let (path, _) = build_path(&format!("/usr/bin:/bin:{}", dir.path().display()), &[]);
        let text = unit_text(
            &exe,
            &path,
            &env(&[
                ("ORC_HOME", &dir.path().join("home").to_string_lossy()),
                ("ORC_TMUX_SOCKET", "orc test"),
            ]),
        );
        crate::state::write_atomic(&unit, text.as_bytes()).unwrap();
        let Some((output, complaints)) = verify_complaints(&unit, &runtime) else {
            println!("SKIP: systemd-analyze cannot start a manager here, in user or system mode");
            return;
        };
        println!("systemd-analyze verify ({output})");
        assert!(
            complaints.is_empty(),
            "unit:\n{text}\ncomplaints: {complaints:#?}"
        );

        // The check can fail: a broken value and a missing executable are seen.
        let broken = text
            .replace("Restart=on-failure", "Restart=sometimes")
            .replace("bin dir", "no such dir");
        crate::state::write_atomic(&unit, broken.as_bytes()).unwrap();
        let (_, complaints) = verify_complaints(&unit, &runtime).unwrap();
        assert!(
            complaints.iter().any(|l| l.contains("restart specifier")),
            "{complaints:#?}"
        );
        assert!(
            complaints.iter().any(|l| l.contains("not executable")),
            "{complaints:#?}"
        );
    }

    /// A host in a tempdir: the unit under `<tmp>/config`, orc's state under
    /// `<tmp>/home`, a fake tmux, and `bin` first on PATH (for a fake systemctl).
    struct Fixture {
        dir: tempfile::TempDir,
        host: Host,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let bin = dir.path().join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            write_exec(&dir.path().join("tools").join("tmux"), "#!/bin/sh\n");
            let orc_exe = dir.path().join("orc");
            write_exec(&orc_exe, "#!/bin/sh\n");
            let home = dir.path().join("home");
            let host = Host {
                orc_exe,
                // No /usr/bin: the real systemctl must never be reached.
                path_var: format!("{}:{}", bin.display(), dir.path().join("tools").display()),
                carried: env(&[("ORC_HOME", home.to_str().unwrap())]),
                unit_path: unit_path_from(Some(dir.path().join("config").as_os_str()), None)
                    .unwrap(),
                tools: vec![
                    Tool {
                        command: "tmux".into(),
                        needed_by: "the supervisor cannot start without it".into(),
                    },
                    Tool {
                        command: "claude".into(),
                        needed_by:
                            "agents with the claude profile will not start under the service".into(),
                    },
                ],
                paths: Paths::under(&home),
                user: Some("tester".into()),
                linger_file: Some(dir.path().join("linger").join("tester")),
                has_runtime_dir: false,
            };
            Fixture { dir, host }
        }

        /// A fake `systemctl` that logs its arguments and keeps the unit's
        /// state in a file: `enable --now` starts it, `disable --now` stops it.
        fn fake_systemctl(&self) -> PathBuf {
            let log = self.dir.path().join("systemctl.log");
            let state = self.dir.path().join("active");
            std::fs::write(&state, "inactive").unwrap();
            let script = format!(
                r#"#!/bin/sh
echo "$*" >> '{log}'
case "$*" in
  *"enable --now"*) echo active > '{state}' ;;
  *"disable --now"*) echo inactive > '{state}' ;;
  *" show "*)
    read s < '{state}' 
    echo LoadState=loaded
    echo ActiveState=$s
    if [ "$s" = active ]; then echo SubState=running; echo MainPID=4242; else echo SubState=dead; echo MainPID=0; fi
    echo UnitFileState=enabled
    echo NRestarts=0 ;;
esac
exit 0
"#,
                log = log.display(),
                state = state.display()
            );
            write_exec(&self.dir.path().join("bin").join("systemctl"), &script);
            log
        }

        /// A `systemctl` that cannot reach a user manager, like in a container.
        fn busless_systemctl(&self) {
            write_exec(
                &self.dir.path().join("bin").join("systemctl"),
                "#!/bin/sh\necho 'Failed to connect to bus: No medium found' >&2\nexit 1\n",
            );
        }
    }

    fn calls(log: &Path) -> Vec<String> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    const SHOW: &str = "--user show --property=LoadState,ActiveState,SubState,UnitFileState,MainPID,NRestarts orc.service";

    #[tokio::test]
    async fn install_then_uninstall_drive_systemctl() {
        let f = Fixture::new();
        let log = f.fake_systemctl();

        let r = install(&f.host).await.unwrap();
        assert_eq!(r.failure, None, "{r}");
        let text = std::fs::read_to_string(&f.host.unit_path).unwrap();
        assert!(text.contains(&format!("ExecStart={} supervise", f.host.orc_exe.display())));
        assert!(text.contains(&f.dir.path().join("tools").display().to_string()));
        assert!(text.contains("Environment=ORC_HOME="));
        assert_eq!(
            calls(&log),
            vec![
                SHOW.to_string(),
                "--user daemon-reload".into(),
                "--user enable --now orc.service".into(),
                SHOW.into(),
            ]
        );
        assert!(r.mentions("claude not found on PATH: agents with the claude profile will not start under the service"), "{r}");
        assert!(
            r.mentions("orc.service: active (running), enabled, main pid 4242"),
            "{r}"
        );
        assert!(r.mentions("loginctl enable-linger tester"), "{r}");

        // Again, unchanged: no restart. Status agrees with the file.
        std::fs::write(&log, "").unwrap();
        let r = install(&f.host).await.unwrap();
        assert!(r.mentions("is up to date"), "{r}");
        assert!(
            !calls(&log).iter().any(|c| c.contains("restart")),
            "{:?}",
            calls(&log)
        );
        let s = status(&f.host).await.unwrap();
        assert!(!s.mentions("differs"), "{s}");
        assert!(s.mentions("orc.service: active"), "{s}");
        assert!(s.mentions("supervisor: none answers"), "{s}");

        // A changed unit restarts a running service.
        let mut moved = f.host.clone();
        moved.carried = env(&[("ORC_HOME", "/elsewhere")]);
        assert!(status(&moved).await.unwrap().mentions("differs"));
        std::fs::write(&log, "").unwrap();
        let r = install(&moved).await.unwrap();
        assert!(r.mentions("updated"), "{r}");
        assert!(calls(&log).contains(&"--user restart orc.service".to_string()));

        std::fs::write(&log, "").unwrap();
        let r = uninstall(&f.host).await.unwrap();
        assert_eq!(r.failure, None, "{r}");
        assert!(!f.host.unit_path.exists());
        assert_eq!(
            calls(&log),
            vec![
                SHOW.to_string(),
                "--user disable --now orc.service".into(),
                "--user daemon-reload".into(),
                "--user reset-failed orc.service".into(),
            ]
        );
        assert!(r.mentions("Agents keep running in tmux"), "{r}");

        // Twice: nothing to do, and it says so.
        let r = uninstall(&f.host).await.unwrap();
        assert!(r.mentions("is not installed"), "{r}");
    }

    #[tokio::test]
    async fn without_a_user_manager_install_writes_the_unit_and_explains() {
        let f = Fixture::new();
        f.busless_systemctl();
        let r = install(&f.host).await.unwrap();
        assert_eq!(r.failure, None, "{r}");
        assert!(f.host.unit_path.exists());
        assert!(r.mentions("Failed to connect to bus"), "{r}");
        assert!(r.mentions("orc supervise --detach"), "{r}");
        let cron = format!(
            "@reboot PATH={}:{} ORC_HOME={} {} supervise --detach",
            f.dir.path().join("bin").display(),
            f.dir.path().join("tools").display(),
            f.host.paths.state.parent().unwrap().display(),
            f.host.orc_exe.display()
        );
        assert!(r.mentions(&cron), "want {cron}\n{r}");

        let s = status(&f.host).await.unwrap();
        assert!(
            s.mentions("systemd: `systemctl --user` cannot reach a user manager"),
            "{s}"
        );

        // Uninstall still cleans up, including the enablement link.
        let link = f.host.wants_link().unwrap();
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&f.host.unit_path, &link).unwrap();
        let r = uninstall(&f.host).await.unwrap();
        assert_eq!(r.failure, None, "{r}");
        assert!(!f.host.unit_path.exists());
        assert!(!link.is_symlink());
    }

    #[tokio::test]
    async fn without_systemctl_install_still_writes_the_unit() {
        let f = Fixture::new();
        // No fake systemctl and no system dirs on PATH.
        let r = install(&f.host).await.unwrap();
        assert_eq!(r.failure, None, "{r}");
        assert!(f.host.unit_path.exists());
        assert!(r.mentions("systemctl was not found on PATH"), "{r}");
    }

    #[tokio::test]
    async fn a_failing_enable_is_a_failure() {
        let f = Fixture::new();
        write_exec(
            &f.dir.path().join("bin").join("systemctl"),
            "#!/bin/sh\ncase \"$*\" in *enable*) echo 'Job failed' >&2; exit 1;; esac\nexit 0\n",
        );
        let r = install(&f.host).await.unwrap();
        assert!(
            r.failure.as_deref().unwrap_or("").contains("Job failed"),
            "{r:?}"
        );
    }
}
