//! OpenAI Codex CLI (`@openai/codex`).

use super::{Driver, Resume};

pub const DRIVER: Driver = Driver {
    name: "codex",
    aliases: &[],
    table: Some("codex"),
    title: "Codex",
    // Claude Code's labels until its own dialogs are recorded (issue 16):
    // an option that does not say them is never chosen.
    labels: super::claude::labels,
    resume: Resume::None,
    hooks: false,
    convlog: false,
    prepared_config: false,
    fixtures: Some("codex"),
    install: "install Codex (`npm install -g @openai/codex`)",
    live_check: false,
};
