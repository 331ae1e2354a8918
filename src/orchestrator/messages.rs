//! Messages between agents: checked, routed by the policy (rerouted to the
//! hub, copied to it, or rejected), journaled in the project's
//! communications log and queued; `orc report`; orc's own notices; the
//! queue journals read back for `orc messages`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use ractor::{ActorRef, RpcReplyPort};

use super::{err, Entry, OrchMsg, OrchState, CALL};
use crate::agent::AgentMsg;
use crate::paths::Paths;
use crate::proto::Response;
use crate::queue::Message;
use crate::routing::{Decision, End};

/// Largest message orc types into a pane.
pub const MAX_MESSAGE: usize = 64 * 1024;

impl OrchState {
    /// `orc send`: check, route, queue; the first delivery answers.
    pub(super) fn send(
        &self,
        name: &str,
        text: &str,
        from: Option<&str>,
        wait: bool,
        reply: RpcReplyPort<Response>,
    ) {
        let plan = self
            .validate_message(name, text, from)
            .and_then(|m| self.route(m));
        match plan {
            Err(e) => {
                let _ = reply.send(err(e));
            }
            Ok(deliveries) => self.deliver(deliveries, wait, reply),
        }
    }

    /// Queue each delivery with its agent.
    fn deliver(&self, deliveries: Vec<Message>, wait: bool, reply: RpcReplyPort<Response>) {
        // The first delivery answers the sender; copies go quietly.
        let mut reply = Some(reply);
        for (i, m) in deliveries.into_iter().enumerate() {
            let target = m.to.clone();
            let actor = match self.actor(&target) {
                Ok(a) => a,
                Err(e) => {
                    if let Some(r) = reply.take() {
                        let _ = r.send(e);
                    }
                    continue;
                }
            };
            let waiting = wait && i == 0;
            let r = if i == 0 { reply.take() } else { None };
            // Queueing is quick; waiting for delivery is not: answer from a task.
            tokio::spawn(async move {
                let timeout = if waiting {
                    Duration::from_secs(3600)
                } else {
                    CALL
                };
                let res = actor
                    .call(|p| AgentMsg::Enqueue(m, waiting, p), Some(timeout))
                    .await;
                let resp = match res {
                    Ok(ractor::rpc::CallResult::Success(resp)) => resp,
                    _ => err(format!("agent {target} did not answer; the message may be queued: see `orc messages --agent {target}`")),
                };
                if let Some(r) = r {
                    let _ = r.send(resp);
                }
            });
        }
    }

    /// `orc messages`.
    pub(super) fn messages(
        &self,
        agent: Option<&str>,
        status: Option<crate::proto::MessageStatus>,
        reply: RpcReplyPort<Response>,
    ) {
        let _ = reply.send(Response::Messages {
            messages: list_messages(&self.paths, agent, status),
        });
    }

    /// Check a message and make it ready to queue.
    fn validate_message(
        &self,
        to: &str,
        text: &str,
        from: Option<&str>,
    ) -> Result<Message, String> {
        if !self.agents.contains_key(to) {
            let close: Vec<&str> = self
                .agents
                .keys()
                .map(|k| k.as_str())
                .filter(|k| k.contains(to) || to.contains(*k) || edit_distance(k, to) <= 2)
                .collect();
            let hint = if close.is_empty() {
                "`orc ps` lists them".to_string()
            } else {
                format!("did you mean {}?", close.join(", "))
            };
            return Err(format!("no agent named `{to}`; {hint}"));
        }
        let from = from.unwrap_or("user").to_string();
        if from == to {
            return Err(format!("`{to}` cannot send a message to itself"));
        }
        let cleaned = crate::pane_text::clean_text(text);
        let cleaned = cleaned.trim_end_matches('\n').to_string();
        if cleaned.trim().is_empty() {
            return Err("the message is empty".into());
        }
        if cleaned.len() > MAX_MESSAGE {
            return Err(format!(
                "the message is {} bytes; the limit is {MAX_MESSAGE}: send a file path instead",
                cleaned.len()
            ));
        }
        if cleaned.len() != text.trim_end_matches('\n').len() {
            tracing::info!(
                to,
                "escape sequences or control characters were stripped from a message"
            );
        }
        Ok(Message {
            id: crate::queue::new_id(),
            from,
            to: to.to_string(),
            text: cleaned,
            created: Utc::now(),
            key: None,
        })
    }

    /// `orc report`, answered.
    pub(super) fn report(
        &mut self,
        myself: &ActorRef<OrchMsg>,
        from: &str,
        status: crate::proto::ReportStatus,
        details: &str,
        reply: RpcReplyPort<Response>,
    ) {
        let resp = self.record_report(myself, from, status, details);
        let _ = reply.send(resp);
    }

    /// `orc report`: remember it, tell the hub, tell the roles that depend
    /// on the reporter's role. Notices go through the queues like messages.
    fn record_report(
        &mut self,
        myself: &ActorRef<OrchMsg>,
        from: &str,
        status: crate::proto::ReportStatus,
        details: &str,
    ) -> Response {
        let Some(entry) = self.agents.get_mut(from) else {
            return err(format!("`orc report` must come from an agent; `{from}` is not one (use it inside an agent's pane, or --from NAME)"));
        };
        let details = crate::pane_text::clean_text(details).trim().to_string();
        entry.record.report = Some(crate::proto::Report {
            status,
            details: details.clone(),
            at: Utc::now(),
        });
        let role = entry.record.role.clone();
        let project = entry.record.project.clone();
        self.persist();
        let who = format!("{from} ({})", role.as_deref().unwrap_or("no role"));
        let told = self.report_notices(from, &who, role.as_deref(), &project, status, &details);
        self.send_report_notices(from, project.as_deref(), &told);
        let _ = myself;
        let names: Vec<&str> = told.iter().map(|(n, _)| n.as_str()).collect();
        Response::Ok {
            message: if names.is_empty() {
                format!("report recorded ({}); nobody to notify", status.as_str())
            } else {
                format!(
                    "report recorded ({}); notified {}",
                    status.as_str(),
                    names.join(", ")
                )
            },
        }
    }

    /// Who hears of a report, and what: the hub, and the roles whose work
    /// depends on the reporter's role.
    fn report_notices(
        &self,
        from: &str,
        who: &str,
        role: Option<&str>,
        project: &Option<String>,
        status: crate::proto::ReportStatus,
        details: &str,
    ) -> Vec<(String, String)> {
        let mut told = Vec::new();
        let hub_role = self.config.routing.hub.clone();
        for e in self.agents.values() {
            if e.record.name == from
                || e.record.project != *project
                    && e.record.role.as_deref() != Some(hub_role.as_str())
            {
                continue;
            }
            let r = e.record.role.as_deref().unwrap_or("");
            let depends = role.is_some_and(|mine| {
                self.config
                    .dependencies
                    .get(r)
                    .is_some_and(|on| on.iter().any(|x| x == mine))
            });
            let text = if r == hub_role {
                format!(
                    "[orc: report] {who} reports {}: {details}",
                    status.as_str().to_uppercase()
                )
            } else if depends {
                format!(
                    "[orc: dependency] {who}, whom your work depends on, reports {}: {details}",
                    status.as_str().to_uppercase()
                )
            } else {
                continue;
            };
            told.push((e.record.name.clone(), text));
        }
        told
    }

    /// Journal and queue a report's notices, signed by the reporter.
    fn send_report_notices(&self, from: &str, project: Option<&str>, told: &[(String, String)]) {
        for (to, text) in told {
            let m = Message {
                id: crate::queue::new_id(),
                from: from.to_string(),
                to: to.clone(),
                text: text.clone(),
                created: Utc::now(),
                key: None,
            };
            self.comm_log(project, "messages", &serde_json::json!({
                "at": Utc::now(), "id": m.id, "kind": "report", "from": m.from, "to": m.to, "bytes": m.text.len(), "text": m.text,
            }));
            if let Ok(a) = self.actor(to) {
                tokio::spawn(async move {
                    let _ = a.call(|p| AgentMsg::Enqueue(m, false, p), Some(CALL)).await;
                });
            }
        }
    }

    /// Apply the routing policy: the deliveries to make (the message itself,
    /// or rerouted to the hub, plus a copy for the hub), each journaled in the
    /// project's communications log; violations in `violations.jsonl`.
    fn route(&self, m: Message) -> Result<Vec<Message>, String> {
        let policy = &self.config.routing;
        let (from_name, to_name) = (m.from.clone(), m.to.clone());
        let (from, to) = (end(&self.agents, &from_name), end(&self.agents, &to_name));
        let hubs: Vec<(&str, Option<&str>)> = self
            .agents
            .values()
            .filter(|e| e.record.role.as_deref() == Some(policy.hub.as_str()))
            .map(|e| (e.record.name.as_str(), e.record.project.as_deref()))
            .collect();
        let project = to.project.or(from.project).map(str::to_string);
        let decision = policy.decide(&from, &to, &hubs);
        if decision != Decision::Deliver {
            self.log_violation(project.as_deref(), &m, &from, &to, &decision);
        }
        let out = match decision {
            Decision::Reject(why) => return Err(why),
            Decision::Reroute { hub } => vec![rerouted(m, hub, &from, &to)],
            Decision::Deliver | Decision::DeliverViolation => {
                let mut out = Vec::new();
                if let Some(hub) = policy.copy_to(&from, &to, &m.text, &hubs) {
                    if hub != m.from && hub != m.to {
                        let text = format!("[orc: copy: {} wrote to {}]\n{}", m.from, m.to, m.text);
                        out.push(Message {
                            id: crate::queue::new_id(),
                            to: hub.to_string(),
                            text,
                            ..m.clone()
                        });
                    }
                }
                out.insert(0, m);
                out
            }
        };
        self.log_deliveries(project.as_deref(), &out, to.name);
        Ok(out)
    }

    /// A message outside the policy, in `violations.jsonl`.
    fn log_violation(
        &self,
        project: Option<&str>,
        m: &Message,
        from: &End,
        to: &End,
        decision: &Decision,
    ) {
        let action = match decision {
            Decision::Reroute { .. } => "reroute",
            Decision::Reject(_) => "reject",
            _ => "allow",
        };
        self.comm_log(
            project,
            "violations",
            &serde_json::json!({
                "at": Utc::now(), "id": m.id, "from": m.from, "to": m.to,
                "from_role": from.role, "to_role": to.role, "action": action,
            }),
        );
    }

    /// Each delivery of a message in `messages.jsonl`.
    fn log_deliveries(&self, project: Option<&str>, out: &[Message], to_name: &str) {
        for d in out {
            let kind = if d.id != out[0].id {
                "copy"
            } else if d.to != to_name {
                "reroute"
            } else {
                "message"
            };
            self.comm_log(project, "messages", &serde_json::json!({
                "at": Utc::now(), "id": d.id, "kind": kind, "from": d.from, "to": d.to, "bytes": d.text.len(), "text": d.text,
            }));
        }
    }

    /// `<state>/projects/<project>/logs/communications/YYYY-MM-DD/<file>.jsonl`
    pub(super) fn comm_log(&self, project: Option<&str>, file: &str, value: &serde_json::Value) {
        let path = comm_dir(&self.paths, project)
            .join(Utc::now().format("%Y-%m-%d").to_string())
            .join(format!("{file}.jsonl"));
        if let Err(e) = crate::state::append_jsonl(&path, value) {
            tracing::warn!(error = %e, path = %path.display(), "cannot write the communications log");
        }
    }

    /// A note from orc to the hub agents (role `orchestrator`) of `name`'s
    /// project, other than `name` itself; `key` makes it idempotent.
    pub(super) fn tell_hubs(&self, name: &str, text: &str, key: &str) {
        let project = self.agents.get(name).and_then(|e| e.record.project.clone());
        let hubs: Vec<String> = self
            .agents
            .values()
            .filter(|x| {
                x.record.role.as_deref() == Some("orchestrator")
                    && x.record.name != name
                    && x.record.project == project
            })
            .map(|x| x.record.name.clone())
            .collect();
        for t in hubs {
            self.enqueue_from_orc(&t, text, key);
        }
    }

    /// Queue a message signed by orc for agent `to` (idempotent by `key`).
    pub(super) fn enqueue_from_orc(&self, to: &str, text: &str, key: &str) {
        if let Ok(a) = self.actor(to) {
            let m = Message {
                id: crate::queue::new_id(),
                from: crate::routing::SYSTEM_SENDER.into(),
                to: to.to_string(),
                text: text.to_string(),
                created: Utc::now(),
                key: Some(format!("{key}:{to}")),
            };
            tokio::spawn(async move {
                let _ = a.call(|p| AgentMsg::Enqueue(m, false, p), Some(CALL)).await;
            });
        }
    }

    /// The hub (or project manager) of an agent's project, to escalate to.
    pub(super) fn lead_of(&self, name: &str) -> Option<String> {
        let project = self.agents.get(name)?.record.project.clone();
        let find = |role: &str| {
            self.agents
                .values()
                .find(|x| {
                    x.record.role.as_deref() == Some(role)
                        && x.record.project == project
                        && x.record.name != name
                })
                .map(|x| x.record.name.clone())
        };
        find("project_manager").or_else(|| find("orchestrator"))
    }

    pub(super) fn queue_notice(&self, to: &str, text: String, key: String) {
        if let Ok(a) = self.actor(to) {
            let m = Message {
                id: crate::queue::new_id(),
                from: crate::routing::SYSTEM_SENDER.into(),
                to: to.to_string(),
                text,
                created: Utc::now(),
                key: Some(key),
            };
            tokio::spawn(async move {
                let _ = a.call(|p| AgentMsg::Enqueue(m, false, p), Some(CALL)).await;
            });
        }
    }
}

/// A message's end as the routing policy sees it.
fn end<'a>(agents: &'a BTreeMap<String, Entry>, name: &'a str) -> End<'a> {
    match agents.get(name) {
        Some(e) => End {
            name: &e.record.name,
            role: e.record.role.as_deref(),
            project: e.record.project.as_deref(),
        },
        None => End {
            name,
            role: None,
            project: None,
        },
    }
}

/// The message, sent to the hub instead, saying who wrote to whom.
fn rerouted(m: Message, hub: String, from: &End, to: &End) -> Message {
    let text = format!(
        "[orc: rerouted: {} ({}) wrote to {} ({})]\n{}",
        m.from,
        from.role.unwrap_or("-"),
        m.to,
        to.role.unwrap_or("-"),
        m.text
    );
    Message { to: hub, text, ..m }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Where a project's communications logs live (`_` for agents without one).
pub fn comm_dir(paths: &Paths, project: Option<&str>) -> PathBuf {
    paths
        .state
        .join("projects")
        .join(project.unwrap_or("_"))
        .join("logs")
        .join("communications")
}

/// Every message in the queue journals, newest last.
pub fn list_messages(
    paths: &Paths,
    agent: Option<&str>,
    status: Option<crate::proto::MessageStatus>,
) -> Vec<crate::proto::MessageRow> {
    let dir = paths.state.join("queues");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut rows = Vec::new();
    for f in files {
        if let Some(a) = agent {
            if f.file_stem().is_none_or(|s| s != a) {
                continue;
            }
        }
        for (m, op, reason, updated) in crate::queue::replay(&f) {
            let st = op.status();
            if status.is_some_and(|s| s != st) {
                continue;
            }
            rows.push(crate::proto::MessageRow {
                bytes: m.text.len(),
                preview: m
                    .text
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(80)
                    .collect(),
                id: m.id,
                from: m.from,
                to: m.to,
                status: st,
                reason,
                created: m.created,
                updated,
            });
        }
    }
    rows.sort_by_key(|a| a.created);
    rows
}
