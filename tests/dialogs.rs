//! Dialogs answered by their words: the simulated agent draws Claude Code
//! 2.1.332's shapes (options without digits, the cursor on "No, exit"), or a
//! dialog that ignores every key, and orc must move the cursor to the wanted
//! label, confirm, and check that the dialog went away, or say it did not.

mod common;

use std::time::Duration;

use common::Harness;
use serde_json::Value;

fn events(h: &Harness, name: &str) -> Vec<Value> {
    std::fs::read_to_string(
        h.path()
            .join(format!("state/logs/agents/{name}/events.jsonl")),
    )
    .unwrap_or_default()
    .lines()
    .filter_map(|l| serde_json::from_str(l).ok())
    .collect()
}

fn details(h: &Harness, name: &str, event: &str) -> Vec<String> {
    events(h, name)
        .iter()
        .filter(|e| e["event"] == event)
        .map(|e| e["detail"].as_str().unwrap_or("").to_string())
        .collect()
}

fn notifications(h: &Harness) -> Vec<Value> {
    std::fs::read_to_string(h.path().join("state/logs/notifications.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `orc spawn NAME --cwd DIR --profile sim [orc_flags] -- orc sim-agent [sim_flags]`.
fn spawn(h: &Harness, name: &str, cwd: &std::path::Path, orc_flags: &[&str], sim_flags: &[&str]) {
    let mut args = vec![
        "spawn",
        name,
        "--cwd",
        cwd.to_str().unwrap(),
        "--profile",
        "sim",
    ];
    args.extend_from_slice(orc_flags);
    args.push("--");
    let cmd = h.sim_command();
    args.extend(cmd.iter().map(|s| s.as_str()));
    args.extend_from_slice(sim_flags);
    h.orc(&args).ok();
}

#[test]
fn an_unnumbered_trust_dialog_is_answered_by_its_label_and_checked() {
    let h = Harness::new();
    h.supervise();
    let dir = h.workdir("t1");
    spawn(&h, "t1", &dir, &[], &["--trust-dialog", "--arrow-menus"]);
    // Nobody presses a key but orc; "No, exit" (the default) would end it.
    h.wait_until(20, "idle past the trust dialog", || {
        h.agent("t1")["state"] == "idle"
    });
    let keys = details(&h, "t1", "dialog-key");
    assert_eq!(keys.len(), 2, "one Down, one Enter: {keys:?}");
    assert!(
        keys[0].contains("cursor on 'No, exit': pressed Down"),
        "{keys:?}"
    );
    assert!(
        keys[1].contains("cursor on 'Yes, I trust this folder': pressed Enter"),
        "{keys:?}"
    );
    let took = details(&h, "t1", "dialog-answered");
    assert_eq!(
        took,
        vec!["trust: 'Yes, I trust this folder' (2 keys), dialog gone".to_string()]
    );
    assert_eq!(h.agent("t1")["restarts"], 0, "it never exited");
}

#[test]
fn a_numbered_dialog_gets_its_digit_and_arrow_menus_their_arrows() {
    let h = Harness::new();
    h.supervise();
    let d1 = h.workdir("num");
    spawn(&h, "num", &d1, &["--auto-approve"], &["--trust-dialog"]);
    let d2 = h.workdir("arrows");
    spawn(&h, "arrows", &d2, &["--auto-approve"], &["--arrow-menus"]);
    h.wait_until(20, "num idle", || h.agent("num")["state"] == "idle");
    h.wait_until(20, "arrows idle", || h.agent("arrows")["state"] == "idle");
    assert!(
        details(&h, "num", "dialog-key")
            .iter()
            .any(|k| k.contains("'Yes, I trust this folder' is option 2: pressed 2")),
        "{:?}",
        events(&h, "num")
    );
    // A permission prompt whose cursor already sits on "Yes": Enter only.
    h.orc(&["send", "arrows", "orc-sim:permission"]).ok();
    let pane = h.agent("arrows")["pane"].as_str().unwrap().to_string();
    h.wait_until(15, "auto-approved", || {
        h.capture(&pane).contains("● Ran the command.")
    });
    h.wait_until(5, "answer verified", || {
        details(&h, "arrows", "dialog-answered")
            .iter()
            .any(|d| d == "permission: 'Yes' (1 key), dialog gone")
    });
}

#[test]
fn an_answer_that_does_not_take_is_reported_once_and_not_repeated() {
    let h = Harness::new();
    h.supervise();
    let dir = h.workdir("deaf");
    spawn(
        &h,
        "deaf",
        &dir,
        &[],
        &["--trust-dialog", "--arrow-menus", "--deaf-dialogs"],
    );
    h.wait_until(30, "given up", || {
        !details(&h, "deaf", "dialog-unanswered").is_empty()
    });
    let why = details(&h, "deaf", "dialog-unanswered");
    assert!(
        why[0].contains("did not reach 'Yes, I trust this folder'"),
        "{why:?}"
    );
    let row = h.agent("deaf");
    assert_eq!(row["state"], "awaiting_choice");
    assert!(
        row["note"].as_str().unwrap_or("").contains("did not reach"),
        "the note says why: {row}"
    );
    let n = notifications(&h);
    assert!(
        n.iter()
            .any(|e| e["event"] == "dialog_unanswered" && e["agent"] == "deaf"),
        "{n:?}"
    );
    // Nothing more is pressed while it stays.
    let keys = details(&h, "deaf", "dialog-key").len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(details(&h, "deaf", "dialog-key").len(), keys);
    assert_eq!(details(&h, "deaf", "dialog-unanswered").len(), 1);
    // Never Enter on "No, exit": the agent is still there.
    assert_eq!(h.agent("deaf")["restarts"], 0);
}

#[test]
fn a_trust_dialog_for_another_folder_is_left_to_a_person_and_said() {
    let h = Harness::new();
    std::fs::write(
        h.path().join("config.toml"),
        "[notify]\nchoice_minutes = 0.05\n",
    )
    .unwrap();
    h.supervise();
    let hub_log = h.spawn_logged("hub", &["--role", "orchestrator"]);
    h.wait_until(20, "hub idle", || h.agent("hub")["state"] == "idle");
    // The sim asks about its own cwd; orc was told a different one, via a
    // wrapper that changes folder first.
    let told = h.workdir("told");
    let other = h.workdir("elsewhere");
    let cmd = h.sim_command();
    let script = format!(
        "cd {} && exec {} --trust-dialog --arrow-menus",
        other.display(),
        cmd.join(" ")
    );
    h.orc(&[
        "spawn",
        "wary",
        "--cwd",
        told.to_str().unwrap(),
        "--profile",
        "sim",
        "--",
        "sh",
        "-c",
        &script,
    ])
    .ok();
    h.wait_until(20, "awaiting_choice", || {
        h.agent("wary")["state"] == "awaiting_choice"
    });
    h.wait_until(10, "a person is told", || {
        notifications(&h)
            .iter()
            .any(|e| e["event"] == "dialog_waiting" && e["agent"] == "wary")
    });
    let note = h.agent("wary")["note"].as_str().unwrap_or("").to_string();
    assert!(
        note.starts_with("dialog: trust: \"Accessing workspace:"),
        "{note}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        details(&h, "wary", "dialog-key").is_empty(),
        "nothing pressed"
    );
    assert_eq!(
        notifications(&h)
            .iter()
            .filter(|e| e["event"] == "dialog_waiting")
            .count(),
        1,
        "said once"
    );
    // Left unanswered past `choice_minutes` (3 s here): escalated once, to
    // a person and to the hub.
    h.wait_until(15, "escalated", || {
        notifications(&h)
            .iter()
            .any(|e| e["event"] == "choice_waiting" && e["agent"] == "wary")
    });
    h.wait_until(15, "the hub is told", || {
        h.received(&hub_log)
            .iter()
            .any(|t| t.contains("wary has waited") && t.contains("Accessing workspace"))
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        notifications(&h)
            .iter()
            .filter(|e| e["event"] == "choice_waiting")
            .count(),
        1,
        "escalated once"
    );
}
