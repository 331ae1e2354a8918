//! The one place that decides restarts of dead agents: the backoff and the
//! budget per agent ([`RestartPolicy`]), and the order in which a fleet comes
//! back ([`Fleet`]): one agent at a time, each verified at its prompt before
//! the next starts, a short spacing between them, and a circuit breaker that
//! stops the line when one comes back unable to log in (restarting logged-out
//! agents together forks a shared OAuth refresh token).
//!
//! Pure: no actors, no tmux, time passed in. The orchestrator feeds it events
//! and carries out what it answers.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::proto::AgentState;

/// Restart policy: at most `max_restarts` within `window`, delays doubling from
/// `base_delay` up to `max_delay`.
#[derive(Debug, Clone)]
pub struct RestartPolicy {
    pub max_restarts: usize,
    pub window: Duration,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            window: Duration::from_secs(600),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RestartPolicy {
    /// Given the times of earlier restarts, the delay before the next one, or
    /// `None` when the budget is spent. Drops entries older than the window.
    pub fn next_delay(&self, history: &mut VecDeque<Instant>, now: Instant) -> Option<Duration> {
        while history
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            history.pop_front();
        }
        if history.len() >= self.max_restarts {
            return None;
        }
        let factor = 1u32.checked_shl(history.len() as u32).unwrap_or(u32::MAX);
        Some(self.base_delay.saturating_mul(factor).min(self.max_delay))
    }
}

/// What the orchestrator should do next for the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Start this agent's new pane now.
    Start(String),
    /// Nothing to do before this instant (ask again then).
    WaitUntil(Instant),
    /// Nothing to do until an event arrives.
    Nothing,
}

/// What an agent's new state meant for the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not the agent being verified, or not decided yet.
    Pending,
    /// At its prompt (or at work): the next one may follow after the spacing.
    Verified,
    /// It died again before reaching its prompt; its own backoff takes over.
    Died,
    /// It came back unable to log in: the line stops; tell a human who waits.
    Tripped { waiting: Vec<String> },
}

/// Fleet restart order: agents whose backoff is over queue here and start one
/// at a time.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// Pause after a verified start before the next one.
    pub spacing: Duration,
    /// An agent not at its prompt after this long no longer holds the line.
    pub verify_timeout: Duration,
    ready: VecDeque<String>,
    inflight: Option<(String, Instant)>,
    /// The next start may not come before this.
    not_before: Option<Instant>,
    /// The breaker is open: this agent came back `auth_failed`.
    tripped: Option<String>,
}

impl Default for Fleet {
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(30))
    }
}

impl Fleet {
    pub fn new(spacing: Duration, verify_timeout: Duration) -> Self {
        Fleet {
            spacing,
            verify_timeout,
            ready: VecDeque::new(),
            inflight: None,
            not_before: None,
            tripped: None,
        }
    }

    /// An agent's backoff is over: it waits for its turn.
    pub fn ready(&mut self, name: &str) {
        if !self.ready.iter().any(|n| n == name)
            && self.inflight.as_ref().is_none_or(|(n, _)| n != name)
        {
            self.ready.push_back(name.to_string());
        }
    }

    /// The agent is gone (`orc kill`) or restarted by hand: drop it from the line.
    pub fn forget(&mut self, name: &str) {
        self.ready.retain(|n| n != name);
        if self.inflight.as_ref().is_some_and(|(n, _)| n == name) {
            self.inflight = None;
        }
        if self.tripped.as_deref() == Some(name) {
            self.tripped = None;
        }
    }

    /// A person acted (`orc restart`): close the breaker.
    pub fn close_breaker(&mut self) {
        self.tripped = None;
    }

    pub fn tripped(&self) -> Option<&str> {
        self.tripped.as_deref()
    }

    pub fn waiting(&self) -> Vec<String> {
        self.ready.iter().cloned().collect()
    }

    /// The agent being started, if any.
    #[cfg(test)]
    pub fn inflight(&self) -> Option<&str> {
        self.inflight.as_ref().map(|(n, _)| n.as_str())
    }

    /// An agent's state changed.
    pub fn observed(&mut self, name: &str, state: AgentState, now: Instant) -> Verdict {
        if self.inflight.as_ref().is_none_or(|(n, _)| n != name) {
            return Verdict::Pending;
        }
        match state {
            AgentState::Idle
            | AgentState::Busy
            | AgentState::Composing
            | AgentState::Limited
            | AgentState::ApiError => {
                self.inflight = None;
                self.not_before = Some(now + self.spacing);
                Verdict::Verified
            }
            AgentState::AuthFailed => {
                self.inflight = None;
                self.tripped = Some(name.to_string());
                Verdict::Tripped {
                    waiting: self.waiting(),
                }
            }
            AgentState::Restarting | AgentState::Exited | AgentState::Failed => {
                self.inflight = None;
                Verdict::Died
            }
            _ => Verdict::Pending,
        }
    }

    /// What to do now. A `Start` makes that agent the one being verified.
    pub fn next(&mut self, now: Instant) -> Next {
        if self.tripped.is_some() {
            return Next::Nothing;
        }
        if let Some((_, since)) = &self.inflight {
            let until = *since + self.verify_timeout;
            if now < until {
                return Next::WaitUntil(until);
            }
            // Not at its prompt in time (a dialog, a slow start): it stops
            // holding the line; the screen decides its fate.
            self.inflight = None;
        }
        if self.ready.is_empty() {
            return Next::Nothing;
        }
        if let Some(t) = self.not_before {
            if now < t {
                return Next::WaitUntil(t);
            }
        }
        let name = self.ready.pop_front().expect("not empty");
        self.inflight = Some((name.clone(), now));
        Next::Start(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_double_up_to_the_budget() {
        let p = RestartPolicy::default();
        let t0 = Instant::now();
        let mut h = VecDeque::new();
        let mut got = vec![];
        while let Some(d) = p.next_delay(&mut h, t0) {
            got.push(d.as_millis());
            h.push_back(t0);
        }
        assert_eq!(got, vec![500, 1000, 2000, 4000, 8000]);
        // Outside the window the budget is back.
        assert_eq!(
            p.next_delay(&mut h, t0 + Duration::from_secs(601)),
            Some(ms(500))
        );
    }

    #[test]
    fn a_fleet_comes_back_one_at_a_time_each_verified_then_spaced() {
        let mut f = Fleet::new(ms(1000), ms(30_000));
        let t0 = Instant::now();
        for n in ["a", "b", "c"] {
            f.ready(n);
        }
        f.ready("a"); // twice: once in the line
        assert_eq!(f.next(t0), Next::Start("a".into()));
        // b waits while a is not yet at its prompt
        assert_eq!(f.next(t0 + ms(10)), Next::WaitUntil(t0 + ms(30_000)));
        assert_eq!(f.observed("b", AgentState::Idle, t0), Verdict::Pending);
        assert_eq!(
            f.observed("a", AgentState::Starting, t0 + ms(100)),
            Verdict::Pending
        );
        assert_eq!(
            f.observed("a", AgentState::Idle, t0 + ms(2000)),
            Verdict::Verified
        );
        // then the spacing
        assert_eq!(f.next(t0 + ms(2500)), Next::WaitUntil(t0 + ms(3000)));
        assert_eq!(f.next(t0 + ms(3000)), Next::Start("b".into()));
        // b dies at once: c need not wait for a prompt that never comes
        assert_eq!(
            f.observed("b", AgentState::Restarting, t0 + ms(3100)),
            Verdict::Died
        );
        assert_eq!(f.next(t0 + ms(3100)), Next::Start("c".into()));
        // b's backoff ends: it queues again behind c
        f.ready("b");
        assert_eq!(f.next(t0 + ms(3200)), Next::WaitUntil(t0 + ms(33_100)));
        // c never reaches its prompt: after the timeout b goes anyway
        assert_eq!(f.next(t0 + ms(33_100)), Next::Start("b".into()));
        assert_eq!(f.next(t0 + ms(33_200)), Next::WaitUntil(t0 + ms(63_100)));
        assert_eq!(
            f.observed("b", AgentState::Busy, t0 + ms(34_000)),
            Verdict::Verified
        );
        assert_eq!(f.next(t0 + ms(40_000)), Next::Nothing);
    }

    #[test]
    fn an_agent_back_without_its_login_stops_the_line_until_a_person_acts() {
        let mut f = Fleet::new(ms(1000), ms(30_000));
        let t0 = Instant::now();
        for n in ["a", "b", "c"] {
            f.ready(n);
        }
        assert_eq!(f.next(t0), Next::Start("a".into()));
        assert_eq!(
            f.observed("a", AgentState::AuthFailed, t0 + ms(500)),
            Verdict::Tripped {
                waiting: vec!["b".into(), "c".into()]
            }
        );
        assert_eq!(f.tripped(), Some("a"));
        // No start however long it waits.
        assert_eq!(f.next(t0 + Duration::from_secs(3600)), Next::Nothing);
        f.ready("d");
        assert_eq!(f.next(t0 + Duration::from_secs(3601)), Next::Nothing);
        // A person restarts a by hand: the line goes on.
        f.forget("a");
        assert_eq!(f.tripped(), None);
        assert_eq!(
            f.next(t0 + Duration::from_secs(3602)),
            Next::Start("b".into())
        );
        f.forget("b");
        assert_eq!(f.inflight(), None);
        assert_eq!(
            f.next(t0 + Duration::from_secs(3603)),
            Next::Start("c".into())
        );
        assert_eq!(f.waiting(), vec!["d".to_string()]);
    }
}
