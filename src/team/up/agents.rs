//! Starting and briefing a team's agents through the supervisor: spawn
//! requests, briefings, waiting for a start, and the test crash points.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::plan::plan_excerpt;
use super::profile_of;
use super::record::{new_conversation_id, save_team, Team, TeamAgent};
use crate::client::Ctx;
use crate::config::Config;
use crate::proto::{PsRow, Request, Response, SpawnRequest};
use crate::team::detect;
use crate::team::roles::{self, RoleSet};

pub(super) async fn ps(ctx: &Ctx) -> anyhow::Result<Vec<PsRow>> {
    Ok(ctx.ps().await?.0)
}

pub(super) async fn wait_started(ctx: &Ctx, name: &str, limit: Duration) -> anyhow::Result<String> {
    let start = Instant::now();
    loop {
        let rows = ps(ctx).await?;
        let state = rows
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.state.as_str().to_string())
            .unwrap_or_else(|| "missing".into());
        if !matches!(state.as_str(), "starting" | "missing") || start.elapsed() > limit {
            return Ok(state);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub(super) fn roster(team: &Team) -> String {
    team.agents
        .iter()
        .map(|a| {
            format!(
                "- {} ({}), branch {}",
                a.name,
                a.role,
                a.branch.as_deref().unwrap_or("detached")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn briefing(roles: &RoleSet, team: &Team, a: &TeamAgent) -> anyhow::Result<String> {
    let role = roles.get(&a.role)?;
    let hub = team
        .agents
        .iter()
        .find(|x| x.role == detect::HUB)
        .map(|x| x.name.clone())
        .unwrap_or_else(|| "user".into());
    let vars: BTreeMap<String, String> = [
        ("agent", a.name.clone()),
        ("role", a.role.clone()),
        ("project", team.project.clone()),
        ("project_path", team.path.display().to_string()),
        ("spec", team.spec.display().to_string()),
        ("plan", plan_excerpt(&team.plan)),
        ("worktree", a.worktree.display().to_string()),
        (
            "branch",
            a.branch.clone().unwrap_or_else(|| "(detached HEAD)".into()),
        ),
        ("parent_branch", team.parent_branch.clone()),
        ("roster", roster(team)),
        ("hub", hub),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Ok(roles::render(role, &vars)?)
}

/// Test hook (`ORC_TEST_HOOKS=1 ORC_TEST_UP_CRASH=<point>:<n>`): the
/// client dies the n-th time it passes `point` (`saved`, `launched`, `sent`,
/// `briefed`), as when its terminal is closed halfway through `orc up`.
pub(super) fn crash_point(point: &str) {
    static SEEN: std::sync::Mutex<Vec<(String, u32)>> = std::sync::Mutex::new(Vec::new());
    if std::env::var("ORC_TEST_HOOKS").as_deref() != Ok("1") {
        return;
    }
    let Ok(spec) = std::env::var("ORC_TEST_UP_CRASH") else {
        return;
    };
    let Some((at, n)) = spec.split_once(':') else {
        return;
    };
    if at != point {
        return;
    }
    let mut seen = SEEN.lock().expect("crash point counter");
    let count = match seen.iter_mut().find(|(p, _)| p == point) {
        Some((_, c)) => {
            *c += 1;
            *c
        }
        None => {
            seen.push((point.to_string(), 1));
            1
        }
    };
    if n.parse::<u32>().ok() == Some(count) {
        eprintln!("orc: test hook: the client dies at {spec}");
        std::process::exit(99);
    }
}

/// Is this briefing already queued for the agent (sent by an earlier,
/// interrupted run that died before it could write `briefed`)?
async fn briefing_queued(ctx: &Ctx, to: &str, text: &str) -> anyhow::Result<bool> {
    let first: String = text.lines().next().unwrap_or("").chars().take(80).collect();
    match ctx
        .request(Request::Messages {
            agent: Some(to.into()),
            status: None,
        })
        .await?
    {
        Response::Messages { messages } => Ok(messages
            .iter()
            .any(|m| m.from == crate::routing::SYSTEM_SENDER && m.preview == first)),
        Response::Error { message } => bail!("messages of {to}: {message}"),
        other => bail!("unexpected answer: {other:?}"),
    }
}

/// Finish a team's start: start each listed agent that is not running (never
/// one that is), then brief each one not yet briefed (never one twice),
/// saving `team.json` after every briefing. Every step can be cut short and
/// run again.
pub(super) async fn finish_start(
    ctx: &Ctx,
    config: &Config,
    role_set: &RoleSet,
    team: &mut Team,
) -> anyhow::Result<()> {
    let names: Vec<String> = ps(ctx).await?.into_iter().map(|r| r.name).collect();
    for ag in team.agents.clone() {
        if names.contains(&ag.name) {
            continue;
        }
        let started = ag
            .conversation
            .as_deref()
            .is_some_and(|c| conversation_exists(config, team, &ag, c));
        launch(ctx, config, team, &ag, started).await?;
        crash_point("launched");
        let state = wait_started(ctx, &ag.name, Duration::from_secs(120)).await?;
        println!("      {} is {state}", ag.name);
    }
    for i in 0..team.agents.len() {
        if team.agents[i].briefed {
            continue;
        }
        let ag = team.agents[i].clone();
        let text = briefing(role_set, team, &ag)?;
        if briefing_queued(ctx, &ag.name, &text).await? {
            println!("      {} was briefed already", ag.name);
        } else {
            send(ctx, &ag.name, text).await?;
            crash_point("sent");
            println!("      briefed {}", ag.name);
        }
        team.agents[i].briefed = true;
        save_team(ctx, team)?;
        crash_point("briefed");
    }
    Ok(())
}

pub(super) async fn send(ctx: &Ctx, to: &str, text: String) -> anyhow::Result<()> {
    match ctx
        .request(Request::Brief {
            name: to.into(),
            text,
        })
        .await?
    {
        Response::Queued { .. } | Response::Delivered { .. } => Ok(()),
        Response::Error { message } => bail!("briefing {to}: {message}"),
        other => bail!("unexpected answer: {other:?}"),
    }
}

/// The command that starts an agent, and its conversation id if it has one.
pub(super) fn agent_command(
    config: &Config,
    profile: &str,
    conversation: Option<&str>,
    resume: bool,
) -> anyhow::Result<(Vec<String>, Option<String>)> {
    let p = profile_of(config, profile)?;
    let mut cmd: Vec<String> = std::iter::once(p.command.clone())
        .chain(p.args.iter().cloned())
        .collect();
    use crate::drivers::Resume;
    let how = crate::drivers::of(p.detector_name(profile)).resume;
    if let Some((start, again)) = how.flags() {
        let id = conversation
            .map(String::from)
            .unwrap_or_else(new_conversation_id);
        cmd.push(if resume { again } else { start }.into());
        cmd.push(id.clone());
        return Ok((cmd, Some(id)));
    }
    match how {
        Resume::Subcommand(args) if resume => {
            cmd = crate::drivers::with_resume_args(&cmd, args).unwrap_or(cmd);
        }
        // `orc resume`: the CLI reloads the conversation it kept in its folder.
        Resume::HistoryFile { flag, .. } if resume && !cmd.iter().any(|a| a == flag) => {
            cmd.push(flag.into());
        }
        _ => {}
    }
    Ok((cmd, None))
}

pub(super) async fn launch(
    ctx: &Ctx,
    config: &Config,
    team: &Team,
    a: &TeamAgent,
    resume: bool,
) -> anyhow::Result<()> {
    let profile = team.profile_of(a);
    let (command, _) = agent_command(config, profile, a.conversation.as_deref(), resume)?;
    let p = config.profiles.get(profile);
    let req = SpawnRequest {
        name: a.name.clone(),
        cwd: a.worktree.display().to_string(),
        role: Some(a.role.clone()),
        project: Some(team.project.clone()),
        profile: Some(profile.to_string()),
        env: team.env.clone(),
        command,
        auto_approve: false,
        account: None,
        session: Some(team.session.clone()),
        hooks: p.is_some_and(|p| crate::drivers::of(p.detector_name(profile)).hooks),
        // orc made these worktrees: trust them, and keep the CLI version the
        // team started with, unless the profile says otherwise.
        pre_trust: Some(p.and_then(|p| p.pre_trust).unwrap_or(true)),
        pin_version: Some(p.and_then(|p| p.pin_version).unwrap_or(true)),
    };
    match ctx.request(Request::Spawn(req)).await? {
        Response::Ok { .. } => Ok(()),
        Response::Error { message } => bail!("starting {}: {message}", a.name),
        other => bail!("unexpected answer: {other:?}"),
    }
}

/// Did the agent's CLI write this conversation (so its resume flag finds
/// it)? Claude Code's log under the worktree's project folder, Gemini CLI's
/// chat under its HOME (the team's `HOME`, else the profile's, else orc's).
pub(super) fn conversation_exists(config: &Config, team: &Team, a: &TeamAgent, id: &str) -> bool {
    let profile = team.profile_of(a);
    let p = config.profiles.get(profile);
    let home = team
        .env
        .get("HOME")
        .or_else(|| p.and_then(|p| p.env.get("HOME")))
        .cloned()
        .or_else(|| std::env::var("HOME").ok());
    let Some(home) = home else { return false };
    p.is_some_and(|p| {
        crate::drivers::of(p.detector_name(profile)).resume.written(
            Path::new(&home),
            &a.worktree,
            id,
        )
    })
}
