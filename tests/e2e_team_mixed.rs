//! End to end: one `orc up` team of four real CLIs, each from its registry
//! at its pinned version and each against its own API stand-in: Claude
//! Code as the orchestrator (the hub), Codex as the developer, Gemini CLI
//! as the tester, Aider as devops (`[team.profiles]` and `--profile-for`).
//! Each agent is briefed exactly once, and a message from each of the
//! other three, sent from inside its pane by its own shell tool, reaches
//! the hub exactly once.

#[path = "support/aider_recipe.rs"]
mod aider_recipe;
mod common;
#[path = "support/gemini_stand_in.rs"]
mod gemini_stand_in;
#[path = "support/openai_stand_in.rs"]
mod openai_stand_in;
#[path = "support/stand_in.rs"]
mod stand_in;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::Harness;
use gemini_stand_in::GeminiStandIn;
use openai_stand_in::OpenAiStandIn;
use serde_json::Value;
use stand_in::{Reply, StandIn};

fn git(dir: &Path, home: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(["-c", "user.email=t@t", "-c", "user.name=t"])
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn plan() -> String {
    serde_json::json!({
        "project_type": "web_application",
        "size": "small",
        "summary": "A todo web app",
        "phases": [{"name": "Build", "tasks": [
            {"title": "Todo list page", "role": "developer", "details": ""},
            {"title": "Tests for the list", "role": "tester", "details": ""},
            {"title": "Deploy it", "role": "devops", "details": ""}
        ]}],
        "roles": ["orchestrator", "developer", "tester", "devops"],
        "success_criteria": ["todos can be added and removed"]
    })
    .to_string()
}

/// A TOML string.
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// `orc send HUB 'TEXT'` as a shell command line (the text has no quote).
fn send_line(orc: &str, hub: &str, text: &str) -> String {
    assert!(!text.contains('\''));
    format!("{orc} send {hub} '{text}'")
}

/// The user texts of Codex's requests that start a turn: the last input item
/// is the user's message (a request after a tool call ends with the call's
/// output and carries the same last user message again).
fn codex_new_turns(api: &OpenAiStandIn) -> Vec<String> {
    api.completions()
        .iter()
        .filter(|r| !openai_stand_in::is_codex_title_request(r))
        .filter(|r| {
            r.body["input"]
                .as_array()
                .and_then(|items| items.last())
                .is_some_and(|last| last["role"] == "user")
        })
        .filter_map(openai_stand_in::Request::last_user_text)
        .collect()
}

/// Wait for `f`; on time-out fail with every agent's state and screen.
fn wait_or_dump(
    h: &Harness,
    secs: u64,
    what: &str,
    agents: &[String],
    mut f: impl FnMut() -> bool,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut report = format!("timed out after {secs} s waiting for {what}\n");
    for a in agents {
        let row = h.agent(a);
        let pane = row["pane"].as_str().unwrap_or("").to_string();
        report.push_str(&format!(
            "--- {a}: {} {}\n{}\n",
            row["state"],
            row["note"],
            if pane.is_empty() {
                String::new()
            } else {
                h.capture(&pane)
            }
        ));
    }
    panic!("{report}");
}

#[test]
fn a_team_of_four_clis_is_briefed_once_each_and_reaches_the_hub() {
    let claude = common::installed_cli("install-claude.sh", "ORC_CLAUDE_BIN");
    let codex = common::installed_cli("install-codex.sh", "ORC_CODEX_BIN");
    let gemini = common::installed_cli("install-gemini.sh", "ORC_GEMINI_BIN");
    let aider = common::installed_cli("install-aider.sh", "ORC_AIDER_BIN");

    // As on a CI runner: every CLI starts with `CI=true` in its pane's
    // environment unless its driver leaves it out (Gemini CLI's does).
    let mut h = Harness::new();
    h.extra_env.push(("CI".into(), "true".into()));
    let home = h.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join(".claude.json"),
        r#"{"hasCompletedOnboarding": true}"#,
    )
    .unwrap();
    let repo = h.workdir("todo");
    git(&repo, &home, &["init", "-q", "-b", "main"]);
    std::fs::write(
        repo.join("package.json"),
        r#"{"dependencies": {"react": "18.0.0"}}"#,
    )
    .unwrap();
    git(&repo, &home, &["add", "."]);
    git(&repo, &home, &["commit", "-qm", "init"]);
    let spec = h.path().join("spec.md");
    std::fs::write(&spec, "# Todo app\nA page to add and remove todos.\n").unwrap();
    let plan_file = h.path().join("plan.json");
    std::fs::write(&plan_file, plan()).unwrap();

    // The four stand-ins.
    let hub_api = StandIn::start(vec![]).unwrap();
    hub_api.set_default(Reply::text("Noted.").delay(Duration::from_millis(300)));
    let codex_api = OpenAiStandIn::start(vec![]).unwrap();
    let gemini_api = GeminiStandIn::start().unwrap();
    let aider_api = OpenAiStandIn::start(vec![]).unwrap();

    // Each CLI's profile, with its own variables; what all share goes in
    // the team's --env.
    let codex_setup = codex_api.codex_setup("codex", &codex, &home, true).unwrap();
    gemini_stand_in::prepare_home(&home).unwrap();
    // Its shell tool asks first; orc answers `Allow once` (auto_approve).
    let (mut gemini_profile, _) =
        gemini_stand_in::profile_recipe("gemini", &gemini, &gemini_api, &home, "default");
    gemini_profile.push_str("auto_approve = true\n");
    let aider_profile =
        aider_recipe::aider_profile(&aider, &aider_api.base_url(), "stand-in-key", &home)
            .toml("aider");
    let config = format!(
        "[profiles.claude]\ncommand = {}\nargs = [\"--dangerously-skip-permissions\"]\n\n{}\n{}\n{}\n\
         [team.profiles]\ndeveloper = \"codex\"\ntester = \"gemini\"\n",
        q(&claude.display().to_string()),
        codex_setup.profile_toml,
        gemini_profile,
        aider_profile,
    );
    std::fs::write(h.path().join("config.toml"), config).unwrap();
    h.supervise();

    let project = "todo";
    let name = |role: &str| format!("{project}-{role}");
    let hub = name("orchestrator");
    let orc = h.bin.display().to_string();
    // What each spoke sends the hub once its briefing arrives.
    let from = |cli: &str| format!("from {cli}: ready, briefing read; over to you");
    codex_api.next_turn_runs(send_line(&orc, &hub, &from("codex")), "Sent it.");
    gemini_api.next_turn_runs(&send_line(&orc, &hub, &from("gemini")), "Sent it.");
    aider_api.aider_next_turn_runs(&send_line(&orc, &hub, &from("aider")));

    let mut args: Vec<String> = [
        "up",
        "--project",
        repo.to_str().unwrap(),
        "--spec",
        spec.to_str().unwrap(),
        "--plan-file",
        plan_file.to_str().unwrap(),
        "--plan",
        "max5",
        "--yes",
        "--profile-for",
        "devops=aider",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for e in [
        format!("HOME={}", home.display()),
        format!("ANTHROPIC_BASE_URL={}", hub_api.base_url("/a/team")),
        "CLAUDE_CODE_OAUTH_TOKEN=orc-test-token".into(),
        "IS_SANDBOX=1".into(),
        "DISABLE_AUTOUPDATER=1".into(),
        "TERM=xterm-256color".into(),
        format!("ORC_HOME={}", h.path().display()),
        format!("ORC_TMUX_SOCKET={}", h.socket),
    ] {
        args.push("--env".into());
        args.push(e);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let up = h.orc(&refs);
    assert_eq!(up.code, 0, "orc up failed: {}\n{}", up.stdout, up.stderr);
    assert!(
        up.stdout.contains(
            "profiles: orchestrator claude, developer codex, tester gemini, devops aider"
        ),
        "{}",
        up.stdout
    );
    let roles = ["orchestrator", "developer", "tester", "devops"];
    for (role, profile) in roles.iter().zip(["claude", "codex", "gemini", "aider"]) {
        assert_eq!(h.agent(&name(role))["profile"], profile, "{role}");
    }

    // Briefed once each: the briefing starts with `# <agent>:`.
    let briefing = |n: &str| format!("# {n}:");
    let briefings = |role: &str| -> usize {
        let head = briefing(&name(role));
        let texts = match role {
            "orchestrator" => hub_api.agent_turn_texts(),
            "developer" => codex_new_turns(&codex_api),
            "tester" => gemini_api.turns(),
            _ => aider_api
                .completions()
                .iter()
                .filter_map(openai_stand_in::Request::last_user_text)
                .collect(),
        };
        texts
            .iter()
            .filter(|t| t.trim_start().starts_with(&head))
            .count()
    };
    wait_or_dump(
        &h,
        240,
        "a briefing for every agent",
        &roles.map(name),
        || roles.iter().all(|r| briefings(r) >= 1),
    );
    // Each spoke's message reaches the hub.
    let at_hub = |cli: &str| -> usize {
        hub_api
            .agent_turn_texts()
            .iter()
            .filter(|t| t.contains(&from(cli)))
            .count()
    };
    wait_or_dump(
        &h,
        240,
        "a message from each spoke at the hub",
        &roles.map(name),
        || ["codex", "gemini", "aider"].iter().all(|c| at_hub(c) >= 1),
    );
    std::thread::sleep(Duration::from_secs(5));
    for role in roles {
        assert_eq!(briefings(role), 1, "{role}'s briefing count");
    }
    for cli in ["codex", "gemini", "aider"] {
        assert_eq!(at_hub(cli), 1, "messages from {cli} at the hub");
    }
    let listed: Vec<Value> =
        serde_json::from_str(&h.orc(&["messages", "--agent", &hub, "--json"]).ok().stdout).unwrap();
    for role in ["developer", "tester", "devops"] {
        assert!(
            listed
                .iter()
                .any(|m| m["from"] == name(role) && m["status"] == "delivered"),
            "the hub's message from {role} is delivered, from its ORC_AGENT: {listed:?}"
        );
    }
    let windows = h
        .tmux(&[
            "list-windows",
            "-t",
            &format!("orc-{project}"),
            "-F",
            "#{window_name}",
        ])
        .ok()
        .stdout;
    for title in [
        "Claude-Orchestrator",
        "Codex-Developer",
        "Gemini-Tester",
        "Aider-Devops",
    ] {
        assert!(windows.lines().any(|l| l == title), "{title}: {windows}");
    }
    h.orc(&["down", "--project", repo.to_str().unwrap()]).ok();
    assert!(h.ps().is_empty());
}
