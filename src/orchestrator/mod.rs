//! The hub: owns the agent table, spawns one actor per agent, restarts dead
//! agents with exponential backoff and an intensity limit, and persists the
//! table after every change.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::agent::{AgentActor, AgentArgs, AgentMsg};
use crate::config::{resolve_command, Config};
use crate::paths::Paths;
use crate::proto::{AgentState, PsRow, Response, SpawnRequest};
use crate::session::{SessionActor, SessionMsg, TmuxHandle};
use crate::state::{self, validate_name, AgentRecord};
use crate::tmux::Tmux;

pub use crate::restart::RestartPolicy;

pub enum OrchMsg {
    Spawn(SpawnRequest, RpcReplyPort<Response>),
    Ps(RpcReplyPort<Response>),
    Kill(String, RpcReplyPort<Response>),
    Restart(String, RpcReplyPort<Response>),
    Send {
        name: String,
        text: String,
        from: Option<String>,
        wait: bool,
        reply: RpcReplyPort<Response>,
    },
    Messages(
        Option<String>,
        Option<crate::proto::MessageStatus>,
        RpcReplyPort<Response>,
    ),
    Report(
        String,
        crate::proto::ReportStatus,
        String,
        RpcReplyPort<Response>,
    ),
    Locate(String, RpcReplyPort<Response>),
    Logs(String, bool, RpcReplyPort<Response>),
    Screen(String, RpcReplyPort<Response>),
    DebugPanic(String, RpcReplyPort<Response>),
    /// From an agent: its process or pane is gone.
    Exited {
        name: String,
    },
    /// Timer: restart this agent now.
    DoRespawn {
        name: String,
        generation: u64,
    },
    /// From an agent: its record changed (pane, pid, restarts, failed).
    Updated(AgentRecord),
    /// From an agent: its state changed (the fleet restart line listens).
    StateChanged {
        name: String,
        state: AgentState,
    },
    /// Timer: the fleet restart line may move on.
    FleetTick,
    /// From an agent: a usage-limit event for the credit ledger.
    Credit {
        name: String,
        event: crate::proto::CreditEvent,
    },
    Credits(RpcReplyPort<Response>),
    /// From an agent: its context is running low.
    ContextLow {
        name: String,
        left: u8,
    },
    Rename(String, String, RpcReplyPort<Response>),
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
    Schedule(crate::scheduler::JobSpec, RpcReplyPort<Response>),
    ScheduleList(RpcReplyPort<Response>),
    Git(Option<String>, RpcReplyPort<Response>),
    Hook(String, String, serde_json::Value, RpcReplyPort<Response>),
    /// From `orc statusline`: the agent's usage and context.
    Status(String, crate::proto::StatusReport, RpcReplyPort<Response>),
    /// Timer: look at the agents' worktrees.
    GitTick,
    /// The worktree inspection finished: apply the commit rule.
    GitChecked(Vec<crate::gitmon::Activity>),
    ScheduleCancel(String, RpcReplyPort<Response>),
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

impl OrchState {
    fn persist(&self) {
        crate::changes::bump();
        let records: Vec<AgentRecord> = self.agents.values().map(|e| e.record.clone()).collect();
        if let Err(e) = state::save(&self.paths.agents_file(), &records) {
            tracing::error!(error = %e, file = %self.paths.agents_file().display(), "cannot save agent table");
        }
    }

    /// Record that an agent needs a person (`logs/notifications.jsonl`) and
    /// run the configured notify command, if any, without waiting for it.
    /// A note from orc to the hub agents (role `orchestrator`) of `name`'s
    /// project, other than `name` itself; `key` makes it idempotent.
    fn tell_hubs(&self, name: &str, text: &str, key: &str) {
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
    fn enqueue_from_orc(&self, to: &str, text: &str, key: &str) {
        if let Ok(a) = self.actor(to) {
            let m = crate::queue::Message {
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

    fn notify(&self, name: &str, event: &str, detail: &str) {
        let ev = serde_json::json!({
            "at": Utc::now(), "agent": name, "event": event, "detail": detail,
            "project": self.agents.get(name).and_then(|e| e.record.project.clone()),
        });
        tracing::warn!(agent = name, event, detail, "needs a human");
        if let Err(e) = state::append_jsonl(&self.paths.logs().join("notifications.jsonl"), &ev) {
            tracing::warn!(error = %e, "cannot record the notification");
        }
        let Some((prog, args)) = self.config.notify.command.split_first() else {
            return;
        };
        let mut cmd = tokio::process::Command::new(prog);
        cmd.args(args)
            .env("ORC_EVENT", event)
            .env("ORC_AGENT", name)
            .env("ORC_DETAIL", detail)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let body = ev.to_string();
        let prog = prog.clone();
        tokio::spawn(async move {
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(command = %prog, error = %e, "cannot run the notify command");
                    return;
                }
            };
            if let Some(mut stdin) = child.stdin.take() {
                use tokio::io::AsyncWriteExt;
                let _ = stdin.write_all(body.as_bytes()).await;
            }
            match tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await {
                Ok(Ok(out)) if !out.status.success() => tracing::error!(
                    command = %prog,
                    status = %out.status,
                    stderr = %String::from_utf8_lossy(&out.stderr),
                    "the notify command failed"
                ),
                Ok(Err(e)) => {
                    tracing::error!(command = %prog, error = %e, "the notify command failed")
                }
                Err(_) => {
                    tracing::error!(command = %prog, "the notify command took over 30 s; killed")
                }
                _ => {}
            }
        });
    }

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

    /// The hub (or project manager) of an agent's project, to escalate to.
    fn lead_of(&self, name: &str) -> Option<String> {
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

    fn queue_notice(&self, to: &str, text: String, key: String) {
        if let Ok(a) = self.actor(to) {
            let m = crate::queue::Message {
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

    fn save_ledger(&self) {
        crate::changes::bump();
        if let Err(e) = self.ledger.save(&self.paths.state.join("credits.json")) {
            tracing::error!(error = %e, "cannot save the credit ledger");
        }
    }

    fn accounts(&self) -> BTreeMap<String, Option<String>> {
        self.agents
            .iter()
            .map(|(n, e)| (n.clone(), e.record.account.clone()))
            .collect()
    }

    /// The recurring check-in the config gives an agent's role, created once.
    fn ensure_checkin(&self, record: &AgentRecord) {
        let (Some(sched), Some(every)) = (
            &self.scheduler,
            self.config.checkins.every_secs(
                record.role.as_deref(),
                record
                    .role
                    .as_deref()
                    .and_then(|r| self.roles.get(r).ok())
                    .and_then(|r| r.checkin_minutes),
            ),
        ) else {
            return;
        };
        let spec = crate::scheduler::JobSpec {
            to: record.name.clone(),
            from: "config".into(),
            note: self.config.checkins.note.clone(),
            at: Utc::now() + chrono::Duration::seconds(every as i64),
            every: Some(every),
            origin: Some(format!(
                "checkin:{}:{}",
                record.name,
                record.created.timestamp()
            )),
        };
        let sched = sched.clone();
        tokio::spawn(async move {
            let _ = sched
                .call(|p| crate::scheduler::SchedMsg::Add(spec, p), Some(CALL))
                .await;
        });
    }

    async fn start_agent(
        &mut self,
        myself: &ActorRef<OrchMsg>,
        record: AgentRecord,
        fresh: bool,
        hold: bool,
    ) -> Result<ActorRef<AgentMsg>, String> {
        let mut credits = self.config.credits.clone();
        if let Some(m) = self
            .config
            .profiles
            .get(&record.profile)
            .and_then(|p| p.resume_message.clone())
        {
            credits.resume_message = m;
        }
        let (session, tmux) = self.session_for(myself, &record.session).await?;
        let context = self.config.context.clone();
        let events = agent_events(myself.clone(), record.name.clone());
        let args = AgentArgs {
            context,
            notify_permission_after: self.config.notify.permission_after,
            notify_choice_after: self.config.notify.choice_after,
            record,
            pane: std::sync::Arc::new(crate::tmux::pane::TmuxPane { tmux, session }),
            events,
            clock: std::sync::Arc::new(crate::scheduler::SystemClock),
            paths: self.paths.clone(),
            fresh,
            hold,
            credits,
        };
        match Actor::spawn_linked(None, AgentActor, args, myself.get_cell()).await {
            Ok((actor, _)) => Ok(actor),
            Err(e) => Err(format!("{e}")),
        }
    }

    /// The control connection for a tmux session, opened on first use.
    async fn session_for(
        &mut self,
        myself: &ActorRef<OrchMsg>,
        name: &str,
    ) -> Result<(ActorRef<SessionMsg>, TmuxHandle), String> {
        if name == self.handle.session {
            return Ok((self.session.clone(), self.handle.clone()));
        }
        if let Some((a, h)) = self.sessions.get(name) {
            return Ok((a.clone(), h.clone()));
        }
        let (a, h) = SessionActor::start(
            self.handle.tmux.clone(),
            name.to_string(),
            myself.get_cell(),
        )
        .await
        .map_err(|e| format!("cannot open tmux session `{name}`: {e}"))?;
        self.sessions
            .insert(name.to_string(), (a.clone(), h.clone()));
        Ok((a, h))
    }

    fn is_session_actor(&self, id: ractor::ActorId) -> bool {
        self.session.get_id() == id || self.sessions.values().any(|(a, _)| a.get_id() == id)
    }

    fn session_actor(&self, name: &str) -> ActorRef<SessionMsg> {
        self.sessions
            .get(name)
            .map(|(a, _)| a.clone())
            .unwrap_or_else(|| self.session.clone())
    }

    fn find_by_cell(&self, id: ractor::ActorId) -> Option<String> {
        self.agents
            .iter()
            .find(|(_, e)| e.actor.as_ref().is_some_and(|a| a.get_id() == id))
            .map(|(n, _)| n.clone())
    }

    /// Start the next agent of the fleet restart line, if its turn has come.
    fn pump_fleet(&mut self, myself: &ActorRef<OrchMsg>) {
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

    fn schedule_restart(&mut self, myself: &ActorRef<OrchMsg>, name: &str) {
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

    fn validate_spawn(&self, req: &SpawnRequest) -> Result<AgentRecord, String> {
        validate_name(&req.name)?;
        if req.name == crate::routing::SYSTEM_SENDER {
            return Err(format!(
                "agent name `{}` is reserved: orc signs its own messages (briefings, check-ins, resume prompts) with it; pick another name",
                req.name
            ));
        }
        if self.agents.contains_key(&req.name) {
            return Err(format!(
                "an agent named `{}` already exists; pick another name or `orc kill {}` first",
                req.name, req.name
            ));
        }
        let cwd = PathBuf::from(&req.cwd);
        if !cwd.is_absolute() {
            return Err(format!("cwd {} is not an absolute path", req.cwd));
        }
        if !cwd.is_dir() {
            return Err(format!(
                "cwd {} does not exist or is not a directory",
                req.cwd
            ));
        }
        let profile_name = req.profile.clone().unwrap_or_else(|| {
            if req.command.is_empty() {
                "claude".into()
            } else {
                "shell".into()
            }
        });
        let Some(profile) = self.config.profiles.get(&profile_name) else {
            let known: Vec<&str> = self.config.profiles.keys().map(|s| s.as_str()).collect();
            return Err(format!(
                "unknown profile `{profile_name}`; known profiles: {}",
                known.join(", ")
            ));
        };
        let mut env = profile.env.clone();
        for (k, v) in &req.env {
            if k.is_empty() || k.contains('=') || k.chars().any(|c| c.is_control()) {
                return Err(format!("invalid environment variable name {k:?}"));
            }
            env.insert(k.clone(), v.clone());
        }
        let mut command: Vec<String> = if req.command.is_empty() {
            std::iter::once(profile.command.clone())
                .chain(profile.args.iter().cloned())
                .collect()
        } else {
            req.command.clone()
        };
        let path_var = env
            .get("PATH")
            .cloned()
            .unwrap_or_else(|| std::env::var("PATH").unwrap_or_default());
        let exe = resolve_command(&command[0], &path_var, &cwd)?;
        command[0] = exe.display().to_string();
        if req.hooks {
            if !profile.detector_name(&profile_name).starts_with("claude") {
                return Err(format!(
                    "--hooks is for Claude Code agents; profile `{profile_name}` is not one"
                ));
            }
            let me =
                std::env::current_exe().map_err(|e| format!("cannot find orc's own path: {e}"))?;
            let user = crate::claude_config::ConfigFiles::for_env(&env).map(|c| c.settings);
            crate::hooks::install(&crate::hooks::settings_path(&cwd), &me, user.as_deref())?;
            crate::hooks::exclude_from_git(&cwd);
        }
        Ok(AgentRecord {
            name: req.name.clone(),
            role: req.role.clone(),
            project: req.project.clone(),
            detector: profile.detector_name(&profile_name).to_string(),
            auto_approve: req.auto_approve || profile.auto_approve,
            profile: profile_name,
            command,
            cwd,
            env,
            session: match &req.session {
                Some(s) => {
                    validate_name(s).map_err(|e| format!("tmux session name: {e}"))?;
                    s.clone()
                }
                None => self.handle.session.clone(),
            },
            pane: None,
            window: None,
            pid: None,
            restarts: 0,
            failed: false,
            report: None,
            account: match &req.account {
                Some(a) if a.trim().is_empty() => {
                    return Err("--account is empty; name the account or leave the flag out".into())
                }
                Some(a) => Some(a.clone()),
                None => profile.account.clone(),
            },
            title: None,
            session_id: None,
            pre_trust: req.pre_trust.or(profile.pre_trust).unwrap_or(false),
            pin_version: req.pin_version.or(profile.pin_version).unwrap_or(false),
            created: Utc::now(),
        })
    }

    /// Check a message and make it ready to queue.
    fn validate_message(
        &self,
        to: &str,
        text: &str,
        from: Option<&str>,
    ) -> Result<crate::queue::Message, String> {
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
        Ok(crate::queue::Message {
            id: crate::queue::new_id(),
            from,
            to: to.to_string(),
            text: cleaned,
            created: Utc::now(),
            key: None,
        })
    }

    /// `orc report`: remember it, tell the hub, tell the roles that depend
    /// on the reporter's role. Notices go through the queues like messages.
    fn report(
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
        let mut told = Vec::new();
        let hub_role = self.config.routing.hub.clone();
        for e in self.agents.values() {
            if e.record.name == from
                || e.record.project != project
                    && e.record.role.as_deref() != Some(hub_role.as_str())
            {
                continue;
            }
            let r = e.record.role.as_deref().unwrap_or("");
            let depends = role.as_deref().is_some_and(|mine| {
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
        for (to, text) in &told {
            let m = crate::queue::Message {
                id: crate::queue::new_id(),
                from: from.to_string(),
                to: to.clone(),
                text: text.clone(),
                created: Utc::now(),
                key: None,
            };
            self.comm_log(project.as_deref(), "messages", &serde_json::json!({
                "at": Utc::now(), "id": m.id, "kind": "report", "from": m.from, "to": m.to, "bytes": m.text.len(), "text": m.text,
            }));
            if let Ok(a) = self.actor(to) {
                tokio::spawn(async move {
                    let _ = a.call(|p| AgentMsg::Enqueue(m, false, p), Some(CALL)).await;
                });
            }
        }
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

    /// Apply the routing policy: the deliveries to make (the message itself,
    /// or rerouted to the hub, plus a copy for the hub), each journaled in the
    /// project's communications log; violations in `violations.jsonl`.
    fn route(&self, m: crate::queue::Message) -> Result<Vec<crate::queue::Message>, String> {
        use crate::routing::{Decision, End};
        let policy = &self.config.routing;
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
        let (from_name, to_name) = (m.from.clone(), m.to.clone());
        let (from, to) = (end(&self.agents, &from_name), end(&self.agents, &to_name));
        let hubs: Vec<(&str, Option<&str>)> = self
            .agents
            .values()
            .filter(|e| e.record.role.as_deref() == Some(policy.hub.as_str()))
            .map(|e| (e.record.name.as_str(), e.record.project.as_deref()))
            .collect();
        let project = to.project.or(from.project).map(str::to_string);
        let mut out = Vec::new();
        let decision = policy.decide(&from, &to, &hubs);
        if decision != Decision::Deliver {
            let action = match &decision {
                Decision::Reroute { .. } => "reroute",
                Decision::Reject(_) => "reject",
                _ => "allow",
            };
            self.comm_log(
                project.as_deref(),
                "violations",
                &serde_json::json!({
                    "at": Utc::now(), "id": m.id, "from": m.from, "to": m.to,
                    "from_role": from.role, "to_role": to.role, "action": action,
                }),
            );
        }
        match decision {
            Decision::Reject(why) => return Err(why),
            Decision::Reroute { hub } => {
                let text = format!(
                    "[orc: rerouted: {} ({}) wrote to {} ({})]\n{}",
                    m.from,
                    from.role.unwrap_or("-"),
                    m.to,
                    to.role.unwrap_or("-"),
                    m.text
                );
                out.push(crate::queue::Message {
                    to: hub,
                    text,
                    ..m.clone()
                });
            }
            Decision::Deliver | Decision::DeliverViolation => {
                if let Some(hub) = policy.copy_to(&from, &to, &m.text, &hubs) {
                    if hub != m.from && hub != m.to {
                        let text = format!("[orc: copy: {} wrote to {}]\n{}", m.from, m.to, m.text);
                        out.push(crate::queue::Message {
                            id: crate::queue::new_id(),
                            to: hub.to_string(),
                            text,
                            ..m.clone()
                        });
                    }
                }
                out.insert(0, m);
            }
        }
        for d in &out {
            let kind = if d.id != out[0].id {
                "copy"
            } else if d.to != to.name {
                "reroute"
            } else {
                "message"
            };
            self.comm_log(project.as_deref(), "messages", &serde_json::json!({
                "at": Utc::now(), "id": d.id, "kind": kind, "from": d.from, "to": d.to, "bytes": d.text.len(), "text": d.text,
            }));
        }
        Ok(out)
    }

    /// `<state>/projects/<project>/logs/communications/YYYY-MM-DD/<file>.jsonl`
    fn comm_log(&self, project: Option<&str>, file: &str, value: &serde_json::Value) {
        let path = comm_dir(&self.paths, project)
            .join(Utc::now().format("%Y-%m-%d").to_string())
            .join(format!("{file}.jsonl"));
        if let Err(e) = crate::state::append_jsonl(&path, value) {
            tracing::warn!(error = %e, path = %path.display(), "cannot write the communications log");
        }
    }

    #[allow(clippy::result_large_err)]
    fn actor(&self, name: &str) -> Result<ActorRef<AgentMsg>, Response> {
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

const CALL: Duration = Duration::from_secs(5);

/// Largest message orc types into a pane.
pub const MAX_MESSAGE: usize = 64 * 1024;

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

/// The sink an agent tells the hub through: each event becomes the hub's
/// own message, with the agent's name.
fn agent_events(hub: ActorRef<OrchMsg>, name: String) -> crate::agent::EventSink {
    use crate::agent::AgentEvent as E;
    std::sync::Arc::new(move |ev| {
        let name = name.clone();
        let _ = hub.cast(match ev {
            E::StateChanged(state) => OrchMsg::StateChanged { name, state },
            E::NeedsHuman { event, detail } => OrchMsg::NeedsHuman {
                name,
                event,
                detail,
            },
            E::Credit(event) => OrchMsg::Credit { name, event },
            E::ContextLow(left) => OrchMsg::ContextLow { name, left },
            E::Exited => OrchMsg::Exited { name },
            E::Updated(record) => OrchMsg::Updated(*record),
        });
    })
}

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
        let loaded = match state::load(&args.paths.agents_file()) {
            Ok(s) => s.agents,
            Err(e @ state::StateError::Corrupt { .. }) => {
                tracing::error!("{e}");
                eprintln!("orc: {e}");
                Vec::new()
            }
            Err(e) => return Err(e.into()),
        };
        let mut st = OrchState {
            paths: args.paths,
            config: args.config,
            policy: args.policy,
            handle,
            session,
            agents: BTreeMap::new(),
            notes: Vec::new(),
            ledger: Default::default(),
            scheduler: None,
            sessions: BTreeMap::new(),
            roles: crate::team::roles::RoleSet::builtin(),
            git_rule: Default::default(),
            git_last: BTreeMap::new(),
            fleet: Default::default(),
        };
        if let Ok(b) = std::fs::read(st.paths.state.join("gitmon.json")) {
            st.git_rule = serde_json::from_slice(&b).unwrap_or_default();
        }
        if !st.config.git.interval.is_zero() {
            myself.send_after(st.config.git.interval, || OrchMsg::GitTick);
        }
        let user_roles = st.paths.config_file.parent().map(|p| p.join("roles"));
        match crate::team::roles::RoleSet::load(user_roles.as_deref()) {
            Ok(r) => st.roles = r,
            Err(e) => {
                tracing::error!("{e}");
                st.notes.push(format!("role files: {e}"));
            }
        }
        let (ledger, note) = crate::credits::Ledger::load(&st.paths.state.join("credits.json"));
        st.ledger = ledger;
        if let Some(n) = note {
            tracing::error!("{n}");
            st.notes.push(n);
        }
        // Which panes carry an agent tag right now?
        let panes = st
            .handle
            .cmd(&[
                "list-panes",
                "-a",
                "-F",
                "#{pane_id}\t#{pane_dead}\t#{session_name}\t#{@orc_agent}",
            ])
            .await?;
        let mut tagged: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
        for line in &panes {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() == 4 && !f[3].is_empty() {
                tagged
                    .entry(f[3].to_string())
                    .or_default()
                    .push((f[0].to_string(), f[1] == "1"));
            }
        }
        for mut record in loaded {
            let name = record.name.clone();
            let mine = tagged.remove(&name).unwrap_or_default();
            // Prefer the pane the table names; else any live pane with the tag.
            let pane = mine
                .iter()
                .find(|(p, _)| Some(p) == record.pane.as_ref())
                .or_else(|| mine.iter().find(|(_, dead)| !dead))
                .map(|(p, _)| p.clone());
            let fresh = pane.is_none();
            record.pane = pane;
            let hold = fresh && !record.failed;
            if hold {
                // Not all at once (a tmux server death takes every pane):
                // the fleet line starts them one at a time.
                tracing::info!(agent = %name, "its pane is gone; it joins the restart line");
                st.fleet.ready(&name);
            }
            let actor = match st.start_agent(&myself, record.clone(), hold, hold).await {
                Ok(a) => Some(a),
                Err(e) => {
                    tracing::error!(agent = %name, error = %e, "cannot start agent actor");
                    None
                }
            };
            st.agents.insert(
                name,
                Entry {
                    record,
                    actor,
                    history: VecDeque::new(),
                    generation: 0,
                },
            );
        }
        for (name, panes) in tagged {
            for (pane, _) in panes {
                let note = format!(
                    "pane {pane} is tagged for agent `{name}`, which orc does not know; left alone"
                );
                tracing::warn!("{note}");
                st.notes.push(note);
            }
        }
        st.persist();
        st.pump_fleet(&myself);
        // The scheduler fires through this actor, which knows the agents'
        // credits and queues.
        let me = myself.clone();
        let fire: crate::scheduler::FireFn = std::sync::Arc::new(move |f| {
            let me = me.clone();
            Box::pin(async move {
                match me.call(|p| OrchMsg::Fire(f, p), Some(CALL * 2)).await {
                    Ok(ractor::rpc::CallResult::Success(o)) => o,
                    _ => crate::scheduler::FireOutcome::Failed {
                        why: "the orchestrator did not answer".into(),
                    },
                }
            })
        });
        let args = crate::scheduler::SchedArgs {
            file: st.paths.state.join("schedule.json"),
            journal: st.paths.state.join("schedule.jsonl"),
            clock: std::sync::Arc::new(crate::scheduler::SystemClock),
            fire,
        };
        let (sched, _) =
            Actor::spawn_linked(None, crate::scheduler::Scheduler, args, myself.get_cell()).await?;
        st.scheduler = Some(sched);
        for e in st.agents.values() {
            st.ensure_checkin(&e.record);
        }
        Ok(st)
    }

    async fn handle(
        &self,
        myself: ActorRef<OrchMsg>,
        msg: OrchMsg,
        st: &mut OrchState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            OrchMsg::Spawn(req, reply) => {
                let record = match st.validate_spawn(&req) {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = reply.send(err(e));
                        return Ok(());
                    }
                };
                let name = record.name.clone();
                match st.start_agent(&myself, record.clone(), true, false).await {
                    Ok(actor) => {
                        st.agents.insert(
                            name.clone(),
                            Entry {
                                record,
                                actor: Some(actor),
                                history: VecDeque::new(),
                                generation: 0,
                            },
                        );
                        st.persist();
                        if let Some(e) = st.agents.get(&name) {
                            st.ensure_checkin(&e.record);
                        }
                        let _ = reply.send(Response::Ok {
                            message: format!("spawned {name}"),
                        });
                    }
                    Err(e) => {
                        let _ = reply.send(err(format!("could not start agent `{name}`: {e}")));
                    }
                }
            }
            OrchMsg::Ps(reply) => {
                let mut rows = Vec::with_capacity(st.agents.len());
                let mut calls = tokio::task::JoinSet::new();
                for (i, e) in st.agents.values().enumerate() {
                    match &e.actor {
                        Some(a) => {
                            let a = a.clone();
                            let rec = e.record.clone();
                            calls.spawn(async move {
                                let r = a.call(AgentMsg::Snapshot, Some(CALL)).await;
                                let row = match r {
                                    Ok(ractor::rpc::CallResult::Success(row)) => row,
                                    _ => OrchState::row_from_record(
                                        &rec,
                                        "agent actor did not answer",
                                    ),
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
                for (_, row) in rows.iter_mut() {
                    if let Some(e) = st.agents.get(&row.name) {
                        row.report = e.record.report.clone();
                    }
                    if let Some(g) = st.git_last.get(&row.name) {
                        row.last_commit = g.last_commit;
                        row.uncommitted = Some(g.uncommitted);
                    }
                }
                let mut notes = st.notes.clone();
                for h in std::iter::once(&st.handle).chain(st.sessions.values().map(|(_, h)| h)) {
                    if h.polling() {
                        notes.push(format!(
                            "tmux session {}: control mode is wedged (a control client exits at once); polling the panes every {} s with capture-pane, retrying control mode every {} s",
                            h.session,
                            crate::session::POLL_EVERY.as_secs(),
                            crate::session::RETRY_CONTROL_EVERY.as_secs()
                        ));
                    }
                }
                if let Some(who) = st.fleet.tripped() {
                    notes.push(format!(
                        "restarts paused: {who} came back unable to log in; waiting: {}; log {who} in, then `orc restart {who}`",
                        st.fleet.waiting().join(", ")
                    ));
                }
                let _ = reply.send(Response::Ps {
                    agents: rows.into_iter().map(|(_, r)| r).collect(),
                    notes,
                });
            }
            OrchMsg::Kill(name, reply) => match st.actor(&name) {
                Err(e) => {
                    let _ = reply.send(e);
                }
                Ok(a) => {
                    let _ = a.call(AgentMsg::Kill, Some(CALL)).await;
                    st.agents.remove(&name);
                    st.fleet.forget(&name);
                    st.pump_fleet(&myself);
                    st.persist();
                    if let Some(s) = &st.scheduler {
                        let _ = s.cast(crate::scheduler::SchedMsg::Forget(name.clone()));
                    }
                    let _ = reply.send(Response::Ok {
                        message: format!("killed {name}"),
                    });
                }
            },
            OrchMsg::Restart(name, reply) => match st.actor(&name) {
                Err(e) => {
                    let _ = reply.send(e);
                }
                Ok(a) => {
                    if let Some(e) = st.agents.get_mut(&name) {
                        e.history.clear();
                        e.generation += 1; // cancel a pending backoff restart
                        e.record.failed = false;
                    }
                    // A person acted: this agent leaves the line, a paused
                    // line goes on.
                    st.fleet.forget(&name);
                    st.fleet.close_breaker();
                    let _ = a.cast(AgentMsg::Respawn { manual: true });
                    st.pump_fleet(&myself);
                    let _ = reply.send(Response::Ok {
                        message: format!("restarting {name}"),
                    });
                }
            },
            OrchMsg::Send {
                name,
                text,
                from,
                wait,
                reply,
            } => {
                let plan = st
                    .validate_message(&name, &text, from.as_deref())
                    .and_then(|m| st.route(m));
                let deliveries = match plan {
                    Err(e) => {
                        let _ = reply.send(err(e));
                        return Ok(());
                    }
                    Ok(d) => d,
                };
                // The first delivery answers the sender; copies go quietly.
                let mut reply = Some(reply);
                for (i, m) in deliveries.into_iter().enumerate() {
                    let target = m.to.clone();
                    let actor = match st.actor(&target) {
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
            OrchMsg::Report(from, status, details, reply) => {
                let resp = st.report(&myself, &from, status, &details);
                let _ = reply.send(resp);
            }
            OrchMsg::Messages(agent, status, reply) => {
                let _ = reply.send(Response::Messages {
                    messages: list_messages(&st.paths, agent.as_deref(), status),
                });
            }
            OrchMsg::Locate(name, reply) => {
                let resp = match st.agents.get(&name) {
                    None => err(format!("no agent named `{name}`; `orc ps` lists them")),
                    Some(e) => match (&e.record.pane, &e.record.window) {
                        (Some(p), Some(w)) => Response::Location {
                            tmux: st.handle.tmux.bin.display().to_string(),
                            socket: st.handle.tmux.socket.clone(),
                            session: e.record.session.clone(),
                            window: w.clone(),
                            pane: p.clone(),
                        },
                        _ => err(format!("agent `{name}` has no pane right now")),
                    },
                };
                let _ = reply.send(resp);
            }
            OrchMsg::Logs(name, true, reply) => {
                let resp = match crate::agent::latest_transcript(&st.paths, &name) {
                    Some(p) => Response::Logs {
                        text: std::fs::read_to_string(&p).unwrap_or_default(),
                    },
                    None => err(format!(
                        "no transcript for `{name}` yet: one is saved when an agent is killed or restarted"
                    )),
                };
                let _ = reply.send(resp);
            }
            OrchMsg::Rename(name, title, reply) => {
                let title = title.trim().to_string();
                if title.is_empty() || title.chars().any(|c| c.is_control()) || title.len() > 64 {
                    let _ = reply.send(err("the title must be 1 to 64 printable characters"));
                    return Ok(());
                }
                match st.actor(&name) {
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
            OrchMsg::NeedsHuman {
                name,
                event,
                detail,
            } => {
                st.notify(&name, &event, &detail);
                // A question an agent asks is work the hub can unblock.
                if event == "choice_waiting" {
                    let key = format!("choice:{name}:{}", Utc::now().timestamp());
                    st.tell_hubs(&name, &format!("orc: {detail}"), &key);
                }
            }
            OrchMsg::ContextLow { name, left } => {
                if !st.agents.contains_key(&name) {
                    return Ok(());
                }
                let key = format!("context:{name}:{}", Utc::now().timestamp());
                match st.config.context.action {
                    crate::config::ContextAction::None => {}
                    crate::config::ContextAction::Compact => st.enqueue_from_orc(&name, "/compact", &key),
                    crate::config::ContextAction::Notify => st.tell_hubs(
                        &name,
                        &format!("orc: {name} has {left}% context left before it compacts; consider a handover note or `/compact` when its task allows."),
                        &key,
                    ),
                }
            }
            OrchMsg::Logs(name, false, reply) => {
                let resp = match st.agents.get(&name) {
                    None if !st.paths.agent_log_dir(&name).exists() => {
                        err(format!("no agent named `{name}` and no logs for it"))
                    }
                    _ => Response::Logs {
                        text: read_logs(&st.paths, &name),
                    },
                };
                let _ = reply.send(resp);
            }
            OrchMsg::Screen(name, reply) => match st.actor(&name) {
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
            },
            OrchMsg::DebugPanic(name, reply) => {
                let resp = match st.actor(&name) {
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
            OrchMsg::Exited { name } => st.schedule_restart(&myself, &name),
            OrchMsg::DoRespawn { name, generation } => {
                if let Some(e) = st.agents.get(&name) {
                    if e.generation == generation && !e.record.failed && e.actor.is_some() {
                        // Its backoff is over: it joins the line.
                        st.fleet.ready(&name);
                        st.pump_fleet(&myself);
                    }
                }
            }
            OrchMsg::FleetTick => st.pump_fleet(&myself),
            OrchMsg::StateChanged { name, state } => {
                match st.fleet.observed(&name, state, Instant::now()) {
                    crate::restart::Verdict::Pending => {}
                    crate::restart::Verdict::Tripped { waiting } => {
                        let detail = format!(
                            "came back unable to log in; restarts are paused so the others do not fork the shared login ({} waiting: {}). Log it in, then `orc restart {name}`",
                            waiting.len(),
                            if waiting.is_empty() { "none".into() } else { waiting.join(", ") }
                        );
                        st.notify(&name, "restarts_paused", &detail);
                    }
                    _ => st.pump_fleet(&myself),
                }
            }
            OrchMsg::Credit { name, event } => {
                let accounts = st.accounts();
                let marked = st.ledger.apply(&name, event, &accounts);
                for (other, until) in marked {
                    tracing::info!(agent = %other, %until, "at risk: an agent on the same account is limited");
                }
                st.save_ledger();
            }
            OrchMsg::Credits(reply) => {
                let now = Utc::now();
                let rows = st
                    .agents
                    .iter()
                    .map(|(n, e)| {
                        let has_rules =
                            crate::screen::detect::table_for(&e.record.detector).is_some();
                        st.ledger.row(n, e.record.account.clone(), has_rules, now)
                    })
                    .collect();
                let _ = reply.send(Response::Credits { agents: rows });
            }
            OrchMsg::Fire(f, reply) => {
                use crate::scheduler::FireOutcome;
                let Ok(actor) = st.actor(&f.to) else {
                    let _ = reply.send(FireOutcome::Gone {
                        why: format!("no agent named `{}` any more", f.to),
                    });
                    return Ok(());
                };
                if let Some((until, why)) = st.ledger.hold(&f.to, Utc::now()) {
                    let _ = reply.send(FireOutcome::Deferred { until, why });
                    return Ok(());
                }
                let m = crate::queue::Message {
                    id: crate::queue::new_id(),
                    from: format!("scheduler ({})", f.from),
                    to: f.to.clone(),
                    text: f.note.clone(),
                    created: Utc::now(),
                    key: Some(f.key.clone()),
                };
                let project = st.agents.get(&f.to).and_then(|e| e.record.project.clone());
                st.comm_log(project.as_deref(), "messages", &serde_json::json!({
                    "at": Utc::now(), "id": m.id, "kind": "check-in", "job": f.job, "key": f.key, "from": m.from, "to": m.to, "bytes": m.text.len(), "text": m.text,
                }));
                tokio::spawn(async move {
                    let outcome = match actor
                        .call(|p| AgentMsg::Enqueue(m, false, p), Some(CALL))
                        .await
                    {
                        Ok(ractor::rpc::CallResult::Success(Response::Queued { id })) => {
                            FireOutcome::Queued { id }
                        }
                        Ok(ractor::rpc::CallResult::Success(Response::Duplicate { id })) => {
                            FireOutcome::Duplicate { id }
                        }
                        Ok(ractor::rpc::CallResult::Success(Response::Error { message })) => {
                            FireOutcome::Failed { why: message }
                        }
                        _ => FireOutcome::Failed {
                            why: format!("agent {} did not answer", f.to),
                        },
                    };
                    let _ = reply.send(outcome);
                });
            }
            OrchMsg::Schedule(spec, reply) => {
                if let Err(e) = crate::names::check_every(
                    spec.every.filter(|e| *e > 0),
                    st.config.checkins.min_every_secs,
                ) {
                    let _ = reply.send(err(e));
                    return Ok(());
                }
                if !st.agents.contains_key(&spec.to) {
                    let _ = reply.send(err(format!(
                        "no agent named `{}`; `orc ps` lists them (a check-in needs an existing agent)",
                        spec.to
                    )));
                    return Ok(());
                }
                let Some(sched) = st.scheduler.clone() else {
                    let _ = reply.send(err("the scheduler is not running"));
                    return Ok(());
                };
                tokio::spawn(async move {
                    let r = sched
                        .call(|p| crate::scheduler::SchedMsg::Add(spec, p), Some(CALL))
                        .await;
                    let _ = reply.send(match r {
                        Ok(ractor::rpc::CallResult::Success(Ok(job))) => {
                            Response::Scheduled { job }
                        }
                        Ok(ractor::rpc::CallResult::Success(Err(e))) => err(e),
                        _ => err("the scheduler did not answer"),
                    });
                });
            }
            OrchMsg::Hook(agent, event, payload, reply) => {
                let resp = match st.actor(&agent) {
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
            OrchMsg::Status(agent, report, reply) => {
                let resp = match st.actor(&agent) {
                    Err(e) => e,
                    Ok(a) => {
                        if st.ledger.note_usage(&agent, &report, Utc::now()) {
                            st.save_ledger();
                        }
                        let _ = a.cast(AgentMsg::Status(report));
                        Response::Ok {
                            message: "noted".into(),
                        }
                    }
                };
                let _ = reply.send(resp);
            }
            OrchMsg::GitTick => {
                let targets = st.git_targets(None);
                let me = myself.clone();
                tokio::task::spawn_blocking(move || {
                    let rows: Vec<_> = targets
                        .iter()
                        .filter_map(|(n, wt, parent)| crate::gitmon::inspect(n, wt, parent).ok())
                        .collect();
                    let _ = me.cast(OrchMsg::GitChecked(rows));
                });
                myself.send_after(st.config.git.interval, || OrchMsg::GitTick);
            }
            OrchMsg::GitChecked(rows) => {
                let now = Utc::now();
                let logs = st.paths.logs();
                for a in &rows {
                    st.git_last.insert(a.agent.clone(), a.clone());
                    if let Err(e) = crate::gitmon::record(&logs, a) {
                        tracing::warn!(error = %e, "cannot record git activity");
                    }
                    let rule = st.config.git.rule.clone();
                    for action in st.git_rule.check(&rule, a, now) {
                        match action {
                            crate::gitmon::Action::Remind { agent, text } => {
                                let key = format!("git:{agent}:{}", now.timestamp());
                                st.queue_notice(&agent, text, key);
                            }
                            crate::gitmon::Action::Escalate { agent, text } => {
                                if let Some(lead) = st.lead_of(&agent) {
                                    let key = format!("git-escalate:{agent}:{}", now.timestamp());
                                    st.queue_notice(&lead, text, key);
                                }
                            }
                        }
                    }
                }
                if let Ok(b) = serde_json::to_vec(&st.git_rule) {
                    let _ = state::write_atomic(&st.paths.state.join("gitmon.json"), &b);
                }
            }
            OrchMsg::Git(project, reply) => {
                if let Some(p) = &project {
                    if !st
                        .agents
                        .values()
                        .any(|e| e.record.project.as_deref() == Some(p.as_str()))
                    {
                        let _ = reply.send(err(format!(
                            "no agents in project `{p}`; `orc ps` shows the projects"
                        )));
                        return Ok(());
                    }
                }
                let targets = st.git_targets(project.as_deref());
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
            OrchMsg::ScheduleList(reply) => {
                let Some(sched) = st.scheduler.clone() else {
                    let _ = reply.send(err("the scheduler is not running"));
                    return Ok(());
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
            OrchMsg::ScheduleCancel(id, reply) => {
                let Some(sched) = st.scheduler.clone() else {
                    let _ = reply.send(err("the scheduler is not running"));
                    return Ok(());
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
            OrchMsg::Updated(mut record) => {
                if let Some(e) = st.agents.get_mut(&record.name) {
                    // Reports live here, not in the agent's copy.
                    record.report = e.record.report.take();
                    e.record = record;
                    st.persist();
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<OrchMsg>,
        evt: SupervisionEvent,
        st: &mut OrchState,
    ) -> Result<(), ActorProcessingErr> {
        match evt {
            SupervisionEvent::ActorFailed(cell, error) => {
                if st.is_session_actor(cell.get_id()) {
                    // Without its tmux connection the hub is blind: fail upward.
                    return Err(format!("tmux session actor failed: {error}").into());
                }
                if st
                    .scheduler
                    .as_ref()
                    .is_some_and(|s| s.get_id() == cell.get_id())
                {
                    return Err(format!("scheduler failed: {error}").into());
                }
                let Some(name) = st.find_by_cell(cell.get_id()) else {
                    return Ok(());
                };
                tracing::error!(agent = %name, %error, "agent actor failed; starting a new one for the same pane");
                let record = match st.agents.get_mut(&name) {
                    Some(e) => {
                        e.actor = None;
                        e.record.clone()
                    }
                    None => return Ok(()),
                };
                // post_stop does not run after a panic: drop the route here.
                if let Some(p) = record
                    .pane
                    .as_deref()
                    .and_then(|p| p.strip_prefix('%'))
                    .and_then(|p| p.parse().ok())
                {
                    let _ = st
                        .session_actor(&record.session)
                        .cast(SessionMsg::Unroute { pane: p });
                }
                let budget = {
                    let e = st.agents.get_mut(&name).expect("entry exists");
                    let ok = st
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
                match st.start_agent(&myself, record.clone(), false, false).await {
                    Ok(a) => {
                        if let Some(e) = st.agents.get_mut(&name) {
                            e.actor = Some(a);
                            e.record = record;
                        }
                    }
                    Err(e) => {
                        tracing::error!(agent = %name, error = %e, "cannot restart agent actor")
                    }
                }
                st.persist();
            }
            SupervisionEvent::ActorTerminated(cell, _, _) if st.is_session_actor(cell.get_id()) => {
                return Err("tmux session actor stopped".into());
            }
            _ => {}
        }
        Ok(())
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
