//! The command line's grammar: every command, its arguments and flags.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    Spawn(SpawnArgs),
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
    Task(TaskArgs),
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
    Schedule(super::credits::ScheduleArgs),
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

// The flags of `orc spawn` (no doc comment here: the variant's is the help text).
#[derive(clap::Args, Debug)]
pub struct SpawnArgs {
    /// Agent name: letters, digits, `-`, `_`, `.` (at most 64)
    pub name: String,
    /// Working directory of the agent (default: the current directory)
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    #[arg(long)]
    pub role: Option<String>,
    #[arg(long)]
    pub project: Option<String>,
    /// Launch profile: claude, codex, gemini, aider, shell, or one from config.toml
    #[arg(long)]
    pub profile: Option<String>,
    /// Answer the agent CLI's tool permission prompts with "yes"
    #[arg(long)]
    pub auto_approve: bool,
    /// Account whose usage limit this agent shares with others (default: the profile's)
    #[arg(long)]
    pub account: Option<String>,
    /// tmux session for the agent's window (default: orc's own session)
    #[arg(long)]
    pub session: Option<String>,
    /// Install orc's Claude Code hooks in the agent's folder (a second signal)
    #[arg(long)]
    pub hooks: bool,
    /// Claude Code: record the folder as trusted (and keep the bypass
    /// warning away) in the CLI's config instead of answering the dialogs
    #[arg(long, overrides_with = "no_pre_trust")]
    pub pre_trust: bool,
    /// Answer the trust and bypass dialogs on screen even if the profile pre-trusts
    #[arg(long)]
    pub no_pre_trust: bool,
    /// Keep the installed CLI version while the agent runs (no auto-update)
    #[arg(long)]
    pub pin_version: bool,
    /// KEY=VALUE set in the agent's pane only (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Command and arguments, replacing the profile's command
    #[arg(last = true)]
    pub command: Vec<String>,
}

// The flags of `orc task` (no doc comment here: the variant's is the help text).
#[derive(clap::Args, Debug)]
pub struct TaskArgs {
    pub to: String,
    #[arg(long)]
    pub title: String,
    #[arg(long)]
    pub objective: String,
    /// A success criterion (repeatable)
    #[arg(long = "criteria", value_name = "CRITERION")]
    pub criteria: Vec<String>,
    #[arg(long, value_enum, default_value = "med")]
    pub priority: Priority,
    /// Task id (default: T-<time>)
    #[arg(long)]
    pub id: Option<String>,
    #[arg(long)]
    pub from: Option<String>,
}
