//! OpenAI Codex CLI (`@openai/codex`, recorded: 0.169.0, 0.171.0).

use std::time::Duration;

use super::{Driver, Resume};
use crate::screen::detect::Dialog;

pub const DRIVER: Driver = Driver {
    name: "codex",
    aliases: &[],
    table: Some("codex"),
    title: "Codex",
    labels,
    // No flag names a conversation at start; `codex resume --last` goes on
    // with the newest one recorded for the folder (each orc agent has its
    // own folder), and starts a new one when there is none.
    resume: Resume::Subcommand(&["resume", "--last"]),
    hooks: false,
    convlog: false,
    session_limit_log: true,
    prepared_config: false,
    fixtures: Some("codex"),
    install: "install Codex (`npm install -g @openai/codex`)",
    live_check: true,
    enter_delay: ENTER_DELAY,
    digit_keys: false,
    limit_cycle: Some(std::time::Duration::from_secs(15 * 60)),
    paste_always: false,
    headless_env: &[],
};

/// Keys arriving back to back are a paste to Codex's composer, and an Enter
/// within that burst is kept as a newline (0.171: an Enter 20 ms after
/// `send-keys -l` stayed in the composer; 150 ms later it submitted).
pub const ENTER_DELAY: Duration = Duration::from_millis(400);

/// The labels orc answers Codex's dialogs with (0.169/0.171 recordings):
/// `› 1. Trust and continue`; a command approval's `› 1. Yes, proceed (y)`
/// (the hint in parentheses is not part of the label).
pub fn labels(d: Dialog) -> &'static [&'static str] {
    match d {
        Dialog::Trust => &["Trust and continue"],
        Dialog::Permission => &["Yes, proceed"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codex_answers_with_its_own_labels_only() {
        assert_eq!(labels(Dialog::Trust), &["Trust and continue"]);
        assert_eq!(labels(Dialog::Permission), &["Yes, proceed"]);
        // Claude Code's wordings are not Codex's.
        assert!(!labels(Dialog::Trust).contains(&"Yes, I trust this folder"));
        assert!(labels(Dialog::BypassWarning).is_empty());
        assert!(labels(Dialog::UsageLimitMenu).is_empty());
        assert!(DRIVER.enter_delay >= Duration::from_millis(150));
        // Its trust question ignores a digit: Enter on the cursor answers.
        assert!(!crate::drivers::of("codex").digit_keys);
    }
}
