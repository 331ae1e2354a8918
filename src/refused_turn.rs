//! Check-ins that went into a turn a usage limit refused.
//!
//! A check-in typed just as the agent meets its limit is refused with that
//! turn, and Claude Code sends it again by itself (with the next prompt) once
//! the limit lifts. The job's next firing, deferred while the agent was
//! limited, would follow seconds later: two check-ins for one period. So a
//! firing that went into a refused turn counts as that period's: the next
//! firing of the same job while the limit lasts (or just after) is not typed.
//!
//! Pure: the agent actor tells it what happened, with the time.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::queue::Message;

/// A delivery this close before the agent was seen idle may not have shown
/// its turn yet: it stays in the current turn.
pub const TURN_GRACE: Duration = Duration::from_secs(2);

/// After the limit ends, a refused check-in still stands for its job's next
/// firing this long (a deferred firing can come just after the recovery).
pub const AFTER_LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, Default)]
pub struct RefusedTurn {
    /// Scheduled messages delivered in the current turn: (group, id, when).
    turn: Vec<(String, String, Instant)>,
    /// Jobs (key groups) whose firing went into a refused turn, with its id.
    refused: BTreeMap<String, String>,
    /// When the limit ended (None: it lasts, or there was none).
    ended: Option<Instant>,
}

/// Only the scheduler's firings (`sched:<job>:<n>`) are counted here.
fn sched_group(m: &Message) -> Option<&str> {
    m.key
        .as_deref()
        .filter(|k| k.starts_with("sched:"))
        .and(m.group())
}

impl RefusedTurn {
    /// A message is being typed into the agent.
    pub fn delivered(&mut self, m: &Message, now: Instant) {
        if let Some(g) = sched_group(m) {
            self.turn.push((g.to_string(), m.id.clone(), now));
        }
    }

    /// The message never reached the CLI.
    pub fn failed(&mut self, id: &str) {
        self.turn.retain(|(_, i, _)| i != id);
        self.refused.retain(|_, i| i != id);
    }

    /// The agent is at its prompt: the turns of earlier deliveries are over.
    pub fn idle(&mut self, now: Instant) {
        self.turn
            .retain(|(_, _, at)| now.saturating_duration_since(*at) < TURN_GRACE);
    }

    /// A usage limit refused the turn under way.
    pub fn limited(&mut self) {
        if self.ended.take().is_some() {
            self.refused.clear(); // an older limit's leftovers
        }
        for (g, id, _) in self.turn.drain(..) {
            self.refused.insert(g, id);
        }
    }

    /// The agent works again.
    pub fn recovered(&mut self, now: Instant) {
        if !self.refused.is_empty() {
            self.ended = Some(now);
        }
    }

    /// A new message for the agent: if it is the next firing of a job whose
    /// firing went into the refused turn, the id of that firing (it counts
    /// for this period; do not queue this one). Answers once per job.
    pub fn counts_as(&mut self, m: &Message, now: Instant) -> Option<String> {
        if self
            .ended
            .is_some_and(|e| now.saturating_duration_since(e) >= AFTER_LIMIT)
        {
            self.refused.clear();
            self.ended = None;
        }
        self.refused.remove(sched_group(m)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, key: Option<&str>) -> Message {
        Message {
            id: id.into(),
            from: "scheduler (x)".into(),
            to: "dev".into(),
            text: "check in".into(),
            created: chrono::Utc::now(),
            key: key.map(String::from),
        }
    }

    #[test]
    fn a_check_in_refused_by_the_limit_stands_for_the_jobs_next_firing_once() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut r = RefusedTurn::default();
        r.delivered(&msg("m1", Some("sched:s1:0")), t0);
        r.delivered(&msg("u1", None), t0); // a person's message: not counted
        r.limited();
        // The deferred firing of s1 during the limit: counted, once.
        assert_eq!(
            r.counts_as(&msg("m2", Some("sched:s1:1")), t0 + s(60)),
            Some("m1".into())
        );
        assert_eq!(
            r.counts_as(&msg("m3", Some("sched:s1:2")), t0 + s(61)),
            None
        );
        // Another job is not affected.
        assert_eq!(
            r.counts_as(&msg("m4", Some("sched:s2:0")), t0 + s(61)),
            None
        );
    }

    #[test]
    fn a_check_in_whose_turn_ended_normally_is_not_counted() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut r = RefusedTurn::default();
        r.delivered(&msg("m1", Some("sched:s1:0")), t0);
        r.idle(t0 + Duration::from_millis(500)); // too soon to tell
        r.idle(t0 + s(5)); // its turn is over
        r.limited(); // a later turn meets the limit
        assert_eq!(
            r.counts_as(&msg("m2", Some("sched:s1:1")), t0 + s(60)),
            None
        );
    }

    #[test]
    fn after_the_limit_only_a_firing_soon_after_is_counted() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut r = RefusedTurn::default();
        r.delivered(&msg("m1", Some("sched:s1:0")), t0);
        r.limited();
        r.recovered(t0 + s(100));
        // The next period's firing, long after: typed as usual.
        assert_eq!(
            r.counts_as(&msg("m2", Some("sched:s1:1")), t0 + s(100) + AFTER_LIMIT),
            None
        );
        // Just after the recovery it would have counted.
        let mut r = RefusedTurn::default();
        r.delivered(&msg("m1", Some("sched:s1:0")), t0);
        r.limited();
        r.recovered(t0 + s(100));
        assert_eq!(
            r.counts_as(&msg("m2", Some("sched:s1:1")), t0 + s(105)),
            Some("m1".into())
        );
    }
}
