//! The agent actor without tmux: a real `AgentActor` on a fake pane
//! ([`fake::FakePane`]), a paused tokio clock (so seconds pass at once and
//! in order) and a wall clock that follows it. Each test drives the pane as
//! the CLI would and checks what the agent typed, pressed and told the hub.

mod codex_log;
mod fake;
mod procs;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use ractor::{Actor, ActorRef};

use super::{AgentActor, AgentArgs, AgentEvent, AgentMsg};
use crate::credits::CreditPolicy;
use crate::paths::Paths;
use crate::proto::{AgentState, CreditKind, PsRow, Response};
use crate::queue::{Message, Op, Queue};
use crate::scheduler::{Clock, TokioClock};
use crate::state::AgentRecord;
use crate::tmux::Key;
use fake::{Call, FakePane, Mode, Script};

struct H {
    fake: FakePane,
    events: Arc<Mutex<Vec<AgentEvent>>>,
    actor: ActorRef<AgentMsg>,
    paths: Paths,
    clock: Arc<TokioClock>,
    procs: Arc<procs::RecProcs>,
    _dir: tempfile::TempDir,
}

/// How a test's agent is set up before it starts.
struct Setup {
    script: Script,
    record: Box<dyn FnOnce(&mut AgentRecord)>,
    credits: CreditPolicy,
    fresh: bool,
    hold: bool,
    /// Journal entries written before the agent starts (a crash's leftovers).
    journal: Vec<(Message, Vec<Op>)>,
    /// A pane that exists before the agent starts: adopt it (dead or alive).
    existing: Option<bool>,
    notify_permission_after: Option<Duration>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            script: Script::default(),
            record: Box::new(|_| {}),
            credits: CreditPolicy::default(),
            fresh: false,
            hold: false,
            journal: vec![],
            existing: None,
            notify_permission_after: None,
        }
    }
}

fn record(dir: &std::path::Path) -> AgentRecord {
    AgentRecord {
        name: "dev".into(),
        role: Some("developer".into()),
        project: None,
        profile: "sim".into(),
        detector: "sim".into(),
        auto_approve: false,
        command: vec!["/bin/sim-agent".into()],
        cwd: dir.join("work"),
        env: Default::default(),
        session: "orc".into(),
        pane: None,
        window: None,
        pid: None,
        restarts: 0,
        failed: false,
        report: None,
        account: None,
        session_id: None,
        title: None,
        pre_trust: false,
        pin_version: false,
        created: Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap(),
        launch: None,
        spared_launches: Vec::new(),
    }
}

fn message(id: &str, text: &str) -> Message {
    Message {
        id: id.into(),
        from: "user".into(),
        to: "dev".into(),
        text: text.into(),
        created: Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap(),
        key: None,
    }
}

async fn start(setup: Setup) -> H {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::under(dir.path());
    let clock = Arc::new(TokioClock::new(
        Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap(),
    ));
    let mut rec = record(dir.path());
    std::fs::create_dir_all(&rec.cwd).unwrap();
    let mut script = setup.script;
    if script.trust_folder.is_empty() {
        script.trust_folder = rec.cwd.display().to_string();
    }
    let fake = FakePane::new(script, clock.clone());
    (setup.record)(&mut rec);
    if let Some(dead) = setup.existing {
        let (pane, window) = fake.existing(dead);
        rec.pane = Some(pane);
        rec.window = Some(window);
    }
    if !setup.journal.is_empty() {
        let (q, _) = Queue::load(paths.queue_file(&rec.name));
        for (m, ops) in setup.journal {
            q.mark(&m.id, Op::Queued, None, Some(m.clone())).unwrap();
            for op in ops {
                q.mark(&m.id, op, None, None).unwrap();
            }
        }
    }
    let events = Arc::new(Mutex::new(vec![]));
    let sink = events.clone();
    let procs = Arc::new(procs::RecProcs::default());
    let args = AgentArgs {
        record: rec,
        pane: Arc::new(fake.clone()),
        events: Arc::new(move |ev| sink.lock().unwrap().push(ev)),
        clock: clock.clone(),
        paths: paths.clone(),
        fresh: setup.fresh,
        hold: setup.hold,
        credits: setup.credits,
        context: Default::default(),
        notify_permission_after: setup.notify_permission_after,
        notify_choice_after: None,
        procs: procs.clone(),
    };
    let (actor, _) = Actor::spawn(None, AgentActor, args).await.unwrap();
    H {
        fake,
        events,
        actor,
        paths,
        clock,
        procs,
        _dir: dir,
    }
}

impl H {
    async fn wait(&self, secs: f64) {
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    }
    async fn row(&self) -> PsRow {
        self.actor
            .call(AgentMsg::Snapshot, None)
            .await
            .unwrap()
            .unwrap()
    }
    async fn state(&self) -> AgentState {
        self.row().await.state
    }
    async fn send(&self, m: Message) -> Response {
        self.actor
            .call(|r| AgentMsg::Enqueue(m, false, r), None)
            .await
            .unwrap()
            .unwrap()
    }
    async fn say(&self, text: &str) -> Response {
        self.send(message(&crate::queue::new_id(), text)).await
    }
    fn events(&self) -> Vec<AgentEvent> {
        self.events.lock().unwrap().clone()
    }
    /// The agent records it sent up, newest last.
    fn updates(&self) -> Vec<AgentRecord> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                AgentEvent::Updated(r) => Some(*r),
                _ => None,
            })
            .collect()
    }
    fn last_update(&self) -> Option<AgentRecord> {
        self.updates().pop()
    }
    /// The newest update in which `field` is set.
    fn last_update_with<T>(&self, field: impl Fn(AgentRecord) -> Option<T>) -> Option<T> {
        self.updates().into_iter().filter_map(field).next_back()
    }
    fn exits(&self) -> usize {
        self.events()
            .iter()
            .filter(|e| **e == AgentEvent::Exited)
            .count()
    }
    fn needs_human(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                AgentEvent::NeedsHuman { event, .. } => Some(event),
                _ => None,
            })
            .collect()
    }
    fn credits(&self) -> Vec<CreditKind> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                AgentEvent::Credit(c) => Some(c.kind),
                _ => None,
            })
            .collect()
    }
    /// The agent's event log (`orc logs NAME`), event names in order.
    fn log(&self) -> Vec<String> {
        let path = self.paths.agent_log_dir("dev").join("events.jsonl");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| v["event"].as_str().unwrap_or("").to_string())
            .collect()
    }
    fn journal_ops(&self, id: &str) -> Vec<String> {
        let path = self.paths.queue_file("dev");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["id"] == id)
            .map(|v| v["op"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

// ---- start and delivery ------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_new_agent_settles_idle_with_no_key_pressed() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    assert_eq!(h.state().await, AgentState::Idle);
    assert_eq!(h.fake.opens(), 1);
    assert!(h.fake.keys().is_empty() && h.fake.typed().is_empty());
    assert!(h.log().contains(&"started".to_string()), "{:?}", h.log());
}

#[tokio::test(start_paused = true)]
async fn the_launch_runs_the_command_under_env_without_a_shell() {
    let h = start(Setup::default()).await;
    let Some(Call::Open(argv)) = h.fake.calls().into_iter().next() else {
        panic!("no open: {:?}", h.fake.calls());
    };
    assert_eq!(argv[0], "/usr/bin/env");
    assert_eq!(argv.last().unwrap(), "/bin/sim-agent");
    assert!(argv.iter().all(|a| a != "sh" && a != "-c"), "{argv:?}");
}

/// The `-u VAR` pairs of a launch's `/usr/bin/env` argv.
fn unset_vars(argv: &[String]) -> Vec<String> {
    argv.windows(2)
        .filter(|w| w[0] == "-u")
        .map(|w| w[1].clone())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_gemini_launch_leaves_out_what_would_make_it_headless_unless_asked_for() {
    let first_open = |h: &H| match h.fake.calls().into_iter().next() {
        Some(Call::Open(argv)) => argv,
        other => panic!("no open: {other:?}"),
    };
    let h = start(Setup {
        record: Box::new(|r| r.detector = "gemini".into()),
        ..Setup::default()
    })
    .await;
    let unset = unset_vars(&first_open(&h));
    for var in ["CI", "GITHUB_ACTIONS", "CLAUDECODE"] {
        assert!(unset.iter().any(|u| u == var), "{var} kept: {unset:?}");
    }
    // The agent's own `--env CI=true` is what it asked for: kept.
    let h = start(Setup {
        record: Box::new(|r| {
            r.detector = "gemini".into();
            r.env.insert("CI".into(), "true".into());
        }),
        ..Setup::default()
    })
    .await;
    let unset = unset_vars(&first_open(&h));
    assert!(!unset.iter().any(|u| u == "CI"), "{unset:?}");
    assert!(unset.iter().any(|u| u == "GITHUB_ACTIONS"), "{unset:?}");
    // A CLI that does not read them so (the sim) keeps them.
    let h = start(Setup::default()).await;
    let unset = unset_vars(&first_open(&h));
    assert!(!unset.iter().any(|u| u == "CI"), "{unset:?}");
}
#[tokio::test(start_paused = true)]
async fn a_message_is_typed_once_and_entered_once() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    let r = h.send(message("m1", "hello there")).await;
    assert!(matches!(r, Response::Queued { .. }), "{r:?}");
    h.wait(5.0).await;
    assert_eq!(h.fake.typed(), vec!["hello there"]);
    assert_eq!(h.fake.keys(), vec![Key::Enter]);
    assert_eq!(h.fake.submitted(), vec!["hello there"]);
    assert_eq!(
        h.journal_ops("m1"),
        vec!["queued", "delivering", "typed", "entering", "delivered"]
    );
}

#[tokio::test(start_paused = true)]
async fn messages_sent_while_it_works_go_in_order_after_the_turn() {
    let h = start(Setup::default()).await;
    h.fake.script(|s| s.work = Duration::from_secs(5));
    h.wait(3.0).await;
    h.say("first").await;
    h.wait(1.0).await;
    assert_eq!(h.state().await, AgentState::Busy);
    h.say("second").await;
    h.say("third").await;
    h.wait(1.0).await;
    assert_eq!(
        h.fake.typed(),
        vec!["first"],
        "nothing typed into a busy agent"
    );
    h.wait(20.0).await;
    assert_eq!(h.fake.submitted(), vec!["first", "second", "third"]);
    assert_eq!(h.fake.typed(), vec!["first", "second", "third"]);
}

#[tokio::test(start_paused = true)]
async fn control_bytes_in_a_message_reach_the_pane_only_as_visible_pictures() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    h.say("build failed\x1b[201~rm -rf /\r\x03").await;
    h.wait(5.0).await;
    let typed = h.fake.typed();
    assert_eq!(typed.len(), 1);
    assert!(
        !typed[0].chars().any(|c| c.is_control() && c != '\n'),
        "{typed:?}"
    );
    assert!(typed[0].contains('␛'), "{typed:?}");
    assert_eq!(h.fake.keys(), vec![Key::Enter], "one Enter, from orc");
}

#[tokio::test(start_paused = true)]
async fn a_key_seen_before_is_not_queued_twice() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    let mut m = message("k1", "check-in");
    m.key = Some("sched:job1:1".into());
    assert!(matches!(h.send(m.clone()).await, Response::Queued { .. }));
    let mut again = message("k2", "check-in");
    again.key = m.key.clone();
    assert!(matches!(h.send(again).await, Response::Duplicate { .. }));
    h.wait(5.0).await;
    assert_eq!(h.fake.submitted(), vec!["check-in"]);
}

#[tokio::test(start_paused = true)]
async fn send_wait_is_answered_once_the_message_is_submitted() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    let actor = h.actor.clone();
    let reply = tokio::spawn(async move {
        actor
            .call(
                |r| AgentMsg::Enqueue(message("w1", "wait for me"), true, r),
                None,
            )
            .await
            .unwrap()
            .unwrap()
    });
    h.wait(5.0).await;
    let r = reply.await.unwrap();
    assert_eq!(r, Response::Delivered { id: "w1".into() });
}

#[tokio::test(start_paused = true)]
async fn a_message_to_a_dead_agent_waits_and_goes_once_after_the_restart() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    h.fake.die(Some(1));
    h.wait(0.5).await;
    h.say("after the crash").await;
    h.wait(3.0).await;
    assert!(h.fake.typed().is_empty(), "nothing typed into a dead pane");
    h.actor.cast(AgentMsg::Respawn { manual: false }).unwrap();
    h.wait(6.0).await;
    assert_eq!(h.fake.submitted(), vec!["after the crash"]);
    assert_eq!(h.fake.typed(), vec!["after the crash"]);
}

// ---- crash points: a delivery the supervisor's crash cut short ----------

#[tokio::test(start_paused = true)]
async fn typed_before_the_crash_and_still_in_the_composer_is_entered_not_retyped() {
    let h = start(Setup {
        existing: Some(false),
        journal: vec![(message("c1", "half done"), vec![Op::Delivering, Op::Typed])],
        ..Default::default()
    })
    .await;
    h.fake.set_composer("half done");
    h.wait(5.0).await;
    assert!(h.fake.typed().is_empty(), "{:?}", h.fake.typed());
    assert_eq!(h.fake.keys(), vec![Key::Enter]);
    assert_eq!(h.fake.submitted(), vec!["half done"]);
    assert!(h.log().contains(&"message-recovered".into()));
}

#[tokio::test(start_paused = true)]
async fn entering_before_the_crash_with_an_empty_composer_counts_as_delivered() {
    let h = start(Setup {
        existing: Some(false),
        journal: vec![(
            message("c2", "went in"),
            vec![Op::Delivering, Op::Typed, Op::Entering],
        )],
        ..Default::default()
    })
    .await;
    h.wait(5.0).await;
    assert!(h.fake.typed().is_empty() && h.fake.keys().is_empty());
    assert_eq!(h.journal_ops("c2").last().unwrap(), "delivered");
}

#[tokio::test(start_paused = true)]
async fn never_typed_before_the_crash_is_typed_once_after_it() {
    let h = start(Setup {
        existing: Some(false),
        journal: vec![(message("c3", "not yet"), vec![Op::Delivering])],
        ..Default::default()
    })
    .await;
    h.wait(5.0).await;
    assert_eq!(h.fake.typed(), vec!["not yet"]);
    assert_eq!(h.fake.submitted(), vec!["not yet"]);
}

#[tokio::test(start_paused = true)]
async fn queued_before_the_crash_is_delivered_after_it() {
    let h = start(Setup {
        existing: Some(false),
        journal: vec![
            (message("q1", "one"), vec![]),
            (message("q2", "two"), vec![]),
        ],
        ..Default::default()
    })
    .await;
    h.wait(10.0).await;
    assert_eq!(h.fake.submitted(), vec!["one", "two"]);
}

// ---- dialogs ----------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_trust_dialog_for_its_own_folder_is_answered_by_its_label() {
    let h = start(Setup {
        script: Script {
            start: Mode::Trust,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    h.wait(10.0).await;
    assert_eq!(h.fake.mode(), Mode::Idle);
    assert_eq!(
        h.fake.keys(),
        vec![Key::Down, Key::Enter],
        "cursor moved off 'No, exit' first"
    );
    assert_eq!(h.state().await, AgentState::Idle);
    assert!(h.log().contains(&"dialog-answered".into()), "{:?}", h.log());
}

#[tokio::test(start_paused = true)]
async fn a_trust_dialog_for_another_folder_is_left_to_a_person() {
    let h = start(Setup {
        script: Script {
            start: Mode::Trust,
            trust_folder: "/somewhere/else".into(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    h.wait(10.0).await;
    assert!(h.fake.keys().is_empty(), "{:?}", h.fake.keys());
    assert_eq!(h.state().await, AgentState::AwaitingChoice);
    assert_eq!(h.needs_human(), vec!["dialog_waiting"], "told once");
    let note = h.row().await.note.unwrap_or_default();
    assert!(note.starts_with("dialog: trust"), "{note}");
}

#[tokio::test(start_paused = true)]
async fn a_numbered_dialog_is_answered_and_checked_gone() {
    let h = start(Setup {
        script: Script {
            start: Mode::Trust,
            arrow_menus: false,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    h.wait(10.0).await;
    assert_eq!(h.fake.mode(), Mode::Idle);
    assert!(!h.fake.keys().is_empty());
    assert!(h.log().contains(&"dialog-answered".into()));
}

#[tokio::test(start_paused = true)]
async fn an_answer_that_never_takes_is_said_not_looped() {
    let h = start(Setup {
        script: Script {
            start: Mode::Trust,
            deaf: true,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    h.wait(60.0).await;
    let enters = h.fake.keys().iter().filter(|k| **k == Key::Enter).count();
    assert!(
        enters == 0,
        "Enter only on the wanted option, and the cursor never got there: {:?}",
        h.fake.keys()
    );
    assert!(h.fake.keys().len() <= 10, "{:?}", h.fake.keys());
    assert_eq!(h.needs_human(), vec!["dialog_unanswered"]);
    let note = h.row().await.note.unwrap_or_default();
    assert!(note.starts_with("dialog: trust:"), "{note}");
    let before = h.fake.keys().len();
    h.wait(60.0).await;
    assert_eq!(h.fake.keys().len(), before, "no more keys after giving up");
}

#[tokio::test(start_paused = true)]
async fn a_permission_prompt_is_answered_yes_only_with_auto_approve() {
    let h = start(Setup {
        record: Box::new(|r| r.auto_approve = true),
        ..Default::default()
    })
    .await;
    h.wait(3.0).await;
    h.say("please needs-permission").await;
    h.wait(8.0).await;
    assert!(h.fake.keys().len() >= 2, "{:?}", h.fake.keys());
    assert_ne!(h.fake.mode(), Mode::Permission);
}

#[tokio::test(start_paused = true)]
async fn a_permission_prompt_without_auto_approve_waits_and_is_reported_late() {
    let h = start(Setup {
        notify_permission_after: Some(Duration::from_secs(30)),
        ..Default::default()
    })
    .await;
    h.wait(3.0).await;
    h.say("please needs-permission").await;
    h.wait(5.0).await;
    assert_eq!(h.state().await, AgentState::AwaitingPermission);
    assert_eq!(h.fake.keys(), vec![Key::Enter], "only the message's Enter");
    assert!(h.needs_human().is_empty());
    h.wait(30.0).await;
    assert_eq!(h.needs_human(), vec!["permission_waiting"]);
}

#[tokio::test(start_paused = true)]
async fn messages_wait_behind_a_dialog() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    h.say("needs-permission now").await;
    h.wait(3.0).await;
    h.say("next").await;
    h.wait(5.0).await;
    assert_eq!(h.fake.typed(), vec!["needs-permission now"]);
}

#[tokio::test(start_paused = true)]
async fn the_usage_limit_menu_is_answered_by_its_label() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    h.fake
        .script(|s| s.limited_until = Some(Utc.with_ymd_and_hms(2026, 12, 3, 15, 0, 0).unwrap()));
    h.say("work").await;
    h.wait(10.0).await;
    assert_eq!(h.fake.mode(), Mode::Idle, "the menu is gone");
    assert_eq!(
        h.fake.keys(),
        vec![Key::Enter, Key::Enter],
        "the message's Enter, then 'Stop and wait' (under the cursor)"
    );
    assert!(h.log().contains(&"dialog-answered".into()), "{:?}", h.log());
    assert_eq!(h.state().await, AgentState::Limited);
}

#[tokio::test(start_paused = true)]
async fn a_screen_no_rule_places_is_unknown_and_said_once() {
    let h = start(Setup {
        script: Script {
            start: Mode::Strange,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    h.wait(5.0).await;
    assert_eq!(
        h.state().await,
        AgentState::Starting,
        "still drawing, maybe"
    );
    h.wait(20.0).await;
    assert_eq!(h.state().await, AgentState::Unknown);
    h.wait(30.0).await;
    let said = h.log().iter().filter(|e| *e == "unplaced-screen").count();
    assert_eq!(said, 1, "{:?}", h.log());
    assert!(
        h.fake.keys().is_empty(),
        "nothing pressed on a screen orc cannot place"
    );
}

#[tokio::test(start_paused = true)]
async fn low_context_is_told_to_the_hub_once_per_dip() {
    let h = start(Setup {
        script: Script {
            context: Some(9),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    h.wait(5.0).await;
    h.say("one").await;
    h.wait(5.0).await;
    h.say("two").await;
    h.wait(5.0).await;
    let lows: Vec<u8> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AgentEvent::ContextLow(n) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(lows, vec![9]);
}

#[tokio::test(start_paused = true)]
async fn a_message_the_pane_refuses_fails_with_the_reason() {
    let h = start(Setup {
        script: Script {
            fail_typing: true,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    h.wait(3.0).await;
    let actor = h.actor.clone();
    let reply = tokio::spawn(async move {
        actor
            .call(|r| AgentMsg::Enqueue(message("f1", "lost?"), true, r), None)
            .await
            .unwrap()
            .unwrap()
    });
    h.wait(3.0).await;
    match reply.await.unwrap() {
        Response::Error { message } => assert!(message.contains("no such pane"), "{message}"),
        r => panic!("{r:?}"),
    }
    assert_eq!(h.journal_ops("f1").last().unwrap(), "failed");
}

// ---- usage limits -------------------------------------------------------

fn quick_credits() -> CreditPolicy {
    CreditPolicy {
        buffer: Duration::from_secs(5),
        verify: Duration::from_secs(20),
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_limit_episode_from_the_limit_to_recovery() {
    let h = start(Setup {
        credits: quick_credits(),
        ..Default::default()
    })
    .await;
    let reset = h.clock.now() + chrono::Duration::seconds(60);
    h.fake.script(|s| s.limited_until = Some(reset));
    h.wait(3.0).await;
    h.say("start the work").await;
    h.wait(5.0).await;
    assert_eq!(h.state().await, AgentState::Limited);
    assert_eq!(h.credits(), vec![CreditKind::Limited]);
    assert_eq!(h.row().await.limited_until, Some(reset));
    h.say("held until the reset").await;
    h.wait(20.0).await;
    assert_eq!(
        h.fake.submitted(),
        vec!["start the work"],
        "held while limited"
    );
    // The reset plus the buffer: orc's resume prompt, then the held message.
    h.wait(60.0).await;
    let sub = h.fake.submitted();
    assert_eq!(sub.len(), 3, "{sub:?}");
    assert!(sub[1].contains("usage limit has reset"), "{sub:?}");
    assert_eq!(sub[2], "held until the reset");
    assert_eq!(
        h.credits(),
        vec![
            CreditKind::Limited,
            CreditKind::ResumeSent,
            CreditKind::Recovered
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_resume_refused_is_re_armed_and_not_repeated_in_a_loop() {
    let h = start(Setup {
        credits: quick_credits(),
        ..Default::default()
    })
    .await;
    // The screen shows a reset a minute ahead; the account stays limited
    // for ten.
    let shown = h.clock.now() + chrono::Duration::seconds(60);
    h.fake.script(|s| s.limited_until = Some(shown));
    h.wait(3.0).await;
    h.say("go").await;
    h.wait(5.0).await;
    h.fake
        .script(|s| s.limited_until = Some(shown + chrono::Duration::seconds(600)));
    h.wait(120.0).await;
    let kinds = h.credits();
    assert_eq!(
        &kinds[..3],
        &[
            CreditKind::Limited,
            CreditKind::ResumeSent,
            CreditKind::StillLimited
        ],
        "{kinds:?}"
    );
    let resumes = h
        .fake
        .submitted()
        .iter()
        .filter(|t| t.contains("usage limit has reset"))
        .count();
    assert!(resumes <= 2, "one resume per try: {:?}", h.fake.submitted());
    assert_eq!(h.state().await, AgentState::Limited);
}

#[tokio::test(start_paused = true)]
async fn the_limit_line_on_screen_as_the_resume_goes_in_is_not_a_refusal() {
    let h = start(Setup {
        credits: quick_credits(),
        ..Default::default()
    })
    .await;
    let reset = h.clock.now() + chrono::Duration::seconds(40);
    h.fake.script(|s| s.limited_until = Some(reset));
    h.wait(3.0).await;
    h.say("work").await;
    h.wait(5.0).await;
    assert_eq!(h.state().await, AgentState::Limited);
    // The record of the limit is drawn in other words before the resume.
    let other = format!(
        "  ⎿  Claude AI usage limit reached|{}",
        reset.timestamp() + 60
    );
    h.fake.reword("usage limit reached", &other);
    h.wait(5.0).await;
    assert_eq!(h.state().await, AgentState::Limited);
    h.wait(60.0).await;
    assert_eq!(
        h.credits(),
        vec![
            CreditKind::Limited,
            CreditKind::ResumeSent,
            CreditKind::Recovered
        ],
        "{:?}",
        h.log()
    );
}

#[tokio::test(start_paused = true)]
async fn a_limit_that_lifts_by_itself_gets_no_resume_prompt() {
    let h = start(Setup {
        credits: quick_credits(),
        ..Default::default()
    })
    .await;
    let reset = h.clock.now() + chrono::Duration::seconds(30);
    h.fake.script(|s| s.limited_until = Some(reset));
    h.wait(3.0).await;
    h.say("work").await;
    h.wait(5.0).await;
    assert_eq!(h.state().await, AgentState::Limited);
    // Someone (or the CLI itself) goes on before orc's resume is due.
    h.wait(25.0).await;
    h.fake.go_on("work (sent again by the CLI)");
    h.wait(60.0).await;
    assert!(
        !h.fake
            .submitted()
            .iter()
            .any(|t| t.contains("usage limit has reset")),
        "{:?}",
        h.fake.submitted()
    );
    assert!(
        h.credits().contains(&CreditKind::Recovered),
        "{:?}",
        h.credits()
    );
}

// ---- lifecycle ----------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_process_dead_before_the_first_look_is_reported_once() {
    let h = start(Setup {
        script: Script {
            die_on_open: true,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    h.wait(1.0).await;
    assert_eq!(h.exits(), 1, "{:?}", h.events());
    // The death notice tmux sends afterwards is the same death.
    h.fake.die(Some(1));
    h.wait(1.0).await;
    assert_eq!(h.exits(), 1);
    assert_eq!(h.state().await, AgentState::Restarting);
}

#[tokio::test(start_paused = true)]
async fn each_restart_of_an_instantly_dying_command_is_reported_until_failed() {
    // The hub's loop, with the real restart policy: every death is heard, so
    // the budget runs out and the agent ends `failed` (not `exited` forever).
    let h = start(Setup {
        script: Script {
            die_on_open: true,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let policy = crate::restart::RestartPolicy::default();
    let mut history = std::collections::VecDeque::new();
    let mut heard = 0;
    loop {
        h.wait(0.2).await;
        assert_eq!(h.exits(), heard + 1, "death {} heard", heard + 1);
        heard += 1;
        let now = std::time::Instant::now();
        match policy.next_delay(&mut history, now) {
            Some(d) => {
                history.push_back(now);
                h.wait(d.as_secs_f64()).await;
                h.actor.cast(AgentMsg::Respawn { manual: false }).unwrap();
            }
            None => {
                h.actor
                    .cast(AgentMsg::MarkFailed("restarted too often".into()))
                    .unwrap();
                break;
            }
        }
    }
    h.wait(0.5).await;
    assert_eq!(heard, policy.max_restarts + 1);
    assert_eq!(h.fake.opens(), policy.max_restarts + 1);
    assert_eq!(h.state().await, AgentState::Failed);
}

#[tokio::test(start_paused = true)]
async fn giving_up_on_an_agent_says_what_its_screen_last_said() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    h.fake.die_saying(
        Some(55),
        "Not a trusted folder: trust it in interactive mode.",
    );
    h.wait(0.5).await;
    h.actor
        .cast(AgentMsg::MarkFailed("gave up after 5 restarts".into()))
        .unwrap();
    h.wait(0.2).await;
    let row = h.row().await;
    assert_eq!(row.state, AgentState::Failed);
    assert_eq!(
        row.note.as_deref(),
        Some("gave up after 5 restarts; its screen last said: Not a trusted folder: trust it in interactive mode.")
    );
}

#[tokio::test(start_paused = true)]
async fn a_death_is_reported_once_however_often_it_is_noticed() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    h.fake.die(Some(3));
    h.wait(0.5).await;
    h.fake.die(Some(3));
    h.actor.cast(AgentMsg::Resync).unwrap();
    h.wait(0.5).await;
    assert_eq!(h.exits(), 1);
    let row = h.row().await;
    assert_eq!(row.state, AgentState::Restarting);
    assert_eq!(row.note.as_deref(), Some("exited (status 3)"));
    let screens = std::fs::read_dir(h.paths.agent_log_dir("dev").join("screens"))
        .unwrap()
        .count();
    assert_eq!(screens, 1, "the last screen is kept");
}

#[tokio::test(start_paused = true)]
async fn a_pane_killed_from_outside_is_reported_and_forgotten() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    h.fake.vanish();
    h.wait(0.5).await;
    assert_eq!(h.exits(), 1);
    assert_eq!(h.row().await.pane, None);
}

#[tokio::test(start_paused = true)]
async fn a_restart_kills_the_old_pane_and_opens_a_new_one() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    h.actor.cast(AgentMsg::Respawn { manual: true }).unwrap();
    h.wait(3.0).await;
    assert!(h.fake.calls().contains(&Call::Kill("%1".into())));
    assert_eq!(h.fake.opens(), 2);
    let row = h.row().await;
    assert_eq!((row.pane.as_deref(), row.restarts), (Some("%2"), 1));
    assert_eq!(row.state, AgentState::Idle);
    let updated = h.last_update().map(|r| r.restarts);
    assert_eq!(updated, Some(1));
    assert!(
        h.log().contains(&"transcript-saved".into()),
        "{:?}",
        h.log()
    );
}

#[tokio::test(start_paused = true)]
async fn a_live_pane_is_adopted_without_a_restart() {
    let h = start(Setup {
        existing: Some(false),
        ..Default::default()
    })
    .await;
    h.wait(3.0).await;
    assert_eq!(h.fake.opens(), 0);
    let row = h.row().await;
    assert_eq!((row.pane.as_deref(), row.restarts), (Some("%1"), 0));
    assert_eq!(row.state, AgentState::Idle);
    assert!(h.log().contains(&"adopted".into()));
    h.say("still there?").await;
    h.wait(5.0).await;
    assert_eq!(h.fake.submitted(), vec!["still there?"]);
}

#[tokio::test(start_paused = true)]
async fn a_pane_that_died_while_orc_was_away_is_reported_at_adoption() {
    let h = start(Setup {
        existing: Some(true),
        ..Default::default()
    })
    .await;
    h.wait(1.0).await;
    assert_eq!(h.exits(), 1);
    assert_eq!(h.fake.opens(), 0, "the hub decides the restart");
    let note = h.row().await.note.unwrap_or_default();
    assert_eq!(note, "died while orc was away");
}

#[tokio::test(start_paused = true)]
async fn a_pane_gone_while_orc_was_away_is_started_anew() {
    let h = start(Setup {
        record: Box::new(|r| {
            r.pane = Some("%77".into());
            r.window = Some("@77".into());
        }),
        ..Default::default()
    })
    .await;
    h.wait(3.0).await;
    assert_eq!(h.fake.opens(), 1);
    assert_eq!(h.state().await, AgentState::Idle);
}

#[tokio::test(start_paused = true)]
async fn a_held_agent_waits_for_its_turn_in_the_restart_line() {
    let h = start(Setup {
        fresh: true,
        hold: true,
        ..Default::default()
    })
    .await;
    h.wait(5.0).await;
    assert_eq!(h.fake.opens(), 0);
    assert_eq!(h.state().await, AgentState::Restarting);
    h.actor.cast(AgentMsg::Respawn { manual: false }).unwrap();
    h.wait(3.0).await;
    assert_eq!(h.fake.opens(), 1);
    assert_eq!(h.state().await, AgentState::Idle);
}

#[tokio::test(start_paused = true)]
async fn a_failed_agent_stays_failed_and_unstarted() {
    let h = start(Setup {
        record: Box::new(|r| r.failed = true),
        ..Default::default()
    })
    .await;
    h.wait(3.0).await;
    assert_eq!(h.fake.opens(), 0);
    assert_eq!(h.state().await, AgentState::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_title_with_tmux_formats_is_escaped_and_kept() {
    let h = start(Setup::default()).await;
    h.wait(1.0).await;
    let r = h
        .actor
        .call(|r| AgentMsg::Rename("#(touch /tmp/x)".into(), r), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r, Ok(()));
    assert!(h
        .fake
        .calls()
        .contains(&Call::Rename("##(touch /tmp/x)".into())));
    let title = h.last_update_with(|r| r.title);
    assert_eq!(title.as_deref(), Some("#(touch /tmp/x)"));
}

#[tokio::test(start_paused = true)]
async fn kill_keeps_the_transcript_and_stops_the_actor() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    h.actor.call(AgentMsg::Kill, None).await.unwrap().unwrap();
    h.wait(0.5).await;
    assert!(h.fake.calls().contains(&Call::Kill("%1".into())));
    assert!(
        h.log().contains(&"transcript-saved".into()),
        "{:?}",
        h.log()
    );
    assert_eq!(h.actor.get_status(), ractor::ActorStatus::Stopped);
}

// ---- signals ------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_session_start_hook_keeps_the_session_id() {
    let h = start(Setup::default()).await;
    h.wait(1.0).await;
    h.actor
        .cast(AgentMsg::Hook {
            event: "SessionStart".into(),
            payload: serde_json::json!({"session_id": "abc-123"}),
        })
        .unwrap();
    h.wait(5.0).await;
    let sid = h.last_update_with(|r| r.session_id);
    assert_eq!(sid.as_deref(), Some("abc-123"));
}

#[tokio::test(start_paused = true)]
async fn a_hook_the_screen_contradicts_is_logged_and_the_screen_wins() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    h.actor
        .cast(AgentMsg::Hook {
            event: "PermissionRequest".into(),
            payload: serde_json::json!({}),
        })
        .unwrap();
    h.wait(5.0).await;
    assert_eq!(h.state().await, AgentState::Idle);
    assert!(h.log().contains(&"hook-disagrees".into()), "{:?}", h.log());
}

#[tokio::test(start_paused = true)]
async fn state_changes_go_up_to_the_hub() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    h.say("work").await;
    h.wait(5.0).await;
    let states: Vec<AgentState> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AgentEvent::StateChanged(s) => Some(s),
            _ => None,
        })
        .collect();
    let busy = states.iter().position(|s| *s == AgentState::Busy);
    let idle_after = busy.and_then(|b| states[b..].iter().position(|s| *s == AgentState::Idle));
    assert!(busy.is_some() && idle_after.is_some(), "{states:?}");
}
