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
mod gemini;
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
    /// It cannot be told a conversation id at start; after a restart it goes
    /// on with the folder's latest conversation when these arguments follow
    /// its binary (Codex: `codex resume --last`; with none it starts anew).
    Subcommand(&'static [&'static str]),
    /// It keeps the conversation in `file` in the agent's folder and reloads
    /// it when started with `flag` (Aider: `--restore-chat-history`,
    /// `.aider.chat.history.md`): a restart adds the flag once the file exists.
    HistoryFile {
        flag: &'static str,
        file: &'static str,
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
    /// Whether the CLI wrote conversation `id` of an agent working in `cwd`
    /// with `home` as its HOME, so that `resume ID` finds it: Claude Code's
    /// log under its project folder, Gemini CLI's chat file. The variants
    /// without an id have nothing to find.
    pub fn written(self, home: &std::path::Path, cwd: &std::path::Path, id: &str) -> bool {
        match self {
            Resume::SessionFlag { .. } => crate::convlog::project_dir(home, cwd)
                .join(format!("{id}.jsonl"))
                .exists(),
            Resume::GeminiSession { .. } => gemini::session_written(home, id),
            Resume::None | Resume::Subcommand(_) | Resume::HistoryFile { .. } => false,
        }
    }

    /// The (start, resume) flags, for the variants that have them.
    pub fn flags(self) -> Option<(&'static str, &'static str)> {
        match self {
            Resume::None | Resume::Subcommand(_) | Resume::HistoryFile { .. } => None,
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
    /// It logs usage limits in Codex's session logs under its `CODEX_HOME`
    /// (`codex_limits`), and runs one app-server per home.
    pub session_limit_log: bool,
    /// orc may pre-accept trust and settings in its config before a launch.
    pub prepared_config: bool,
    /// Where its recordings live under `fixtures/`.
    pub fixtures: Option<&'static str>,
    /// How to install it, for `orc doctor`.
    pub install: &'static str,
    /// `orc doctor --live` can drive it.
    pub live_check: bool,
    /// The least time between typing a message and pressing its Enter: a CLI
    /// that takes keys arriving in a burst for a paste turns an Enter inside
    /// the burst into a newline (Codex).
    pub enter_delay: std::time::Duration,
    /// A digit picks an option of a numbered dialog (Claude Code); without,
    /// orc moves the cursor to it and presses Enter (Codex 0.171: a digit
    /// does nothing in its trust question).
    pub digit_keys: bool,
    /// How long a limit whose screen shows no reset usually lasts, when
    /// `[credits] fallback_hours` does not say (None: that default, five
    /// hours, Claude's window).
    pub limit_cycle: Option<std::time::Duration>,
    /// Every message is typed as one bracketed paste, even a short line
    /// (Gemini CLI 0.61 drops a `?` typed key by key: its shortcut key).
    pub paste_always: bool,
    /// Environment variables that make it run headless however it was
    /// started: orc always runs it in a pane, so they are left out of its
    /// launch unless the agent's own `--env` sets them (Gemini CLI 0.61 takes
    /// `CI=true` or `GITHUB_ACTIONS=true` as "no terminal", cannot ask its
    /// trust question, and exits 55 at once).
    pub headless_env: &'static [&'static str],
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

/// A command with a [`Resume::Subcommand`]'s arguments put right after its
/// binary (`codex -m x` → `codex resume --last -m x`); `None` when they are
/// there already (a second restart) or the command is empty.
pub fn with_resume_args(command: &[String], args: &[&str]) -> Option<Vec<String>> {
    let (bin, rest) = command.split_first()?;
    if args.is_empty() || rest.len() >= args.len() && rest.iter().zip(args).all(|(a, b)| a == b) {
        return None;
    }
    let mut out = vec![bin.clone()];
    out.extend(args.iter().map(|a| a.to_string()));
    out.extend(rest.iter().cloned());
    Some(out)
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
    fn resume_args_go_after_the_binary_once() {
        let cmd: Vec<String> = ["/x/codex", "-m", "o3"].map(String::from).to_vec();
        let Resume::Subcommand(args) = of("codex").resume else {
            panic!("codex resumes with a subcommand");
        };
        let once = with_resume_args(&cmd, args).unwrap();
        assert_eq!(once, ["/x/codex", "resume", "--last", "-m", "o3"]);
        assert_eq!(with_resume_args(&once, args), None);
        assert_eq!(with_resume_args(&[], args), None);
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
        assert_eq!((of("codex").labels)(Dialog::Trust), &["Trust and continue"]);
    }
}
