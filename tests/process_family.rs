//! An agent's whole process family ends with its pane (`src/procs.rs`): a
//! real tmux pane runs a script that double-forks `setsid` daemons (as
//! Codex's TUI starts `codex app-server`), and a restart, `orc kill`, or an
//! adoption that finds the pane gone leaves none of them behind, while a
//! process that only looks like the agent's (same `ORC_AGENT`, another
//! launch's marker) is left alone.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use common::{alive, kill9, Harness};

/// Two daemons per launch, each out of the pane's session (double fork +
/// `setsid`): one that ends on SIGTERM, one that ignores it (SIGKILL after
/// the grace). Their pids are appended to `daemons.txt`.
const SCRIPT: &str = r#"#!/bin/sh
( setsid sh -c 'echo $$ >> daemons.txt; exec sleep 1000' & )
( setsid sh -c 'trap "" TERM; echo $$ >> daemons.txt; exec sleep 1000' & )
echo pane up
exec sleep 1000
"#;

/// Running, not a zombie (orphans' zombies may wait for a reaper here).
fn running(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_some_and(|st| st != "Z" && st != "X"),
        Err(_) => false,
    }
}

fn session_of(pid: i64) -> Option<i64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 1..]
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

fn environ(pid: i64) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .map(|kv| String::from_utf8_lossy(kv).into_owned())
        .collect()
}

fn daemons(dir: &Path) -> Vec<i64> {
    std::fs::read_to_string(dir.join("daemons.txt"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// An agent `a` running the script; waits for its two daemons.
fn spawn_forker(h: &Harness) -> (std::path::PathBuf, Vec<i64>) {
    let dir = h.workdir("a");
    std::fs::write(dir.join("forker.sh"), SCRIPT).unwrap();
    h.orc(&[
        "spawn",
        "a",
        "--cwd",
        dir.to_str().unwrap(),
        "--",
        "/bin/sh",
        "forker.sh",
    ])
    .ok();
    h.wait_until(10, "two daemons", || daemons(&dir).len() == 2);
    let ds = daemons(&dir);
    let pane_pid = h.agent("a")["pid"].as_i64().unwrap();
    for d in &ds {
        assert!(running(*d), "daemon {d} runs");
        assert_ne!(
            session_of(*d),
            session_of(pane_pid),
            "{d} left the pane's session"
        );
        let env = environ(*d);
        assert!(env.iter().any(|e| e == "ORC_AGENT=a"), "{env:?}");
        assert!(env.iter().any(|e| e.starts_with("ORC_LAUNCH=")), "{env:?}");
    }
    (dir, ds)
}

/// A user's process that carries `ORC_AGENT=a` and another launch's marker.
fn stranger() -> Child {
    Command::new("sleep")
        .arg("1000")
        .env("ORC_AGENT", "a")
        .env("ORC_LAUNCH", "00112233445566778899aabbccddeeff")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Whatever the test started ends with it, pass or fail: the stranger and
/// every daemon the script wrote down (the harness ends only panes).
struct Cleanup {
    dir: std::path::PathBuf,
    stranger: Child,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.stranger.kill();
        let _ = self.stranger.wait();
        for d in daemons(&self.dir) {
            if running(d) && environ(d).iter().any(|e| e == "ORC_AGENT=a") {
                kill9(d);
            }
        }
    }
}

fn events(h: &Harness) -> String {
    std::fs::read_to_string(h.path().join("state/logs/agents/a/events.jsonl")).unwrap_or_default()
}

#[test]
fn a_restart_and_a_kill_leave_no_process_of_the_launch_behind() {
    let h = Harness::new();
    h.supervise();
    let other = stranger();
    let (dir, first) = spawn_forker(&h);
    let c = Cleanup {
        dir: dir.clone(),
        stranger: other,
    };
    h.orc(&["restart", "a"]).ok();
    let took = h.wait_until(20, "the first launch's daemons ended", || {
        first.iter().all(|d| !running(*d))
    });
    // The one that ignores SIGTERM needs the grace (3 s) and SIGKILL.
    assert!(took >= Duration::from_secs(2), "{took:?}");
    h.wait_until(10, "the new launch's daemons", || daemons(&dir).len() == 4);
    let second: Vec<i64> = daemons(&dir)[2..].to_vec();
    assert!(second.iter().all(|d| running(*d)), "the new launch runs");
    let log = events(&h);
    assert!(log.contains("processes-ended"), "{log}");
    assert!(log.contains("SIGKILL after the grace"), "{log}");

    h.orc(&["kill", "a"]).ok();
    h.wait_until(20, "the second launch's daemons ended", || {
        second.iter().all(|d| !running(*d))
    });
    assert!(
        running(c.stranger.id() as i64),
        "a look-alike process is left alone"
    );
}

#[test]
fn adoption_ends_the_orphans_of_a_pane_killed_while_orc_was_away() {
    let h = Harness::new();
    h.supervise();
    let other = stranger();
    let (dir, first) = spawn_forker(&h);
    let c = Cleanup {
        dir,
        stranger: other,
    };
    let pane = h.agent("a")["pane"].as_str().unwrap().to_string();
    let sup = h.supervisor_pid().expect("pid file");
    kill9(sup as i64);
    h.wait_until(5, "supervisor gone", || !alive(sup as i64));
    h.tmux(&["kill-pane", "-t", &pane]).ok();
    // The daemons outlive their pane.
    std::thread::sleep(Duration::from_millis(300));
    assert!(first.iter().all(|d| running(*d)), "orphans before adoption");
    h.supervise();
    h.wait_until(20, "the orphans ended at adoption", || {
        first.iter().all(|d| !running(*d))
    });
    let log = events(&h);
    assert!(log.contains("orphans-ended"), "{log}");
    assert!(
        running(c.stranger.id() as i64),
        "a look-alike process is left alone"
    );
}
