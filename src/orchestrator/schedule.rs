//! Check-ins: the scheduler's firings queued as messages (held while the
//! agent's account is limited), and `orc schedule` add, list, cancel.

use chrono::Utc;
use ractor::{ActorRef, RpcReplyPort};

use super::{err, OrchState, CALL};
use crate::agent::AgentMsg;
use crate::proto::Response;
use crate::scheduler::{FireOutcome, Firing};

impl OrchState {
    /// From the scheduler: a check-in is due.
    pub(super) fn fire(&self, f: Firing, reply: RpcReplyPort<FireOutcome>) {
        let Ok(actor) = self.actor(&f.to) else {
            let _ = reply.send(FireOutcome::Gone {
                why: format!("no agent named `{}` any more", f.to),
            });
            return;
        };
        if let Some((until, why)) = self.ledger.hold(&f.to, Utc::now()) {
            let _ = reply.send(FireOutcome::Deferred { until, why });
            return;
        }
        let m = crate::queue::Message {
            id: crate::queue::new_id(),
            from: format!("scheduler ({})", f.from),
            to: f.to.clone(),
            text: f.note.clone(),
            created: Utc::now(),
            key: Some(f.key.clone()),
        };
        let project = self
            .agents
            .get(&f.to)
            .and_then(|e| e.record.project.clone());
        self.comm_log(project.as_deref(), "messages", &serde_json::json!({
            "at": Utc::now(), "id": m.id, "kind": "check-in", "job": f.job, "key": f.key, "from": m.from, "to": m.to, "bytes": m.text.len(), "text": m.text,
        }));
        tokio::spawn(async move {
            let _ = reply.send(enqueue_check_in(actor, m, &f.to).await);
        });
    }

    /// `orc schedule`: a check-in for an existing agent.
    pub(super) fn schedule(&self, spec: crate::scheduler::JobSpec, reply: RpcReplyPort<Response>) {
        if let Err(e) = crate::names::check_every(
            spec.every.filter(|e| *e > 0),
            self.config.checkins.min_every_secs,
        ) {
            let _ = reply.send(err(e));
            return;
        }
        if !self.agents.contains_key(&spec.to) {
            let _ = reply.send(err(format!(
                "no agent named `{}`; `orc ps` lists them (a check-in needs an existing agent)",
                spec.to
            )));
            return;
        }
        let Some(sched) = self.scheduler.clone() else {
            let _ = reply.send(err("the scheduler is not running"));
            return;
        };
        tokio::spawn(async move {
            let r = sched
                .call(|p| crate::scheduler::SchedMsg::Add(spec, p), Some(CALL))
                .await;
            let _ = reply.send(match r {
                Ok(ractor::rpc::CallResult::Success(Ok(job))) => Response::Scheduled { job },
                Ok(ractor::rpc::CallResult::Success(Err(e))) => err(e),
                _ => err("the scheduler did not answer"),
            });
        });
    }

    /// `orc schedule list`.
    pub(super) fn schedule_list(&self, reply: RpcReplyPort<Response>) {
        let Some(sched) = self.scheduler.clone() else {
            let _ = reply.send(err("the scheduler is not running"));
            return;
        };
        tokio::spawn(async move {
            let r = sched
                .call(crate::scheduler::SchedMsg::List, Some(CALL))
                .await;
            let _ = reply.send(match r {
                Ok(ractor::rpc::CallResult::Success((jobs, notes))) => {
                    Response::Jobs { jobs, notes }
                }
                _ => err("the scheduler did not answer"),
            });
        });
    }

    /// `orc schedule cancel`.
    pub(super) fn schedule_cancel(&self, id: String, reply: RpcReplyPort<Response>) {
        let Some(sched) = self.scheduler.clone() else {
            let _ = reply.send(err("the scheduler is not running"));
            return;
        };
        tokio::spawn(async move {
            let r = sched
                .call(|p| crate::scheduler::SchedMsg::Cancel(id, p), Some(CALL))
                .await;
            let _ = reply.send(match r {
                Ok(ractor::rpc::CallResult::Success(Ok(job))) => Response::Ok {
                    message: format!(
                        "cancelled {} (to {}: {})",
                        job.id,
                        job.to,
                        job.note.lines().next().unwrap_or("")
                    ),
                },
                Ok(ractor::rpc::CallResult::Success(Err(e))) => err(e),
                _ => err("the scheduler did not answer"),
            });
        });
    }
}

/// Queue a check-in with its agent; the agent's answer as the scheduler's.
async fn enqueue_check_in(
    actor: ActorRef<AgentMsg>,
    m: crate::queue::Message,
    to: &str,
) -> FireOutcome {
    match actor
        .call(|p| AgentMsg::Enqueue(m, false, p), Some(CALL))
        .await
    {
        Ok(ractor::rpc::CallResult::Success(Response::Queued { id })) => FireOutcome::Queued { id },
        Ok(ractor::rpc::CallResult::Success(Response::Duplicate { id })) => {
            FireOutcome::Duplicate { id }
        }
        Ok(ractor::rpc::CallResult::Success(Response::Error { message })) => {
            FireOutcome::Failed { why: message }
        }
        _ => FireOutcome::Failed {
            why: format!("agent {to} did not answer"),
        },
    }
}
