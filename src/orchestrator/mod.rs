//! The hub: owns the agent table, spawns one actor per agent, restarts dead
//! agents with exponential backoff and an intensity limit, and persists the
//! table after every change.
//!
//! `handle` only dispatches; each concern is a file:
//! - `adopt`: what happens at start (the table, tagged panes, the scheduler);
//! - `spawn`: `orc spawn`, starting agent actors, tmux sessions, check-ins;
//! - `restarts`: backoff, the fleet restart line, supervision events;
//! - `messages`: routing, `orc send`, `orc report`, orc's own notices;
//! - `credits`: the credit ledger and low context;
//! - `notify`: what needs a person;
//! - `queries`: `ps`, `locate`, `logs`, `screen`;
//! - `schedule`: check-ins fired and `orc schedule`;
//! - `git`: the git monitor and `orc git`;
//! - `agents`: the table itself, and kill, rename, hooks, status lines.

mod adopt;
mod agents;
mod credits;
mod git;
mod messages;
mod notify;
mod queries;
mod requests;
mod restarts;
mod schedule;
mod spawn;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::agent::AgentMsg;
use crate::config::Config;
use crate::paths::Paths;
use crate::proto::{AgentState, Request, Response};
use crate::state::AgentRecord;
use crate::tmux::session::{SessionActor, SessionMsg, TmuxHandle};
use crate::tmux::Tmux;

pub use crate::restart::RestartPolicy;

pub enum OrchMsg {
    /// A client's request, as it came over the socket (`requests.rs`
    /// answers each kind).
    Request(Request, RpcReplyPort<Response>),
    /// From an agent: its process or pane is gone.
    Exited { name: String },
    /// Timer: restart this agent now.
    DoRespawn { name: String, generation: u64 },
    /// From an agent: its record changed (pane, pid, restarts, failed).
    Updated(Box<AgentRecord>),
    /// From an agent: its state changed (the fleet restart line listens).
    StateChanged { name: String, state: AgentState },
    /// Timer: the fleet restart line may move on.
    FleetTick,
    /// From an agent: a usage-limit event for the credit ledger.
    Credit {
        name: String,
        event: crate::proto::CreditEvent,
    },
    /// From an agent: its context is running low.
    ContextLow { name: String, left: u8 },
    /// From an agent: usage windows its CLI logged (Codex's session log).
    Usage {
        name: String,
        report: Box<crate::proto::StatusReport>,
    },
    /// From an agent (or the hub itself): only a person can fix this.
    NeedsHuman {
        name: String,
        event: String,
        detail: String,
    },
    /// From the scheduler: a check-in is due.
    Fire(
        crate::scheduler::Firing,
        RpcReplyPort<crate::scheduler::FireOutcome>,
    ),
    /// Timer: look at the agents' worktrees.
    GitTick,
    /// The worktree inspection finished: apply the commit rule.
    GitChecked(Vec<crate::gitmon::Activity>),
}

pub struct OrchArgs {
    pub paths: Paths,
    pub config: Config,
    pub tmux: Tmux,
    pub session: String,
    pub policy: RestartPolicy,
}

struct Entry {
    record: AgentRecord,
    actor: Option<ActorRef<AgentMsg>>,
    history: VecDeque<Instant>,
    /// Bumped whenever a pending restart timer should be ignored.
    generation: u64,
}

pub struct OrchState {
    paths: Paths,
    config: Config,
    policy: RestartPolicy,
    handle: TmuxHandle,
    session: ActorRef<SessionMsg>,
    agents: BTreeMap<String, Entry>,
    /// Things `orc ps` should mention (e.g. tagged panes orc does not know).
    notes: Vec<String>,
    ledger: crate::credits::Ledger,
    scheduler: Option<ActorRef<crate::scheduler::SchedMsg>>,
    /// The git monitor's last look at each agent's worktree.
    git_last: BTreeMap<String, crate::gitmon::Activity>,
    /// The commit rule's memory per agent (`gitmon.json`).
    git_rule: crate::gitmon::RuleState,
    /// Role briefings (for their default check-in intervals).
    roles: crate::team::roles::RoleSet,
    /// Control connections to other tmux sessions (a project's team), by name.
    sessions: BTreeMap<String, (ActorRef<SessionMsg>, TmuxHandle)>,
    /// Dead agents come back one at a time (`restart.rs`).
    fleet: crate::restart::Fleet,
}

pub struct Orchestrator;

fn err(message: impl Into<String>) -> Response {
    Response::Error {
        message: message.into(),
    }
}

const CALL: Duration = Duration::from_secs(5);

impl Actor for Orchestrator {
    type Msg = OrchMsg;
    type State = OrchState;
    type Arguments = OrchArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<OrchMsg>,
        args: OrchArgs,
    ) -> Result<OrchState, ActorProcessingErr> {
        let (session, handle) =
            SessionActor::start(args.tmux.clone(), args.session.clone(), myself.get_cell()).await?;
        let loaded = adopt::load_table(&args.paths)?;
        let mut st = OrchState::new(args, session, handle);
        st.read_side_files(&myself);
        let tagged = st.tagged_panes().await?;
        st.adopt_all(&myself, loaded, tagged).await;
        st.start_scheduler(&myself).await?;
        Ok(st)
    }

    async fn handle(
        &self,
        myself: ActorRef<OrchMsg>,
        msg: OrchMsg,
        st: &mut OrchState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            OrchMsg::Request(req, reply) => st.request(&myself, req, reply).await,
            OrchMsg::NeedsHuman {
                name,
                event,
                detail,
            } => st.needs_human(&name, &event, &detail),
            OrchMsg::ContextLow { name, left } => st.context_low(&name, left),
            OrchMsg::Usage { name, report } => st.usage(&name, &report),
            OrchMsg::Exited { name } => st.schedule_restart(&myself, &name),
            OrchMsg::DoRespawn { name, generation } => st.do_respawn(&myself, &name, generation),
            OrchMsg::FleetTick => st.pump_fleet(&myself),
            OrchMsg::StateChanged { name, state } => st.state_changed(&myself, &name, state),
            OrchMsg::Credit { name, event } => st.credit(&name, event),
            OrchMsg::Fire(f, reply) => st.fire(f, reply),
            OrchMsg::GitTick => st.git_tick(&myself),
            OrchMsg::GitChecked(rows) => st.git_checked(rows),
            OrchMsg::Updated(record) => st.updated(*record),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<OrchMsg>,
        evt: SupervisionEvent,
        st: &mut OrchState,
    ) -> Result<(), ActorProcessingErr> {
        st.supervision(&myself, evt).await
    }
}
