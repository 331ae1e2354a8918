//! The core acceptance tests: a real tmux server per test, the real `orc`
//! binary, agents that are `bash` or `orc sim-agent`.

mod common;

use std::time::Duration;

use common::{alive, kill9, Harness};
use serde_json::Value;

fn pid_of(v: &Value) -> i64 {
    v["pid"].as_i64().expect("agent has a pid")
}

#[test]
fn spawn_lists_agent_with_live_pane_pid_and_keys() {
    let h = Harness::new();
    h.supervise();
    let dir = h.workdir("a");
    h.orc(&[
        "spawn",
        "a",
        "--cwd",
        dir.to_str().unwrap(),
        "--role",
        "developer",
        "--project",
        "p1",
        "--",
        "bash",
    ])
    .ok();
    let a = h.agent("a");
    for key in [
        "name",
        "role",
        "project",
        "pane",
        "pid",
        "state",
        "since",
        "restarts",
        "limited_until",
        "queue",
        "last_activity",
    ] {
        assert!(a.get(key).is_some(), "ps --json row lacks `{key}`: {a}");
    }
    assert_eq!(a["role"], "developer");
    assert_eq!(a["project"], "p1");
    assert_eq!(a["restarts"], 0);
    let pane = a["pane"].as_str().unwrap().to_string();
    assert!(pane.starts_with('%'), "pane id {pane}");
    assert!(alive(pid_of(&a)), "pid is alive");
    // tmux agrees: the pane exists, runs that pid, is tagged, and sits in the cwd.
    let info = h
        .tmux(&[
            "display-message",
            "-p",
            "-t",
            &pane,
            "#{pane_pid} #{@orc_agent} #{pane_current_path}",
        ])
        .stdout;
    assert_eq!(info.trim(), format!("{} a {}", pid_of(&a), dir.display()));
    // and the human table shows it
    let table = h.orc(&["ps"]).ok().stdout;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("a ") && l.contains(&pane)),
        "{table}"
    );
}

#[test]
fn kill9_of_agent_process_restarts_it_in_same_cwd() {
    let h = Harness::new();
    h.supervise();
    let dir = h.workdir("a");
    h.orc(&[
        "spawn",
        "a",
        "--cwd",
        dir.to_str().unwrap(),
        "--env",
        "ORC_T_MARK=kept",
        "--",
        // no rc files: the machine's ~/.bashrc can hold the prompt back
        // for seconds (seen: a `pyenv rehash` waiting for its lock)
        "bash",
        "--norc",
        "--noprofile",
    ])
    .ok();
    let before = h.agent("a");
    kill9(pid_of(&before));
    let took = h.wait_until(5, "a new pid with restarts=1", || {
        let a = h.agent("a");
        a["restarts"] == 1 && a["pid"] != before["pid"] && a["pid"].is_i64()
    });
    eprintln!("restart observed after {took:?}");
    let after = h.agent("a");
    assert!(alive(pid_of(&after)));
    assert_eq!(after["cwd"], before["cwd"]);
    let pane = after["pane"].as_str().unwrap();
    assert_ne!(
        Some(pane),
        before["pane"].as_str(),
        "a fresh pane, not respawn-pane"
    );
    let path = h
        .tmux(&["display-message", "-p", "-t", pane, "#{pane_current_path}"])
        .stdout;
    assert_eq!(path.trim(), dir.display().to_string());
    // --env survives the restart
    h.wait_for_shell_prompt(pane);
    h.tmux(&["send-keys", "-t", pane, "-l", "echo mark=$ORC_T_MARK"])
        .ok();
    h.tmux(&["send-keys", "-t", pane, "Enter"]).ok();
    h.wait_until(5, "env var echoed", || {
        h.capture(pane).contains("mark=kept")
    });
    // the last screen was saved before the restart
    let logs = h.orc(&["logs", "a"]).ok().stdout;
    assert!(logs.contains("\"event\":\"exited\""), "{logs}");
    assert!(logs.contains("last saved screen"), "{logs}");
}

#[test]
fn crash_loop_backs_off_then_fails() {
    let h = Harness::new();
    h.supervise();
    let dir = h.workdir("c");
    h.orc(&["spawn", "c", "--cwd", dir.to_str().unwrap(), "--", "bash"])
        .ok();
    let mut pid = pid_of(&h.agent("c"));
    for i in 1..=5 {
        kill9(pid);
        h.wait_until(40, &format!("restart #{i}"), || {
            let a = h.agent("c");
            a["restarts"] == i && a["pid"].as_i64().is_some_and(|p| p != pid)
        });
        pid = pid_of(&h.agent("c"));
    }
    // sixth crash: the budget (5 in 10 minutes) is spent
    kill9(pid);
    h.wait_until(10, "state failed", || h.agent("c")["state"] == "failed");
    std::thread::sleep(Duration::from_millis(1500));
    let c = h.agent("c");
    assert_eq!(c["state"], "failed");
    assert_eq!(c["restarts"], 5, "no sixth restart");
    assert!(
        c["note"].as_str().unwrap_or("").contains("orc restart c"),
        "note says what to do: {c}"
    );
    // The delays grew. Measured in the agent's own journal, from noticing the
    // death to the new pane, so tmux's 1 s death-notice tick does not blur it.
    let journal =
        std::fs::read_to_string(h.path().join("state/logs/agents/c/events.jsonl")).unwrap();
    let mut exited = vec![];
    let mut restarted = vec![];
    for line in journal.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(v["at"].as_str().unwrap()).unwrap();
        match v["event"].as_str().unwrap() {
            "exited" => exited.push(at),
            "restarted" => restarted.push(at),
            _ => {}
        }
    }
    assert_eq!(exited.len(), 6, "{journal}");
    assert_eq!(restarted.len(), 5, "{journal}");
    let gaps: Vec<i64> = exited
        .iter()
        .zip(&restarted)
        .map(|(e, r)| (*r - *e).num_milliseconds())
        .collect();
    eprintln!("death-to-restart delays (ms): {gaps:?}");
    for (i, w) in gaps.windows(2).enumerate() {
        assert!(w[1] > w[0], "restart delays must grow: {gaps:?} (at {i})");
    }
    assert!(
        gaps[0] >= 500 && gaps[4] >= 8000,
        "0.5 s doubling to 8 s: {gaps:?}"
    );
    assert!(journal.contains("\"event\":\"failed\""), "{journal}");
    // `orc restart` brings a failed agent back
    h.orc(&["restart", "c"]).ok();
    h.wait_until(10, "manual restart", || {
        let a = h.agent("c");
        a["restarts"] == 6 && a["state"] != "failed" && a["pid"].as_i64().is_some_and(alive)
    });
}

/// A command that dies at once (before orc first looks at its pane) is
/// restarted with the growing delays like any other, and ends `failed`, with
/// a notification, once the budget is spent.
fn instant_death_backs_off_then_fails(command: &[&str]) {
    let h = Harness::new();
    h.supervise();
    let dir = h.workdir("f");
    let mut args = vec!["spawn", "f", "--cwd", dir.to_str().unwrap(), "--"];
    args.extend_from_slice(command);
    h.orc(&args).ok();
    h.wait_until(40, "f failed", || h.agent("f")["state"] == "failed");
    std::thread::sleep(Duration::from_millis(1500));
    let a = h.agent("f");
    assert_eq!(a["state"], "failed", "{a}");
    assert_eq!(a["restarts"], 5, "the whole budget, no more: {a}");
    let journal =
        std::fs::read_to_string(h.path().join("state/logs/agents/f/events.jsonl")).unwrap();
    let mut exited = vec![];
    let mut restarted = vec![];
    for line in journal.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(v["at"].as_str().unwrap()).unwrap();
        match v["event"].as_str().unwrap() {
            "exited" => exited.push(at),
            "restarted" => restarted.push(at),
            _ => {}
        }
    }
    assert_eq!(restarted.len(), 5, "{journal}");
    let gaps: Vec<i64> = exited
        .iter()
        .zip(&restarted)
        .map(|(e, r)| (*r - *e).num_milliseconds())
        .collect();
    eprintln!("{command:?}: death-to-restart delays (ms): {gaps:?}");
    for w in gaps.windows(2) {
        assert!(w[1] > w[0], "restart delays must grow: {gaps:?}");
    }
    assert!(
        gaps[0] >= 500 && gaps[4] >= 8000,
        "0.5 s doubling to 8 s: {gaps:?}"
    );
    let notes = std::fs::read_to_string(h.path().join("state/logs/notifications.jsonl"))
        .unwrap_or_default();
    assert!(
        notes.lines().any(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["agent"] == "f" && v["event"] == "failed"
        }),
        "a human is told: {notes}"
    );
}

#[test]
fn instant_death_of_bin_false_backs_off_then_fails_with_a_notification() {
    instant_death_backs_off_then_fails(&["/bin/false"]);
}

#[test]
fn instant_death_of_sh_exit_1_backs_off_then_fails_with_a_notification() {
    instant_death_backs_off_then_fails(&["sh", "-c", "exit 1"]);
}

#[test]
fn supervisor_kill9_then_readopts_same_panes_and_pids() {
    let h = Harness::new();
    h.supervise();
    h.spawn_sim("s1");
    let dir = h.workdir("b1");
    h.orc(&["spawn", "b1", "--cwd", dir.to_str().unwrap(), "--", "bash"])
        .ok();
    h.wait_until(10, "s1 idle", || h.agent("s1")["state"] == "idle");
    let before: Vec<Value> = h.ps();
    let sup = h.supervisor_pid().expect("pid file");
    kill9(sup as i64);
    h.wait_until(5, "supervisor gone", || !alive(sup as i64));
    for a in &before {
        assert!(
            alive(pid_of(a)),
            "agent {} survives the supervisor",
            a["name"]
        );
    }
    // a stale socket and pid file are left behind; a new supervisor copes
    h.supervise();
    let after = h.ps();
    assert_eq!(after.len(), before.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a["name"], b["name"]);
        assert_eq!(a["pane"], b["pane"], "same pane for {}", a["name"]);
        assert_eq!(a["pid"], b["pid"], "same pid for {}", a["name"]);
        assert_eq!(a["restarts"], b["restarts"], "no restart for {}", a["name"]);
    }
    // no duplicate windows: one per agent plus orc's keeper window
    let windows = h
        .tmux(&["list-windows", "-a", "-F", "#{window_name}"])
        .stdout;
    assert_eq!(windows.lines().count(), before.len() + 1, "{windows}");
    // the adopted agent is really supervised: output flows and death is noticed
    h.orc(&["send", "s1", "after the restart"]).ok();
    h.wait_until(10, "reply on the adopted agent", || {
        h.capture(before[1]["pane"].as_str().unwrap())
            .contains("Done: after the restart")
    });
    kill9(pid_of(&after[0]));
    h.wait_until(5, "adopted agent restarted", || {
        h.agent("b1")["restarts"] == 1
    });
}

#[test]
fn pane_killed_behind_orcs_back_is_restarted() {
    let h = Harness::new();
    h.supervise();
    h.spawn_sim("k");
    let before = h.agent("k");
    h.tmux(&["kill-pane", "-t", before["pane"].as_str().unwrap()])
        .ok();
    h.wait_until(5, "restart after kill-pane", || {
        let a = h.agent("k");
        a["restarts"] == 1 && a["pane"] != before["pane"] && a["pid"].as_i64().is_some_and(alive)
    });
}

#[test]
fn readoption_restarts_missing_panes_and_reports_strangers() {
    let h = Harness::new();
    h.supervise();
    h.spawn_sim("gone");
    h.spawn_sim("stays");
    h.orc(&["stop"]).ok();
    let gone = h.ps_after_restart_prep();
    // while orc is down: one agent's window is closed, a stranger is tagged
    h.tmux(&["kill-pane", "-t", gone["pane"].as_str().unwrap()])
        .ok();
    h.tmux(&[
        "new-window",
        "-d",
        "-t",
        "orc:",
        "-n",
        "stranger",
        "sleep 600",
    ])
    .ok();
    let stranger = h
        .tmux(&["list-panes", "-a", "-F", "#{pane_id} #{window_name}"])
        .stdout;
    let stranger = stranger
        .lines()
        .find(|l| l.ends_with(" stranger"))
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    h.tmux(&["set-option", "-p", "-t", &stranger, "@orc_agent", "ghost"])
        .ok();
    h.supervise();
    let g = h.agent("gone");
    assert_eq!(g["restarts"], 1);
    assert_ne!(g["pane"], gone["pane"]);
    assert_eq!(h.agent("stays")["restarts"], 0);
    let table = h.orc(&["ps"]).ok().stdout;
    assert!(
        table.contains(&format!("pane {stranger} is tagged for agent `ghost`")),
        "{table}"
    );
    // the stranger was left alone
    assert!(
        h.tmux(&["display-message", "-p", "-t", &stranger, "#{pane_dead}"])
            .stdout
            .trim()
            == "0"
    );
}

impl Harness {
    /// The record of `gone` as saved on disk (the supervisor is stopped).
    fn ps_after_restart_prep(&self) -> Value {
        let text = std::fs::read_to_string(self.path().join("state/agents.json")).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        v["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "gone")
            .unwrap()
            .clone()
    }
}

#[test]
fn stop_leaves_agents_running_and_tmux_up() {
    let h = Harness::new();
    h.supervise();
    h.spawn_sim("s");
    let a = h.agent("s");
    h.orc(&["stop"]).ok();
    assert!(alive(pid_of(&a)));
    assert_eq!(
        h.tmux(&[
            "display-message",
            "-p",
            "-t",
            a["pane"].as_str().unwrap(),
            "#{pane_dead}"
        ])
        .stdout
        .trim(),
        "0"
    );
    h.orc(&["ps"])
        .fails_with("no supervisor running; start it with `orc supervise --detach`");
}

#[test]
fn send_types_text_literally_and_submits_it() {
    let h = Harness::new();
    h.supervise();
    h.spawn_sim("s");
    h.wait_until(10, "idle", || h.agent("s")["state"] == "idle");
    let pane = h.agent("s")["pane"].as_str().unwrap().to_string();
    let tricky = r#"$(touch /tmp/orc-pwned) "dq" 'sq' ; #hash \back ❯ ünï"#;
    h.orc(&["send", "s", tricky]).ok();
    h.wait_until(10, "reply", || h.capture(&pane).contains("● Done:"));
    let screen = h.capture(&pane);
    assert!(
        screen.contains(&format!("> {tricky}")),
        "typed verbatim: {screen}"
    );
    assert!(
        !std::path::Path::new("/tmp/orc-pwned").exists(),
        "no shell ran the text"
    );
    // multi-line text goes in as one paste and one submission
    h.orc(&["send", "s", "line one\nline two\nline three"]).ok();
    h.wait_until(10, "multi-line reply", || {
        h.capture(&pane).contains("> line one (+2 lines)")
    });
    // busy while working, idle after
    h.orc(&["send", "s", "orc-sim:work=2"]).ok();
    h.wait_until(3, "busy", || h.agent("s")["state"] == "busy");
    h.wait_until(6, "idle again", || h.agent("s")["state"] == "idle");
    // an agent that is not there
    h.orc(&["send", "nobody", "hi"])
        .fails_with("no agent named `nobody`");
}

#[test]
fn a_panicking_agent_actor_does_not_take_the_daemon_down() {
    let h = Harness::new();
    h.supervise();
    h.spawn_sim("p");
    h.spawn_sim("q");
    let before = h.agent("p");
    h.orc(&["debug-panic", "p"]).ok();
    std::thread::sleep(Duration::from_millis(500));
    let after = h.agent("p");
    // a new actor adopted the same pane: no restart of the process
    assert_eq!(after["pane"], before["pane"]);
    assert_eq!(after["pid"], before["pid"]);
    assert!(h.supervisor_pid().is_some_and(|p| alive(p as i64)));
    // and it still supervises: a reply shows up, and q was never disturbed
    h.orc(&["send", "p", "still there"]).ok();
    h.wait_until(10, "reply after panic", || {
        h.capture(after["pane"].as_str().unwrap())
            .contains("Done: still there")
    });
    assert_eq!(h.agent("q")["restarts"], 0);
}

#[test]
fn kill_forgets_the_agent_and_closes_its_window() {
    let h = Harness::new();
    h.supervise();
    h.spawn_sim("x");
    let a = h.agent("x");
    h.orc(&["kill", "x"]).ok();
    assert!(h.ps().is_empty());
    let panes = h.tmux(&["list-panes", "-a", "-F", "#{pane_id}"]).stdout;
    assert!(
        !panes.lines().any(|p| Some(p) == a["pane"].as_str()),
        "pane is gone: {panes}"
    );
    h.wait_until(5, "process gone", || !alive(pid_of(&a)));
    // the name can be used again
    h.spawn_sim("x");
}

#[test]
fn orcs_screen_matches_tmux_and_follows_resizes() {
    let h = Harness::new();
    h.supervise();
    h.spawn_sim("v");
    h.wait_until(10, "idle", || h.agent("v")["state"] == "idle");
    let pane = h.agent("v")["pane"].as_str().unwrap().to_string();
    h.orc(&["send", "v", "draw something ❯ ünï"]).ok();
    h.wait_until(10, "reply", || {
        h.capture(&pane).contains("Done: draw something")
    });
    h.wait_until(5, "orc's screen equals tmux's", || {
        let ours = h.orc(&["screen", "v"]).ok().stdout;
        let theirs = h.capture(&pane);
        let ours: Vec<&str> = ours
            .lines()
            .skip(1)
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect();
        let theirs: Vec<&str> = theirs
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect();
        ours == theirs
    });
    assert!(h.orc(&["screen", "v"]).stdout.starts_with("# 120x40"));
    let window = h
        .tmux(&["display-message", "-p", "-t", &pane, "#{window_id}"])
        .stdout;
    h.tmux(&["resize-window", "-t", window.trim(), "-x", "90", "-y", "30"])
        .ok();
    h.wait_until(5, "screen resized", || {
        h.orc(&["screen", "v"]).stdout.starts_with("# 90x30")
    });
}

#[test]
fn tmux_server_killed_behind_orcs_back_brings_agents_back() {
    let h = Harness::new();
    h.supervise();
    h.spawn_sim("z");
    let before = h.agent("z");
    h.tmux(&["kill-server"]).ok();
    h.wait_until(10, "agent back on a new server", || {
        let a = h.agent("z");
        a["restarts"] == 1 && a["pid"] != before["pid"] && a["pid"].as_i64().is_some_and(alive)
    });
    // and it is supervised on the new connection
    h.orc(&["send", "z", "on the new server"]).ok();
    h.wait_until(10, "reply", || {
        h.capture(h.agent("z")["pane"].as_str().unwrap())
            .contains("Done: on the new server")
    });
}

/// The `restarted` instants in an agent's journal.
fn restarted_at(h: &Harness, name: &str) -> Vec<chrono::DateTime<chrono::FixedOffset>> {
    events_at(h, name, "restarted")
}

/// The instants of one kind of event in an agent's journal.
fn events_at(h: &Harness, name: &str, event: &str) -> Vec<chrono::DateTime<chrono::FixedOffset>> {
    let journal = std::fs::read_to_string(
        h.path()
            .join(format!("state/logs/agents/{name}/events.jsonl")),
    )
    .unwrap_or_default();
    journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == event)
        .map(|v| chrono::DateTime::parse_from_rfc3339(v["at"].as_str().unwrap()).unwrap())
        .collect()
}

/// Spawn a sim agent that starts logged out once `flag` exists.
fn spawn_sim_with_login(h: &Harness, name: &str, flag: &std::path::Path) {
    let dir = h.workdir(name);
    let mut args: Vec<String> = [
        "spawn",
        name,
        "--cwd",
        dir.to_str().unwrap(),
        "--profile",
        "sim",
        "--",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(h.sim_command());
    args.extend(["--auth-fail-if".to_string(), flag.display().to_string()]);
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    h.orc(&refs).ok();
}

/// A tmux server death takes the whole team: it comes back one agent at a
/// time, each at its prompt before the next starts.
#[test]
fn after_a_tmux_server_death_the_team_comes_back_one_at_a_time() {
    let h = Harness::new();
    h.supervise();
    let names = ["a", "b", "c"];
    for n in names {
        h.spawn_sim(n);
    }
    for n in names {
        h.wait_until(10, &format!("{n} idle"), || h.agent(n)["state"] == "idle");
    }
    h.tmux(&["kill-server"]).ok();
    h.wait_until(40, "the team back at its prompts", || {
        names.iter().all(|n| {
            let a = h.agent(n);
            a["restarts"] == 1 && a["state"] == "idle"
        })
    });
    let mut starts: Vec<_> = names.iter().map(|n| restarted_at(&h, n)[0]).collect();
    starts.sort();
    let gaps: Vec<i64> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds())
        .collect();
    eprintln!("gaps between restarts (ms): {gaps:?}");
    // Each waited for the one before to reach its prompt, then the 1 s spacing.
    assert!(gaps.iter().all(|g| *g >= 1000), "one at a time: {gaps:?}");
    // and every agent is supervised on the new server
    h.orc(&["send", "c", "on the new server"]).ok();
    h.wait_until(10, "reply", || {
        h.capture(h.agent("c")["pane"].as_str().unwrap())
            .contains("Done: on the new server")
    });
}

/// The first agent of a fleet restart that comes back logged out stops the
/// line (restarting the others would fork the shared login) and a human is
/// told; `orc restart` of it lets the line go on.
#[test]
fn a_fleet_restart_stops_at_the_first_agent_back_logged_out() {
    let h = Harness::new();
    h.supervise();
    let flag = h.path().join("logged-out");
    let names = ["a", "b", "c"];
    for n in names {
        spawn_sim_with_login(&h, n, &flag);
    }
    for n in names {
        h.wait_until(10, &format!("{n} idle"), || h.agent(n)["state"] == "idle");
    }
    std::fs::write(&flag, "").unwrap();
    h.tmux(&["kill-server"]).ok();
    h.wait_until(20, "one agent back, logged out", || {
        names.iter().any(|n| h.agent(n)["state"] == "auth_failed")
    });
    let first = *names
        .iter()
        .find(|n| h.agent(n)["state"] == "auth_failed")
        .unwrap();
    // The others stay down, however long.
    std::thread::sleep(Duration::from_secs(4));
    for n in names.iter().filter(|n| **n != first) {
        assert!(restarted_at(&h, n).is_empty(), "{n} was not restarted");
        assert_eq!(h.agent(n)["state"], "restarting", "{}", h.agent(n));
    }
    let notes = std::fs::read_to_string(h.path().join("state/logs/notifications.jsonl"))
        .unwrap_or_default();
    assert!(
        notes.lines().any(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["agent"] == first && v["event"] == "restarts_paused"
        }),
        "{notes}"
    );
    let ps = h.orc(&["ps"]).ok().stdout;
    assert!(ps.contains("restarts paused"), "{ps}");
    // A person logs it in and restarts it: the line goes on.
    std::fs::remove_file(&flag).unwrap();
    h.orc(&["restart", first]).ok();
    h.wait_until(30, "the team back", || {
        names.iter().all(|n| h.agent(n)["state"] == "idle")
    });
}

#[test]
fn dialogs_are_answered_by_policy_and_only_by_policy() {
    let h = Harness::new();
    h.supervise();
    h.spawn_sim("careful");
    let dir = h.workdir("bold");
    let mut args = vec![
        "spawn",
        "bold",
        "--cwd",
        dir.to_str().unwrap(),
        "--profile",
        "sim",
        "--auto-approve",
        "--",
    ];
    let cmd = h.sim_command();
    args.extend(cmd.iter().map(|s| s.as_str()));
    h.orc(&args).ok();
    for n in ["careful", "bold"] {
        h.wait_until(10, "idle", || h.agent(n)["state"] == "idle");
        h.orc(&["send", n, "orc-sim:permission"]).ok();
    }
    // without --auto-approve the prompt waits for a human, and says so
    h.wait_until(10, "awaiting_permission", || {
        h.agent("careful")["state"] == "awaiting_permission"
    });
    // with it, orc presses 1 and the agent goes on
    let bold_pane = h.agent("bold")["pane"].as_str().unwrap().to_string();
    h.wait_until(10, "auto-approved", || {
        h.capture(&bold_pane).contains("● Ran the command.")
    });
    std::thread::sleep(Duration::from_millis(800));
    let careful = h.agent("careful");
    assert_eq!(careful["state"], "awaiting_permission");
    assert_eq!(careful["note"], "dialog: permission");
    assert!(!h
        .capture(careful["pane"].as_str().unwrap())
        .contains("Ran the command."));
    // a message meanwhile is held, not typed into the dialog
    let cpane = careful["pane"].as_str().unwrap().to_string();
    h.orc(&["send", "careful", "held back"]).ok();
    std::thread::sleep(Duration::from_millis(800));
    assert!(!h.capture(&cpane).contains("held back"));
    assert_eq!(h.agent("careful")["queue"], 1);
    // once a human answers, it is delivered
    h.tmux(&["send-keys", "-t", &cpane, "1"]).ok();
    h.wait_until(10, "held message delivered", || {
        h.capture(&cpane).contains("> held back")
    });
    h.wait_until(5, "queue empty", || h.agent("careful")["queue"] == 0);

    // the usage-limit menu is answered "wait" and the reset time is read
    h.orc(&["send", "bold", "orc-sim:limit"]).ok();
    h.wait_until(10, "limited", || h.agent("bold")["state"] == "limited");
    let journal =
        std::fs::read_to_string(h.path().join("state/logs/agents/bold/events.jsonl")).unwrap();
    h.wait_until(10, "menu answered", || {
        std::fs::read_to_string(h.path().join("state/logs/agents/bold/events.jsonl"))
            .unwrap()
            .contains("usage_limit_menu: 'Stop and wait for limit to reset' (1 key), dialog gone")
    });
    assert!(
        journal.contains("\"event\":\"dialog-answered\""),
        "{journal}"
    );
    let until = h.agent("bold")["limited_until"]
        .as_str()
        .expect("reset instant")
        .to_string();
    assert!(until.contains("T15:00:00"), "3pm (UTC) is 15:00: {until}");
    let bold = h.agent("bold");
    assert_eq!(
        bold["state"], "limited",
        "still limited after the menu: the banner stays"
    );
    assert!(bold["note"].as_str().unwrap().contains("resets 3pm (UTC)"));
}

#[test]
fn messages_arrive_exactly_once_in_order_across_a_supervisor_crash() {
    let h = Harness::new();
    h.supervise();
    let log = h.spawn_logged("rx", &[]);
    h.wait_until(10, "idle", || h.agent("rx")["state"] == "idle");
    let texts: Vec<String> = (0..16)
        .map(|i| match i % 4 {
            0 => format!("short {i}"),
            1 => format!("multi {i}\nsecond line\nthird line with $HOME; `id` and \"quotes\""),
            2 => format!("long {i} {}", "x".repeat(3000)),
            _ => format!("unicode {i} ❯ ünï 😀 'single' $(echo no)"),
        })
        .collect();
    for t in &texts {
        let out = h.orc(&["send", "rx", t, "--from", "tester"]).ok();
        assert!(out.stdout.starts_with("queued "), "{}", out.stdout);
    }
    let received = || h.received(&log);
    // crash the supervisor while deliveries are under way
    h.wait_until(60, "a few delivered", || received().len() >= 4);
    kill9(h.supervisor_pid().unwrap() as i64);
    std::thread::sleep(Duration::from_millis(300));
    h.supervise();
    h.wait_until(120, "all delivered", || received().len() >= texts.len());
    std::thread::sleep(Duration::from_secs(2));
    let got = received();
    assert_eq!(got, texts, "each message exactly once, whole, in order");
    assert_eq!(h.agent("rx")["queue"], 0);
    let listed = h.orc(&["messages", "--agent", "rx", "--json"]).ok().stdout;
    let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.len(), texts.len());
    assert!(
        listed
            .iter()
            .all(|m| m["status"] == "delivered" && m["from"] == "tester"),
        "{listed:?}"
    );
}

#[test]
fn bad_messages_are_refused_with_reasons() {
    let h = Harness::new();
    h.supervise();
    h.spawn_sim("rx");
    h.orc(&["send", "rz", "hi"])
        .fails_with("no agent named `rz`; did you mean rx?");
    h.orc(&["send", "rx", "   \n"])
        .fails_with("the message is empty");
    h.orc(&["send", "rx", "\u{1b}[31m\u{7}"])
        .fails_with("the message is empty");
    h.orc(&["send", "rx", &"y".repeat(70_000)])
        .fails_with("the limit is 65536");
    h.orc(&["send", "rx", "me", "--from", "rx"])
        .fails_with("cannot send a message to itself");
    // escape sequences are stripped; the text arrives
    h.wait_until(10, "idle", || h.agent("rx")["state"] == "idle");
    h.orc(&[
        "send",
        "rx",
        "plain \u{1b}[1mbold\u{1b}[0m text",
        "--wait",
        "--timeout",
        "30",
    ])
    .ok();
    let pane = h.agent("rx")["pane"].as_str().unwrap().to_string();
    assert!(h.capture(&pane).contains("> plain bold text"));
}

fn spawn_role(h: &Harness, name: &str, role: &str) -> std::path::PathBuf {
    h.spawn_logged(name, &["--role", role, "--project", "shop"])
}

#[test]
fn hub_and_spoke_routing_reroutes_and_copies() {
    let h = Harness::new();
    h.supervise();
    let boss = spawn_role(&h, "boss", "orchestrator");
    let pm = spawn_role(&h, "pm", "project_manager");
    let dev = spawn_role(&h, "dev", "developer");
    let ops = spawn_role(&h, "ops", "devops");
    for n in ["boss", "pm", "dev", "ops"] {
        h.wait_until(15, "idle", || h.agent(n)["state"] == "idle");
    }
    // developer -> devops is outside the default policy: rerouted via the hub
    h.orc(&[
        "send",
        "ops",
        "can you restart the staging box",
        "--from",
        "dev",
    ])
    .ok();
    // devops -> project manager is allowed; "complete" copies the hub
    h.orc(&["send", "pm", "deployment complete", "--from", "ops"])
        .ok();
    // developer -> tester lane is not involved; developer -> pm is allowed, no copy
    h.orc(&["send", "pm", "working on the cart page", "--from", "dev"])
        .ok();
    h.wait_until(30, "hub got two", || h.received(&boss).len() >= 2);
    h.wait_until(30, "pm got two", || h.received(&pm).len() >= 2);
    std::thread::sleep(Duration::from_secs(2));
    let b = h.received(&boss);
    assert!(
        b.iter().any(
            |t| t.starts_with("[orc: rerouted: dev (developer) wrote to ops (devops)]")
                && t.ends_with("can you restart the staging box")
        ),
        "{b:?}"
    );
    assert!(
        b.iter()
            .any(|t| t.starts_with("[orc: copy: ops wrote to pm]")
                && t.ends_with("deployment complete")),
        "{b:?}"
    );
    assert_eq!(
        b.len(),
        2,
        "no copy of a message without critical words: {b:?}"
    );
    assert!(
        h.received(&ops).is_empty(),
        "the rerouted message did not reach ops"
    );
    assert_eq!(
        h.received(&pm),
        vec![
            "deployment complete".to_string(),
            "working on the cart page".to_string()
        ]
    );
    assert!(h.received(&dev).is_empty());
    // the journals, laid out per project and day
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let dir = h
        .path()
        .join("state/projects/shop/logs/communications")
        .join(day);
    let violations = std::fs::read_to_string(dir.join("violations.jsonl")).unwrap();
    let v: Vec<Value> = violations
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v.len(), 1, "{violations}");
    assert_eq!(
        (
            v[0]["from"].as_str(),
            v[0]["to"].as_str(),
            v[0]["action"].as_str()
        ),
        (Some("dev"), Some("ops"), Some("reroute"))
    );
    let messages = std::fs::read_to_string(dir.join("messages.jsonl")).unwrap();
    let kinds: Vec<String> = messages
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kinds, vec!["reroute", "message", "copy", "message"]);
}

/// Crash the supervisor at exact points of a delivery (test hook) and check
/// that every message still arrives exactly once.
#[test]
fn crash_at_each_delivery_step_still_delivers_exactly_once() {
    for (step, expect) in [
        ("typed", "in the composer; pressing Enter"),
        ("entering", "in the composer; pressing Enter"),
        ("entered", "submitted before the restart"),
    ] {
        let mut h = Harness::new();
        h.supervise();
        let log = h.spawn_logged("rx", &[]);
        h.wait_until(10, "idle", || h.agent("rx")["state"] == "idle");
        // restart the supervisor armed to abort at the 2nd message's step
        h.orc(&["stop"]).ok();
        h.extra_env
            .push(("ORC_TEST_CRASH_AT".into(), format!("{step}:2")));
        h.supervise();
        let texts: Vec<String> = (0..4)
            .map(|i| format!("{step} message {i}\nline two"))
            .collect();
        for t in &texts {
            h.orc(&["send", "rx", t]).ok();
        }
        let pid = h.supervisor_pid().unwrap() as i64;
        h.wait_until(30, "the supervisor aborted at the hook", || {
            !common::alive(pid)
        });
        h.extra_env.retain(|(k, _)| k != "ORC_TEST_CRASH_AT");
        h.supervise();
        let received = || h.received(&log);
        h.wait_until(60, "all four", || received().len() >= 4);
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(
            received(),
            texts,
            "crash at {step}: each exactly once, in order"
        );
        let events =
            std::fs::read_to_string(h.path().join("state/logs/agents/rx/events.jsonl")).unwrap();
        assert!(events.contains("message-recovered"), "{events}");
        assert!(events.contains(expect), "crash at {step}: {events}");
    }
}

#[test]
fn reports_reach_the_hub_and_dependents_and_tasks_use_the_template() {
    let h = Harness::new();
    h.supervise();
    let boss = spawn_role(&h, "boss", "orchestrator");
    let pm = spawn_role(&h, "pm", "project_manager");
    let dev = spawn_role(&h, "dev", "developer");
    let qa = spawn_role(&h, "qa", "tester");
    for n in ["boss", "pm", "dev", "qa"] {
        h.wait_until(15, "idle", || h.agent(n)["state"] == "idle");
    }
    // a report from outside any agent is refused
    h.orc(&["report", "done", "x"])
        .fails_with("`orc report` is for agents");
    let out = h
        .orc(&[
            "report",
            "done",
            "login form merged; EVENT_ROUTER_ENABLED=true",
            "--from",
            "dev",
        ])
        .ok();
    assert!(
        out.stdout.contains("notified boss, pm, qa"),
        "{}",
        out.stdout
    );
    let dev_row = h.agent("dev");
    assert_eq!(dev_row["report"]["status"], "done");
    assert_eq!(
        dev_row["report"]["details"],
        "login form merged; EVENT_ROUTER_ENABLED=true"
    );
    h.wait_until(30, "notices delivered", || {
        h.received(&boss).len() == 1 && h.received(&pm).len() == 1 && h.received(&qa).len() == 1
    });
    assert_eq!(
        h.received(&boss)[0],
        "[orc: report] dev (developer) reports DONE: login form merged; EVENT_ROUTER_ENABLED=true"
    );
    assert!(h.received(&qa)[0]
        .starts_with("[orc: dependency] dev (developer), whom your work depends on, reports DONE"));
    assert!(h.received(&dev).is_empty());
    // the report survives a supervisor restart
    h.orc(&["stop"]).ok();
    h.supervise();
    assert_eq!(h.agent("dev")["report"]["status"], "done");
    // a task in the TASK format
    h.orc(&[
        "task",
        "qa",
        "--title",
        "Test the login form",
        "--objective",
        "Cover the happy path",
        "--criteria",
        "all tests pass",
        "--criteria",
        "no flaky test",
        "--priority",
        "high",
        "--id",
        "T-7",
        "--from",
        "pm",
    ])
    .ok();
    h.wait_until(30, "task delivered", || h.received(&qa).len() == 2);
    assert_eq!(
        h.received(&qa)[1],
        "TASK T-7: Test the login form\nAssigned to: qa\nObjective: Cover the happy path\nSuccess criteria:\n- all tests pass\n- no flaky test\nPriority: HIGH"
    );
    // the journal reads back
    let log = h.orc(&["log", "--agent", "qa"]).ok().stdout;
    assert!(
        log.contains("report")
            && log.contains("dev -> qa")
            && log.contains("pm -> qa")
            && log.contains("TASK T-7"),
        "{log}"
    );
    assert!(h
        .orc(&["log", "--since", "1d"])
        .ok()
        .stdout
        .contains("TASK T-7"));
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert!(!h
        .orc(&["log", "--since", &future])
        .ok()
        .stdout
        .contains("TASK T-7"));
    h.orc(&["log", "--since", "yesterday"])
        .fails_with("--since");
}

#[test]
fn demo_runs_to_completion_and_cleans_up() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orc"))
        .arg("demo")
        .env_remove("ORC_HOME")
        .env_remove("ORC_TMUX_SOCKET")
        .env_remove("TMUX")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "spawned dev (developer)",
        "dev crashed and was restarted",
        "\"event\":\"restarted\"",
        "== demo done",
        "supervisor stopped",
    ] {
        assert!(
            stdout.contains(needle),
            "demo output lacks {needle:?}:\n{stdout}"
        );
    }
    // its private server and folder are gone
    let socket = stdout
        .split("tmux socket -L ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("socket named")
        .to_string();
    let alive = std::process::Command::new("tmux")
        .args(["-L", &socket, "has-session"])
        .output()
        .unwrap();
    assert!(!alive.status.success(), "the demo's tmux server still runs");
    let home = stdout
        .split("ORC_HOME=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .expect("home named");
    assert!(
        !std::path::Path::new(home).exists(),
        "the demo's folder is left behind: {home}"
    );
}

/// tmux can wedge: every new control client gets `%exit` at once while the
/// server lives on. orc then polls the panes (said in `orc ps`), keeps
/// supervising, retries control mode, and never kills the server.
#[test]
fn a_wedged_control_mode_falls_back_to_polling_and_recovers() {
    let h = Harness::new();
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v tmux"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let flag = h.path().join("wedged");
    let wrapper = h.path().join("tmux-wedge");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n# control clients get %exit at once while {flag} exists\nfor a in \"$@\"; do\n  if [ \"$a\" = \"-C\" ] && [ -e '{flag}' ]; then echo '%exit'; exit 0; fi\ndone\nexec '{real}' \"$@\"\n",
            flag = flag.display(),
            real = real.trim()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        h.path().join("config.toml"),
        format!("tmux = \"{}\"\n", wrapper.display()),
    )
    .unwrap();
    std::fs::write(&flag, "").unwrap();
    // The server runs before orc connects, as a wedged one would.
    h.tmux(&["new-session", "-d", "-s", "elsewhere"]).ok();
    let server = h.tmux(&["display-message", "-p", "#{pid}"]).stdout;
    h.supervise();
    h.spawn_sim("w");
    h.wait_until(20, "idle while polling", || h.agent("w")["state"] == "idle");
    let ps = h.orc(&["ps"]).ok().stdout;
    assert!(ps.contains("control mode is wedged"), "{ps}");
    let pane = h.agent("w")["pane"].as_str().unwrap().to_string();
    h.orc(&["send", "w", "while polling"]).ok();
    h.wait_until(20, "reply while polling", || {
        h.capture(&pane).contains("Done: while polling")
    });
    // A death is noticed by polling too.
    let before = h.agent("w");
    kill9(pid_of(&before));
    h.wait_until(20, "restarted while polling", || {
        let a = h.agent("w");
        a["restarts"] == 1 && a["pid"] != before["pid"] && a["state"] == "idle"
    });
    // tmux recovers: control mode comes back, the note goes.
    std::fs::remove_file(&flag).unwrap();
    h.wait_until(30, "control mode again", || {
        !h.orc(&["ps"]).ok().stdout.contains("wedged")
    });
    let pane = h.agent("w")["pane"].as_str().unwrap().to_string();
    h.orc(&["send", "w", "back on control mode"]).ok();
    h.wait_until(10, "reply on control mode", || {
        h.capture(&pane).contains("Done: back on control mode")
    });
    assert_eq!(
        h.tmux(&["display-message", "-p", "#{pid}"]).stdout,
        server,
        "the same tmux server throughout"
    );
}

/// The tmux server died while the supervisor was down too (a reboot, a
/// crash of both): the supervisor, starting, brings the team back one agent
/// at a time as well, not all at once.
#[test]
fn a_supervisor_starting_without_its_panes_brings_the_team_back_one_at_a_time() {
    let h = Harness::new();
    h.supervise();
    let names = ["a", "b", "c"];
    for n in names {
        h.spawn_sim(n);
    }
    for n in names {
        h.wait_until(10, &format!("{n} idle"), || h.agent(n)["state"] == "idle");
    }
    kill9(h.supervisor_pid().unwrap() as i64);
    let server: i64 = h
        .tmux(&["display-message", "-p", "#{pid}"])
        .stdout
        .trim()
        .parse()
        .unwrap();
    h.tmux(&["kill-server"]).ok();
    h.wait_until(10, "the old tmux server gone", || !alive(server));
    h.supervise();
    h.wait_until(40, "the team back at its prompts", || {
        names.iter().all(|n| {
            let a = h.agent(n);
            a["restarts"] == 1 && a["state"] == "idle"
        })
    });
    let mut starts: Vec<_> = names
        .iter()
        .map(|n| *events_at(&h, n, "started").last().expect("started"))
        .collect();
    starts.sort();
    let gaps: Vec<i64> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds())
        .collect();
    eprintln!("gaps between restarts (ms): {gaps:?}");
    assert!(gaps.iter().all(|g| *g >= 1000), "one at a time: {gaps:?}");
}
