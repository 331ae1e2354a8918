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
    resume: Resume::GeminiSession {
        start: "--session-id",
        resume: "--resume",
    },
    hooks: false,
    convlog: false,
    session_limit_log: false,
    prepared_config: false,
    fixtures: Some("gemini"),
    install: "install Gemini CLI (`npm install -g @google/gemini-cli`)",
    live_check: false,
    enter_delay: std::time::Duration::ZERO,
    digit_keys: true,
    limit_cycle: Some(std::time::Duration::from_secs(15 * 60)),
    paste_always: true,
    // Its `isHeadlessMode` (0.61.0) reads these before it looks for a TTY.
    headless_env: &["CI", "GITHUB_ACTIONS"],
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

/// Whether Gemini CLI wrote conversation `id` under `home`: a
/// `.gemini/tmp/<project>/chats/session-<time>-<first 8 of id>.jsonl` whose
/// first record names the id (0.61.0).
pub(crate) fn session_written(home: &std::path::Path, id: &str) -> bool {
    let Some(short) = id.get(..8) else {
        return false;
    };
    let suffix = format!("-{short}.jsonl");
    let Ok(projects) = std::fs::read_dir(home.join(".gemini/tmp")) else {
        return false;
    };
    projects.flatten().any(|p| {
        std::fs::read_dir(p.path().join("chats"))
            .map(|files| {
                files.flatten().any(|f| {
                    let name = f.file_name().to_string_lossy().into_owned();
                    name.starts_with("session-")
                        && name.ends_with(&suffix)
                        && first_line_names(&f.path(), id)
                })
            })
            .unwrap_or(false)
    })
}

fn first_line_names(path: &std::path::Path, id: &str) -> bool {
    use std::io::{BufRead, Read};
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut line = String::new();
    let _ = std::io::BufReader::new(f.take(64 * 1024)).read_line(&mut line);
    serde_json::from_str::<serde_json::Value>(&line)
        .ok()
        .and_then(|v| v.get("sessionId").and_then(|s| s.as_str()).map(|s| s == id))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_allow_once_never_for_the_session() {
        assert_eq!(labels(Dialog::Permission), &["Allow once"]);
        assert!(!labels(Dialog::Permission)
            .iter()
            .any(|l| l.contains("session") || l.contains("always")));
        assert_eq!(labels(Dialog::Trust), &["Trust folder"]);
        assert!(labels(Dialog::Question).is_empty());
    }

    #[test]
    fn a_session_counts_as_written_only_with_its_id_inside() {
        let dir = std::env::temp_dir().join(format!("orc-gemini-sess-{}", std::process::id()));
        let chats = dir.join(".gemini/tmp/proj/chats");
        std::fs::create_dir_all(&chats).unwrap();
        let id = "11111111-2222-4333-8444-555555555555";
        assert!(!session_written(&dir, id));
        // Same first 8 characters, another id inside: not it.
        std::fs::write(
            chats.join("session-2026-12-03T11-50-11111111.jsonl"),
            "{\"sessionId\":\"11111111-0000-4333-8444-555555555555\",\"kind\":\"main\"}\n",
        )
        .unwrap();
        assert!(!session_written(&dir, id));
        std::fs::write(
            chats.join("session-2026-12-03T11-51-11111111.jsonl"),
            format!("{{\"sessionId\":\"{id}\",\"kind\":\"main\"}}\n{{}}\n"),
        )
        .unwrap();
        assert!(session_written(&dir, id));
        assert!(!session_written(&dir, "short"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
