//! End to end: the real Gemini CLI (`@google/gemini-cli`, pinned) under a
//! private `orc supervise`, against the Gemini API stand-in in
//! `tests/support/gemini_stand_in.rs`. The CLI is installed on first use by
//! `scripts/install-gemini.sh` (cached); `ORC_GEMINI_BIN` points at another
//! binary.

mod common;
#[path = "support/gemini_stand_in.rs"]
mod gemini_stand_in;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::Harness;
use gemini_stand_in::{GeminiStandIn, Reply};
use serde_json::Value;

const GEMINI_VERSION: &str = "0.61.0";

/// One real Gemini CLI at a time: several at once on a small machine make
/// their screens lag.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// A harness whose supervisor (and so its tmux server and every pane) has
/// `CI=true` and `GITHUB_ACTIONS=true`, as a CI runner's does: Gemini CLI
/// would take them for "no terminal" and exit 55 at its trust question, so
/// these tests check that orc's launch leaves them out.
fn harness() -> Harness {
    let mut h = Harness::new();
    h.extra_env.push(("CI".into(), "true".into()));
    h.extra_env.push(("GITHUB_ACTIONS".into(), "true".into()));
    h
}

/// `ORC_GEMINI_BIN`, else the pinned release installed (cached) by the script.
fn gemini_bin() -> PathBuf {
    common::installed_cli_at(
        "install-gemini.sh",
        "ORC_GEMINI_BIN",
        "GEMINI_CLI_VERSION",
        GEMINI_VERSION,
    )
}

/// A scratch HOME (API-key auth, pinned model) and a fresh git repo.
fn setup(h: &Harness, name: &str) -> (PathBuf, PathBuf) {
    let home = h.path().join(format!("home-{name}"));
    gemini_stand_in::prepare_home(&home).unwrap();
    let repo = h.workdir(&format!("repo-{name}"));
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("HOME", &home)
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}");
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

/// `orc spawn NAME --profile gemini [orc_flags] --env ... -- gemini [extra]`
/// in a fresh repo and home, talking to `stand_in`; returns the repo.
fn spawn_gemini(
    h: &Harness,
    name: &str,
    stand_in: &GeminiStandIn,
    orc_flags: &[&str],
    extra: &[&str],
) -> PathBuf {
    let (home, repo) = setup(h, name);
    let (_, env) =
        gemini_stand_in::profile_recipe("gemini", &gemini_bin(), stand_in, &home, "default");
    let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec![
        "spawn",
        name,
        "--cwd",
        repo.to_str().unwrap(),
        "--profile",
        "gemini",
    ];
    args.extend_from_slice(orc_flags);
    for e in &env {
        args.push("--env");
        args.push(e);
    }
    args.push("--");
    let bin = gemini_bin().display().to_string();
    args.push(&bin);
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

fn screen(h: &Harness, name: &str) -> String {
    h.orc(&["screen", name]).stdout
}

/// Wait until the agent is in `state`; on a timeout, say what its screen shows.
#[track_caller]
fn wait_state(h: &Harness, name: &str, state: &str, secs: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if h.agent(name)["state"] == state {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{name} not {state} after {secs} s: {}\nscreen:\n{}\nevents: {:#?}",
        h.agent(name),
        screen(h, name),
        events(h, name)
    );
}

/// (a) and (e), and the tool call a team test relies on: idle with no key
/// pressed but orc's own answers (trust by label), a `run_shell_command`
/// run after orc answers `Allow once` (the agent has auto-approve), then the
/// CLI's process killed: restarted, resumed with `--resume`, idle again.
#[test]
fn gemini_reaches_idle_runs_a_tool_and_comes_back_after_a_kill() {
    let _serial = serial();
    let h = harness();
    h.supervise();
    let stand_in = GeminiStandIn::start().unwrap();
    let session = "0a1b2c3d-1111-4222-8333-444455556666";
    let repo = spawn_gemini(
        &h,
        "gem",
        &stand_in,
        &["--auto-approve"],
        &["--session-id", session],
    );
    wait_state(&h, "gem", "idle", 120);
    assert!(
        has_event(&h, "gem", "dialog-answered", "trust: 'Trust folder"),
        "{:#?}",
        events(&h, "gem")
    );

    stand_in.next_turn_runs("echo orc-was-here > marker.txt", "The marker is written.");
    h.orc(&["send", "gem", "write the marker file"]).ok();
    h.wait_until(60, "the shell command ran", || {
        std::fs::read_to_string(repo.join("marker.txt")).is_ok_and(|s| s.trim() == "orc-was-here")
    });
    // (the answer is logged once the dialog is gone, a moment after)
    h.wait_until(20, "the permission answer logged", || {
        has_event(&h, "gem", "dialog-answered", "permission: 'Allow once'")
    });
    wait_state(&h, "gem", "idle", 60);
    assert_eq!(stand_in.deliveries("write the marker file"), 1);
    assert_eq!(
        stand_in.function_responses().len(),
        1,
        "one tool result went back"
    );

    // Kill the CLI: orc restarts it, with the conversation resumed.
    let pid = h.agent("gem")["pid"].as_i64().expect("a pid");
    common::kill9(pid);
    h.wait_until(60, "restarted", || {
        let a = h.agent("gem");
        a["restarts"].as_u64().unwrap_or(0) >= 1 && a["pid"].as_i64() != Some(pid)
    });
    wait_state(&h, "gem", "idle", 120);
    assert!(
        has_event(&h, "gem", "conversation-resumed", session),
        "{:#?}\n{}",
        events(&h, "gem"),
        screen(&h, "gem")
    );
    h.orc(&["send", "gem", "are you back"]).ok();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while stand_in.deliveries("are you back") != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered after the restart: {}\nscreen:\n{}\nevents: {:#?}\nturns: {:?}",
            h.agent("gem"),
            screen(&h, "gem"),
            events(&h, "gem"),
            stand_in.turns()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The resumed conversation carries the turn from before the kill.
    let last = stand_in
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.is_turn() && r.user_text().as_deref() == Some("are you back"))
        .unwrap();
    assert!(
        last.body.to_string().contains("write the marker file"),
        "the history went on after the restart"
    );
}

/// Mixed messages: short, long multi-line, unicode and shell metacharacters.
fn mixed_messages(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 4 {
            0 => format!("gem short {i}: which colour?"),
            1 => format!("gem multi {i}\nsecond line\n  indented third line"),
            2 => format!(
                "gem long {i} {}",
                "lorem ipsum dolor sit amet ".repeat(40).trim_end()
            ),
            _ => format!(
                "gem odd {i}: ❯ ünï 😀 $HOME; `id` $(echo no) 'single' \"double\" \\back | cat &"
            ),
        })
        .collect()
}

/// (b) 20 mixed messages each reach the API exactly once.
#[test]
fn gemini_mixed_messages_arrive_exactly_once() {
    let _serial = serial();
    let h = harness();
    h.supervise();
    let stand_in = GeminiStandIn::start().unwrap();
    stand_in.set_default(Some(
        Reply::text("Noted.")
            .delay(Duration::from_millis(300))
            .forever(),
    ));
    spawn_gemini(&h, "msgs", &stand_in, &[], &[]);
    wait_state(&h, "msgs", "idle", 120);
    let msgs = mixed_messages(20);
    for m in &msgs {
        h.orc(&["send", "msgs", m, "--from", "tester"]).ok();
    }
    h.wait_until(200, "everything delivered", || {
        let turns = stand_in.turns();
        msgs.iter().all(|m| turns.iter().any(|t| t == m))
    });
    std::thread::sleep(Duration::from_secs(3));
    let turns = stand_in.turns();
    for m in &msgs {
        let n = turns.iter().filter(|t| *t == m).count();
        assert_eq!(
            n, 1,
            "exactly once, byte for byte: {m:?}\nturns: {turns:#?}"
        );
    }
    assert_eq!(turns.len(), msgs.len(), "nothing else was sent: {turns:#?}");
}

/// (c) A quota error: limited, with the reset the CLI shows.
#[test]
fn gemini_quota_error_is_limited_with_its_reset() {
    let _serial = serial();
    let h = harness();
    h.supervise();
    let stand_in = GeminiStandIn::start().unwrap();
    spawn_gemini(&h, "quota", &stand_in, &[], &[]);
    wait_state(&h, "quota", "idle", 120);
    stand_in.push(Reply::quota(3600).forever());
    let sent = chrono::Utc::now();
    h.orc(&["send", "quota", "hello"]).ok();
    wait_state(&h, "quota", "limited", 60);
    h.wait_until(30, "a reset instant", || {
        h.agent("quota")["limited_until"].as_str().is_some()
    });
    let until =
        chrono::DateTime::parse_from_rfc3339(h.agent("quota")["limited_until"].as_str().unwrap())
            .unwrap();
    // `Access resets at 12:37 PM UTC.`: to the minute, an hour after the error.
    let diff = until.timestamp() - (sent.timestamp() + 3600);
    assert!(
        (-90..=150).contains(&diff),
        "reset {until} vs sent {sent} + 1 h: off by {diff} s\n{}",
        screen(&h, "quota")
    );
    std::thread::sleep(Duration::from_secs(3));
    let a = h.agent("quota");
    assert_eq!(a["state"], "limited", "{}", screen(&h, "quota"));
    assert_eq!(a["restarts"], 0);
    // The menu was answered with `Stop`: the turn ended, the CLI waits.
    assert!(
        has_event(&h, "quota", "dialog-answered", "usage_limit_menu: 'Stop'"),
        "{:#?}",
        events(&h, "quota")
    );
}

/// The recipe a team test reuses is a profile orc accepts.
#[test]
fn the_team_recipe_is_a_valid_gemini_profile() {
    let stand_in = GeminiStandIn::start().unwrap();
    let home = Path::new("/tmp/orc-gemini-recipe-home");
    let (toml, env) =
        gemini_stand_in::profile_recipe("gem", Path::new("/x/gemini"), &stand_in, home, "yolo");
    let cfg: toml::Value = toml::from_str(&toml).unwrap();
    assert_eq!(cfg["profiles"]["gem"]["detector"].as_str(), Some("gemini"));
    assert_eq!(
        cfg["profiles"]["gem"]["command"].as_str(),
        Some("/x/gemini")
    );
    let args = cfg["profiles"]["gem"]["args"].as_array().unwrap();
    assert_eq!(args[1].as_str(), Some("yolo"));
    assert!(env
        .iter()
        .any(|(k, v)| k == "GOOGLE_GEMINI_BASE_URL" && *v == stand_in.base_url()));
    assert!(env.iter().any(|(k, _)| k == "GEMINI_API_KEY"));
    assert!(env
        .iter()
        .any(|(k, v)| k == "HOME" && v.as_str() == home.to_str().unwrap()));
    let penv = cfg["profiles"]["gem"]["env"].as_table().unwrap();
    assert_eq!(
        penv["GOOGLE_GEMINI_BASE_URL"].as_str(),
        Some(stand_in.base_url().as_str())
    );
}

/// The team recipe as a team test uses it: the profile from
/// `profile_recipe` (`--approval-mode yolo`) in orc's config, the agent
/// spawned by profile alone; the scripted shell command runs with no
/// confirmation dialog and nobody pressing a key (orc answers only trust).
/// Then (d): an auth failure is reported `auth_failed`, not restarted.
#[test]
fn gemini_team_recipe_runs_a_shell_command_unattended_then_auth_fails() {
    let _serial = serial();
    let h = harness();
    let stand_in = GeminiStandIn::start().unwrap();
    let (home, repo) = setup(&h, "yolo");
    let (toml, _) = gemini_stand_in::profile_recipe("gem", &gemini_bin(), &stand_in, &home, "yolo");
    std::fs::write(h.path().join("config.toml"), toml).unwrap();
    h.supervise();
    h.orc(&[
        "spawn",
        "yolo",
        "--cwd",
        repo.to_str().unwrap(),
        "--profile",
        "gem",
    ])
    .ok();
    wait_state(&h, "yolo", "idle", 120);
    stand_in.next_turn_runs("printf team-ok > team.txt", "Ran it.");
    h.orc(&["send", "yolo", "run the team command"]).ok();
    h.wait_until(60, "the command ran", || {
        std::fs::read_to_string(repo.join("team.txt")).is_ok_and(|s| s == "team-ok")
    });
    wait_state(&h, "yolo", "idle", 60);
    let keys: Vec<Value> = events(&h, "yolo")
        .into_iter()
        .filter(|e| e["event"] == "dialog-key")
        .collect();
    assert!(
        keys.iter()
            .all(|e| e["detail"].as_str().unwrap_or("").starts_with("trust:")),
        "only the trust dialog was answered: {keys:#?}"
    );
    assert_eq!(stand_in.function_responses().len(), 1);

    // (d) The key goes bad: reported, and no restart loop.
    stand_in.push(Reply::bad_key().forever());
    h.orc(&["send", "yolo", "hello"]).ok();
    wait_state(&h, "yolo", "auth_failed", 60);
    std::thread::sleep(Duration::from_secs(5));
    let a = h.agent("yolo");
    assert_eq!(a["state"], "auth_failed", "{}", screen(&h, "yolo"));
    assert_eq!(a["restarts"], 0, "no restart loop on auth failure");
    assert!(a["pid"].as_i64().is_some_and(common::alive));
}
