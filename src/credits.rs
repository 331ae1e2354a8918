//! Usage limits: when to resume a limited agent, the episode of one limit,
//! and the team's credit ledger (`<state>/credits.json`, `orc credits`).
//!
//! The agent actor runs an [`Episode`] from the moment its screen (or its
//! conversation log) shows the limit until it works again; the orchestrator
//! keeps the [`Ledger`]: per agent the current status, the instants, and a
//! short history, and marks agents that share an account "at risk".

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::proto::{AgentState, CreditEvent, CreditKind, CreditRow, CreditStatus};
use crate::state::write_atomic;

/// How orc resumes limited agents (`[credits]` in config.toml).
#[derive(Debug, Clone, PartialEq)]
pub struct CreditPolicy {
    /// Wait this long after the announced reset.
    pub buffer: Duration,
    /// What orc types to resume an agent.
    pub resume_message: String,
    /// Resumes that find the agent still limited before orc asks a human.
    pub max_tries: u32,
    /// When no reset time is known: the limit's usual cycle.
    pub fallback: Duration,
    /// `[credits] fallback_hours` set it (else a CLI's own cycle may apply:
    /// [`crate::drivers::Driver::limit_cycle`]).
    pub fallback_from_config: bool,
    /// After the resume message, how long orc waits for a working turn.
    pub verify: Duration,
    /// A resume refused just after the shown reset (Claude Code shows it to
    /// the minute; the real one can come later) is tried again after this,
    /// doubling [`QUICK_RETRIES`] times, before the cycle takes over.
    pub retry: Duration,
    /// Warn (note, log, notification; once per window) when the status line
    /// reports a usage window at or above this percent. None: never.
    pub warn_percent: Option<f64>,
}

/// Quick retries after a resume refused just after the shown reset.
pub const QUICK_RETRIES: u32 = 4;

/// How long after the shown reset a refusal still counts as "just after".
pub const JUST_PASSED: Duration = Duration::from_secs(30 * 60);

pub const DEFAULT_RESUME: &str = "Your usage limit has reset. Continue where you left off.";

impl Default for CreditPolicy {
    fn default() -> Self {
        Self {
            buffer: Duration::from_secs(120),
            resume_message: DEFAULT_RESUME.into(),
            max_tries: 4,
            fallback: Duration::from_secs(5 * 3600),
            fallback_from_config: false,
            verify: Duration::from_secs(120),
            retry: Duration::from_secs(60),
            warn_percent: Some(90.0),
        }
    }
}

impl CreditPolicy {
    /// The policy for an agent of a CLI whose limits without a shown reset
    /// usually last `cycle`: that cycle, unless `[credits] fallback_hours`
    /// set one.
    pub fn with_cli_cycle(mut self, cycle: Option<Duration>) -> Self {
        if let (Some(c), false) = (cycle, self.fallback_from_config) {
            self.fallback = c;
        }
        self
    }
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::hours(5))
}

/// When to resume: the reset plus the buffer, if that is still ahead;
/// otherwise the next fallback cycle after `now`, counted from the last known
/// reset (or from now when none is known).
pub fn plan_resume(
    reset: Option<DateTime<Utc>>,
    last_known: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    policy: &CreditPolicy,
) -> DateTime<Utc> {
    let buffer = chrono(policy.buffer);
    if let Some(r) = reset {
        if r + buffer > now {
            return r + buffer;
        }
    }
    let cycle = chrono(policy.fallback).max(chrono::Duration::minutes(1));
    let mut base = reset.or(last_known).unwrap_or(now);
    if base + buffer <= now {
        let behind = (now - base).num_seconds() / cycle.num_seconds() + 1;
        base += cycle * behind as i32;
    } else if reset.is_none() && last_known.is_none() {
        base = now + cycle;
    }
    base + buffer
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for the resume instant.
    Waiting,
    /// The resume message went in; waiting for a turn that ends normally.
    Resuming,
    /// Too many resumes found it still limited: a human should look.
    GaveUp,
}

/// When the CLI says it continues by itself at the reset, orc's own resume
/// comes no sooner than this after the reset.
pub const AUTO_GRACE: Duration = Duration::from_secs(150);

/// One usage limit, from the first sight of it until the agent works again.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub started: DateTime<Utc>,
    /// The announced reset, if the wording had one.
    pub reset: Option<DateTime<Utc>>,
    /// The CLI goes on by itself at the reset.
    pub auto: bool,
    pub resume_at: DateTime<Utc>,
    /// Resumes sent in this episode.
    pub tries: u32,
    /// Quick retries used (resumes refused just after the shown reset);
    /// they do not count against `max_tries`.
    pub quick: u32,
    pub phase: Phase,
    /// The limit line that started it (or the latest one).
    pub line: String,
}

impl Episode {
    /// The CLI was started again during the limit (a crash, `orc restart`):
    /// its promise to go on by itself went with the old process (a
    /// restarted 2.1.332 showed the limit menu again and sat there past
    /// the reset in the soak), so orc's resume comes at the reset plus the
    /// buffer, as for any limit. No effect once the resume went in.
    /// Returns whether the resume instant moved (its timer wants re-arming).
    pub fn cli_restarted(&mut self, now: DateTime<Utc>, policy: &CreditPolicy) -> bool {
        if !self.auto || self.phase != Phase::Waiting {
            return false;
        }
        self.auto = false;
        self.resume_at = plan_resume(self.reset, None, now, policy);
        true
    }

    pub fn start(
        line: &str,
        reset: Option<DateTime<Utc>>,
        auto: bool,
        now: DateTime<Utc>,
        policy: &CreditPolicy,
    ) -> Self {
        let mut resume_at = plan_resume(reset, None, now, policy);
        if auto {
            // The CLI goes on by itself (2.1.332 was seen sending its next
            // request 76 s after the reset): orc's resume waits until the
            // CLI had its chance, so the two never both go in.
            if let Some(r) = reset {
                resume_at = resume_at.max(r + chrono(AUTO_GRACE));
            }
        }
        Episode {
            started: now,
            reset,
            auto,
            resume_at,
            tries: 0,
            quick: 0,
            phase: Phase::Waiting,
            line: line.to_string(),
        }
    }

    /// The resume found the agent still limited: plan the next one, or give
    /// up after `max_tries`. Returns true when it gave up.
    pub fn still_limited(
        &mut self,
        line: &str,
        reset: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        policy: &CreditPolicy,
    ) -> bool {
        self.line = line.to_string();
        let last = self.reset;
        // A reset already behind us is no news, and neither is the same
        // clock time read as tomorrow's (the shown reset that went by).
        let fresh = reset.filter(|r| {
            *r > now && last.is_none_or(|l| *r <= l || (*r - l).num_seconds() % 86_400 != 0)
        });
        if fresh.is_some() {
            self.reset = fresh;
        }
        // The shown reset has just passed, but the account's real one is a
        // little later: try again soon, a little later each time. A new
        // reset nearer than that wait (the server naming the next minute
        // each time) is the same case: it is not believed sooner than the
        // wait, so a limit that keeps moving is never resumed in a loop.
        if let Some(shown) = last.filter(|l| *l <= now) {
            let wait = policy.retry.saturating_mul(1 << self.quick.min(16));
            let backoff = now + chrono(wait);
            let near = fresh.is_none_or(|r| plan_resume(Some(r), last, now, policy) <= backoff);
            if near
                && now - shown <= chrono(policy.buffer + JUST_PASSED)
                && self.quick < QUICK_RETRIES
            {
                self.quick += 1;
                self.resume_at = backoff;
                self.phase = Phase::Waiting;
                return false;
            }
        }
        if self.tries.saturating_sub(self.quick) >= policy.max_tries {
            self.phase = Phase::GaveUp;
            return true;
        }
        self.resume_at = plan_resume(fresh, last, now, policy);
        self.phase = Phase::Waiting;
        false
    }
}

/// The state `orc ps` shows: an agent whose limit episode holds its
/// messages is `limited` even when its screen shows an idle prompt (after
/// `orc restart`, or a limit seen only in the conversation log).
pub fn shown_state(episode: Option<&Episode>, screen: AgentState) -> AgentState {
    match episode {
        Some(ep) if ep.phase != Phase::Resuming && screen == AgentState::Idle => {
            AgentState::Limited
        }
        _ => screen,
    }
}

/// What the ledger keeps per agent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub limited: bool,
    #[serde(default)]
    pub gave_up: bool,
    pub exhausted_at: Option<DateTime<Utc>>,
    pub reset_at: Option<DateTime<Utc>>,
    pub next_resume: Option<DateTime<Utc>>,
    #[serde(default)]
    pub tries: u32,
    /// Another agent on the same account is limited until then.
    #[serde(default)]
    pub at_risk_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub at_risk_because: Option<String>,
    #[serde(default)]
    pub history: Vec<CreditEvent>,
}

/// How many events each agent's history keeps.
pub const HISTORY: usize = 20;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Ledger {
    pub agents: BTreeMap<String, Entry>,
    /// The usage windows each agent's status line last reported.
    #[serde(default)]
    pub usage: BTreeMap<String, Usage>,
}

/// An agent's usage windows, from its status line.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Usage {
    pub at: Option<DateTime<Utc>>,
    pub five_hour: Option<crate::proto::UsageWindow>,
    pub seven_day: Option<crate::proto::UsageWindow>,
}

/// A window that has reset is no longer the current usage.
fn current(
    w: Option<crate::proto::UsageWindow>,
    now: DateTime<Utc>,
) -> Option<crate::proto::UsageWindow> {
    w.filter(|w| w.resets_at.is_none_or(|t| t > now))
}

impl Ledger {
    /// Keep what a status-line report says about usage. A report without
    /// windows (API-key mode, or before the first reply) keeps the last
    /// known ones. Returns whether the windows changed (worth saving).
    pub fn note_usage(
        &mut self,
        name: &str,
        r: &crate::proto::StatusReport,
        now: DateTime<Utc>,
    ) -> bool {
        if r.five_hour.is_none() && r.seven_day.is_none() {
            return false;
        }
        let u = self.usage.entry(name.to_string()).or_default();
        let changed = u.five_hour != r.five_hour || u.seven_day != r.seven_day;
        u.at = Some(now);
        u.five_hour = r.five_hour;
        u.seven_day = r.seven_day;
        changed
    }

    pub fn load(path: &Path) -> (Ledger, Option<String>) {
        match std::fs::read(path) {
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(l) => (l, None),
                Err(e) => {
                    let bad = path.with_extension(format!(
                        "json.corrupt-{}",
                        Utc::now().format("%Y%m%dT%H%M%S")
                    ));
                    let _ = std::fs::rename(path, &bad);
                    (
                        Ledger::default(),
                        Some(format!(
                            "credit ledger {} does not parse ({e}); moved to {}, history starts over",
                            path.display(),
                            bad.display()
                        )),
                    )
                }
            },
            Err(_) => (Ledger::default(), None),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomic(path, &bytes)
    }

    fn push(e: &mut Entry, ev: CreditEvent) {
        e.history.push(ev);
        if e.history.len() > HISTORY {
            let cut = e.history.len() - HISTORY;
            e.history.drain(..cut);
        }
    }

    /// What the event says about the agent's own entry.
    fn note(e: &mut Entry, ev: &CreditEvent) {
        match ev.kind {
            CreditKind::Limited | CreditKind::LogSignal | CreditKind::HookSignal => {
                if !e.limited {
                    e.exhausted_at = Some(ev.at);
                }
                e.limited = true;
                e.gave_up = false;
                e.reset_at = ev.reset_at.or(e.reset_at);
                e.next_resume = ev.resume_at;
                e.tries = ev.tries;
            }
            CreditKind::ResumeSent | CreditKind::StillLimited => {
                e.reset_at = ev.reset_at.or(e.reset_at);
                e.next_resume = ev.resume_at;
                e.tries = ev.tries;
            }
            CreditKind::GaveUp => {
                e.gave_up = true;
                e.next_resume = None;
                e.tries = ev.tries;
            }
            CreditKind::Recovered => {
                e.limited = false;
                e.gave_up = false;
                e.next_resume = None;
                e.at_risk_until = None;
                e.at_risk_because = None;
            }
            CreditKind::AtRisk => {}
        }
    }

    /// Record what an agent reported. `accounts` maps every agent to its
    /// account. Returns the agents newly put at risk, with the instant.
    pub fn apply(
        &mut self,
        name: &str,
        ev: CreditEvent,
        accounts: &BTreeMap<String, Option<String>>,
    ) -> Vec<(String, DateTime<Utc>)> {
        let account = accounts.get(name).cloned().flatten();
        let e = self.agents.entry(name.to_string()).or_default();
        e.account = account.clone();
        Self::note(e, &ev);
        let put_at_risk = matches!(
            ev.kind,
            CreditKind::Limited | CreditKind::LogSignal | CreditKind::HookSignal
        );
        let until = ev.resume_at.or(ev.reset_at);
        let recovered = ev.kind == CreditKind::Recovered;
        Self::push(e, ev.clone());
        let mut marked = Vec::new();
        let Some(account) = account else {
            return marked;
        };
        for (other, acc) in accounts {
            if other == name || acc.as_deref() != Some(account.as_str()) {
                continue;
            }
            let o = self.agents.entry(other.clone()).or_default();
            o.account = Some(account.clone());
            if put_at_risk {
                if let Some(until) = until {
                    if !o.limited && o.at_risk_until.is_none_or(|u| u < until) {
                        o.at_risk_until = Some(until);
                        o.at_risk_because =
                            Some(format!("{name} hit the limit of account {account}"));
                        Self::push(
                            o,
                            CreditEvent {
                                at: ev.at,
                                kind: CreditKind::AtRisk,
                                reset_at: ev.reset_at,
                                resume_at: Some(until),
                                tries: 0,
                                detail: Some(format!("{name} (same account {account}) is limited")),
                            },
                        );
                        marked.push((other.clone(), until));
                    }
                }
            } else if recovered
                && o.at_risk_because
                    .as_deref()
                    .is_some_and(|b| b.starts_with(&format!("{name} ")))
            {
                o.at_risk_until = None;
                o.at_risk_because = None;
            }
        }
        marked
    }

    /// Should a check-in for `name` wait? Until when, and why.
    pub fn hold(&self, name: &str, now: DateTime<Utc>) -> Option<(DateTime<Utc>, String)> {
        let e = self.agents.get(name)?;
        if e.limited {
            // After the resume instant the message may go: the queue holds it
            // behind the resume prompt.
            return match e.next_resume {
                Some(r) if r > now => Some((r, format!("{name} is out of credits"))),
                None if e.gave_up => Some((
                    now + chrono::Duration::minutes(30),
                    format!("{name} is still limited; a human should look"),
                )),
                _ => None,
            };
        }
        match e.at_risk_until {
            Some(u) if u > now => Some((
                u,
                e.at_risk_because
                    .clone()
                    .unwrap_or_else(|| "shared account limited".into()),
            )),
            _ => None,
        }
    }

    /// The `orc credits` row for an agent. `has_rules`: orc can see limits on
    /// this agent's screen at all.
    pub fn row(
        &self,
        name: &str,
        account: Option<String>,
        has_rules: bool,
        now: DateTime<Utc>,
    ) -> CreditRow {
        let e = self.agents.get(name).cloned().unwrap_or_default();
        let status = if e.limited && e.gave_up {
            CreditStatus::Attention
        } else if e.limited {
            CreditStatus::Limited
        } else if e.at_risk_until.is_some_and(|u| u > now) {
            CreditStatus::AtRisk
        } else if has_rules {
            CreditStatus::Ok
        } else {
            CreditStatus::Unknown
        };
        CreditRow {
            name: name.to_string(),
            account,
            status,
            limited_until: if e.limited { e.reset_at } else { None },
            exhausted_at: e.exhausted_at,
            reset_at: e.reset_at,
            next_resume: if e.limited {
                e.next_resume
            } else {
                e.at_risk_until.filter(|u| *u > now)
            },
            tries: e.tries,
            at_risk_because: e.at_risk_until.filter(|u| *u > now).and(e.at_risk_because),
            history: e.history,
            five_hour: self.usage.get(name).and_then(|u| current(u.five_hour, now)),
            seven_day: self.usage.get(name).and_then(|u| current(u.seven_day, now)),
            usage_at: self.usage.get(name).and_then(|u| u.at),
        }
    }
}

#[cfg(test)]
mod auto_tests {
    use super::*;

    #[test]
    fn a_cli_that_continues_by_itself_gets_its_chance_before_orcs_resume() {
        let policy = CreditPolicy::default();
        let now = Utc::now();
        let reset = now + chrono::Duration::minutes(10);
        let own = Episode::start("l", Some(reset), true, now, &policy);
        assert_eq!(
            own.resume_at,
            reset + chrono(AUTO_GRACE).max(chrono(policy.buffer))
        );
        let orc = Episode::start("l", Some(reset), false, now, &policy);
        assert_eq!(orc.resume_at, reset + chrono(policy.buffer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cli_s_own_cycle_applies_unless_config_set_one() {
        let five_min = Some(Duration::from_secs(300));
        let p = CreditPolicy::default().with_cli_cycle(five_min);
        assert_eq!(p.fallback, Duration::from_secs(300));
        assert_eq!(
            CreditPolicy::default().with_cli_cycle(None).fallback,
            Duration::from_secs(5 * 3600)
        );
        let set = CreditPolicy {
            fallback: Duration::from_secs(7200),
            fallback_from_config: true,
            ..CreditPolicy::default()
        };
        assert_eq!(
            set.with_cli_cycle(five_min).fallback,
            Duration::from_secs(7200)
        );
        // Aider shows no reset for a provider 429: minutes, not five hours.
        let aider = crate::drivers::of("aider").limit_cycle.unwrap();
        assert!(aider <= Duration::from_secs(15 * 60));
        assert_eq!(crate::drivers::of("claude").limit_cycle, None);
    }
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, 0).unwrap()
    }

    #[test]
    fn resume_is_reset_plus_buffer_or_the_next_cycle() {
        let p = CreditPolicy::default(); // 2 min buffer, 5 h cycle
        assert_eq!(plan_resume(Some(t(15, 0)), None, t(12, 0), &p), t(15, 2));
        // Reset already passed long ago: next 5-hour cycle from it.
        assert_eq!(plan_resume(Some(t(6, 0)), None, t(12, 0), &p), t(16, 2));
        // Unknown reset, last known one at 10:00: 15:00 (+buffer).
        assert_eq!(plan_resume(None, Some(t(10, 0)), t(12, 0), &p), t(15, 2));
        // Nothing known at all: five hours from now.
        assert_eq!(plan_resume(None, None, t(12, 0), &p), t(17, 2));
        // Within the buffer of a reset that just passed: reset + buffer.
        assert_eq!(plan_resume(Some(t(11, 59)), None, t(12, 0), &p), t(12, 1));
    }

    #[test]
    fn still_limited_re_arms_then_gives_up() {
        let p = CreditPolicy {
            max_tries: 2,
            ..Default::default()
        };
        let mut ep = Episode::start("x", Some(t(15, 0)), false, t(12, 0), &p);
        assert_eq!(ep.resume_at, t(15, 2));
        ep.tries = 1;
        ep.phase = Phase::Resuming;
        // A new reset on screen wins.
        assert!(!ep.still_limited("y", Some(t(21, 0)), t(15, 3), &p));
        assert_eq!(ep.resume_at, t(21, 2));
        assert_eq!(ep.phase, Phase::Waiting);
        ep.tries = 2;
        assert!(ep.still_limited("y", Some(t(23, 0)), t(21, 3), &p));
        assert_eq!(ep.phase, Phase::GaveUp);
    }

    #[test]
    fn a_cli_started_again_during_an_auto_limit_is_resumed_by_orc_at_the_reset() {
        let p = CreditPolicy::default(); // 2 min buffer
        let mut ep = Episode::start("x", Some(t(15, 0)), true, t(12, 0), &p);
        assert_eq!(
            ep.resume_at,
            t(15, 0) + chrono(AUTO_GRACE),
            "the CLI's chance first"
        );
        assert!(ep.cli_restarted(t(14, 0), &p));
        assert_eq!(ep.resume_at, t(15, 2), "the new process promised nothing");
        assert!(!ep.auto);
        // Once the resume went in, a restart changes nothing.
        let mut ep = Episode::start("x", Some(t(15, 0)), true, t(12, 0), &p);
        ep.phase = Phase::Resuming;
        assert!(!ep.cli_restarted(t(15, 3), &p));
        assert_eq!(ep.resume_at, t(15, 0) + chrono(AUTO_GRACE));
    }

    #[test]
    fn a_resume_refused_just_after_the_shown_reset_is_retried_soon_then_the_cycle() {
        let p = CreditPolicy::default(); // 2 min buffer, 1 min retry, 4 tries
                                         // Shown: resets 15:00; the real reset is later.
        let mut ep = Episode::start("x", Some(t(15, 0)), false, t(12, 0), &p);
        assert_eq!(ep.resume_at, t(15, 2));
        let mut now = t(15, 2);
        let mut waits = vec![];
        for _ in 0..QUICK_RETRIES {
            ep.tries += 1;
            ep.phase = Phase::Resuming;
            now += chrono::Duration::seconds(5); // the refusal shows
                                                 // The screen still shows 15:00 (read as today, or as tomorrow).
            let shown = if waits.len() % 2 == 0 {
                t(15, 0)
            } else {
                t(15, 0) + chrono::Duration::days(1)
            };
            assert!(!ep.still_limited("x", Some(shown), now, &p));
            assert_eq!(ep.phase, Phase::Waiting);
            waits.push((ep.resume_at - now).num_minutes());
            now = ep.resume_at;
        }
        assert_eq!(waits, vec![1, 2, 4, 8], "minutes, not hours");
        assert_eq!(ep.reset, Some(t(15, 0)), "tomorrow's reading is no news");
        // Then the 5-hour cycle; quick retries did not use up max_tries.
        ep.tries += 1;
        now += chrono::Duration::seconds(5);
        assert!(!ep.still_limited("x", Some(t(15, 0)), now, &p));
        assert_eq!(ep.resume_at, t(20, 2));
        // A limit that only lifts later is still handed to a human in the
        // end: after `max_tries` resumes that were not quick retries.
        for _ in 0..2 {
            ep.tries += 1;
            assert!(!ep.still_limited("x", None, ep.resume_at + chrono::Duration::seconds(5), &p));
        }
        ep.tries += 1;
        assert!(ep.still_limited("x", None, ep.resume_at + chrono::Duration::seconds(5), &p));
        assert_eq!(ep.phase, Phase::GaveUp);
    }

    #[test]
    fn a_reset_that_keeps_moving_to_the_next_minute_is_not_resumed_in_a_loop() {
        // The CI run that found this: the server named a reset 30-90 s
        // ahead after each refusal and orc's third resume came 33 s after
        // its second.
        let p = CreditPolicy {
            buffer: Duration::from_secs(3),
            ..CreditPolicy::default()
        };
        let mut ep = Episode::start("x", Some(t(15, 0)), false, t(14, 59), &p);
        let mut now = ep.resume_at;
        let mut waits = vec![];
        for _ in 0..QUICK_RETRIES {
            ep.tries += 1;
            ep.phase = Phase::Resuming;
            now += chrono::Duration::seconds(2);
            let next_minute = now + chrono::Duration::seconds(40);
            assert!(!ep.still_limited("x", Some(next_minute), now, &p));
            waits.push((ep.resume_at - now).num_seconds());
            now = ep.resume_at;
        }
        assert_eq!(
            waits,
            vec![60, 120, 240, 480],
            "growing, never the next minute"
        );
        // A new reset further off than the wait is a new limit: waited for.
        ep.tries += 1;
        now += chrono::Duration::seconds(2);
        let later = now + chrono::Duration::hours(5);
        assert!(!ep.still_limited("x", Some(later), now, &p));
        assert_eq!(ep.resume_at, later + chrono::Duration::seconds(3));
    }

    #[test]
    fn an_idle_prompt_held_by_a_limit_shows_limited() {
        let p = CreditPolicy::default();
        let mut ep = Episode::start("x", Some(t(15, 0)), false, t(12, 0), &p);
        assert_eq!(
            shown_state(Some(&ep), AgentState::Idle),
            AgentState::Limited
        );
        assert_eq!(shown_state(Some(&ep), AgentState::Busy), AgentState::Busy);
        assert_eq!(shown_state(None, AgentState::Idle), AgentState::Idle);
        // While orc's resume goes in, the prompt is the agent's own again.
        ep.phase = Phase::Resuming;
        assert_eq!(shown_state(Some(&ep), AgentState::Idle), AgentState::Idle);
        ep.phase = Phase::GaveUp;
        assert_eq!(
            shown_state(Some(&ep), AgentState::Idle),
            AgentState::Limited
        );
    }

    #[test]
    fn a_refusal_long_after_the_shown_reset_takes_the_cycle() {
        let p = CreditPolicy::default();
        let mut ep = Episode::start("x", Some(t(15, 0)), false, t(12, 0), &p);
        ep.tries = 1;
        // Noticed an hour late (the machine slept): not "just after".
        assert!(!ep.still_limited("x", Some(t(15, 0)), t(16, 0), &p));
        assert_eq!(ep.resume_at, t(20, 2));
    }

    fn ev(
        kind: CreditKind,
        at: DateTime<Utc>,
        reset: Option<DateTime<Utc>>,
        resume: Option<DateTime<Utc>>,
    ) -> CreditEvent {
        CreditEvent {
            at,
            kind,
            reset_at: reset,
            resume_at: resume,
            tries: 0,
            detail: None,
        }
    }

    #[test]
    fn a_shared_account_puts_the_others_at_risk_until_the_resume() {
        let mut l = Ledger::default();
        let accounts: BTreeMap<String, Option<String>> = [
            ("a".to_string(), Some("team".to_string())),
            ("b".to_string(), Some("team".to_string())),
            ("c".to_string(), Some("other".to_string())),
            ("d".to_string(), None),
        ]
        .into();
        let marked = l.apply(
            "a",
            ev(
                CreditKind::Limited,
                t(12, 0),
                Some(t(15, 0)),
                Some(t(15, 2)),
            ),
            &accounts,
        );
        assert_eq!(marked, vec![("b".to_string(), t(15, 2))]);
        assert_eq!(
            l.row("b", None, true, t(12, 1)).status,
            CreditStatus::AtRisk
        );
        assert_eq!(l.row("c", None, true, t(12, 1)).status, CreditStatus::Ok);
        assert_eq!(
            l.row("d", None, false, t(12, 1)).status,
            CreditStatus::Unknown
        );
        assert_eq!(
            l.row("a", None, true, t(12, 1)).status,
            CreditStatus::Limited
        );
        assert_eq!(l.hold("b", t(12, 1)).map(|h| h.0), Some(t(15, 2)));
        assert_eq!(l.hold("a", t(12, 1)).map(|h| h.0), Some(t(15, 2)));
        assert_eq!(l.hold("c", t(12, 1)), None);
        // Past the resume instant a check-in may go (the queue holds it).
        assert_eq!(l.hold("a", t(15, 3)), None);
        l.apply(
            "a",
            ev(CreditKind::Recovered, t(15, 4), None, None),
            &accounts,
        );
        assert_eq!(l.row("a", None, true, t(15, 5)).status, CreditStatus::Ok);
        assert_eq!(l.hold("b", t(15, 5)), None);
        let row = l.row("a", None, true, t(15, 5));
        assert_eq!(row.exhausted_at, Some(t(12, 0)));
        assert_eq!(row.history.len(), 2);
    }
}
