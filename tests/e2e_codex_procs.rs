//! The real Codex CLI (0.171.0) under orc, offline against the OpenAI
//! stand-in (`tests/support/openai_stand_in.rs`), whose replies carry the
//! usage-limit headers Codex logs:
//! - a restart and `orc kill` leave no `codex app-server` behind (the
//!   daemon Codex's TUI starts outside the pane's session);
//! - the windows Codex wrote to its session log show in `orc credits`.
//!
//! The CLI is `ORC_CODEX_BIN`, else the pinned release installed (cached)
//! by `scripts/install-codex.sh`, as in `tests/e2e_codex.rs`.

mod common;
#[path = "support/openai_stand_in.rs"]
mod openai_stand_in;

use std::path::PathBuf;
use std::time::Duration;

use common::Harness;
use openai_stand_in::{OpenAiStandIn, Reply};

fn codex_bin() -> PathBuf {
    common::installed_cli_at(
        "install-codex.sh",
        "ORC_CODEX_BIN",
        "CODEX_VERSION",
        "0.171.0",
    )
}

fn environ(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .map(|kv| String::from_utf8_lossy(kv).into_owned())
        .collect()
}

fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let st = s[s.rfind(')')? + 1..]
                .split_whitespace()
                .next()?
                .to_string();
            Some(st != "Z" && st != "X")
        })
        .unwrap_or(false)
}

/// Processes that carry this orc home's `ORC_AGENT=name` and whose command
/// line says `app-server`.
fn app_servers(h: &Harness, name: &str) -> Vec<u32> {
    let home = format!("ORC_HOME={}", h.path().display());
    let agent = format!("ORC_AGENT={name}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| running(*p))
        .filter(|p| {
            let env = environ(*p);
            env.contains(&agent) && env.contains(&home)
        })
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains("app-server"))
                .unwrap_or(false)
        })
        .collect()
}

/// Pass or fail, no process of this test's orc home outlives it.
struct EndAll(String);

impl Drop for EndAll {
    fn drop(&mut self) {
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if environ(p).contains(&self.0) {
                common::kill9(p as i64);
            }
        }
    }
}

/// The stand-in, answering with `used`% of a 5-hour window that resets
/// at `reset` (and 7.5% of a 7-day one).
fn stand_in(used: f64, reset: i64) -> OpenAiStandIn {
    let stand_in = OpenAiStandIn::start(vec![]).unwrap();
    stand_in.set_default(Some(
        Reply::text("Hello from the stand-in.")
            .codex_limits("primary", used, 300, reset)
            .codex_limits("secondary", 7.5, 10080, reset + 86400)
            .forever(),
    ));
    stand_in
}

/// Codex as agent `name` of `h` (one `CODEX_HOME` for all of them, the
/// folders of `c` and `d` trusted), talking to `stand_in`.
fn spawn_codex(h: &Harness, bin: &std::path::Path, name: &str, stand_in: &OpenAiStandIn) {
    let dir = h.workdir(name);
    let home = h.path().join("chome");
    let codex_home = home.join(".codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            "model = \"stand-in\"\nmodel_provider = \"standin\"\ncheck_for_update_on_startup = false\n\n[model_providers.standin]\nname = \"stand-in\"\nbase_url = \"{}\"\nenv_key = \"STANDIN_KEY\"\nwire_api = \"responses\"\n\n[projects.{:?}]\ntrust_level = \"trusted\"\n\n[projects.{:?}]\ntrust_level = \"trusted\"\n",
            stand_in.base_url(),
            h.workdir("c").display().to_string(),
            h.workdir("d").display().to_string()
        ),
    )
    .unwrap();
    let env = [
        format!("HOME={}", home.display()),
        format!("CODEX_HOME={}", codex_home.display()),
        "STANDIN_KEY=x".to_string(),
        "TERM=xterm-256color".to_string(),
        "TZ=UTC".to_string(),
    ];
    let mut args: Vec<String> = [
        "spawn",
        name,
        "--cwd",
        dir.to_str().unwrap(),
        "--profile",
        "codex",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for e in &env {
        args.push("--env".into());
        args.push(e.clone());
    }
    args.push("--".into());
    args.push(bin.display().to_string());
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    h.orc(&refs).ok();
}

/// One turn typed into Codex's composer by the test (tmux), its reply
/// waited for on screen.
fn one_turn(h: &Harness, pane: &str, stand_in: &OpenAiStandIn) {
    h.wait_until(60, "Codex's composer", || h.capture(pane).contains("›"));
    std::thread::sleep(Duration::from_secs(2));
    h.tmux(&["send-keys", "-t", pane, "-l", "Say hello."]).ok();
    std::thread::sleep(Duration::from_millis(500));
    h.tmux(&["send-keys", "-t", pane, "Enter"]).ok();
    let start = std::time::Instant::now();
    let mut entered = std::time::Instant::now();
    while !h.capture(pane).contains("Hello from the stand-in.") {
        // An Enter Codex took for part of a paste: the prompt is still in
        // the composer and nothing was asked; press it again.
        if stand_in.requests().is_empty() && entered.elapsed() > Duration::from_secs(5) {
            h.tmux(&["send-keys", "-t", pane, "Enter"]).ok();
            entered = std::time::Instant::now();
        }
        if start.elapsed() > Duration::from_secs(60) {
            let paths: Vec<String> = stand_in.requests().iter().map(|r| r.path.clone()).collect();
            panic!(
                "no reply on screen after 60 s; requests {paths:?}; screen:\n{}",
                h.capture(pane)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A turn in a second pane: done when the stand-in got a new request and
/// the reply is on this pane's screen.
fn one_turn_after(h: &Harness, pane: &str, stand_in: &OpenAiStandIn, before: usize) {
    h.wait_until(60, "Codex's composer", || h.capture(pane).contains("›"));
    std::thread::sleep(Duration::from_secs(2));
    h.tmux(&["send-keys", "-t", pane, "-l", "Say hello."]).ok();
    std::thread::sleep(Duration::from_millis(500));
    h.tmux(&["send-keys", "-t", pane, "Enter"]).ok();
    let mut entered = std::time::Instant::now();
    h.wait_until(60, "d's reply", || {
        if stand_in.requests().len() == before && entered.elapsed() > Duration::from_secs(5) {
            h.tmux(&["send-keys", "-t", pane, "Enter"]).ok();
            entered = std::time::Instant::now();
        }
        h.capture(pane).contains("Hello from the stand-in.")
    });
}

#[test]
fn codex_leaves_no_app_server_behind_and_its_limits_show_in_credits() {
    let bin = codex_bin();
    let reset = chrono::Utc::now().timestamp() + 3 * 3600;
    let h = Harness::new();
    let _end = EndAll(format!("ORC_HOME={}", h.path().display()));
    h.supervise();
    let stand_in = stand_in(42.0, reset);
    spawn_codex(&h, &bin, "c", &stand_in);
    let pane = h.agent("c")["pane"].as_str().unwrap().to_string();
    // A turn: Codex asks the stand-in, which answers with the headers.
    // Its app-server serves the TUI by then.
    one_turn(&h, &pane, &stand_in);
    let first = app_servers(&h, "c");
    assert!(!first.is_empty(), "an app-server runs while the TUI works");
    let pane_pid = h.agent("c")["pid"].as_u64().unwrap() as u32;
    for p in &first {
        let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
        eprintln!(
            "app-server {p}: {}",
            String::from_utf8_lossy(&cmd).replace('\0', " ")
        );
    }
    eprintln!("pane pid {pane_pid}");
    for p in &first {
        let sid = std::fs::read_to_string(format!("/proc/{p}/stat"))
            .ok()
            .and_then(|s| {
                s[s.rfind(')')? + 1..]
                    .split_whitespace()
                    .nth(3)?
                    .parse::<u32>()
                    .ok()
            });
        assert!(
            sid.is_some() && sid != Some(pane_pid),
            "the app-server left the pane's session: {sid:?}"
        );
        assert!(
            environ(*p).iter().any(|e| e.starts_with("ORC_LAUNCH=")),
            "it carries the launch's marker"
        );
    }
    let took = h.wait_until(30, "the windows in orc credits", || {
        let c = h.orc(&["credits", "--json"]).stdout;
        c.contains("42") && c.contains("five_hour")
    });
    eprintln!("usage in orc credits {took:?} after the reply");
    let credits = h.orc(&["credits"]).ok().stdout;
    eprintln!("{credits}");

    h.orc(&["restart", "c"]).ok();
    let took = h.wait_until(30, "the first launch's app-server ended", || {
        first.iter().all(|p| !running(*p))
    });
    eprintln!("first launch's app-server gone {took:?} after `orc restart`");
    h.wait_until(30, "restarted", || h.agent("c")["restarts"] == 1);
    h.wait_until(60, "the new launch's app-server", || {
        !app_servers(&h, "c").is_empty()
    });
    let second = app_servers(&h, "c");
    assert!(
        second.iter().all(|p| !first.contains(p)),
        "{first:?} {second:?}"
    );
    h.orc(&["kill", "c"]).ok();
    h.wait_until(30, "no app-server left", || app_servers(&h, "c").is_empty());
    let log = std::fs::read_to_string(h.path().join("state/logs/agents/c/events.jsonl"))
        .unwrap_or_default();
    assert!(log.contains("processes-ended"), "{log}");
}

#[test]
fn a_used_up_window_in_codexs_log_is_a_limit_until_its_reset() {
    let bin = codex_bin();
    let reset = chrono::Utc::now().timestamp() + 2 * 3600;
    let h = Harness::new();
    let _end = EndAll(format!("ORC_HOME={}", h.path().display()));
    h.supervise();
    let stand_in = stand_in(100.0, reset);
    spawn_codex(&h, &bin, "c", &stand_in);
    let pane = h.agent("c")["pane"].as_str().unwrap().to_string();
    one_turn(&h, &pane, &stand_in);
    let took = h.wait_until(30, "limited in orc credits", || {
        let v: serde_json::Value =
            serde_json::from_str(&h.orc(&["credits", "--json"]).stdout).unwrap_or_default();
        let row = v
            .as_array()
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or_default();
        row["limited_until"].as_str().is_some()
    });
    eprintln!("limited {took:?} after the reply");
    let v: serde_json::Value = serde_json::from_str(&h.orc(&["credits", "--json"]).stdout).unwrap();
    let row = &v[0];
    let until: chrono::DateTime<chrono::Utc> =
        row["limited_until"].as_str().unwrap().parse().unwrap();
    assert_eq!(until.timestamp(), reset, "{row}");
    assert_eq!(row["five_hour"]["used_percent"], 100.0, "{row}");
    let kinds: Vec<&str> = row["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"log_signal"), "{kinds:?}");
    eprintln!("{}", h.orc(&["credits"]).stdout);
    eprintln!("{}", h.orc(&["ps"]).stdout);
}

/// Two Codex agents on one `CODEX_HOME` share one app-server (Codex runs
/// one per home; the second TUI works through the first one's): a restart
/// of the first leaves it running for the second, and the last agent's end
/// ends it.
#[test]
fn two_codex_agents_on_one_codex_home_share_its_app_server() {
    let bin = codex_bin();
    let h = Harness::new();
    let _end = EndAll(format!("ORC_HOME={}", h.path().display()));
    h.supervise();
    let stand_in = stand_in(42.0, chrono::Utc::now().timestamp() + 3600);
    spawn_codex(&h, &bin, "c", &stand_in);
    let pc = h.agent("c")["pane"].as_str().unwrap().to_string();
    one_turn(&h, &pc, &stand_in);
    spawn_codex(&h, &bin, "d", &stand_in);
    let pd = h.agent("d")["pane"].as_str().unwrap().to_string();
    let before = stand_in.requests().len();
    one_turn_after(&h, &pd, &stand_in, before);
    let (c, d) = (app_servers(&h, "c"), app_servers(&h, "d"));
    eprintln!("app-servers: started by c {c:?}, by d {d:?}");
    assert!(
        !c.is_empty() && d.is_empty(),
        "one app-server per CODEX_HOME"
    );
    h.orc(&["restart", "c"]).ok();
    h.wait_until(30, "c restarted", || h.agent("c")["restarts"] == 1);
    std::thread::sleep(Duration::from_secs(3));
    assert!(c.iter().all(|p| running(*p)), "d still works through it");
    let screen = h.capture(&pd);
    assert!(!screen.contains("Reconnecting"), "{screen}");
    h.orc(&["kill", "d"]).ok();
    h.orc(&["kill", "c"]).ok();
    let took = h.wait_until(
        30,
        "the shared app-server ended with the last agent",
        || c.iter().all(|p| !running(*p)),
    );
    eprintln!("shared app-server gone {took:?} after the last `orc kill`");
    let log = std::fs::read_to_string(h.path().join("state/logs/agents/c/events.jsonl"))
        .unwrap_or_default();
    assert!(
        log.contains("left running, shared with another process"),
        "{log}"
    );
}
