//! Aider (`aider-chat`).

use super::{Driver, Resume};

pub const DRIVER: Driver = Driver {
    name: "aider",
    aliases: &[],
    table: Some("aider"),
    title: "Aider",
    // Claude Code's labels until its own dialogs are recorded (issue 16):
    // an option that does not say them is never chosen.
    labels: super::claude::labels,
    resume: Resume::None,
    hooks: false,
    convlog: false,
    prepared_config: false,
    fixtures: Some("aider"),
    install: "install Aider (`pip install aider-chat`)",
    live_check: false,
    enter_delay: std::time::Duration::ZERO,
    digit_keys: true,
};
