//! When does a usage limit lift? Parses the CLIs' wordings into an instant.
//!
//! Seen wordings (Claude Code and friends):
//! `You've hit your limit · resets 7:26am (UTC)`,
//! `You've hit your weekly limit · resets 3am (Europe/London)`,
//! `Claude usage limit reached. Your limit will reset at 6pm (Asia/Taipei).`,
//! `5-hour limit reached ∙ resets 18:00`,
//! `You're out of extra usage · resets 11:30am (Asia/Colombo)`,
//! `Usage limit reached · continuing automatically at 2am`,
//! `Usage limit reached · set to continue automatically at 4:05pm`,
//! `Continuing automatically at 4:05pm · Esc to cancel`,
//! `⚠ Usage limit reached · limit resets 4:05pm` (2.1.332),
//! `You've hit your weekly limit · resets Dec 5, 7:38pm (UTC)` (2.1.332, reset
//! more than a day out), `resets Sep 15 at 7pm`, `resets Sep 15, 2027 at 7pm`,
//! `Claude AI usage limit reached|1760000400`,
//! `Access resets at 12:37 PM UTC.` (Gemini CLI 0.61.0's usage-limit dialog).
//! A clock time means its next occurrence after `now` in the named zone (the
//! machine's zone when none is named); a date, when given, pins the day.

use std::sync::OnceLock;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};
use chrono_tz::Tz;
use regex::Regex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reset {
    pub at: DateTime<Utc>,
    /// The CLI says it will go on by itself ("continuing automatically",
    /// "set to continue automatically"; not a menu option offering to).
    pub auto_continue: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResetError {
    #[error("no reset time in {0:?}")]
    NoTime(String),
    #[error("unknown time zone {zone:?} in {line:?}")]
    UnknownZone { zone: String, line: String },
    #[error("impossible time in {0:?}")]
    BadTime(String),
}

fn clock_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?ix)
            (?:resets?|reset\ at|continuing\ automatically\ at|continue\ automatically\ at|try\ again\ at|available\ again\ at)
            \s+(?:at\s+|on\s+)?
            (?:(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<year>\d{4}))?,?\s+(?:at\s+)?)?
            (?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)?
            (?:\s*\((?P<tz>[A-Za-z_+\-/0-9]+)\)|\s+(?P<abbr>UTC|GMT)\b)?",
        )
        .expect("reset regex")
    })
}

fn epoch_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\|(?P<epoch>\d{9,11})\b").expect("epoch regex"))
}

/// The machine's time zone: `TZ` if it names an IANA zone, else /etc/timezone
/// or /etc/localtime's target, else UTC.
pub fn local_zone() -> Tz {
    if let Some(tz) = std::env::var("TZ")
        .ok()
        .and_then(|z| z.trim_start_matches(':').parse().ok())
    {
        return tz;
    }
    if let Some(tz) = std::fs::read_to_string("/etc/timezone")
        .ok()
        .and_then(|z| z.trim().parse().ok())
    {
        return tz;
    }
    if let Ok(target) = std::fs::read_link("/etc/localtime") {
        let s = target.to_string_lossy();
        if let Some(i) = s.find("zoneinfo/") {
            if let Ok(tz) = s[i + 9..].parse() {
                return tz;
            }
        }
    }
    chrono_tz::UTC
}

/// Resolve a wall-clock time in `tz`: in a DST gap, the first valid instant
/// after it; in an overlap, the earlier one.
fn resolve(tz: Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
        LocalResult::None => {
            // Walk forward in 15-minute steps out of the gap.
            (1..=8).find_map(|k| {
                tz.from_local_datetime(&(naive + Duration::minutes(15 * k)))
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
            })
        }
    }
}

/// Parse the reset instant out of one line of a limit message.
pub fn parse_reset(line: &str, now: DateTime<Utc>, default_zone: Tz) -> Result<Reset, ResetError> {
    let lower = line.to_lowercase();
    let auto_continue = lower.contains("continuing automatically")
        || lower.contains("set to continue automatically");
    if let Some(c) = epoch_re().captures(line) {
        let secs: i64 = c["epoch"]
            .parse()
            .map_err(|_| ResetError::BadTime(line.into()))?;
        let at = Utc
            .timestamp_opt(secs, 0)
            .single()
            .ok_or_else(|| ResetError::BadTime(line.into()))?;
        return Ok(Reset { at, auto_continue });
    }
    let c = clock_re()
        .captures(line)
        .ok_or_else(|| ResetError::NoTime(line.into()))?;
    // Gemini CLI: `Access resets at 12:37 PM UTC.` (a bare UTC/GMT; other
    // abbreviations are not zones: the machine's zone is used).
    let tz: Tz = match c.name("tz").or(c.name("abbr")) {
        Some(z) => z.as_str().parse().map_err(|_| ResetError::UnknownZone {
            zone: z.as_str().into(),
            line: line.into(),
        })?,
        None => default_zone,
    };
    let time = clock_time(&c, line)?;
    let local_now = now.with_timezone(&tz);
    if let (Some(mon), Some(day)) = (c.name("mon"), c.name("day")) {
        let at = dated(&c, line, mon.as_str(), day.as_str(), tz, time, now)?;
        return Ok(Reset { at, auto_continue });
    }
    let today = local_now.date_naive();
    for d in 0..=2 {
        let date = today + Duration::days(d);
        if let Some(at) = resolve(tz, date.and_time(time)) {
            if at > now {
                return Ok(Reset { at, auto_continue });
            }
        }
    }
    Err(ResetError::BadTime(line.into()))
}

/// The clock time of the line: `15:00`, `3pm`, `12am`, checked.
fn clock_time(c: &regex::Captures, line: &str) -> Result<NaiveTime, ResetError> {
    let mut hour: u32 = c["h"]
        .parse()
        .map_err(|_| ResetError::BadTime(line.into()))?;
    let minute: u32 = c
        .name("m")
        .map(|m| m.as_str().parse().unwrap_or(99))
        .unwrap_or(0);
    match c
        .name("ampm")
        .map(|m| m.as_str().to_ascii_lowercase().replace('.', ""))
    {
        Some(ap) => {
            if !(1..=12).contains(&hour) {
                return Err(ResetError::BadTime(line.into()));
            }
            // 12am is midnight, 12pm is noon, 3pm is 15:00.
            hour = match (ap.as_str(), hour) {
                ("am", 12) => 0,
                ("am", h) => h,
                ("pm", 12) => 12,
                (_, h) => h + 12,
            };
        }
        None if hour > 23 => return Err(ResetError::BadTime(line.into())),
        None => {}
    }
    NaiveTime::from_hms_opt(hour, minute, 0).ok_or_else(|| ResetError::BadTime(line.into()))
}

/// A reset with a date (`Jan 5 at 3pm`): on it, in `tz`.
fn dated(
    c: &regex::Captures,
    line: &str,
    mon: &str,
    day: &str,
    tz: Tz,
    time: NaiveTime,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ResetError> {
    let local_now = now.with_timezone(&tz);
    let month = month_number(mon).ok_or_else(|| ResetError::BadTime(line.into()))?;
    let day: u32 = day.parse().map_err(|_| ResetError::BadTime(line.into()))?;
    // A year, when shown, pins it; else the date's next occurrence: this
    // year, or next year if it is long past.
    let years: Vec<i32> = match c.name("year").and_then(|y| y.as_str().parse().ok()) {
        Some(y) => vec![y],
        None => vec![local_now.year(), local_now.year() + 1],
    };
    for year in years {
        let date = NaiveDate::from_ymd_opt(year, month, day)
            .ok_or_else(|| ResetError::BadTime(line.into()))?;
        let at =
            resolve(tz, date.and_time(time)).ok_or_else(|| ResetError::BadTime(line.into()))?;
        if at > now - Duration::days(1) {
            return Ok(at);
        }
    }
    Err(ResetError::BadTime(line.into()))
}

fn month_number(m: &str) -> Option<u32> {
    let m = m.to_ascii_lowercase();
    [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|x| m.starts_with(x))
    .map(|i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn p(line: &str, now: &str) -> Reset {
        parse_reset(line, at(now), chrono_tz::UTC).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    #[test]
    fn every_known_wording() {
        let now = "2026-11-25T05:00:00Z";
        let table = [
            (
                "  ⎿  You've hit your limit · resets 7:26am (UTC)",
                "2026-11-25T07:26:00Z",
            ),
            (
                "You've hit your session limit · resets 8:50pm (UTC)",
                "2026-11-25T20:50:00Z",
            ),
            // London is on GMT in November
            (
                "You've hit your weekly limit · resets 3am (Europe/London)",
                "2026-11-26T03:00:00Z",
            ),
            // Taipei is UTC+8: 6pm there is 10:00 UTC
            (
                "Claude usage limit reached. Your limit will reset at 6pm (Asia/Taipei).",
                "2026-11-25T10:00:00Z",
            ),
            (
                "5-hour limit reached ∙ resets 18:00",
                "2026-11-25T18:00:00Z",
            ),
            // Colombo is UTC+5:30: 11:30am there is 06:00 UTC
            (
                "You're out of extra usage · resets 11:30am (Asia/Colombo)",
                "2026-11-25T06:00:00Z",
            ),
            (
                "Usage limit reached · continuing automatically at 2am",
                "2026-11-26T02:00:00Z",
            ),
            (
                "Claude AI usage limit reached|1760000400",
                "2025-10-09T09:00:00Z",
            ),
        ];
        for (line, want) in table {
            assert_eq!(p(line, now).at, at(want), "{line}");
        }
        assert!(p("Usage limit reached · continuing automatically at 2am", now).auto_continue);
        assert!(!p("You've hit your limit · resets 7:26am (UTC)", now).auto_continue);
    }

    #[test]
    fn pm_am_noon_midnight() {
        let now = "2026-11-25T00:30:00Z";
        assert_eq!(
            p("resets 3pm (UTC)", now).at,
            at("2026-11-25T15:00:00Z"),
            "3pm is 15:00, not 03:00"
        );
        assert_eq!(
            p("resets 12am (UTC)", now).at,
            at("2026-11-26T00:00:00Z"),
            "12am is midnight"
        );
        assert_eq!(
            p("resets 12pm (UTC)", now).at,
            at("2026-11-25T12:00:00Z"),
            "12pm is noon"
        );
        assert_eq!(
            p("resets 12:15am (UTC)", now).at,
            at("2026-11-26T00:15:00Z")
        );
    }

    #[test]
    fn hour_passed_means_tomorrow() {
        assert_eq!(
            p("resets 7am (UTC)", "2026-11-25T07:00:00Z").at,
            at("2026-11-26T07:00:00Z")
        );
        assert_eq!(
            p("resets 7am (UTC)", "2026-11-25T06:59:00Z").at,
            at("2026-11-25T07:00:00Z")
        );
        // a day boundary in the named zone, not in UTC: 23:30 UTC is 08:30 next day in Tokyo
        assert_eq!(
            p("resets 9am (Asia/Tokyo)", "2026-11-25T23:30:00Z").at,
            at("2026-11-26T00:00:00Z")
        );
    }

    #[test]
    fn dst_transitions() {
        // New York springs forward on 2026-03-08 at 2am: 2:30am does not exist that day.
        let r = p("resets 2:30am (America/New_York)", "2026-03-08T05:00:00Z");
        assert_eq!(
            r.at,
            at("2026-03-08T07:00:00Z"),
            "first valid instant after the gap (3:00 EDT)"
        );
        // the day after, 2:30am EDT is 06:30 UTC
        assert_eq!(
            p("resets 2:30am (America/New_York)", "2026-03-08T08:00:00Z").at,
            at("2026-03-09T06:30:00Z")
        );
        // London falls back on 2026-10-25: 1:30am happens twice; the earlier (BST) one
        assert_eq!(
            p("resets 1:30am (Europe/London)", "2026-10-24T20:00:00Z").at,
            at("2026-10-25T00:30:00Z")
        );
        // across the change: 3pm London is 14:00 UTC before, 15:00 UTC after
        assert_eq!(
            p("resets 3pm (Europe/London)", "2026-10-24T08:00:00Z").at,
            at("2026-10-24T14:00:00Z")
        );
        assert_eq!(
            p("resets 3pm (Europe/London)", "2026-10-25T08:00:00Z").at,
            at("2026-10-25T15:00:00Z")
        );
    }

    #[test]
    fn dates() {
        assert_eq!(
            p(
                "You've hit your weekly limit · resets Nov 28, 5pm (UTC)",
                "2026-11-25T05:00:00Z"
            )
            .at,
            at("2026-11-28T17:00:00Z")
        );
        assert_eq!(
            p("resets Jan 2 at 9am (Europe/Paris)", "2026-12-30T05:00:00Z").at,
            at("2027-01-02T08:00:00Z")
        );
    }

    /// The wordings Claude Code 2.1.332 prints (its bundled strings and the
    /// recorded screens): dates with and without "at" and a year, 24-hour
    /// clocks, `∙` and `·`, session / weekly / Opus variants, and the
    /// auto-continue lines.
    #[test]
    fn wordings_of_2_1_332() {
        let now = "2026-12-02T18:00:00Z";
        let cases: &[(&str, &str, bool)] = &[
            ("resets Sep 15 at 7pm", "2027-09-15T19:00:00Z", false),
            (
                "You've hit your weekly limit · resets Sep 15 at 7pm (UTC)",
                "2027-09-15T19:00:00Z",
                false,
            ),
            (
                "You've hit your weekly limit · resets Dec 5, 7:38pm (UTC)",
                "2026-12-05T19:38:00Z",
                false,
            ),
            (
                "You've hit your Opus limit · resets Dec 9, 2026 at 7pm (UTC)",
                "2026-12-09T19:00:00Z",
                false,
            ),
            (
                "You've hit your Opus weekly limit · resets Jan 3 at 9am",
                "2027-01-03T09:00:00Z",
                false,
            ),
            (
                "You've hit your session limit · resets 8:50pm (UTC)",
                "2026-12-02T20:50:00Z",
                false,
            ),
            (
                "You've hit your 5-hour limit · resets 8:38pm (UTC)",
                "2026-12-02T20:38:00Z",
                false,
            ),
            (
                "5-hour limit reached · resets 18:00",
                "2026-12-03T18:00:00Z",
                false,
            ),
            (
                "5-hour limit reached ∙ resets 19:30",
                "2026-12-02T19:30:00Z",
                false,
            ),
            (
                "⚠ Usage limit reached · limit resets 4:05pm",
                "2026-12-03T16:05:00Z",
                false,
            ),
            (
                "● Usage limit reached · set to continue automatically at 8:38pm",
                "2026-12-02T20:38:00Z",
                true,
            ),
            (
                "Usage limit reached again · set to continue automatically at 9pm",
                "2026-12-02T21:00:00Z",
                true,
            ),
            (
                "Continuing automatically at 4:05pm · Esc to cancel",
                "2026-12-03T16:05:00Z",
                true,
            ),
            (
                "Continuing automatically at 18:05 · Esc to cancel",
                "2026-12-02T18:05:00Z",
                true,
            ),
        ];
        for (line, want, auto) in cases {
            let r = p(line, now);
            assert_eq!(r.at, at(want), "{line}");
            assert_eq!(r.auto_continue, *auto, "{line}");
        }
        assert_eq!(
            p(
                "You've hit your weekly limit · resets Jan 4, 2027, 7pm (UTC)",
                now
            )
            .at,
            at("2027-01-04T19:00:00Z")
        );
        // A menu option offering to wait is not the CLI saying it will.
        assert!(
            !p(
                "2. Wait here, then continue automatically at Dec 5, 7:38pm",
                now
            )
            .auto_continue
        );
    }

    #[test]
    fn default_zone_applies_without_a_name() {
        let r = parse_reset(
            "5-hour limit reached ∙ resets 18:00",
            at("2026-11-25T05:00:00Z"),
            chrono_tz::Asia::Tokyo,
        )
        .unwrap();
        assert_eq!(r.at, at("2026-11-25T09:00:00Z"));
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let now = at("2026-11-25T05:00:00Z");
        assert!(matches!(
            parse_reset("resets 3pm (Mars/Olympus)", now, chrono_tz::UTC),
            Err(ResetError::UnknownZone { .. })
        ));
        assert!(matches!(
            parse_reset("You've hit your limit", now, chrono_tz::UTC),
            Err(ResetError::NoTime(_))
        ));
        assert!(matches!(
            parse_reset("resets 25:00", now, chrono_tz::UTC),
            Err(ResetError::BadTime(_))
        ));
        assert!(matches!(
            parse_reset("resets 13pm", now, chrono_tz::UTC),
            Err(ResetError::BadTime(_))
        ));
        assert!(matches!(
            parse_reset("resets 10:75am (UTC)", now, chrono_tz::UTC),
            Err(ResetError::BadTime(_))
        ));
        assert!(matches!(
            parse_reset("resets Feb 30, 3pm (UTC)", now, chrono_tz::UTC),
            Err(ResetError::BadTime(_))
        ));
        assert!(parse_reset("limit|99999999999", now, chrono_tz::UTC).is_ok());
    }

    /// Codex 0.171's usage-limit line as orc reads it (two wrapped rows
    /// joined), recorded in fixtures/codex/0.171.0/usage-limit: 12-hour
    /// clock with an upper-case `PM`, no zone (the pane's), no date.
    #[test]
    fn codex_try_again_at_wording() {
        let line = "■ You’ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/settings/ usage to purchase more credits or try again at 1:49 PM.";
        let r = parse_reset(line, at("2026-12-03T11:42:10Z"), chrono_tz::UTC).unwrap();
        assert_eq!(r.at, at("2026-12-03T13:49:00Z"));
        assert!(!r.auto_continue);
        // After midnight's turn the same clock time is tomorrow's.
        let r = parse_reset(line, at("2026-12-03T13:50:00Z"), chrono_tz::UTC).unwrap();
        assert_eq!(r.at, at("2026-12-04T13:49:00Z"));
        let r = parse_reset(line, at("2026-12-03T11:42:10Z"), chrono_tz::Europe::Berlin).unwrap();
        assert_eq!(r.at, at("2026-12-03T12:49:00Z"));
    }

    #[test]
    fn gemini_0_61_access_resets_at() {
        // As recorded (fixtures/gemini/0.61.0/quota): the CLI's own zone
        // is named after the time.
        let r = p("Access resets at 12:37 PM UTC.", "2026-12-03T11:37:00Z");
        assert_eq!(r.at, at("2026-12-03T12:37:00Z"));
        assert!(!r.auto_continue);
        // The named UTC wins over the default zone.
        let r = parse_reset(
            "Access resets at 9:05 AM UTC.",
            at("2026-12-03T11:37:00Z"),
            "Asia/Tokyo".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(r.at, at("2026-12-04T09:05:00Z"));
        // An abbreviation that names no zone: the default zone applies.
        let r = parse_reset(
            "Access resets at 12:37 PM PST.",
            at("2026-12-03T11:37:00Z"),
            chrono_tz::UTC,
        )
        .unwrap();
        assert_eq!(r.at, at("2026-12-03T12:37:00Z"));
    }
}
