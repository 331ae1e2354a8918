//! Google Gemini CLI (`@google/gemini-cli`; recorded: 0.61.0).

use super::{Driver, Resume};
use crate::screen::detect::Dialog;

pub const DRIVER: Driver = Driver {
    name: "gemini",
    aliases: &[],
    table: Some("gemini"),
    title: "Gemini",
    labels,
    // `--session-id UUID` starts a conversation under that id; `--resume
    // UUID` goes on with it (0.61.0).
    resume: Resume::SessionFlag {
        start: "--session-id",
        resume: "--resume",
    },
    hooks: false,
    convlog: false,
    prepared_config: false,
    fixtures: Some("gemini"),
    install: "install Gemini CLI (`npm install -g @google/gemini-cli`)",
    live_check: false,
};

/// Gemini CLI's own option wordings (fixtures/gemini/README.md). A tool
/// confirmation is allowed once, never "for this session".
pub fn labels(d: Dialog) -> &'static [&'static str] {
    match d {
        // `1. Trust folder (proj)`: the folder's name is a trailing hint.
        Dialog::Trust => &["Trust folder"],
        Dialog::Permission => &["Allow once"],
        // `1. Keep trying` / `2. Stop`: stop, and orc resumes after the reset.
        Dialog::UsageLimitMenu => &["Stop", "Stop - Abort request"],
        _ => &[],
    }
}
