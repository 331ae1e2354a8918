//! The private world of one live run: folders, supervisor, tmux server and
//! agent, set up before the walk and taken down after it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use super::super::stand_in::StandIn;
use super::AGENT;
use crate::client::Ctx;
use crate::config::Config;
use crate::proto::{PsRow, Request, Response, SpawnRequest};

/// The private world of one live run.
pub(super) struct Live {
    pub(super) root: PathBuf,
    pub(super) work: PathBuf,
    pub(super) ctx: Ctx,
    pub(super) tmux: crate::tmux::Tmux,
    pub(super) supervisor: Option<std::process::Child>,
    pub(super) stand_in: StandIn,
    /// The agent pane's process, for the clean-up.
    pub(super) pane_pid: Option<u32>,
    /// The profile's detector (`claude-code`, `sim`).
    pub(super) detector: String,
    /// The supervisor's watch stream: the agent's row after every change.
    pub(super) frames: Option<tokio::sync::mpsc::Receiver<PsRow>>,
}

/// A new 0700 folder under the temp dir.
pub(super) fn private_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("orc-doctor-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Variables of the user's environment the private supervisor (and so the
/// CLI) must not inherit: real credentials, another API or config dir, a
/// parent Claude Code or tmux session.
fn inherited_badly(name: &str) -> bool {
    name.starts_with("ANTHROPIC_")
        || name.starts_with("CLAUDE")
        || name.starts_with("TMUX")
        || name.starts_with("ORC_")
        || name.starts_with("AWS_BEARER_TOKEN")
        || name.starts_with("OPENAI_")
        || name.starts_with("CODEX_")
        || name.starts_with("AIDER_")
        || name.starts_with("GEMINI_")
        || name.starts_with("GOOGLE_")
}

impl Live {
    pub(super) async fn setup(&mut self, config: &Config, profile: &str) -> anyhow::Result<()> {
        let (orc_home, home) = self.prepare(config)?;
        self.start_supervisor(&orc_home).await?;
        self.spawn_agent(&home, profile).await
    }

    /// The private ORC_HOME, HOME and work folder, and the user's config in
    /// the private ORC_HOME.
    fn prepare(&self, config: &Config) -> anyhow::Result<(PathBuf, PathBuf)> {
        let orc_home = self.root.join("orc");
        let home = self.root.join("home");
        for d in [&orc_home, &home, &self.work] {
            std::fs::create_dir_all(d)?;
        }
        super::cli_env::prepare(
            &self.detector,
            &home,
            &self.work,
            &self.stand_in.openai_base_url(),
        )?;
        // The user's config, so that the profile is exactly theirs; without
        // its notifications (a person would be told of the doctor's agent).
        if let Some(file) = &config.file {
            let text = std::fs::read_to_string(file)?;
            let mut t: toml::Table = text
                .parse()
                .with_context(|| format!("parsing {}", file.display()))?;
            t.remove("notify");
            t.remove("tmux_socket");
            std::fs::write(orc_home.join("config.toml"), toml::to_string(&t)?)?;
        }
        Ok((orc_home, home))
    }

    /// Start the private `orc supervise` and wait until it answers.
    async fn start_supervisor(&mut self, orc_home: &Path) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.root.join("supervisor.log"))?;
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_none_or(inherited_badly) {
                cmd.env_remove(k);
            }
        }
        cmd.arg("supervise")
            .env("ORC_HOME", orc_home)
            .env("ORC_TMUX_SOCKET", &self.tmux.socket)
            .env("ORC_TMUX", &self.tmux.bin)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Its own process group: a ctrl-c in this terminal reaches the doctor,
        // which then stops everything in order.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        self.supervisor = Some(cmd.spawn().context("cannot start the private supervisor")?);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Response::Pong { .. }) = self.ctx.request(Request::Ping).await {
                break;
            }
            let exited = self
                .supervisor
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(self.root.join("supervisor.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                bail!(
                    "the private supervisor did not start: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Watch the private supervisor, then have it start the agent.
    async fn spawn_agent(&mut self, home: &Path, profile: &str) -> anyhow::Result<()> {
        let env = super::cli_env::env(
            &self.detector,
            home,
            &self.stand_in.base_url(),
            &self.stand_in.openai_base_url(),
        )
        .into_iter()
        .collect();
        let req = SpawnRequest {
            name: AGENT.into(),
            cwd: self.work.display().to_string(),
            role: None,
            project: None,
            profile: Some(profile.into()),
            env,
            command: vec![],
            auto_approve: true,
            account: None,
            session: None,
            hooks: false,
            // The walk is of what a user meets: the dialogs, answered on screen.
            pre_trust: Some(false),
            pin_version: Some(true),
        };
        // Subscribe first: no state of the new agent goes unseen.
        let mut stream = crate::ipc::subscribe(&self.ctx.paths.socket(), &Request::Watch).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            while let Ok(Response::Watch { agents, .. }) =
                crate::ipc::read_frame::<_, Response>(&mut stream).await
            {
                for r in agents.into_iter().filter(|r| r.name == AGENT) {
                    if tx.send(r).await.is_err() {
                        return;
                    }
                }
            }
        });
        self.frames = Some(rx);
        self.ctx
            .ok(Request::Spawn(req))
            .await
            .map_err(|e| anyhow!("the private supervisor refused to start the agent: {e}"))?;
        Ok(())
    }

    /// Stop the agent, the supervisor and the private tmux server; remove the
    /// private folder unless `keep`.
    pub(super) async fn cleanup(&mut self, keep: bool) {
        let short = Duration::from_secs(10);
        let _ = tokio::time::timeout(
            short,
            self.ctx.request(Request::Kill { name: AGENT.into() }),
        )
        .await;
        let _ = tokio::time::timeout(short, self.ctx.request(Request::Stop)).await;
        if let Some(mut child) = self.supervisor.take() {
            let deadline = Instant::now() + short;
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let _ = self.tmux.kill_private_server().await;
        // The CLI's own process group, if it outlived its pane.
        if let Some(pid) = self.pane_pid {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if !keep {
            remove_dir(&self.root).await;
        }
    }
}

async fn remove_dir(dir: &Path) {
    for _ in 0..20 {
        if std::fs::remove_dir_all(dir).is_ok() || !dir.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
