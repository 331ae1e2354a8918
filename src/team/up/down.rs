//! `orc down`: stop a team, and with `--purge` remove its worktrees and record.

use std::path::PathBuf;

use anyhow::bail;

use super::agents::ps;
use super::confirm;
use super::record::{load_team, save_team, team_file};
use crate::client::Ctx;
use crate::proto::{Request, Response};
use crate::team::worktree;

#[derive(clap::Args, Debug, Clone)]
pub struct DownArgs {
    #[arg(long)]
    pub project: PathBuf,
    /// Also remove the worktrees and the team's record (asks first)
    #[arg(long)]
    pub purge: bool,
    /// Do not ask
    #[arg(long)]
    pub yes: bool,
}

pub async fn down(ctx: &Ctx, a: DownArgs) -> anyhow::Result<()> {
    let path = std::path::absolute(&a.project).unwrap_or(a.project.clone());
    let mut team = load_team(ctx, &path)?;
    // Ask first: a refusal (or no terminal to ask on) stops nothing.
    if a.purge
        && !a.yes
        && !confirm(&format!(
            "Stop the team and remove {} worktrees of {} (agent branches are kept)?",
            team.agents.len(),
            team.project
        ))?
    {
        bail!("nothing stopped or removed");
    }
    let rows = ps(ctx).await?;
    for ag in &team.agents {
        if rows.iter().any(|r| r.name == ag.name) {
            match ctx
                .request(Request::Kill {
                    name: ag.name.clone(),
                })
                .await?
            {
                Response::Ok { .. } => println!("stopped {}", ag.name),
                Response::Error { message } => println!("cannot stop {}: {message}", ag.name),
                _ => {}
            }
        }
    }
    if a.purge {
        for ag in &team.agents {
            worktree::remove(&team.path, &ag.worktree)?;
        }
        std::fs::remove_file(team_file(ctx, &team.project)).ok();
        println!(
            "removed the worktrees and the team record of {}",
            team.project
        );
        return Ok(());
    }
    team.stopped = true;
    save_team(ctx, &team)?;
    println!(
        "team {} stopped; worktrees and state kept (`orc resume --project {}` brings it back)",
        team.project,
        path.display()
    );
    Ok(())
}
