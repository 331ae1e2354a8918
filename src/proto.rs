//! The only serialized types of orc's client/daemon protocol, and the
//! `orc ps --json` schema.
//!
//! Wire format: each frame is a 4-byte big-endian length and that many bytes of
//! JSON. A connection opens with [`Hello`] from the client, answered by a
//! [`Hello`] from the daemon; then one [`Request`] and one [`Response`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change of [`Request`] or [`Response`].
pub const PROTOCOL_VERSION: u32 = 1;
/// Frames larger than this are refused and the connection dropped.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hello {
    pub protocol: u32,
    /// `orc` version of the sender, for messages.
    pub version: String,
}

impl Hello {
    /// This binary's greeting.
    pub fn ours() -> Self {
        Hello {
            protocol: PROTOCOL_VERSION,
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Ping,
    Spawn(SpawnRequest),
    Ps,
    Kill {
        name: String,
    },
    Restart {
        name: String,
    },
    Send {
        name: String,
        text: String,
        /// Who sends it: an agent's name, or a person/script (`user`).
        #[serde(default)]
        from: Option<String>,
        /// Answer only once the message is delivered (or failed).
        #[serde(default)]
        wait: bool,
    },
    /// A message signed by orc itself (sender `orc`): `orc up`'s briefings.
    /// `Send` refuses `from: orc`; the CLI has no flag that makes this.
    Brief {
        name: String,
        text: String,
    },
    /// An agent reports on its task (`orc report`).
    Report {
        from: String,
        status: ReportStatus,
        details: String,
    },
    Messages {
        #[serde(default)]
        agent: Option<String>,
        #[serde(default)]
        status: Option<MessageStatus>,
    },
    /// Where the agent's pane is, for `orc attach`.
    Locate {
        name: String,
    },
    Logs {
        name: String,
        /// The latest saved transcript (full scrollback) instead.
        #[serde(default)]
        transcript: bool,
    },
    /// A new title for the agent's window.
    Rename {
        name: String,
        title: String,
    },
    /// The agent's screen as orc sees it.
    Screen {
        name: String,
    },
    /// Credit status of every agent (`orc credits`).
    Credits,
    /// A stream of `Response::Watch` frames: one now, then one after every
    /// change (and at least every few seconds), until the client hangs up.
    Watch,
    /// A check-in for `to` (`orc schedule`).
    Schedule {
        to: String,
        #[serde(default)]
        from: Option<String>,
        note: String,
        /// First firing.
        at: DateTime<Utc>,
        /// Recurring: seconds between firings.
        #[serde(default)]
        every: Option<u64>,
    },
    ScheduleList,
    /// From `orc hook EVENT` inside an agent's pane (a Claude Code hook).
    Hook {
        agent: String,
        event: String,
        #[serde(default)]
        payload: serde_json::Value,
    },
    /// From `orc statusline` inside an agent's pane: what Claude Code's
    /// status-line JSON said (only the fields orc uses, never the whole
    /// document).
    Status {
        agent: String,
        report: StatusReport,
    },
    /// Git activity of the agents' worktrees (`orc git`).
    Git {
        #[serde(default)]
        project: Option<String>,
    },
    ScheduleCancel {
        id: String,
    },
    Stop,
    /// Test hook: make the agent's actor panic. Refused unless the supervisor
    /// runs with `ORC_TEST_HOOKS=1`.
    DebugPanic {
        name: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SpawnRequest {
    pub name: String,
    pub cwd: String,
    pub role: Option<String>,
    pub project: Option<String>,
    pub profile: Option<String>,
    /// KEY=VALUE pairs for the agent's pane only.
    pub env: BTreeMap<String, String>,
    /// Replaces the profile's command and args when not empty.
    pub command: Vec<String>,
    /// Answer tool permission prompts with "yes".
    #[serde(default)]
    pub auto_approve: bool,
    /// The account whose usage limit the agent shares (default: the profile's).
    #[serde(default)]
    pub account: Option<String>,
    /// The tmux session for its window (default: orc's own, `orc`).
    #[serde(default)]
    pub session: Option<String>,
    /// Install orc's Claude Code hooks in the agent's folder.
    #[serde(default)]
    pub hooks: bool,
    /// Pre-accept trust (and the bypass warning) in the CLI's config
    /// (default: the profile's choice, else off).
    #[serde(default)]
    pub pre_trust: Option<bool>,
    /// Keep the installed CLI version (default: the profile's, else off).
    #[serde(default)]
    pub pin_version: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Pong {
        pid: u32,
    },
    Ok {
        message: String,
    },
    Ps {
        agents: Vec<PsRow>,
        notes: Vec<String>,
    },
    Location {
        tmux: String,
        socket: String,
        session: String,
        window: String,
        pane: String,
    },
    Logs {
        text: String,
    },
    Screen {
        rows: u16,
        cols: u16,
        text: String,
    },
    Queued {
        id: String,
    },
    Delivered {
        id: String,
    },
    Messages {
        messages: Vec<MessageRow>,
    },
    /// Nothing queued: the agent already has this message (same idempotency
    /// key, or one of the same job still waiting).
    Duplicate {
        id: String,
    },
    Credits {
        agents: Vec<CreditRow>,
    },
    Watch {
        agents: Vec<PsRow>,
        notes: Vec<String>,
        /// The most recent messages, oldest first.
        messages: Vec<MessageRow>,
    },
    Git {
        rows: Vec<Activity>,
        /// Agents that could not be inspected, and why.
        errors: Vec<String>,
    },
    Scheduled {
        job: Job,
    },
    Jobs {
        jobs: Vec<Job>,
        notes: Vec<String>,
    },
    Error {
        message: String,
    },
}

/// The state of an agent as `orc ps` reports it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    Starting,
    Idle,
    Busy,
    Composing,
    AwaitingPermission,
    AwaitingChoice,
    Limited,
    AuthFailed,
    /// A transient API error the CLI is retrying (5xx, overloaded).
    ApiError,
    Exited,
    Restarting,
    Failed,
    Unknown,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Starting => "starting",
            AgentState::Idle => "idle",
            AgentState::Busy => "busy",
            AgentState::Composing => "composing",
            AgentState::AwaitingPermission => "awaiting_permission",
            AgentState::AwaitingChoice => "awaiting_choice",
            AgentState::Limited => "limited",
            AgentState::AuthFailed => "auth_failed",
            AgentState::ApiError => "api_error",
            AgentState::Exited => "exited",
            AgentState::Restarting => "restarting",
            AgentState::Failed => "failed",
            AgentState::Unknown => "unknown",
        }
    }
}

/// One row of `orc ps --json`. Keys are stable; new keys may be added.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PsRow {
    pub name: String,
    pub role: Option<String>,
    pub project: Option<String>,
    pub profile: String,
    /// tmux pane id (`%3`), absent while the agent has no pane.
    pub pane: Option<String>,
    /// pid of the pane's process.
    pub pid: Option<u32>,
    pub state: AgentState,
    /// When the agent entered `state`.
    pub since: DateTime<Utc>,
    pub restarts: u32,
    /// When a usage limit lifts (filled by the credits feature).
    pub limited_until: Option<DateTime<Utc>>,
    /// Messages waiting for delivery.
    pub queue: u32,
    /// Last time the pane printed anything.
    pub last_activity: Option<DateTime<Utc>>,
    pub cwd: String,
    pub note: Option<String>,
    /// The agent's last `orc report`.
    #[serde(default)]
    pub report: Option<Report>,
    /// Context left before the CLI compacts its conversation, in percent.
    #[serde(default)]
    pub context_left: Option<u8>,
    /// Its worktree's last commit and uncommitted files, from the git monitor.
    #[serde(default)]
    pub last_commit: Option<DateTime<Utc>>,
    #[serde(default)]
    pub uncommitted: Option<usize>,
}

/// What an agent says of its task.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Finished (also accepted: complete, completed).
    #[value(alias = "complete", alias = "completed")]
    Done,
    Failed,
    Blocked,
    /// Still working; a progress note.
    Progress,
}

impl ReportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Done => "done",
            ReportStatus::Failed => "failed",
            ReportStatus::Blocked => "blocked",
            ReportStatus::Progress => "progress",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub status: ReportStatus,
    pub details: String,
    pub at: DateTime<Utc>,
}

/// Where a message is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Queued,
    Delivering,
    Delivered,
    Failed,
}

/// One row of `orc messages --json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageRow {
    pub id: String,
    pub from: String,
    pub to: String,
    pub status: MessageStatus,
    pub reason: Option<String>,
    pub created: DateTime<Utc>,
    /// When the status last changed.
    pub updated: DateTime<Utc>,
    pub bytes: usize,
    /// The first line, cut to 80 characters.
    pub preview: String,
}

/// One scheduled check-in, as `orc schedule list --json` shows it (and as
/// `schedule.json` keeps it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    /// The agent it goes to.
    pub to: String,
    /// Who asked for it (an agent, `user`, or `config` for role check-ins).
    pub from: String,
    pub note: String,
    /// Seconds between firings of a recurring job.
    #[serde(default)]
    pub every: Option<u64>,
    /// When it is due next.
    pub next: DateTime<Utc>,
    /// Held back (the target is out of credits) until then.
    #[serde(default)]
    pub deferred_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub deferred_why: Option<String>,
    pub created: DateTime<Utc>,
    /// Firings so far; also numbers the next firing's key.
    #[serde(default)]
    pub fired: u32,
    #[serde(default)]
    pub last_fired: Option<DateTime<Utc>>,
    /// Set for jobs the config asks for (one per agent), so that they are
    /// created once and not twice.
    #[serde(default)]
    pub origin: Option<String>,
}

impl Job {
    /// When the job may fire.
    pub fn due_at(&self) -> DateTime<Utc> {
        match self.deferred_until {
            Some(d) if d > self.next => d,
            _ => self.next,
        }
    }
    /// The key of its next firing.
    pub fn key(&self) -> String {
        format!("sched:{}:{}", self.id, self.fired + 1)
    }
}

/// An agent's credit status in `orc credits`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CreditStatus {
    Ok,
    Limited,
    /// Another agent on the same account is limited.
    AtRisk,
    /// Still limited after orc's resumes: a human should look.
    Attention,
    /// orc cannot see limits on this agent's screen.
    Unknown,
}

impl CreditStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CreditStatus::Ok => "ok",
            CreditStatus::Limited => "limited",
            CreditStatus::AtRisk => "at_risk",
            CreditStatus::Attention => "attention",
            CreditStatus::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CreditKind {
    /// The screen shows a usage limit.
    Limited,
    /// The conversation log shows a usage-limit error (Claude Code).
    LogSignal,
    ResumeSent,
    /// A resume found it still limited; re-armed.
    StillLimited,
    /// Re-armed too often: left to a human.
    GaveUp,
    /// A turn ended normally after the limit.
    Recovered,
    /// An agent on the same account hit the limit.
    AtRisk,
    /// A `StopFailure` hook said the turn ended on a rate limit (Claude Code).
    HookSignal,
}

/// One line of an agent's credit history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CreditEvent {
    pub at: DateTime<Utc>,
    pub kind: CreditKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub tries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One row of `orc credits --json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CreditRow {
    pub name: String,
    pub account: Option<String>,
    pub status: CreditStatus,
    pub limited_until: Option<DateTime<Utc>>,
    /// When the current (or last) limit was first seen.
    pub exhausted_at: Option<DateTime<Utc>>,
    pub reset_at: Option<DateTime<Utc>>,
    /// When orc resumes it (limited) or its check-ins may go again (at risk).
    pub next_resume: Option<DateTime<Utc>>,
    /// Resumes sent in the current episode.
    pub tries: u32,
    pub at_risk_because: Option<String>,
    /// Oldest first, the last few events.
    pub history: Vec<CreditEvent>,
    /// Usage of the 5-hour window, from the agent's status line (Claude Code).
    #[serde(default)]
    pub five_hour: Option<UsageWindow>,
    /// Usage of the 7-day window, from the agent's status line.
    #[serde(default)]
    pub seven_day: Option<UsageWindow>,
    /// When the status line last reported usage.
    #[serde(default)]
    pub usage_at: Option<DateTime<Utc>>,
}

/// One usage window as Claude Code's status line reports it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct UsageWindow {
    /// Percent of the window used (0-100).
    pub used_percent: f64,
    /// When the window resets.
    pub resets_at: Option<DateTime<Utc>>,
}

/// What orc takes from one status-line JSON document (`orc statusline`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StatusReport {
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    /// `context_window.remaining_percentage` (null before the first reply).
    #[serde(default)]
    pub context_left_percent: Option<f64>,
    #[serde(default)]
    pub context_window_size: Option<u64>,
    #[serde(default)]
    pub cost_usd: Option<f64>,
    #[serde(default)]
    pub five_hour: Option<UsageWindow>,
    #[serde(default)]
    pub seven_day: Option<UsageWindow>,
}
/// One look at an agent's worktree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub agent: String,
    pub worktree: std::path::PathBuf,
    /// The branch checked out; `None` when HEAD is detached.
    pub branch: Option<String>,
    /// What `ahead`/`behind` are measured against (branch name or commit id),
    /// as passed to `gitmon::inspect`.
    pub parent: String,
    /// Committer time of HEAD; `None` before the first commit.
    pub last_commit: Option<DateTime<Utc>>,
    pub last_commit_summary: Option<String>,
    /// Changed, staged, deleted and untracked files (ignored files excluded).
    pub uncommitted: usize,
    /// Modification time of the oldest uncommitted change (deleted files
    /// count as changed at `at`): how long work has sat uncommitted.
    pub oldest_change: Option<DateTime<Utc>>,
    /// Commits on HEAD not on the parent.
    pub ahead: usize,
    /// Commits on the parent not on HEAD.
    pub behind: usize,
    /// When this look was taken.
    pub at: DateTime<Utc>,
}
