//! `orc up` / `orc resume` / `orc down` with simulated agents (fast), and the
//! bad inputs of `orc up`. The real Claude Code CLI runs in `e2e_claude.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Harness;
use serde_json::Value;

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A small Python ETL project in a fresh repository, and a spec.
fn project(h: &Harness) -> (PathBuf, PathBuf) {
    let repo = h.workdir("etl");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(repo.join("dags")).unwrap();
    std::fs::write(
        repo.join("requirements.txt"),
        "apache-airflow==2.9\npandas\nsqlalchemy\n",
    )
    .unwrap();
    std::fs::write(repo.join("dags/load.py"), "from airflow import DAG\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "init"]);
    let spec = h.path().join("spec.md");
    std::fs::write(
        &spec,
        "# Nightly load\nLoad the CSVs into the warehouse every night.\n",
    )
    .unwrap();
    (repo, spec)
}

#[test]
fn up_resume_down_with_simulated_agents() {
    let h = Harness::new();
    h.supervise();
    let (repo, spec) = project(&h);
    let up = h
        .orc(&[
            "up",
            "--project",
            repo.to_str().unwrap(),
            "--spec",
            spec.to_str().unwrap(),
            "--no-ai",
            "--yes",
            "--profile",
            "sim",
            "--plan",
            "pro",
        ])
        .ok();
    assert!(
        up.stdout.contains("looks like data_pipeline"),
        "{}",
        up.stdout
    );
    assert!(up.stdout.contains("plan pro"), "{}", up.stdout);
    let rows = h.ps();
    assert_eq!(rows.len(), 3, "pro allows 3 agents: {rows:?}");
    assert!(rows.iter().any(|r| r["name"] == "etl-orchestrator"));
    for r in &rows {
        let role = r["role"].as_str().unwrap();
        assert!(
            r["cwd"]
                .as_str()
                .unwrap()
                .ends_with(&format!("projects/etl/worktrees/{role}")),
            "{r}"
        );
        assert_eq!(r["project"], "etl");
    }
    // Briefed: each sim got a paste of its briefing, naming itself.
    h.wait_until(30, "briefings typed", || {
        rows.iter().all(|r| {
            let pane = r["pane"].as_str().unwrap_or("");
            !pane.is_empty() && h.capture(pane).contains("Pasted text")
        })
    });
    let jobs = h.orc(&["schedule", "list", "--json"]).ok().stdout;
    let jobs: Vec<Value> = serde_json::from_str(&jobs).unwrap();
    assert_eq!(jobs.len(), 3, "one recurring check-in per agent: {jobs:?}");
    let orch = jobs.iter().find(|j| j["to"] == "etl-orchestrator").unwrap();
    assert_eq!(
        orch["every"], 1200,
        "the orchestrator's role file says 20 minutes"
    );
    // A second up is refused.
    h.orc(&[
        "up",
        "--project",
        repo.to_str().unwrap(),
        "--spec",
        spec.to_str().unwrap(),
        "--no-ai",
        "--yes",
        "--profile",
        "sim",
    ])
    .fails_with("orc resume");
    // Status; then one agent is killed and resume brings it back in its worktree.
    let st = h
        .orc(&[
            "resume",
            "--project",
            repo.to_str().unwrap(),
            "--status-only",
            "--json",
        ])
        .ok()
        .stdout;
    let st: Vec<Value> = serde_json::from_str(&st).unwrap();
    assert!(
        st.iter()
            .all(|r| r["status"] == "active" || r["status"] == "busy"),
        "{st:?}"
    );
    let victim = rows.iter().find(|r| r["role"] != "orchestrator").unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    h.orc(&["kill", &victim]).ok();
    let st = h
        .orc(&[
            "resume",
            "--project",
            repo.to_str().unwrap(),
            "--status-only",
        ])
        .ok()
        .stdout;
    assert!(st.contains("missing"), "{st}");
    let r = h.orc(&["resume", "--project", repo.to_str().unwrap()]).ok();
    assert!(
        r.stdout.contains(&format!("restarted {victim}")),
        "{}",
        r.stdout
    );
    h.wait_until(20, "back", || {
        h.ps().iter().any(|r| r["name"] == victim.as_str())
    });
    // A role joins the running team.
    let r = h
        .orc(&[
            "resume",
            "--project",
            repo.to_str().unwrap(),
            "--add-roles",
            "researcher",
        ])
        .ok();
    assert!(r.stdout.contains("added etl-researcher"), "{}", r.stdout);
    let row = h.agent("etl-researcher");
    assert!(row["cwd"]
        .as_str()
        .unwrap()
        .ends_with("worktrees/researcher"));
    h.orc(&[
        "resume",
        "--project",
        repo.to_str().unwrap(),
        "--add-roles",
        "wizard",
    ])
    .fails_with("unknown role `wizard`");
    // Down keeps the worktrees; --purge removes them.
    h.orc(&["down", "--project", repo.to_str().unwrap()]).ok();
    assert!(h.ps().is_empty());
    let wt = h.path().join("state/projects/etl/worktrees/orchestrator");
    assert!(wt.exists());
    h.orc(&[
        "down",
        "--project",
        repo.to_str().unwrap(),
        "--purge",
        "--yes",
    ])
    .ok();
    assert!(!wt.exists());
    h.orc(&["resume", "--project", repo.to_str().unwrap()])
        .fails_with("no team for");
}

#[test]
fn up_bad_input_is_refused_and_changes_nothing() {
    let h = Harness::new();
    h.supervise();
    let (repo, spec) = project(&h);
    let not_repo = h.workdir("plain");
    let empty = h.path().join("empty.md");
    std::fs::write(&empty, "\n").unwrap();
    let r = repo.to_str().unwrap();
    let s = spec.to_str().unwrap();
    for (args, needle) in [
        (
            vec![
                "up",
                "--project",
                not_repo.to_str().unwrap(),
                "--spec",
                s,
                "--no-ai",
                "--yes",
            ],
            "not a git repository",
        ),
        (
            vec![
                "up",
                "--project",
                r,
                "--spec",
                "/nonexistent/spec.md",
                "--no-ai",
                "--yes",
            ],
            "cannot read the spec",
        ),
        (
            vec![
                "up",
                "--project",
                r,
                "--spec",
                empty.to_str().unwrap(),
                "--no-ai",
                "--yes",
            ],
            "is empty",
        ),
        (
            vec![
                "up",
                "--project",
                r,
                "--spec",
                s,
                "--no-ai",
                "--yes",
                "--team-type",
                "game",
            ],
            "web_application",
        ),
        (
            vec![
                "up",
                "--project",
                r,
                "--spec",
                s,
                "--no-ai",
                "--yes",
                "--roles",
                "wizard",
            ],
            "wizard",
        ),
        (
            vec![
                "up",
                "--project",
                r,
                "--spec",
                s,
                "--no-ai",
                "--yes",
                "--plan",
                "gold",
            ],
            "max5",
        ),
        (
            vec![
                "up",
                "--project",
                r,
                "--spec",
                s,
                "--no-ai",
                "--yes",
                "--size",
                "huge",
            ],
            "enterprise",
        ),
        (
            vec![
                "up",
                "--project",
                r,
                "--spec",
                s,
                "--no-ai",
                "--yes",
                "--profile",
                "nope",
            ],
            "unknown profile",
        ),
        (
            vec![
                "up",
                "--project",
                r,
                "--spec",
                s,
                "--plan-file",
                "/nonexistent.json",
                "--yes",
            ],
            "cannot read --plan-file",
        ),
    ] {
        h.orc(&args).fails_with(needle);
    }
    // The agent CLI missing: say so and offer --no-ai.
    std::fs::write(
        h.path().join("config.toml"),
        "[profiles.claude]\ncommand = \"/nonexistent/claude\"\n",
    )
    .unwrap();
    h.orc(&["up", "--project", r, "--spec", s, "--yes"])
        .fails_with("--no-ai");
    // A plan that fails the schema names the problems.
    let bad = h.path().join("plan.json");
    std::fs::write(
        &bad,
        r#"{"project_type":"game","size":"small","phases":[],"roles":[],"success_criteria":[]}"#,
    )
    .unwrap();
    h.orc(&[
        "up",
        "--project",
        r,
        "--spec",
        s,
        "--plan-file",
        bad.to_str().unwrap(),
        "--yes",
    ])
    .fails_with("project_type \"game\"");
    // Without --yes and without a terminal it asks for --yes.
    h.orc(&[
        "up",
        "--project",
        r,
        "--spec",
        s,
        "--no-ai",
        "--profile",
        "sim",
    ])
    .fails_with("--yes");
    assert!(h.ps().is_empty(), "nothing started");
    assert!(!h.path().join("state/projects/etl/team.json").exists());
}

/// The briefings orc queued for each agent, by agent.
fn briefings(h: &Harness) -> std::collections::BTreeMap<String, usize> {
    let out = h.orc(&["messages", "--json"]).ok().stdout;
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    let mut n = std::collections::BTreeMap::new();
    for r in rows {
        if r["from"] == "orc" {
            *n.entry(r["to"].as_str().unwrap().to_string()).or_insert(0) += 1;
        }
    }
    n
}

fn up_args<'a>(repo: &'a Path, spec: &'a Path) -> Vec<&'a str> {
    vec![
        "up",
        "--project",
        repo.to_str().unwrap(),
        "--spec",
        spec.to_str().unwrap(),
        "--no-ai",
        "--yes",
        "--profile",
        "sim",
        "--plan",
        "pro",
    ]
}

fn team_json(h: &Harness) -> Value {
    serde_json::from_slice(&std::fs::read(h.path().join("state/projects/etl/team.json")).unwrap())
        .unwrap()
}

/// `orc up` killed after starting two of its three agents: `orc up` again
/// starts only the third and briefs each agent exactly once.
#[test]
fn an_interrupted_up_is_finished_by_up_again_without_doubles() {
    let h = Harness::new();
    h.supervise();
    let (repo, spec) = project(&h);
    let out = h
        .cmd()
        .env("ORC_TEST_UP_CRASH", "launched:2")
        .args(up_args(&repo, &spec))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(99), "the hook cut it short");
    assert_eq!(team_json(&h)["agents"].as_array().unwrap().len(), 3);
    let before = h.ps();
    assert_eq!(before.len(), 2, "{before:?}");
    assert!(briefings(&h).is_empty());
    let r = h.orc(&up_args(&repo, &spec)).ok();
    assert!(
        r.stdout.contains("interrupted; finishing it"),
        "{}",
        r.stdout
    );
    let rows = h.ps();
    assert_eq!(rows.len(), 3, "{rows:?}");
    // The two already running were not started again.
    for b in &before {
        let a = rows.iter().find(|r| r["name"] == b["name"]).unwrap();
        assert_eq!(a["pid"], b["pid"], "{a}");
        assert_eq!(a["restarts"], 0, "{a}");
    }
    let n = briefings(&h);
    assert_eq!(n.len(), 3, "{n:?}");
    assert!(n.values().all(|c| *c == 1), "one briefing each: {n:?}");
    assert!(team_json(&h)["agents"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["briefed"] == true));
    // Complete now: a further `orc up` is refused as before.
    h.orc(&up_args(&repo, &spec)).fails_with("orc resume");
}

/// `orc up` killed just after queueing the first briefing, before it could
/// note it: `orc resume` briefs the others, and the first not twice.
#[test]
fn an_up_cut_after_a_briefing_is_finished_by_resume_without_doubles() {
    let h = Harness::new();
    h.supervise();
    let (repo, spec) = project(&h);
    let out = h
        .cmd()
        .env("ORC_TEST_UP_CRASH", "sent:1")
        .args(up_args(&repo, &spec))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(99), "the hook cut it short");
    assert_eq!(h.ps().len(), 3);
    assert_eq!(briefings(&h).values().sum::<usize>(), 1);
    let r = h.orc(&["resume", "--project", repo.to_str().unwrap()]).ok();
    assert!(r.stdout.contains("was briefed already"), "{}", r.stdout);
    let n = briefings(&h);
    assert_eq!(n.len(), 3, "{n:?}");
    assert!(n.values().all(|c| *c == 1), "one briefing each: {n:?}");
    let r = h.orc(&["resume", "--project", repo.to_str().unwrap()]).ok();
    assert!(r.stdout.contains("nothing to do"), "{}", r.stdout);
    assert!(briefings(&h).values().all(|c| *c == 1));
}

/// `[team.profiles]` and `--profile-for`: each role's agent runs its own
/// profile, recorded in team.json and shown by `orc ps`; the team's default
/// covers the rest. Bad values are refused before anything is created.
#[test]
fn roles_run_their_own_profiles() {
    let h = Harness::new();
    let me = env!("CARGO_BIN_EXE_orc");
    std::fs::write(
        h.path().join("config.toml"),
        format!(
            "[profiles.sim-b]\ncommand = {me:?}\nargs = [\"sim-agent\"]\ndetector = \"sim\"\n\
             [profiles.sim-c]\ncommand = {me:?}\nargs = [\"sim-agent\"]\ndetector = \"sim\"\n\
             [team.profiles]\ndeveloper = \"sim-b\"\ntester = \"sim-b\"\nsecurity = \"sim-c\"\n"
        ),
    )
    .unwrap();
    h.supervise();
    let (repo, spec) = project(&h);
    let (r, s) = (repo.to_str().unwrap(), spec.to_str().unwrap());
    let base = ["up", "--project", r, "--spec", s, "--no-ai", "--yes"];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|x| x.to_string()).collect()
    };
    for (extra, needle) in [
        (&["--profile-for", "developer"][..], "is not ROLE=PROFILE"),
        (
            &["--profile-for", "wizard=sim"][..],
            "unknown role `wizard`",
        ),
        (
            &["--profile-for", "developer=nope"][..],
            "unknown profile `nope`",
        ),
        (
            &[
                "--profile",
                "sim",
                "--plan",
                "pro",
                "--profile-for",
                "tester=sim-c",
            ][..],
            "this team has no tester",
        ),
    ] {
        let args = with(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        h.orc(&args).fails_with(needle);
        assert!(h.ps().is_empty(), "{extra:?} started agents");
        assert!(
            !h.path().join("state/projects/etl/team.json").exists(),
            "{extra:?} left a team file"
        );
    }
    let args = with(&[
        "--profile",
        "sim",
        "--plan",
        "pro",
        "--profile-for",
        "orchestrator=sim-c",
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let up = h.orc(&args).ok();
    assert!(up.stdout.contains("profiles: "), "{}", up.stdout);
    let rows = h.ps();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let want = |role: &str| match role {
        "orchestrator" => "sim-c",
        "developer" | "tester" => "sim-b",
        _ => "sim",
    };
    for r in &rows {
        let role = r["role"].as_str().unwrap();
        assert_eq!(r["profile"], want(role), "{r}");
    }
    let team: Value = serde_json::from_str(
        &std::fs::read_to_string(h.path().join("state/projects/etl/team.json")).unwrap(),
    )
    .unwrap();
    for a in team["agents"].as_array().unwrap() {
        assert_eq!(a["profile"], want(a["role"].as_str().unwrap()), "{a}");
    }
    h.orc(&["down", "--project", r]).ok();
}

/// A `[team.profiles]` value that is no profile is a config error naming it.
#[test]
fn a_team_profile_that_does_not_exist_is_a_config_error() {
    let h = Harness::new();
    std::fs::write(
        h.path().join("config.toml"),
        "[team.profiles]\ndeveloper = \"codx\"\n",
    )
    .unwrap();
    let r = h.orc(&["doctor"]);
    assert!(
        r.stdout
            .contains("[team.profiles] developer = \"codx\" is not a profile")
            || r.stderr
                .contains("[team.profiles] developer = \"codx\" is not a profile"),
        "{} {}",
        r.stdout,
        r.stderr
    );
}
