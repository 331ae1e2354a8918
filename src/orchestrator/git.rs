//! The git monitor: every agent's worktree looked at on a timer (off the
//! actor's thread), the commit rule's reminders and escalations, `orc git`.

use std::path::PathBuf;

use chrono::Utc;
use ractor::{ActorRef, RpcReplyPort};

use super::{err, OrchMsg, OrchState};
use crate::proto::Response;
use crate::state;

impl OrchState {
    /// (agent, worktree, parent branch) for every agent working in a git
    /// checkout; the parent comes from the team's record when there is one.
    fn git_targets(&self, project: Option<&str>) -> Vec<(String, PathBuf, String)> {
        let mut out = Vec::new();
        for e in self.agents.values() {
            let r = &e.record;
            if project.is_some() && r.project.as_deref() != project {
                continue;
            }
            if !r.cwd.join(".git").exists() {
                continue;
            }
            let parent = r
                .project
                .as_deref()
                .and_then(|p| {
                    std::fs::read(self.paths.state.join("projects").join(p).join("team.json")).ok()
                })
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["parent_branch"].as_str().map(String::from))
                .unwrap_or_else(|| "HEAD".into());
            out.push((r.name.clone(), r.cwd.clone(), parent));
        }
        out
    }

    /// Timer: look at the agents' worktrees, then again after the interval.
    pub(super) fn git_tick(&self, myself: &ActorRef<OrchMsg>) {
        let targets = self.git_targets(None);
        let me = myself.clone();
        tokio::task::spawn_blocking(move || {
            let rows: Vec<_> = targets
                .iter()
                .filter_map(|(n, wt, parent)| crate::gitmon::inspect(n, wt, parent).ok())
                .collect();
            let _ = me.cast(OrchMsg::GitChecked(rows));
        });
        myself.send_after(self.config.git.interval, || OrchMsg::GitTick);
    }

    /// The worktree inspection finished: apply the commit rule.
    pub(super) fn git_checked(&mut self, rows: Vec<crate::gitmon::Activity>) {
        let now = Utc::now();
        let logs = self.paths.logs();
        for a in &rows {
            self.git_last.insert(a.agent.clone(), a.clone());
            if let Err(e) = crate::gitmon::record(&logs, a) {
                tracing::warn!(error = %e, "cannot record git activity");
            }
            let rule = self.config.git.rule.clone();
            for action in self.git_rule.check(&rule, a, now) {
                match action {
                    crate::gitmon::Action::Remind { agent, text } => {
                        let key = format!("git:{agent}:{}", now.timestamp());
                        self.queue_notice(&agent, text, key);
                    }
                    crate::gitmon::Action::Escalate { agent, text } => {
                        if let Some(lead) = self.lead_of(&agent) {
                            let key = format!("git-escalate:{agent}:{}", now.timestamp());
                            self.queue_notice(&lead, text, key);
                        }
                    }
                }
            }
        }
        if let Ok(b) = serde_json::to_vec(&self.git_rule) {
            let _ = state::write_atomic(&self.paths.state.join("gitmon.json"), &b);
        }
    }

    /// `orc git`: the worktrees of every agent, or of one project's.
    pub(super) fn git(&self, project: Option<String>, reply: RpcReplyPort<Response>) {
        if let Some(p) = &project {
            if !self
                .agents
                .values()
                .any(|e| e.record.project.as_deref() == Some(p.as_str()))
            {
                let _ = reply.send(err(format!(
                    "no agents in project `{p}`; `orc ps` shows the projects"
                )));
                return;
            }
        }
        let targets = self.git_targets(project.as_deref());
        tokio::task::spawn_blocking(move || {
            let mut rows = Vec::new();
            let mut errors = Vec::new();
            for (n, wt, parent) in &targets {
                match crate::gitmon::inspect(n, wt, parent) {
                    Ok(a) => rows.push(a),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            let _ = reply.send(Response::Git { rows, errors });
        });
    }
}
