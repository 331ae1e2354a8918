//! Delivery to the real Claude Code CLI (pinned) against the API stand-in:
//! latency from `send` to the API receiving the message, and exactly-once
//! success, for orc (`orc send --wait`) and, in the same run on the same
//! messages, for the old scripts' way (`send-keys` the text, sleep 0.5 s,
//! `send-keys Enter`) into a second, identical agent. The two run side by
//! side in two threads, each with its own agent and stand-in.
//!
//! Run: `cargo bench --bench delivery` (ORC_BENCH_MESSAGES=N messages to an
//! idle receiver plus N/4 to a busy one; default 160, so 200 in all; writes
//! `bench/out/delivery.json`).

#[path = "../tests/support/stand_in.rs"]
mod stand_in;

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use orc::proto::AgentState;
use stand_in::{Reply, StandIn};
use support::{pct, Env};

fn claude_bin() -> String {
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/install-claude.sh"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

fn spawn(env: &Env, name: &str, si: &StandIn, claude: &str) {
    let home = env.home.path().join(format!("home-{name}"));
    let repo = env.home.path().join(format!("repo-{name}"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        home.join(".claude.json"),
        r#"{"hasCompletedOnboarding": true}"#,
    )
    .unwrap();
    let o = env.orc(&[
        "spawn",
        name,
        "--cwd",
        repo.to_str().unwrap(),
        "--profile",
        "claude",
        "--env",
        &format!("ANTHROPIC_BASE_URL={}", si.base_url(&format!("/{name}"))),
        "--env",
        &format!("HOME={}", home.display()),
        "--env",
        "CLAUDE_CODE_OAUTH_TOKEN=bench",
        "--env",
        "IS_SANDBOX=1",
        "--env",
        "DISABLE_AUTOUPDATER=1",
        "--",
        claude,
        "--dangerously-skip-permissions",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn messages(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 4 {
            0 => format!("short message {i}"),
            1 => format!("multi-line message {i}\nsecond line\nthird line"),
            2 => format!("long message {i} {}", "0123456789abcdef".repeat(256)),
            _ => format!("odd message {i}: ❯ ünï 😀 $HOME; `id` \"q\""),
        })
        .collect()
}

/// How often `text` reached the API as a turn's last user text. (Only the
/// texts are copied out: cloning whole requests, whose bodies carry the
/// conversation so far, every 10 ms would load the machine being measured.)
fn count(si: &StandIn, text: &str) -> usize {
    si.agent_turn_texts().iter().filter(|t| *t == text).count()
}

fn wait_received(si: &StandIn, text: &str, timeout: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if count(si, text) > 0 {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// How long the slow turn lasts in the busy part.
const BUSY_TURN: Duration = Duration::from_secs(2);

fn idle(env: &Env, name: &str) -> bool {
    env.ps()
        .iter()
        .any(|r| r.name == name && r.state == AgentState::Idle)
}

fn wait_idle(env: &Env, name: &str, timeout: Duration) {
    let t = Instant::now();
    while !idle(env, name) && t.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn main() {
    let n: usize = std::env::var("ORC_BENCH_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(160);
    let env = Env::new("d");
    env.supervise();
    let claude = claude_bin();
    let (si_orc, si_seed) = (
        StandIn::start(vec![]).unwrap(),
        StandIn::start(vec![]).unwrap(),
    );
    for si in [&si_orc, &si_seed] {
        si.set_default(Reply::text("Noted.").delay(Duration::from_millis(200)));
    }
    spawn(&env, "via-orc", &si_orc, &claude);
    spawn(&env, "via-seed", &si_seed, &claude);
    env.wait_ps("agents idle", Duration::from_secs(120), |rows| {
        ["via-orc", "via-seed"].iter().all(|n| {
            rows.iter()
                .any(|r| r.name == *n && r.state == AgentState::Idle)
        })
    });
    let seed_pane = env.pane_of("via-seed");
    let msgs = messages(n);
    // Part two: receivers busy with a slow turn when the message is sent.
    let busy_msgs: Vec<String> = messages(n / 4)
        .into_iter()
        .map(|m| format!("while busy: {m}"))
        .collect();
    // orc and the old way run side by side, each on its own agent and its
    // own stand-in, so both see the same machine load.
    let timeout = Duration::from_secs(20);
    let (orc_ms, seed_ms) = std::thread::scope(|s| {
        let via_orc = s.spawn(|| {
            let mut ms = Vec::new();
            for m in &msgs {
                // an idle receiver, as for the old way
                wait_idle(&env, "via-orc", timeout);
                let t = Instant::now();
                let o = env.orc(&["send", "via-orc", m, "--wait", "--timeout", "60"]);
                if o.status.success() && wait_received(&si_orc, m, timeout).is_some() {
                    ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            for (i, m) in busy_msgs.iter().enumerate() {
                si_orc.push(Reply::text("Finished the slow task.").delay(BUSY_TURN));
                let t = Instant::now();
                env.orc(&["send", "via-orc", &format!("slow task {i}")]);
                env.orc(&["send", "via-orc", m]);
                if wait_received(&si_orc, m, timeout).is_some() {
                    ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                wait_idle(&env, "via-orc", timeout);
            }
            ms
        });
        let via_seed = s.spawn(|| {
            let mut ms = Vec::new();
            let typed = |text: &str| {
                env.tmux(&["send-keys", "-t", &seed_pane, "-l", "--", text]);
                std::thread::sleep(Duration::from_millis(500));
                env.tmux(&["send-keys", "-t", &seed_pane, "Enter"]);
            };
            for m in &msgs {
                let t = Instant::now();
                typed(m);
                if wait_received(&si_seed, m, timeout).is_some() {
                    ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                // the old scripts wait for the turn to end before the next one
                wait_idle(&env, "via-seed", timeout);
            }
            for (i, m) in busy_msgs.iter().enumerate() {
                si_seed.push(Reply::text("Finished the slow task.").delay(BUSY_TURN));
                let t = Instant::now();
                typed(&format!("slow task {i}"));
                std::thread::sleep(Duration::from_millis(800));
                typed(m);
                if wait_received(&si_seed, m, timeout).is_some() {
                    ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                wait_idle(&env, "via-seed", timeout);
            }
            ms
        });
        (via_orc.join().unwrap(), via_seed.join().unwrap())
    });
    let msgs: Vec<String> = msgs.into_iter().chain(busy_msgs).collect();
    let n = msgs.len();
    std::thread::sleep(Duration::from_secs(3));
    let tally = |si: &StandIn| {
        let texts = si.agent_turn_texts();
        let seen = |m: &String| texts.iter().filter(|t| *t == m).count();
        (
            msgs.iter().filter(|m| seen(m) == 1).count(),
            msgs.iter().filter(|m| seen(m) > 1).count(),
        )
    };
    let ((orc_ok, orc_dup), (seed_ok, seed_dup)) = (tally(&si_orc), tally(&si_seed));
    println!("delivery to Claude Code: {n} messages (short, multi-line, 4 KB, unicode/metacharacters; a quarter sent while the receiver is busy with a {} s turn; orc and the old way side by side), ms from send to the API", BUSY_TURN.as_secs());
    println!(
        "{:>22}  {:>10}  {:>8}  {:>8}  {:>10}",
        "", "exactly 1", "p50", "p95", "duplicates"
    );
    println!(
        "{:>22}  {:>9.1}%  {:>8.0}  {:>8.0}  {:>10}",
        "orc send --wait",
        100.0 * orc_ok as f64 / n as f64,
        pct(&orc_ms, 0.5),
        pct(&orc_ms, 0.95),
        orc_dup
    );
    println!(
        "{:>22}  {:>9.1}%  {:>8.0}  {:>8.0}  {:>10}",
        "type, sleep 0.5, Enter",
        100.0 * seed_ok as f64 / n as f64,
        pct(&seed_ms, 0.5),
        pct(&seed_ms, 0.95),
        seed_dup
    );
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/out");
    std::fs::create_dir_all(&out).unwrap();
    let json = serde_json::json!({
        "messages": n,
        "busy_turn_s": BUSY_TURN.as_secs(),
        "orc": {"exactly_once": orc_ok, "duplicates": orc_dup, "p50_ms": pct(&orc_ms, 0.5), "p95_ms": pct(&orc_ms, 0.95)},
        "seed_way": {"exactly_once": seed_ok, "duplicates": seed_dup, "p50_ms": pct(&seed_ms, 0.5), "p95_ms": pct(&seed_ms, 0.95)},
    });
    std::fs::write(
        out.join("delivery.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
}
