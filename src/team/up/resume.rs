//! `orc resume`: the status of a team's agents, restarting the missing and
//! the dead, and adding roles to a running team.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use serde::Serialize;

use super::agents::{
    agent_command, briefing, conversation_exists, finish_start, launch, ps, roster, send,
    wait_started,
};
use super::record::{load_team, save_team, team_dir, Team, TeamAgent};
use super::user_roles_dir;
use crate::client::Ctx;
use crate::config::Config;
use crate::proto::{PsRow, Request, Response};
use crate::team::detect;
use crate::team::roles::RoleSet;
use crate::team::worktree;

#[derive(clap::Args, Debug, Clone)]
pub struct ResumeArgs {
    #[arg(long)]
    pub project: PathBuf,
    /// Show each agent's status and stop
    #[arg(long)]
    pub status_only: bool,
    /// Print the status as JSON
    #[arg(long)]
    pub json: bool,
    /// Send every agent its briefing again
    #[arg(long)]
    pub rebrief_all: bool,
    /// Add these roles to the running team (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub add_roles: Vec<String>,
}

/// One agent's status in `orc resume`.
#[derive(Debug, Clone, Serialize)]
pub struct ResumeRow {
    pub name: String,
    pub role: String,
    /// active, busy, limited, dead, missing
    pub status: String,
    pub state: Option<String>,
    pub worktree: PathBuf,
}

fn status_of(row: Option<&PsRow>) -> &'static str {
    use crate::proto::AgentState::*;
    match row.map(|r| r.state) {
        None => "missing",
        Some(Busy) => "busy",
        Some(Limited) => "limited",
        Some(Exited | Restarting | Failed) => "dead",
        Some(_) => "active",
    }
}

async fn context_message(ctx: &Ctx, team: &Team, a: &TeamAgent, row: Option<&PsRow>) -> String {
    let mut s = format!(
        "orc resumed you after a restart. You are {} ({}) on project {}.\nWorktree: {} on branch {} (merge back only into {}).\n",
        a.name,
        a.role,
        team.project,
        a.worktree.display(),
        a.branch.as_deref().unwrap_or("detached HEAD"),
        team.parent_branch
    );
    if let Some(r) = row.and_then(|r| r.report.as_ref()) {
        s.push_str(&format!(
            "Your last report: {} ({}): {}\n",
            r.status.as_str(),
            r.at.to_rfc3339(),
            r.details
        ));
    }
    if let Ok(Response::Messages { messages }) = ctx
        .request(Request::Messages {
            agent: Some(a.name.clone()),
            status: None,
        })
        .await
    {
        let recent: Vec<_> = messages.iter().rev().take(5).collect();
        if !recent.is_empty() {
            s.push_str("Recent messages:\n");
            for m in recent.into_iter().rev() {
                s.push_str(&format!("  {} -> {}: {}\n", m.from, m.to, m.preview));
            }
        }
    }
    if let Ok(o) = std::process::Command::new("git")
        .arg("-C")
        .arg(&a.worktree)
        .args(["status", "--short", "--branch"])
        .output()
    {
        let st = String::from_utf8_lossy(&o.stdout);
        s.push_str(&format!(
            "git status:\n{}\n",
            st.lines().take(20).collect::<Vec<_>>().join("\n")
        ));
    }
    s.push_str("Check `orc messages` and carry on with your task; report with `orc report`.");
    s
}

pub async fn resume(ctx: &Ctx, config: &Config, a: ResumeArgs) -> anyhow::Result<()> {
    let path = std::path::absolute(&a.project).unwrap_or(a.project.clone());
    let mut team = load_team(ctx, &path)?;
    let rows = ps(ctx).await?;
    let status = status_rows(&team, &rows);
    print_status(&status, a.json)?;
    if a.status_only {
        return Ok(());
    }
    let role_set = RoleSet::load(Some(&user_roles_dir(ctx)))?;
    let repo = worktree::check_repo(&team.path)?;
    let wt_dir = team_dir(ctx, &team.project).join("worktrees");
    let agents = team.agents.clone();
    let mut resumed = Vec::new();
    for (ag, st) in agents.iter().zip(&status) {
        match st.status.as_str() {
            "missing" => {
                let ag2 = restart_missing(ctx, config, &mut team, &repo.root, &wt_dir, ag).await?;
                resumed.push(ag2);
            }
            "dead" => {
                restart_dead(ctx, ag).await?;
                resumed.push(ag.clone());
            }
            _ => {}
        }
    }
    team.stopped = false;
    save_team(ctx, &team)?;
    let rows = ps(ctx).await?;
    // Agents an interrupted `orc up` never briefed get their briefing, not
    // a "resumed" note.
    let unbriefed = team.agents.iter().any(|x| !x.briefed);
    if unbriefed {
        finish_start(ctx, config, &role_set, &mut team).await?;
    }
    for ag in resumed.iter().filter(|x| {
        team.agents
            .iter()
            .any(|t| t.name == x.name && t.briefed && !unbriefed_before(&agents, &x.name))
    }) {
        let row = rows.iter().find(|r| r.name == ag.name);
        let text = context_message(ctx, &team, ag, row).await;
        send(ctx, &ag.name, text).await?;
    }
    if !a.add_roles.is_empty() {
        add_roles(ctx, config, &role_set, &mut team, &a.add_roles).await?;
    }
    if a.rebrief_all {
        for ag in &team.agents {
            send(ctx, &ag.name, briefing(&role_set, &team, ag)?).await?;
            println!("re-briefed {}", ag.name);
        }
    }
    if resumed.is_empty() && !unbriefed && !a.rebrief_all && a.add_roles.is_empty() {
        println!("every agent is running; nothing to do");
    }
    Ok(())
}

/// Each agent's status, from the supervisor's rows.
fn status_rows(team: &Team, rows: &[PsRow]) -> Vec<ResumeRow> {
    team.agents
        .iter()
        .map(|ag| {
            let row = rows.iter().find(|r| r.name == ag.name);
            ResumeRow {
                name: ag.name.clone(),
                role: ag.role.clone(),
                status: status_of(row).into(),
                state: row.map(|r| r.state.as_str().to_string()),
                worktree: ag.worktree.clone(),
            }
        })
        .collect()
}

/// The status as JSON or as a table.
fn print_status(status: &[ResumeRow], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(status)?);
    } else {
        let mut lines = vec![["AGENT", "ROLE", "STATUS", "STATE", "WORKTREE"]
            .map(String::from)
            .to_vec()];
        for r in status {
            lines.push(vec![
                r.name.clone(),
                r.role.clone(),
                r.status.clone(),
                r.state.clone().unwrap_or_else(|| "-".into()),
                r.worktree.display().to_string(),
            ]);
        }
        print!("{}", crate::client::table(&lines));
    }
    Ok(())
}

/// Start a missing agent again in its (re-created) worktree, resuming its
/// own conversation if it ever started one; the team's entry is updated.
async fn restart_missing(
    ctx: &Ctx,
    config: &Config,
    team: &mut Team,
    root: &Path,
    wt_dir: &Path,
    ag: &TeamAgent,
) -> anyhow::Result<TeamAgent> {
    let wt = worktree::ensure(root, &wt_dir.join(&ag.role), &ag.role)?;
    let mut ag2 = ag.clone();
    ag2.worktree = wt.path;
    ag2.branch = wt.branch;
    // Its own conversation, if it ever started one.
    let started = ag2
        .conversation
        .as_deref()
        .is_some_and(|c| conversation_exists(config, team, &ag2, c));
    launch(ctx, config, team, &ag2, started).await?;
    let state = wait_started(ctx, &ag2.name, Duration::from_secs(120)).await?;
    println!(
        "restarted {} ({state}){}",
        ag2.name,
        if started {
            ", resuming its conversation"
        } else {
            ""
        }
    );
    if let Some(slot) = team.agents.iter_mut().find(|x| x.name == ag2.name) {
        *slot = ag2.clone();
    }
    Ok(ag2)
}

/// Ask the supervisor to restart a dead agent, and wait a while for it.
async fn restart_dead(ctx: &Ctx, ag: &TeamAgent) -> anyhow::Result<()> {
    match ctx
        .request(Request::Restart {
            name: ag.name.clone(),
        })
        .await?
    {
        Response::Ok { .. } => println!("restarting {}", ag.name),
        Response::Error { message } => {
            println!("cannot restart {}: {message}", ag.name)
        }
        _ => {}
    }
    let _ = wait_started(ctx, &ag.name, Duration::from_secs(120)).await;
    Ok(())
}

/// `orc resume --add-roles`: worktrees, agents and briefings for new roles;
/// the team's earlier members are told who joined.
async fn add_roles(
    ctx: &Ctx,
    config: &Config,
    role_set: &RoleSet,
    team: &mut Team,
    roles: &[String],
) -> anyhow::Result<()> {
    let repo = worktree::check_repo(&team.path)?;
    let wt_dir = team_dir(ctx, &team.project).join("worktrees");
    let mut added = Vec::new();
    for role in roles {
        if !detect::ROLES.contains(&role.as_str()) {
            bail!(
                "unknown role `{role}`; valid roles: {}",
                detect::ROLES.join(", ")
            );
        }
        role_set.get(role)?;
        if team.agents.iter().any(|x| &x.role == role) {
            println!("{role} is already on the team");
            continue;
        }
        let wt = worktree::ensure(&repo.root, &wt_dir.join(role), role)?;
        let profile = config
            .team_profiles
            .get(role)
            .cloned()
            .unwrap_or_else(|| team.profile.clone());
        let (_, conversation) = agent_command(config, &profile, None, false)?;
        let ag = TeamAgent {
            name: format!("{}-{role}", team.project),
            role: role.clone(),
            worktree: wt.path,
            branch: wt.branch,
            conversation,
            briefed: false,
            profile: Some(profile),
        };
        team.agents.push(ag.clone());
        save_team(ctx, team)?;
        launch(ctx, config, team, &ag, false).await?;
        let state = wait_started(ctx, &ag.name, Duration::from_secs(120)).await?;
        println!("added {} ({state})", ag.name);
        added.push(ag);
    }
    for ag in &added {
        send(ctx, &ag.name, briefing(role_set, team, ag)?).await?;
        if let Some(x) = team.agents.iter_mut().find(|x| x.name == ag.name) {
            x.briefed = true;
        }
        save_team(ctx, team)?;
    }
    if !added.is_empty() {
        let names: Vec<String> = added
            .iter()
            .map(|a| format!("{} ({})", a.name, a.role))
            .collect();
        for ag in team
            .agents
            .iter()
            .filter(|x| !added.iter().any(|a| a.name == x.name))
        {
            send(
                ctx,
                &ag.name,
                format!(
                    "orc: joined the team: {}. Team now:\n{}",
                    names.join(", "),
                    roster(team)
                ),
            )
            .await?;
        }
    }
    Ok(())
}

/// Was this agent unbriefed in the team as loaded (before this run)?
fn unbriefed_before(agents: &[TeamAgent], name: &str) -> bool {
    agents.iter().any(|x| x.name == name && !x.briefed)
}
