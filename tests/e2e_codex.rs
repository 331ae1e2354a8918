//! End to end: the real Codex CLI (pinned, from npm) under a private `orc
//! supervise` with a `codex` profile pointed at the OpenAI stand-in
//! (`tests/support/openai_stand_in.rs`, Responses API). The CLI is installed
//! on first use by `scripts/install-codex.sh` (cached); `ORC_CODEX_BIN`
//! points at another binary.

mod common;
#[path = "support/openai_stand_in.rs"]
mod openai_stand_in;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::Harness;
use openai_stand_in::{OpenAiStandIn, Reply};
use serde_json::Value;

/// The release the registry serves as `latest` (checked 2026-12-03).
const CODEX_VERSION: &str = "0.171.0";

/// One real Codex at a time: several at once on a 2-core machine make their
/// screens lag.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// `ORC_CODEX_BIN`, else the pinned release installed (cached) by the script.
fn codex_bin() -> PathBuf {
    common::installed_cli_at(
        "install-codex.sh",
        "ORC_CODEX_BIN",
        "CODEX_VERSION",
        CODEX_VERSION,
    )
}

fn git(repo: &Path, home: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Codex's background `codex app-server` daemon (started under
/// `$CODEX_HOME/packages/`) outlives the TUI and the tmux server: the test
/// ends the ones whose command line names its own HOME, by pid.
struct Daemons(PathBuf);

impl Drop for Daemons {
    fn drop(&mut self) {
        let needle = self.0.to_string_lossy().into_owned();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        for e in dir.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i64>() else {
                continue;
            };
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains(&needle) {
                common::kill9(pid);
            }
        }
    }
}

/// A private orc with a `codex` profile talking to `stand_in` (its own HOME
/// and CODEX_HOME), supervising; `name` spawned in a fresh git repo.
/// Returns the repo.
fn start(
    h: &Harness,
    stand_in: &OpenAiStandIn,
    name: &str,
    unattended: bool,
) -> (PathBuf, Daemons) {
    start_with(h, stand_in, name, unattended, "")
}

/// `start`, with `extra` lines in the profile's table (`auto_approve = true`).
fn start_with(
    h: &Harness,
    stand_in: &OpenAiStandIn,
    name: &str,
    unattended: bool,
    extra: &str,
) -> (PathBuf, Daemons) {
    let home = h.path().join(format!("home-{name}"));
    let setup = stand_in
        .codex_setup("codex", &codex_bin(), &home, unattended)
        .unwrap();
    let profile = setup.profile_toml.replacen(
        "detector = \"codex\"\n",
        &format!("detector = \"codex\"\n{extra}"),
        1,
    );
    std::fs::write(h.path().join("config.toml"), profile).unwrap();
    let repo = h.workdir(&format!("repo-{name}"));
    git(&repo, &home, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "test repo\n").unwrap();
    git(&repo, &home, &["add", "."]);
    git(
        &repo,
        &home,
        &[
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "init",
        ],
    );
    h.supervise();
    h.orc(&[
        "spawn",
        name,
        "--cwd",
        repo.to_str().unwrap(),
        "--profile",
        "codex",
    ])
    .ok();
    (repo, Daemons(home))
}

fn events(h: &Harness, name: &str) -> Vec<Value> {
    let path = h
        .path()
        .join(format!("state/logs/agents/{name}/events.jsonl"));
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn has_event(h: &Harness, name: &str, event: &str, detail: &str) -> bool {
    events(h, name)
        .iter()
        .any(|e| e["event"] == event && e["detail"].as_str().unwrap_or("").contains(detail))
}

/// The agent reached idle with only orc's own dialog answer pressed.
fn wait_idle_after_trust(h: &Harness, name: &str) {
    h.wait_until(120, "codex idle", || h.agent(name)["state"] == "idle");
    assert!(
        has_event(h, name, "dialog-answered", "trust: 'Trust and continue'"),
        "{:#?}",
        events(h, name)
    );
}

/// Short, multi-line, ~4 KB, unicode and shell metacharacters.
fn mixed_messages(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 4 {
            0 => format!("cx short {i}"),
            1 => format!("cx multi {i}\nsecond line\n  indented third line"),
            // Codex trims a message's trailing whitespace before sending it.
            2 => format!(
                "cx long {i} {}",
                "lorem ipsum dolor sit amet ".repeat(150).trim_end()
            ),
            _ => format!(
                "cx odd {i}: › ünï 😀 $HOME; `id` $(echo no) 'single' \"double\" \\back #{{x}} %1"
            ),
        })
        .collect()
}

fn counts(stand_in: &OpenAiStandIn) -> std::collections::HashMap<String, usize> {
    let mut m = std::collections::HashMap::new();
    for t in stand_in.turn_texts() {
        *m.entry(t).or_insert(0) += 1;
    }
    m
}

/// How many Enter presses each message of `name` took (journaled
/// `entering` steps, by message id).
fn enters(h: &Harness, name: &str) -> std::collections::HashMap<String, usize> {
    let path = h.path().join(format!("state/queues/{name}.jsonl"));
    let mut m = std::collections::HashMap::new();
    for l in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let Ok(v) = serde_json::from_str::<Value>(l) else {
            continue;
        };
        if v["op"] == "entering" {
            *m.entry(v["id"].as_str().unwrap_or("").to_string())
                .or_insert(0) += 1;
        }
    }
    m
}

#[test]
fn codex_reaches_idle_alone_and_takes_mixed_messages_exactly_once() {
    let _serial = serial();
    let h = Harness::new();
    let stand_in = OpenAiStandIn::start(vec![]).unwrap();
    stand_in.set_default(Some(
        Reply::text("Noted.")
            .delay(Duration::from_millis(300))
            .forever(),
    ));
    let _daemons = start(&h, &stand_in, "cx", false);
    // (a) no key pressed by anybody but orc: the trust question answered.
    wait_idle_after_trust(&h, "cx");
    assert_eq!(h.agent("cx")["restarts"], 0);

    // (b) a burst, most of it queued while Codex is busy with the first.
    let msgs = mixed_messages(20);
    for m in &msgs {
        h.orc(&["send", "cx", m, "--from", "tester"]).ok();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    while std::time::Instant::now() < deadline {
        let c = counts(&stand_in);
        if msgs.iter().all(|m| c.contains_key(m)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let c = counts(&stand_in);
    let missing: Vec<String> = msgs
        .iter()
        .filter(|m| !c.contains_key(*m))
        .map(|m| m.chars().take(80).collect())
        .collect();
    assert!(
        missing.is_empty(),
        "not received: {missing:?}\nreceived: {:?}\nps: {:?}\nscreen: {}",
        c.keys()
            .map(|k| k.chars().take(80).collect::<String>())
            .collect::<Vec<_>>(),
        h.agent("cx"),
        h.orc(&["screen", "cx"]).stdout
    );
    h.wait_until(30, "queue empty and idle", || {
        let a = h.agent("cx");
        a["queue"] == 0 && a["state"] == "idle"
    });
    std::thread::sleep(Duration::from_secs(3));
    let c = counts(&stand_in);
    for m in &msgs {
        assert_eq!(
            c.get(m).copied().unwrap_or(0),
            1,
            "exactly once, byte for byte: {m:?}"
        );
    }
    assert_eq!(
        c.len(),
        msgs.len(),
        "no other turn text (two messages merged, a stray newline): {:?}",
        c.keys().collect::<Vec<_>>()
    );
    // Codex keeps an Enter inside a key burst as a newline: orc's
    // enter_delay makes the first Enter of every message take.
    let e = enters(&h, "cx");
    assert_eq!(e.len(), msgs.len(), "{e:?}");
    assert!(e.values().all(|n| *n == 1), "Enter pressed again: {e:?}");
    let listed: Vec<Value> =
        serde_json::from_str(&h.orc(&["messages", "--agent", "cx", "--json"]).ok().stdout).unwrap();
    assert_eq!(
        listed.iter().filter(|m| m["status"] == "delivered").count(),
        msgs.len()
    );
}

#[test]
fn codex_usage_limit_is_limited_with_the_reset_it_shows() {
    let _serial = serial();
    let h = Harness::new();
    let stand_in = OpenAiStandIn::start(vec![]).unwrap();
    let _daemons = start(&h, &stand_in, "lim", false);
    wait_idle_after_trust(&h, "lim");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let reset = now + 2 * 3600 + 7 * 60;
    stand_in.push(Reply::codex_usage_limit(reset).forever());
    h.orc(&["send", "lim", "do the next task"]).ok();
    h.wait_until(90, "limited", || h.agent("lim")["state"] == "limited");
    let a = h.agent("lim");
    let until = chrono::DateTime::parse_from_rfc3339(
        a["limited_until"].as_str().expect("limited_until set"),
    )
    .unwrap();
    // Shown to the minute, in the pane's zone.
    let diff = reset as i64 - until.timestamp();
    assert!(
        (0..60).contains(&diff),
        "reset {until} vs sent {reset}: off by {diff} s"
    );
    // A message now is held, not typed.
    let out = h.orc(&["send", "lim", "held while limited"]).ok();
    assert!(out.stdout.starts_with("queued "), "{}", out.stdout);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(h.agent("lim")["queue"], 1);
    assert_eq!(h.agent("lim")["state"], "limited");
    assert_eq!(h.agent("lim")["restarts"], 0);
    assert!(!stand_in
        .turn_texts()
        .iter()
        .any(|t| t == "held while limited"));
}

#[test]
fn codex_plain_429_is_limited_without_a_reset() {
    let _serial = serial();
    let h = Harness::new();
    let stand_in = OpenAiStandIn::start(vec![]).unwrap();
    let _daemons = start(&h, &stand_in, "rl", false);
    wait_idle_after_trust(&h, "rl");
    // `rate_limit_exceeded` (retry-after: 1): Codex retries, then says
    // `exceeded retry limit, last status: 429` and shows no reset.
    stand_in.push(Reply::rate_limited().forever());
    h.orc(&["send", "rl", "hello"]).ok();
    h.wait_until(120, "limited", || h.agent("rl")["state"] == "limited");
    assert!(
        stand_in.completions().len() > 2,
        "Codex retried before giving up"
    );
    let a = h.agent("rl");
    assert_eq!(a["restarts"], 0);
    // No reset on screen: orc plans its own resume (the fallback cycle),
    // hours out, not at once.
    if let Some(until) = a["limited_until"].as_str() {
        let until = chrono::DateTime::parse_from_rfc3339(until).unwrap();
        assert!(
            until.timestamp() > chrono::Utc::now().timestamp() + 600,
            "{until}"
        );
    }
}

#[test]
fn codex_auth_failure_is_reported_not_restarted() {
    let _serial = serial();
    let h = Harness::new();
    let stand_in = OpenAiStandIn::start(vec![]).unwrap();
    let _daemons = start(&h, &stand_in, "auth", false);
    wait_idle_after_trust(&h, "auth");
    stand_in.push(Reply::unauthorized().forever());
    h.orc(&["send", "auth", "hello"]).ok();
    h.wait_until(120, "auth_failed", || {
        h.agent("auth")["state"] == "auth_failed"
    });
    std::thread::sleep(Duration::from_secs(5));
    let a = h.agent("auth");
    assert_eq!(a["state"], "auth_failed");
    assert_eq!(a["restarts"], 0, "no restart loop on auth failure");
    assert!(a["pid"].as_i64().is_some_and(common::alive));
}

#[test]
fn codex_killed_is_restarted_goes_on_with_its_conversation_and_is_idle() {
    let _serial = serial();
    let h = Harness::new();
    let stand_in = OpenAiStandIn::start(vec![]).unwrap();
    let _daemons = start(&h, &stand_in, "kl", false);
    wait_idle_after_trust(&h, "kl");
    h.orc(&["send", "kl", "remember the word PINEAPPLE"]).ok();
    h.wait_until(60, "first turn", || {
        stand_in
            .turn_texts()
            .iter()
            .any(|t| t == "remember the word PINEAPPLE")
    });
    h.wait_until(60, "idle after it", || h.agent("kl")["state"] == "idle");
    let pid = h.agent("kl")["pid"].as_i64().expect("a pid");
    common::kill9(pid);
    h.wait_until(90, "restarted and idle", || {
        let a = h.agent("kl");
        a["restarts"] == 1 && a["state"] == "idle"
    });
    assert!(
        has_event(&h, "kl", "conversation-resumed", "resume --last"),
        "{:#?}",
        events(&h, "kl")
    );
    let new_pid = h.agent("kl")["pid"].as_i64().unwrap();
    assert_ne!(new_pid, pid);
    // The conversation went on: the next turn carries the first one.
    h.orc(&["send", "kl", "which word was it?"]).ok();
    h.wait_until(60, "second turn", || {
        stand_in
            .turn_texts()
            .iter()
            .any(|t| t == "which word was it?")
    });
    let req = stand_in
        .completions()
        .into_iter()
        .rfind(|r| r.last_user_text().as_deref() == Some("which word was it?"))
        .unwrap();
    assert!(
        req.body["input"]
            .to_string()
            .contains("remember the word PINEAPPLE"),
        "the resumed conversation lost its history"
    );
}

#[test]
fn codex_runs_a_scripted_shell_command_without_a_human() {
    let _serial = serial();
    let h = Harness::new();
    let stand_in = OpenAiStandIn::start(vec![]).unwrap();
    let (repo, _daemons) = start(&h, &stand_in, "sh", true);
    wait_idle_after_trust(&h, "sh");
    stand_in.next_turn_runs("printf 'made by codex' > marker.txt", "Made the marker.");
    h.orc(&["send", "sh", "make the marker file"]).ok();
    h.wait_until(60, "the command ran", || repo.join("marker.txt").exists());
    h.wait_until(60, "idle after the turn", || {
        h.agent("sh")["state"] == "idle" && stand_in.pending() == 0
    });
    assert_eq!(
        std::fs::read_to_string(repo.join("marker.txt")).unwrap(),
        "made by codex"
    );
    // No dialog came up and nothing was pressed for it.
    assert!(
        !has_event(&h, "sh", "dialog-answered", "permission"),
        "{:#?}",
        events(&h, "sh")
    );
    // The tool's output went back to the model.
    assert!(stand_in
        .completions()
        .iter()
        .any(|r| r.body["input"].to_string().contains("function_call_output")));
    // A team member's command: Codex's shell reaches orc's socket (the
    // full-access sandbox lets it out of the worktree).
    stand_in.next_turn_runs(
        format!(
            "ORC_HOME={} ORC_TMUX_SOCKET={} {} ps > orc-ps.txt",
            h.path().display(),
            h.socket,
            h.bin.display()
        ),
        "Listed the agents.",
    );
    h.orc(&["send", "sh", "list the agents"]).ok();
    h.wait_until(60, "orc ps ran from Codex", || {
        std::fs::read_to_string(repo.join("orc-ps.txt")).is_ok_and(|t| t.contains("sh "))
    });
}

#[test]
fn codex_command_approval_is_answered_by_label_only_with_auto_approve() {
    let _serial = serial();
    let h = Harness::new();
    let stand_in = OpenAiStandIn::start(vec![]).unwrap();
    // Codex's default policy (on-request, workspace-write) asks before a
    // command the model wants run outside the sandbox.
    let (repo, _daemons) = start_with(&h, &stand_in, "ap", false, "auto_approve = true\n");
    wait_idle_after_trust(&h, "ap");
    stand_in.push(Reply::codex_shell_escalated(
        "touch approved.txt",
        "Create the marker file?",
    ));
    stand_in.push(Reply::text("Created it."));
    h.orc(&["send", "ap", "create the marker file"]).ok();
    h.wait_until(60, "the command ran", || repo.join("approved.txt").exists());
    h.wait_until(60, "idle after the turn", || {
        h.agent("ap")["state"] == "idle" && stand_in.pending() == 0
    });
    assert!(
        has_event(
            &h,
            "ap",
            "dialog-answered",
            "permission: 'Yes, proceed (y)'"
        ),
        "{:#?}",
        events(&h, "ap")
    );
}

#[test]
fn codex_command_approval_is_left_for_a_human_without_auto_approve() {
    let _serial = serial();
    let h = Harness::new();
    let stand_in = OpenAiStandIn::start(vec![]).unwrap();
    let (repo, _daemons) = start(&h, &stand_in, "na", false);
    wait_idle_after_trust(&h, "na");
    stand_in.push(Reply::codex_shell_escalated(
        "touch not-approved.txt",
        "Create the marker file?",
    ));
    stand_in.push(Reply::text("Created it."));
    h.orc(&["send", "na", "create the marker file"]).ok();
    h.wait_until(60, "awaiting_permission", || {
        h.agent("na")["state"] == "awaiting_permission"
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(h.agent("na")["state"], "awaiting_permission");
    assert!(!repo.join("not-approved.txt").exists());
    assert!(!has_event(&h, "na", "dialog-key", "permission"));
}
