//! Watching the team: window titles and `orc rename`, transcripts saved on
//! kill and restart, context levels in `orc ps` and the hub told when low.

mod common;

use common::Harness;

#[test]
fn windows_are_titled_by_cli_and_role_and_can_be_renamed() {
    let h = Harness::new();
    h.supervise();
    let log = h.spawn_logged("dev", &["--role", "project_manager"]);
    let _ = log;
    h.wait_until(10, "idle", || h.agent("dev")["state"] == "idle");
    let names = || {
        h.tmux(&["list-windows", "-a", "-F", "#{window_name}"])
            .ok()
            .stdout
    };
    assert!(
        names().lines().any(|l| l == "Sim-ProjectManager"),
        "{}",
        names()
    );
    h.orc(&["rename", "dev", "PM (sprint 3)"]).ok();
    assert!(names().lines().any(|l| l == "PM (sprint 3)"), "{}", names());
    // The title survives a restart.
    h.orc(&["restart", "dev"]).ok();
    h.wait_until(15, "idle again", || h.agent("dev")["state"] == "idle");
    assert!(names().lines().any(|l| l == "PM (sprint 3)"), "{}", names());
    h.orc(&["rename", "dev", ""]).fails_with("1 to 64");
    h.orc(&["rename", "ghost", "x"])
        .fails_with("no agent named");
}

#[test]
fn transcripts_keep_the_whole_scrollback_on_kill_and_restart() {
    let h = Harness::new();
    h.supervise();
    let log = h.spawn_logged("dev", &["--project", "shop"]);
    h.wait_until(10, "idle", || h.agent("dev")["state"] == "idle");
    for i in 0..3 {
        h.orc(&["send", "dev", &format!("transcript line {i}")])
            .ok();
    }
    h.wait_until(15, "three received", || h.received(&log).len() == 3);
    h.wait_until(10, "idle", || h.agent("dev")["state"] == "idle");
    h.orc(&["logs", "dev", "--transcript"])
        .fails_with("no transcript");
    h.orc(&["restart", "dev"]).ok();
    h.wait_until(15, "back", || h.agent("dev")["state"] == "idle");
    let t = h.orc(&["logs", "dev", "--transcript"]).ok().stdout;
    assert!(
        t.starts_with("# transcript of agent dev (role -, project shop)"),
        "{t}"
    );
    assert!(t.contains("reason restart"), "{t}");
    for i in 0..3 {
        assert!(t.contains(&format!("transcript line {i}")), "{t}");
    }
    let dir = h.path().join("state/projects/shop/logs/transcripts/dev");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    h.orc(&["kill", "dev"]).ok();
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    let t = h.orc(&["logs", "dev", "--transcript"]).ok().stdout;
    assert!(t.contains("reason killed"), "{t}");
}

#[test]
fn low_context_shows_in_ps_and_the_hub_hears_once() {
    let h = Harness::new();
    h.supervise();
    let hub = h.spawn_logged("boss", &["--role", "orchestrator", "--project", "p"]);
    let dev = h.spawn_logged("dev", &["--role", "developer", "--project", "p"]);
    h.wait_until(10, "idle", || {
        h.agent("dev")["state"] == "idle" && h.agent("boss")["state"] == "idle"
    });
    h.orc(&["send", "dev", "orc-sim:context=40"]).ok();
    h.wait_until(10, "context shown", || h.agent("dev")["context_left"] == 40);
    assert!(h.orc(&["ps"]).ok().stdout.contains("40%"));
    h.orc(&["send", "dev", "orc-sim:context=9"]).ok();
    h.wait_until(10, "hub told", || {
        h.received(&hub)
            .iter()
            .any(|t| t.contains("dev has 9% context left"))
    });
    // More turns at low context: still one notice.
    h.orc(&["send", "dev", "more work"]).ok();
    h.wait_until(10, "dev got it", || {
        h.received(&dev).iter().any(|t| t == "more work")
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    let notices = h
        .received(&hub)
        .iter()
        .filter(|t| t.contains("context left"))
        .count();
    assert_eq!(notices, 1, "{:?}", h.received(&hub));
}

#[test]
fn a_person_is_notified_when_an_agent_needs_one() {
    let h = Harness::new();
    let out = h.path().join("notified.jsonl");
    std::fs::write(
        h.path().join("config.toml"),
        format!(
            "[notify]\ncommand = [\"sh\", \"-c\", \"cat >> {0}; echo >> {0}; echo \\\" $ORC_EVENT\\\" >> {0}\"]\npermission_minutes = 0.05\n",
            out.display()
        ),
    )
    .unwrap();
    h.supervise();
    h.spawn_logged("careful", &[]);
    h.wait_until(10, "idle", || h.agent("careful")["state"] == "idle");
    h.orc(&["send", "careful", "orc-sim:permission"]).ok();
    h.wait_until(10, "waiting", || {
        h.agent("careful")["state"] == "awaiting_permission"
    });
    // Nobody answers within 3 s: one notification.
    h.wait_until(15, "notified", || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .contains("permission_waiting")
    });
    let text = std::fs::read_to_string(&out).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["agent"], "careful");
    assert_eq!(first["event"], "permission_waiting");
    assert!(
        text.contains(" permission_waiting"),
        "the env var too: {text}"
    );
    std::thread::sleep(std::time::Duration::from_secs(4));
    let n = std::fs::read_to_string(&out)
        .unwrap()
        .matches("\"permission_waiting\"")
        .count();
    assert_eq!(n, 1, "once per prompt");
    // The record is kept even without a command.
    let log = std::fs::read_to_string(h.path().join("state/logs/notifications.jsonl")).unwrap();
    assert!(log.contains("permission_waiting"), "{log}");
}

#[test]
fn uncommitted_work_gets_one_reminder_per_period_and_is_recorded() {
    let h = Harness::new();
    std::fs::write(
        h.path().join("config.toml"),
        "[git]\ninterval_secs = 1\ncommit_limit_minutes = 0.05\nremind_every_minutes = 0.1\n",
    )
    .unwrap();
    h.supervise();
    let log = h.spawn_logged("dev", &[]);
    let wt = h.path().join("work/dev");
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(&wt)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(wt.join("a.txt"), "a\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "first"]);
    // A change that has sat uncommitted for an hour.
    let f = wt.join("work.rs");
    std::fs::write(&f, "fn main() {}\n").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let reminders = |h: &Harness| {
        h.received(&log)
            .iter()
            .filter(|t| t.contains("uncommitted"))
            .count()
    };
    h.wait_until(15, "a reminder", || reminders(&h) >= 1);
    let first = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        reminders(&h),
        1,
        "not again within the 6 s period: {:?}",
        h.received(&log)
    );
    h.wait_until(15, "the second, a period later", || reminders(&h) >= 2);
    assert!(first.elapsed() >= std::time::Duration::from_secs(4));
    assert_eq!(
        h.agent("dev")["uncommitted"],
        1,
        "orc ps shows the uncommitted file"
    );
    assert!(h.agent("dev")["last_commit"].is_string());
    // Committing ends it.
    git(&["add", "."]);
    git(&["commit", "-qm", "work"]);
    let n = reminders(&h);
    std::thread::sleep(std::time::Duration::from_secs(8));
    assert!(
        reminders(&h) <= n + 1,
        "at most one already on its way: {:?}",
        h.received(&log)
    );
    // Records and the table.
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let rec = std::fs::read_to_string(
        h.path()
            .join(format!("state/logs/git-activity/{day}/dev.jsonl")),
    )
    .unwrap();
    assert!(rec.lines().count() >= 3, "{rec}");
    let t = h.orc(&["git"]).ok().stdout;
    assert!(t.contains("dev") && t.contains("main"), "{t}");
    h.orc(&["git", "--project", "nope"])
        .fails_with("no agents in project");
}
