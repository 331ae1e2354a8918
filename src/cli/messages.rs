//! Commands that talk to agents: send, report, task, and the list of messages.

use std::io::Read;
use std::time::Duration;

use anyhow::{bail, Context};

use super::{print_ok, Ctx, TaskArgs};
use crate::ipc::{self, IpcError};
use crate::proto::{Request, Response};
use crate::shown::Shown;

/// `orc send`.
pub(super) async fn send(
    ctx: &Ctx,
    name: String,
    message: String,
    from: Option<String>,
    wait: bool,
    timeout: u64,
) -> anyhow::Result<()> {
    let text = if message == "-" {
        read_stdin_message()?
    } else {
        message
    };
    if text.contains('\0') {
        eprintln!("orc: NUL bytes removed from the message");
    }
    let text = text.replace('\0', "");
    let from = from.or_else(|| std::env::var("ORC_AGENT").ok().filter(|s| !s.is_empty()));
    let req = Request::Send {
        name: name.clone(),
        text,
        from,
        wait,
    };
    let resp = if wait {
        let r = ipc::request(&ctx.paths.socket(), &req, Duration::from_secs(timeout)).await;
        match r {
            Err(IpcError::Timeout) => bail!("message to {name} not confirmed within {timeout} s; it stays queued (`orc messages --agent {name}`)"),
            r => r?,
        }
    } else {
        ctx.request(req).await?
    };
    if let Response::Queued { .. } = resp {
        failed_hint(ctx, &name).await;
    }
    match resp {
        Response::Queued { id } => println!("queued {} for {}", Shown(&id), Shown(&name)),
        Response::Delivered { id } => {
            println!("delivered {} to {}", Shown(&id), Shown(&name))
        }
        Response::Error { message } => bail!(message),
        r => print_ok(r),
    }
    Ok(())
}

/// The message of `orc send NAME -`; invalid UTF-8 is replaced, with a warning.
fn read_stdin_message() -> anyhow::Result<String> {
    let mut b = Vec::new();
    std::io::stdin()
        .read_to_end(&mut b)
        .context("reading the message from stdin")?;
    Ok(match String::from_utf8(b) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("orc: the message is not valid UTF-8; invalid bytes are sent as U+FFFD");
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    })
}

/// `orc report`.
pub(super) async fn report(
    ctx: &Ctx,
    status: crate::proto::ReportStatus,
    details: String,
    from: Option<String>,
) -> anyhow::Result<()> {
    let Some(from) = from.or_else(|| std::env::var("ORC_AGENT").ok().filter(|s| !s.is_empty()))
    else {
        bail!("`orc report` is for agents: run it inside an agent's pane (ORC_AGENT is set there) or pass --from NAME");
    };
    print_ok(
        ctx.ok(Request::Report {
            from,
            status,
            details,
        })
        .await?,
    );
    Ok(())
}

/// `orc task`: a message in the team's TASK format.
pub(super) async fn task(ctx: &Ctx, a: TaskArgs) -> anyhow::Result<()> {
    let TaskArgs {
        to,
        title,
        objective,
        criteria,
        priority,
        id,
        from,
    } = a;
    if title.trim().is_empty() || objective.trim().is_empty() {
        bail!("a task needs a --title and an --objective");
    }
    let id = id.unwrap_or_else(|| format!("T-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S")));
    let mut text = format!("TASK {id}: {title}\nAssigned to: {to}\nObjective: {objective}\n");
    if !criteria.is_empty() {
        text.push_str("Success criteria:\n");
        for c in &criteria {
            text.push_str(&format!("- {c}\n"));
        }
    }
    text.push_str(&format!(
        "Priority: {}",
        format!("{priority:?}").to_uppercase()
    ));
    let from = from.or_else(|| std::env::var("ORC_AGENT").ok().filter(|s| !s.is_empty()));
    match ctx
        .ok(Request::Send {
            name: to.clone(),
            text,
            from,
            wait: false,
        })
        .await?
    {
        Response::Queued { id: mid } => println!(
            "task {} queued for {} ({})",
            Shown(&id),
            Shown(&to),
            Shown(&mid)
        ),
        r => print_ok(r),
    }
    Ok(())
}

/// `orc messages`.
pub(super) async fn list(
    ctx: &Ctx,
    agent: Option<String>,
    status: Option<crate::proto::MessageStatus>,
    json: bool,
) -> anyhow::Result<()> {
    let Response::Messages { messages } = ctx.ok(Request::Messages { agent, status }).await? else {
        bail!("unexpected answer");
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&messages)?);
        return Ok(());
    }
    for m in &messages {
        let status = serde_json::to_value(m.status)?
            .as_str()
            .unwrap_or("")
            .to_string();
        println!(
            "{}  {:>10}  {} -> {}  {:>6}B  {}{}",
            m.created.format("%Y-%m-%d %H:%M:%S"),
            status,
            Shown(&m.from),
            Shown(&m.to),
            m.bytes,
            Shown(&m.preview),
            m.reason
                .as_deref()
                .map(|r| format!("  ({})", Shown(r)))
                .unwrap_or_default()
        );
    }
    if messages.is_empty() {
        println!("(no messages)");
    }
    Ok(())
}

/// A message to a `failed` agent stays queued, but nothing delivers it until
/// the agent is restarted: say so.
async fn failed_hint(ctx: &Ctx, name: &str) {
    if let Ok(Response::Ps { agents, .. }) = ctx.request(Request::Ps).await {
        if agents
            .iter()
            .any(|r| r.name == name && r.state == crate::proto::AgentState::Failed)
        {
            eprintln!(
                "orc: {} is failed (its restarts ran out): the message stays queued and is delivered after `orc restart {}`",
                Shown(name),
                Shown(name)
            );
        }
    }
}
