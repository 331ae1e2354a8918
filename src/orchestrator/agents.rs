//! The agent table and what agents report into it (records, hooks, status
//! lines), and what a person does to one agent: kill, rename, a debug panic.

use chrono::Utc;
use ractor::{ActorRef, RpcReplyPort};

use super::{err, OrchMsg, OrchState, CALL};
use crate::agent::AgentMsg;
use crate::proto::Response;
use crate::state::{self, AgentRecord};

impl OrchState {
    /// Save the agent table (after every change).
    pub(super) fn persist(&self) {
        crate::changes::bump();
        let records: Vec<AgentRecord> = self.agents.values().map(|e| e.record.clone()).collect();
        if let Err(e) = state::save(&self.paths.agents_file(), &records) {
            tracing::error!(error = %e, file = %self.paths.agents_file().display(), "cannot save agent table");
        }
    }

    /// `orc kill`: the agent, its place in the restart line, its check-ins.
    pub(super) async fn kill(
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
                let _ = a.call(AgentMsg::Kill, Some(CALL)).await;
                self.agents.remove(&name);
                self.fleet.forget(&name);
                self.pump_fleet(myself);
                self.persist();
                if let Some(s) = &self.scheduler {
                    let _ = s.cast(crate::scheduler::SchedMsg::Forget(name.clone()));
                }
                let _ = reply.send(Response::Ok {
                    message: format!("killed {name}"),
                });
            }
        }
    }

    /// `orc rename`: the agent's tmux window title.
    pub(super) fn rename(&self, name: String, title: String, reply: RpcReplyPort<Response>) {
        let title = title.trim().to_string();
        if title.is_empty() || title.chars().any(|c| c.is_control()) || title.len() > 64 {
            let _ = reply.send(err("the title must be 1 to 64 printable characters"));
            return;
        }
        match self.actor(&name) {
            Err(e) => {
                let _ = reply.send(e);
            }
            Ok(a) => {
                tokio::spawn(async move {
                    let r = a
                        .call(|p| AgentMsg::Rename(title.clone(), p), Some(CALL))
                        .await;
                    let _ = reply.send(match r {
                        Ok(ractor::rpc::CallResult::Success(Ok(()))) => Response::Ok {
                            message: format!("{name}'s window is now `{title}`"),
                        },
                        Ok(ractor::rpc::CallResult::Success(Err(e))) => err(e),
                        _ => err(format!("agent {name} did not answer")),
                    });
                });
            }
        }
    }

    /// A Claude Code hook, passed to its agent.
    pub(super) fn hook(
        &self,
        agent: &str,
        event: String,
        payload: serde_json::Value,
        reply: RpcReplyPort<Response>,
    ) {
        let resp = match self.actor(agent) {
            Err(e) => e,
            Ok(a) => {
                let _ = a.cast(AgentMsg::Hook { event, payload });
                Response::Ok {
                    message: "noted".into(),
                }
            }
        };
        let _ = reply.send(resp);
    }

    /// From `orc statusline`: usage for the ledger, the rest for the agent.
    pub(super) fn status(
        &mut self,
        agent: &str,
        report: crate::proto::StatusReport,
        reply: RpcReplyPort<Response>,
    ) {
        let resp = match self.actor(agent) {
            Err(e) => e,
            Ok(a) => {
                if self.ledger.note_usage(agent, &report, Utc::now()) {
                    self.save_ledger();
                }
                let _ = a.cast(AgentMsg::Status(report));
                Response::Ok {
                    message: "noted".into(),
                }
            }
        };
        let _ = reply.send(resp);
    }

    /// From an agent: its record changed (pane, pid, restarts, failed).
    pub(super) fn updated(&mut self, mut record: AgentRecord) {
        if let Some(e) = self.agents.get_mut(&record.name) {
            // Reports live here, not in the agent's copy.
            record.report = e.record.report.take();
            e.record = record;
            self.persist();
        }
    }

    /// `orc debug panic`: the agent's actor panics (to test supervision).
    pub(super) fn debug_panic(&self, name: &str, reply: RpcReplyPort<Response>) {
        let resp = match self.actor(name) {
            Err(e) => e,
            Ok(a) => {
                let _ = a.cast(AgentMsg::Panic);
                Response::Ok {
                    message: format!("{name}'s actor told to panic"),
                }
            }
        };
        let _ = reply.send(resp);
    }
}
