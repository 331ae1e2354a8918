//! Questions about agents that change nothing: `orc ps`, `locate`, `logs`,
//! `screen`, and the lookup of an agent's actor they share.

use chrono::Utc;
use ractor::{ActorRef, RpcReplyPort};

use super::{err, Entry, OrchState, CALL};
use crate::agent::AgentMsg;
use crate::paths::Paths;
use crate::proto::{AgentState, PsRow, Response};
use crate::state::AgentRecord;

impl OrchState {
    /// `orc ps`: every agent's row, in table order, with the hub's notes.
    pub(super) async fn ps(&self, reply: RpcReplyPort<Response>) {
        let mut rows = self.ps_rows().await;
        for row in rows.iter_mut() {
            if let Some(e) = self.agents.get(&row.name) {
                row.report = e.record.report.clone();
            }
            if let Some(g) = self.git_last.get(&row.name) {
                row.last_commit = g.last_commit;
                row.uncommitted = Some(g.uncommitted);
            }
        }
        let _ = reply.send(Response::Ps {
            agents: rows,
            notes: self.ps_notes(),
        });
    }

    /// Each agent actor's own row, asked all at once.
    async fn ps_rows(&self) -> Vec<PsRow> {
        let mut rows = Vec::with_capacity(self.agents.len());
        let mut calls = tokio::task::JoinSet::new();
        for (i, e) in self.agents.values().enumerate() {
            match &e.actor {
                Some(a) => {
                    let a = a.clone();
                    let rec = e.record.clone();
                    calls.spawn(async move {
                        let r = a.call(AgentMsg::Snapshot, Some(CALL)).await;
                        let row = match r {
                            Ok(ractor::rpc::CallResult::Success(row)) => row,
                            _ => OrchState::row_from_record(&rec, "agent actor did not answer"),
                        };
                        (i, row)
                    });
                }
                None => rows.push((
                    i,
                    OrchState::row_from_record(&e.record, "no actor (restarting)"),
                )),
            }
        }
        while let Some(r) = calls.join_next().await {
            if let Ok(r) = r {
                rows.push(r);
            }
        }
        rows.sort_by_key(|(i, _)| *i);
        rows.into_iter().map(|(_, r)| r).collect()
    }

    /// What `orc ps` should mention besides the rows.
    fn ps_notes(&self) -> Vec<String> {
        let mut notes = self.notes.clone();
        for h in std::iter::once(&self.handle).chain(self.sessions.values().map(|(_, h)| h)) {
            if h.polling() {
                notes.push(format!(
                    "tmux session {}: control mode is wedged (a control client exits at once); polling the panes every {} s with capture-pane, retrying control mode every {} s",
                    h.session,
                    crate::tmux::session::POLL_EVERY.as_secs(),
                    crate::tmux::session::RETRY_CONTROL_EVERY.as_secs()
                ));
            }
        }
        if let Some(who) = self.fleet.tripped() {
            notes.push(format!(
                "restarts paused: {who} came back unable to log in; waiting: {}; log {who} in, then `orc restart {who}`",
                self.fleet.waiting().join(", ")
            ));
        }
        notes
    }

    /// `orc locate`: where an agent's pane is.
    pub(super) fn locate(&self, name: &str, reply: RpcReplyPort<Response>) {
        let resp = match self.agents.get(name) {
            None => err(format!("no agent named `{name}`; `orc ps` lists them")),
            Some(e) => match (&e.record.pane, &e.record.window) {
                (Some(p), Some(w)) => Response::Location {
                    tmux: self.handle.tmux.bin.display().to_string(),
                    socket: self.handle.tmux.socket.clone(),
                    session: e.record.session.clone(),
                    window: w.clone(),
                    pane: p.clone(),
                },
                _ => err(format!("agent `{name}` has no pane right now")),
            },
        };
        let _ = reply.send(resp);
    }

    /// `orc logs --transcript`: the latest saved transcript.
    pub(super) fn transcript(&self, name: &str, reply: RpcReplyPort<Response>) {
        let resp = match crate::agent::latest_transcript(&self.paths, name) {
            Some(p) => Response::Logs {
                text: std::fs::read_to_string(&p).unwrap_or_default(),
            },
            None => err(format!(
                "no transcript for `{name}` yet: one is saved when an agent is killed or restarted"
            )),
        };
        let _ = reply.send(resp);
    }

    /// `orc logs`: the event journal and the last saved screen.
    pub(super) fn logs(&self, name: &str, reply: RpcReplyPort<Response>) {
        let resp = match self.agents.get(name) {
            None if !self.paths.agent_log_dir(name).exists() => {
                err(format!("no agent named `{name}` and no logs for it"))
            }
            _ => Response::Logs {
                text: read_logs(&self.paths, name),
            },
        };
        let _ = reply.send(resp);
    }

    /// `orc screen`: what the agent's pane shows now.
    pub(super) fn screen(&self, name: String, reply: RpcReplyPort<Response>) {
        match self.actor(&name) {
            Err(e) => {
                let _ = reply.send(e);
            }
            Ok(a) => {
                tokio::spawn(async move {
                    let resp = match a.call(AgentMsg::Screen, Some(CALL)).await {
                        Ok(ractor::rpc::CallResult::Success((rows, cols, text))) => {
                            Response::Screen { rows, cols, text }
                        }
                        _ => err(format!("agent {name} did not answer")),
                    };
                    let _ = reply.send(resp);
                });
            }
        }
    }

    #[allow(clippy::result_large_err)]
    pub(super) fn actor(&self, name: &str) -> Result<ActorRef<AgentMsg>, Response> {
        match self.agents.get(name) {
            None => Err(err(format!("no agent named `{name}`; `orc ps` lists them"))),
            Some(Entry { actor: Some(a), .. }) => Ok(a.clone()),
            Some(_) => Err(err(format!(
                "agent `{name}` is being restarted; try again in a moment"
            ))),
        }
    }

    fn row_from_record(r: &AgentRecord, note: &str) -> PsRow {
        PsRow {
            name: r.name.clone(),
            role: r.role.clone(),
            project: r.project.clone(),
            profile: r.profile.clone(),
            pane: r.pane.clone(),
            pid: r.pid,
            state: if r.failed {
                AgentState::Failed
            } else {
                AgentState::Unknown
            },
            since: Utc::now(),
            restarts: r.restarts,
            limited_until: None,
            queue: 0,
            last_activity: None,
            cwd: r.cwd.display().to_string(),
            note: Some(note.into()),
            report: r.report.clone(),
            context_left: None,
            last_commit: None,
            uncommitted: None,
        }
    }
}

/// The agent's event journal and its latest saved screen.
pub fn read_logs(paths: &Paths, name: &str) -> String {
    let dir = match paths.inside(&paths.agent_log_dir(name)) {
        Ok(d) => d,
        Err(e) => return format!("(not read: {e})\n"),
    };
    let mut out = String::new();
    match std::fs::read_to_string(dir.join("events.jsonl")) {
        Ok(t) => {
            out.push_str("== events ==\n");
            out.push_str(&t);
        }
        Err(_) => out.push_str("(no events recorded)\n"),
    }
    let mut screens: Vec<_> = std::fs::read_dir(dir.join("screens"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    screens.sort();
    if let Some(last) = screens.last() {
        out.push_str(&format!("== last saved screen: {} ==\n", last.display()));
        out.push_str(&std::fs::read_to_string(last).unwrap_or_default());
    }
    out
}
