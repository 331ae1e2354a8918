//! What an agent does with Claude Code's structured signals: hooks beyond
//! the screen (`StopFailure`, `Notification` types, `PermissionRequest`,
//! `SessionEnd`, compaction) and the status line's JSON (usage windows,
//! context window). The screen still decides the state and dialogs; a
//! signal starts a limit episode or an auth report, warns about usage, and
//! gives `context_left` when it is fresher than the screen. Disagreements are
//! logged (`signal-disagrees`). The decisions are pure functions below; the
//! thin `AgentState_` methods at the end apply them.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::AgentState_;
use crate::proto::{AgentState, CreditKind, StatusReport, UsageWindow};

/// A status-line report this young gives `context_left` even when the
/// screen changed since (a spinner changes it all the time).
pub const STATUS_FRESH: Duration = Duration::from_secs(60);
/// Context readings further apart than this (percentage points) are logged:
/// the screen's meter counts to auto-compact, the status line the whole
/// window, so small gaps are expected.
pub const CONTEXT_TOLERANCE: f64 = 20.0;

/// What a `StopFailure` hook's `error` means to orc (2.1.332's values:
/// authentication_failed, oauth_org_not_allowed, account_on_hold,
/// verification_required, billing_error, rate_limit, overloaded,
/// invalid_request, model_not_found, server_error, unknown,
/// max_output_tokens, cloud_credential_error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A usage or rate limit.
    Limit,
    /// The CLI cannot authenticate: a person logs it in again.
    Auth,
    /// Billing, account hold, verification: a person must act.
    Account,
    /// Overloaded, server error: the CLI retries, nothing to do.
    Transient,
    Other,
}

pub fn failure_kind(error: &str) -> Failure {
    match error {
        "rate_limit" => Failure::Limit,
        "authentication_failed" | "oauth_org_not_allowed" | "cloud_credential_error" => {
            Failure::Auth
        }
        "billing_error" | "account_on_hold" | "verification_required" => Failure::Account,
        "overloaded" | "server_error" => Failure::Transient,
        _ => Failure::Other,
    }
}

/// The text of a `StopFailure` payload worth reading for a reset time or a
/// note: `error_details`, else the last assistant message (both are the
/// CLI's own words, e.g. "You've hit your limit · resets 4:05pm (UTC)"),
/// cut to one line of at most 200 characters.
pub fn failure_text(payload: &Value) -> Option<String> {
    let pick = |k: &str| {
        payload[k]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let t = pick("error_details").or_else(|| pick("last_assistant_message"))?;
    let line = t
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    Some(line.chars().take(200).collect())
}

/// The key a hook's later check goes by: the event, with the notification
/// type or failure for the events that have one.
pub fn check_key(event: &str, payload: &Value) -> String {
    let sub = match event {
        "Notification" => payload["notification_type"].as_str(),
        "StopFailure" => payload["error"].as_str(),
        _ => None,
    };
    match sub {
        Some(s) => format!("{event}:{s}"),
        None => event.to_string(),
    }
}

/// The states the screen should show a few seconds after a hook (empty: no
/// expectation).
pub fn expected_states(key: &str) -> &'static [AgentState] {
    use AgentState::*;
    match key {
        "Stop" => &[Idle, Limited, ApiError, AuthFailed],
        "StopFailure:rate_limit" => &[Limited, ApiError, Idle],
        "StopFailure:authentication_failed" | "StopFailure:oauth_org_not_allowed" => {
            &[AuthFailed, ApiError, Idle]
        }
        "PermissionRequest" | "Notification:permission_prompt" => {
            &[AwaitingPermission, AwaitingChoice]
        }
        "Notification:elicitation_dialog" | "Notification:agent_needs_input" => {
            &[AwaitingChoice, AwaitingPermission]
        }
        "Notification:idle_prompt" => &[Idle, Limited, ApiError, AuthFailed],
        _ => &[],
    }
}

/// A usage window's name in notes and logs.
fn window_name(w: &str) -> &'static str {
    match w {
        "five_hour" => "5-hour",
        _ => "7-day",
    }
}

/// The windows at or above `warn` that were not warned about yet in this
/// window (a window is its kind and its reset instant). Marks them warned.
pub fn usage_warnings(
    r: &StatusReport,
    warn: Option<f64>,
    warned: &mut HashSet<(&'static str, i64)>,
) -> Vec<(&'static str, UsageWindow)> {
    let Some(warn) = warn else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (kind, w) in [("five_hour", r.five_hour), ("seven_day", r.seven_day)] {
        let Some(w) = w else { continue };
        if w.used_percent < warn {
            continue;
        }
        let key = (kind, w.resets_at.map(|t| t.timestamp()).unwrap_or(0));
        if warned.insert(key) {
            out.push((kind, w));
        }
    }
    out
}

/// One warning's words.
pub fn warning_text(kind: &str, w: &UsageWindow) -> String {
    format!(
        "{} usage at {}%{}",
        window_name(kind),
        w.used_percent.round() as i64,
        w.resets_at
            .map(|t| format!(
                ", resets {}",
                t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M")
            ))
            .unwrap_or_default()
    )
}

/// A note `warning_text` wrote.
pub fn is_usage_note(note: &str) -> bool {
    (note.starts_with("5-hour usage at ") || note.starts_with("7-day usage at "))
        && note.contains('%')
}

/// Where `context_left` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    StatusLine,
    Screen,
}

/// `context_left`: the status line's when it is fresh (young, or no newer
/// than the screen's last change), else the screen's meter, else the status
/// line's older reading (the context does not change without a turn, and a
/// turn updates the status line). Also says whether the two disagree.
pub fn context_left(
    status: Option<(Duration, f64)>,
    screen: Option<u8>,
    screen_age: Duration,
) -> (Option<u8>, Option<Source>, bool) {
    let from_status = |p: f64| p.clamp(0.0, 100.0).round() as u8;
    let disagree = matches!((status, screen), (Some((_, s)), Some(c)) if (s - c as f64).abs() > CONTEXT_TOLERANCE);
    match (status, screen) {
        (Some((age, p)), _) if age <= STATUS_FRESH || age <= screen_age => {
            (Some(from_status(p)), Some(Source::StatusLine), disagree)
        }
        (_, Some(c)) => (Some(c), Some(Source::Screen), disagree),
        (Some((_, p)), None) => (Some(from_status(p)), Some(Source::StatusLine), false),
        (None, None) => (None, None, false),
    }
}

/// What the agent keeps of its structured signals.
#[derive(Default)]
pub struct Signals {
    /// The last status-line report and when it came.
    pub status: Option<(Instant, StatusReport)>,
    /// Usage windows warned about (kind, reset instant).
    pub warned: HashSet<(&'static str, i64)>,
    /// An auth failure was reported from a hook (the screen's own report is
    /// not repeated).
    pub auth_reported: bool,
    /// A context disagreement was logged (once until they agree again).
    pub context_disagreement_logged: bool,
}

impl AgentState_ {
    /// A Claude Code hook fired in the agent (`orc hook EVENT`): noted, its
    /// session id kept, its signal applied; the screen checks it 3 s later.
    pub(super) fn on_hook_msg(&mut self, event: &str, payload: &Value) {
        let sid = payload["session_id"].as_str().map(String::from);
        self.log(
            "hook",
            Some(format!(
                "{event}{}",
                sid.as_deref()
                    .map(|s| format!(" session {s}"))
                    .unwrap_or_default()
            )),
        );
        if event == "SessionStart" {
            if let Some(s) = sid {
                if self.record.session_id.as_deref() != Some(s.as_str()) {
                    self.record.session_id = Some(s);
                    self.tell(super::AgentEvent::Updated(Box::new(self.record.clone())));
                }
            }
        }
        self.on_hook(event, payload);
        // The screen decides; a disagreement that outlasts a grace period
        // is logged.
        self.hook_seq += 1;
        let g = self.hook_seq;
        let ev = check_key(event, payload);
        if let Some(me) = &self.me {
            me.send_after(Duration::from_secs(3), move || {
                super::AgentMsg::HookCheck(ev, g)
            });
        }
    }

    /// Timer: does the screen agree with the hook that fired then?
    pub(super) fn on_hook_check(&mut self, event: &str, g: u64) {
        self.refresh_state();
        let expect = expected_states(event);
        if g == self.hook_seq && !expect.is_empty() && !expect.contains(&self.state) {
            self.log(
                "hook-disagrees",
                Some(format!(
                    "{event} hook, but the screen shows {} 3 s later; going by the screen",
                    self.state.as_str()
                )),
            );
        }
    }

    /// `context_left` for `orc ps` and the context check.
    pub(super) fn context_left(&mut self) -> Option<u8> {
        let status = self
            .sig
            .status
            .as_ref()
            .and_then(|(at, r)| r.context_left_percent.map(|p| (at.elapsed(), p)));
        let (left, source, disagree) =
            context_left(status, self.obs.context_left, self.last_change.elapsed());
        if disagree && !self.sig.context_disagreement_logged {
            self.sig.context_disagreement_logged = true;
            self.log(
                "signal-disagrees",
                Some(format!(
                    "context: the status line says {}% left, the screen {}%; going by the {}",
                    status.map(|(_, p)| p.round() as i64).unwrap_or(-1),
                    self.obs.context_left.map(i64::from).unwrap_or(-1),
                    if source == Some(Source::StatusLine) {
                        "status line (fresher)"
                    } else {
                        "screen (fresher)"
                    }
                )),
            );
        } else if !disagree {
            self.sig.context_disagreement_logged = false;
        }
        left
    }

    /// A status-line report from `orc statusline`.
    pub(super) fn on_status(&mut self, r: StatusReport) {
        if let Some(s) = &r.session_id {
            if self.record.session_id.as_deref() != Some(s.as_str()) {
                self.record.session_id = Some(s.clone());
                self.tell(super::AgentEvent::Updated(Box::new(self.record.clone())));
            }
        }
        for (kind, w) in usage_warnings(&r, self.credits.warn_percent, &mut self.sig.warned) {
            let text = warning_text(kind, &w);
            self.log("usage-high", Some(text.clone()));
            if self.forced.is_none()
                && self.obs.dialog.is_none()
                && self.state != AgentState::Limited
            {
                self.note = Some(text.clone());
            }
            self.needs_human("usage_high", format!("{text} (status line)"));
        }
        // The warning's note goes once no window is that full any more (a
        // new window began).
        let still_high = [r.five_hour, r.seven_day].into_iter().flatten().any(|w| {
            self.credits
                .warn_percent
                .is_some_and(|p| w.used_percent >= p)
        });
        if !still_high
            && (r.five_hour.is_some() || r.seven_day.is_some())
            && self.note.as_deref().is_some_and(is_usage_note)
        {
            self.note = None;
        }
        let first = self.sig.status.is_none();
        self.sig.status = Some((Instant::now(), r));
        if first {
            self.log("status-line", Some("the status line reports to orc".into()));
        }
        crate::changes::bump();
    }

    /// A hook's meaning beyond the log line (called for every hook).
    pub(super) fn on_hook(&mut self, event: &str, payload: &Value) {
        match event {
            "StopFailure" => {
                let error = payload["error"].as_str().unwrap_or("unknown");
                let text = failure_text(payload);
                self.log(
                    "stop-failure",
                    Some(format!(
                        "{error}{}",
                        text.as_deref()
                            .map(|t| format!(": {t}"))
                            .unwrap_or_default()
                    )),
                );
                self.refresh_state();
                if self.obs.dialog.is_some() {
                    // The dialog on screen stays in charge.
                    self.log(
                        "signal-disagrees",
                        Some(format!(
                            "StopFailure {error}, but the screen shows a dialog ({}); the dialog is handled first",
                            super::answer::dialog_name(self.obs.dialog)
                        )),
                    );
                }
                match failure_kind(error) {
                    Failure::Limit => {
                        self.limit_signal(text.unwrap_or_else(|| format!("StopFailure: {error}")))
                    }
                    Failure::Auth => {
                        if self.state != AgentState::AuthFailed && !self.sig.auth_reported {
                            self.sig.auth_reported = true;
                            if self.obs.dialog.is_none() {
                                self.note = Some(format!(
                                    "authentication failed ({error}, StopFailure hook): log in again; orc will not restart it"
                                ));
                            }
                            self.needs_human(
                                "auth_failed",
                                format!("the CLI cannot authenticate ({error}): log it in again (orc will not restart it)"),
                            );
                        }
                    }
                    Failure::Account => self.needs_human(
                        "account",
                        format!("the turn ended on `{error}`: the account needs a person"),
                    ),
                    Failure::Transient | Failure::Other => {}
                }
            }
            "Notification"
                if payload["notification_type"] == "quota_auto_resume_fired"
                    && self.episode.is_some() =>
            {
                self.log(
                    "credit-cli-resumed",
                    Some("the CLI continued by itself after the limit".into()),
                );
            }
            "UserPromptSubmit" => self.sig.auth_reported = false,
            _ => {}
        }
    }

    /// A structured rate-limit signal: start the episode, or confirm it
    /// (a refused resume), like the conversation log's 429 record.
    fn limit_signal(&mut self, text: String) {
        let status_reset = self.status_reset();
        match &self.episode {
            None => {
                let (reset, auto) = self.parse_limit(&text);
                let reset = reset.or(status_reset);
                self.begin_episode(&text, reset, auto, CreditKind::HookSignal);
            }
            Some(ep) if ep.phase == crate::credits::Phase::Resuming => {
                self.log("credit-hook-confirms", Some(text.clone()));
                let (reset, _) = self.parse_limit(&text);
                self.resume_failed(&text, reset.or(status_reset));
            }
            Some(_) => self.log("credit-hook-confirms", Some(text)),
        }
    }

    /// The reset of the fullest usage window the status line reported.
    fn status_reset(&self) -> Option<DateTime<Utc>> {
        let (_, r) = self.sig.status.as_ref()?;
        [r.five_hour, r.seven_day]
            .into_iter()
            .flatten()
            .filter(|w| w.resets_at.is_some_and(|t| t > self.now()))
            .max_by(|a, b| a.used_percent.total_cmp(&b.used_percent))
            .and_then(|w| w.resets_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stop_failure_errors_are_sorted() {
        assert_eq!(failure_kind("rate_limit"), Failure::Limit);
        assert_eq!(failure_kind("authentication_failed"), Failure::Auth);
        assert_eq!(failure_kind("oauth_org_not_allowed"), Failure::Auth);
        assert_eq!(failure_kind("billing_error"), Failure::Account);
        assert_eq!(failure_kind("overloaded"), Failure::Transient);
        assert_eq!(failure_kind("max_output_tokens"), Failure::Other);
        let p = json!({"hook_event_name": "StopFailure", "error": "rate_limit",
            "last_assistant_message": "\nYou've hit your limit · resets 4:05pm (UTC)\nmore"});
        assert_eq!(
            failure_text(&p).as_deref(),
            Some("You've hit your limit · resets 4:05pm (UTC)")
        );
        assert_eq!(failure_text(&json!({"error": "rate_limit"})), None);
        assert_eq!(check_key("StopFailure", &p), "StopFailure:rate_limit");
        assert_eq!(
            check_key("Notification", &json!({"notification_type": "idle_prompt"})),
            "Notification:idle_prompt"
        );
        assert_eq!(check_key("Stop", &p), "Stop");
        assert!(expected_states("StopFailure:rate_limit").contains(&AgentState::Limited));
        assert!(expected_states("Notification:permission_prompt")
            .contains(&AgentState::AwaitingPermission));
        assert!(expected_states("SessionEnd").is_empty());
    }

    fn fixture(name: &str) -> Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/claude-code/2.1.332/signals")
            .join(name);
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }

    #[test]
    fn real_hook_payloads_of_2_1_332() {
        let p = fixture("hook-StopFailure-rate_limit.json");
        assert_eq!(check_key("StopFailure", &p), "StopFailure:rate_limit");
        assert_eq!(failure_kind(p["error"].as_str().unwrap()), Failure::Limit);
        let text = failure_text(&p).unwrap();
        assert_eq!(text, "You've hit your 5-hour limit · resets 8:52pm (UTC)");
        // The reset instant comes out of the CLI's own words.
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 2, 18, 52, 0).unwrap();
        let r = crate::screen::reset::parse_reset(&text, now, chrono_tz::UTC).unwrap();
        assert_eq!(r.at.to_rfc3339(), "2026-12-02T20:52:00+00:00");

        let p = fixture("hook-StopFailure-authentication_failed.json");
        assert_eq!(failure_kind(p["error"].as_str().unwrap()), Failure::Auth);
        assert!(failure_text(&p)
            .unwrap()
            .starts_with("Please run /login · API Error: 401"));

        let p = fixture("hook-Notification-permission_prompt.json");
        let k = check_key("Notification", &p);
        assert_eq!(k, "Notification:permission_prompt");
        assert!(expected_states(&k).contains(&AgentState::AwaitingPermission));
        let p = fixture("hook-PermissionRequest.json");
        assert_eq!(p["tool_name"], "Bash");
        assert!(expected_states(&check_key("PermissionRequest", &p))
            .contains(&AgentState::AwaitingPermission));
        let p = fixture("hook-SessionEnd.json");
        assert_eq!(p["reason"], "prompt_input_exit");
        assert!(expected_states(&check_key("SessionEnd", &p)).is_empty());
    }

    fn report(five: Option<f64>, seven: Option<f64>, reset: i64) -> StatusReport {
        let w = |p: f64| UsageWindow {
            used_percent: p,
            resets_at: DateTime::from_timestamp(reset, 0),
        };
        StatusReport {
            five_hour: five.map(w),
            seven_day: seven.map(w),
            ..Default::default()
        }
    }

    #[test]
    fn usage_is_warned_once_per_window() {
        let mut warned = HashSet::new();
        let r = report(Some(91.0), Some(40.0), 1_800_000_000);
        let w = usage_warnings(&r, Some(90.0), &mut warned);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].0, "five_hour");
        assert!(warning_text(w[0].0, &w[0].1).starts_with("5-hour usage at 91%, resets "));
        assert!(is_usage_note(&warning_text(w[0].0, &w[0].1)));
        assert!(!is_usage_note("dialog: trust"));
        assert!(
            usage_warnings(&r, Some(90.0), &mut warned).is_empty(),
            "once"
        );
        let r = report(Some(95.0), Some(90.0), 1_800_000_000);
        let w = usage_warnings(&r, Some(90.0), &mut warned);
        assert_eq!(w.iter().map(|x| x.0).collect::<Vec<_>>(), ["seven_day"]);
        // The next window warns again.
        let r = report(Some(92.0), None, 1_800_018_000);
        assert_eq!(usage_warnings(&r, Some(90.0), &mut warned).len(), 1);
        assert!(usage_warnings(&report(Some(99.0), None, 1), None, &mut warned).is_empty());
        assert!(usage_warnings(&report(Some(89.9), None, 2), Some(90.0), &mut warned).is_empty());
    }

    #[test]
    fn context_left_goes_by_the_fresher_signal() {
        let s = Duration::from_secs;
        // Fresh status line wins over the screen.
        assert_eq!(
            context_left(Some((s(5), 62.4)), Some(60), s(1)),
            (Some(62), Some(Source::StatusLine), false)
        );
        // Old, and the screen changed since: the screen.
        assert_eq!(
            context_left(Some((s(600), 62.0)), Some(15), s(2)),
            (Some(15), Some(Source::Screen), true)
        );
        // Old, but the screen has not changed since: still the status line.
        assert_eq!(
            context_left(Some((s(600), 62.0)), Some(60), s(900)),
            (Some(62), Some(Source::StatusLine), false)
        );
        // Only one of them.
        assert_eq!(
            context_left(Some((s(600), 30.0)), None, s(1)),
            (Some(30), Some(Source::StatusLine), false)
        );
        assert_eq!(
            context_left(None, Some(12), s(1)),
            (Some(12), Some(Source::Screen), false)
        );
        assert_eq!(context_left(None, None, s(1)), (None, None, false));
    }
}
