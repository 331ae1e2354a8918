//! What an agent actor is told, and what it is started with.

use std::time::Duration;

use std::sync::Arc;

use ractor::RpcReplyPort;

use crate::credits::CreditPolicy;
use crate::paths::Paths;
use crate::proto::{AgentState, CreditEvent, PsRow, Response};
use crate::queue::Message;
use crate::scheduler::Clock;
use crate::state::AgentRecord;
use crate::tmux::pane::{PaneEvent, PaneOps};

/// What an agent tells the hub, through the sink it was started with.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    StateChanged(AgentState),
    /// Something only a person can fix.
    NeedsHuman {
        event: String,
        detail: String,
    },
    /// For the credit ledger.
    Credit(CreditEvent),
    /// Context below the threshold, in percent left.
    ContextLow(u8),
    /// The pane's process is gone: the hub decides about a restart.
    Exited,
    /// The record changed (a new pane, a restart, a title, a session id).
    Updated(Box<AgentRecord>),
    /// Usage windows from a structured signal other than the status line
    /// (Codex's session log), for the credit ledger.
    Usage(crate::proto::StatusReport),
}

/// Where an agent's events go (the hub, or a test).
pub type EventSink = Arc<dyn Fn(AgentEvent) + Send + Sync>;

impl From<PaneEvent> for AgentMsg {
    fn from(ev: PaneEvent) -> Self {
        match ev {
            PaneEvent::Output { seq, data } => AgentMsg::Output { seq, data },
            PaneEvent::Died { status } => AgentMsg::PaneDied { status },
            PaneEvent::Gone => AgentMsg::PaneGone,
            PaneEvent::Resync => AgentMsg::Resync,
        }
    }
}

pub enum AgentMsg {
    /// Bytes the pane printed, with their position in the control stream.
    Output {
        seq: u64,
        data: Vec<u8>,
    },
    /// The pane's process exited (the pane stays, `remain-on-exit`).
    PaneDied {
        status: Option<i32>,
    },
    /// The pane or its window was killed.
    PaneGone,
    /// Rebuild the screen from tmux (after a resize, a pause, a reconnect).
    Resync,
    /// Start a fresh pane for the agent (after a crash, or `orc restart`).
    Respawn {
        manual: bool,
    },
    /// The restart budget ran out.
    MarkFailed(String),
    Snapshot(RpcReplyPort<PsRow>),
    /// Queue a message (journaled before the reply). With a reply port for
    /// `--wait`, the answer comes once it is delivered or failed.
    Enqueue(Message, bool, RpcReplyPort<Response>),
    /// Kill the pane and stop the actor (`orc kill`).
    Kill(RpcReplyPort<()>),
    /// The visible screen as text, with its size (rows, cols).
    Screen(RpcReplyPort<(u16, u16, String)>),
    /// Re-classify the screen once it may have settled.
    Tick,
    /// Timer: a limited agent's resume instant may have come.
    ResumeDue(u64),
    /// Timer: the resume message went in this long ago; still limited?
    VerifyResume(u64),
    /// Test hook: panic inside the actor.
    Panic,
    /// A Claude Code hook fired in the agent (`orc hook EVENT`).
    Hook {
        event: String,
        payload: serde_json::Value,
    },
    /// Timer: does the screen agree with the hook that fired then?
    HookCheck(String, u64),
    /// What the agent's status line reported (`orc statusline`).
    Status(crate::proto::StatusReport),
    /// Timer: the permission prompt that appeared then is still unanswered?
    StillWaiting(u64),
    /// `orc rename`: a new window title (kept across restarts).
    Rename(String, RpcReplyPort<Result<(), String>>),
}

pub struct AgentArgs {
    pub record: AgentRecord,
    /// The pane port: the only way the agent reaches tmux.
    pub pane: Arc<dyn PaneOps>,
    /// Up to the hub.
    pub events: EventSink,
    /// Wall-clock time (limits, resets, `since`).
    pub clock: Arc<dyn Clock>,
    pub paths: Paths,
    /// Start a new pane even if the record names one (the old one is gone).
    pub fresh: bool,
    /// With `fresh`: do not start it yet; the orchestrator sends `Respawn`
    /// when its turn in the fleet restart line comes.
    pub hold: bool,
    /// How to resume after a usage limit (the profile's message applied).
    pub credits: CreditPolicy,
    pub context: crate::config::ContextPolicy,
    /// Tell a human about a permission prompt left unanswered this long.
    pub notify_permission_after: Option<Duration>,
    /// Escalate a question or menu left unanswered this long.
    pub notify_choice_after: Option<Duration>,
    /// The port to the pane's processes (ended with the pane).
    pub procs: Arc<dyn crate::procs::ProcOps>,
}
