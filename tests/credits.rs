//! Usage limits and the scheduler, end to end through a real supervisor and
//! tmux, with simulated agents (fast; the real Claude CLI runs in
//! `e2e_claude.rs`). The sim's `orc-sim:limit=N` names its reset to the second.

mod common;

use std::time::Duration;

use common::Harness;
use serde_json::Value;

fn credits(h: &Harness) -> Vec<Value> {
    let r = h.orc(&["credits", "--json"]).ok();
    serde_json::from_str::<Value>(&r.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn credit(h: &Harness, name: &str) -> Value {
    credits(h).into_iter().find(|r| r["name"] == name).unwrap()
}

fn jobs(h: &Harness) -> Vec<Value> {
    let r = h.orc(&["schedule", "list", "--json"]).ok();
    serde_json::from_str::<Value>(&r.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn config(h: &Harness, text: &str) {
    std::fs::write(h.path().join("config.toml"), text).unwrap();
}

#[test]
fn limited_agent_is_resumed_after_the_reset_and_held_messages_follow() {
    let h = Harness::new();
    config(
        &h,
        "[credits]\nbuffer_secs = 1\nverify_secs = 10\nresume_message = \"limit over: go on\"\n",
    );
    h.supervise();
    let dev = h.spawn_logged("dev", &["--account", "team"]);
    let qa = h.spawn_logged("qa", &["--account", "team"]);
    let other = h.spawn_logged("other", &["--account", "solo"]);
    for n in ["dev", "qa", "other"] {
        h.wait_until(10, "idle", || h.agent(n)["state"] == "idle");
    }
    h.orc(&["send", "dev", "orc-sim:limit=8"]).ok();
    h.wait_until(10, "limited", || h.agent("dev")["state"] == "limited");
    let until = h.agent("dev")["limited_until"]
        .as_str()
        .expect("limited_until")
        .to_string();
    let c = credit(&h, "dev");
    assert_eq!(c["status"], "limited");
    assert_eq!(c["limited_until"].as_str().unwrap(), until);
    assert!(c["next_resume"].is_string());
    // The shared account puts qa at risk; another account does not.
    h.wait_until(5, "qa at risk", || credit(&h, "qa")["status"] == "at_risk");
    assert_eq!(credit(&h, "other")["status"], "ok");
    assert!(
        h.orc(&["ps"]).stdout.contains("limited ("),
        "ps shows a countdown"
    );

    // Meanwhile: a message is held, check-ins are deferred.
    h.orc(&["send", "dev", "held message"]).ok();
    h.orc(&["schedule", "0.02", "dev check-in", "--to", "dev"])
        .ok();
    h.orc(&["schedule", "0.02", "qa check-in", "--to", "qa"])
        .ok();
    h.orc(&["schedule", "0.02", "other check-in", "--to", "other"])
        .ok();
    h.wait_until(10, "other's check-in", || {
        h.received(&other).contains(&"other check-in".to_string())
    });
    h.wait_until(5, "deferred", || {
        jobs(&h)
            .iter()
            .filter(|j| j["deferred_until"].is_string())
            .count()
            == 2
    });
    assert_eq!(
        h.received(&dev),
        vec!["orc-sim:limit=8"],
        "nothing typed while limited"
    );
    assert!(h.received(&qa).is_empty());

    // After the reset + buffer: the resume, then the held message, then the check-in.
    h.wait_until(30, "dev resumed and caught up", || {
        h.received(&dev).len() >= 4
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        h.received(&dev),
        vec![
            "orc-sim:limit=8",
            "limit over: go on",
            "held message",
            "dev check-in"
        ]
    );
    h.wait_until(10, "qa check-in", || h.received(&qa) == vec!["qa check-in"]);
    h.wait_until(10, "dev ok", || credit(&h, "dev")["status"] == "ok");
    let history: Vec<String> = credit(&h, "dev")["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(history, vec!["limited", "resume_sent", "recovered"]);
    assert!(jobs(&h).is_empty(), "every one-shot fired once");
    let table = h.orc(&["credits"]).ok().stdout;
    assert!(
        table.contains("dev history:") && table.contains("recovered"),
        "{table}"
    );
}

#[test]
fn a_limit_that_does_not_lift_is_re_armed_then_left_to_a_human() {
    let h = Harness::new();
    config(
        &h,
        "[credits]\nbuffer_secs = 1\nretry_secs = 1\nmax_tries = 2\nverify_secs = 10\n",
    );
    h.supervise();
    let log = h.spawn_logged("dev", &[]);
    h.wait_until(10, "idle", || h.agent("dev")["state"] == "idle");
    // Never lifts: each refusal names a reset 3 s ahead, further than the
    // 1 s quick-retry wait, so each is a new limit and counts as a try.
    h.orc(&["send", "dev", "orc-sim:limit=3!"]).ok();
    h.wait_until(40, "gave up", || credit(&h, "dev")["status"] == "attention");
    let resumes = |h: &Harness| {
        h.received(&log)
            .iter()
            .filter(|t| t.contains("usage limit has reset"))
            .count()
    };
    assert_eq!(resumes(&h), 2, "{:?}", h.received(&log));
    // No more resumes once it gave up.
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(resumes(&h), 2);
    let kinds: Vec<String> = credit(&h, "dev")["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "limited",
            "resume_sent",
            "still_limited",
            "resume_sent",
            "gave_up"
        ]
    );
    assert_eq!(h.agent("dev")["state"], "limited");
}

#[test]
fn schedule_bad_input_is_refused_with_reasons() {
    let h = Harness::new();
    h.supervise();
    h.spawn_sim("dev");
    for (args, needle) in [
        (vec!["schedule", "0", "x", "--to", "dev"], "more than 0"),
        (vec!["schedule", "-5", "x", "--to", "dev"], "more than 0"),
        (vec!["schedule", "soon", "x", "--to", "dev"], "not a number"),
        (vec!["schedule", "50000", "x", "--to", "dev"], "30 days"),
        (
            vec!["schedule", "--every", "0", "x", "--to", "dev"],
            "more than 0",
        ),
        (
            vec!["schedule", "--every", "99999", "x", "--to", "dev"],
            "30 days",
        ),
        (
            vec!["schedule", "5", "x", "--to", "ghost"],
            "no agent named `ghost`",
        ),
        (vec!["schedule", "5", "x"], "--to AGENT"),
        (vec!["schedule", "5", "  ", "--to", "dev"], "note is empty"),
        (
            vec![
                "schedule",
                "--at",
                "2020-01-01T00:00:00Z",
                "x",
                "--to",
                "dev",
            ],
            "in the past",
        ),
        (
            vec!["schedule", "--at", "noonish", "x", "--to", "dev"],
            "HH:MM",
        ),
        (
            vec!["schedule", "cancel", "s999"],
            "no scheduled job with id `s999`",
        ),
    ] {
        h.orc(&args).fails_with(needle);
    }
    assert!(jobs(&h).is_empty(), "nothing was scheduled by bad input");
    // --fire-if-past fires now; cancel works once.
    let out = h
        .orc(&[
            "schedule",
            "--at",
            "2020-01-01T00:00:00Z",
            "--fire-if-past",
            "--every",
            "60",
            "x",
            "--to",
            "dev",
        ])
        .ok()
        .stdout;
    assert!(out.starts_with("scheduled s"), "{out}");
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    h.orc(&["schedule", "cancel", &id]).ok();
    h.orc(&["schedule", "cancel", &id])
        .fails_with("no scheduled job");
}

#[test]
fn scheduled_check_ins_survive_a_supervisor_restart_and_fire_once() {
    let h = Harness::new();
    config(&h, "[checkins]\nmin_every_seconds = 1\n");
    h.supervise();
    let log = h.spawn_logged("dev", &[]);
    h.wait_until(10, "idle", || h.agent("dev")["state"] == "idle");
    h.orc(&["schedule", "0.15", "one-shot", "--to", "dev"]).ok();
    h.orc(&["schedule", "--every", "0.1", "recurring", "--to", "dev"])
        .ok();
    let listed = h.orc(&["schedule", "list"]).ok().stdout;
    assert!(
        listed.contains("one-shot") && listed.contains("recurring"),
        "{listed}"
    );
    // Kill the supervisor hard before anything is due; start it again.
    let pid = h.supervisor_pid().unwrap();
    common::kill9(pid as i64);
    std::thread::sleep(Duration::from_secs(12));
    h.supervise();
    // Both were missed while it was down: each fires once, not once per period.
    h.wait_until(15, "both fired", || h.received(&log).len() >= 2);
    std::thread::sleep(Duration::from_secs(2));
    let got = h.received(&log);
    assert_eq!(
        got.iter().filter(|t| *t == "one-shot").count(),
        1,
        "{got:?}"
    );
    assert_eq!(
        got.iter().filter(|t| *t == "recurring").count(),
        1,
        "{got:?}"
    );
    let js = jobs(&h);
    assert_eq!(js.len(), 1, "the one-shot is done: {js:?}");
    assert_eq!(js[0]["fired"], 1);
    // The recurring one goes on at its period.
    h.wait_until(15, "recurring again", || {
        h.received(&log)
            .iter()
            .filter(|t| *t == "recurring")
            .count()
            >= 2
    });
    // A corrupt schedule file is moved aside and named.
    h.orc(&["stop"]).ok();
    std::fs::write(h.path().join("state/schedule.json"), "{ not json").unwrap();
    h.supervise();
    let r = h.orc(&["schedule", "list"]).ok();
    assert!(r.stderr.contains("moved it to"), "{}", r.stderr);
}

/// Claude Code shows the reset to the minute; the account's real reset can
/// come a little later. A resume refused just after the shown reset is tried
/// again soon (1, 2, 4, 8 x `retry_secs`), not at the 5-hour cycle.
#[test]
fn a_resume_refused_just_after_the_shown_reset_is_retried_within_seconds_not_hours() {
    let h = Harness::new();
    config(
        &h,
        "[credits]\nbuffer_secs = 1\nverify_secs = 10\nretry_secs = 1\nresume_message = \"limit over: go on\"\n",
    );
    h.supervise();
    let log = h.spawn_logged("dev", &[]);
    h.wait_until(10, "idle", || h.agent("dev")["state"] == "idle");
    // Shown reset in 3 s; the real one 6 s after that.
    h.orc(&["send", "dev", "orc-sim:limit=3+6"]).ok();
    h.wait_until(10, "limited", || h.agent("dev")["state"] == "limited");
    h.orc(&["send", "dev", "held message"]).ok();
    let took = h.wait_until(40, "resumed and caught up", || {
        h.received(&log).iter().any(|t| t == "held message")
    });
    eprintln!("caught up {took:?} after the limit began");
    let got = h.received(&log);
    let resumes = got.iter().filter(|t| *t == "limit over: go on").count();
    assert!(resumes >= 2, "the first resume was refused: {got:?}");
    h.wait_until(10, "dev ok", || credit(&h, "dev")["status"] == "ok");
    let kinds: Vec<String> = credit(&h, "dev")["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"still_limited".to_string()), "{kinds:?}");
    assert_eq!(kinds.last().unwrap(), "recovered", "{kinds:?}");
}

/// `orc restart` of a limited agent gives it a fresh, idle-looking prompt,
/// but its limit still holds its messages: `orc ps` says `limited`.
#[test]
fn a_limited_agent_restarted_by_hand_still_shows_limited() {
    let h = Harness::new();
    config(&h, "[credits]\nbuffer_secs = 1\nverify_secs = 10\n");
    h.supervise();
    let log = h.spawn_logged("dev", &[]);
    h.wait_until(10, "idle", || h.agent("dev")["state"] == "idle");
    h.orc(&["send", "dev", "orc-sim:limit=120"]).ok();
    h.wait_until(10, "limited", || h.agent("dev")["state"] == "limited");
    let before = h.agent("dev");
    h.orc(&["restart", "dev"]).ok();
    h.wait_until(10, "restarted", || {
        let a = h.agent("dev");
        a["restarts"] == 1 && a["pane"] != before["pane"] && a["pane"].is_string()
    });
    let pane = h.agent("dev")["pane"].as_str().unwrap().to_string();
    h.wait_until(10, "the new prompt drawn", || {
        h.capture(&pane).contains("Welcome to sim-agent")
    });
    h.orc(&["send", "dev", "held message"]).ok();
    // Long past the settle time: never `idle`, and `limited` at the end.
    let mut seen = vec![];
    for _ in 0..20 {
        seen.push(h.agent("dev")["state"].as_str().unwrap().to_string());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!seen.iter().any(|s| s == "idle"), "{seen:?}");
    let a = h.agent("dev");
    assert_eq!(a["state"], "limited", "{a}");
    assert_eq!(a["queue"], 1, "{a}");
    assert!(a["limited_until"].is_string(), "{a}");
    assert_eq!(h.received(&log), vec!["orc-sim:limit=120"]);
}

/// A check-in typed just as the agent meets its limit is refused with that
/// turn; the CLI sends it again itself when the limit lifts. The job's next
/// firing, deferred meanwhile, must not follow it seconds later: the refused
/// firing counts as that period's.
#[test]
fn a_check_in_refused_by_a_limit_is_not_followed_by_its_deferred_firing() {
    let h = Harness::new();
    config(
        &h,
        "[credits]\nbuffer_secs = 1\nverify_secs = 10\n[checkins]\nmin_every_seconds = 1\n",
    );
    h.supervise();
    let log = h.spawn_logged("dev", &[]);
    h.wait_until(10, "idle", || h.agent("dev")["state"] == "idle");
    // The next message (the first check-in) meets a 14 s limit.
    h.orc(&["send", "dev", "orc-sim:limit-next=14"]).ok();
    h.wait_until(10, "cue taken", || h.received(&log).len() == 1);
    h.wait_until(10, "idle", || h.agent("dev")["state"] == "idle");
    // Every 12 s: the first firing meets the limit, the second is due while
    // it lasts (deferred), the third comes well after.
    h.orc(&["schedule", "--every", "0.2", "check-in", "--to", "dev"])
        .ok();
    h.wait_until(20, "limited", || h.agent("dev")["state"] == "limited");
    let raw = || -> Vec<Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    h.wait_until(30, "the CLI resent the refused check-in", || {
        raw()
            .iter()
            .any(|v| v["resent"] == true && v["text"] == "check-in")
    });
    h.wait_until(10, "recovered", || credit(&h, "dev")["status"] == "ok");
    std::thread::sleep(Duration::from_secs(4));
    let lines = raw();
    let resent = lines.iter().find(|v| v["resent"] == true).unwrap()["at_ms"]
        .as_i64()
        .unwrap();
    let close: Vec<&Value> = lines
        .iter()
        .filter(|v| v["text"] == "check-in" && v["resent"] != true)
        .filter(|v| (v["at_ms"].as_i64().unwrap() - resent).abs() < 6000)
        .collect();
    assert!(
        close.is_empty(),
        "a second check-in within half a period of the resent one: {lines:?}"
    );
    let events =
        std::fs::read_to_string(h.path().join("state/logs/agents/dev/events.jsonl")).unwrap();
    assert!(events.contains("checkin-counted"), "{events}");
}
