//! The command line. Thin: parse, send one request, print the answer.

use crate::ipc::IpcError;
use crate::proto::{Request, Response};

mod agents;
mod args;
mod credits;
mod hooks;
mod journal;
mod messages;

use crate::client::ago;
pub use crate::client::{detach, load_config, ps_table, stop, table, Ctx};
pub use args::{Cli, Cmd, HooksCmd, Priority, SpawnArgs, TaskArgs};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx::from_env();
    match cli.cmd {
        Cmd::Supervise { detach } => agents::supervise(ctx, detach).await,
        Cmd::Stop => stop(&ctx).await,
        Cmd::Spawn(a) => agents::spawn(&ctx, a).await,
        Cmd::Ps { json } => agents::ps(&ctx, json).await,
        Cmd::Kill { name } => ok(&ctx, Request::Kill { name }).await,
        Cmd::Restart { name } => ok(&ctx, Request::Restart { name }).await,
        Cmd::Rename { name, title } => ok(&ctx, Request::Rename { name, title }).await,
        Cmd::Logs { name, transcript } => agents::logs(&ctx, name, transcript).await,
        Cmd::Screen { name } => agents::screen(&ctx, name).await,
        Cmd::Send {
            name,
            message,
            from,
            wait,
            timeout,
        } => messages::send(&ctx, name, message, from, wait, timeout).await,
        Cmd::Report {
            status,
            details,
            from,
        } => messages::report(&ctx, status, details, from).await,
        Cmd::Task(a) => messages::task(&ctx, a).await,
        Cmd::Log {
            agent,
            since,
            follow,
        } => journal::log(&ctx, agent.as_deref(), since.as_deref(), follow).await,
        Cmd::Schedule(a) => credits::schedule(&ctx, a).await,
        Cmd::Up(a) => {
            let config = load_config(&ctx.paths)?;
            crate::team::up::up(&ctx, &config, a).await
        }
        Cmd::Resume(a) => {
            let config = load_config(&ctx.paths)?;
            crate::team::up::resume(&ctx, &config, a).await
        }
        Cmd::Down(a) => crate::team::up::down(&ctx, a).await,
        Cmd::Credits { json } => credits::credits(&ctx, json).await,
        Cmd::Service { action } => crate::service::run(action).await,
        Cmd::Top => crate::top::run(&ctx).await,
        Cmd::Hooks { action } => hooks::hooks(action),
        Cmd::Hook { event } => hooks::hook(&ctx, event).await,
        Cmd::Statusline => {
            hooks::statusline(&ctx).await;
            Ok(())
        }
        Cmd::Git { project, json } => agents::git(&ctx, project, json).await,
        Cmd::Messages {
            agent,
            status,
            json,
        } => messages::list(&ctx, agent, status, json).await,
        Cmd::Attach { name } => agents::attach(&ctx, &name).await,
        Cmd::Demo { keep } => crate::demo::run(keep).await,
        Cmd::Doctor(args) => crate::doctor::run(args).await,
        Cmd::SimAgent(args) => crate::sim::run(args),
        Cmd::DebugPanic { name } => ok(&ctx, Request::DebugPanic { name }).await,
    }
}

/// Send a request that answers with a line to print.
async fn ok(ctx: &Ctx, req: Request) -> anyhow::Result<()> {
    print_ok(ctx.ok(req).await?);
    Ok(())
}

fn print_ok(r: Response) {
    match r {
        Response::Ok { message } => println!("{}", crate::shown::visible(&message)),
        other => println!("{other:?}"),
    }
}

/// Map errors to a message and exit code for `main`.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    match e.downcast_ref::<IpcError>() {
        Some(IpcError::NotRunning) => 3,
        _ => 1,
    }
}
