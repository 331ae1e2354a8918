//! The pane's life: adopted or started, rebuilt from tmux (resync), its
//! process's exit noticed once, restarted, killed, its window renamed.

use std::time::Duration;

use tokio::time::Instant;

use ractor::{ActorProcessingErr, RpcReplyPort};

use super::{AgentEvent, AgentMsg, AgentState_, MIN_SIZE, STARTUP_GRACE};
use crate::proto::AgentState;
use crate::screen;
use crate::tmux::pane::Launch;
use crate::tmux::{FormatSafe, TmuxError};

impl AgentState_ {
    /// The HOME the agent runs with (its `--env`, else orc's).
    fn agent_home(&self) -> Option<String> {
        self.record
            .env
            .get("HOME")
            .cloned()
            .or_else(|| std::env::var("HOME").ok())
    }

    /// Where Claude Code keeps this agent's conversations: under its HOME.
    fn conversation_dir(&self) -> Option<std::path::PathBuf> {
        let home = self.agent_home()?;
        Some(crate::convlog::project_dir(
            std::path::Path::new(&home),
            &self.record.cwd,
        ))
    }

    /// Claude Code's conversation log, tailed when the agent runs it.
    pub(super) fn open_convlog(&mut self) {
        if !self.driver().convlog {
            return;
        }
        if let Some(dir) = self.conversation_dir() {
            self.convlog = Some(crate::convlog::Tail::new(dir, self.now()));
        }
    }

    /// At the actor's start: adopt the pane the record names (no restart,
    /// same pane id and pid), or wait for the fleet's restart line
    /// (`hold`), or start a new one.
    pub(super) async fn adopt_or_start(
        &mut self,
        fresh: bool,
        hold: bool,
    ) -> Result<(), ActorProcessingErr> {
        if !fresh && self.record.pane.is_some() {
            self.route();
            if self.resync().await? {
                self.log("adopted", None);
                self.schedule_tick();
                if !self.alive {
                    // Its pane is dead: what the launch left (a daemon) goes.
                    self.end_family("orphans-ended").await;
                    if !self.record.failed {
                        self.exited("died while orc was away", None);
                    }
                }
                return Ok(());
            }
            self.unroute();
            self.record.pane = None;
        }
        if fresh || self.record.pane.is_none() {
            // The pane is gone (a new agent has no launch yet): its
            // processes that outlived it are orphans.
            self.end_family("orphans-ended").await;
        }
        if self.record.failed {
            return Ok(());
        }
        if hold {
            self.record.pane = None;
            self.forced = Some(AgentState::Restarting);
            self.state = AgentState::Restarting;
            self.note = Some("its pane is gone; waiting its turn to restart".into());
            return Ok(());
        }
        if fresh || self.record.pane.is_none() {
            self.start_pane().await?;
            self.tell(AgentEvent::Updated(Box::new(self.record.clone())));
        }
        Ok(())
    }

    /// The pane's process exited (the pane stays, `remain-on-exit`).
    pub(super) async fn on_pane_died(&mut self, status: Option<i32>) {
        if self.alive {
            // Read the final screen before reporting.
            let _ = self.resync().await;
            self.alive = false;
        }
        // Reported once: `exited` ignores a death it already told (a
        // process that died before the first look is one too).
        self.exited("exited", status);
    }

    /// The pane or its window was killed.
    pub(super) fn on_pane_gone(&mut self) {
        self.unroute();
        if self.alive || self.forced.is_none() {
            self.exited("pane killed", None);
        }
        self.record.pane = None;
        self.record.window = None;
    }

    /// Rebuild the screen from tmux; a pane found dead or gone is reported.
    pub(super) async fn on_resync(&mut self) {
        match self.resync().await {
            Ok(true) if !self.alive => self.exited("exited", None),
            Ok(true) => self.schedule_tick(),
            Ok(false) => {
                if self.record.pane.is_some() {
                    self.unroute();
                    self.exited("pane gone", None);
                    self.record.pane = None;
                }
            }
            Err(e) => tracing::warn!(agent = %self.record.name, error = %e, "resync failed"),
        }
    }

    /// Start a fresh pane (after a crash, or `orc restart`).
    pub(super) async fn respawn(&mut self, manual: bool) {
        if let Some(pane) = self.record.pane.clone() {
            // Never respawn-pane (it can crash tmux 3.3a): kill and open anew.
            if self.alive {
                self.save_screen("restart");
            }
            self.save_transcript(if manual { "restart" } else { "crash" })
                .await;
            self.unroute();
            let _ = self.pane.kill(&pane).await;
        }
        // What left the pane's session (Codex's app-server) goes with it.
        self.end_family("processes-ended").await;
        self.record.pane = None;
        self.record.restarts += 1;
        let (now, policy) = (self.now(), self.credits.clone());
        // Only a moved resume instant re-arms its timer: re-arming bumps the
        // episode's generation, which would cancel a pending verification.
        if self
            .episode
            .as_mut()
            .is_some_and(|ep| ep.cli_restarted(now, &policy))
        {
            self.arm_resume();
        }
        self.record.failed = false;
        self.forced = None;
        self.note = manual.then(|| "restarted by request".to_string());
        match self.start_pane().await {
            Ok(()) => self.log(
                "restarted",
                Some(format!("restart #{}", self.record.restarts)),
            ),
            Err(e) => {
                self.note = Some(format!("restart failed: {e}"));
                self.log("restart-failed", Some(e.to_string()));
                self.forced = Some(AgentState::Restarting);
                self.tell(AgentEvent::Exited);
            }
        }
        self.tell(AgentEvent::Updated(Box::new(self.record.clone())));
    }

    /// The restart budget ran out.
    pub(super) fn mark_failed(&mut self, why: String) {
        self.record.failed = true;
        self.forced = Some(AgentState::Failed);
        self.refresh_state();
        // What the CLI said as it ended is most often the cause to fix.
        let why = match &self.last_words {
            Some(words) => format!("{why}; its screen last said: {words}"),
            None => why,
        };
        self.note = Some(why.clone());
        self.log("failed", Some(why));
        self.tell(AgentEvent::Updated(Box::new(self.record.clone())));
    }

    /// `orc kill`: keep the screen and transcript, kill the pane.
    pub(super) async fn kill(&mut self) {
        self.unroute();
        if let Some(pane) = self.record.pane.clone() {
            self.save_screen("killed");
            self.save_transcript("killed").await;
            let _ = self.pane.kill(&pane).await;
        }
        self.end_family("processes-ended").await;
        self.log("killed", None);
    }

    /// `orc rename`: a new window title, kept across restarts.
    pub(super) async fn rename(&mut self, title: String, reply: RpcReplyPort<Result<(), String>>) {
        let r = match self.record.window.clone() {
            Some(w) => self
                .pane
                .rename(&w, &FormatSafe::new(&title))
                .await
                .map_err(|e| e.to_string()),
            None => Ok(()),
        };
        if r.is_ok() {
            self.record.title = Some(title.clone());
            self.log("renamed", Some(title));
            self.tell(AgentEvent::Updated(Box::new(self.record.clone())));
        }
        let _ = reply.send(r);
    }

    /// The window's title: the one set with `orc rename`, else the CLI and
    /// the role (`Claude-Developer`), else the agent's name.
    pub(super) fn window_title(&self) -> String {
        if let Some(t) = &self.record.title {
            return t.clone();
        }
        let cli = self.driver().title;
        let role: String = self
            .record
            .role
            .as_deref()
            .unwrap_or("")
            .split(['_', '-', ' '])
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        match (cli.is_empty(), role.is_empty()) {
            (false, false) => format!("{cli}-{role}"),
            _ => self.record.name.clone(),
        }
    }

    /// After a restart the CLI goes on with its conversation, its own way
    /// (`drivers::Resume`): a Claude Code or Gemini CLI agent started with
    /// `--session-id X` gets `--resume X` once the CLI wrote it; Codex gets
    /// `resume --last`; Aider reloads its history file.
    pub(super) fn resume_conversation(&mut self) {
        use crate::drivers::Resume;
        let kind = self.driver().resume;
        match kind {
            Resume::Subcommand(args) if self.record.restarts > 0 => {
                if let Some(cmd) = crate::drivers::with_resume_args(&self.record.command, args) {
                    self.record.command = cmd;
                }
                self.log("conversation-resumed", Some(args.join(" ")));
            }
            Resume::HistoryFile { flag, file } => self.restore_history(flag, file),
            _ => self.resume_session(kind),
        }
    }

    /// `--session-id X` becomes `--resume X` once the CLI wrote X.
    fn resume_session(&mut self, kind: crate::drivers::Resume) {
        let Some((start, resume)) = kind.flags() else {
            return;
        };
        if self.record.restarts == 0 {
            return;
        }
        let Some(i) = self.record.command.iter().position(|a| a == start) else {
            return;
        };
        let Some(id) = self.record.command.get(i + 1).cloned() else {
            return;
        };
        if self
            .agent_home()
            .is_some_and(|h| kind.written(h.as_ref(), &self.record.cwd, &id))
        {
            self.record.command[i] = resume.into();
            self.log("conversation-resumed", Some(id));
        }
    }

    /// After a restart, a CLI that keeps its conversation in a file in the
    /// agent's folder (Aider) is started with `flag` to reload it, once the
    /// file exists (`--chat-history-file` in the command names another).
    fn restore_history(&mut self, flag: &str, file: &str) {
        if self.record.restarts == 0 || self.record.command.iter().any(|a| a == flag) {
            return;
        }
        let named = self
            .record
            .command
            .iter()
            .position(|a| a == "--chat-history-file")
            .and_then(|i| self.record.command.get(i + 1));
        let path = self.record.cwd.join(named.map_or(file, String::as_str));
        if path.is_file() {
            self.record.command.push(flag.into());
            self.log("conversation-resumed", Some(path.display().to_string()));
        }
    }

    /// Claude Code's config, prepared before a launch: trust (and the bypass
    /// warning) pre-accepted when the agent's record says so, the folder's
    /// renderer and teammate mode. A failure is logged, never fatal: the
    /// dialogs are then answered on screen.
    pub(super) fn prepare_launch(&self) {
        if !self.record.pre_trust || !self.driver().prepared_config {
            return;
        }
        let Some(files) = crate::claude_config::ConfigFiles::for_env(&self.record.env) else {
            self.log(
                "pre-trust-failed",
                Some("no HOME to find the CLI's config in".into()),
            );
            return;
        };
        let bypass = self
            .record
            .command
            .iter()
            .any(|a| a == "--dangerously-skip-permissions");
        let mut done = Vec::new();
        let mut steps: Vec<(&str, Result<bool, String>)> = vec![(
            "trust",
            crate::claude_config::pre_trust(&files, &self.record.cwd),
        )];
        if bypass {
            steps.push((
                "bypass warning",
                crate::claude_config::skip_bypass_warning(&files),
            ));
        }
        steps.push((
            "folder settings",
            crate::claude_config::folder_settings(&self.record.cwd),
        ));
        for (what, r) in steps {
            match r {
                Ok(true) => done.push(what),
                Ok(false) => {}
                Err(e) => self.log("pre-trust-failed", Some(format!("{what}: {e}"))),
            }
        }
        if !done.is_empty() {
            self.log(
                "pre-trusted",
                Some(format!("{} ({})", done.join(", "), files.state.display())),
            );
        }
    }

    pub(super) async fn start_pane(&mut self) -> Result<(), TmuxError> {
        self.resume_conversation();
        self.prepare_launch();
        self.record.launch = Some(crate::procs::new_nonce());
        let launch = self.launch();
        let opened = self.pane.open(&launch).await?;
        self.record.pane = Some(opened.pane);
        self.record.window = Some(opened.window);
        self.record.pid = opened.pid;
        self.alive = true;
        self.forced = None;
        self.route();
        self.resync().await?;
        self.set_state(AgentState::Starting);
        self.schedule_tick();
        self.started_at = Some(self.now());
        self.open_codex_log();
        // A screen that never settles into anything known is looked at again.
        self.tick_in(STARTUP_GRACE + Duration::from_millis(50));
        self.log("started", Some(self.record.command.join(" ")));
        if !self.alive {
            // Died before orc first looked: no later death notice will count.
            self.exited("exited", None);
        }
        Ok(())
    }

    /// The window to open: the agent's command with its environment.
    fn launch(&self) -> Launch {
        let mut env: Vec<(String, String)> = (self.record.env.clone().into_iter())
            .filter(|(k, _)| k != crate::procs::MARKER_VAR)
            .collect();
        env.push(("ORC_AGENT".into(), self.record.name.clone()));
        if let Some(nonce) = &self.record.launch {
            env.push((crate::procs::MARKER_VAR.into(), nonce.clone()));
        }
        if let Some(home) = self
            .shared_home()
            .filter(|_| !self.record.env.contains_key("CODEX_HOME"))
        {
            env.push(("CODEX_HOME".into(), home));
        }
        if self.record.pin_version && !self.record.env.contains_key("DISABLE_AUTOUPDATER") {
            env.push(("DISABLE_AUTOUPDATER".into(), "1".into()));
        }
        // `env -u` drops what a parent Claude Code session left in the
        // server's environment (a nested launch would misbehave), and what
        // would make this CLI think it has no terminal.
        let mut command: Vec<String> = vec!["/usr/bin/env".into()];
        let drop = (crate::claude_config::NESTED_ENV.iter()).chain(self.driver().headless_env);
        for var in drop {
            if !self.record.env.contains_key(*var) {
                command.push("-u".into());
                command.push((*var).into());
            }
        }
        command.extend(self.record.command.iter().cloned());
        Launch {
            agent: self.record.name.clone(),
            title: FormatSafe::new(&self.window_title()),
            cwd: FormatSafe::new(&self.record.cwd.to_string_lossy()),
            env,
            command,
        }
    }

    /// The pane's events come to this actor from now on.
    pub(super) fn route(&self) {
        let (Some(pane), Some(window), Some(me)) =
            (&self.record.pane, &self.record.window, &self.me)
        else {
            return;
        };
        let me = me.clone();
        self.pane.route(
            pane,
            window,
            std::sync::Arc::new(move |ev| {
                let _ = me.cast(AgentMsg::from(ev));
            }),
        );
    }

    pub(super) fn unroute(&self) {
        if let Some(p) = &self.record.pane {
            self.pane.unroute(p);
        }
    }

    /// Rebuild the screen from tmux: size, cursor and visible contents,
    /// taken in one go so that no output slips in between. Returns false
    /// when the pane no longer exists.
    pub(super) async fn resync(&mut self) -> Result<bool, TmuxError> {
        let Some(pane) = self.record.pane.clone() else {
            return Ok(false);
        };
        let Some(snap) = self.pane.snapshot(&pane).await? else {
            return Ok(false);
        };
        let (w, h) = (snap.width.max(MIN_SIZE), snap.height.max(MIN_SIZE));
        self.alive = !snap.dead;
        self.record.pid = snap.pid.or(self.record.pid);
        self.record.window = Some(snap.window);
        self.parser = screen::seed(
            snap.lines.iter().map(|l| l.as_slice()),
            h,
            w,
            Some(snap.cursor),
        );
        self.seeded_at = snap.seq;
        let digest = screen::digest(self.parser.screen());
        if digest != self.digest {
            // The same screen again (a poll while control mode is wedged) is
            // no change: the screen keeps settling.
            self.last_change = Instant::now();
        }
        self.digest = digest;
        self.digested_at = Instant::now();
        self.undigested = false;
        Ok(true)
    }

    /// End every process the current launch left (its pane dead, gone or
    /// being replaced): found by its marker (`procs`), never by name. What
    /// was ended goes into the event log.
    pub(super) async fn end_family(&mut self, event: &str) {
        let Some(nonce) = self.record.launch.clone() else {
            return;
        };
        let fam = crate::procs::Family {
            nonce: nonce.clone(),
            leader: self.record.pid,
            older: self.record.spared_launches.clone(),
            shared: self.shared_home().map(|h| format!("CODEX_HOME={h}")),
        };
        let ended = self.procs.end(&fam).await;
        if !ended.is_empty() {
            tracing::info!(agent = %self.record.name, "{event}: {}", ended.describe());
            self.log(event, Some(ended.describe()));
        }
        // A spared daemon is ended by a later pass, once nobody shares it.
        self.record.spared_launches.clear();
        if !ended.spared.is_empty() {
            self.record.spared_launches = fam.older;
            self.record.spared_launches.push(nonce);
        }
    }

    /// The `CODEX_HOME` a Codex agent runs with, put in its pane's
    /// environment (the value Codex would take anyway) so that another
    /// agent's use of the same home, and so of its one app-server, shows.
    fn shared_home(&self) -> Option<String> {
        if !self.driver().session_limit_log {
            return None;
        }
        crate::codex_limits::codex_home(&self.record.env).map(|h| h.display().to_string())
    }

    /// The pane's process is gone: keep its screen, tell the orchestrator.
    pub(super) fn exited(&mut self, reason: &str, status: Option<i32>) {
        if self.forced.is_some() && !self.alive {
            return; // already reported
        }
        self.alive = false;
        self.save_screen(reason);
        self.last_words = crate::screen::last_words::last_words(self.parser.screen());
        self.log(reason, status.map(|s| format!("status {s}")));
        self.forced = Some(AgentState::Restarting);
        self.refresh_state();
        self.note = Some(match status {
            Some(s) => format!("{reason} (status {s})"),
            None => reason.to_string(),
        });
        self.tell(AgentEvent::Exited);
    }
}
