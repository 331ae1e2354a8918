//! Detection latency: from a pane's screen changing to `orc ps` reporting the
//! new state, over 200 changes, with 1 and with 20 simulated agents; beside it,
//! the naive baseline measured on the same changes in the same run: a poller
//! that runs `tmux capture-pane` on every pane every 500 ms.
//!
//! Run: `cargo bench --bench detect_latency` (prints a table, writes
//! `bench/out/detect_latency.json`).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orc::paths::Paths;
use orc::proto::{AgentState, Request, Response};

const CHANGES: usize = 200;

struct Env {
    home: tempfile::TempDir,
    socket: String,
    bin: PathBuf,
}

impl Env {
    fn orc(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.bin)
            .args(args)
            .env("ORC_HOME", self.home.path())
            .env("ORC_TMUX_SOCKET", &self.socket)
            .output()
            .expect("run orc")
    }
    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.orc(&["stop"]);
        let _ = self.tmux(&["kill-server"]);
    }
}

async fn ps(socket: &std::path::Path) -> Vec<orc::proto::PsRow> {
    match orc::ipc::request(socket, &Request::Ps, Duration::from_secs(10)).await {
        Ok(Response::Ps { agents, .. }) => agents,
        other => panic!("ps: {other:?}"),
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

struct Figures {
    agents: usize,
    orc_ms: Vec<f64>,
    poll_ms: Vec<f64>,
}

async fn run(agents: usize) -> Figures {
    let env = Env {
        home: tempfile::tempdir().unwrap(),
        socket: format!("orc-bench-{}-{agents}", std::process::id()),
        bin: PathBuf::from(env!("CARGO_BIN_EXE_orc")),
    };
    assert!(env.orc(&["supervise", "--detach"]).status.success());
    let work = env.home.path().join("w");
    std::fs::create_dir_all(&work).unwrap();
    for i in 0..agents {
        let o = env.orc(&[
            "spawn",
            &format!("a{i}"),
            "--cwd",
            work.to_str().unwrap(),
            "--profile",
            "sim",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let sock = Paths::under(env.home.path()).socket();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = ps(&sock).await;
        if rows.iter().all(|r| r.state == AgentState::Idle) {
            break;
        }
        assert!(Instant::now() < deadline, "agents did not settle");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows = ps(&sock).await;
    let pane_of = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .and_then(|r| r.pane.clone())
            .unwrap()
    };
    let panes: Vec<String> = (0..agents).map(|i| pane_of(&format!("a{i}"))).collect();

    // The baseline poller: every 500 ms, capture every pane and look for the
    // marker of the current change; it records when it first saw it.
    let target: Arc<Mutex<Option<(usize, String, Instant)>>> = Arc::new(Mutex::new(None));
    let seen: Arc<Mutex<Vec<(usize, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (target, seen, stop, socket, panes) = (
            target.clone(),
            seen.clone(),
            stop.clone(),
            env.socket.clone(),
            panes.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let tick = Instant::now();
                let want = target.lock().unwrap().clone();
                for pane in &panes {
                    let out = Command::new("tmux")
                        .args(["-L", &socket, "capture-pane", "-p", "-t", pane])
                        .output()
                        .unwrap();
                    if let Some((id, ref marker, _)) = want {
                        if String::from_utf8_lossy(&out.stdout).contains(marker.as_str()) {
                            let mut s = seen.lock().unwrap();
                            if !s.iter().any(|(i, _)| *i == id) {
                                s.push((id, Instant::now()));
                            }
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(500).saturating_sub(tick.elapsed()));
            }
        })
    };

    let mut orc_ms = Vec::new();
    let mut poll_ms = Vec::new();
    let mut seed: u64 = 0x9e3779b97f4a7c15 ^ agents as u64;
    for k in 0..CHANGES {
        let i = k % agents;
        let pane = &panes[i];
        let name = format!("a{i}");
        // The agent must be idle again after its last change.
        let t1 = Instant::now();
        loop {
            let rows = ps(&sock).await;
            if rows
                .iter()
                .any(|r| r.name == name && r.state == AgentState::Idle)
            {
                break;
            }
            assert!(
                t1.elapsed() < Duration::from_secs(10),
                "agent {name} did not return to idle"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A random pause, so changes do not fall into step with the
        // poller's 500 ms ticks.
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        tokio::time::sleep(Duration::from_millis((seed >> 33) % 500)).await;
        // Each change: type a marker into an idle agent's composer (idle -> composing).
        let marker = format!("m{k}x");
        let t0 = Instant::now();
        *target.lock().unwrap() = Some((k, format!("❯ {marker}"), t0));
        assert!(env
            .tmux(&["send-keys", "-t", pane, "-l", &marker])
            .status
            .success());
        loop {
            let rows = ps(&sock).await;
            if rows
                .iter()
                .any(|r| r.name == name && r.state == AgentState::Composing)
            {
                orc_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                let screen =
                    String::from_utf8_lossy(&env.orc(&["screen", &name]).stdout).into_owned();
                let tmux =
                    String::from_utf8_lossy(&env.tmux(&["capture-pane", "-p", "-t", pane]).stdout)
                        .into_owned();
                panic!(
                    "orc never saw change {k}: {rows:?}\norc's screen:\n{screen}\ntmux:\n{tmux}"
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // wait for the baseline to see it too
        loop {
            if let Some((_, t)) = seen.lock().unwrap().iter().find(|(id, _)| *id == k) {
                poll_ms.push(t.duration_since(t0).as_secs_f64() * 1000.0);
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "poller never saw change {k}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // clear the composer (ctrl-u); it settles back to idle before its
        // agent's next change (with 20 agents, while the others take turns)
        *target.lock().unwrap() = None;
        assert!(env.tmux(&["send-keys", "-t", pane, "C-u"]).status.success());
    }
    stop.store(true, Ordering::Relaxed);
    poller.join().unwrap();
    Figures {
        agents,
        orc_ms,
        poll_ms,
    }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rows = Vec::new();
    for agents in [1, 20] {
        let mut f = rt.block_on(run(agents));
        let o = (
            pct(&mut f.orc_ms, 0.5),
            pct(&mut f.orc_ms, 0.95),
            pct(&mut f.orc_ms, 1.0),
        );
        let p = (
            pct(&mut f.poll_ms, 0.5),
            pct(&mut f.poll_ms, 0.95),
            pct(&mut f.poll_ms, 1.0),
        );
        rows.push((f.agents, o, p));
    }
    println!("detection latency, {CHANGES} changes (idle -> composing), ms from send-keys to seen");
    println!(
        "{:>6}  {:>28}  {:>28}  {:>8}",
        "agents", "orc (push) p50/p95/max", "poll 500ms p50/p95/max", "p50 ratio"
    );
    let mut json = Vec::new();
    for (n, o, p) in &rows {
        println!(
            "{:>6}  {:>8.1} {:>8.1} {:>9.1}  {:>8.1} {:>8.1} {:>9.1}  {:>7.1}x",
            n,
            o.0,
            o.1,
            o.2,
            p.0,
            p.1,
            p.2,
            p.0 / o.0
        );
        json.push(serde_json::json!({"agents": n, "orc_ms": {"p50": o.0, "p95": o.1, "max": o.2}, "poll_500ms_ms": {"p50": p.0, "p95": p.1, "max": p.2}}));
    }
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("detect_latency.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
}
