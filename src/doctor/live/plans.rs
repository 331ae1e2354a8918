//! The walk: the steps of a live run for each kind of CLI, what each sends
//! and what ends it.

use std::time::Duration;

use super::super::stand_in::Reply;
use crate::proto::AgentState;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Claude,
    Sim,
    /// Aider or Codex: the OpenAI wire, no tool step.
    OpenAi,
}

/// How a step ends.
pub(super) enum Until {
    Idle,
    /// Away from idle (through `must_see`) and back, nothing queued.
    TurnBack(AgentState),
    /// `limited` with a reset near this Unix time.
    Limited(i64),
    /// `limited` with a reset this many seconds after the message was sent.
    LimitedAfter(i64),
    /// `limited`, whatever the reset (the CLI shows none).
    LimitedAny,
}

pub(super) struct Plan {
    pub(super) step: &'static str,
    pub(super) expected: String,
    pub(super) message: Option<String>,
    pub(super) replies: Vec<Reply>,
    pub(super) until: Until,
    pub(super) timeout: Duration,
    /// Text the screen must show when the step is done.
    pub(super) screen_has: Option<String>,
}

/// How far a limit's reset may be from the expected one (the CLI shows it to
/// the minute).
pub(super) const RESET_SLACK: i64 = 90;

pub(super) fn plans(kind: Kind) -> Vec<Plan> {
    let secs = |n| Duration::from_secs(n);
    let (startup, step) = match kind {
        Kind::Claude => (secs(60), secs(60)),
        Kind::Sim => (secs(20), secs(20)),
        // Aider and Codex retry a 429 themselves for up to a minute.
        Kind::OpenAi => (secs(60), secs(120)),
    };
    let startup = Plan {
        step: "startup",
        expected: format!(
            "idle within {} s, every startup dialog answered by orc",
            startup.as_secs()
        ),
        message: None,
        replies: vec![],
        until: Until::Idle,
        timeout: startup,
        screen_has: None,
    };
    match kind {
        Kind::Claude => claude_plans(startup, step),
        Kind::Sim => sim_plans(startup, step),
        Kind::OpenAi => openai_plans(startup, step),
    }
}

/// Claude Code's steps after startup: the stand-in's replies drive them.
fn claude_plans(startup: Plan, step: Duration) -> Vec<Plan> {
    let secs = |n| Duration::from_secs(n);
    let now = chrono::Utc::now().timestamp();
    // A whole minute at least 20 minutes ahead: the CLI shows minutes only.
    let reset = (now + 20 * 60) / 60 * 60 + 60;
    let utc = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%H:%M UTC").to_string())
            .unwrap_or_default()
    };
    vec![
        startup,
        Plan {
            step: "turn",
            expected: "busy, then idle with the reply on screen".into(),
            message: Some("orc doctor: please answer briefly.".into()),
            replies: vec![Reply::Text {
                text: "orc doctor: turn finished.".into(),
                delay: secs(3),
            }],
            until: Until::TurnBack(AgentState::Busy),
            timeout: step,
            screen_has: Some("orc doctor: turn finished.".into()),
        },
        Plan {
            step: "tool call",
            expected: "busy (a permission prompt, if any, answered by orc), then idle; the Bash command ran".into(),
            message: Some("orc doctor: please run the tool.".into()),
            replies: vec![
                Reply::Bash {
                    command: format!("echo orc-doctor-tool > {TOOL_FILE}; cat {TOOL_FILE}"),
                    delay: secs(1),
                },
                Reply::Text {
                    text: "orc doctor: the tool ran.".into(),
                    delay: secs(2),
                },
            ],
            until: Until::TurnBack(AgentState::Busy),
            timeout: step,
            screen_has: Some("orc doctor: the tool ran.".into()),
        },
        Plan {
            step: "usage limit",
            expected: format!("limited, resetting at {} (HTTP 429, five_hour)", utc(reset)),
            message: Some("orc doctor: one more turn, please.".into()),
            replies: vec![Reply::UsageLimit { reset: reset as u64 }],
            until: Until::Limited(reset),
            timeout: step,
            screen_has: None,
        },
    ]
}

/// Aider's and Codex's steps after startup: a turn, and a rate limit they
/// retry and then give up on (neither shows a reset).
fn openai_plans(startup: Plan, step: Duration) -> Vec<Plan> {
    let secs = |n| Duration::from_secs(n);
    let reset = chrono::Utc::now().timestamp() + 20 * 60;
    vec![
        startup,
        Plan {
            step: "turn",
            expected: "busy, then idle with the reply on screen".into(),
            message: Some("orc doctor: please answer briefly.".into()),
            replies: vec![Reply::Text {
                text: "orc doctor: turn finished.".into(),
                delay: secs(3),
            }],
            until: Until::TurnBack(AgentState::Busy),
            timeout: step,
            screen_has: Some("orc doctor: turn finished.".into()),
        },
        Plan {
            step: "usage limit",
            expected: "limited (HTTP 429 on every retry)".into(),
            message: Some("orc doctor: one more turn, please.".into()),
            replies: vec![Reply::UsageLimit {
                reset: reset as u64,
            }],
            until: Until::LimitedAny,
            timeout: step,
            screen_has: None,
        },
    ]
}

/// The sim agent's steps after startup: the message tells it what to do.
fn sim_plans(startup: Plan, step: Duration) -> Vec<Plan> {
    vec![
        startup,
        Plan {
            step: "turn",
            expected: "busy, then idle with the reply on screen".into(),
            message: Some("orc doctor: a turn orc-sim:work=2".into()),
            replies: vec![],
            until: Until::TurnBack(AgentState::Busy),
            timeout: step,
            screen_has: Some("Done: orc doctor: a turn".into()),
        },
        Plan {
            step: "tool call",
            expected: "a permission prompt answered by orc, then idle".into(),
            message: Some("orc doctor: a tool call orc-sim:permission".into()),
            replies: vec![],
            until: Until::TurnBack(AgentState::AwaitingPermission),
            timeout: step,
            screen_has: Some("Ran the command.".into()),
        },
        Plan {
            step: "usage limit",
            expected: "limited, resetting 15 minutes after the message".into(),
            message: Some("orc doctor: a limit orc-sim:limit=900".into()),
            replies: vec![],
            until: Until::LimitedAfter(900),
            timeout: step,
            screen_has: None,
        },
    ]
}

pub(super) const TOOL_FILE: &str = "orc-doctor-tool.txt";
