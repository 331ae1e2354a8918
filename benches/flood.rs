//! Isolation under flood: one pane writes 50 MB as fast as it can
//! (`head -c 50000000 /dev/urandom | base64 | head -c 50000000`) while
//! state changes are made in the other panes (4 simulated agents); detection
//! latency of those changes (as in `detect_latency`: send-keys a marker into
//! an idle composer, poll `ps` until the agent is `composing`) during the
//! flood, against the same changes measured without a flood in the same run;
//! and the supervisor's RSS (sampled every 20 ms) before, during and after.
//! At the end the flooding pane's screen as orc holds it is compared with
//! `tmux capture-pane`: orc must not have lost or garbled its bytes. The
//! flood's own rate is measured beside the same flood on the same tmux server
//! with the supervisor stopped (tmux alone), with the CPU of both processes.
//!
//! Run: `cargo bench --bench flood` (ORC_BENCH_FLOODS=N floods, default 5;
//! writes `target/bench/flood.json`).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orc::proto::AgentState;
use support::{median, pct, report, rss_mb, Better, CpuWindow, Env, Row};

const SIMS: usize = 4;
const QUIET_CHANGES: usize = 60;
const FLOOD_BYTES: u64 = 50_000_000;

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// One state change in agent `i`: type a marker (idle -> composing), time
/// until `ps` says so, then clear it and wait for idle again.
fn change(env: &Env, k: usize, i: usize, pane: &str) -> f64 {
    let name = format!("s{i}");
    let marker = format!("m{k}x");
    let t0 = Instant::now();
    assert!(env
        .tmux(&["send-keys", "-t", pane, "-l", &marker])
        .status
        .success());
    let ms = loop {
        let rows = env.ps();
        if rows
            .iter()
            .any(|r| r.name == name && r.state == AgentState::Composing)
        {
            break t0.elapsed().as_secs_f64() * 1000.0;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "orc never saw change {k}"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    env.tmux(&["send-keys", "-t", pane, "C-u"]);
    env.wait_ps("idle again", Duration::from_secs(30), |rows| {
        rows.iter()
            .any(|r| r.name == name && r.state == AgentState::Idle)
    });
    ms
}

/// Samples RSS of `pid` every 20 ms: (seconds since start, MB).
struct Sampler {
    stop: Arc<AtomicBool>,
    series: Arc<Mutex<Vec<(f64, f64)>>>,
    h: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let series = Arc::new(Mutex::new(Vec::new()));
        let (s, v) = (stop.clone(), series.clone());
        let t0 = Instant::now();
        let h = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(r) = rss_mb(pid) {
                    v.lock().unwrap().push((t0.elapsed().as_secs_f64(), r));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Sampler {
            stop,
            series,
            h: Some(h),
        }
    }
    fn end(mut self) -> Vec<(f64, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.h.take().unwrap().join().unwrap();
        self.series.lock().unwrap().clone()
    }
}

fn main() {
    let floods: usize = std::env::var("ORC_BENCH_FLOODS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let env = Env::new("flood");
    env.supervise();
    for i in 0..SIMS {
        env.spawn_sim(&format!("s{i}"));
    }
    env.wait_ps("agents idle", Duration::from_secs(60), |rows| {
        rows.len() == SIMS && rows.iter().all(|r| r.state == AgentState::Idle)
    });
    let panes: Vec<String> = (0..SIMS).map(|i| env.pane_of(&format!("s{i}"))).collect();
    let mut rng = Rng(0xf100d);
    let mut k = 0;

    // without a flood
    let mut quiet = Vec::new();
    for _ in 0..QUIET_CHANGES {
        std::thread::sleep(Duration::from_millis(rng.below(150)));
        quiet.push(change(&env, k, k % SIMS, &panes[k % SIMS]));
        k += 1;
    }

    // the same flood on the same tmux server with the supervisor stopped:
    // how fast does it go without orc reading it?
    env.stop();
    let mut alone = Vec::new();
    let mut alone_tmux_cpu = Vec::new();
    for f in 0..floods.min(3) {
        let done = env.home.path().join(format!("alone-{f}.done"));
        let server = env.tmux_server_pid().unwrap();
        let cpu = CpuWindow::start(&[server]);
        let t0 = Instant::now();
        env.tmux(&[
            "new-session", "-d", "-s", &format!("alone{f}"), "-x", "120", "-y", "40",
            "bash", "-c",
            &format!(
                "head -c {FLOOD_BYTES} /dev/urandom | base64 | head -c {FLOOD_BYTES}; touch {}; exec sleep 100000",
                done.display()
            ),
        ]);
        while !done.exists() {
            assert!(t0.elapsed() < Duration::from_secs(600), "flood never ended");
            std::thread::sleep(Duration::from_millis(5));
        }
        alone.push(t0.elapsed().as_secs_f64());
        alone_tmux_cpu.push(cpu.end()[0].0);
        env.tmux(&["kill-session", "-t", &format!("alone{f}")]);
    }
    let sup = env.supervise();
    env.wait_ps("agents idle", Duration::from_secs(60), |rows| {
        rows.len() == SIMS && rows.iter().all(|r| r.state == AgentState::Idle)
    });
    std::thread::sleep(Duration::from_secs(1));
    let rss_before = median(
        &(0..10)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(50));
                rss_mb(sup).unwrap()
            })
            .collect::<Vec<_>>(),
    );

    // floods, one after another, each in a new pane
    let sampler = Sampler::start(sup);
    let mut sup_cpu = Vec::new();
    let mut tmux_cpu = Vec::new();
    let mut loud = Vec::new();
    let mut durations = Vec::new();
    let mut screens_match = Vec::new();
    for f in 0..floods {
        let done = env.home.path().join(format!("flood-{f}.done"));
        let name = format!("flood{f}");
        env.spawn_shell(
            &name,
            &format!(
                "head -c {FLOOD_BYTES} /dev/urandom | base64 | head -c {FLOOD_BYTES}; touch {}; exec sleep 100000",
                done.display()
            ),
        );
        let server = env.tmux_server_pid().unwrap();
        let cpu = CpuWindow::start(&[sup, server]);
        let t0 = Instant::now();
        while !done.exists() {
            assert!(t0.elapsed() < Duration::from_secs(600), "flood never ended");
            std::thread::sleep(Duration::from_millis(rng.below(150)));
            if done.exists() {
                break;
            }
            loud.push(change(&env, k, k % SIMS, &panes[k % SIMS]));
            k += 1;
        }
        durations.push(t0.elapsed().as_secs_f64());
        let c = cpu.end();
        sup_cpu.push(c[0].0);
        tmux_cpu.push(c[1].0);
        // orc's copy of the flooding pane, once it settles, against tmux's
        std::thread::sleep(Duration::from_secs(2));
        let pane = env.pane_of(&name);
        let theirs =
            String::from_utf8_lossy(&env.tmux(&["capture-pane", "-p", "-t", &pane]).stdout)
                .lines()
                .map(|l| l.trim_end().to_string())
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>();
        let ours = env.orc_ok(&["screen", &name]);
        let ours = ours
            .lines()
            .skip(1)
            .map(|l| l.trim_end().to_string())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>();
        screens_match.push(ours == theirs);
        if ours != theirs {
            eprintln!(
                "flood {f}: orc's screen differs from tmux's\norc:\n{}\ntmux:\n{}",
                ours.join("\n"),
                theirs.join("\n")
            );
        }
        env.orc(&["kill", &name]);
    }
    std::thread::sleep(Duration::from_secs(2));
    let series = sampler.end();
    let rss_max = series.iter().map(|s| s.1).fold(0.0, f64::max);
    let rss_after = rss_mb(sup).unwrap_or(f64::NAN);
    // after the floods: is detection back to normal?
    let mut after = Vec::new();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(rng.below(150)));
        after.push(change(&env, k, k % SIMS, &panes[k % SIMS]));
        k += 1;
    }

    let (q50, q95) = (median(&quiet), pct(&quiet, 0.95));
    let (l50, l95) = (median(&loud), pct(&loud, 0.95));
    let mb_s: Vec<f64> = durations
        .iter()
        .map(|d| FLOOD_BYTES as f64 / 1e6 / d)
        .collect();
    let alone_mb_s: Vec<f64> = alone.iter().map(|d| FLOOD_BYTES as f64 / 1e6 / d).collect();
    let rows = vec![
        Row::new("detection p50 during flood", "ms", Better::Lower, l50)
            .base(q50)
            .note(format!("baseline: same changes, no flood; {} vs {} changes", loud.len(), quiet.len())),
        Row::new("detection p95 during flood", "ms", Better::Lower, l95).base(q95),
        Row::new("detection max during flood", "ms", Better::Lower, pct(&loud, 1.0)).base(pct(&quiet, 1.0)),
        Row::new("added latency p50", "ms", Better::Lower, l50 - q50).target(100.0),
        Row::new("added latency p95", "ms", Better::Lower, l95 - q95).target(100.0),
        Row::new("detection p95 after flood", "ms", Better::Lower, pct(&after, 0.95))
            .base(q95)
            .note("recovered?"),
        Row::new("supervisor RSS growth (max - before)", "MB", Better::Lower, rss_max - rss_before)
            .target(32.0)
            .note(format!(
                "before {rss_before:.1}, max {rss_max:.1}, after {rss_after:.1} MB"
            )),
        Row::new("flood rate, orc reading", "MB/s", Better::Higher, median(&mb_s))
            .base(median(&alone_mb_s))
            .note(format!(
                "baseline: tmux alone (supervisor stopped); {floods} x {} MB, {} s vs {} s; orc's screen == tmux's after: {:?}",
                FLOOD_BYTES / 1_000_000,
                durations.iter().map(|d| format!("{d:.1}")).collect::<Vec<_>>().join("/"),
                alone.iter().map(|d| format!("{d:.1}")).collect::<Vec<_>>().join("/"),
                screens_match
            )),
        Row::new("supervisor CPU during flood", "% core", Better::Lower, median(&sup_cpu))
            .note(format!("tmux server {:.0}% with orc, {:.0}% alone", median(&tmux_cpu), median(&alone_tmux_cpu))),
    ];
    report(
        "flood",
        "one pane writes 50 MB of base64 as fast as it can; latency of state changes in 4 other agents, supervisor RSS",
        &rows,
        serde_json::json!({
            "quiet_ms": quiet, "flood_ms": loud, "after_ms": after,
            "flood_s": durations, "alone_flood_s": alone,
            "supervisor_cpu_pct": sup_cpu, "tmux_cpu_pct": tmux_cpu, "alone_tmux_cpu_pct": alone_tmux_cpu, "rss_before_mb": rss_before, "rss_max_mb": rss_max,
            "rss_after_mb": rss_after, "screens_match": screens_match,
            "rss_series": series.iter().step_by(5).collect::<Vec<_>>(),
        }),
    );
}
