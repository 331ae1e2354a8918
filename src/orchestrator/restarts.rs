//! The single place that decides restarts: dead agents back off and join the
//! fleet restart line (one at a time), `orc restart`, and the supervision
//! events of the actors the hub started (agents, sessions, the scheduler).

use std::time::Instant;

use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use super::{OrchMsg, OrchState};
use crate::agent::AgentMsg;
use crate::proto::{AgentState, Response};
use crate::state::AgentRecord;
use crate::tmux::session::SessionMsg;

impl OrchState {
    /// Start the next agent of the fleet restart line, if its turn has come.
    pub(super) fn pump_fleet(&mut self, myself: &ActorRef<OrchMsg>) {
        loop {
            let now = Instant::now();
            match self.fleet.next(now) {
                crate::restart::Next::Start(name) => {
                    let Some(e) = self.agents.get(&name) else {
                        self.fleet.forget(&name);
                        continue;
                    };
                    match &e.actor {
                        Some(a) if !e.record.failed => {
                            tracing::info!(agent = %name, "its turn in the restart line");
                            let _ = a.cast(AgentMsg::Respawn { manual: false });
                        }
                        _ => self.fleet.forget(&name),
                    }
                }
                crate::restart::Next::WaitUntil(t) => {
                    myself.send_after(t.saturating_duration_since(now), || OrchMsg::FleetTick);
                    return;
                }
                crate::restart::Next::Nothing => return,
            }
        }
    }

    /// An agent's process or pane is gone: back off, or give up.
    pub(super) fn schedule_restart(&mut self, myself: &ActorRef<OrchMsg>, name: &str) {
        let Some(entry) = self.agents.get_mut(name) else {
            return;
        };
        if entry.record.failed {
            return;
        }
        let now = Instant::now();
        match self.policy.next_delay(&mut entry.history, now) {
            Some(delay) => {
                entry.history.push_back(now);
                entry.generation += 1;
                let generation = entry.generation;
                tracing::info!(agent = name, ?delay, "restarting after backoff");
                let name = name.to_string();
                myself.send_after(delay, move || OrchMsg::DoRespawn { name, generation });
            }
            None => {
                let why = format!(
                    "gave up after {} restarts within {} s; fix the cause, then `orc restart {}`",
                    self.policy.max_restarts,
                    self.policy.window.as_secs(),
                    name
                );
                tracing::error!(agent = name, "{why}");
                entry.record.failed = true;
                let (n, w) = (name.to_string(), why.clone());
                let _ = myself.cast(OrchMsg::NeedsHuman {
                    name: n,
                    event: "failed".into(),
                    detail: w,
                });
                if let Some(a) = &entry.actor {
                    let _ = a.cast(AgentMsg::MarkFailed(why));
                }
                self.persist();
            }
        }
    }

    /// Timer: a backoff is over.
    pub(super) fn do_respawn(&mut self, myself: &ActorRef<OrchMsg>, name: &str, generation: u64) {
        if let Some(e) = self.agents.get(name) {
            if e.generation == generation && !e.record.failed && e.actor.is_some() {
                // Its backoff is over: it joins the line.
                self.fleet.ready(name);
                self.pump_fleet(myself);
            }
        }
    }

    /// An agent's state changed: the restart line moves on, or pauses.
    pub(super) fn state_changed(
        &mut self,
        myself: &ActorRef<OrchMsg>,
        name: &str,
        state: AgentState,
    ) {
        match self.fleet.observed(name, state, Instant::now()) {
            crate::restart::Verdict::Pending => {}
            crate::restart::Verdict::Tripped { waiting } => {
                let detail = format!(
                    "came back unable to log in; restarts are paused so the others do not fork the shared login ({} waiting: {}). Log it in, then `orc restart {name}`",
                    waiting.len(),
                    if waiting.is_empty() { "none".into() } else { waiting.join(", ") }
                );
                self.notify(name, "restarts_paused", &detail);
            }
            _ => self.pump_fleet(myself),
        }
    }

    /// `orc restart`: a person asks for it now.
    pub(super) fn restart(
        &mut self,
        myself: &ActorRef<OrchMsg>,
        name: String,
        reply: RpcReplyPort<Response>,
    ) {
        match self.actor(&name) {
            Err(e) => {
                let _ = reply.send(e);
            }
            Ok(a) => {
                if let Some(e) = self.agents.get_mut(&name) {
                    e.history.clear();
                    e.generation += 1; // cancel a pending backoff restart
                    e.record.failed = false;
                }
                // A person acted: this agent leaves the line, a paused
                // line goes on.
                self.fleet.forget(&name);
                self.fleet.close_breaker();
                let _ = a.cast(AgentMsg::Respawn { manual: true });
                self.pump_fleet(myself);
                let _ = reply.send(Response::Ok {
                    message: format!("restarting {name}"),
                });
            }
        }
    }

    /// A linked actor failed or stopped.
    pub(super) async fn supervision(
        &mut self,
        myself: &ActorRef<OrchMsg>,
        evt: SupervisionEvent,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorFailed(cell, error) => {
                if self.is_session_actor(cell.get_id()) {
                    // Without its tmux connection the hub is blind: fail upward.
                    return Err(format!("tmux session actor failed: {error}").into());
                }
                if self
                    .scheduler
                    .as_ref()
                    .is_some_and(|s| s.get_id() == cell.get_id())
                {
                    return Err(format!("scheduler failed: {error}").into());
                }
                let Some(name) = self.find_by_cell(cell.get_id()) else {
                    return Ok(());
                };
                tracing::error!(agent = %name, %error, "agent actor failed; starting a new one for the same pane");
                self.agent_actor_failed(myself, &name).await;
            }
            SupervisionEvent::ActorTerminated(cell, _, _)
                if self.is_session_actor(cell.get_id()) =>
            {
                return Err("tmux session actor stopped".into());
            }
            _ => {}
        }
        Ok(())
    }

    /// A new actor for the same pane, failed if the restart budget is spent.
    async fn agent_actor_failed(&mut self, myself: &ActorRef<OrchMsg>, name: &str) {
        let record = match self.agents.get_mut(name) {
            Some(e) => {
                e.actor = None;
                e.record.clone()
            }
            None => return,
        };
        self.unroute(&record);
        let budget = {
            let e = self.agents.get_mut(name).expect("entry exists");
            let ok = self
                .policy
                .next_delay(&mut e.history, Instant::now())
                .is_some();
            e.history.push_back(Instant::now());
            ok
        };
        let mut record = record;
        if !budget {
            record.failed = true;
        }
        match self.start_agent(myself, record.clone(), false, false).await {
            Ok(a) => {
                if let Some(e) = self.agents.get_mut(name) {
                    e.actor = Some(a);
                    e.record = record;
                }
            }
            Err(e) => {
                tracing::error!(agent = %name, error = %e, "cannot restart agent actor")
            }
        }
        self.persist();
    }

    /// post_stop does not run after a panic: drop the route here.
    fn unroute(&self, record: &AgentRecord) {
        if let Some(p) = record
            .pane
            .as_deref()
            .and_then(|p| p.strip_prefix('%'))
            .and_then(|p| p.parse().ok())
        {
            let _ = self
                .session_actor(&record.session)
                .cast(SessionMsg::Unroute { pane: p });
        }
    }
}
