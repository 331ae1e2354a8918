//! `orc up`: a new team for a project, from the spec to briefed agents.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use chrono::Utc;

use super::agents::{agent_command, crash_point, finish_start};
use super::plan::{ask_for_plan, parse_plan, plan_excerpt, plan_without_ai, Plan};
use super::record::{load_team, project_name, save_team, team_dir, Team, TeamAgent};
use super::{confirm, profile_of, step, user_roles_dir};
use crate::client::Ctx;
use crate::config::Config;
use crate::team::detect::{self, Detection, PlanTier, Selection, Size};
use crate::team::roles::RoleSet;
use crate::team::worktree::{self, RepoInfo};

/// Read the spec: it must exist and be non-empty text.
pub fn read_spec(path: &Path) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow!("cannot read the spec {}: {e}", path.display()))?;
    if bytes.contains(&0) {
        bail!(
            "the spec {} is a binary file; give a text or Markdown spec",
            path.display()
        );
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow!("the spec {} is not UTF-8 text", path.display()))?;
    if text.trim().is_empty() {
        bail!(
            "the spec {} is empty; write what the team should build",
            path.display()
        );
    }
    Ok(text)
}

#[derive(clap::Args, Debug, Clone)]
pub struct UpArgs {
    /// The project's git repository (its top folder)
    #[arg(long)]
    pub project: PathBuf,
    /// The spec: what the team should build (text or Markdown)
    #[arg(long)]
    pub spec: PathBuf,
    /// Do not ask before starting the team
    #[arg(long)]
    pub yes: bool,
    /// Build the plan from project detection and templates, without asking the agent CLI
    #[arg(long)]
    pub no_ai: bool,
    /// Use a saved plan (JSON) instead of asking the agent CLI
    #[arg(long)]
    pub plan_file: Option<PathBuf>,
    /// Team template: web_application, system_deployment, data_pipeline, infrastructure_as_code
    #[arg(long)]
    pub team_type: Option<String>,
    /// Exactly these roles (comma-separated; the orchestrator is always added)
    #[arg(long, value_delimiter = ',')]
    pub roles: Vec<String>,
    /// Roles added to the template's (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub add_roles: Vec<String>,
    /// small, medium, large, enterprise (default: from the project)
    #[arg(long)]
    pub size: Option<String>,
    /// Account plan, which caps the team: pro 3, max5 5, max20 8, console 10 agents
    #[arg(long, default_value = "max5")]
    pub plan: String,
    /// Launch profile for the agents (default: claude)
    #[arg(long, default_value = "claude")]
    pub profile: String,
    /// ROLE=PROFILE: this role's agent runs another profile (over
    /// `[team.profiles]` in config.toml); repeatable
    #[arg(long = "profile-for", value_name = "ROLE=PROFILE")]
    pub profile_for: Vec<String>,
    /// KEY=VALUE for every agent (and the planning call); repeatable
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
}

fn parse_env(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for kv in pairs {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("--env {kv:?} is not KEY=VALUE"))?;
        if k.is_empty() {
            bail!("--env {kv:?} has an empty name");
        }
        m.insert(k.to_string(), v.to_string());
    }
    Ok(m)
}

pub async fn up(ctx: &Ctx, config: &Config, a: UpArgs) -> anyhow::Result<()> {
    let total = 6;
    step(1, total, "checking the project and the spec");
    let project = std::path::absolute(&a.project).unwrap_or(a.project.clone());
    let repo = worktree::check_repo(&project)?;
    if repo.dirty_files > 0 {
        println!(
            "      note: {} has {} uncommitted change(s); agents start from the last commit",
            project.display(),
            repo.dirty_files
        );
    }
    let spec_path = std::path::absolute(&a.spec).unwrap_or(a.spec.clone());
    let spec = read_spec(&spec_path)?;
    let name = project_name(&repo.root);
    if let Ok(mut t) = load_team(ctx, &repo.root) {
        return finish_interrupted(ctx, config, &repo.root, &mut t, total).await;
    }
    let role_set = RoleSet::load(Some(&user_roles_dir(ctx)))?;
    let tier: PlanTier = a.plan.parse().map_err(|e: String| anyhow!(e))?;
    let env = parse_env(&a.env)?;
    profile_of(config, &a.profile)?;
    let by_role = role_profiles(config, &a.profile_for)?;

    step(2, total, "looking at the project");
    let d = detect::detect(&repo.root);
    show_detection(&d);

    step(3, total, "planning");
    let ai_plan = first_plan(config, &a, &repo.root, &spec, &d, &env)?;
    let (template, size, sel) = choose_team(&a, &d, tier, ai_plan.as_ref(), &role_set)?;
    let title = spec_title(&spec);
    let plan = ai_plan.unwrap_or_else(|| plan_without_ai(&d, size, &sel.roles, &title));
    show_team(&template, size, tier, &sel, &plan);
    let by_role = profiles_on_team(by_role, &a.profile_for, &sel.roles)?;
    show_profiles(&sel.roles, &by_role, &a.profile);
    if !a.yes && !confirm("Start this team?")? {
        bail!("not started (nothing was changed)");
    }

    step(4, total, "creating worktrees");
    let (agents, parent) = create_worktrees(ctx, &repo, &name, &sel.roles)?;
    let mut team = Team {
        project: name.clone(),
        path: repo.root.clone(),
        spec: spec_path,
        session: format!("orc-{name}"),
        profile: a.profile.clone(),
        template,
        size: size.name().into(),
        plan_tier: tier.name().into(),
        parent_branch: parent,
        plan,
        env,
        agents,
        created: Utc::now(),
        stopped: false,
    };
    for i in 0..team.agents.len() {
        let role = &team.agents[i].role;
        team.agents[i].profile = Some(by_role.get(role).unwrap_or(&a.profile).clone());
        let (_, conv) = agent_command(config, team.profile_of(&team.agents[i]), None, false)?;
        team.agents[i].conversation = conv;
    }
    save_team(ctx, &team)?;
    crash_point("saved");

    step(
        5,
        total,
        "starting agents one at a time, then briefing each",
    );
    finish_start(ctx, config, &role_set, &mut team).await?;
    println!("team {} is up: `orc ps` shows it, `orc schedule list` its check-ins; `orc attach {}` to watch", name, team.agents[0].name);
    Ok(())
}

/// The project has a team already: finish its start if an earlier `orc up`
/// was cut short, otherwise refuse.
async fn finish_interrupted(
    ctx: &Ctx,
    config: &Config,
    root: &Path,
    t: &mut Team,
    total: usize,
) -> anyhow::Result<()> {
    if t.agents.iter().any(|x| !x.briefed) {
        // An earlier `orc up` was cut short: finish exactly what is missing.
        println!(
            "      {} has a team whose start was interrupted; finishing it",
            root.display()
        );
        let role_set = RoleSet::load(Some(&user_roles_dir(ctx)))?;
        step(5, total, "starting the agents not yet running");
        step(6, total, "briefing the agents not yet briefed");
        finish_start(ctx, config, &role_set, t).await?;
        println!("team {} is up: `orc ps` shows it", t.project);
        return Ok(());
    }
    bail!(
        "{} already has a team ({} agents{}); use `orc resume --project {}`",
        root.display(),
        t.agents.len(),
        if t.stopped { ", stopped" } else { "" },
        root.display()
    );
}

/// role -> profile: `[team.profiles]` with `--profile-for ROLE=PROFILE`
/// over it; every role one orc knows, every profile one the config has.
pub(crate) fn role_profiles(
    config: &Config,
    pairs: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut m = config.team_profiles.clone();
    for kv in pairs {
        let (role, profile) = kv.split_once('=').ok_or_else(|| {
            anyhow!("--profile-for {kv:?} is not ROLE=PROFILE (e.g. --profile-for developer=codex)")
        })?;
        if !detect::ROLES.contains(&role) {
            bail!(
                "--profile-for {kv:?}: unknown role `{role}`; valid roles: {}",
                detect::ROLES.join(", ")
            );
        }
        profile_of(config, profile).map_err(|e| anyhow!("--profile-for {kv:?}: {e}"))?;
        m.insert(role.to_string(), profile.to_string());
    }
    Ok(m)
}

/// The profiles of the roles on the team; a `--profile-for` naming a role
/// the team does not have is a mistake (config's are for any team).
fn profiles_on_team(
    mut by_role: BTreeMap<String, String>,
    pairs: &[String],
    roles: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    for kv in pairs {
        let role = kv.split_once('=').map(|(r, _)| r).unwrap_or(kv);
        if !roles.iter().any(|r| r == role) {
            bail!(
                "--profile-for {kv:?}: this team has no {role} (its roles: {}); add it with --add-roles {role}, or drop the option (nothing was changed)",
                roles.join(", ")
            );
        }
    }
    by_role.retain(|r, _| roles.contains(r));
    Ok(by_role)
}

/// Say which CLI each role runs when they are not all the default.
fn show_profiles(roles: &[String], by_role: &BTreeMap<String, String>, default: &str) {
    if by_role.values().all(|p| p == default) {
        return;
    }
    let each: Vec<String> = roles
        .iter()
        .map(|r| {
            format!(
                "{r} {}",
                by_role.get(r).map(String::as_str).unwrap_or(default)
            )
        })
        .collect();
    println!("      profiles: {}", each.join(", "));
}

fn show_detection(d: &Detection) {
    println!(
        "      looks like {} (confidence {:.2}): {}",
        d.project_type,
        d.confidence,
        d.indicators
            .iter()
            .take(4)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ")
    );
}

/// The plan from `--plan-file` or from the agent CLI; none with `--no-ai`.
fn first_plan(
    config: &Config,
    a: &UpArgs,
    root: &Path,
    spec: &str,
    d: &Detection,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<Option<Plan>> {
    Ok(if let Some(f) = &a.plan_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| anyhow!("cannot read --plan-file {}: {e}", f.display()))?;
        Some(parse_plan(&text).map_err(|e| anyhow!("--plan-file {}: {e}", f.display()))?)
    } else if a.no_ai {
        None
    } else {
        println!(
            "      asking `{}` in print mode for a plan (skip with --no-ai)",
            a.profile
        );
        Some(ask_for_plan(config, &a.profile, root, spec, d, env)?)
    })
}

/// The template (by name), size and roles, from the options first, then the
/// plan, then detection.
fn choose_team(
    a: &UpArgs,
    d: &Detection,
    tier: PlanTier,
    ai_plan: Option<&Plan>,
    role_set: &RoleSet,
) -> anyhow::Result<(String, Size, Selection)> {
    let type_name = a
        .team_type
        .clone()
        .or_else(|| ai_plan.map(|p| p.project_type.clone()))
        .unwrap_or_else(|| d.project_type.clone());
    let template = detect::template(&type_name).map_err(|e| anyhow!(e))?;
    let size: Size = match (&a.size, ai_plan) {
        (Some(s), _) => s.parse().map_err(|e: String| anyhow!(e))?,
        (None, Some(p)) => p.size.parse().unwrap_or_else(|_| Size::from_detection(d)),
        (None, None) => Size::from_detection(d),
    };
    let only: Option<Vec<String>> = if !a.roles.is_empty() {
        Some(a.roles.clone())
    } else {
        ai_plan.map(|p| p.roles.clone()).filter(|r| !r.is_empty())
    };
    let sel = detect::select_roles(&template, d, size, tier, only.as_deref(), &a.add_roles)
        .map_err(|e| anyhow!(e))?;
    for r in &sel.roles {
        role_set.get(r)?;
    }
    Ok((template.name, size, sel))
}

/// The spec's first non-empty line, without Markdown heading marks.
fn spec_title(spec: &str) -> String {
    spec.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_start_matches('#')
        .trim()
        .to_string()
}

fn show_team(template: &str, size: Size, tier: PlanTier, sel: &Selection, plan: &Plan) {
    println!(
        "      team {} ({}, plan {}): {}",
        template,
        size.name(),
        tier.name(),
        sel.roles.join(", ")
    );
    let why = detect::explain(sel);
    if !why.trim().is_empty() {
        println!("      {}", why.trim().replace('\n', "\n      "));
    }
    print!(
        "{}",
        plan_excerpt(plan)
            .lines()
            .map(|l| format!("      {l}\n"))
            .collect::<String>()
    );
}

/// A worktree per role, and the team's agents in them; also the branch they
/// merge back into.
fn create_worktrees(
    ctx: &Ctx,
    repo: &RepoInfo,
    name: &str,
    roles: &[String],
) -> anyhow::Result<(Vec<TeamAgent>, String)> {
    let wt_dir = team_dir(ctx, name).join("worktrees");
    let mut agents = Vec::new();
    let mut parent = repo.branch.clone().unwrap_or(repo.head.clone());
    for role in roles {
        let wt = worktree::ensure(&repo.root, &wt_dir.join(role), role)?;
        parent = wt.parent_branch.clone();
        println!(
            "      {role}: {} on {} ({:?})",
            wt.path.display(),
            wt.branch.as_deref().unwrap_or("detached HEAD"),
            wt.strategy
        );
        agents.push(TeamAgent {
            name: format!("{name}-{role}"),
            role: role.clone(),
            worktree: wt.path,
            branch: wt.branch,
            conversation: None,
            briefed: false,
            profile: None,
        });
    }
    Ok((agents, parent))
}
