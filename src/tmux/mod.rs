//! Everything that speaks to tmux. No other module runs `tmux` or knows its syntax.
//!
//! orc runs its own tmux server (`tmux -L <socket> -f <orc's conf>`) and talks to
//! it through one control-mode client per session ([`ControlClient`]). One-shot
//! commands ([`Tmux::run`]) are used only to bootstrap the server and session,
//! and behind [`poll::client`] while control mode is wedged.

pub mod client;
#[cfg(test)]
mod client_tests;
pub mod pane;
pub mod parser;
pub mod poll;
pub mod session;
#[cfg(test)]
mod transcripts;

use std::path::{Path, PathBuf};
use std::process::Stdio;

pub use crate::pane_text::{Key, PaneText};
pub use client::{ControlClient, Sequenced};
pub use parser::{Event, Reply};

/// tmux 3.2 brought `refresh-client -B` subscriptions and `pause-after`.
pub const MIN_VERSION: (u32, u32) = (3, 2);

#[derive(Debug, thiserror::Error)]
pub enum TmuxError {
    #[error("tmux is not installed or not executable at {0}: install tmux >= 3.2 (e.g. `apt-get install tmux`)")]
    Missing(String),
    #[error("tmux {found} is too old: orc needs tmux >= {}.{}", MIN_VERSION.0, MIN_VERSION.1)]
    TooOld { found: String },
    #[error("tmux refused `{command}`: {message}")]
    Command { command: String, message: String },
    #[error("the tmux control connection is closed")]
    Closed,
    #[error("not a single tmux command line: {0}")]
    BadCommand(String),
    #[error("tmux i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// What `orc attach` execs: the user's terminal on an agent's window
/// (select it, then attach to its session), outside any tmux client.
pub fn attach_command(
    bin: &str,
    socket: &str,
    session: &str,
    window: &str,
) -> std::process::Command {
    let mut c = std::process::Command::new(bin);
    c.args(["-L", socket, "select-window", "-t", window, ";"])
        .args(["attach-session", "-t", &format!("={session}")])
        .env_remove("TMUX");
    c
}

/// Quote one argument for tmux's command parser so that tmux receives exactly
/// these bytes: double quotes, with `\`, `"`, `$` and `~` escaped (tmux expands
/// `$VAR` inside double quotes, and `~` at the start of a token), control bytes
/// as octal escapes (`\012`), everything else (UTF-8 included) as it is.
/// NUL cannot be passed to tmux at all; it is dropped.
pub fn quote(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('"');
    for c in arg.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            '~' => out.push_str("\\~"),
            '\0' => {}
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\{:03o}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Escape `#` for arguments tmux expands as formats (e.g. `new-window -c`).
pub fn escape_format(s: &str) -> String {
    s.replace('#', "##")
}

/// A string for a place where tmux expands formats (`#(cmd)` runs a shell
/// command, `#{...}` reads variables): window names, `-c`, session names.
/// Made only by [`FormatSafe::new`], which doubles every `#` so that tmux
/// shows it as itself; the commands that take such places accept only this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatSafe(String);

impl FormatSafe {
    /// Escape `s`; control characters (which tmux would show raw in a
    /// status line) become `_`.
    pub fn new(s: &str) -> Self {
        let shown: String = s
            .chars()
            .map(|c| if c.is_control() { '_' } else { c })
            .collect();
        Self(escape_format(&shown))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `new-window`, with every format-expanded argument typed [`FormatSafe`].
#[derive(Debug, Clone)]
pub struct NewWindow {
    /// `-t`: where, e.g. `=orc:`.
    pub target: String,
    /// `-n`.
    pub name: FormatSafe,
    /// `-c`.
    pub cwd: FormatSafe,
    /// `-e KEY=VALUE` (not expanded by tmux).
    pub env: Vec<(String, String)>,
    /// What `-P -F` prints; orc's own constant.
    pub print: &'static str,
    /// argv after `--`: two or more words are exec'd directly, no shell.
    pub command: Vec<String>,
}

impl NewWindow {
    pub(crate) fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "new-window".into(),
            "-d".into(),
            "-P".into(),
            "-F".into(),
            self.print.into(),
            "-t".into(),
            self.target.clone(),
            "-n".into(),
            self.name.as_str().into(),
            "-c".into(),
            self.cwd.as_str().into(),
        ];
        for (k, v) in &self.env {
            args.push("-e".into());
            args.push(format!("{k}={v}"));
        }
        args.push("--".into());
        if self.command.len() == 1 {
            args.push("/usr/bin/env".into());
        }
        args.extend(self.command.iter().cloned());
        args
    }
}

/// Commands that type into a pane or expand formats in an argument: only
/// the typed methods of [`ControlClient`] may send them
/// ([`ControlClient::type_text`], [`ControlClient::press`],
/// [`ControlClient::new_window`], [`ControlClient::rename_window`]).
pub(crate) const GUARDED: &[&str] = &[
    "send-keys",
    "send",
    "set-buffer",
    "setb",
    "paste-buffer",
    "pasteb",
    "load-buffer",
    "loadb",
    "new-window",
    "neww",
    "rename-window",
    "renamew",
    "rename-session",
    "rename",
    "new-session",
    "new",
    "respawn-pane",
    "respawnp",
    "respawn-window",
    "respawnw",
    "run-shell",
    "run",
    "if-shell",
    "if",
    "source-file",
    "source",
    "command-prompt",
    "display-popup",
    "popup",
];

/// A control connection: the client, its notifications, and the `tmux -C`
/// process (dropping it ends the connection, never the server).
pub type Control = (
    ControlClient,
    tokio::sync::mpsc::Receiver<Sequenced>,
    tokio::process::Child,
);

/// How to reach orc's tmux server.
#[derive(Debug, Clone)]
pub struct Tmux {
    pub bin: PathBuf,
    pub socket: String,
    pub conf: PathBuf,
}

/// orc's own tmux configuration, written next to its state.
pub const CONF: &str = "\
# Written by orc; orc's tmux server reads only this file.
set -g remain-on-exit on
set -g history-limit 10000
set -g window-size latest
set -g default-size 120x40
set -g allow-rename off
set -g automatic-rename off
set -g exit-empty off
set -g destroy-unattached off
set -g focus-events off
";

impl Tmux {
    pub fn new(bin: PathBuf, socket: String, conf: PathBuf) -> Self {
        Self { bin, socket, conf }
    }

    fn base(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.bin);
        c.arg("-u")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.conf);
        c.env("LANG", "C.UTF-8");
        // orc's own umask is 077; a tmux server it starts (and the agents in
        // it) gets the user's, so that agents' files are made as usual.
        if let Some(mask) = crate::private::user_umask() {
            // SAFETY: umask is async-signal-safe.
            unsafe {
                c.pre_exec(move || {
                    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
                    Ok(())
                });
            }
        }
        c
    }

    /// Check that tmux runs and is recent enough; returns its version string.
    pub async fn check_version(&self) -> Result<String, TmuxError> {
        let out = tokio::process::Command::new(&self.bin)
            .arg("-V")
            .output()
            .await
            .map_err(|_| TmuxError::Missing(self.bin.display().to_string()))?;
        let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
        match parse_version(&v) {
            Some(found) if found >= MIN_VERSION => Ok(v),
            Some(_) => Err(TmuxError::TooOld { found: v }),
            None if v.contains("master") || v.contains("next") => Ok(v),
            None => Err(TmuxError::TooOld { found: v }),
        }
    }

    /// Run one tmux command outside control mode; returns stdout.
    pub async fn run(&self, args: &[&str]) -> Result<String, TmuxError> {
        let out = self
            .base()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => TmuxError::Missing(self.bin.display().to_string()),
                _ => TmuxError::Io(e),
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(TmuxError::Command {
                command: args.join(" "),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    /// Make sure the server runs and has `session`. A new session gets a keeper
    /// window so that the session outlives its last agent.
    pub async fn ensure_session(&self, session: &str) -> Result<(), TmuxError> {
        if self
            .run(&["has-session", "-t", &format!("={session}")])
            .await
            .is_ok()
        {
            return Ok(());
        }
        let r = self
            .run(&[
                "new-session", "-d", "-s", session, "-n", "orc", "-x", "120", "-y", "40",
                "--", "/bin/sh", "-c",
                "echo 'orc keeps this window so the session stays up; agents have their own windows.'; exec tail -f /dev/null",
            ])
            .await;
        match r {
            Ok(_) => Ok(()),
            // Lost a race with another creator: fine if it exists now.
            Err(e) => match self
                .run(&["has-session", "-t", &format!("={session}")])
                .await
            {
                Ok(_) => Ok(()),
                Err(_) => Err(e),
            },
        }
    }

    /// Attach a control-mode client to `session`.
    pub async fn control(&self, session: &str) -> Result<Control, TmuxError> {
        let mut child = self
            .base()
            .arg("-C")
            .arg("attach-session")
            .arg("-t")
            .arg(format!("={session}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().ok_or(TmuxError::Closed)?;
        let stdout = child.stdout.take().ok_or(TmuxError::Closed)?;
        let (client, mut events) = ControlClient::from_io(stdout, stdin, 4096);
        // Commands sent before the attach completes can fail with "no current
        // client": wait until tmux says which session we are on.
        let attached = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while let Some((_, ev)) = events.recv().await {
                match ev {
                    Event::SessionChanged { .. } => return Ok(()),
                    Event::Exit { reason } => {
                        return Err(TmuxError::Command {
                            command: format!("attach-session -t {session}"),
                            message: reason.unwrap_or_else(|| "the control client exited".into()),
                        })
                    }
                    _ => {}
                }
            }
            Err(TmuxError::Closed)
        })
        .await
        .map_err(|_| TmuxError::Command {
            command: format!("attach-session -t {session}"),
            message: "no answer within 10 s".into(),
        })?;
        attached?;
        Ok((client, events, child))
    }

    /// Kill this tmux server and remove its socket file (tmux 3.3a leaves it
    /// behind). Only for a server orc started privately for itself and owns
    /// outright (`orc doctor --live`); orc's agents' server is never killed.
    pub async fn kill_private_server(&self) -> Result<(), TmuxError> {
        let r = self.run(&["kill-server"]).await.map(|_| ());
        let dir = std::env::var_os("TMUX_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let _ = std::fs::remove_file(
            dir.join(format!("tmux-{}", nix::unistd::getuid()))
                .join(&self.socket),
        );
        r
    }

    /// Write orc's tmux config file if it is missing or differs.
    pub fn write_conf(path: &Path) -> std::io::Result<()> {
        if std::fs::read_to_string(path).ok().as_deref() != Some(CONF) {
            crate::state::write_atomic(path, CONF.as_bytes())?;
        }
        Ok(())
    }
}

/// `tmux 3.3a` -> (3, 3)
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let num = v.split_whitespace().nth(1)?;
    let mut it = num.split('.');
    let major: u32 = it.next()?.parse().ok()?;
    let minor: String = it
        .next()
        .unwrap_or("0")
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    Some((major, minor.parse().unwrap_or(0)))
}
