//! orc's own simulated CLI (`orc sim-agent`): Claude Code's screens, read
//! with its table; no hooks, log or config of its own.

use super::{Driver, Resume};

pub const DRIVER: Driver = Driver {
    name: "sim",
    aliases: &[],
    table: Some("claude-code"),
    title: "Sim",
    labels: super::claude::labels,
    resume: Resume::None,
    hooks: false,
    convlog: false,
    session_limit_log: false,
    prepared_config: false,
    fixtures: None,
    install: "it is built in (`orc sim-agent`)",
    live_check: true,
    enter_delay: std::time::Duration::ZERO,
    digit_keys: true,
    limit_cycle: None,
    paste_always: false,
    headless_env: &[],
};
