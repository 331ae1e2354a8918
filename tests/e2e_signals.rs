//! End to end: Claude Code's structured signals with the real CLI (2.1.332,
//! or `ORC_CLAUDE_BIN`) under `orc supervise`, against the API stand-in:
//! orc's status line carries the subscription usage windows (from the
//! stand-in's `anthropic-ratelimit-unified-*` headers) to `orc credits`, and a
//! 429 usage limit arrives as a `StopFailure` hook.

mod common;
#[path = "support/stand_in.rs"]
mod stand_in;

use std::path::PathBuf;
use std::process::Command;

use common::Harness;
use serde_json::Value;
use stand_in::{Reply, StandIn};

const CLAUDE_VERSION: &str = "2.1.332";

fn claude_bin() -> PathBuf {
    common::installed_cli_at(
        "install-claude.sh",
        "ORC_CLAUDE_BIN",
        "CLAUDE_CODE_VERSION",
        CLAUDE_VERSION,
    )
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

fn credits(h: &Harness, name: &str) -> Value {
    let out = h.orc(&["credits", "--json"]).ok();
    let rows: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    rows.as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == name).cloned())
        .unwrap_or(Value::Null)
}

/// The unified rate-limit headers a subscriber's normal reply carries.
fn usage_headers(r: Reply, five: f64, five_reset: u64, seven: f64, seven_reset: u64) -> Reply {
    r.header("anthropic-ratelimit-unified-status", "allowed")
        .header("anthropic-ratelimit-unified-5h-status", "allowed")
        .header(
            "anthropic-ratelimit-unified-5h-utilization",
            five.to_string(),
        )
        .header(
            "anthropic-ratelimit-unified-5h-reset",
            five_reset.to_string(),
        )
        .header("anthropic-ratelimit-unified-7d-status", "allowed")
        .header(
            "anthropic-ratelimit-unified-7d-utilization",
            seven.to_string(),
        )
        .header(
            "anthropic-ratelimit-unified-7d-reset",
            seven_reset.to_string(),
        )
        .header(
            "anthropic-ratelimit-unified-representative-claim",
            "five_hour",
        )
        .header("anthropic-ratelimit-unified-reset", five_reset.to_string())
}

#[test]
fn status_line_usage_reaches_orc_credits_and_a_429_is_a_stop_failure() {
    let h = Harness::new();
    h.supervise();
    let stand_in = StandIn::start(vec![]).unwrap();

    // A throw-away HOME the CLI accepts offline, with the user's own status
    // line (orc wraps it), and a fresh repo.
    let home = h.path().join("home-sig");
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::write(
        home.join(".claude.json"),
        r#"{"hasCompletedOnboarding": true}"#,
    )
    .unwrap();
    let seen = h.path().join("user-status-line-saw.json");
    std::fs::write(
        home.join(".claude/settings.json"),
        serde_json::json!({"statusLine": {"type": "command",
            "command": format!("cat > '{}'; echo user-line-here", seen.display())}})
        .to_string(),
    )
    .unwrap();
    let repo = h.workdir("repo-sig");
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
    // A local settings file of the user's own, which orc's install merges
    // into. (Its renderer choice also keeps this branch's pre-trust from
    // writing `tui = "classic"`, which 2.1.332 refuses.)
    std::fs::create_dir_all(repo.join(".claude")).unwrap();
    std::fs::write(
        repo.join(".claude/settings.local.json"),
        r#"{"tui": "default"}"#,
    )
    .unwrap();

    let base = format!("ANTHROPIC_BASE_URL={}", stand_in.base_url("/a/sig"));
    let home_env = format!("HOME={}", home.display());
    let bin = claude_bin().display().to_string();
    h.orc(&[
        "spawn",
        "sig",
        "--cwd",
        repo.to_str().unwrap(),
        "--profile",
        "claude",
        "--hooks",
        "--pre-trust",
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
        "--",
        &bin,
        "--dangerously-skip-permissions",
    ])
    .ok();
    let settings: Value =
        serde_json::from_slice(&std::fs::read(repo.join(".claude/settings.local.json")).unwrap())
            .unwrap();
    assert!(
        settings["statusLine"]["command"]
            .as_str()
            .is_some_and(|c| c.ends_with(" statusline")),
        "{settings:#}"
    );
    assert!(
        settings["statusLine"]["orcWrappedStatusLine"]["command"]
            .as_str()
            .is_some_and(|c| c.contains("user-line-here")),
        "the user's status line is wrapped: {settings:#}"
    );
    for ev in [
        "StopFailure",
        "PermissionRequest",
        "SessionEnd",
        "PostCompact",
    ] {
        assert!(settings["hooks"][ev].is_array(), "{ev}: {settings:#}");
    }
    assert_eq!(settings["tui"], "default", "the user's settings stay");
    h.wait_until(90, "claude idle", || h.agent("sig")["state"] == "idle");

    // One turn whose reply carries the usage headers.
    let now = stand_in::unix_now();
    let (five_reset, seven_reset) = (now + 3 * 3600, now + 4 * 86400);
    // A subscriber's every reply carries them (side queries too).
    let with_usage = |r: Reply| usage_headers(r, 0.42, five_reset, 0.17, seven_reset);
    stand_in.set_default(with_usage(Reply::text("ok")));
    stand_in.push(with_usage(Reply::text("Usage noted.")));
    h.orc(&["send", "sig", "report your usage"]).ok();
    h.wait_until(60, "usage in orc credits", || {
        credits(&h, "sig")["five_hour"]["used_percent"].as_f64() == Some(42.0)
    });
    let row = credits(&h, "sig");
    assert_eq!(
        row["seven_day"]["used_percent"].as_f64(),
        Some(17.0),
        "{row:#}"
    );
    let at = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    assert_eq!(at(&row["five_hour"]["resets_at"]), five_reset as i64);
    assert_eq!(at(&row["seven_day"]["resets_at"]), seven_reset as i64);
    let table = h.orc(&["credits"]).ok().stdout;
    assert!(table.contains("42% (resets"), "{table}");
    // The user's command ran with the same document; its line is on screen.
    let doc: Value = serde_json::from_slice(&std::fs::read(&seen).unwrap()).unwrap();
    assert!(doc["session_id"].is_string(), "{doc:#}");
    h.wait_until(20, "the user's status line on screen", || {
        h.capture(h.agent("sig")["pane"].as_str().unwrap())
            .contains("user-line-here")
    });

    // Usage past `[credits] warn_percent` (90 by default): warned once.
    let high = |r: Reply| usage_headers(r, 0.93, five_reset, 0.17, seven_reset);
    stand_in.set_default(high(Reply::text("ok")));
    stand_in.push(high(Reply::text("Still going.")));
    h.orc(&["send", "sig", "keep going"]).ok();
    h.wait_until(60, "the usage warning", || {
        has_event(&h, "sig", "usage-high", "5-hour usage at 93%")
    });
    assert_eq!(
        credits(&h, "sig")["five_hour"]["used_percent"].as_f64(),
        Some(93.0)
    );
    assert!(
        has_event(&h, "sig", "needs-human", "usage_high: 5-hour usage at 93%"),
        "{:#?}",
        events(&h, "sig")
    );

    // A usage limit: the turn ends on a 429, and StopFailure says so.
    stand_in.push(Reply::usage_limit(now + 2 * 3600, "five_hour"));
    h.orc(&["send", "sig", "do the next task"]).ok();
    h.wait_until(60, "the StopFailure hook", || {
        has_event(&h, "sig", "stop-failure", "rate_limit")
    });
    h.wait_until(30, "limited", || credits(&h, "sig")["status"] == "limited");
    assert!(
        has_event(&h, "sig", "hook", "StopFailure"),
        "{:#?}",
        events(&h, "sig")
    );
    let kinds: Vec<String> = credits(&h, "sig")["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        kinds.iter().any(|k| k == "limited" || k == "hook_signal"),
        "{kinds:?}"
    );
    // SHOW_EVENTS=1 prints what happened (with --nocapture).
    if std::env::var_os("SHOW_EVENTS").is_some() {
        for e in events(&h, "sig") {
            eprintln!("{} {}", e["event"], e["detail"]);
        }
        eprintln!("{}", h.orc(&["credits"]).ok().stdout);
        eprintln!("{}", h.capture(h.agent("sig")["pane"].as_str().unwrap()));
    }
}

/// `orc statusline` on its own (no CLI, no supervisor): prints orc's line
/// from a real 2.1.332 document, or the wrapped command's output, and always
/// exits 0 quickly.
#[test]
fn orc_statusline_prints_its_line_or_the_wrapped_one() {
    use std::io::Write;
    let h = Harness::new();
    let doc = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/claude-code/2.1.332/signals/statusline-after-turn.json"),
    )
    .unwrap();
    let run = |doc: &[u8], agent: Option<&str>| {
        let mut c = h.cmd();
        c.arg("statusline")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        if let Some(a) = agent {
            c.env("ORC_AGENT", a);
        }
        let t = std::time::Instant::now();
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(doc).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // No supervisor is running: the agent's request fails, the line prints.
    let out = run(&doc, Some("dev"));
    assert!(
        out.starts_with("orc:dev · claude-sonnet-5-5 · ctx 100% left · 5h 42%"),
        "{out}"
    );
    assert!(
        run(b"not json", None).starts_with("orc"),
        "garbage in, a line out"
    );

    // The document's project folder has orc's entry wrapping a user's command.
    let folder = h.workdir("wrapped");
    let mut v: Value = serde_json::from_slice(&doc).unwrap();
    v["workspace"]["project_dir"] = Value::String(folder.display().to_string());
    let doc = serde_json::to_vec(&v).unwrap();
    std::fs::create_dir_all(folder.join(".claude")).unwrap();
    std::fs::write(
        folder.join(".claude/settings.local.json"),
        serde_json::json!({"statusLine": {"type": "command", "command": "'/x/orc' statusline",
            "orcWrappedStatusLine": {"type": "command",
                "command": "grep -o '2[.]1[.][0-9]*' | head -1"}}})
        .to_string(),
    )
    .unwrap();
    let out = run(&doc, Some("dev"));
    assert_eq!(out.trim(), "2.1.332", "the user's command, same stdin");
}
