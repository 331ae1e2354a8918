//! Codex's session log as a signal: the recorded 0.171.0 logs, written
//! where a Codex agent's `CODEX_HOME` keeps them, reach the hub as usage
//! windows, and a used-up window starts a limit episode until its reset.

use super::{start, Setup};
use crate::agent::AgentEvent;
use crate::proto::CreditKind;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/codex/0.171.0/session-logs"
);

/// The recorded log, as Codex would write it for this agent's folder.
fn write_log(codex_home: &std::path::Path, cwd: &std::path::Path, name: &str) {
    let log = std::fs::read_to_string(format!("{DIR}/{name}.jsonl")).unwrap();
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/{name}.json")).unwrap())
            .unwrap();
    let day = codex_home.join("sessions/2026/12/03");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(
        day.join(format!("rollout-2026-12-03T11-38-48-{name}.jsonl")),
        log.replace(truth["cwd"].as_str().unwrap(), &cwd.display().to_string()),
    )
    .unwrap();
}

fn codex_setup(home: std::path::PathBuf) -> Setup {
    Setup {
        record: Box::new(move |r| {
            r.detector = "codex".into();
            r.env
                .insert("CODEX_HOME".into(), home.display().to_string());
        }),
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn the_logged_windows_go_to_the_hub_and_a_used_up_one_is_a_limit() {
    let home = tempfile::tempdir().unwrap();
    let h = start(codex_setup(home.path().to_path_buf())).await;
    h.wait(2.0).await;
    let cwd = h.last_update().map(|r| r.cwd).unwrap_or_default();
    assert!(cwd.exists(), "{cwd:?}");
    write_log(home.path(), &cwd, "limits");
    h.wait(3.0).await;
    let usage: Vec<_> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AgentEvent::Usage(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(usage.len(), 1, "one record, told once: {usage:?}");
    assert_eq!(usage[0].five_hour.unwrap().used_percent, 42.0);
    assert_eq!(usage[0].seven_day.unwrap().used_percent, 7.5);
    assert!(
        !h.credits().contains(&CreditKind::LogSignal),
        "42% is no limit"
    );

    write_log(home.path(), &cwd, "limits-full");
    h.wait(3.0).await;
    assert!(
        h.credits().contains(&CreditKind::LogSignal),
        "{:?}",
        h.credits()
    );
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/limits-full.json")).unwrap())
            .unwrap();
    let sent = truth["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "x-codex-primary-reset-at")
        .and_then(|h| h["value"].as_str()?.parse::<i64>().ok())
        .unwrap();
    let reset = chrono::DateTime::from_timestamp(sent, 0);
    let row = h.row().await;
    assert_eq!(
        row.limited_until.map(|t| t.timestamp() / 60),
        reset.map(|t| t.timestamp() / 60)
    );
    assert!(h.log().contains(&"limited".into()), "{:?}", h.log());
}
