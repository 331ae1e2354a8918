//! `orc doctor --live PROFILE`: the profile's real CLI under a private `orc
//! supervise` (its own ORC_HOME and tmux server), talking to the built-in API
//! stand-in, walked through startup, a turn, a tool call and a usage limit.
//! Each step says what orc should see and what it saw; the first mismatch
//! ends the walk. Everything it started is stopped at the end (the private
//! tmux server is killed: it is the doctor's own).

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};

use super::stand_in::StandIn;
use super::{detector_of, install_hint, unknown_profile, Status};
use crate::client::Ctx;
use crate::config::{resolve_command, Config, Profile};
use crate::paths::Paths;

mod cli_env;
mod plans;
mod report;
mod step;
mod world;

use plans::Kind;
pub use report::{LiveReport, Step};
use world::{private_dir, Live};

const AGENT: &str = "doctor";
/// What the CLI gets as its subscription token: not a secret, not real.
const DUMMY_TOKEN: &str = "orc-doctor-dummy-token";

pub async fn run(profile: &str, keep: bool) -> anyhow::Result<LiveReport> {
    let paths = Paths::from_env();
    let config = Config::load(&paths.config_file)
        .map_err(|e| anyhow!("{e}: fix it first (`orc doctor` checks it)"))?;
    let Some(p) = config.profiles.get(profile) else {
        bail!("{}", unknown_profile(profile, &config.profiles, &paths));
    };
    let det = detector_of(profile, p);
    let (kind, exe, version) = target(profile, p, det, &paths).await?;
    let mut live = private_world(&config, det).await?;
    let mut steps = Vec::new();
    let mut screen = Vec::new();
    let setup = live.setup(&config, profile).await;
    match setup {
        Err(e) => {
            live.cleanup(keep).await;
            return Err(e);
        }
        Ok(()) => {
            tokio::select! {
                _ = live.walk(kind, &mut steps, &mut screen) => {}
                _ = tokio::signal::ctrl_c() => {
                    steps.push(Step {
                        step: "interrupted",
                        expected: String::new(),
                        status: Status::Fail,
                        saw: vec![],
                        secs: 0.0,
                        detail: "interrupted (ctrl-c); cleaned up".into(),
                    });
                }
            }
        }
    }
    let kept = keep.then(|| live.root.display().to_string());
    live.cleanup(keep).await;
    Ok(LiveReport {
        ok: steps.iter().all(|s| s.status != Status::Fail),
        profile: profile.to_string(),
        command: exe.display().to_string(),
        version,
        steps,
        screen,
        kept,
    })
}

/// What the profile runs: the kind of walk, the CLI's path, and its version
/// (not for the sim).
async fn target(
    profile: &str,
    p: &Profile,
    det: &str,
    paths: &Paths,
) -> anyhow::Result<(Kind, PathBuf, Option<String>)> {
    let driver = crate::drivers::of(det);
    let kind = match driver.name {
        "claude-code" => Kind::Claude,
        "sim" => Kind::Sim,
        _ if driver.live_check => Kind::OpenAi,
        _ => {
            let can: Vec<&str> = crate::drivers::ALL
                .iter()
                .filter(|d| d.live_check)
                .map(|d| d.name)
                .collect();
            bail!(
                "`orc doctor --live` drives the CLIs with detector {}; profile `{profile}` uses \
                 detector `{det}`: run `orc doctor {profile}` for its static checks",
                can.join(", ")
            )
        }
    };
    let path_var = p
        .env
        .get("PATH")
        .cloned()
        .unwrap_or_else(|| std::env::var("PATH").unwrap_or_default());
    let exe = resolve_command(&p.command, &path_var, &std::env::current_dir()?).map_err(|e| {
        anyhow!(
            "profile `{profile}` runs `{}`: {e}; {}, or set `command` in [profiles.{profile}] of {}",
            p.command,
            install_hint(det),
            paths.config_file.display()
        )
    })?;
    let version = match kind {
        Kind::Claude | Kind::OpenAi => {
            Some(super::cli_version(&exe, p).await.map_err(|e| anyhow!(e))?.0)
        }
        Kind::Sim => None,
    };
    Ok((kind, exe, version))
}

/// The private world, before its setup: a folder, a tmux server that works,
/// the API stand-in.
async fn private_world(config: &Config, det: &str) -> anyhow::Result<Live> {
    let socket = format!("orc-doctor-{}", std::process::id());
    let root = private_dir()?;
    let tmux = crate::tmux::Tmux::new(
        config.tmux.clone().into(),
        socket.clone(),
        root.join("orc/state/tmux.conf"),
    );
    if let Err(e) = tmux.check_version().await {
        let _ = std::fs::remove_dir_all(&root);
        bail!("{e}; `orc doctor --live` needs tmux to run the CLI");
    }
    let stand_in = StandIn::start()
        .await
        .context("starting the API stand-in")?;
    Ok(Live {
        work: root.join("work"),
        ctx: Ctx {
            paths: Paths::under(&root.join("orc")),
        },
        root,
        tmux,
        supervisor: None,
        stand_in,
        pane_pid: None,
        frames: None,
        detector: det.to_string(),
    })
}
