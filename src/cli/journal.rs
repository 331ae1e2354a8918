//! `orc log`: reading the communications journals.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;

use super::Ctx;
use crate::shown::Shown;

/// `orc log`: the communications journals, oldest first.
pub(super) async fn log(
    ctx: &Ctx,
    agent: Option<&str>,
    since: Option<&str>,
    follow: bool,
) -> anyhow::Result<()> {
    let since = match since {
        None => None,
        Some(s) => Some(
            parse_since(s)
                .ok_or_else(|| anyhow!("--since {s:?}: use 30m, 2h, 1d (at most a few thousand years back), or an RFC 3339 time"))?,
        ),
    };
    let root = ctx.paths.state.join("projects");
    let mut seen: std::collections::HashSet<String> = Default::default();
    loop {
        let mut entries: Vec<serde_json::Value> = Vec::new();
        for file in journal_files(&root) {
            for line in std::fs::read_to_string(&file).unwrap_or_default().lines() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                    entries.push(v);
                }
            }
        }
        entries.sort_by(|a, b| a["at"].as_str().cmp(&b["at"].as_str()));
        for v in entries {
            let key = format!("{}{}{}", v["at"], v["id"], v["to"]);
            if !seen.insert(key) {
                continue;
            }
            let at = v["at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            if since.is_some_and(|s| at.is_none_or(|a| a < s)) {
                continue;
            }
            if let Some(a) = agent {
                if v["from"] != a && v["to"] != a {
                    continue;
                }
            }
            let text = v["text"].as_str().unwrap_or("");
            let first: String = text
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(100)
                .collect();
            let kind = v["kind"]
                .as_str()
                .or(v["action"].as_str().map(|_| "violation"))
                .unwrap_or("?");
            println!(
                "{}  {:<9} {} -> {}  {}",
                at.map(|a| a.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default(),
                Shown(kind),
                Shown(v["from"].as_str().unwrap_or("?")),
                Shown(v["to"].as_str().unwrap_or("?")),
                Shown(&first)
            );
        }
        if !follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn journal_files(root: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(projects) = std::fs::read_dir(root) else {
        return out;
    };
    for p in projects.filter_map(|e| e.ok()) {
        let days = p.path().join("logs/communications");
        for d in std::fs::read_dir(&days)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
        {
            for f in ["messages.jsonl", "violations.jsonl"] {
                let f = d.path().join(f);
                if f.exists() {
                    out.push(f);
                }
            }
        }
    }
    out
}

fn parse_since(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    if !s.is_ascii() {
        return None;
    }
    let (num, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = num.parse().ok().filter(|n| *n >= 0)?;
    // Checked all the way: a huge number is an error, not a panic.
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86400),
        _ => None,
    }?;
    let ago = chrono::Duration::try_seconds(secs)?;
    chrono::Utc::now()
        .checked_sub_signed(ago)
        .map(|t| t.fixed_offset())
}

#[cfg(test)]
mod since_tests {
    #[test]
    fn since_never_panics() {
        for s in [
            "99999999999999d",
            "9223372036854775807s",
            "-5m",
            "é",
            "d",
            "",
            "1x",
        ] {
            assert!(super::parse_since(s).is_none(), "{s}");
        }
        assert!(super::parse_since("30m").is_some());
    }

    #[test]
    fn tables_show_control_characters() {
        let t = crate::cli::table(&[
            vec!["NAME".into(), "ROLE".into()],
            vec!["a".into(), "dev\x1b[2J\x1b]0;t\x07\u{9b}".into()],
        ]);
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
        assert!(t.contains("dev\\x1b[2J"), "{t}");
        assert!(super::parse_since("2026-01-01T00:00:00Z").is_some());
    }
}
