//! Claude Code's side of orc: `orc hooks` installs orc's hooks and status
//! line; `orc hook` and `orc statusline` are what they call in an agent's pane.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use anyhow::{anyhow, bail};

use super::{Ctx, HooksCmd};
use crate::ipc;
use crate::proto::Request;

/// `orc hooks install|uninstall`.
pub(super) fn hooks(action: HooksCmd) -> anyhow::Result<()> {
    let (cwd, install) = match action {
        HooksCmd::Install { cwd } => (cwd, true),
        HooksCmd::Uninstall { cwd } => (cwd, false),
    };
    let cwd = match cwd {
        Some(c) => c,
        None => std::env::current_dir()?,
    };
    if !cwd.is_dir() {
        bail!(
            "--cwd {} is not an existing directory: give the agent's folder (orc creates only .claude/ inside it)",
            cwd.display()
        );
    }
    let path = crate::hooks::settings_path(&cwd);
    if install {
        let me = std::env::current_exe()?;
        let user = crate::claude_config::ConfigFiles::for_env(&BTreeMap::new()).map(|c| c.settings);
        let n = crate::hooks::install(&path, &me, user.as_deref()).map_err(|e| anyhow!(e))?;
        crate::hooks::exclude_from_git(&cwd);
        println!(
            "{} hook(s) added to {}{}",
            n.hooks,
            path.display(),
            if n.status_line {
                "; status line installed"
            } else {
                ""
            }
        );
    } else {
        let n = crate::hooks::uninstall(&path).map_err(|e| anyhow!(e))?;
        println!(
            "{} hook(s) removed from {}{}",
            n.hooks,
            path.display(),
            if n.status_line {
                "; status line removed"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// `orc hook EVENT`.
pub(super) async fn hook(ctx: &Ctx, event: String) -> anyhow::Result<()> {
    // Never fail the CLI's hook and never print to stdout (a
    // SessionStart hook's output goes into the model's context).
    let Some(agent) = std::env::var("ORC_AGENT").ok().filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let mut input = Vec::new();
    let _ = std::io::stdin().take(1 << 20).read_to_end(&mut input);
    let payload = serde_json::from_slice(&input).unwrap_or(serde_json::Value::Null);
    let req = Request::Hook {
        agent,
        event,
        payload,
    };
    let _ = ipc::request(&ctx.paths.socket(), &req, Duration::from_secs(3)).await;
    Ok(())
}

/// `orc statusline`: never fails and never makes the CLI wait long. Tells
/// the supervisor (when `ORC_AGENT` names the agent) while the user's own
/// status-line command, if orc wrapped one, runs on the same input; prints
/// that command's output, or orc's own line.
pub(super) async fn statusline(ctx: &Ctx) {
    let mut input = Vec::new();
    let _ = std::io::stdin().take(1 << 20).read_to_end(&mut input);
    let doc: serde_json::Value = serde_json::from_slice(&input).unwrap_or(serde_json::Value::Null);
    let report = crate::statusline::parse(&doc);
    let agent = std::env::var("ORC_AGENT").ok().filter(|s| !s.is_empty());
    let folder = crate::statusline::folder_of(&doc).or_else(|| std::env::current_dir().ok());
    let wrapped = folder
        .as_deref()
        .and_then(|f| crate::statusline::wrapped_command(&crate::hooks::settings_path(f)));
    let theirs = wrapped.map(|cmd| {
        let input = input.clone();
        let cwd = folder.clone();
        std::thread::spawn(move || {
            crate::statusline::run_wrapped(
                &cmd,
                &input,
                cwd.as_deref(),
                crate::statusline::WRAPPED_TIMEOUT,
            )
        })
    });
    if let Some(a) = &agent {
        let req = Request::Status {
            agent: a.clone(),
            report: report.clone(),
        };
        let _ = ipc::request(&ctx.paths.socket(), &req, Duration::from_secs(1)).await;
    }
    let out = theirs
        .and_then(|t| t.join().ok().flatten())
        .unwrap_or_else(|| crate::statusline::line(agent.as_deref(), &report));
    println!("{out}");
}
