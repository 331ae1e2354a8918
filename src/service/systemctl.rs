//! Talking to `systemctl --user`: running it, reading `show`, and whether a
//! user manager is reachable at all.

use super::*;

/// `systemctl --user`, found on the host's PATH.
pub(super) struct Systemctl {
    pub(super) bin: PathBuf,
    pub(super) path_var: String,
}

pub(super) struct Outcome {
    pub(super) ok: bool,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

impl Outcome {
    /// The first line systemctl wrote to say what went wrong.
    pub(super) fn reason(&self) -> String {
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
pub(super) struct ServiceState {
    pub(super) load: String,
    pub(super) active: String,
    pub(super) sub: String,
    pub(super) unit_file: String,
    pub(super) main_pid: u32,
    pub(super) restarts: u32,
}

impl ServiceState {
    pub(super) fn parse(text: &str) -> ServiceState {
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

    pub(super) fn running(&self) -> bool {
        matches!(self.active.as_str(), "active" | "activating" | "reloading")
    }

    pub(super) fn describe(&self) -> String {
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

pub(super) fn or_unknown(s: &str) -> &str {
    if s.is_empty() {
        "unknown"
    } else {
        s
    }
}

impl Systemctl {
    pub(super) fn find(path_var: &str) -> Option<Systemctl> {
        let (_, found) = build_path(path_var, &["systemctl"]);
        let bin = found.into_iter().next()?.1?;
        Some(Systemctl {
            bin,
            path_var: path_var.to_string(),
        })
    }

    pub(super) fn run(&self, args: &[&str]) -> Outcome {
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

    pub(super) fn show(&self) -> std::result::Result<ServiceState, Outcome> {
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
pub(super) enum Manager {
    /// It answers; the unit's state as of now.
    Ready(Systemctl, ServiceState),
    Unavailable(String),
}

/// Find systemctl and check that it reaches a user manager (`show` changes
/// nothing and fails exactly when the bus is out of reach).
pub(super) fn manager(host: &Host) -> Manager {
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
pub(super) async fn supervisor_pid(paths: &Paths) -> Option<u32> {
    match crate::ipc::request(&paths.socket(), &Request::Ping, Duration::from_secs(2)).await {
        Ok(Response::Pong { pid }) => Some(pid),
        _ => None,
    }
}
