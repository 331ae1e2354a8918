//! `orc demo`: a private supervisor with a small team of simulated agents.
//! It needs no account and no network: the agents are `orc sim-agent`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::client::{detach, ps_table, Ctx};
use crate::paths::Paths;
use crate::proto::{AgentState, PsRow, Request, SpawnRequest};

const TEAM: [(&str, &str); 3] = [
    ("lead", "orchestrator"),
    ("pm", "project_manager"),
    ("dev", "developer"),
];

async fn wait_for<F: Fn(&[PsRow]) -> bool>(
    ctx: &Ctx,
    what: &str,
    secs: u64,
    f: F,
) -> anyhow::Result<Vec<PsRow>> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (rows, _) = ctx.ps().await?;
        if f(&rows) {
            return Ok(rows);
        }
        if Instant::now() > deadline {
            bail!(
                "demo: gave up waiting for {what} after {secs} s:\n{}",
                ps_table(&rows)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn row<'a>(rows: &'a [PsRow], name: &str) -> Option<&'a PsRow> {
    rows.iter().find(|r| r.name == name)
}

pub async fn run(keep: bool) -> anyhow::Result<()> {
    let home = std::env::temp_dir().join(format!("orc-demo-{}", std::process::id()));
    std::fs::create_dir_all(&home)?;
    let socket = format!("orc-demo-{}", std::process::id());
    let ctx = Ctx {
        paths: Paths::under(&home),
    };
    let home_s = home.display().to_string();
    println!("== orc demo: a private supervisor (ORC_HOME={home_s}, tmux socket -L {socket})");
    let result = demo(&ctx, &home_s, &socket, keep).await;
    if !keep || result.is_err() {
        println!("== cleaning up");
        let _ = crate::client::stop(&ctx).await;
        // The demo's own server, started for it on its private socket.
        let tmux = crate::tmux::Tmux::new("tmux".into(), socket.clone(), ctx.paths.tmux_conf());
        let _ = tmux.kill_private_server().await;
        let _ = std::fs::remove_dir_all(&home);
    }
    result
}

async fn demo(ctx: &Ctx, home: &str, socket: &str, keep: bool) -> anyhow::Result<()> {
    let pid = detach(ctx, &[("ORC_HOME", home), ("ORC_TMUX_SOCKET", socket)]).await?;
    println!("supervisor started (pid {pid})");
    spawn_team(ctx).await?;
    let rows = wait_for(ctx, "the team to settle", 20, |rows| {
        rows.iter().all(|r| r.state == AgentState::Idle)
    })
    .await?;
    println!("\n$ orc ps\n{}", ps_table(&rows));

    let rows = give_work(ctx).await?;
    crash_dev(ctx, &rows).await?;
    show_dev_events(ctx).await?;
    if keep {
        println!("\n== the demo keeps running. Try:");
        println!("  export ORC_HOME={home} ORC_TMUX_SOCKET={socket}");
        println!("  orc ps; orc send dev 'hello'; orc attach dev   (detach with C-b d)");
        println!("  orc stop && tmux -L {socket} kill-server && rm -rf {home}   # to clean up");
    } else {
        println!("\n== demo done");
    }
    Ok(())
}

/// Start the demo team's simulated agents.
async fn spawn_team(ctx: &Ctx) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?.display().to_string();
    let work = std::env::temp_dir();
    for (name, role) in TEAM {
        let req = SpawnRequest {
            name: name.into(),
            cwd: work.display().to_string(),
            role: Some(role.into()),
            project: Some("demo".into()),
            profile: Some("sim".into()),
            env: Default::default(),
            command: vec![
                exe.clone(),
                "sim-agent".into(),
                "--name".into(),
                name.into(),
                "--work-ms".into(),
                "2500".into(),
            ],
            auto_approve: false,
            account: None,
            session: None,
            hooks: false,
            pre_trust: None,
            pin_version: None,
        };
        ctx.ok(Request::Spawn(req))
            .await
            .with_context(|| format!("spawning {name}"))?;
        println!("spawned {name} ({role})");
    }
    Ok(())
}

/// Send dev and pm a message each; show them busy, then done.
async fn give_work(ctx: &Ctx) -> anyhow::Result<Vec<PsRow>> {
    println!("== giving the developer and the project manager some work");
    ctx.ok(Request::Send {
        name: "dev".into(),
        text: "Implement the login form".into(),
        from: None,
        wait: false,
    })
    .await?;
    ctx.ok(Request::Send {
        name: "pm".into(),
        text: "Review the plan".into(),
        from: None,
        wait: false,
    })
    .await?;
    let rows = wait_for(ctx, "dev to get busy", 10, |rows| {
        row(rows, "dev").is_some_and(|r| r.state == AgentState::Busy)
    })
    .await?;
    println!("\n$ orc ps\n{}", ps_table(&rows));
    let rows = wait_for(ctx, "the work to finish", 20, |rows| {
        rows.iter().all(|r| r.state == AgentState::Idle)
    })
    .await?;
    println!("\n$ orc ps   (turns finished)\n{}", ps_table(&rows));

    Ok(rows)
}

/// Crash dev's CLI and show orc restarting it.
async fn crash_dev(ctx: &Ctx, rows: &[PsRow]) -> anyhow::Result<()> {
    println!("== crashing the developer's CLI on purpose");
    let old_pid = row(rows, "dev").and_then(|r| r.pid);
    ctx.ok(Request::Send {
        name: "dev".into(),
        text: "orc-sim:crash".into(),
        from: None,
        wait: false,
    })
    .await?;
    let rows = wait_for(ctx, "dev to come back", 20, |rows| {
        row(rows, "dev")
            .is_some_and(|r| r.restarts == 1 && r.pid != old_pid && r.state == AgentState::Idle)
    })
    .await?;
    println!(
        "\n$ orc ps   (dev crashed and was restarted)\n{}",
        ps_table(&rows)
    );
    Ok(())
}

/// dev's events, as `orc logs dev` prints them.
async fn show_dev_events(ctx: &Ctx) -> anyhow::Result<()> {
    if let crate::proto::Response::Logs { text } = ctx
        .ok(Request::Logs {
            name: "dev".into(),
            transcript: false,
        })
        .await?
    {
        // The journal, newest last; the saved screen is in the file it names.
        println!("$ orc logs dev   (events)");
        for line in text.lines().filter(|l| l.starts_with('{')) {
            println!("  {line}");
        }
        if let Some(l) = text.lines().find(|l| l.starts_with("== last saved screen")) {
            println!("  {l}");
        }
    }
    Ok(())
}
