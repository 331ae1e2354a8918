//! Test harness: a private `ORC_HOME` and a private tmux socket per test; the
//! supervisor is stopped and the tmux server killed on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Harness {
    pub home: tempfile::TempDir,
    pub socket: String,
    pub bin: PathBuf,
    pub extra_env: Vec<(String, String)>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "command failed: stdout={} stderr={}",
            self.stdout, self.stderr
        );
        self
    }
    #[track_caller]
    pub fn fails_with(self, needle: &str) -> Self {
        assert_ne!(
            self.code, 0,
            "command should have failed: stdout={}",
            self.stdout
        );
        assert!(
            self.stderr.contains(needle),
            "stderr {:?} does not mention {:?}",
            self.stderr,
            needle
        );
        self
    }
}

impl Harness {
    pub fn new() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        Self {
            home: tempfile::Builder::new()
                .prefix("orc-t")
                .tempdir()
                .expect("tempdir"),
            socket: format!("orc-test-{}-{}", std::process::id(), n),
            bin: PathBuf::from(env!("CARGO_BIN_EXE_orc")),
            extra_env: vec![("ORC_TEST_HOOKS".into(), "1".into())],
        }
    }

    pub fn path(&self) -> &Path {
        self.home.path()
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("ORC_HOME", self.home.path())
            .env("ORC_TMUX_SOCKET", &self.socket)
            .env_remove("TMUX")
            .stdin(Stdio::null());
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    pub fn orc(&self, args: &[&str]) -> Run {
        Run::from(self.cmd().args(args).output().expect("run orc"))
    }

    pub fn supervise(&self) {
        self.orc(&["supervise", "--detach"]).ok();
    }

    /// A folder for agents to work in.
    pub fn workdir(&self, name: &str) -> PathBuf {
        let d = self.home.path().join("work").join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    pub fn sim_command(&self) -> Vec<String> {
        vec![
            self.bin.display().to_string(),
            "sim-agent".into(),
            "--work-ms".into(),
            "300".into(),
        ]
    }

    pub fn spawn_sim(&self, name: &str) {
        let dir = self.workdir(name);
        let mut args = vec![
            "spawn",
            name,
            "--cwd",
            dir.to_str().unwrap(),
            "--profile",
            "sim",
            "--",
        ];
        let cmd = self.sim_command();
        args.extend(cmd.iter().map(|s| s.as_str()));
        self.orc(&args).ok();
    }

    /// Spawn a fast simulated agent that logs every message it receives;
    /// `extra` goes to `orc spawn` (e.g. `--role`). Returns the log's path.
    pub fn spawn_logged(&self, name: &str, extra: &[&str]) -> PathBuf {
        let dir = self.workdir(name);
        let log = self.path().join(format!("{name}-received.jsonl"));
        let bin = self.bin.display().to_string();
        let mut args = vec![
            "spawn",
            name,
            "--cwd",
            dir.to_str().unwrap(),
            "--profile",
            "sim",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "--",
            &bin,
            "sim-agent",
            "--work-ms",
            "50",
            "--log",
            log.to_str().unwrap(),
        ]);
        self.orc(&args).ok();
        log
    }

    /// What a simulated agent spawned by [`spawn_logged`](Self::spawn_logged) received, in order.
    pub fn received(&self, log: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // A line still being written has no newline yet; it is not received.
        let complete = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        complete
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            // what the sim sends again by itself after a limit is not typed
            .filter(|v| v["resent"] != true)
            .map(|v| v["text"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn ps(&self) -> Vec<Value> {
        let r = self.orc(&["ps", "--json"]).ok();
        serde_json::from_str::<Value>(&r.stdout)
            .expect("ps --json is JSON")
            .as_array()
            .expect("an array")
            .clone()
    }

    pub fn agent(&self, name: &str) -> Value {
        self.ps()
            .into_iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("agent {name} not in ps"))
    }

    /// Poll `f` until it is true or `secs` pass; returns how long it took.
    #[track_caller]
    pub fn wait_until(&self, secs: u64, what: &str, mut f: impl FnMut() -> bool) -> Duration {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(secs) {
            if f() {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "timed out after {secs}s waiting for {what}; ps: {:?}\n{}",
            self.orc(&["ps"]).stdout,
            self.recent_events(40)
        );
    }

    /// The last `n` lines of every agent's event log, for a failure's message.
    pub fn recent_events(&self, n: usize) -> String {
        let dir = self.path().join("state/logs/agents");
        let mut out = String::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let text =
                std::fs::read_to_string(entry.path().join("events.jsonl")).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!(
                "events of {}:\n",
                entry.file_name().to_string_lossy()
            ));
            for l in &lines[lines.len().saturating_sub(n)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    pub fn tmux(&self, args: &[&str]) -> Run {
        Run::from(
            Command::new("tmux")
                .arg("-L")
                .arg(&self.socket)
                .args(args)
                .env_remove("TMUX")
                .output()
                .expect("run tmux"),
        )
    }

    pub fn supervisor_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.home.path().join("run/orc.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn capture(&self, pane: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-t", pane]).stdout
    }

    /// Wait until a shell in `pane` has drawn its prompt (`$` or `#` ends
    /// the last line drawn): keys sent before that may be lost while the
    /// shell starts, so tests that type into a shell wait for this first.
    pub fn wait_for_shell_prompt(&self, pane: &str) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if shell_prompt_drawn(&self.capture(pane)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "timed out after 10s waiting for a shell prompt in {pane}; screen:\n{}",
            self.capture(pane)
        );
    }
}

/// The last non-blank line of a screen ends in a shell prompt sign.
pub fn shell_prompt_drawn(screen: &str) -> bool {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_end().ends_with(['$', '#']))
}

pub fn alive(pid: i64) -> bool {
    unsafe { libc_kill(pid as i32, 0) == 0 }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub fn kill9(pid: i64) {
    unsafe {
        libc_kill(pid as i32, 9);
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.cmd().arg("stop").output();
        if let Some(pid) = self.supervisor_pid() {
            if alive(pid as i64) {
                kill9(pid as i64);
            }
        }
        // End the agents' process groups first, so that none writes into the
        // folder after it is removed.
        let pids = self.tmux(&["list-panes", "-a", "-F", "#{pane_pid}"]).stdout;
        for pid in pids.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
            unsafe {
                libc_kill(-pid, 9);
                libc_kill(pid, 9);
            }
        }
        // Daemons that left the panes' sessions (Codex's app-server) carry
        // this home in their environment: none outlives the test.
        let entry = format!("ORC_HOME={}", self.home.path().display());
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
            if pid != std::process::id() as i32
                && env.split(|b| *b == 0).any(|kv| kv == entry.as_bytes())
            {
                unsafe {
                    libc_kill(pid, 9);
                }
            }
        }
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        // tmux 3.3a leaves its socket file behind after kill-server.
        let _ = std::fs::remove_file(socket_file(&self.socket));
        for _ in 0..20 {
            if std::fs::remove_dir_all(self.home.path()).is_ok() || !self.home.path().exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Where tmux puts the socket for `-L name`.
pub fn socket_file(name: &str) -> PathBuf {
    let dir = std::env::var_os("TMUX_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    dir.join(format!("tmux-{}", unsafe { getuid() })).join(name)
}

extern "C" {
    fn getuid() -> u32;
}

/// An agent CLI the end-to-end tests drive: the binary `var` names, else
/// the pinned release `scripts/<script>` installs (cached) and prints last.
pub fn installed_cli(script: &str, var: &str) -> PathBuf {
    install(script, var, None)
}

/// As [`installed_cli`], with the release the test pins given to the script
/// (`version_var=version`, e.g. `CLAUDE_CODE_VERSION=2.1.332`).
pub fn installed_cli_at(script: &str, var: &str, version_var: &str, version: &str) -> PathBuf {
    install(script, var, Some((version_var, version)))
}

fn install(script: &str, var: &str, pin: Option<(&str, &str)>) -> PathBuf {
    if let Ok(p) = std::env::var(var) {
        return PathBuf::from(p);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(script);
    let mut cmd = Command::new("bash");
    cmd.arg(&script);
    if let Some((k, v)) = pin {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim(),
    )
}
