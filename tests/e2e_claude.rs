//! End to end: the real Claude Code CLI (pinned, from npm) under `orc
//! supervise`, against the API stand-in in `tests/support/stand_in.rs`.
//! The CLI is installed on first use by `scripts/install-claude.sh` (cached).

mod common;
#[path = "support/stand_in.rs"]
mod stand_in;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::Harness;
use serde_json::Value;
use stand_in::{Reply, Request, StandIn};

/// The release the registry serves as `latest` (checked 2026-12-02); the
/// whole file runs against it. `ORC_CLAUDE_BIN` points at another binary
/// (`scripts/drift-check.sh` uses that for the newest release).
const CLAUDE_VERSION: &str = "2.1.332";
/// The release before the 2.1.3xx dialogs lost their digits: one short
/// check still drives it (`ORC_CLAUDE_LEGACY_BIN`).
const LEGACY_VERSION: &str = "2.1.197";

/// One real Claude Code at a time per test: several at once on a 2-core
/// machine makes their screens lag and the suite slow.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn claude_bin() -> PathBuf {
    installed("ORC_CLAUDE_BIN", CLAUDE_VERSION)
}

fn legacy_bin() -> PathBuf {
    installed("ORC_CLAUDE_LEGACY_BIN", LEGACY_VERSION)
}

/// The binary `var` names, else `version` installed (cached) by the script.
fn installed(var: &str, version: &str) -> PathBuf {
    common::installed_cli_at("install-claude.sh", var, "CLAUDE_CODE_VERSION", version)
}

/// A throw-away HOME the CLI accepts offline, and a fresh git repo to work in.
fn setup(h: &Harness, name: &str) -> (PathBuf, PathBuf) {
    let home = h.path().join(format!("home-{name}"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join(".claude.json"),
        r#"{"hasCompletedOnboarding": true}"#,
    )
    .unwrap();
    let repo = h.workdir(&format!("repo-{name}"));
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("HOME", &home)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "test repo\n").unwrap();
    git(&["add", "."]);
    git(&[
        "-c",
        "user.email=t@t",
        "-c",
        "user.name=t",
        "commit",
        "-qm",
        "init",
    ]);
    (home, repo)
}

fn spawn_claude(h: &Harness, name: &str, stand_in: &StandIn, extra: &[&str]) -> PathBuf {
    spawn_claude_env(h, name, stand_in, extra, &[])
}

fn spawn_claude_env(
    h: &Harness,
    name: &str,
    stand_in: &StandIn,
    extra: &[&str],
    env: &[String],
) -> PathBuf {
    spawn_claude_with(h, name, stand_in, &[], env, extra)
}

/// `orc spawn NAME [orc_flags] --env ... -- claude [extra]` in a fresh repo
/// and home, talking to `stand_in`; returns the repo.
fn spawn_claude_with(
    h: &Harness,
    name: &str,
    stand_in: &StandIn,
    orc_flags: &[&str],
    env: &[String],
    extra: &[&str],
) -> PathBuf {
    spawn_claude_bin(h, name, stand_in, orc_flags, env, extra, &claude_bin())
}

fn spawn_claude_bin(
    h: &Harness,
    name: &str,
    stand_in: &StandIn,
    orc_flags: &[&str],
    env: &[String],
    extra: &[&str],
    bin: &std::path::Path,
) -> PathBuf {
    let (home, repo) = setup(h, name);
    let base = format!(
        "ANTHROPIC_BASE_URL={}",
        stand_in.base_url(&format!("/a/{name}"))
    );
    let home_env = format!("HOME={}", home.display());
    let mut args = vec![
        "spawn",
        name,
        "--cwd",
        repo.to_str().unwrap(),
        "--profile",
        "claude",
    ];
    args.extend_from_slice(orc_flags);
    args.extend_from_slice(&[
        "--env",
        &base,
        "--env",
        &home_env,
        "--env",
        "CLAUDE_CODE_OAUTH_TOKEN=orc-test-token",
        "--env",
        "IS_SANDBOX=1",
        "--env",
        "DISABLE_AUTOUPDATER=1",
        "--env",
        "TERM=xterm-256color",
    ]);
    for e in env {
        args.push("--env");
        args.push(e);
    }
    args.push("--");
    let bin_s = bin.display().to_string();
    args.push(&bin_s);
    args.extend_from_slice(extra);
    h.orc(&args).ok();
    repo
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

#[test]
fn claude_reaches_idle_works_and_waits_out_a_usage_limit() {
    let _serial = serial();
    let h = Harness::new();
    h.supervise();
    let stand_in = StandIn::start(vec![]).unwrap();
    spawn_claude(&h, "dev", &stand_in, &["--dangerously-skip-permissions"]);
    // No key pressed by anybody but orc: trust and bypass dialogs are answered.
    h.wait_until(60, "claude idle", || h.agent("dev")["state"] == "idle");
    assert!(
        has_event(
            &h,
            "dev",
            "dialog-answered",
            "trust: 'Yes, I trust this folder'"
        ),
        "{:?}",
        events(&h, "dev")
    );
    assert!(
        has_event(
            &h,
            "dev",
            "dialog-answered",
            "bypass_warning: 'Yes, I accept'"
        ),
        "{:?}",
        events(&h, "dev")
    );

    // A message: busy, then idle with a turn-finished event.
    stand_in.push(Reply::text("All done with the greeting.").delay(Duration::from_secs(3)));
    h.orc(&["send", "dev", "say hello to the team"]).ok();
    h.wait_until(10, "busy", || h.agent("dev")["state"] == "busy");
    h.wait_until(30, "idle after the turn", || {
        h.agent("dev")["state"] == "idle"
    });
    let ok = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        has_event(&h, "dev", "turn-finished", "All done with the greeting.")
    });
    assert!(
        ok,
        "no turn-finished event with the reply; events: {:#?}\nscreen: {}",
        events(&h, "dev"),
        h.orc(&["screen", "dev"]).stdout
    );
    let got: Vec<_> = stand_in
        .requests()
        .iter()
        .filter_map(|r| r.last_user_text())
        .filter(|t| t.contains("say hello to the team"))
        .collect();
    assert!(!got.is_empty(), "the CLI sent the message to the API");

    // A usage limit: limited, with the reset instant. The current release
    // has no menu any more: it says it will continue by itself.
    let reset = stand_in::unix_now() + 2 * 3600 + 120;
    let keys = |h: &Harness| {
        events(h, "dev")
            .iter()
            .filter(|e| e["event"] == "dialog-key")
            .count()
    };
    let keys_before = keys(&h);
    stand_in.push(Reply::usage_limit(reset, "five_hour"));
    h.orc(&["send", "dev", "do the next task"]).ok();
    h.wait_until(30, "limited", || h.agent("dev")["state"] == "limited");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        keys(&h),
        keys_before,
        "nothing to answer at a limit: {:?}",
        events(&h, "dev")
    );
    let a = h.agent("dev");
    let until = chrono::DateTime::parse_from_rfc3339(
        a["limited_until"].as_str().expect("limited_until set"),
    )
    .unwrap();
    // The CLI shows the time to the minute, in the machine's zone.
    let diff = until.timestamp() - reset as i64;
    assert!(
        diff.abs() <= 60,
        "reset instant {until} vs {reset}: off by {diff} s"
    );
    // after the menu is gone it is still limited (the banner of the last turn)
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(h.agent("dev")["state"], "limited");
    assert_eq!(h.agent("dev")["restarts"], 0);
    // A message to a limited agent is held, not typed.
    let out = h.orc(&["send", "dev", "held while limited"]).ok();
    assert!(out.stdout.starts_with("queued "), "{}", out.stdout);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(h.agent("dev")["queue"], 1);
    assert_eq!(count_received(&stand_in, "held while limited"), 0);
    assert!(!h
        .capture(h.agent("dev")["pane"].as_str().unwrap())
        .contains("held while limited"));
}

#[test]
fn claude_auth_failure_is_reported_not_restarted() {
    let _serial = serial();
    let h = Harness::new();
    h.supervise();
    let stand_in = StandIn::start(vec![]).unwrap();
    spawn_claude(&h, "auth", &stand_in, &["--dangerously-skip-permissions"]);
    h.wait_until(60, "claude idle", || h.agent("auth")["state"] == "idle");
    stand_in.push(
        Reply::unauthorized(
            "OAuth token has expired. Please obtain a new token or refresh your existing token.",
        )
        .times(20),
    );
    h.orc(&["send", "auth", "hello"]).ok();
    h.wait_until(60, "auth_failed", || {
        h.agent("auth")["state"] == "auth_failed"
    });
    std::thread::sleep(Duration::from_secs(5));
    let a = h.agent("auth");
    assert_eq!(a["state"], "auth_failed");
    assert_eq!(a["restarts"], 0, "no restart loop on auth failure");
    assert!(a["pid"].as_i64().is_some_and(common::alive));
}

#[test]
fn claude_permission_prompt_is_left_for_a_human_unless_auto_approved() {
    let _serial = serial();
    let h = Harness::new();
    h.supervise();
    let stand_in = StandIn::start(vec![]).unwrap();
    // 2.1.3xx defaults to "auto mode" (the CLI decides which tools to run
    // without asking): the prompt needs the default mode.
    let repo = spawn_claude(&h, "perm", &stand_in, &["--permission-mode", "default"]);
    h.wait_until(60, "claude idle", || h.agent("perm")["state"] == "idle");
    stand_in.push(Reply::bash("touch made-by-claude.txt"));
    stand_in.push(Reply::text("Created it."));
    h.orc(&["send", "perm", "create the marker file"]).ok();
    h.wait_until(30, "awaiting_permission", || {
        h.agent("perm")["state"] == "awaiting_permission"
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        h.agent("perm")["state"],
        "awaiting_permission",
        "nobody answered it"
    );
    assert!(!repo.join("made-by-claude.txt").exists());
    // A message now is held, not typed into the dialog...
    let out = h
        .orc(&["send", "perm", "hello while the dialog is up"])
        .ok();
    assert!(out.stdout.starts_with("queued "), "{}", out.stdout);
    std::thread::sleep(Duration::from_secs(2));
    let pane = h.agent("perm")["pane"].as_str().unwrap().to_string();
    assert!(
        !h.capture(&pane).contains("hello while the dialog is up"),
        "typed into a dialog"
    );
    assert_eq!(h.agent("perm")["queue"], 1);
    // ...a human answers the prompt; then the message goes in, exactly once.
    h.tmux(&["send-keys", "-t", &pane, "Enter"]).ok();
    h.wait_until(30, "file created", || {
        repo.join("made-by-claude.txt").exists()
    });
    h.wait_until(30, "held message delivered", || {
        h.agent("perm")["queue"] == 0
    });
    stand_in
        .wait_for_user_text("hello while the dialog is up", Duration::from_secs(20))
        .expect("the API got the message");
    std::thread::sleep(Duration::from_secs(2));
    let n = stand_in
        .agent_turns()
        .iter()
        .filter(|r| {
            r.last_user_text()
                .is_some_and(|t| t.contains("hello while the dialog is up"))
        })
        .count();
    assert_eq!(n, 1, "delivered exactly once");
}

/// Mixed messages: short, multi-line, ~4 KB, unicode and shell metacharacters.
fn mixed_messages(n: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| match i % 4 {
            0 => format!("{tag} short {i}"),
            1 => format!("{tag} multi {i}\nsecond line\n  indented third line"),
            2 => format!(
                "{tag} long {i} {}",
                "lorem ipsum dolor sit amet ".repeat(150)
            ),
            _ => {
                format!("{tag} odd {i}: ❯ ünï 😀 $HOME; `id` $(echo no) 'single' \"double\" \\back")
            }
        })
        .collect()
}

/// 200 by default, as the messaging issue asks; `ORC_E2E_MESSAGES` for a
/// quicker local run.
fn messages_per_test() -> usize {
    std::env::var("ORC_E2E_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

fn count_received(stand_in: &StandIn, text: &str) -> usize {
    stand_in
        .agent_turn_texts()
        .iter()
        .filter(|t| *t == text)
        .count()
}

/// How often each text arrived, from one look at the stand-in.
fn counts(stand_in: &StandIn) -> std::collections::HashMap<String, usize> {
    let mut m = std::collections::HashMap::new();
    for t in stand_in.agent_turn_texts() {
        *m.entry(t).or_insert(0) += 1;
    }
    m
}

fn orc_env(h: &Harness) -> Vec<String> {
    vec![
        format!("ORC_HOME={}", h.path().display()),
        format!("ORC_TMUX_SOCKET={}", h.socket),
    ]
}

#[test]
fn claude_messages_arrive_exactly_once_from_a_shell_and_from_another_agent() {
    let _serial = serial();
    let h = Harness::new();
    h.supervise();
    let rx = StandIn::start(vec![]).unwrap();
    rx.set_default(Reply::text("Noted.").delay(Duration::from_millis(400)));
    let tx = StandIn::start(vec![]).unwrap();
    spawn_claude_env(
        &h,
        "dev",
        &rx,
        &["--dangerously-skip-permissions"],
        &orc_env(&h),
    );
    spawn_claude_env(
        &h,
        "pm",
        &tx,
        &["--dangerously-skip-permissions"],
        &orc_env(&h),
    );
    h.wait_until(90, "both idle", || {
        h.agent("dev")["state"] == "idle" && h.agent("pm")["state"] == "idle"
    });

    // pm sends one from inside its pane: its Bash tool runs `orc send`.
    let from_pm = "from pm: the API is ready; run `cargo test` in $HOME/app; done";
    let orc = h.bin.display().to_string();
    let quoted = from_pm.replace('\'', "'\\''");
    tx.push(Reply::bash(format!("{orc} send dev '{quoted}'")));
    tx.push(Reply::text("Sent it."));
    h.orc(&["send", "pm", "tell dev the API is ready"]).ok();

    // and a burst from a shell, most of them while dev is busy with the first
    let msgs = mixed_messages(messages_per_test() - 1, "sh");
    for m in &msgs {
        h.orc(&["send", "dev", m, "--from", "tester"]).ok();
    }
    h.wait_until(900, "everything delivered", || {
        let c = counts(&rx);
        c.contains_key(from_pm) && msgs.iter().all(|m| c.contains_key(m))
    });
    std::thread::sleep(Duration::from_secs(3));
    let c = counts(&rx);
    for m in msgs.iter().chain(std::iter::once(&from_pm.to_string())) {
        assert_eq!(
            c.get(m).copied().unwrap_or(0),
            1,
            "exactly once, byte for byte: {m:?}"
        );
    }
    eprintln!("{} messages arrived exactly once", msgs.len() + 1);
    let listed: Vec<Value> =
        serde_json::from_str(&h.orc(&["messages", "--agent", "dev", "--json"]).ok().stdout)
            .unwrap();
    assert!(
        listed
            .iter()
            .any(|m| m["from"] == "pm" && m["status"] == "delivered"),
        "the pane's ORC_AGENT named the sender: {listed:?}"
    );
}

#[test]
fn claude_messages_survive_a_supervisor_crash_exactly_once() {
    let _serial = serial();
    let h = Harness::new();
    h.supervise();
    let rx = StandIn::start(vec![]).unwrap();
    rx.set_default(Reply::text("Noted.").delay(Duration::from_millis(300)));
    spawn_claude(&h, "dev", &rx, &["--dangerously-skip-permissions"]);
    h.wait_until(90, "idle", || h.agent("dev")["state"] == "idle");
    let msgs = mixed_messages(messages_per_test(), "crash");
    for m in &msgs {
        h.orc(&["send", "dev", m]).ok();
    }
    h.wait_until(600, "a third delivered", || {
        let c = counts(&rx);
        msgs.iter().filter(|m| c.contains_key(*m)).count() >= msgs.len() / 3
    });
    common::kill9(h.supervisor_pid().unwrap() as i64);
    std::thread::sleep(Duration::from_millis(500));
    h.supervise();
    h.wait_until(900, "all delivered after the restart", || {
        let c = counts(&rx);
        msgs.iter().all(|m| c.contains_key(m))
    });
    std::thread::sleep(Duration::from_secs(3));
    let c = counts(&rx);
    for m in &msgs {
        assert_eq!(
            c.get(m).copied().unwrap_or(0),
            1,
            "exactly once across the crash: {m:?}"
        );
    }
    eprintln!(
        "{} messages arrived exactly once across the crash",
        msgs.len()
    );
    assert_eq!(
        h.agent("dev")["restarts"],
        0,
        "the agent itself was adopted, not restarted"
    );
}

/// A whole minute at least `secs` ahead (the CLI shows resets to the minute).
fn whole_minute_after(secs: u64) -> u64 {
    (stand_in::unix_now() + secs).div_ceil(60) * 60
}

fn credit_row(h: &Harness, name: &str) -> Value {
    let r = h.orc(&["credits", "--json"]).ok();
    serde_json::from_str::<Value>(&r.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .cloned()
        .unwrap()
}

fn credit_kinds(h: &Harness, name: &str) -> Vec<String> {
    credit_row(h, name)["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

/// Agent turns whose last user text ends with `text`.
fn count_ending(stand_in: &StandIn, text: &str) -> usize {
    stand_in
        .agent_turn_texts()
        .iter()
        .filter(|t| t.ends_with(text))
        .count()
}

const RESUME: &str = "Your usage limit has reset. Continue where you left off.";

#[test]
fn claude_limited_is_resumed_after_the_reset_with_held_messages_and_check_ins() {
    let _serial = serial();
    let h = Harness::new();
    std::fs::write(
        h.path().join("config.toml"),
        "[credits]\nbuffer_secs = 5\nverify_secs = 60\n",
    )
    .unwrap();
    h.supervise();
    let stand_in = StandIn::start(vec![]).unwrap();
    spawn_claude(&h, "dev", &stand_in, &["--dangerously-skip-permissions"]);
    h.wait_until(60, "claude idle", || h.agent("dev")["state"] == "idle");

    // The account runs dry: every request is refused until the reset.
    let reset = whole_minute_after(60);
    stand_in.set_default(Reply::usage_limit(reset, "five_hour"));
    h.orc(&["send", "dev", "start the next task"]).ok();
    h.wait_until(30, "limited", || h.agent("dev")["state"] == "limited");
    let until = chrono::DateTime::parse_from_rfc3339(
        h.agent("dev")["limited_until"]
            .as_str()
            .expect("limited_until"),
    )
    .unwrap();
    assert_eq!(
        until.timestamp(),
        reset as i64,
        "orc reads the reset the CLI shows"
    );
    let c = credit_row(&h, "dev");
    assert_eq!(c["status"], "limited");
    // The conversation log says the same (the second signal).
    h.wait_until(10, "log signal", || {
        has_event(&h, "dev", "credit-log-confirms", "limit")
    });

    // Meanwhile a message is held and a check-in is deferred.
    h.orc(&["send", "dev", "held while limited"]).ok();
    h.orc(&["schedule", "0.2", "check-in while limited", "--to", "dev"])
        .ok();
    std::thread::sleep(Duration::from_secs(15));
    let listed = h.orc(&["schedule", "list", "--json"]).ok().stdout;
    assert!(
        listed.contains("deferred_until") && listed.contains("out of credits"),
        "{listed}"
    );
    assert_eq!(count_received(&stand_in, "held while limited"), 0);
    assert_eq!(count_received(&stand_in, "check-in while limited"), 0);
    assert_eq!(
        count_ending(&stand_in, RESUME),
        0,
        "not resumed before the reset"
    );

    // The stand-in lifts the limit at the reset. The CLI says it goes on by
    // itself then; orc's resume (5 s after the reset) goes in only if no
    // turn started after the reset: one turn resumes, never two.
    let wait = reset.saturating_sub(stand_in::unix_now());
    std::thread::sleep(Duration::from_secs(wait));
    stand_in.set_default(Reply::text("OK."));
    // The CLI was seen going on 76 s after the reset; orc waits for it up
    // to credits::AUTO_GRACE (150 s) before typing its own resume.
    h.wait_until(300, "resume, held message and check-in arrive", || {
        count_received(&stand_in, "check-in while limited") >= 1
    });
    std::thread::sleep(Duration::from_secs(3));
    let after = accepted_since(&stand_in, reset);
    // The resumed turn is orc's prompt or the CLI's own continuation
    // (2.1.332 sends the refused prompt again with its own "Your claude.ai
    // usage limit has reset. Continue the task ..." line).
    let resumed: Vec<&String> = after
        .iter()
        .filter(|t| !t.ends_with("held while limited") && !t.ends_with("check-in while limited"))
        .collect();
    assert_eq!(
        resumed.len(),
        1,
        "exactly one turn resumed (the CLI's own or orc's): {after:?}"
    );
    let pos = |t: &str| {
        after
            .iter()
            .position(|x| x.ends_with(t))
            .unwrap_or(usize::MAX)
    };
    let first = after
        .iter()
        .position(|t| std::ptr::eq(t, resumed[0]))
        .unwrap();
    assert!(
        first < pos("held while limited")
            && pos("held while limited") < pos("check-in while limited"),
        "order: resume, held, check-in: {after:?}"
    );
    for t in ["held while limited", "check-in while limited"] {
        assert_eq!(count_ending(&stand_in, t), 1, "{t} once: {after:?}");
    }
    let orc_resumed = resumed[0].ends_with(RESUME);
    if orc_resumed {
        // orc's resume went in after the reset plus the buffer.
        let sent = events(&h, "dev")
            .into_iter()
            .find(|e| e["event"] == "credit-resume-sent")
            .expect("resume event");
        let sent_at = chrono::DateTime::parse_from_rfc3339(sent["at"].as_str().unwrap()).unwrap();
        assert!(
            sent_at.timestamp() >= reset as i64 + 5,
            "resumed at {sent_at}, reset {reset}"
        );
    } else {
        assert_eq!(
            count_ending(&stand_in, RESUME),
            0,
            "the CLI went on by itself: orc typed nothing"
        );
    }
    eprintln!(
        "resumed by {} after the reset",
        if orc_resumed { "orc" } else { "the CLI itself" }
    );
    h.wait_until(30, "credits ok", || credit_row(&h, "dev")["status"] == "ok");
    let kinds = credit_kinds(&h, "dev");
    let want: Vec<&str> = if orc_resumed {
        vec!["limited", "resume_sent", "recovered"]
    } else {
        vec!["limited", "recovered"]
    };
    assert_eq!(kinds, want, "{kinds:?}");
    let table = h.orc(&["credits"]).ok().stdout;
    assert!(
        table.contains("dev history:") && table.contains("recovered"),
        "{table}"
    );
}

/// The texts of the turns the stand-in accepted (not refused) at or after
/// `since` (Unix seconds), in order.
fn accepted_since(stand_in: &StandIn, since: u64) -> Vec<String> {
    let since = std::time::UNIX_EPOCH + Duration::from_secs(since);
    stand_in
        .agent_turns()
        .iter()
        .filter(|r| r.at >= since && !r.answered.starts_with("error"))
        .filter_map(|r| r.last_user_text())
        .collect()
}

#[test]
fn claude_limit_not_lifted_at_the_reset_is_re_armed_without_spam() {
    let _serial = serial();
    let h = Harness::new();
    std::fs::write(
        h.path().join("config.toml"),
        "[credits]\nbuffer_secs = 3\nmax_tries = 2\nverify_secs = 60\n",
    )
    .unwrap();
    h.supervise();
    let stand_in = StandIn::start(vec![]).unwrap();
    spawn_claude(&h, "dev", &stand_in, &["--dangerously-skip-permissions"]);
    h.wait_until(60, "claude idle", || h.agent("dev")["state"] == "idle");
    let mut reset = whole_minute_after(40);
    stand_in.set_default(Reply::usage_limit(reset, "five_hour"));
    h.orc(&["send", "dev", "start the next task"]).ok();
    h.wait_until(30, "limited", || h.agent("dev")["state"] == "limited");
    // The account is not lifted at the reset: each reset passes and the
    // server names the next minute.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(420) {
        if stand_in::unix_now() >= reset {
            reset = whole_minute_after(30);
            stand_in.set_default(Reply::usage_limit(reset, "five_hour"));
        }
        if credit_row(&h, "dev")["status"] == "attention" {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // Each refusal just after the shown reset is tried again after a
    // growing wait (1, 2, 4 ... minutes, `[credits] retry_secs`), never in
    // a loop: one resume per try, the gaps growing.
    let kinds = credit_kinds(&h, "dev");
    assert_eq!(&kinds[..2], &["limited", "resume_sent"], "{kinds:?}");
    let sent: Vec<i64> = events(&h, "dev")
        .iter()
        .filter(|e| e["event"] == "credit-resume-sent")
        .map(|e| {
            chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap())
                .unwrap()
                .timestamp()
        })
        .collect();
    assert!(sent.len() >= 2, "resumed again after a refusal: {kinds:?}");
    assert_eq!(
        count_ending(&stand_in, RESUME),
        sent.len(),
        "one resume per try"
    );
    let gaps: Vec<i64> = sent.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|g| *g >= 50),
        "no resume spam: gaps {gaps:?}"
    );
    assert!(gaps.windows(2).all(|w| w[1] >= w[0]), "gaps grow: {gaps:?}");
    assert_eq!(h.agent("dev")["state"], "limited");
}

/// The plan the stand-in gives `claude -p` in `orc up`.
fn team_plan() -> String {
    serde_json::json!({
        "project_type": "web_application",
        "size": "small",
        "summary": "A todo web app",
        "phases": [
            {"name": "Build", "tasks": [{"title": "Todo list page", "role": "developer", "details": ""}]},
            {"name": "Verify", "tasks": [{"title": "Tests for the list", "role": "tester", "details": ""}]}
        ],
        "roles": ["orchestrator", "developer", "tester"],
        "success_criteria": ["todos can be added and removed"]
    })
    .to_string()
}

#[test]
fn claude_team_up_then_resume_after_agents_and_supervisor_die() {
    let _serial = serial();
    let h = Harness::new();
    h.supervise();
    let stand_in = StandIn::start(vec![]).unwrap();
    // Every request gets the plan as text: the print-mode planning call
    // parses it; the agents just read it as a reply.
    stand_in.set_default(Reply::text(team_plan()));
    let (home, repo) = setup(&h, "todo");
    std::fs::write(
        repo.join("package.json"),
        r#"{"dependencies": {"react": "18.0.0"}}"#,
    )
    .unwrap();
    let spec = h.path().join("spec.md");
    std::fs::write(&spec, "# Todo app\nA page to add and remove todos.\n").unwrap();
    let bin = claude_bin();
    let config = format!(
        "[profiles.claude]\ncommand = {:?}\nargs = [\"--dangerously-skip-permissions\"]\n",
        bin.display().to_string()
    );
    std::fs::write(h.path().join("config.toml"), config).unwrap();
    h.orc(&["stop"]).ok();
    h.supervise();
    let envs = [
        format!("ANTHROPIC_BASE_URL={}", stand_in.base_url("/a/team")),
        format!("HOME={}", home.display()),
        "CLAUDE_CODE_OAUTH_TOKEN=orc-test-token".into(),
        "IS_SANDBOX=1".into(),
        "DISABLE_AUTOUPDATER=1".into(),
        "TERM=xterm-256color".into(),
    ];
    let mut args: Vec<String> = vec![
        "up".into(),
        "--project".into(),
        repo.display().to_string(),
        "--spec".into(),
        spec.display().to_string(),
        "--yes".into(),
        "--plan".into(),
        "pro".into(),
    ];
    for e in &envs {
        args.push("--env".into());
        args.push(e.clone());
    }
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let out = h.orc(&refs);
    assert_eq!(out.code, 0, "orc up failed: {}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("team web_application"),
        "{}",
        out.stdout
    );
    // A second `orc up` on the same project points to `orc resume`.
    h.orc(&refs).fails_with("orc resume");

    let project = repo.file_name().unwrap().to_string_lossy().to_string();
    let names: Vec<String> = ["orchestrator", "developer", "tester"]
        .iter()
        .map(|r| format!("{project}-{r}"))
        .collect();
    let team: Value = serde_json::from_slice(
        &std::fs::read(h.path().join(format!("state/projects/{project}/team.json"))).unwrap(),
    )
    .unwrap();
    for (n, role) in names.iter().zip(["orchestrator", "developer", "tester"]) {
        let a = team["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == *n)
            .expect(n)
            .clone();
        let wt = PathBuf::from(a["worktree"].as_str().unwrap());
        assert!(wt.ends_with(format!("worktrees/{role}")), "{wt:?}");
        assert_eq!(a["branch"], format!("main-{role}"), "agent branch");
        let head = Command::new("git")
            .arg("-C")
            .arg(&wt)
            .args(["branch", "--show-current"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&head.stdout).trim(),
            format!("main-{role}")
        );
        let row = h.agent(n);
        assert_eq!(row["cwd"], wt.display().to_string());
        assert_eq!(row["role"], role);
    }
    // Each got its briefing once; the team goes idle.
    // Each got its own briefing once, in its own conversation, and nobody
    // got a copy of another's (orc's own messages are not team traffic).
    let convs: Vec<String> = names
        .iter()
        .map(|n| {
            let a = team["agents"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == *n);
            a.expect(n)["conversation"].as_str().unwrap().to_string()
        })
        .collect();
    let briefings = |n: &str| -> Vec<Request> {
        stand_in
            .agent_turns()
            .into_iter()
            .filter(|r| {
                r.last_user_text()
                    .is_some_and(|t| t.starts_with(&format!("# {n}:")))
            })
            .collect()
    };
    h.wait_until(120, "a briefing for every agent", || {
        names.iter().all(|n| !briefings(n).is_empty())
    });
    std::thread::sleep(Duration::from_secs(3));
    for (n, conv) in names.iter().zip(&convs) {
        let got = briefings(n);
        assert_eq!(got.len(), 1, "{n}'s briefing arrived {} times", got.len());
        assert!(
            got[0]
                .body
                .as_ref()
                .is_some_and(|b| b.to_string().contains(conv.as_str())),
            "{n}'s briefing went into its own conversation {conv}"
        );
    }
    let copies: Vec<String> = stand_in
        .agent_turn_texts()
        .into_iter()
        .filter(|t| t.contains("[orc: copy: orc wrote"))
        .collect();
    assert!(copies.is_empty(), "briefings copied to the hub: {copies:?}");
    h.wait_until(60, "team idle", || {
        names.iter().all(|n| h.agent(n)["state"] == "idle")
    });
    let jobs = h.orc(&["schedule", "list", "--json"]).ok().stdout;
    for n in &names {
        assert!(
            jobs.contains(&format!("\"to\": \"{n}\"")),
            "check-in for {n}: {jobs}"
        );
    }
    let windows = h
        .tmux(&[
            "list-windows",
            "-t",
            &format!("orc-{project}"),
            "-F",
            "#{window_name}",
        ])
        .ok()
        .stdout;
    for title in ["Claude-Orchestrator", "Claude-Developer", "Claude-Tester"] {
        assert!(windows.lines().any(|l| l == title), "{windows}");
    }

    // Kill the supervisor and two agents' processes.
    let before: Vec<Value> = names.iter().map(|n| h.agent(n)).collect();
    common::kill9(h.supervisor_pid().unwrap() as i64);
    for row in &before[1..] {
        common::kill9(row["pid"].as_i64().unwrap());
    }
    std::thread::sleep(Duration::from_secs(2));
    h.supervise();
    let r = h.orc(&["resume", "--project", repo.to_str().unwrap()]).ok();
    assert!(r.stdout.contains(&names[1]), "{}", r.stdout);
    h.wait_until(120, "team back", || {
        names.iter().all(|n| h.agent(n)["state"] == "idle")
    });
    // The live one untouched; the two dead ones came back in their worktrees
    // with their own conversations.
    assert_eq!(h.agent(&names[0])["pid"], before[0]["pid"]);
    for (i, n) in names.iter().enumerate().skip(1) {
        let row = h.agent(n);
        assert_ne!(row["pid"], before[i]["pid"], "{n} restarted");
        assert_eq!(row["cwd"], before[i]["cwd"]);
        let conv = team["agents"][i]["conversation"]
            .as_str()
            .unwrap()
            .to_string();
        h.orc(&["send", n, &format!("status please {i}")]).ok();
        let seen = stand_in.wait_for(Duration::from_secs(60), |r| {
            r.last_user_text()
                .is_some_and(|t| t.contains(&format!("status please {i}")))
                && r.body
                    .as_ref()
                    .is_some_and(|b| b.to_string().contains(&conv))
        });
        assert!(
            seen.is_some(),
            "{n}'s request carries its conversation id {conv}"
        );
        assert!(
            has_event(&h, n, "conversation-resumed", &conv),
            "{:?}",
            events(&h, n)
        );
    }
    // orc down keeps the worktrees and the record.
    h.orc(&["down", "--project", repo.to_str().unwrap()]).ok();
    assert!(h.ps().is_empty());
    assert!(PathBuf::from(team["agents"][1]["worktree"].as_str().unwrap()).exists());
}

#[test]
fn claude_hooks_reach_the_supervisor_with_the_session_id() {
    let _serial = serial();
    let h = Harness::new();
    h.supervise();
    let stand_in = StandIn::start(vec![]).unwrap();
    let sid = "7d0c6c5e-2f1a-4b7e-9a43-1c2d3e4f5a6b";
    let repo = spawn_claude_with(
        &h,
        "hooked",
        &stand_in,
        &["--hooks"],
        &[],
        &["--dangerously-skip-permissions", "--session-id", sid],
    );
    let settings = std::fs::read_to_string(repo.join(".claude/settings.local.json")).unwrap();
    assert!(
        settings.contains("hook SessionStart") && settings.contains("hook Stop"),
        "{settings}"
    );
    let st = Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["status", "--porcelain"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&st.stdout),
        "",
        "the settings file is kept out of git"
    );
    h.wait_until(60, "idle", || h.agent("hooked")["state"] == "idle");
    h.orc(&["send", "hooked", "hello hooks"]).ok();
    h.wait_until(60, "the turn's hooks", || {
        has_event(&h, "hooked", "hook", "UserPromptSubmit")
            && has_event(&h, "hooked", "hook", "Stop")
    });
    assert!(
        has_event(&h, "hooked", "hook", &format!("SessionStart session {sid}")),
        "SessionStart with the id given at launch: {:#?}",
        events(&h, "hooked")
    );
    let rec: Value =
        serde_json::from_slice(&std::fs::read(h.path().join("state/agents.json")).unwrap())
            .unwrap();
    let agent = rec["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "hooked")
        .unwrap()
        .clone();
    assert_eq!(agent["session_id"], sid);
    assert!(
        !has_event(&h, "hooked", "hook-disagrees", ""),
        "{:#?}",
        events(&h, "hooked")
    );
}

#[test]
fn claude_with_trust_pre_accepted_starts_without_any_dialog() {
    let _serial = serial();
    let h = Harness::new();
    h.supervise();
    let stand_in = StandIn::start(vec![]).unwrap();
    let repo = spawn_claude_with(
        &h,
        "pre",
        &stand_in,
        &["--pre-trust", "--pin-version"],
        &[],
        &["--dangerously-skip-permissions"],
    );
    h.wait_until(60, "claude idle", || h.agent("pre")["state"] == "idle");
    assert!(
        has_event(&h, "pre", "pre-trusted", "trust, bypass warning"),
        "{:?}",
        events(&h, "pre")
    );
    assert!(
        !has_event(&h, "pre", "dialog-key", "") && !has_event(&h, "pre", "dialog-answered", ""),
        "no dialog was drawn, so none was answered: {:?}",
        events(&h, "pre")
    );
    // What the CLI reads, merged beside what was there.
    let home = h.path().join("home-pre");
    let state: Value =
        serde_json::from_slice(&std::fs::read(home.join(".claude.json")).unwrap()).unwrap();
    assert_eq!(state["hasCompletedOnboarding"], true, "kept: {state}");
    let key = repo.to_string_lossy().into_owned();
    assert_eq!(
        state["projects"][key.as_str()]["hasTrustDialogAccepted"],
        true,
        "{state}"
    );
    let settings: Value =
        serde_json::from_slice(&std::fs::read(home.join(".claude/settings.json")).unwrap())
            .unwrap();
    assert_eq!(settings["skipDangerousModePermissionPrompt"], true);
    let local: Value =
        serde_json::from_slice(&std::fs::read(repo.join(".claude/settings.local.json")).unwrap())
            .unwrap();
    assert_eq!(local["teammateMode"], "in-process");
    let status = Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(&repo)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&status.stdout),
        "",
        "orc's files stay out of git"
    );
    // And it works.
    stand_in.push(Reply::text("Pre-trusted and working."));
    h.orc(&["send", "pre", "first task"]).ok();
    stand_in
        .wait_for_user_text("first task", Duration::from_secs(30))
        .expect("the message reached the API");
    h.wait_until(30, "idle after the turn", || {
        h.agent("pre")["state"] == "idle"
    });
}

/// The release before the dialogs lost their digits still works: numbered
/// dialogs get their digits, a limit shows its menu and is answered "wait".
#[test]
fn legacy_claude_2_1_197_dialogs_a_message_and_the_limit_menu() {
    let _serial = serial();
    let h = Harness::new();
    h.supervise();
    let stand_in = StandIn::start(vec![]).unwrap();
    spawn_claude_bin(
        &h,
        "old",
        &stand_in,
        &[],
        &[],
        &["--dangerously-skip-permissions"],
        &legacy_bin(),
    );
    h.wait_until(60, "claude idle", || h.agent("old")["state"] == "idle");
    assert!(
        has_event(
            &h,
            "old",
            "dialog-key",
            "'Yes, I trust this folder' is option 1: pressed 1"
        ),
        "{:?}",
        events(&h, "old")
    );
    assert!(has_event(
        &h,
        "old",
        "dialog-answered",
        "trust: 'Yes, I trust this folder' (1 key)"
    ));
    assert!(has_event(
        &h,
        "old",
        "dialog-answered",
        "bypass_warning: 'Yes, I accept' (1 key)"
    ));
    stand_in.push(Reply::text("Old and fine.").delay(Duration::from_secs(2)));
    h.orc(&["send", "old", "hello from the past"]).ok();
    h.wait_until(15, "busy", || h.agent("old")["state"] == "busy");
    h.wait_until(30, "idle after the turn", || {
        h.agent("old")["state"] == "idle"
    });
    let reset = stand_in::unix_now() + 3600 + 120;
    stand_in.push(Reply::usage_limit(reset, "five_hour"));
    h.orc(&["send", "old", "one more"]).ok();
    h.wait_until(30, "limited", || h.agent("old")["state"] == "limited");
    h.wait_until(15, "menu answered", || {
        has_event(
            &h,
            "old",
            "dialog-answered",
            "usage_limit_menu: 'Stop and wait for limit to reset'",
        )
    });
    let until = chrono::DateTime::parse_from_rfc3339(
        h.agent("old")["limited_until"]
            .as_str()
            .expect("limited_until"),
    )
    .unwrap();
    assert!(
        (until.timestamp() - reset as i64).abs() <= 60,
        "{until} vs {reset}"
    );
}
