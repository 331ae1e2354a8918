//! Claude Code's conversation log, read as a second signal beside the screen.
//!
//! The CLI appends every record of a conversation to
//! `$HOME/.claude/projects/<slug>/<session>.jsonl`. A usage limit shows up as
//! an assistant record with `"isApiErrorMessage": true, "apiErrorStatus": 429`
//! whose text is the same limit line the screen shows (with its reset time).
//! A 429 that is not a usage limit (a transient rate limit) has other text.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// The folder name Claude Code uses for a working directory: every
/// character other than an ASCII letter or digit becomes `-` (one per UTF-16
/// unit); names over 200 characters are cut and get a hash suffix.
pub fn slug(cwd: &str) -> String {
    let s: String = cwd
        .encode_utf16()
        .map(|u| {
            if u < 128 && (u as u8).is_ascii_alphanumeric() {
                u as u8 as char
            } else {
                '-'
            }
        })
        .collect();
    if s.len() <= 200 {
        return s;
    }
    // A Java-style string hash over UTF-16 units, in base 36.
    let mut h: i32 = 0;
    for u in cwd.encode_utf16() {
        h = h.wrapping_shl(5).wrapping_sub(h).wrapping_add(u as i32);
    }
    format!("{}-{}", &s[..200], base36(h.unsigned_abs()))
}

fn base36(mut n: u32) -> String {
    if n == 0 {
        return "0".into();
    }
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The folder holding the conversation logs of an agent working in `cwd`.
pub fn project_dir(home: &Path, cwd: &Path) -> PathBuf {
    let real = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
    home.join(".claude")
        .join("projects")
        .join(slug(&real.to_string_lossy()))
}

/// A usage-limit record found in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitRecord {
    pub at: DateTime<Utc>,
    /// The limit line, e.g. `You've hit your session limit · resets 1:55pm (UTC)`.
    pub text: String,
}

/// If this log line is a usage-limit error, the record.
pub fn limit_record(line: &str) -> Option<LimitRecord> {
    if !line.contains("apiErrorStatus") {
        return None; // cheap skip of ordinary records
    }
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v.get("type")?.as_str()? != "assistant"
        || v.get("isApiErrorMessage")?.as_bool() != Some(true)
        || v.get("apiErrorStatus")?.as_u64() != Some(429)
    {
        return None;
    }
    let text = v
        .pointer("/message/content")?
        .as_array()?
        .iter()
        .filter_map(|b| b.get("text").and_then(|t| t.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    // "Server is temporarily limiting requests (not your usage limit)" is a
    // rate limit, not a usage limit.
    let lower = text.to_lowercase();
    if lower.contains("not your usage limit") || !lower.contains("limit") {
        return None;
    }
    let at = v
        .get("timestamp")
        .and_then(|t| t.as_str())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))?;
    Some(LimitRecord { at, text })
}

/// Follows the newest log in a project folder, from a given instant on.
#[derive(Debug)]
pub struct Tail {
    dir: PathBuf,
    since: DateTime<Utc>,
    file: Option<PathBuf>,
    offset: u64,
    partial: String,
}

impl Tail {
    pub fn new(dir: PathBuf, since: DateTime<Utc>) -> Self {
        Tail {
            dir,
            since,
            file: None,
            offset: 0,
            partial: String::new(),
        }
    }

    fn newest(&self) -> Option<PathBuf> {
        std::fs::read_dir(&self.dir)
            .ok()?
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .max()
            .map(|(_, p)| p)
    }

    /// Limit records written since the last call (and after `since`).
    pub fn poll(&mut self) -> Vec<LimitRecord> {
        let newest = self.newest();
        if newest.is_some() && newest != self.file {
            self.file = newest;
            self.offset = 0;
            self.partial.clear();
        }
        let Some(path) = &self.file else {
            return Vec::new();
        };
        let Ok(mut f) = std::fs::File::open(path) else {
            return Vec::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            self.offset = 0; // rewritten
            self.partial.clear();
        }
        if len == self.offset || f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        if f.take(len - self.offset).read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.offset += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let mut found = Vec::new();
        while let Some(nl) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=nl).collect();
            if let Some(r) = limit_record(line.trim_end()) {
                if r.at >= self.since {
                    found.push(r);
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn slugs_match_what_claude_code_wrote() {
        // Seen on disk with Claude Code 2.1.197.
        assert_eq!(
            slug("/tmp/jsonl-research/work.dir/My_Proj-1"),
            "-tmp-jsonl-research-work-dir-My-Proj-1"
        );
        assert_eq!(
            slug("/tmp/jsonl-research/work.dir/sp ace+at@x~y,z"),
            "-tmp-jsonl-research-work-dir-sp-ace-at-x-y-z"
        );
        assert_eq!(
            slug("/tmp/jsonl-research/work.dir/.hidden/__x--y"),
            "-tmp-jsonl-research-work-dir--hidden---x--y"
        );
        assert_eq!(
            slug("/tmp/jsonl-research/work.dir/ünï-ç"),
            "-tmp-jsonl-research-work-dir--n---"
        );
        assert_eq!(
            slug("/tmp/jsonl-research/work.dir/e😀x"),
            "-tmp-jsonl-research-work-dir-e--x"
        );
        let long = format!("/tmp/{}", "a".repeat(300));
        let s = slug(&long);
        assert_eq!(s.len(), 200 + 1 + s.rsplit('-').next().unwrap().len());
        assert!(s.starts_with("-tmp-aaa"));
    }

    const LIMIT: &str = r#"{"parentUuid":"5882","isSidechain":false,"type":"assistant","uuid":"e857","timestamp":"2026-11-25T13:53:53.996Z","message":{"id":"5f86","model":"<synthetic>","role":"assistant","stop_reason":"stop_sequence","type":"message","content":[{"type":"text","text":"You've hit your session limit · resets 1:55pm (UTC)"}]},"requestId":"req_stand_in_000006","error":"rate_limit","isApiErrorMessage":true,"apiErrorStatus":429,"userType":"external","entrypoint":"cli","cwd":"/w","sessionId":"3f2b","version":"2.1.197"}"#;
    const RATE: &str = r#"{"type":"assistant","timestamp":"2026-11-25T13:54:00.000Z","message":{"content":[{"type":"text","text":"API Error: Server is temporarily limiting requests (not your usage limit) · Rate limited"}]},"error":"rate_limit","isApiErrorMessage":true,"apiErrorStatus":429}"#;
    const NORMAL: &str = r#"{"type":"assistant","timestamp":"2026-11-25T13:52:00.000Z","message":{"id":"msg_1","model":"claude-sonnet-5","content":[{"type":"text","text":"You hit your limit of patience? No."}],"stop_reason":"end_turn"}}"#;

    #[test]
    fn only_usage_limit_errors_count() {
        let r = limit_record(LIMIT).unwrap();
        assert_eq!(
            r.text,
            "You've hit your session limit · resets 1:55pm (UTC)"
        );
        assert_eq!(r.at.to_rfc3339(), "2026-11-25T13:53:53.996+00:00");
        assert_eq!(limit_record(RATE), None);
        assert_eq!(limit_record(NORMAL), None);
        assert_eq!(limit_record("not json apiErrorStatus"), None);
    }

    #[test]
    fn tail_reads_new_lines_once_and_skips_old_records() {
        let dir = tempfile::tempdir().unwrap();
        let since = DateTime::parse_from_rfc3339("2026-11-25T13:53:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut tail = Tail::new(dir.path().to_path_buf(), since);
        assert!(tail.poll().is_empty(), "no log yet");
        let p = dir.path().join("s1.jsonl");
        let old = LIMIT.replace("13:53:53", "13:10:00");
        std::fs::write(&p, format!("{NORMAL}\n{old}\n")).unwrap();
        assert!(
            tail.poll().is_empty(),
            "a limit from before the agent started"
        );
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        // Half a line first: nothing until it is complete.
        let (a, b) = LIMIT.split_at(100);
        f.write_all(a.as_bytes()).unwrap();
        assert!(tail.poll().is_empty());
        f.write_all(format!("{b}\n{RATE}\n").as_bytes()).unwrap();
        let got = tail.poll();
        assert_eq!(got.len(), 1);
        assert!(tail.poll().is_empty(), "read once");
    }
}
