//! The team's plan: its shape and checks, asking the agent CLI for one in
//! print mode, or building one from detection alone (`--no-ai`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};

use super::profile_of;
use crate::config::Config;
use crate::team::detect::{self, Detection, Size};

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

/// Ask the agent CLI in print mode for a plan.
pub(super) fn ask_for_plan(
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

pub(super) fn plan_excerpt(p: &Plan) -> String {
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
