//! A plain command (a shell, a script): no table, no dialogs, no signals.

use super::{Driver, Resume};

pub const DRIVER: Driver = Driver {
    name: "shell",
    aliases: &[],
    table: None,
    title: "",
    labels: super::no_labels,
    resume: Resume::None,
    hooks: false,
    convlog: false,
    session_limit_log: false,
    prepared_config: false,
    fixtures: None,
    install: "install it",
    live_check: false,
    enter_delay: std::time::Duration::ZERO,
    digit_keys: true,
    limit_cycle: None,
    paste_always: false,
    headless_env: &[],
};
