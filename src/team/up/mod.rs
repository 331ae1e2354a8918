//! `orc up`, `orc resume`, `orc down`: a team for a project, driven from the
//! client through ordinary requests to the supervisor (spawn, send, kill).
//!
//! The team's record is `<state>/projects/<project>/team.json`; worktrees are
//! `<state>/projects/<project>/worktrees/<role>`; agents are named
//! `<project>-<role>` and live in the tmux session `orc-<project>`.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::detect::{self, Detection, PlanTier, Size};
use super::roles::{self, RoleSet};
use super::worktree;
use crate::client::Ctx;
use crate::config::Config;
use crate::proto::{PsRow, Request, Response, SpawnRequest};
use crate::state::write_atomic;

/// What `orc up` plans, whether the agent CLI wrote it or orc built it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub project_type: String,
    pub size: String,
    #[serde(default)]
    pub summary: String,
    pub phases: Vec<PlanPhase>,
    pub roles: Vec<String>,
    pub success_criteria: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanPhase {
    pub name: String,
    pub tasks: Vec<PlanTask>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanTask {
    pub title: String,
    pub role: String,
    #[serde(default)]
    pub details: String,
}

/// Check a plan: every problem, one per line, or nothing.
pub fn validate_plan(p: &Plan) -> Vec<String> {
    let mut bad = Vec::new();
    if !detect::PROJECT_TYPES.contains(&p.project_type.as_str()) {
        bad.push(format!(
            "project_type {:?} is not one of {}",
            p.project_type,
            detect::PROJECT_TYPES.join(", ")
        ));
    }
    if p.size.parse::<Size>().is_err() {
        bad.push(format!(
            "size {:?} is not one of small, medium, large, enterprise",
            p.size
        ));
    }
    if p.phases.is_empty() {
        bad.push("phases is empty".into());
    }
    for (i, ph) in p.phases.iter().enumerate() {
        if ph.name.trim().is_empty() {
            bad.push(format!("phases[{i}].name is empty"));
        }
        if ph.tasks.is_empty() {
            bad.push(format!("phases[{i}] ({}) has no tasks", ph.name));
        }
        for (j, t) in ph.tasks.iter().enumerate() {
            if t.title.trim().is_empty() {
                bad.push(format!("phases[{i}].tasks[{j}].title is empty"));
            }
            if !detect::ROLES.contains(&t.role.as_str()) {
                bad.push(format!(
                    "phases[{i}].tasks[{j}].role {:?} is not a known role",
                    t.role
                ));
            }
        }
    }
    for r in &p.roles {
        if !detect::ROLES.contains(&r.as_str()) {
            bad.push(format!(
                "roles: {r:?} is not a known role ({})",
                detect::ROLES.join(", ")
            ));
        }
    }
    if p.success_criteria.is_empty() {
        bad.push("success_criteria is empty".into());
    }
    bad
}

/// Parse a plan out of what the CLI printed: the JSON object in it (a code
/// fence or a sentence around it is tolerated), checked.
pub fn parse_plan(text: &str) -> Result<Plan, String> {
    let start = text.find('{').ok_or("the answer has no JSON object")?;
    let end = text.rfind('}').ok_or("the answer has no JSON object")?;
    if end < start {
        return Err("the answer has no JSON object".into());
    }
    let plan: Plan = serde_json::from_str(&text[start..=end])
        .map_err(|e| format!("the plan is not in the expected shape: {e}"))?;
    let bad = validate_plan(&plan);
    if bad.is_empty() {
        Ok(plan)
    } else {
        Err(format!(
            "the plan fails the schema:\n  - {}",
            bad.join("\n  - ")
        ))
    }
}

/// A plan from detection and the template alone (`--no-ai`).
pub fn plan_without_ai(d: &Detection, size: Size, roles: &[String], spec_title: &str) -> Plan {
    let task = |title: &str, role: &str| PlanTask {
        title: title.into(),
        role: role.into(),
        details: String::new(),
    };
    let mut setup = vec![task(
        "Read the spec and split it into tasks",
        "orchestrator",
    )];
    let mut build = Vec::new();
    let mut check = Vec::new();
    for r in roles {
        match r.as_str() {
            "orchestrator" => {}
            "project_manager" => setup.push(task("Track tasks, review and merge finished work", r)),
            "developer" => build.push(task("Implement the spec's features, with tests", r)),
            "tester" | "testrunner" => check.push(task("Write and run tests against the spec", r)),
            "code_reviewer" => check.push(task("Review every merge request", r)),
            "documentation_writer" => check.push(task("Document what was built", r)),
            other => build.push(task(
                &format!("Carry out the {other} part of the spec"),
                other,
            )),
        }
    }
    let mut phases = vec![PlanPhase {
        name: "Plan".into(),
        tasks: setup,
    }];
    if !build.is_empty() {
        phases.push(PlanPhase {
            name: "Build".into(),
            tasks: build,
        });
    }
    if !check.is_empty() {
        phases.push(PlanPhase {
            name: "Verify".into(),
            tasks: check,
        });
    }
    Plan {
        project_type: d.project_type.clone(),
        size: size.name().into(),
        summary: format!("{spec_title} (plan built by orc from project detection; no AI call)"),
        phases,
        roles: roles.to_vec(),
        success_criteria: vec!["Everything the spec asks for is built, tested and merged".into()],
    }
}

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
}

fn yes() -> bool {
    true
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

fn team_dir(ctx: &Ctx, project: &str) -> PathBuf {
    ctx.paths.state.join("projects").join(project)
}

fn team_file(ctx: &Ctx, project: &str) -> PathBuf {
    team_dir(ctx, project).join("team.json")
}

fn save_team(ctx: &Ctx, t: &Team) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(t)?;
    write_atomic(&team_file(ctx, &t.project), &bytes).context("cannot save team.json")
}

fn load_team(ctx: &Ctx, path: &Path) -> anyhow::Result<Team> {
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

fn step(n: usize, total: usize, what: &str) {
    println!("[{n}/{total}] {what}");
}

fn profile_of<'a>(config: &'a Config, name: &str) -> anyhow::Result<&'a crate::config::Profile> {
    config.profiles.get(name).ok_or_else(|| {
        let known: Vec<&str> = config.profiles.keys().map(|k| k.as_str()).collect();
        anyhow!("unknown profile `{name}`; known: {}", known.join(", "))
    })
}

/// Ask the agent CLI in print mode for a plan.
fn ask_for_plan(
    config: &Config,
    profile: &str,
    project: &Path,
    spec: &str,
    d: &Detection,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<Plan> {
    let p = profile_of(config, profile)?;
    let path_var = env
        .get("PATH")
        .cloned()
        .unwrap_or_else(|| std::env::var("PATH").unwrap_or_default());
    let exe = crate::config::resolve_command(&p.command, &path_var, project).map_err(|e| {
        anyhow!("the agent CLI for profile `{profile}` is not installed: {e}; install it, or use --no-ai or --plan-file")
    })?;
    let prompt = format!(
        "You are planning work for a team of AI coding agents. Read the spec below and answer with ONE JSON object only, no prose, in this shape:\n\
{{\"project_type\": one of {types:?}, \"size\": one of [\"small\",\"medium\",\"large\",\"enterprise\"], \"summary\": string, \
\"phases\": [{{\"name\": string, \"tasks\": [{{\"title\": string, \"role\": role, \"details\": string}}]}}], \"roles\": [role, ...], \"success_criteria\": [string, ...]}}\n\
Roles are: {roles}.\nProject analysis: looks like {ty} ({ind}).\n\nSPEC:\n{spec}",
        types = detect::PROJECT_TYPES,
        roles = detect::ROLES.join(", "),
        ty = d.project_type,
        ind = d.indicators.iter().take(6).cloned().collect::<Vec<_>>().join("; "),
    );
    let mut cmd = std::process::Command::new(&exe);
    cmd.arg("-p")
        .arg(&prompt)
        .current_dir(project)
        .envs(env)
        .stdin(std::process::Stdio::null());
    let out = run_with_timeout(cmd, Duration::from_secs(300))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let both = format!("{stdout}{err}");
        let hint = if both.contains("401")
            || both.to_lowercase().contains("login")
            || both.contains("API key")
        {
            "it is not logged in: run it once by hand and log in, "
        } else {
            ""
        };
        bail!(
            "{} -p failed ({}): {}\n{hint}or use --no-ai / --plan-file",
            exe.display(),
            out.status,
            both.trim().chars().take(600).collect::<String>()
        );
    }
    parse_plan(&stdout).map_err(|e| anyhow!("{e}\nThe CLI answered: {}\nUse --no-ai to build the plan from project detection, or --plan-file FILE.", stdout.trim().chars().take(400).collect::<String>()))
}

fn run_with_timeout(
    mut cmd: std::process::Command,
    limit: Duration,
) -> anyhow::Result<std::process::Output> {
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().context("cannot start the agent CLI")?;
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(r) => Ok(r?),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(id as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            bail!(
                "the agent CLI did not answer within {} s; use --no-ai or --plan-file",
                limit.as_secs()
            )
        }
    }
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{question} needs an answer, but stdin is not a terminal: add --yes");
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

async fn ps(ctx: &Ctx) -> anyhow::Result<Vec<PsRow>> {
    Ok(ctx.ps().await?.0)
}

async fn wait_started(ctx: &Ctx, name: &str, limit: Duration) -> anyhow::Result<String> {
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

fn roster(team: &Team) -> String {
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

fn plan_excerpt(p: &Plan) -> String {
    let mut s = String::new();
    if !p.summary.is_empty() {
        s.push_str(&p.summary);
        s.push('\n');
    }
    for ph in &p.phases {
        s.push_str(&format!("{}:\n", ph.name));
        for t in &ph.tasks {
            s.push_str(&format!("  - [{}] {}\n", t.role, t.title));
        }
    }
    s.push_str("Done when:\n");
    for c in &p.success_criteria {
        s.push_str(&format!("  - {c}\n"));
    }
    s
}

fn briefing(roles: &RoleSet, team: &Team, a: &TeamAgent) -> anyhow::Result<String> {
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
fn crash_point(point: &str) {
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
async fn finish_start(
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
            .is_some_and(|c| conversation_exists(team, &ag, c));
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

async fn send(ctx: &Ctx, to: &str, text: String) -> anyhow::Result<()> {
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
fn agent_command(
    config: &Config,
    profile: &str,
    conversation: Option<&str>,
    resume: bool,
) -> anyhow::Result<(Vec<String>, Option<String>)> {
    let p = profile_of(config, profile)?;
    let mut cmd: Vec<String> = std::iter::once(p.command.clone())
        .chain(p.args.iter().cloned())
        .collect();
    if let crate::drivers::Resume::SessionFlag {
        start,
        resume: again,
    } = crate::drivers::of(p.detector_name(profile)).resume
    {
        let id = conversation
            .map(String::from)
            .unwrap_or_else(new_conversation_id);
        cmd.push(if resume { again } else { start }.into());
        cmd.push(id.clone());
        return Ok((cmd, Some(id)));
    }
    Ok((cmd, None))
}

async fn launch(
    ctx: &Ctx,
    config: &Config,
    team: &Team,
    a: &TeamAgent,
    resume: bool,
) -> anyhow::Result<()> {
    let (command, _) = agent_command(config, &team.profile, a.conversation.as_deref(), resume)?;
    let req = SpawnRequest {
        name: a.name.clone(),
        cwd: a.worktree.display().to_string(),
        role: Some(a.role.clone()),
        project: Some(team.project.clone()),
        profile: Some(team.profile.clone()),
        env: team.env.clone(),
        command,
        auto_approve: false,
        account: None,
        session: Some(team.session.clone()),
        hooks: config
            .profiles
            .get(&team.profile)
            .is_some_and(|p| crate::drivers::of(p.detector_name(&team.profile)).hooks),
        // orc made these worktrees: trust them, and keep the CLI version the
        // team started with, unless the profile says otherwise.
        pre_trust: Some(
            config
                .profiles
                .get(&team.profile)
                .and_then(|p| p.pre_trust)
                .unwrap_or(true),
        ),
        pin_version: Some(
            config
                .profiles
                .get(&team.profile)
                .and_then(|p| p.pin_version)
                .unwrap_or(true),
        ),
    };
    match ctx.request(Request::Spawn(req)).await? {
        Response::Ok { .. } => Ok(()),
        Response::Error { message } => bail!("starting {}: {message}", a.name),
        other => bail!("unexpected answer: {other:?}"),
    }
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
        if t.agents.iter().any(|x| !x.briefed) {
            // An earlier `orc up` was cut short: finish exactly what is missing.
            println!(
                "      {} has a team whose start was interrupted; finishing it",
                repo.root.display()
            );
            let role_set = RoleSet::load(Some(&user_roles_dir(ctx)))?;
            step(5, total, "starting the agents not yet running");
            step(6, total, "briefing the agents not yet briefed");
            finish_start(ctx, config, &role_set, &mut t).await?;
            println!("team {} is up: `orc ps` shows it", t.project);
            return Ok(());
        }
        bail!(
            "{} already has a team ({} agents{}); use `orc resume --project {}`",
            repo.root.display(),
            t.agents.len(),
            if t.stopped { ", stopped" } else { "" },
            repo.root.display()
        );
    }
    let role_set = RoleSet::load(Some(&user_roles_dir(ctx)))?;
    let tier: PlanTier = a.plan.parse().map_err(|e: String| anyhow!(e))?;
    let env = parse_env(&a.env)?;
    profile_of(config, &a.profile)?;

    step(2, total, "looking at the project");
    let d = detect::detect(&repo.root);
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

    step(3, total, "planning");
    let ai_plan = if let Some(f) = &a.plan_file {
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
        Some(ask_for_plan(
            config, &a.profile, &repo.root, &spec, &d, &env,
        )?)
    };
    let type_name = a
        .team_type
        .clone()
        .or_else(|| ai_plan.as_ref().map(|p| p.project_type.clone()))
        .unwrap_or_else(|| d.project_type.clone());
    let template = detect::template(&type_name).map_err(|e| anyhow!(e))?;
    let size: Size = match (&a.size, &ai_plan) {
        (Some(s), _) => s.parse().map_err(|e: String| anyhow!(e))?,
        (None, Some(p)) => p.size.parse().unwrap_or_else(|_| Size::from_detection(&d)),
        (None, None) => Size::from_detection(&d),
    };
    let only: Option<Vec<String>> = if !a.roles.is_empty() {
        Some(a.roles.clone())
    } else {
        ai_plan
            .as_ref()
            .map(|p| p.roles.clone())
            .filter(|r| !r.is_empty())
    };
    let sel = detect::select_roles(&template, &d, size, tier, only.as_deref(), &a.add_roles)
        .map_err(|e| anyhow!(e))?;
    for r in &sel.roles {
        role_set.get(r)?;
    }
    let title = spec
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_start_matches('#')
        .trim()
        .to_string();
    let plan = ai_plan.unwrap_or_else(|| plan_without_ai(&d, size, &sel.roles, &title));
    println!(
        "      team {} ({}, plan {}): {}",
        template.name,
        size.name(),
        tier.name(),
        sel.roles.join(", ")
    );
    let why = detect::explain(&sel);
    if !why.trim().is_empty() {
        println!("      {}", why.trim().replace('\n', "\n      "));
    }
    print!(
        "{}",
        plan_excerpt(&plan)
            .lines()
            .map(|l| format!("      {l}\n"))
            .collect::<String>()
    );
    if !a.yes && !confirm("Start this team?")? {
        bail!("not started (nothing was changed)");
    }

    step(4, total, "creating worktrees");
    let wt_dir = team_dir(ctx, &name).join("worktrees");
    let mut agents = Vec::new();
    let mut parent = repo.branch.clone().unwrap_or(repo.head.clone());
    for role in &sel.roles {
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
        });
    }
    let mut team = Team {
        project: name.clone(),
        path: repo.root.clone(),
        spec: spec_path,
        session: format!("orc-{name}"),
        profile: a.profile.clone(),
        template: template.name.clone(),
        size: size.name().into(),
        plan_tier: tier.name().into(),
        parent_branch: parent,
        plan,
        env,
        agents,
        created: Utc::now(),
        stopped: false,
    };
    for ag in &mut team.agents {
        let (_, conv) = agent_command(config, &team.profile, None, false)?;
        ag.conversation = conv;
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

pub fn user_roles_dir(ctx: &Ctx) -> PathBuf {
    ctx.paths
        .config_file
        .parent()
        .map(|p| p.join("roles"))
        .unwrap_or_else(|| PathBuf::from("roles"))
}

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
    let status: Vec<ResumeRow> = team
        .agents
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
        .collect();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        let mut lines = vec![["AGENT", "ROLE", "STATUS", "STATE", "WORKTREE"]
            .map(String::from)
            .to_vec()];
        for r in &status {
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
                let wt = worktree::ensure(&repo.root, &wt_dir.join(&ag.role), &ag.role)?;
                let mut ag2 = ag.clone();
                ag2.worktree = wt.path;
                ag2.branch = wt.branch;
                // Its own conversation, if it ever started one.
                let started = ag2
                    .conversation
                    .as_deref()
                    .is_some_and(|c| conversation_exists(&team, &ag2, c));
                launch(ctx, config, &team, &ag2, started).await?;
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
                resumed.push(ag2);
            }
            "dead" => {
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
        let (_, conversation) = agent_command(config, &team.profile, None, false)?;
        let ag = TeamAgent {
            name: format!("{}-{role}", team.project),
            role: role.clone(),
            worktree: wt.path,
            branch: wt.branch,
            conversation,
            briefed: false,
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

/// Did Claude Code write this conversation (so `--resume` can find it)?
fn conversation_exists(team: &Team, a: &TeamAgent, id: &str) -> bool {
    let home = team
        .env
        .get("HOME")
        .cloned()
        .or_else(|| std::env::var("HOME").ok());
    let Some(home) = home else { return false };
    crate::convlog::project_dir(Path::new(&home), &a.worktree)
        .join(format!("{id}.jsonl"))
        .exists()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            project_type: "web_application".into(),
            size: "small".into(),
            summary: "x".into(),
            phases: vec![PlanPhase {
                name: "Build".into(),
                tasks: vec![PlanTask {
                    title: "do".into(),
                    role: "developer".into(),
                    details: String::new(),
                }],
            }],
            roles: vec!["orchestrator".into(), "developer".into()],
            success_criteria: vec!["works".into()],
        }
    }

    #[test]
    fn plan_json_is_found_in_prose_and_checked() {
        let json = serde_json::to_string(&plan()).unwrap();
        let text = format!("Here is the plan:\n```json\n{json}\n```\n");
        assert_eq!(parse_plan(&text).unwrap(), plan());
        let mut bad = plan();
        bad.project_type = "game".into();
        bad.phases[0].tasks[0].role = "wizard".into();
        bad.success_criteria.clear();
        let e = parse_plan(&serde_json::to_string(&bad).unwrap()).unwrap_err();
        assert!(
            e.contains("project_type \"game\"")
                && e.contains("\"wizard\"")
                && e.contains("success_criteria"),
            "{e}"
        );
        assert!(parse_plan("no json here").unwrap_err().contains("no JSON"));
        assert!(parse_plan("{\"phases\": 3}")
            .unwrap_err()
            .contains("expected shape"));
    }

    #[test]
    fn spec_must_be_non_empty_text() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("spec.md");
        assert!(read_spec(&p)
            .unwrap_err()
            .to_string()
            .contains("cannot read"));
        std::fs::write(&p, "  \n").unwrap();
        assert!(read_spec(&p).unwrap_err().to_string().contains("empty"));
        std::fs::write(&p, b"\x00\x01binary").unwrap();
        assert!(read_spec(&p).unwrap_err().to_string().contains("binary"));
        std::fs::write(&p, "# Build a todo app\n").unwrap();
        assert!(read_spec(&p).is_ok());
    }

    #[test]
    fn names_and_ids() {
        assert_eq!(project_name(Path::new("/x/My App.v2")), "My-App-v2");
        assert_eq!(project_name(Path::new("/x/.hidden")), "p-hidden");
        let id = new_conversation_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_conversation_id());
    }
}
