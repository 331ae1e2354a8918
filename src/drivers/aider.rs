//! Aider (`aider-chat`).
//!
//! Its questions are one line, `Question? (Y)es/(N)o[/(D)on't ask again]
//! [Yes]:`, answered by typing a word or with Enter for the bracketed
//! default. orc answers only with Enter, so only where the default is the
//! wanted answer (the dialog reader offers nothing else), and only the
//! questions below; policy (`agent::answer`) decides whether:
//!
//! - `Add .aider* to .gitignore (recommended)?` (setup: always): aider's
//!   chat history and caches stay out of the agent's commits.
//! - `Add file to the chat?` (add-file: always): a file of the agent's repo
//!   that a reply named is read into the conversation.
//! - `Run shell command?` / `Run shell commands?`, `Add command output to
//!   the chat?` and `Create new file?` (permission: only for agents with
//!   `auto_approve`). Note that
//!   `--yes-always` answers *No* to `Run shell command?` (aider requires an
//!   explicit yes there): a team whose Aider must run commands needs orc's
//!   answer, i.e. `auto_approve`, which lets the model run any command it
//!   proposes in the agent's folder.
//! - Never `(D)on't ask again`, and never `Open URL for more info?` (Yes
//!   starts a browser): those are left to a person.

use super::{Driver, Resume};
use crate::screen::detect::Dialog;

pub const DRIVER: Driver = Driver {
    name: "aider",
    aliases: &[],
    table: Some("aider"),
    title: "Aider",
    labels,
    // Aider writes every turn to `.aider.chat.history.md` in the repo's
    // root (the agent's folder) and reads it back with this flag.
    resume: Resume::HistoryFile {
        flag: "--restore-chat-history",
        file: ".aider.chat.history.md",
    },
    hooks: false,
    convlog: false,
    session_limit_log: false,
    prepared_config: false,
    fixtures: Some("aider"),
    install: "install Aider (`scripts/install-aider.sh`, or `pip install aider-chat==0.86.2`)",
    live_check: true,
    enter_delay: std::time::Duration::ZERO,
    digit_keys: true,
    limit_cycle: Some(std::time::Duration::from_secs(5 * 60)),
    paste_always: false,
    headless_env: &[],
};

/// The labels orc answers Aider's questions with, when policy allows: the
/// default in brackets, taken with Enter.
pub fn labels(d: Dialog) -> &'static [&'static str] {
    match d {
        Dialog::Setup | Dialog::Permission | Dialog::AddFile => &["Yes"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_setup_add_file_and_permission_are_answered_and_never_dont_ask_again() {
        assert_eq!(labels(Dialog::Permission), &["Yes"]);
        assert_eq!(labels(Dialog::Setup), &["Yes"]);
        assert_eq!(labels(Dialog::AddFile), &["Yes"]);
        for d in [
            Dialog::Menu,
            Dialog::Trust,
            Dialog::UsageLimitMenu,
            Dialog::Question,
            Dialog::ApiKey,
        ] {
            assert!(labels(d).is_empty(), "{d:?}");
        }
        for d in [Dialog::Setup, Dialog::Permission, Dialog::AddFile] {
            assert!(labels(d).iter().all(|l| !l.contains("ask again")));
        }
    }
}
