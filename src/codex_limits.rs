//! Codex's session logs (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`):
//! the usage-limit state Codex writes there (`rate_limits` on its
//! `token_count` events, read from the `x-codex-*` response headers), as
//! orc's usage windows; and a tail that follows the newest log of one
//! working folder.
//!
//! Which `CODEX_HOME`: the agent's own (`--env CODEX_HOME`, else
//! `--env HOME` + `.codex`), else the one orc runs with (`$CODEX_HOME`,
//! `~/.codex`), the same rule as Claude Code's conversation log. orc does
//! not give each agent a home of its own: the login (`auth.json`) and the
//! user's config live there. Logs are told apart by the folder in their
//! first record (`session_meta.cwd`); two agents in one folder and one
//! home share a login, and so the same limits.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::proto::{StatusReport, UsageWindow};

/// One usage window as Codex logged it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub used_percent: f64,
    pub window_minutes: Option<u64>,
    pub resets_at: Option<DateTime<Utc>>,
}

/// One `rate_limits` record.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// When Codex wrote it.
    pub at: DateTime<Utc>,
    pub primary: Option<Window>,
    pub secondary: Option<Window>,
}

/// A window's length in minutes that is orc's 5-hour and 7-day windows.
const FIVE_HOURS: u64 = 300;
const SEVEN_DAYS: u64 = 7 * 24 * 60;

impl Limits {
    /// As the status line's report: a window goes where its length says
    /// (300 min: five_hour, 10080: seven_day), else primary is the 5-hour
    /// and secondary the 7-day one (Codex's own naming).
    pub fn report(&self) -> StatusReport {
        let mut r = StatusReport::default();
        for (w, default_short) in [(self.primary, true), (self.secondary, false)] {
            let Some(w) = w else { continue };
            let u = Some(UsageWindow {
                used_percent: w.used_percent,
                resets_at: w.resets_at,
            });
            let short = match w.window_minutes {
                Some(FIVE_HOURS) => true,
                Some(SEVEN_DAYS) => false,
                _ => default_short,
            };
            match short {
                true if r.five_hour.is_none() => r.five_hour = u,
                false if r.seven_day.is_none() => r.seven_day = u,
                _ => {}
            }
        }
        r
    }

    /// The window that is used up and says when it resets (the later reset
    /// if both are): the limit is on until then.
    pub fn exhausted(&self) -> Option<(Window, DateTime<Utc>)> {
        [self.primary, self.secondary]
            .into_iter()
            .flatten()
            .filter(|w| w.used_percent >= 100.0)
            .filter_map(|w| Some((w, w.resets_at?)))
            .max_by_key(|(_, t)| *t)
    }
}

fn window(v: &Value) -> Option<Window> {
    Some(Window {
        used_percent: v["used_percent"].as_f64()?,
        window_minutes: v["window_minutes"].as_u64(),
        resets_at: v["resets_at"]
            .as_i64()
            .or_else(|| v["resets_at"].as_f64().map(|f| f as i64))
            .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0)),
    })
}

/// A session-log line's usage limits, if it has any.
pub fn limits_record(line: &str) -> Option<Limits> {
    if !line.contains("\"rate_limits\"") {
        return None; // most lines: no JSON parse
    }
    let v: Value = serde_json::from_str(line).ok()?;
    let rl = &v["payload"]["rate_limits"];
    let (primary, secondary) = (window(&rl["primary"]), window(&rl["secondary"]));
    if primary.is_none() && secondary.is_none() {
        return None;
    }
    Some(Limits {
        at: v["timestamp"].as_str()?.parse().ok()?,
        primary,
        secondary,
    })
}

/// The working folder a session log's first record names.
pub fn session_cwd(first_line: &str) -> Option<PathBuf> {
    let v: Value = serde_json::from_str(first_line).ok()?;
    (v["type"] == "session_meta").then_some(())?;
    v["payload"]["cwd"].as_str().map(PathBuf::from)
}

/// The `CODEX_HOME` an agent with this `--env` runs Codex with.
pub fn codex_home(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    if let Some(h) = env.get("CODEX_HOME") {
        return Some(PathBuf::from(h));
    }
    if let Some(h) = env.get("HOME") {
        return Some(Path::new(h).join(".codex"));
    }
    if let Some(h) = std::env::var_os("CODEX_HOME") {
        return Some(PathBuf::from(h));
    }
    Some(Path::new(&std::env::var_os("HOME")?).join(".codex"))
}

/// The newest entries of a folder, by name (`YYYY`, `MM`, `DD` sort so).
fn newest_dirs(dir: &Path, n: usize) -> Vec<PathBuf> {
    let mut d: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    d.sort();
    d.into_iter().rev().take(n).collect()
}

/// Follows the newest session log of one folder, from a given instant on.
#[derive(Debug)]
pub struct Tail {
    sessions: PathBuf,
    cwd: PathBuf,
    since: DateTime<Utc>,
    file: Option<PathBuf>,
    offset: u64,
    partial: String,
    /// Logs already looked at: this folder's (true) or another's.
    seen: std::collections::HashMap<PathBuf, bool>,
}

impl Tail {
    pub fn new(codex_home: &Path, cwd: &Path, since: DateTime<Utc>) -> Self {
        Tail {
            sessions: codex_home.join("sessions"),
            cwd: cwd.to_path_buf(),
            since,
            file: None,
            offset: 0,
            partial: String::new(),
            seen: Default::default(),
        }
    }

    /// The newest log of this folder in the last two day folders (a
    /// session that began before midnight goes on in yesterday's).
    fn newest(&mut self) -> Option<PathBuf> {
        let mut days = Vec::new();
        for y in newest_dirs(&self.sessions, 2) {
            for m in newest_dirs(&y, 2) {
                days.extend(newest_dirs(&m, 2));
            }
        }
        days.sort();
        let mut logs: Vec<(std::time::SystemTime, PathBuf)> = days
            .iter()
            .rev()
            .take(2)
            .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("rollout-") && n.ends_with(".jsonl"))
            })
            .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
            .collect();
        logs.sort();
        for (_, p) in logs.into_iter().rev() {
            match self.seen.get(&p) {
                Some(true) => return Some(p),
                Some(false) => continue,
                None => {}
            }
            // Only the first line is read (a log grows to megabytes).
            let mut first = String::new();
            let read = std::fs::File::open(&p).and_then(|f| {
                std::io::BufRead::read_line(&mut std::io::BufReader::new(f), &mut first)
            });
            if read.is_err() || !first.ends_with('\n') {
                continue; // not written yet: looked at again next time
            }
            let mine = session_cwd(first.trim_end()).is_some_and(|c| c == self.cwd);
            self.seen.insert(p.clone(), mine);
            if mine {
                return Some(p);
            }
        }
        None
    }

    /// Limit records written since the last call (and after `since`).
    pub fn poll(&mut self) -> Vec<Limits> {
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
            self.offset = 0;
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
            if let Some(r) = limits_record(line.trim_end()) {
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

    const DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/codex/0.171.0/session-logs"
    );

    fn recorded(name: &str) -> (String, Value) {
        let log = std::fs::read_to_string(format!("{DIR}/{name}.jsonl")).unwrap();
        let truth = std::fs::read_to_string(format!("{DIR}/{name}.json")).unwrap();
        (log, serde_json::from_str(&truth).unwrap())
    }

    /// A header's value as the recorder sent it.
    fn sent(truth: &Value, name: &str) -> f64 {
        truth["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .and_then(|h| h["value"].as_str())
            .unwrap()
            .parse()
            .unwrap()
    }

    fn only_record(log: &str) -> Limits {
        let all: Vec<Limits> = log.lines().filter_map(limits_record).collect();
        assert_eq!(all.len(), 1, "one turn, one record");
        all.into_iter().next().unwrap()
    }

    #[test]
    fn the_recorded_log_gives_the_windows_the_headers_said() {
        let (log, truth) = recorded("limits");
        let r = only_record(&log);
        for (w, which) in [(r.primary, "primary"), (r.secondary, "secondary")] {
            let w = w.unwrap();
            let h = |f: &str| sent(&truth, &format!("x-codex-{which}-{f}"));
            assert_eq!(w.used_percent, h("used-percent"));
            assert_eq!(w.window_minutes, Some(h("window-minutes") as u64));
            assert_eq!(w.resets_at.unwrap().timestamp(), h("reset-at") as i64);
        }
        let rep = r.report();
        assert_eq!(rep.five_hour.unwrap().used_percent, 42.0);
        assert_eq!(rep.seven_day.unwrap().used_percent, 7.5);
        assert!(r.exhausted().is_none(), "42% is not a limit");
        assert_eq!(
            session_cwd(log.lines().next().unwrap()),
            Some(PathBuf::from(truth["cwd"].as_str().unwrap()))
        );
    }

    #[test]
    fn a_used_up_window_is_a_limit_until_its_reset() {
        let (log, truth) = recorded("limits-full");
        let r = only_record(&log);
        let (w, until) = r.exhausted().expect("100% is a limit");
        assert_eq!(w.used_percent, 100.0);
        assert_eq!(
            until.timestamp(),
            sent(&truth, "x-codex-primary-reset-at") as i64
        );
        // The 7-day window at 61% is not.
        assert_eq!(r.report().seven_day.unwrap().used_percent, 61.0);
    }

    #[test]
    fn windows_go_by_their_length() {
        let w = |m| Window {
            used_percent: 5.0,
            window_minutes: Some(m),
            resets_at: None,
        };
        let r = Limits {
            at: Utc::now(),
            primary: Some(w(SEVEN_DAYS)),
            secondary: Some(w(FIVE_HOURS)),
        }
        .report();
        assert!(r.five_hour.is_some() && r.seven_day.is_some());
        let r = Limits {
            at: Utc::now(),
            primary: Some(w(60)),
            secondary: None,
        }
        .report();
        assert!(r.five_hour.is_some() && r.seven_day.is_none());
    }

    #[test]
    fn lines_without_limits_are_none() {
        assert!(
            limits_record(r#"{"type":"event_msg","payload":{"type":"task_started"}}"#).is_none()
        );
        assert!(limits_record(
            r#"{"timestamp":"2026-12-03T11:38:48.457Z","payload":{"rate_limits":null}}"#
        )
        .is_none());
        assert!(limits_record("{\"rate_limits\": not json").is_none());
    }

    #[test]
    fn codex_home_is_the_agents_then_orcs() {
        let env = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            codex_home(&env(&[("CODEX_HOME", "/c"), ("HOME", "/h")])),
            Some(PathBuf::from("/c"))
        );
        assert_eq!(
            codex_home(&env(&[("HOME", "/h")])),
            Some(PathBuf::from("/h/.codex"))
        );
    }

    /// The recorded log, written as Codex writes it, into a scratch home:
    /// the tail finds this folder's log (not another folder's) and reads
    /// each record once, as it is appended.
    #[test]
    fn the_tail_follows_this_folders_log_only() {
        let (log, truth) = recorded("limits");
        let home = tempfile::tempdir().unwrap();
        let day = home.path().join("sessions/2026/12/03");
        std::fs::create_dir_all(&day).unwrap();
        let cwd = PathBuf::from(truth["cwd"].as_str().unwrap());
        let since: DateTime<Utc> = "2026-12-03T00:00:00Z".parse().unwrap();
        let mut tail = Tail::new(home.path(), &cwd, since);
        assert!(tail.poll().is_empty(), "no log yet");
        let other = log.replace(cwd.to_str().unwrap(), "/elsewhere");
        std::fs::write(day.join("rollout-b-other.jsonl"), &other).unwrap();
        assert!(tail.poll().is_empty(), "another folder's log");
        let lines: Vec<&str> = log.lines().collect();
        let cut = lines
            .iter()
            .position(|l| l.contains("rate_limits"))
            .unwrap();
        let mine = day.join("rollout-a-mine.jsonl");
        std::fs::write(&mine, lines[..cut].join("\n") + "\n").unwrap();
        assert!(tail.poll().is_empty(), "no limits yet");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&mine)
            .unwrap();
        std::io::Write::write_all(&mut f, (lines[cut..].join("\n") + "\n").as_bytes()).unwrap();
        let got = tail.poll();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].primary.unwrap().used_percent, 42.0);
        assert!(tail.poll().is_empty(), "read once");
        // Records from before the pane started are not this launch's.
        let mut late = Tail::new(home.path(), &cwd, Utc::now());
        assert!(late.poll().is_empty());
    }
}
