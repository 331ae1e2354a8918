//! One actor per agent. It owns the agent's pane: starts it, feeds every byte
//! of its output into a vt100 screen, classifies that screen, notices when the
//! pane dies or disappears, and types messages into it.
//!
//! `handle` only dispatches; each concern is a file:
//! - `observe`: output into the screen, classification, ticks, the `ps` row;
//! - `answer` and `dialogs`: dialogs answered by their labels, by policy;
//! - `delivery`: the queue typed into the composer, crash recovery;
//! - `limits`: usage-limit episodes, resume prompts, context, the conversation log;
//! - `signals`: hooks and the status line;
//! - `lifecycle`: start, adopt, resync, exit, restart, kill, rename;
//! - `artifacts`: the event log, saved screens and transcripts.

mod answer;
mod artifacts;
mod codex_log;
mod delivery;
pub mod dialogs;
mod lifecycle;
mod limits;
mod msg;
mod observe;
pub mod signals;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::credits::{CreditPolicy, Episode};
use crate::paths::Paths;
use crate::proto::{AgentState, Response};
use crate::queue::{Message, Op, Queue};
use crate::scheduler::Clock;
use crate::screen::detect::{Detector, Observation};
use crate::state::AgentRecord;
use crate::tmux::pane::PaneOps;

pub use artifacts::latest_transcript;
pub use msg::{AgentArgs, AgentEvent, AgentMsg, EventSink};

pub struct AgentState_ {
    record: AgentRecord,
    pane: Arc<dyn PaneOps>,
    events: EventSink,
    clock: Arc<dyn Clock>,
    paths: Paths,
    parser: vt100::Parser,
    /// Output at or before this stream position is already in the screen.
    seeded_at: u64,
    alive: bool,
    /// `restarting` or `failed` while the agent has no live process.
    forced: Option<AgentState>,
    state: AgentState,
    since: DateTime<Utc>,
    last_change: Instant,
    digest: u64,
    /// When the screen was last compared with `digest`, and whether output
    /// came since (a burst is compared at most once per `DIGEST_EVERY`).
    digested_at: Instant,
    undigested: bool,
    last_activity: Option<DateTime<Utc>>,
    note: Option<String>,
    /// The last paragraph its screen showed when its process last ended.
    last_words: Option<String>,
    /// When the earliest pending Tick fires (None: none pending).
    tick_due: Option<Instant>,
    table: Option<&'static Detector>,
    obs: Observation,
    /// The dialog answer under way (by label, checked after every key).
    answerer: dialogs::Answerer,
    /// A dialog that orc leaves to a person has been reported (once per
    /// appearance).
    choice_reported: bool,
    limited_until: Option<DateTime<Utc>>,
    /// An unplaceable screen is logged once per episode.
    unplaced_logged: bool,
    queue: Queue,
    /// Callers of `orc send --wait`, by message id.
    waiters: std::collections::HashMap<String, RpcReplyPort<Response>>,
    /// Messages caught mid-delivery by a crash, to check against the screen.
    ambiguous: Vec<(Message, Op)>,
    /// When the last turn finished, until its event is logged.
    turn_done_at: Option<Instant>,
    /// A turn is under way (seen busy, not yet back at an idle prompt).
    in_turn: bool,
    /// This actor, for timers set from synchronous code.
    me: Option<ActorRef<AgentMsg>>,
    credits: CreditPolicy,
    context: crate::config::ContextPolicy,
    /// The usage limit under way, until the agent works again.
    episode: Option<Episode>,
    /// Bumped to cancel resume timers.
    episode_gen: u64,
    /// A turn started (busy) during the episode.
    episode_turn: bool,
    /// Claude Code's conversation log, when the agent runs it.
    convlog: Option<crate::convlog::Tail>,
    convlog_checked: Option<Instant>,
    /// The id of the resume message last taken from the queue for typing.
    last_resume_id: Option<String>,
    /// When orc's resume prompt last went in: a refusal logged before it is
    /// not a refusal of the resume.
    resume_typed_at: Option<DateTime<Utc>>,
    /// When the current pane was started (or adopted).
    started_at: Option<DateTime<Utc>>,
    /// The context level that was last acted on (one notice per dip).
    context_alerted: bool,
    /// Bumped on each hook event.
    hook_seq: u64,
    /// Bumped on each new permission prompt.
    waiting_gen: u64,
    notify_permission_after: Option<Duration>,
    notify_choice_after: Option<Duration>,
    /// Check-ins that went into a turn the limit refused.
    refused_turn: crate::refused_turn::RefusedTurn,
    /// Hooks and status line beyond the screen (`signals`).
    sig: signals::Signals,
    /// The pane's process family (`procs`), ended with the pane.
    procs: Arc<dyn crate::procs::ProcOps>,
    /// Codex's session log, when the agent runs Codex (`codex_log`).
    codex_log: Option<crate::codex_limits::Tail>,
    codex_checked: Option<Instant>,
}

pub struct AgentActor;

/// vt100 0.16 overflows on a wide character in a 1-column screen; a pane that
/// small shows nothing useful anyway.
const MIN_SIZE: u16 = 2;

/// How long a new pane may show a screen no rule places before it counts
/// as `unknown` (a CLI still drawing its first frame is `starting`).
const STARTUP_GRACE: Duration = Duration::from_secs(15);

/// How long after a turn ends its `turn-finished` event waits for the screen.
const TURN_LOG_DELAY: Duration = Duration::from_millis(800);
/// Within a burst of output, the screen is compared with its last look at
/// most this often (the comparison renders the whole screen as text; per
/// output event it was most of the supervisor's CPU under a flood).
const DIGEST_EVERY: Duration = Duration::from_millis(5);

impl Actor for AgentActor {
    type Msg = AgentMsg;
    type State = AgentState_;
    type Arguments = AgentArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: AgentArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let (fresh, hold) = (args.fresh, args.hold);
        let mut st = AgentState_::new(args, &myself);
        st.adopt_or_start(fresh, hold).await?;
        Ok(st)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            AgentMsg::Output { seq, data } => st.on_output(seq, &data).await,
            AgentMsg::Tick => st.on_tick().await,
            AgentMsg::ResumeDue(g) => st.on_resume_due(g).await,
            AgentMsg::VerifyResume(g) => st.on_verify_resume(g),
            AgentMsg::Hook { event, payload } => st.on_hook_msg(&event, &payload),
            AgentMsg::HookCheck(event, g) => st.on_hook_check(&event, g),
            AgentMsg::Status(report) => st.on_status(report),
            AgentMsg::StillWaiting(g) => st.on_still_waiting(g),
            AgentMsg::Rename(title, reply) => st.rename(title, reply).await,
            AgentMsg::Panic => panic!("agent {} panicked on request (test hook)", st.record.name),
            AgentMsg::PaneDied { status } => st.on_pane_died(status).await,
            AgentMsg::PaneGone => st.on_pane_gone(),
            AgentMsg::Resync => st.on_resync().await,
            AgentMsg::Respawn { manual } => st.respawn(manual).await,
            AgentMsg::MarkFailed(why) => st.mark_failed(why),
            AgentMsg::Snapshot(reply) => {
                let _ = reply.send(st.row());
            }
            AgentMsg::Enqueue(m, wait, reply) => st.enqueue(m, wait, reply).await,
            AgentMsg::Screen(reply) => {
                let _ = reply.send(st.screen_text());
            }
            AgentMsg::Kill(reply) => {
                st.kill().await;
                let _ = reply.send(());
                myself.stop(Some("killed".into()));
            }
        }
        Ok(())
    }
}

impl AgentState_ {
    /// Wall-clock now, from the clock the agent was started with.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// What this agent's CLI is.
    fn driver(&self) -> &'static crate::drivers::Driver {
        crate::drivers::of(&self.record.detector)
    }

    /// Tell the hub.
    fn tell(&self, ev: AgentEvent) {
        (self.events)(ev)
    }

    /// The actor's state before its pane is adopted or started.
    fn new(args: AgentArgs, myself: &ActorRef<AgentMsg>) -> Self {
        let (queue, ambiguous) = Queue::load(args.paths.queue_file(&args.record.name));
        let now = args.clock.now();
        let mut st = AgentState_ {
            record: args.record,
            pane: args.pane,
            events: args.events,
            clock: args.clock,
            paths: args.paths,
            parser: vt100::Parser::new(40, 120, 0),
            seeded_at: 0,
            alive: false,
            forced: None,
            state: AgentState::Starting,
            since: now,
            last_change: Instant::now(),
            digested_at: Instant::now(),
            undigested: false,
            digest: 0,
            last_activity: None,
            note: None,
            last_words: None,
            tick_due: None,
            table: None,
            obs: Observation::default(),
            answerer: dialogs::Answerer::default(),
            choice_reported: false,
            limited_until: None,
            unplaced_logged: false,
            queue,
            waiters: Default::default(),
            ambiguous,
            turn_done_at: None,
            in_turn: false,
            me: Some(myself.clone()),
            credits: args.credits,
            context: args.context,
            episode: None,
            episode_gen: 0,
            episode_turn: false,
            convlog: None,
            convlog_checked: None,
            last_resume_id: None,
            resume_typed_at: None,
            started_at: Some(now),
            context_alerted: false,
            waiting_gen: 0,
            hook_seq: 0,
            sig: Default::default(),
            notify_permission_after: args.notify_permission_after,
            notify_choice_after: args.notify_choice_after,
            refused_turn: Default::default(),
            procs: args.procs,
            codex_log: None,
            codex_checked: None,
        };
        st.open_convlog();
        st.open_codex_log();
        st.table = crate::drivers::table_for(&st.record.detector);
        if st.record.failed {
            st.forced = Some(AgentState::Failed);
        }
        st
    }
}

#[cfg(test)]
mod tests;
