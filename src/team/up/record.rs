//! The team's record, `team.json`: what it holds, where it lives, how a
//! project and a conversation are named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::plan::Plan;
use crate::client::Ctx;
use crate::state::write_atomic;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TeamAgent {
    pub name: String,
    pub role: String,
    pub worktree: PathBuf,
    pub branch: Option<String>,
    /// Claude Code's conversation id (`--session-id`), to resume it.
    #[serde(default)]
    pub conversation: Option<String>,
    /// Its briefing is queued. False from the moment `orc up` lists it until
    /// then: an interrupted start is finished by `orc up` again or `orc
    /// resume` (older team files, written after every briefing, have none).
    #[serde(default = "yes")]
    pub briefed: bool,
    /// The profile it runs (`[team.profiles]`, `--profile-for`); none: the
    /// team's (older team files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

fn yes() -> bool {
    true
}

impl Team {
    /// The profile this agent runs: its own, else the team's.
    pub fn profile_of<'a>(&'a self, a: &'a TeamAgent) -> &'a str {
        a.profile.as_deref().unwrap_or(&self.profile)
    }
}

/// `team.json`: everything `orc resume` needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Team {
    pub project: String,
    pub path: PathBuf,
    pub spec: PathBuf,
    pub session: String,
    pub profile: String,
    pub template: String,
    pub size: String,
    pub plan_tier: String,
    pub parent_branch: String,
    pub plan: Plan,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub agents: Vec<TeamAgent>,
    pub created: DateTime<Utc>,
    /// `orc down` stopped it; `orc resume` brings it back.
    #[serde(default)]
    pub stopped: bool,
}

pub fn project_name(path: &Path) -> String {
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "project".into());
    let mut s: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(40);
    if s.is_empty() || s.starts_with('-') {
        s = format!("p{s}");
    }
    s
}

pub(super) fn team_dir(ctx: &Ctx, project: &str) -> PathBuf {
    ctx.paths.state.join("projects").join(project)
}

pub(super) fn team_file(ctx: &Ctx, project: &str) -> PathBuf {
    team_dir(ctx, project).join("team.json")
}

pub(super) fn save_team(ctx: &Ctx, t: &Team) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(t)?;
    write_atomic(&team_file(ctx, &t.project), &bytes).context("cannot save team.json")
}

pub(super) fn load_team(ctx: &Ctx, path: &Path) -> anyhow::Result<Team> {
    let project = project_name(path);
    let f = team_file(ctx, &project);
    let bytes = std::fs::read(&f).map_err(|_| {
        anyhow!(
            "no team for {} (no {}); start one with `orc up --project {} --spec FILE`",
            path.display(),
            f.display(),
            path.display()
        )
    })?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} does not parse", f.display()))
}

/// A fresh conversation id in UUID v4 form.
pub fn new_conversation_id() -> String {
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
