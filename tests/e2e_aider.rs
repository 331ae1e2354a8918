//! End to end: the real Aider CLI (PyPI `aider-chat` 0.86.2, installed on
//! first use by `scripts/install-aider.sh`, or `ORC_AIDER_BIN`) under a
//! private `orc supervise` (its own ORC_HOME and tmux socket), with an
//! `aider` profile pointed at the OpenAI stand-in
//! (`tests/support/openai_stand_in.rs`); the profile is the recipe in
//! `tests/support/aider_recipe.rs`.

#[path = "support/aider_recipe.rs"]
mod aider_recipe;
mod common;
#[path = "support/openai_stand_in.rs"]
mod openai_stand_in;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::Harness;
use openai_stand_in::{OpenAiStandIn, Reply, Request};
use serde_json::Value;

/// One real Aider at a time: two at once on a 2-core machine lag.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// A fresh git repo (the agent's folder) and HOME; the `aider` profile of
/// the recipe in config.toml (`auto_approve` as given); the supervisor
/// started; `name` spawned with that profile. Returns the repo.
fn start_aider(
    h: &Harness,
    name: &str,
    stand_in: &OpenAiStandIn,
    auto_approve: bool,
    extra_config: &str,
) -> PathBuf {
    let home = h.path().join(format!("home-{name}"));
    let repo = h.workdir(&format!("repo-{name}"));
    let mut profile = aider_recipe::aider_profile(
        &aider_recipe::aider_bin(),
        &stand_in.base_url(),
        "sk-orc-test",
        &home,
    );
    profile.auto_approve = auto_approve;
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("HOME", &home)
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {o:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("notes.txt"), "test repo\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "init"]);
    let config = format!("{}{extra_config}", profile.toml("aider"));
    std::fs::write(h.path().join("config.toml"), config).unwrap();
    h.supervise();
    h.orc(&[
        "spawn",
        name,
        "--cwd",
        repo.to_str().unwrap(),
        "--profile",
        "aider",
    ])
    .ok();
    repo
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

fn count_events(h: &Harness, name: &str, event: &str) -> usize {
    events(h, name)
        .iter()
        .filter(|e| e["event"] == event)
        .count()
}

/// How many dialogs of `kind` orc answered Yes for agent `name`.
fn answered(h: &Harness, name: &str, kind: &str) -> usize {
    let yes = format!("{kind}: 'Yes'");
    events(h, name)
        .iter()
        .filter(|e| {
            e["event"] == "dialog-answered"
                && e["detail"].as_str().is_some_and(|d| d.starts_with(&yes))
        })
        .count()
}

/// The user text of every completion request, in order.
fn sent(stand_in: &OpenAiStandIn) -> Vec<String> {
    stand_in
        .completions()
        .iter()
        .filter_map(Request::last_user_text)
        .collect()
}

fn count(stand_in: &OpenAiStandIn, text: &str) -> usize {
    sent(stand_in).iter().filter(|t| *t == text).count()
}

/// 20 mixed messages: short, long multi-line, unicode, shell metacharacters
/// (none starts with `/` or `!`, names a file or a URL: aider would take
/// those as a command or offer to add them).
fn mixed_messages() -> Vec<String> {
    (0..20)
        .map(|i| match i % 4 {
            0 => format!("short message {i}"),
            1 => format!(
                "multi {i} first line\nsecond line\n  indented third line\n{}",
                "a longer fourth line of lorem ipsum dolor sit amet ".repeat(20)
            ),
            2 => format!("unicode {i}: ❯ ünïcödé 😀 日本語 — «quoted» ✓"),
            _ => format!(
                "shell {i}: $HOME; `id` $(echo no) 'single' \"double\" \\back | tee x && rm -rf * # ~ %1 {{brace}}"
            ),
        })
        .collect()
}

/// orc's default resume prompt.
const RESUME: &str = "Your usage limit has reset. Continue where you left off.";

fn credit_kinds(h: &Harness, name: &str) -> Vec<String> {
    let r = h.orc(&["credits", "--json"]).ok();
    let rows: Value = serde_json::from_str(&r.stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .map(|r| {
            r["history"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["kind"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// (a) idle with only orc's own answer, (b) 20 mixed messages exactly
/// once, (c) a 429 is limited with no reset, (e) a killed aider comes back
/// with its chat history.
#[test]
fn aider_idle_mixed_messages_once_limit_and_restart_with_history() {
    let _serial = serial();
    let h = Harness::new();
    let stand_in = OpenAiStandIn::start(vec![]).unwrap();
    stand_in.set_default(Some(Reply::text("Noted.")));
    // A limit with no reset is resumed after `fallback_hours` (126 s here:
    // well after aider gives up its own retries, ~80 s, below).
    let credits = "[credits]\nbuffer_secs = 5\nfallback_hours = 0.035\nverify_secs = 60\n";
    let repo = start_aider(&h, "dev", &stand_in, false, credits);

    // (a) The first start in a repo asks about .gitignore: orc answers it
    // (Enter = the bracketed Yes), nobody else presses a key.
    h.wait_until(120, "aider idle", || h.agent("dev")["state"] == "idle");
    assert!(
        has_event(&h, "dev", "dialog-answered", "setup: 'Yes' (1 key)"),
        "{:#?}",
        events(&h, "dev")
    );
    assert_eq!(count_events(&h, "dev", "dialog-key"), 1, "one key, orc's");
    let ignore = std::fs::read_to_string(repo.join(".gitignore")).unwrap_or_default();
    assert!(ignore.contains(".aider*"), "{ignore:?}");

    // (b) 20 mixed messages, queued at once: each typed when aider is idle
    // (several lines or a long one as one bracketed paste), each reaches the
    // API once, byte for byte.
    let msgs = mixed_messages();
    let t0 = std::time::Instant::now();
    for m in &msgs {
        h.orc(&["send", "dev", m, "--from", "tester"]).ok();
    }
    let all_in = (0..400).any(|_| {
        let s = sent(&stand_in);
        msgs.iter().all(|m| s.contains(m)) || {
            std::thread::sleep(Duration::from_millis(500));
            false
        }
    });
    if !all_in {
        let s = sent(&stand_in);
        let missing: Vec<&String> = msgs.iter().filter(|m| !s.contains(m)).collect();
        panic!(
            "missing after 200 s: {missing:#?}\nsent: {s:#?}\nmessages: {}\nevents: {:#?}\nscreen:\n{}",
            h.orc(&["messages", "--agent", "dev", "--json"]).stdout,
            events(&h, "dev"),
            h.orc(&["screen", "dev"]).stdout
        );
    }
    let took = t0.elapsed();
    h.wait_until(30, "idle after the burst", || {
        h.agent("dev")["state"] == "idle" && h.agent("dev")["queue"] == 0
    });
    for m in &msgs {
        assert_eq!(count(&stand_in, m), 1, "exactly once: {m:?}");
    }
    eprintln!("20 mixed messages arrived exactly once in {took:?}");

    // (c) The provider answers 429 (no reset instant): limited, reset
    // unknown. A message sent meanwhile is held. aider retries, sleeping
    // 0.25 s doubling to 32 s, and litellm retries each try twice after the
    // `retry-after: 1`: it gives up about 80 s in (81 s seen), its prompt back. That is
    // still limited, so the held message is not typed there. The provider's
    // limit then lifts; orc resumes after its fallback wait (131 s after the
    // limit): one resume, recovered, then the held message, once. (With a
    // fallback shorter than aider's retries, orc's resume was typed the
    // moment the prompt came back and met the 429 again.)
    stand_in.set_default(Some(Reply::rate_limited().forever()));
    h.orc(&["send", "dev", "work during the limit"]).ok();
    h.wait_until(60, "limited", || h.agent("dev")["state"] == "limited");
    let a = h.agent("dev");
    assert!(a["limited_until"].is_null(), "no reset shown: {a}");
    assert_eq!(credit_kinds(&h, "dev"), vec!["limited"]);
    h.orc(&["send", "dev", "held while limited"]).ok();
    let pane = a["pane"].as_str().unwrap().to_string();
    h.wait_until(150, "aider gave up: its prompt is back", || {
        let screen = h.capture(&pane);
        let last = screen.lines().rev().find(|l| !l.trim().is_empty());
        last.map(str::trim) == Some(">") && screen.contains("rate limited you")
    });
    assert_ne!(h.agent("dev")["state"], "idle", "gave up is still limited");
    assert_eq!(count_events(&h, "dev", "credit-resume-sent"), 0, "not yet");
    stand_in.set_default(Some(Reply::text("Noted.")));
    h.wait_until(120, "orc's resume reached the API", || {
        count(&stand_in, RESUME) >= 1
    });
    assert_eq!(
        count(&stand_in, "held while limited"),
        0,
        "held until the limit is over"
    );
    h.wait_until(120, "recovered, then the held message", || {
        count(&stand_in, "held while limited") == 1
    });
    let s = sent(&stand_in);
    let resume = s.iter().position(|t| t == RESUME).unwrap();
    let held = s.iter().position(|t| t == "held while limited").unwrap();
    assert!(resume < held, "resume first: {s:?}");
    assert_eq!(
        count_events(&h, "dev", "credit-resume-sent"),
        1,
        "one resume; sent: {s:#?}\nevents: {:#?}",
        events(&h, "dev")
    );
    let kinds = credit_kinds(&h, "dev");
    assert_eq!(&kinds[..2], &["limited", "resume_sent"], "{kinds:?}");
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("recovered"),
        "{kinds:?}"
    );
    h.wait_until(30, "idle", || h.agent("dev")["state"] == "idle");

    // (e) Kill aider: orc restarts it with --restore-chat-history and it
    // is idle again; its next request carries the earlier conversation.
    let before = h.agent("dev");
    common::kill9(before["pid"].as_i64().expect("pid"));
    h.wait_until(120, "restarted and idle", || {
        let a = h.agent("dev");
        a["restarts"].as_u64().unwrap_or(0) >= 1 && a["state"] == "idle"
    });
    assert!(
        has_event(&h, "dev", "conversation-resumed", ".aider.chat.history.md"),
        "{:#?}",
        events(&h, "dev")
    );
    let n = stand_in.completions().len();
    h.orc(&["send", "dev", "after the restart"]).ok();
    h.wait_until(60, "the message after the restart", || {
        count(&stand_in, "after the restart") == 1
    });
    let req = stand_in.completions()[n..]
        .iter()
        .find(|r| r.last_user_text().as_deref() == Some("after the restart"))
        .cloned()
        .unwrap();
    let history: Vec<String> = req.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| m["content"].to_string())
        .collect();
    assert!(
        history.iter().any(|c| c.contains("Noted.")),
        "the restarted aider sent the earlier turns: {history:?}"
    );
}

/// The recipe's shell command runs by orc's answer (auto_approve), then
/// (d) an auth failure is reported `auth_failed` and not restarted.
#[test]
fn aider_runs_a_proposed_command_by_orcs_answer_and_an_auth_failure_is_not_restarted() {
    let _serial = serial();
    let h = Harness::new();
    let stand_in = OpenAiStandIn::start(vec![]).unwrap();
    stand_in.set_default(Some(Reply::text("Noted.")));
    let repo = start_aider(&h, "tool", &stand_in, true, "");
    h.wait_until(120, "aider idle", || h.agent("tool")["state"] == "idle");

    stand_in.aider_next_turn_runs("touch made-by-aider.txt && echo marker made");
    h.orc(&["send", "tool", "make the marker"]).ok();
    h.wait_until(60, "the command ran", || {
        repo.join("made-by-aider.txt").exists()
    });
    h.wait_until(60, "both questions answered, idle", || {
        answered(&h, "tool", "permission") == 2 && h.agent("tool")["state"] == "idle"
    });

    // (d) Every request now answered 401 (OpenAI's wording, with a URL:
    // aider then asks whether to open it, which orc leaves alone).
    stand_in.set_default(Some(Reply::unauthorized().forever()));
    h.orc(&["send", "tool", "hello with a bad key"]).ok();
    h.wait_until(60, "auth_failed", || {
        h.agent("tool")["state"] == "auth_failed"
    });
    let keys = count_events(&h, "tool", "dialog-key");
    std::thread::sleep(Duration::from_secs(5));
    let a = h.agent("tool");
    assert_eq!(a["state"], "auth_failed");
    assert_eq!(a["restarts"], 0, "no restart on an auth failure");
    assert!(a["pid"].as_i64().is_some_and(common::alive));
    assert_eq!(
        count_events(&h, "tool", "dialog-key"),
        keys,
        "nothing pressed at the URL question"
    );
}

/// A reply that names a file of the repo: orc answers Aider's `Add file to
/// the chat?` (always) and the follow-up request goes out; a reply whose
/// edit creates a file: orc answers `Create new file?` (a permission: the
/// agent has `auto_approve`) and the file is made. The prompt, now under the
/// chat's files, is idle, and a message sent then arrives exactly once.
#[test]
fn aider_adds_a_named_file_creates_one_and_takes_messages_under_the_chats_files() {
    let _serial = serial();
    let h = Harness::new();
    let stand_in = OpenAiStandIn::start(vec![]).unwrap();
    stand_in.set_default(Some(Reply::text("Noted.")));
    let repo = start_aider(&h, "files", &stand_in, true, "");
    h.wait_until(120, "aider idle", || h.agent("files")["state"] == "idle");

    stand_in.push(Reply::text("You should look at notes.txt first."));
    h.orc(&["send", "files", "where do I start"]).ok();
    h.wait_until(60, "notes.txt added and aider's own request sent", || {
        sent(&stand_in)
            .iter()
            .any(|t| t.contains("I added these files to the chat: notes.txt"))
    });
    h.wait_until(60, "idle under the chat's files", || {
        h.agent("files")["state"] == "idle"
    });

    stand_in.push(Reply::text(
        "I will create it.\n\nhello.py\n```python\n<<<<<<< SEARCH\n=======\nprint(\"hello\")\n>>>>>>> REPLACE\n```\n",
    ));
    stand_in.push(Reply::text("feat: add hello.py"));
    h.orc(&["send", "files", "create hello.py that prints hello"])
        .ok();
    h.wait_until(60, "hello.py created", || repo.join("hello.py").exists());
    h.wait_until(60, "idle again", || h.agent("files")["state"] == "idle");

    h.orc(&["send", "files", "one more thing, ping 7"]).ok();
    h.wait_until(60, "the message sent once", || {
        count(&stand_in, "one more thing, ping 7") == 1
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(&stand_in, "one more thing, ping 7"), 1);
    assert_eq!(
        answered(&h, "files", "add_file"),
        1,
        "{:#?}",
        events(&h, "files")
    );
    assert_eq!(
        answered(&h, "files", "permission"),
        1,
        "{:#?}",
        events(&h, "files")
    );
    assert_eq!(h.agent("files")["state"], "idle");
}
