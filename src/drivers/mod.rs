//! What differs per agent CLI, in one place: a [`Driver`] per CLI (Claude
//! Code, Codex, Gemini CLI, Aider, orc's sim, a plain shell), each a table
//! in its own file. Everything else in orc asks the driver instead of
//! matching a CLI's name: the detector table the screen module uses, the
//! window title, the labels dialogs are answered with, how a conversation
//! goes on after a restart, which structured signals the CLI has (hooks,
//! conversation log, config orc may prepare), and how to install it.
//!
//! Adding a CLI: a file here with its `DRIVER`, one line in [`ALL`], and
//! its detector table in `screen/tables/`.

mod aider;
pub mod claude;
mod codex;
pub(crate) mod gemini;
mod shell;
mod sim;

use crate::screen::detect::Dialog;

/// How a CLI goes on with its conversation after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// It cannot: a restart starts a new conversation.
    None,
    /// Started with `start ID`, it goes on with `resume ID` once the CLI
    /// wrote the conversation.
    SessionFlag {
        start: &'static str,
        resume: &'static str,
    },
    /// As `SessionFlag`, for Gemini CLI: the conversation is written under
    /// `$HOME/.gemini/tmp/<project>/chats/` (see `gemini::session_written`);
    /// once it is, `start ID` again fails (`Session ID ... already exists`,
    /// exit 42) and `resume ID` goes on with it.
    GeminiSession {
        start: &'static str,
        resume: &'static str,
    },
}

impl Resume {
    /// The (start, resume) flags, for the variants that have them.
    pub fn flags(self) -> Option<(&'static str, &'static str)> {
        match self {
            Resume::None => None,
            Resume::SessionFlag { start, resume } | Resume::GeminiSession { start, resume } => {
                Some((start, resume))
            }
        }
    }
}

/// One agent CLI.
#[derive(Debug)]
pub struct Driver {
    /// The detector name profiles give (`claude-code`).
    pub name: &'static str,
    /// Other names profiles may give for it (`claude`).
    pub aliases: &'static [&'static str],
    /// The detector table its screens are read with, if it has one.
    pub table: Option<&'static str>,
    /// The first word of its windows' titles (`Claude-Developer`).
    pub title: &'static str,
    /// The option labels orc answers a dialog with (policy decides whether).
    pub labels: fn(Dialog) -> &'static [&'static str],
    pub resume: Resume,
    /// It runs Claude Code's hooks (`orc hooks install`) and status line.
    pub hooks: bool,
    /// It keeps Claude Code's conversation log (a usage-limit signal).
    pub convlog: bool,
    /// orc may pre-accept trust and settings in its config before a launch.
    pub prepared_config: bool,
    /// Where its recordings live under `fixtures/`.
    pub fixtures: Option<&'static str>,
    /// How to install it, for `orc doctor`.
    pub install: &'static str,
    /// `orc doctor --live` can drive it.
    pub live_check: bool,
}

/// Every driver orc has.
pub const ALL: &[&Driver] = &[
    &claude::DRIVER,
    &codex::DRIVER,
    &gemini::DRIVER,
    &aider::DRIVER,
    &sim::DRIVER,
    &shell::DRIVER,
];

/// Every detector name a profile may give: drivers' names and aliases.
pub fn names() -> Vec<&'static str> {
    ALL.iter()
        .flat_map(|d| std::iter::once(d.name).chain(d.aliases.iter().copied()))
        .collect()
}

/// The driver for a detector name (`claude`, `claude-code@2`), if orc knows it.
pub fn find(detector: &str) -> Option<&'static Driver> {
    let base = detector.split('@').next().unwrap_or("");
    ALL.iter()
        .copied()
        .find(|d| d.name == base || d.aliases.contains(&base))
}

/// The driver for a detector name; an unknown one is driven like a shell
/// (no dialogs answered, no resume, no signals).
pub fn of(detector: &str) -> &'static Driver {
    find(detector).unwrap_or(&shell::DRIVER)
}

/// The detector table for a profile's detector name (`claude`, `sim`,
/// `claude-code@2025`), as its driver names it; a name no driver has is
/// looked up as a table name.
pub fn table_for(detector: &str) -> Option<&'static crate::screen::detect::Detector> {
    match find(detector) {
        Some(d) => d.table.and_then(crate::screen::detect::table_for),
        None => crate::screen::detect::table_for(detector),
    }
}

/// No dialog answered by label.
pub(crate) fn no_labels(_: Dialog) -> &'static [&'static str] {
    &[]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_find_their_driver() {
        assert_eq!(of("claude").name, "claude-code");
        assert_eq!(of("claude-code@2").name, "claude-code");
        assert_eq!(of("codex").title, "Codex");
        assert_eq!(of("no-such-cli").name, "shell");
        assert!(find("no-such-cli").is_none());
        for d in ALL {
            assert_eq!(find(d.name).map(|f| f.name), Some(d.name));
        }
    }

    #[test]
    fn only_claude_code_and_the_sim_have_claude_signals() {
        let with_hooks: Vec<&str> = ALL.iter().filter(|d| d.hooks).map(|d| d.name).collect();
        assert_eq!(with_hooks, vec!["claude-code"]);
        assert!(of("claude").convlog && of("claude").prepared_config);
        assert!(!of("codex").convlog && !of("aider").prepared_config);
    }

    #[test]
    fn every_table_a_driver_names_exists() {
        for d in ALL {
            if let Some(t) = d.table {
                assert!(
                    crate::screen::detect::detectors().contains_key(t),
                    "{}: no table {t}",
                    d.name
                );
            }
        }
    }

    #[test]
    fn dialog_labels_are_the_drivers() {
        assert_eq!(
            (of("claude").labels)(Dialog::Trust)[0],
            "Yes, I trust this folder"
        );
        assert_eq!(
            (of("sim").labels)(Dialog::Trust)[0],
            "Yes, I trust this folder"
        );
        assert!((of("shell").labels)(Dialog::Trust).is_empty());
    }
}
