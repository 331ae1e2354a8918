//! `orc up`, `orc resume`, `orc down`: a team for a project, driven from the
//! client through ordinary requests to the supervisor (spawn, send, kill).
//!
//! The team's record is `<state>/projects/<project>/team.json`; worktrees are
//! `<state>/projects/<project>/worktrees/<role>`; agents are named
//! `<project>-<role>` and live in the tmux session `orc-<project>`.

mod agents;
mod create;
mod down;
mod plan;
mod record;
mod resume;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail};

use crate::client::Ctx;
use crate::config::Config;

pub use create::{up, UpArgs};
pub use down::{down, DownArgs};
pub use resume::{resume, ResumeArgs};

fn step(n: usize, total: usize, what: &str) {
    println!("[{n}/{total}] {what}");
}

fn profile_of<'a>(config: &'a Config, name: &str) -> anyhow::Result<&'a crate::config::Profile> {
    config.profiles.get(name).ok_or_else(|| {
        let known: Vec<&str> = config.profiles.keys().map(|k| k.as_str()).collect();
        anyhow!("unknown profile `{name}`; known: {}", known.join(", "))
    })
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

pub fn user_roles_dir(ctx: &Ctx) -> PathBuf {
    ctx.paths
        .config_file
        .parent()
        .map(|p| p.join("roles"))
        .unwrap_or_else(|| PathBuf::from("roles"))
}

#[cfg(test)]
mod tests {
    use super::create::read_spec;
    use super::plan::{parse_plan, Plan, PlanPhase, PlanTask};
    use std::path::Path;

    use super::record::{new_conversation_id, project_name};

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
