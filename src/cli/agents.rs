//! Commands about the supervisor and single agents: supervise, spawn, ps,
//! logs, screen, attach, git.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail};

use super::{detach, load_config, print_ok, ps_table, Ctx, SpawnArgs};
use crate::proto::{Request, Response, SpawnRequest};

/// `orc supervise`: in the foreground, or `--detach`ed in the background.
pub(super) async fn supervise(ctx: Ctx, detach_: bool) -> anyhow::Result<()> {
    if !detach_ {
        let config = load_config(&ctx.paths)?;
        return crate::daemon::run(ctx.paths, config).await;
    }
    let pid = detach(&ctx, &[]).await?;
    println!(
        "supervisor running (pid {pid}); socket {}",
        ctx.paths.socket().display()
    );
    println!("log: {}", ctx.paths.supervisor_log().display());
    Ok(())
}

/// `orc spawn`.
pub(super) async fn spawn(ctx: &Ctx, a: SpawnArgs) -> anyhow::Result<()> {
    let SpawnArgs {
        name,
        cwd,
        role,
        project,
        profile,
        auto_approve,
        account,
        session,
        hooks,
        pre_trust,
        no_pre_trust,
        pin_version,
        env,
        command,
    } = a;
    let cwd = match cwd {
        Some(c) => c,
        None => std::env::current_dir()?,
    };
    let cwd = std::path::absolute(&cwd).unwrap_or(cwd);
    let req = SpawnRequest {
        name,
        cwd: cwd.to_string_lossy().into_owned(),
        role,
        project,
        profile,
        env: env_pairs(env)?,
        command,
        auto_approve,
        account,
        session,
        hooks,
        pre_trust: match (pre_trust, no_pre_trust) {
            (_, true) => Some(false),
            (true, _) => Some(true),
            _ => None,
        },
        pin_version: pin_version.then_some(true),
    };
    print_ok(ctx.ok(Request::Spawn(req)).await?);
    Ok(())
}

/// The `--env KEY=VALUE` flags as a map.
fn env_pairs(env: Vec<String>) -> anyhow::Result<BTreeMap<String, String>> {
    let mut envs = BTreeMap::new();
    for kv in env {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("--env {kv:?} is not KEY=VALUE");
        };
        if k.is_empty() {
            bail!("--env {kv:?} has an empty name");
        }
        envs.insert(k.to_string(), v.to_string());
    }
    Ok(envs)
}

/// `orc ps`.
pub(super) async fn ps(ctx: &Ctx, json: bool) -> anyhow::Result<()> {
    let (rows, notes) = ctx.ps().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", ps_table(&rows));
        for n in notes {
            println!("note: {}", crate::shown::visible(&n));
        }
    }
    Ok(())
}

/// `orc logs`.
pub(super) async fn logs(ctx: &Ctx, name: String, transcript: bool) -> anyhow::Result<()> {
    match ctx.ok(Request::Logs { name, transcript }).await? {
        Response::Logs { text } => print!("{}", crate::shown::visible(&text)),
        r => print_ok(r),
    }
    Ok(())
}

/// `orc screen`.
pub(super) async fn screen(ctx: &Ctx, name: String) -> anyhow::Result<()> {
    match ctx.ok(Request::Screen { name }).await? {
        Response::Screen { rows, cols, text } => {
            println!("# {cols}x{rows}");
            println!("{}", crate::shown::visible(&text));
        }
        r => print_ok(r),
    }
    Ok(())
}

/// `orc git`.
pub(super) async fn git(ctx: &Ctx, project: Option<String>, json: bool) -> anyhow::Result<()> {
    match ctx.request(Request::Git { project }).await? {
        Response::Git { rows, errors } => {
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("(no agent works in a git checkout)");
            } else {
                print!("{}", crate::gitmon::table(&rows, chrono::Utc::now()));
            }
            for e in errors {
                eprintln!("note: {}", crate::shown::visible(&e.to_string()));
            }
            Ok(())
        }
        Response::Error { message } => bail!(message),
        other => bail!("unexpected answer: {other:?}"),
    }
}

pub(super) async fn attach(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let Response::Location {
        tmux,
        socket,
        session,
        window,
        pane: _,
    } = ctx.ok(Request::Locate { name: name.into() }).await?
    else {
        bail!("unexpected answer");
    };
    let err = crate::tmux::attach_command(&tmux, &socket, &session, &window).exec();
    Err(anyhow!("cannot run {tmux}: {err}"))
}
