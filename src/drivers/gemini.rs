//! Google Gemini CLI (`@google/gemini-cli`): no detector table yet, so its
//! screens are read by the generic rule (a moving screen is busy).

use super::{Driver, Resume};

pub const DRIVER: Driver = Driver {
    name: "gemini",
    aliases: &[],
    table: None,
    title: "Gemini",
    // Claude Code's labels until its own dialogs are recorded (issue 16):
    // an option that does not say them is never chosen.
    labels: super::claude::labels,
    resume: Resume::None,
    hooks: false,
    convlog: false,
    prepared_config: false,
    fixtures: Some("gemini"),
    install: "install Gemini CLI (`npm install -g @google/gemini-cli`)",
    live_check: false,
    enter_delay: std::time::Duration::ZERO,
    digit_keys: true,
};
