//! Cost and scale of the supervisor with 20 and 50 simulated agents.
//!
//! Cost: the supervisor's CPU (% of one core, utime+stime from
//! /proc/<pid>/stat over a window) and RSS (VmRSS, max sampled in the
//! window), with every agent idle and with 5 of them working (a sim-agent
//! at work redraws its whole screen with a spinner 10 times a second).
//! Baseline in the same run, on the same panes, with the supervisor stopped
//! (agents keep running): a bash loop that runs `tmux capture-pane -p` on
//! every pane every 500 ms and looks for the busy marker, measured the same
//! way (its own CPU plus the tmux clients and sleeps it reaped). The tmux
//! server's CPU in each window is reported beside them.
//!
//! Scale (50 agents): `orc ps --json` latency (a fresh CLI process per call,
//! 50 calls) against a script that captures all 50 panes to learn their
//! state; supervisor startup and re-adoption (stop, start, until `ps` shows
//! every agent back on its own pane, same pid, no restart).
//!
//! Run: `cargo bench --bench cost` (ORC_BENCH_COUNTS=20,50,
//! ORC_BENCH_WINDOW=10 seconds; writes `target/bench/cost.json` and
//! `target/bench/scale.json`).

mod support;

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orc::proto::AgentState;
use support::{median, pct, report, rss_mb, Better, CpuWindow, Env, Row};

const BUSY: usize = 5;

const POLLER: &str = r#"
while :; do
  for p in $PANES; do
    s=$(tmux -L "$SOCK" capture-pane -p -t "$p")
    case "$s" in
      *"esc to interrupt"*) st=busy ;;
      *"❯"*) st=idle ;;
      *) st=unknown ;;
    esac
  done
  sleep 0.5
done
"#;

/// Max RSS of `pid` sampled every 100 ms while the returned guard lives.
struct RssSampler {
    stop: Arc<AtomicBool>,
    h: Option<std::thread::JoinHandle<f64>>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let h = std::thread::spawn(move || {
            let mut max: f64 = 0.0;
            loop {
                if let Some(r) = rss_mb(pid) {
                    max = max.max(r);
                }
                if s.load(Ordering::Relaxed) {
                    return max;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        RssSampler { stop, h: Some(h) }
    }
    fn end(mut self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.h.take().unwrap().join().unwrap()
    }
}

struct Window {
    cpu: f64,
    tmux_cpu: f64,
    rss: f64,
}

/// Measure `pid` (own + reaped children's CPU) and the tmux server over `secs`.
fn window(env: &Env, pid: u32, secs: f64) -> Window {
    let server = env.tmux_server_pid().expect("tmux server pid");
    let rss = RssSampler::start(pid);
    let w = CpuWindow::start(&[pid, server]);
    std::thread::sleep(Duration::from_secs_f64(secs));
    let c = w.end();
    Window {
        cpu: c[0].1,
        tmux_cpu: c[1].0,
        rss: rss.end(),
    }
}

fn poller_window(env: &Env, panes: &[String], secs: f64) -> Window {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(POLLER)
        .env("PANES", panes.join(" "))
        .env("SOCK", &env.socket)
        .env_remove("TMUX");
    let pid = env.start_child(cmd);
    std::thread::sleep(Duration::from_secs(1));
    let w = window(env, pid, secs);
    env.kill_child(pid);
    w
}

/// name -> (pane, pid, restarts)
type Snapshot = HashMap<String, (Option<String>, Option<u32>, u32)>;

fn snapshot(env: &Env) -> Snapshot {
    env.ps()
        .into_iter()
        .map(|r| (r.name, (r.pane, r.pid, r.restarts)))
        .collect()
}

/// Stop the supervisor, run `between`, start it again; returns (startup s =
/// `supervise --detach` returning, adoption s = until every agent is back
/// on its pane, same pid, no restart, in a settled state).
fn restart(env: &Env, between: impl FnOnce()) -> (f64, f64) {
    let before = snapshot(env);
    env.stop();
    between();
    let t0 = Instant::now();
    env.supervise();
    let startup = t0.elapsed().as_secs_f64();
    env.wait_ps("re-adoption", Duration::from_secs(120), |rows| {
        rows.len() == before.len()
            && rows.iter().all(|r| {
                before.get(&r.name) == Some(&(r.pane.clone(), r.pid, r.restarts))
                    && matches!(r.state, AgentState::Idle | AgentState::Busy)
            })
    });
    (startup, t0.elapsed().as_secs_f64())
}

fn main() {
    let counts: Vec<usize> = std::env::var("ORC_BENCH_COUNTS")
        .unwrap_or_else(|_| "20,50".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let secs: f64 = std::env::var("ORC_BENCH_WINDOW")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let env = Env::new("cost");
    env.supervise();
    let mut rows = Vec::new();
    let mut scale = Vec::new();
    let mut extra = Vec::new();
    let mut spawned = 0;
    for &n in &counts {
        // more agents, all idle
        let t0 = Instant::now();
        while spawned < n {
            env.spawn_sim(&format!("a{spawned}"));
            spawned += 1;
        }
        env.wait_ps("agents idle", Duration::from_secs(180), |rows| {
            rows.len() == n && rows.iter().all(|r| r.state == AgentState::Idle)
        });
        let spawn_s = t0.elapsed().as_secs_f64();
        let panes: Vec<String> = (0..n).map(|i| env.pane_of(&format!("a{i}"))).collect();
        std::thread::sleep(Duration::from_secs(2));

        // idle: orc, then the poller with orc stopped, then orc again
        let sup = env.ping().unwrap();
        let o_idle = window(&env, sup, secs);
        let mut p_idle = None;
        let adopt_idle = restart(&env, || p_idle = Some(poller_window(&env, &panes, secs)));
        let p_idle = p_idle.unwrap();

        // 5 working (interrupted later with Esc)
        for p in &panes[..BUSY.min(n)] {
            env.tmux(&["send-keys", "-t", p, "-l", "orc-sim:work=3600"]);
            env.tmux(&["send-keys", "-t", p, "Enter"]);
        }
        env.wait_ps("5 busy", Duration::from_secs(30), |rows| {
            rows.iter().filter(|r| r.state == AgentState::Busy).count() == BUSY.min(n)
        });
        std::thread::sleep(Duration::from_secs(1));
        let sup = env.ping().unwrap();
        let o_busy = window(&env, sup, secs);
        let mut p_busy = None;
        let adopt_busy = restart(&env, || p_busy = Some(poller_window(&env, &panes, secs)));
        let p_busy = p_busy.unwrap();
        for p in &panes[..BUSY.min(n)] {
            // Esc interrupts; sim-agent holds a lone ESC as a possible paste
            // start until another byte comes, so C-u follows it.
            env.tmux(&["send-keys", "-t", p, "Escape", "C-u"]);
        }
        env.wait_ps("back to idle", Duration::from_secs(30), |rows| {
            rows.iter().all(|r| r.state == AgentState::Idle)
        });

        for (what, o, p) in [("idle", &o_idle, &p_idle), ("5 working", &o_busy, &p_busy)] {
            let idle20 = n == 20 && what == "idle";
            let mut cpu = Row::new(
                format!("CPU, {n} agents {what}"),
                "% core",
                Better::Lower,
                o.cpu,
            )
            .base(p.cpu)
            .note("baseline: capture-pane poller; 0.00 = under one 10 ms tick per window");
            let mut rss = Row::new(
                format!("RSS, {n} agents {what}"),
                "MB",
                Better::Lower,
                o.rss,
            )
            .base(p.rss)
            .note("baseline: the poller's bash (its tmux clients come and go)");
            if idle20 {
                cpu = cpu.target(1.0);
                rss = rss.target(64.0);
            }
            rows.push(cpu);
            rows.push(rss);
            rows.push(
                Row::new(
                    format!("tmux server CPU, {n} agents {what}"),
                    "% core",
                    Better::Lower,
                    o.tmux_cpu,
                )
                .base(p.tmux_cpu)
                .note("serving orc's control clients vs serving the poller"),
            );
            extra.push(serde_json::json!({
                "agents": n, "case": what, "window_s": secs,
                "orc": {"cpu_pct": o.cpu, "rss_mb": o.rss, "tmux_server_cpu_pct": o.tmux_cpu},
                "poller": {"cpu_pct": p.cpu, "rss_mb": p.rss, "tmux_server_cpu_pct": p.tmux_cpu},
            }));
        }
        extra.push(serde_json::json!({
            "agents": n, "spawn_until_idle_s": spawn_s,
            "restart_idle": {"startup_s": adopt_idle.0, "adopted_s": adopt_idle.1},
            "restart_5_working": {"startup_s": adopt_busy.0, "adopted_s": adopt_busy.1},
        }));
        scale.push(
            Row::new(
                format!("re-adoption, {n} agents (5 working)"),
                "s",
                Better::Lower,
                adopt_busy.1,
            )
            .note(format!(
                "supervise --detach returned after {:.2} s",
                adopt_busy.0
            )),
        );
        if n == *counts.last().unwrap() {
            scale_figures(&env, n, &panes, &mut scale, adopt_idle, spawn_s);
        }
    }
    report(
        "cost",
        &format!("supervisor cost, window {secs} s; baseline: bash capture-pane poller every 500 ms (supervisor stopped)"),
        &rows,
        serde_json::json!(extra),
    );
    report(
        "scale",
        &format!("{} agents in one supervisor", counts.last().unwrap()),
        &scale,
        serde_json::json!({}),
    );
}

fn scale_figures(
    env: &Env,
    n: usize,
    panes: &[String],
    scale: &mut Vec<Row>,
    first_adopt: (f64, f64),
    spawn_s: f64,
) {
    const CALLS: usize = 50;
    // orc ps --json, a fresh CLI process each time
    let mut cli = Vec::new();
    for _ in 0..CALLS {
        let t = Instant::now();
        let out = env.orc_ok(&["ps", "--json"]);
        cli.push(t.elapsed().as_secs_f64() * 1000.0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v.as_array().map(|a| a.len()), Some(n));
    }
    // the request alone (no process start)
    let mut ipc = Vec::new();
    for _ in 0..CALLS {
        let t = Instant::now();
        let rows = env.ps();
        ipc.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(rows.len(), n);
    }
    // baseline: a script learns every agent's state from its screen
    let script = r#"for p in $PANES; do s=$(tmux -L "$SOCK" capture-pane -p -t "$p"); case "$s" in *"esc to interrupt"*) echo "$p busy";; *) echo "$p idle";; esac; done"#;
    let mut base = Vec::new();
    for _ in 0..CALLS {
        let t = Instant::now();
        let o = Command::new("bash")
            .arg("-c")
            .arg(script)
            .env("PANES", panes.join(" "))
            .env("SOCK", &env.socket)
            .env_remove("TMUX")
            .output()
            .unwrap();
        base.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), n);
    }
    scale.push(
        Row::new(
            format!("orc ps --json p50, {n} agents"),
            "ms",
            Better::Lower,
            median(&cli),
        )
        .base(median(&base))
        .target(50.0)
        .note(format!(
            "{CALLS} calls; baseline: bash capture-pane of every pane"
        )),
    );
    scale.push(
        Row::new(
            format!("orc ps --json p95, {n} agents"),
            "ms",
            Better::Lower,
            pct(&cli, 0.95),
        )
        .base(pct(&base, 0.95))
        .target(50.0),
    );
    scale.push(
        Row::new(
            format!("ps request alone p50/p95, {n} agents"),
            "ms",
            Better::Lower,
            median(&ipc),
        )
        .note(format!(
            "p95 {:.2} ms (unix socket round trip, no process start)",
            pct(&ipc, 0.95)
        )),
    );
    // startup and re-adoption, all idle: three more restarts
    let mut starts = vec![first_adopt.0];
    let mut adopts = vec![first_adopt.1];
    for _ in 0..3 {
        let (s, a) = restart(env, || {});
        starts.push(s);
        adopts.push(a);
    }
    scale.push(
        Row::new(
            format!("supervisor startup, {n} agents"),
            "s",
            Better::Lower,
            median(&starts),
        )
        .note(format!(
            "until it answers; {} runs, max {:.2}",
            starts.len(),
            pct(&starts, 1.0)
        )),
    );
    scale.push(
        Row::new(
            format!("re-adoption, {n} agents idle"),
            "s",
            Better::Lower,
            median(&adopts),
        )
        .note(format!(
            "start to all adopted, {} runs, max {:.2}; cold spawn of these agents took {:.1} s",
            adopts.len(),
            pct(&adopts, 1.0),
            spawn_s
        )),
    );
}
