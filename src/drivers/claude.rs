//! Claude Code (`@anthropic-ai/claude-code`).

use super::{Driver, Resume};

pub const DRIVER: Driver = Driver {
    name: "claude-code",
    aliases: &["claude"],
    table: Some("claude-code"),
    title: "Claude",
    labels: crate::agent::dialogs::labels,
    resume: Resume::SessionFlag {
        start: "--session-id",
        resume: "--resume",
    },
    hooks: true,
    convlog: true,
    prepared_config: true,
    fixtures: Some("claude-code"),
    install: "install Claude Code (`npm install -g @anthropic-ai/claude-code`)",
    live_check: true,
};
