//! Shared by the benches: the result table (figure, orc, baseline, ratio,
//! target, met?) and its JSON in `target/bench/<name>.json`; a private orc +
//! tmux environment torn down on drop (also on panic); /proc readers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use orc::proto::{PsRow, Request, Response};

// ---------------------------------------------------------------- results

/// Which way is better for a figure.
#[derive(Clone, Copy, PartialEq)]
pub enum Better {
    Higher,
    Lower,
}

/// One line of a bench's table.
pub struct Row {
    pub figure: String,
    pub unit: &'static str,
    pub orc: f64,
    /// The naive way, measured in the same run (None: no baseline).
    pub baseline: Option<f64>,
    pub better: Better,
    /// `Some(x)`: orc must be <= x (Lower) or >= x (Higher).
    pub target: Option<f64>,
    pub note: String,
}

impl Row {
    pub fn new(figure: impl Into<String>, unit: &'static str, better: Better, orc: f64) -> Self {
        Row {
            figure: figure.into(),
            unit,
            orc,
            baseline: None,
            better,
            target: None,
            note: String::new(),
        }
    }
    pub fn base(mut self, b: f64) -> Self {
        self.baseline = Some(b);
        self
    }
    pub fn target(mut self, t: f64) -> Self {
        self.target = Some(t);
        self
    }
    pub fn note(mut self, n: impl Into<String>) -> Self {
        self.note = n.into();
        self
    }
    /// How many times better orc is than the baseline (> 1: orc better).
    pub fn ratio(&self) -> Option<f64> {
        let b = self.baseline?;
        let r = match self.better {
            Better::Higher => self.orc / b,
            Better::Lower => b / self.orc,
        };
        r.is_finite().then_some(r)
    }
    pub fn met(&self) -> Option<bool> {
        let t = self.target?;
        Some(match self.better {
            Better::Higher => self.orc >= t,
            Better::Lower => self.orc <= t,
        })
    }
    fn target_text(&self) -> String {
        match (self.target, self.better) {
            (Some(t), Better::Higher) => format!(">= {}", num(t)),
            (Some(t), Better::Lower) => format!("< {}", num(t)),
            (None, _) => "-".into(),
        }
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "figure": self.figure,
            "unit": self.unit,
            "orc": self.orc,
            "baseline": self.baseline,
            "ratio": self.ratio(),
            "better": if self.better == Better::Higher { "higher" } else { "lower" },
            "target": self.target_text(),
            "met": self.met(),
            "note": self.note,
        })
    }
}

fn num(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Print the table and write `target/bench/<name>.json` (rows + `extra`).
pub fn report(name: &str, title: &str, rows: &[Row], extra: serde_json::Value) {
    println!("\n== {name}: {title}");
    let w = rows
        .iter()
        .map(|r| r.figure.len() + r.unit.len() + 3)
        .max()
        .unwrap_or(10)
        .max(10);
    println!(
        "{:<w$}  {:>10}  {:>10}  {:>8}  {:>9}  {:>4}",
        "figure", "orc", "baseline", "ratio", "target", "met?"
    );
    for r in rows {
        let fig = format!("{} ({})", r.figure, r.unit);
        println!(
            "{:<w$}  {:>10}  {:>10}  {:>8}  {:>9}  {:>4}{}",
            fig,
            num(r.orc),
            r.baseline.map(num).unwrap_or_else(|| "-".into()),
            r.ratio()
                .map(|x| format!("{}x", num(x)))
                .unwrap_or_else(|| "-".into()),
            r.target_text(),
            match r.met() {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            },
            if r.note.is_empty() {
                String::new()
            } else {
                format!("  {}", r.note)
            }
        );
    }
    let out = out_dir();
    std::fs::create_dir_all(&out).unwrap();
    let json = serde_json::json!({
        "bench": name,
        "title": title,
        "when": chrono::Utc::now().to_rfc3339(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "loadavg_at_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
        "extra": extra,
    });
    let path = out.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("(written to {})", path.display());
}

pub fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench")
}

// ---------------------------------------------------------------- stats

/// Nearest-rank percentile (p in 0..=1) of unsorted values.
pub fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

pub fn median(v: &[f64]) -> f64 {
    pct(v, 0.5)
}

/// `median [min..max]`
pub fn spread(v: &[f64]) -> String {
    format!(
        "{} [{}..{}]",
        num(median(v)),
        num(pct(v, 0.0)),
        num(pct(v, 1.0))
    )
}

// ---------------------------------------------------------------- /proc

pub fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { nix::libc::sysconf(nix::libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// (own utime+stime, reaped children's cutime+cstime) in seconds.
pub fn cpu_secs(pid: u32) -> Option<(f64, f64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name `(...)`: state is field 3; utime 14 ...
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i - 3).and_then(|x| x.parse::<f64>().ok());
    let tck = clk_tck();
    Some(((n(14)? + n(15)?) / tck, (n(16)? + n(17)?) / tck))
}

/// A `VmRSS`/`VmHWM`-style field of /proc/<pid>/status, in MB.
pub fn status_mb(pid: u32, field: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub fn rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmRSS:")
}

pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

/// CPU use of `pids` over a window: % of one core, each pid's own time plus
/// (if `children`) the time of children it reaped during the window.
pub struct CpuWindow {
    pids: Vec<u32>,
    start: Vec<(f64, f64)>,
    t0: Instant,
}

impl CpuWindow {
    pub fn start(pids: &[u32]) -> Self {
        CpuWindow {
            pids: pids.to_vec(),
            start: pids
                .iter()
                .map(|&p| cpu_secs(p).unwrap_or((0.0, 0.0)))
                .collect(),
            t0: Instant::now(),
        }
    }
    /// Per pid: % of one core (own, own + reaped children).
    pub fn end(&self) -> Vec<(f64, f64)> {
        let wall = self.t0.elapsed().as_secs_f64();
        self.pids
            .iter()
            .zip(&self.start)
            .map(|(&p, &(s0, c0))| {
                let (s1, c1) = cpu_secs(p).unwrap_or((s0, c0));
                let own = 100.0 * (s1 - s0) / wall;
                (own, own + 100.0 * (c1 - c0) / wall)
            })
            .collect()
    }
}

// ---------------------------------------------------------------- environment

/// A private orc (own `ORC_HOME`) on a private tmux server
/// (`tmux -L orc-bench-<pid>-<tag>`). On drop (also on panic): pollers
/// killed, the supervisor stopped (killed if it will not stop), every pane's
/// process group killed, the tmux server killed.
pub struct Env {
    pub home: tempfile::TempDir,
    pub socket: String,
    pub bin: PathBuf,
    pub rt: tokio::runtime::Runtime,
    pub children: Mutex<Vec<Child>>,
    supervisors: Mutex<Vec<u32>>,
}

impl Env {
    pub fn new(tag: &str) -> Self {
        Env {
            home: tempfile::Builder::new()
                .prefix("orc-bench")
                .tempdir()
                .unwrap(),
            socket: format!("orc-bench-{}-{tag}", std::process::id()),
            bin: PathBuf::from(env!("CARGO_BIN_EXE_orc")),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            children: Mutex::new(Vec::new()),
            supervisors: Mutex::new(Vec::new()),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("ORC_HOME", self.home.path())
            .env("ORC_TMUX_SOCKET", &self.socket)
            .env_remove("TMUX")
            .stdin(Stdio::null());
        c
    }

    pub fn orc(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run orc")
    }

    #[track_caller]
    pub fn orc_ok(&self, args: &[&str]) -> String {
        let o = self.orc(args);
        assert!(
            o.status.success(),
            "orc {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .expect("run tmux")
    }

    pub fn orc_socket(&self) -> PathBuf {
        orc::paths::Paths::under(self.home.path()).socket()
    }

    /// Start the supervisor; returns its pid.
    pub fn supervise(&self) -> u32 {
        self.orc_ok(&["supervise", "--detach"]);
        let pid = self.ping().expect("supervisor answers");
        self.supervisors.lock().unwrap().push(pid);
        pid
    }

    pub fn ping(&self) -> Option<u32> {
        match self.rt.block_on(orc::ipc::request(
            &self.orc_socket(),
            &Request::Ping,
            Duration::from_secs(5),
        )) {
            Ok(Response::Pong { pid }) => Some(pid),
            _ => None,
        }
    }

    /// Stop the supervisor and wait for its process to go.
    pub fn stop(&self) {
        let pid = self.ping();
        let _ = self.orc(&["stop"]);
        if let Some(pid) = pid {
            let t = Instant::now();
            while alive(pid) && t.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn ps(&self) -> Vec<PsRow> {
        match self.rt.block_on(orc::ipc::request(
            &self.orc_socket(),
            &Request::Ps,
            Duration::from_secs(10),
        )) {
            Ok(Response::Ps { agents, .. }) => agents,
            other => panic!("ps: {other:?}"),
        }
    }

    pub fn workdir(&self) -> PathBuf {
        let d = self.home.path().join("work");
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// `orc spawn NAME --profile sim -- <orc> sim-agent --work-ms 300`
    pub fn spawn_sim(&self, name: &str) {
        let w = self.workdir();
        let bin = self.bin.display().to_string();
        self.orc_ok(&[
            "spawn",
            name,
            "--cwd",
            w.to_str().unwrap(),
            "--profile",
            "sim",
            "--",
            &bin,
            "sim-agent",
            "--work-ms",
            "300",
            "--name",
            name,
        ]);
    }

    /// `orc spawn NAME --profile shell -- bash -c SCRIPT`
    pub fn spawn_shell(&self, name: &str, script: &str) {
        let w = self.workdir();
        self.orc_ok(&[
            "spawn",
            name,
            "--cwd",
            w.to_str().unwrap(),
            "--profile",
            "shell",
            "--",
            "bash",
            "-c",
            script,
        ]);
    }

    /// Wait until `ok(rows)` holds; panics after `timeout`.
    #[track_caller]
    pub fn wait_ps(
        &self,
        what: &str,
        timeout: Duration,
        ok: impl Fn(&[PsRow]) -> bool,
    ) -> Duration {
        let t0 = Instant::now();
        loop {
            let rows = self.ps();
            if ok(&rows) {
                return t0.elapsed();
            }
            if t0.elapsed() > timeout {
                let states: Vec<String> = rows
                    .iter()
                    .map(|r| format!("{}={:?}", r.name, r.state))
                    .collect();
                panic!("timed out waiting for {what}: {}", states.join(" "));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pane_of(&self, name: &str) -> String {
        self.ps()
            .into_iter()
            .find(|r| r.name == name)
            .and_then(|r| r.pane)
            .unwrap_or_else(|| panic!("{name} has no pane"))
    }

    pub fn tmux_server_pid(&self) -> Option<u32> {
        let o = self.tmux(&["display-message", "-p", "#{pid}"]);
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    }

    /// Start a helper process that is killed on drop; returns its pid.
    pub fn start_child(&self, mut cmd: Command) -> u32 {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.children.lock().unwrap().push(child);
        pid
    }

    pub fn kill_child(&self, pid: u32) {
        let mut ch = self.children.lock().unwrap();
        if let Some(i) = ch.iter().position(|c| c.id() == pid) {
            let mut c = ch.remove(i);
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn pane_pids(&self) -> Vec<i32> {
        let o = self.tmux(&["list-panes", "-a", "-F", "#{pane_pid}"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for mut c in self.children.lock().unwrap().drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        let last = self.ping();
        let _ = self.orc(&["stop"]);
        let t = Instant::now();
        let mut sups = self.supervisors.lock().unwrap().clone();
        sups.extend(last);
        for pid in sups {
            while alive(pid) && t.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(20));
            }
            if alive(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        // Each pane's process leads its own process group (the pane's tty).
        for pid in self.pane_pids() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.tmux(&["kill-server"]);
        // tmux leaves its socket file behind; remove ours (and only ours).
        let dir = std::env::var_os("TMUX_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"))
            .join(format!("tmux-{}", nix::unistd::getuid()));
        let _ = std::fs::remove_file(dir.join(&self.socket));
    }
}
