//! `orc doctor`: the static checks, bad input, and `--live` against the sim
//! agent (its usual UI passes, a changed UI fails readably) and the pinned
//! real Claude Code.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{socket_file, Harness, Run};
use serde_json::Value;

fn write_config(h: &Harness, text: &str) {
    std::fs::write(h.path().join("config.toml"), text).unwrap();
}

/// A stand-in `claude` that only answers `--version`.
fn fake_cli(h: &Harness, version_line: &str) -> PathBuf {
    let p = h.path().join(format!("fake-claude-{}", version_line.len()));
    std::fs::write(&p, format!("#!/bin/sh\necho '{version_line}'\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.stdout))
}

fn check<'a>(report: &'a Value, section: &str, check: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["section"] == section && c["check"] == check)
        .unwrap_or_else(|| panic!("no {section}/{check} in {report}"))
}

#[test]
fn static_checks_report_the_version_against_the_recordings() {
    let h = Harness::new();
    let newer = fake_cli(&h, "99.0.1 (Claude Code)");
    let known = fake_cli(&h, "2.1.197 (Claude Code) x");
    write_config(
        &h,
        &format!(
            "[profiles.claude]\ncommand = {newer:?}\n[profiles.old]\ncommand = {known:?}\ndetector = \"claude-code\"\n"
        ),
    );
    h.supervise();
    let r = h.orc(&["doctor", "--json"]).ok();
    let v = json(&r);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        check(&v, "profile claude", "version")["detail"],
        "99.0.1 (Claude Code)"
    );
    let rec = check(&v, "profile claude", "recordings");
    assert_eq!(rec["status"], "warn");
    assert!(
        rec["detail"]
            .as_str()
            .unwrap()
            .contains("99.0.1 is newer than the newest recorded version"),
        "{rec}"
    );
    assert!(rec["hint"]
        .as_str()
        .unwrap()
        .contains("orc doctor --live claude"));
    assert_eq!(check(&v, "profile old", "recordings")["status"], "pass");
    assert_eq!(check(&v, "orc", "tmux")["status"], "pass");
    assert_eq!(check(&v, "orc", "config")["status"], "pass");
    // `orc supervise` made the state dir private.
    let sd = check(&v, "orc", "state dir");
    assert_eq!(sd["status"], "pass", "{sd}");
    assert!(sd["detail"].as_str().unwrap().contains("mode 0700"), "{sd}");
    // Built-in profiles whose CLI is absent are not failures.
    let codex = check(&v, "profile codex", "command");
    assert!(
        codex["status"] == "skip" || codex["status"] == "pass",
        "{codex}"
    );

    // A state dir others can read fails, and says what to do.
    let state = h.path().join("state");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = h.orc(&["doctor", "old"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("✗ state dir"), "{}", r.stdout);
    assert!(r.stdout.contains("has mode 0755"), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("chmod 700 {}", state.display())));
    assert!(
        r.stderr.contains("doctor: 1 check(s) failed"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_input_no_cli_unknown_profile_no_tmux_broken_config() {
    let h = Harness::new();
    write_config(&h, "[profiles.claude]\ncommand = \"/nonexistent/claude\"\n");
    let r = h.orc(&["doctor", "claude"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("✗ command")
            && r.stdout
                .contains("/nonexistent/claude is not an executable file"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("npm install -g @anthropic-ai/claude-code"),
        "{}",
        r.stdout
    );
    h.orc(&["doctor", "--live", "claude"])
        .fails_with("profile `claude` runs `/nonexistent/claude`: /nonexistent/claude is not an executable file");

    h.orc(&["doctor", "nosuch"])
        .fails_with("unknown profile `nosuch`; known profiles: aider, claude,");
    h.orc(&["doctor", "--live", "nosuch"])
        .fails_with("unknown profile `nosuch`");
    h.orc(&["doctor", "--live", "shell"])
        .fails_with("profile `shell` uses detector `shell`");

    let mut c = h.cmd();
    c.env("ORC_TMUX", "/nonexistent/tmux");
    let r = Run::from(c.args(["doctor", "sim"]).output().unwrap());
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("✗ tmux")
            && r.stdout
                .contains("tmux is not installed or not executable at /nonexistent/tmux"),
        "{}",
        r.stdout
    );
    let mut c = h.cmd();
    c.env("ORC_TMUX", "/nonexistent/tmux");
    Run::from(c.args(["doctor", "--live", "sim"]).output().unwrap())
        .fails_with("tmux is not installed or not executable at /nonexistent/tmux");

    write_config(&h, "[profiles.claude\n");
    let r = h.orc(&["doctor", "sim"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("✗ config"), "{}", r.stdout);
    h.orc(&["doctor", "--live", "sim"])
        .fails_with("config file");
}

#[test]
fn hooks_are_checked_in_the_agent_folder() {
    let h = Harness::new();
    let cli = fake_cli(&h, "2.1.197 (Claude Code)");
    write_config(&h, &format!("[profiles.claude]\ncommand = {cli:?}\n"));
    let dir = h.workdir("agent");
    let d = dir.to_str().unwrap();
    let r = h.orc(&["doctor", "claude", "--cwd", d, "--json"]);
    let v = json(&r);
    assert_eq!(
        check(&v, &format!("claude code settings for {d}"), "hooks")["status"],
        "skip"
    );
    let sl = check(&v, &format!("claude code settings for {d}"), "statusLine");
    assert_eq!(sl["status"], "skip");
    assert!(
        sl["detail"].as_str().unwrap().contains("not installed"),
        "{sl}"
    );

    h.orc(&["hooks", "install", "--cwd", d]).ok();
    let v = json(&h.orc(&["doctor", "claude", "--cwd", d, "--json"]));
    let hooks = check(&v, &format!("claude code settings for {d}"), "hooks");
    assert_eq!(hooks["status"], "pass", "{hooks}");

    // Hooks that call an orc that is gone fail.
    let file = dir.join(".claude/settings.local.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let me = h.bin.display().to_string();
    std::fs::write(&file, text.replace(&me, "/gone/orc")).unwrap();
    let r = h.orc(&["doctor", "claude", "--cwd", d]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("runs /gone/orc, which does not exist"),
        "{}",
        r.stdout
    );
}

/// Run `orc doctor ARGS` and check that it left nothing behind: its private
/// folder and tmux server are gone.
fn doctor_cleanly(h: &Harness, args: &[&str]) -> Run {
    let child = h
        .cmd()
        .arg("doctor")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let r = Run::from(child.wait_with_output().unwrap());
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("orc-doctor-{pid}-"))
        })
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    let sock = socket_file(&format!("orc-doctor-{pid}"));
    assert!(
        !sock.exists(),
        "tmux server socket {} left behind",
        sock.display()
    );
    let alive = Command::new("tmux")
        .args(["-L", &format!("orc-doctor-{pid}"), "list-sessions"])
        .output()
        .unwrap();
    assert!(
        !alive.status.success(),
        "the private tmux server still runs"
    );
    r
}

#[test]
fn live_passes_with_the_sim_agent() {
    let h = Harness::new();
    let r = doctor_cleanly(&h, &["--live", "sim", "--json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = json(&r);
    assert_eq!(v["ok"], true);
    let steps = v["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(names, ["startup", "turn", "tool call", "usage limit"]);
    for s in steps {
        assert_eq!(s["status"], "pass", "{s}");
    }
    let saw = |i: usize| -> Vec<String> {
        steps[i]["saw"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    assert!(saw(1).contains(&"busy".to_string()), "{:?}", saw(1));
    assert_eq!(saw(1).last().unwrap(), "idle");
    assert!(steps[2]["detail"]
        .as_str()
        .unwrap()
        .contains("permission: 'Yes' (1 key), dialog gone"));
    assert!(
        saw(3).last().unwrap().starts_with("limited (until "),
        "{:?}",
        saw(3)
    );
}

#[test]
fn live_fails_readably_when_the_sim_ui_changed() {
    let h = Harness::new();
    write_config(
        &h,
        &format!(
            "[profiles.sim-changed]\ncommand = {:?}\nargs = [\"sim-agent\", \"--ui\", \"changed\"]\ndetector = \"sim\"\n",
            h.bin.display().to_string()
        ),
    );
    let r = doctor_cleanly(&h, &["--live", "sim-changed"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let out = &r.stdout;
    for want in [
        "✗ startup      stuck at unknown after 20 s; orc logged unplaced-screen",
        "no rule matches and no composer is found",
        "expected: idle within 20 s, every startup dialog answered by orc",
        "– turn         not run (stopped at startup)",
        "– usage limit  not run (stopped at startup)",
        "the agent's screen as orc saw it last:",
        "  | »",
        "result: FAIL — stopped at startup",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    assert!(
        r.stderr
            .contains("orc: doctor --live sim-changed: stopped at startup"),
        "{}",
        r.stderr
    );
}

fn claude_bin() -> PathBuf {
    // The script's own pin: the release the e2e tests use.
    common::installed_cli("install-claude.sh", "ORC_CLAUDE_BIN")
}

#[test]
fn live_passes_with_the_pinned_claude_code() {
    let h = Harness::new();
    let bin = claude_bin();
    write_config(
        &h,
        &format!(
            "[profiles.claude]\ncommand = {:?}\nargs = [\"--dangerously-skip-permissions\"]\n",
            bin.display().to_string()
        ),
    );
    let r = doctor_cleanly(&h, &["--live", "claude"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for want in [
        "✓ startup",
        "trust: 'Yes, I trust this folder'",
        "✓ turn",
        "✓ tool call",
        "orc-doctor-tool.txt written, result sent back",
        "✓ usage limit",
        "result: PASS — all 4 steps passed",
    ] {
        assert!(r.stdout.contains(want), "missing {want:?} in\n{}", r.stdout);
    }
}

/// Processes whose command line names the doctor's private folder (Codex's
/// app-server daemon lives under its HOME): none may outlive the run.
fn processes_under(prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(prefix) {
            out.push(cmd);
        }
    }
    out
}

fn live_passes_with(profile: &str, bin: &Path) {
    let h = Harness::new();
    write_config(
        &h,
        &format!(
            "[profiles.{profile}]\ncommand = {:?}\n",
            bin.display().to_string()
        ),
    );
    let r = doctor_cleanly(&h, &["--live", profile]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for want in [
        "✓ startup",
        "✓ turn",
        "reply on screen",
        "✓ usage limit",
        "→ limited",
        "result: PASS — all 3 steps passed",
    ] {
        assert!(r.stdout.contains(want), "missing {want:?} in\n{}", r.stdout);
    }
}

#[test]
fn live_passes_with_the_pinned_aider() {
    live_passes_with(
        "aider",
        &common::installed_cli("install-aider.sh", "ORC_AIDER_BIN"),
    );
}

#[test]
fn live_passes_with_the_pinned_codex_and_leaves_no_app_server() {
    let before = processes_under("/orc-doctor-");
    live_passes_with(
        "codex",
        &common::installed_cli("install-codex.sh", "ORC_CODEX_BIN"),
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    // (Other tests' doctors may be running: only app-servers count.)
    let left: Vec<String> = processes_under("/orc-doctor-")
        .into_iter()
        .filter(|p| !before.contains(p) && p.contains("app-server"))
        .collect();
    assert!(left.is_empty(), "left running: {left:?}");
}
