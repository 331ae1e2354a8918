//! The command line. Thin: parse, send one request, print the answer.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand};

use crate::ipc::{self, IpcError};
use crate::proto::{Request, Response, SpawnRequest};
use crate::shown::Shown;

mod credits;

use crate::client::ago;
pub use crate::client::{detach, load_config, ps_table, stop, table, Ctx};

#[derive(Parser, Debug)]
#[command(
    name = "orc",
    version,
    about = "Keep a team of AI coding agents working in tmux, unattended"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run the supervisor (foreground; --detach to run it in the background)
    Supervise {
        /// Start in the background and return once it accepts connections
        #[arg(long)]
        detach: bool,
    },
    /// Stop the supervisor; agents keep running in tmux
    Stop,
    /// Start a new supervised agent in its own tmux window
    Spawn {
        /// Agent name: letters, digits, `-`, `_`, `.` (at most 64)
        name: String,
        /// Working directory of the agent (default: the current directory)
        #[arg(long)]
        cwd: Option<PathBuf>,
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        project: Option<String>,
        /// Launch profile: claude, codex, gemini, aider, shell, or one from config.toml
        #[arg(long)]
        profile: Option<String>,
        /// Answer the agent CLI's tool permission prompts with "yes"
        #[arg(long)]
        auto_approve: bool,
        /// Account whose usage limit this agent shares with others (default: the profile's)
        #[arg(long)]
        account: Option<String>,
        /// tmux session for the agent's window (default: orc's own session)
        #[arg(long)]
        session: Option<String>,
        /// Install orc's Claude Code hooks in the agent's folder (a second signal)
        #[arg(long)]
        hooks: bool,
        /// Claude Code: record the folder as trusted (and keep the bypass
        /// warning away) in the CLI's config instead of answering the dialogs
        #[arg(long, overrides_with = "no_pre_trust")]
        pre_trust: bool,
        /// Answer the trust and bypass dialogs on screen even if the profile pre-trusts
        #[arg(long)]
        no_pre_trust: bool,
        /// Keep the installed CLI version while the agent runs (no auto-update)
        #[arg(long)]
        pin_version: bool,
        /// KEY=VALUE set in the agent's pane only (repeatable)
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Command and arguments, replacing the profile's command
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Show every agent and its state
    Ps {
        /// Print a JSON array (stable keys, see README)
        #[arg(long)]
        json: bool,
    },
    /// Stop an agent, close its window, and forget it
    Kill { name: String },
    /// Restart an agent now (also clears the `failed` state)
    Restart { name: String },
    /// Attach this terminal to an agent's window
    Attach { name: String },
    /// Show an agent's events and its last saved screen
    Logs {
        name: String,
        /// Print the latest saved transcript (the full scrollback, saved when
        /// the agent was killed or restarted)
        #[arg(long)]
        transcript: bool,
    },
    /// Set the title of an agent's tmux window (kept across restarts)
    Rename { name: String, title: String },
    /// Print an agent's screen as orc sees it
    Screen { name: String },
    /// Queue a message for an agent; orc types and submits it when the agent is
    /// at its prompt (MESSAGE `-` reads stdin)
    Send {
        name: String,
        message: String,
        /// Sender's name (default: $ORC_AGENT inside an agent's pane, else `user`)
        #[arg(long)]
        from: Option<String>,
        /// Wait until the message is delivered (or failed)
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this many seconds (exit 1)
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Report on your task (from inside an agent's pane): the hub and the
    /// agents whose work depends on yours are told
    Report {
        #[arg(value_enum)]
        status: crate::proto::ReportStatus,
        details: String,
        /// The reporting agent (default: $ORC_AGENT)
        #[arg(long)]
        from: Option<String>,
    },
    /// Send a task in the team's TASK format
    Task {
        to: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        objective: String,
        /// A success criterion (repeatable)
        #[arg(long = "criteria", value_name = "CRITERION")]
        criteria: Vec<String>,
        #[arg(long, value_enum, default_value = "med")]
        priority: Priority,
        /// Task id (default: T-<time>)
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        from: Option<String>,
    },
    /// Read the communications journal
    Log {
        #[arg(long)]
        agent: Option<String>,
        /// Only entries newer than this: `30m`, `2h`, `1d`, or an RFC 3339 time
        #[arg(long)]
        since: Option<String>,
        /// Keep printing new entries
        #[arg(long)]
        follow: bool,
    },
    /// List messages and their delivery status
    Messages {
        #[arg(long)]
        agent: Option<String>,
        #[arg(long, value_enum)]
        status: Option<crate::proto::MessageStatus>,
        #[arg(long)]
        json: bool,
    },
    /// Schedule a check-in: `orc schedule MINUTES "NOTE" [--to AGENT]`,
    /// `--at HH:MM`, `--every MINUTES`; `orc schedule list`, `orc schedule cancel ID`
    Schedule(credits::ScheduleArgs),
    /// Start a team for a project from a spec: plan, worktrees, agents, briefings
    Up(crate::team::up::UpArgs),
    /// Show a project's team and bring back its dead or missing agents
    Resume(crate::team::up::ResumeArgs),
    /// Stop a project's team; worktrees and state are kept (--purge removes them)
    Down(crate::team::up::DownArgs),
    /// A live dashboard of the team (keys: ↑/↓ a s r p q)
    Top,
    /// Run the supervisor as a systemd user service (install, uninstall, status)
    Service {
        #[command(subcommand)]
        action: crate::service::ServiceCmd,
    },
    /// Install or remove orc's Claude Code hooks and status line in a folder's .claude/settings.local.json
    Hooks {
        #[command(subcommand)]
        action: HooksCmd,
    },
    /// Called by a Claude Code hook inside an agent's pane (reads the hook's JSON on stdin)
    #[command(hide = true)]
    Hook { event: String },
    /// Called as Claude Code's statusLine command inside an agent's pane (reads its JSON on stdin)
    #[command(hide = true)]
    Statusline,
    /// Git activity of the agents' worktrees: last commit, uncommitted work, ahead/behind
    Git {
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Usage-limit status of every agent, and its recent history
    Credits {
        #[arg(long)]
        json: bool,
    },
    /// Run a demo team of simulated agents in a private supervisor
    Demo {
        /// Leave the demo running and say how to attach and stop it
        #[arg(long)]
        keep: bool,
    },
    /// Check that this machine is ready: each profile's CLI and version, tmux,
    /// the config, the state dir, hooks; `--live PROFILE` runs the CLI for real
    Doctor(crate::doctor::DoctorArgs),
    /// A simulated agent CLI (for tests and the demo)
    #[command(hide = true)]
    SimAgent(crate::sim::SimArgs),
    /// Test hook: panic an agent's actor (needs ORC_TEST_HOOKS=1 in the supervisor)
    #[command(hide = true)]
    DebugPanic { name: String },
}

#[derive(Subcommand, Debug)]
pub enum HooksCmd {
    /// Add the hooks (kept alongside any hooks already there)
    Install {
        /// The agent's folder (default: the current directory)
        #[arg(long)]
        cwd: Option<PathBuf>,
    },
    /// Remove orc's hooks, keeping the others
    Uninstall {
        #[arg(long)]
        cwd: Option<PathBuf>,
    },
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum Priority {
    High,
    Med,
    Low,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx::from_env();
    match cli.cmd {
        Cmd::Supervise { detach: false } => {
            let config = load_config(&ctx.paths)?;
            crate::daemon::run(ctx.paths, config).await
        }
        Cmd::Supervise { detach: true } => {
            let pid = detach(&ctx, &[]).await?;
            println!(
                "supervisor running (pid {pid}); socket {}",
                ctx.paths.socket().display()
            );
            println!("log: {}", ctx.paths.supervisor_log().display());
            Ok(())
        }
        Cmd::Stop => stop(&ctx).await,
        Cmd::Spawn {
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
        } => {
            let cwd = match cwd {
                Some(c) => c,
                None => std::env::current_dir()?,
            };
            let cwd = std::path::absolute(&cwd).unwrap_or(cwd);
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
            let req = SpawnRequest {
                name,
                cwd: cwd.to_string_lossy().into_owned(),
                role,
                project,
                profile,
                env: envs,
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
        Cmd::Ps { json } => {
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
        Cmd::Kill { name } => {
            print_ok(ctx.ok(Request::Kill { name }).await?);
            Ok(())
        }
        Cmd::Restart { name } => {
            print_ok(ctx.ok(Request::Restart { name }).await?);
            Ok(())
        }
        Cmd::Rename { name, title } => {
            print_ok(ctx.ok(Request::Rename { name, title }).await?);
            Ok(())
        }
        Cmd::Logs { name, transcript } => {
            match ctx.ok(Request::Logs { name, transcript }).await? {
                Response::Logs { text } => print!("{}", crate::shown::visible(&text)),
                r => print_ok(r),
            }
            Ok(())
        }
        Cmd::Screen { name } => {
            match ctx.ok(Request::Screen { name }).await? {
                Response::Screen { rows, cols, text } => {
                    println!("# {cols}x{rows}");
                    println!("{}", crate::shown::visible(&text));
                }
                r => print_ok(r),
            }
            Ok(())
        }
        Cmd::Send {
            name,
            message,
            from,
            wait,
            timeout,
        } => {
            let text = if message == "-" {
                let mut b = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut b)
                    .context("reading the message from stdin")?;
                match String::from_utf8(b) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!(
                            "orc: the message is not valid UTF-8; invalid bytes are sent as U+FFFD"
                        );
                        String::from_utf8_lossy(e.as_bytes()).into_owned()
                    }
                }
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
                failed_hint(&ctx, &name).await;
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
        Cmd::Report {
            status,
            details,
            from,
        } => {
            let Some(from) =
                from.or_else(|| std::env::var("ORC_AGENT").ok().filter(|s| !s.is_empty()))
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
        Cmd::Task {
            to,
            title,
            objective,
            criteria,
            priority,
            id,
            from,
        } => {
            if title.trim().is_empty() || objective.trim().is_empty() {
                bail!("a task needs a --title and an --objective");
            }
            let id =
                id.unwrap_or_else(|| format!("T-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S")));
            let mut text =
                format!("TASK {id}: {title}\nAssigned to: {to}\nObjective: {objective}\n");
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
        Cmd::Log {
            agent,
            since,
            follow,
        } => log(&ctx, agent.as_deref(), since.as_deref(), follow).await,
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
        Cmd::Hooks { action } => {
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
                let user = crate::claude_config::ConfigFiles::for_env(&BTreeMap::new())
                    .map(|c| c.settings);
                let n =
                    crate::hooks::install(&path, &me, user.as_deref()).map_err(|e| anyhow!(e))?;
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
        Cmd::Hook { event } => {
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
        Cmd::Statusline => {
            statusline(&ctx).await;
            Ok(())
        }
        Cmd::Git { project, json } => match ctx.request(Request::Git { project }).await? {
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
        },
        Cmd::Messages {
            agent,
            status,
            json,
        } => {
            let Response::Messages { messages } =
                ctx.ok(Request::Messages { agent, status }).await?
            else {
                bail!("unexpected answer");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&messages)?);
            } else {
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
            }
            Ok(())
        }
        Cmd::Attach { name } => attach(&ctx, &name).await,
        Cmd::Demo { keep } => crate::demo::run(keep).await,
        Cmd::Doctor(args) => crate::doctor::run(args).await,
        Cmd::SimAgent(args) => crate::sim::run(args),
        Cmd::DebugPanic { name } => {
            print_ok(ctx.ok(Request::DebugPanic { name }).await?);
            Ok(())
        }
    }
}

/// `orc log`: the communications journals, oldest first.
async fn log(
    ctx: &Ctx,
    agent: Option<&str>,
    since: Option<&str>,
    follow: bool,
) -> anyhow::Result<()> {
    let since = match since {
        None => None,
        Some(s) => Some(
            parse_since(s)
                .ok_or_else(|| anyhow!("--since {s:?}: use 30m, 2h, 1d (at most a few thousand years back), or an RFC 3339 time"))?,
        ),
    };
    let root = ctx.paths.state.join("projects");
    let mut seen: std::collections::HashSet<String> = Default::default();
    loop {
        let mut entries: Vec<serde_json::Value> = Vec::new();
        for file in journal_files(&root) {
            for line in std::fs::read_to_string(&file).unwrap_or_default().lines() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                    entries.push(v);
                }
            }
        }
        entries.sort_by(|a, b| a["at"].as_str().cmp(&b["at"].as_str()));
        for v in entries {
            let key = format!("{}{}{}", v["at"], v["id"], v["to"]);
            if !seen.insert(key) {
                continue;
            }
            let at = v["at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            if since.is_some_and(|s| at.is_none_or(|a| a < s)) {
                continue;
            }
            if let Some(a) = agent {
                if v["from"] != a && v["to"] != a {
                    continue;
                }
            }
            let text = v["text"].as_str().unwrap_or("");
            let first: String = text
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(100)
                .collect();
            let kind = v["kind"]
                .as_str()
                .or(v["action"].as_str().map(|_| "violation"))
                .unwrap_or("?");
            println!(
                "{}  {:<9} {} -> {}  {}",
                at.map(|a| a.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default(),
                Shown(kind),
                Shown(v["from"].as_str().unwrap_or("?")),
                Shown(v["to"].as_str().unwrap_or("?")),
                Shown(&first)
            );
        }
        if !follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn journal_files(root: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(projects) = std::fs::read_dir(root) else {
        return out;
    };
    for p in projects.filter_map(|e| e.ok()) {
        let days = p.path().join("logs/communications");
        for d in std::fs::read_dir(&days)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
        {
            for f in ["messages.jsonl", "violations.jsonl"] {
                let f = d.path().join(f);
                if f.exists() {
                    out.push(f);
                }
            }
        }
    }
    out
}

fn parse_since(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    if !s.is_ascii() {
        return None;
    }
    let (num, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = num.parse().ok().filter(|n| *n >= 0)?;
    // Checked all the way: a huge number is an error, not a panic.
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86400),
        _ => None,
    }?;
    let ago = chrono::Duration::try_seconds(secs)?;
    chrono::Utc::now()
        .checked_sub_signed(ago)
        .map(|t| t.fixed_offset())
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

fn print_ok(r: Response) {
    match r {
        Response::Ok { message } => println!("{}", crate::shown::visible(&message)),
        other => println!("{other:?}"),
    }
}

async fn attach(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
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

/// Map errors to a message and exit code for `main`.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    match e.downcast_ref::<IpcError>() {
        Some(IpcError::NotRunning) => 3,
        _ => 1,
    }
}

/// `orc statusline`: never fails and never makes the CLI wait long. Tells
/// the supervisor (when `ORC_AGENT` names the agent) while the user's own
/// status-line command, if orc wrapped one, runs on the same input; prints
/// that command's output, or orc's own line.
async fn statusline(ctx: &Ctx) {
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

#[cfg(test)]
mod since_tests {
    #[test]
    fn since_never_panics() {
        for s in [
            "99999999999999d",
            "9223372036854775807s",
            "-5m",
            "é",
            "d",
            "",
            "1x",
        ] {
            assert!(super::parse_since(s).is_none(), "{s}");
        }
        assert!(super::parse_since("30m").is_some());
    }

    #[test]
    fn tables_show_control_characters() {
        let t = super::table(&[
            vec!["NAME".into(), "ROLE".into()],
            vec!["a".into(), "dev\x1b[2J\x1b]0;t\x07\u{9b}".into()],
        ]);
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
        assert!(t.contains("dev\\x1b[2J"), "{t}");
        assert!(super::parse_since("2026-01-01T00:00:00Z").is_some());
    }
}
