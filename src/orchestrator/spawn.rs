//! Starting agents: `orc spawn` checked into a record, the agent actor
//! started on its tmux session's control connection, the sessions opened on
//! first use, the role's recurring check-in.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use chrono::Utc;
use ractor::{Actor, ActorRef, RpcReplyPort};

use super::{err, Entry, OrchMsg, OrchState, CALL};
use crate::agent::{AgentActor, AgentArgs, AgentMsg};
use crate::config::{resolve_command, Profile};
use crate::proto::{Response, SpawnRequest};
use crate::state::{validate_name, AgentRecord};
use crate::tmux::session::{SessionActor, SessionMsg, TmuxHandle};

impl OrchState {
    /// `orc spawn`: check the request, start the agent, remember it.
    pub(super) async fn spawn(
        &mut self,
        myself: &ActorRef<OrchMsg>,
        req: SpawnRequest,
        reply: RpcReplyPort<Response>,
    ) {
        let record = match self.validate_spawn(&req) {
            Ok(r) => r,
            Err(e) => {
                let _ = reply.send(err(e));
                return;
            }
        };
        let name = record.name.clone();
        match self.start_agent(myself, record.clone(), true, false).await {
            Ok(actor) => {
                self.agents.insert(
                    name.clone(),
                    Entry {
                        record,
                        actor: Some(actor),
                        history: VecDeque::new(),
                        generation: 0,
                    },
                );
                self.persist();
                if let Some(e) = self.agents.get(&name) {
                    self.ensure_checkin(&e.record);
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

    /// The recurring check-in the config gives an agent's role, created once.
    pub(super) fn ensure_checkin(&self, record: &AgentRecord) {
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

    pub(super) async fn start_agent(
        &mut self,
        myself: &ActorRef<OrchMsg>,
        record: AgentRecord,
        fresh: bool,
        hold: bool,
    ) -> Result<ActorRef<AgentMsg>, String> {
        let mut credits = self.config.credits.clone();
        // A limit with no reset shown waits the CLI's own cycle (a provider's
        // per-minute limit is not Claude's five hours) unless config says.
        credits = credits.with_cli_cycle(crate::drivers::of(&record.detector).limit_cycle);
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
            procs: std::sync::Arc::new(crate::procs::Reaper::system()),
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

    pub(super) fn is_session_actor(&self, id: ractor::ActorId) -> bool {
        self.session.get_id() == id || self.sessions.values().any(|(a, _)| a.get_id() == id)
    }

    pub(super) fn session_actor(&self, name: &str) -> ActorRef<SessionMsg> {
        self.sessions
            .get(name)
            .map(|(a, _)| a.clone())
            .unwrap_or_else(|| self.session.clone())
    }

    pub(super) fn find_by_cell(&self, id: ractor::ActorId) -> Option<String> {
        self.agents
            .iter()
            .find(|(_, e)| e.actor.as_ref().is_some_and(|a| a.get_id() == id))
            .map(|(n, _)| n.clone())
    }

    fn validate_spawn(&self, req: &SpawnRequest) -> Result<AgentRecord, String> {
        self.check_new_name(&req.name)?;
        let cwd = check_cwd(&req.cwd)?;
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
        let env = spawn_env(profile, req)?;
        let command = spawn_command(profile, req, &env, &cwd)?;
        if req.hooks {
            install_hooks(profile, &profile_name, &env, &cwd)?;
        }
        let session = match &req.session {
            Some(s) => {
                validate_name(s).map_err(|e| format!("tmux session name: {e}"))?;
                s.clone()
            }
            None => self.handle.session.clone(),
        };
        let account = match &req.account {
            Some(a) if a.trim().is_empty() => {
                return Err("--account is empty; name the account or leave the flag out".into())
            }
            Some(a) => Some(a.clone()),
            None => profile.account.clone(),
        };
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
            session,
            pane: None,
            window: None,
            pid: None,
            restarts: 0,
            failed: false,
            report: None,
            account,
            title: None,
            session_id: None,
            pre_trust: req.pre_trust.or(profile.pre_trust).unwrap_or(false),
            pin_version: req.pin_version.or(profile.pin_version).unwrap_or(false),
            created: Utc::now(),
            launch: None,
            spared_launches: Vec::new(),
        })
    }

    /// A new agent's name: valid, not orc's own, not taken.
    fn check_new_name(&self, name: &str) -> Result<(), String> {
        validate_name(name)?;
        if name == crate::routing::SYSTEM_SENDER {
            return Err(format!(
                "agent name `{name}` is reserved: orc signs its own messages (briefings, check-ins, resume prompts) with it; pick another name"
            ));
        }
        if self.agents.contains_key(name) {
            return Err(format!(
                "an agent named `{name}` already exists; pick another name or `orc kill {name}` first"
            ));
        }
        Ok(())
    }
}

/// The working directory: absolute and an existing directory.
fn check_cwd(cwd: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(cwd);
    if !path.is_absolute() {
        return Err(format!("cwd {cwd} is not an absolute path"));
    }
    if !path.is_dir() {
        return Err(format!("cwd {cwd} does not exist or is not a directory"));
    }
    Ok(path)
}

/// The profile's environment with the request's variables on top.
fn spawn_env(profile: &Profile, req: &SpawnRequest) -> Result<BTreeMap<String, String>, String> {
    let mut env = profile.env.clone();
    for (k, v) in &req.env {
        if k.is_empty() || k.contains('=') || k.chars().any(|c| c.is_control()) {
            return Err(format!("invalid environment variable name {k:?}"));
        }
        env.insert(k.clone(), v.clone());
    }
    Ok(env)
}

/// The command line (the request's or the profile's), its program resolved
/// on the agent's own PATH.
fn spawn_command(
    profile: &Profile,
    req: &SpawnRequest,
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<Vec<String>, String> {
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
    let exe = resolve_command(&command[0], &path_var, cwd)?;
    command[0] = exe.display().to_string();
    Ok(command)
}

/// `--hooks`: orc's hooks in the worktree's Claude Code settings.
fn install_hooks(
    profile: &Profile,
    profile_name: &str,
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<(), String> {
    if !crate::drivers::of(profile.detector_name(profile_name)).hooks {
        return Err(format!(
            "--hooks is for Claude Code agents; profile `{profile_name}` is not one"
        ));
    }
    let me = std::env::current_exe().map_err(|e| format!("cannot find orc's own path: {e}"))?;
    let user = crate::claude_config::ConfigFiles::for_env(env).map(|c| c.settings);
    crate::hooks::install(&crate::hooks::settings_path(cwd), &me, user.as_deref())?;
    crate::hooks::exclude_from_git(cwd);
    Ok(())
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
            E::Updated(record) => OrchMsg::Updated(record),
            E::Usage(report) => OrchMsg::Usage {
                name,
                report: Box::new(report),
            },
        });
    })
}
