//! Claude Code (`@anthropic-ai/claude-code`).

use super::{Driver, Resume};
use crate::screen::detect::Dialog;

pub const DRIVER: Driver = Driver {
    name: "claude-code",
    aliases: &["claude"],
    table: Some("claude-code"),
    title: "Claude",
    labels,
    resume: Resume::SessionFlag {
        start: "--session-id",
        resume: "--resume",
    },
    hooks: true,
    convlog: true,
    session_limit_log: false,
    prepared_config: true,
    fixtures: Some("claude-code"),
    install: "install Claude Code (`npm install -g @anthropic-ai/claude-code`)",
    live_check: true,
    enter_delay: std::time::Duration::ZERO,
    digit_keys: true,
    limit_cycle: None,
    paste_always: false,
    headless_env: &[],
};

/// The labels orc answers each dialog with, when policy allows an answer.
/// Several wordings of one answer (older releases) may be listed.
pub fn labels(d: Dialog) -> &'static [&'static str] {
    match d {
        Dialog::Trust => &[
            "Yes, I trust this folder",
            "Yes, proceed",
            "Trust and continue",
        ],
        Dialog::BypassWarning => &["Yes, I accept"],
        Dialog::UsageLimitMenu => &["Stop and wait for limit to reset"],
        Dialog::ResumeSummary => &["Resume from summary"],
        Dialog::ApiKey => &["Yes"],
        Dialog::Permission => &["Yes"],
        _ => &[],
    }
}
