//! Each agent's durable message queue and the delivery state machine.
//!
//! Every message is journaled (`<state>/queues/<agent>.jsonl`, append-only,
//! synced) before its sender hears "queued"; every step of its delivery is
//! journaled too, so after a crash the queue is rebuilt exactly: undelivered
//! messages go out, delivered ones never again, and one caught mid-delivery is
//! checked against the screen first.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::proto::{AgentState, MessageStatus};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub created: DateTime<Utc>,
    /// Idempotency key (`sched:<job>:<n>`, `resume:<agent>:<n>`): a key the
    /// queue has seen is not queued again, and no two pending messages share
    /// the part before the last `:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl Message {
    /// The key's group: the key without its last `:` part.
    pub fn group(&self) -> Option<&str> {
        self.key
            .as_deref()
            .map(|k| k.rsplit_once(':').map_or(k, |(g, _)| g))
    }
    /// orc's own resume prompt after a usage limit: it may be typed while the
    /// agent still shows the limit.
    pub fn is_resume(&self) -> bool {
        self.key
            .as_deref()
            .is_some_and(|k| k.starts_with("resume:"))
    }
}

/// A step in a message's life, as journaled. `typed` and `entering` are
/// `delivering` to the outside; they make recovery after a crash exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Queued,
    /// About to type the text.
    Delivering,
    /// The text is in the composer.
    Typed,
    /// About to press Enter.
    Entering,
    Delivered,
    Failed,
}

impl Op {
    pub fn status(self) -> MessageStatus {
        match self {
            Op::Queued => MessageStatus::Queued,
            Op::Delivering | Op::Typed | Op::Entering => MessageStatus::Delivering,
            Op::Delivered => MessageStatus::Delivered,
            Op::Failed => MessageStatus::Failed,
        }
    }
}

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub op: Op,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A message id: time-ordered and unique within this process.
pub fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        Utc::now().format("%Y%m%dT%H%M%S%.6f"),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Append one entry and sync it to disk.
pub fn journal(path: &Path, entry: &Entry) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    line.push(b'\n');
    // A torn last line is moved aside first: this record starts a fresh line.
    let mut f = crate::state::open_journal(path)?;
    f.write_all(&line)?;
    f.sync_data()
}

/// Every message in a journal with its latest status (and reason), in the
/// order they were queued. Lines that do not parse (a torn last write) are
/// skipped.
pub fn replay(path: &Path) -> Vec<(Message, Op, Option<String>, DateTime<Utc>)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut order = Vec::new();
    let mut by_id: BTreeMap<String, (Message, Op, Option<String>, DateTime<Utc>)> = BTreeMap::new();
    for line in text.lines() {
        let Ok(e) = serde_json::from_str::<Entry>(line) else {
            continue;
        };
        match (e.message, by_id.get_mut(&e.id)) {
            (Some(m), None) => {
                order.push(e.id.clone());
                by_id.insert(e.id, (m, e.op, e.reason, e.at));
            }
            (_, Some(slot)) => {
                slot.1 = e.op;
                slot.2 = e.reason;
                slot.3 = e.at;
            }
            (None, None) => {}
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect()
}

/// Where the message in flight is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Its text was typed (or pasted); Enter not pressed yet.
    Typed { at: Instant },
    /// Enter pressed `enters` times, the last at `at`.
    Entered { at: Instant, enters: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Wait,
    Type,
    PressEnter,
    Delivered,
    Failed(String),
}

/// How long typed text may take to show in the composer.
pub const TYPE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after Enter the composer must be clear.
pub const ENTER_TIMEOUT: Duration = Duration::from_millis(1500);
/// After typing, a screen that still looks busy with an empty composer gets
/// Enter after this long (it never counts as delivered by itself).
pub const BUSY_ENTER_AFTER: Duration = Duration::from_secs(1);

/// Enter is pressed at most this often for one message; the body only once.
pub const MAX_ENTERS: u32 = 3;
/// The screen must be this still before Enter is pressed.
pub const TYPE_SETTLE: Duration = Duration::from_millis(120);

/// What to do next, from what the screen says. `composer` is the unsent text
/// in the composer (None when empty or when the CLI has no composer rule).
pub fn next_step(
    phase: Option<Phase>,
    queued: bool,
    state: AgentState,
    in_dialog: bool,
    has_composer: bool,
    composer: Option<&str>,
    quiet_for: Duration,
) -> Step {
    match phase {
        None if queued && state == AgentState::Idle && !in_dialog => Step::Type,
        None => Step::Wait,
        Some(Phase::Typed { at }) => {
            let shown = composer.is_some_and(|c| !c.is_empty());
            if (shown || !has_composer) && quiet_for >= TYPE_SETTLE {
                Step::PressEnter
            } else if state == AgentState::Busy
                && !shown
                && has_composer
                && at.elapsed() >= BUSY_ENTER_AFTER
            {
                // A busy screen with an empty composer is not proof the CLI
                // took it: a paste can take a moment to be drawn (seen in the
                // soak: a 4 KB paste called delivered, never submitted). Enter
                // is harmless either way (an empty composer ignores it, a
                // paste is submitted or queued); the Entered step then waits
                // for the composer to clear.
                Step::PressEnter
            } else if at.elapsed() > TYPE_TIMEOUT {
                Step::Failed("the text never showed in the composer".into())
            } else {
                Step::Wait
            }
        }
        Some(Phase::Entered { at, enters }) => {
            let cleared = composer.is_none_or(|c| c.is_empty());
            if cleared && !in_dialog {
                Step::Delivered
            } else if at.elapsed() < ENTER_TIMEOUT {
                Step::Wait
            } else if enters < MAX_ENTERS && !in_dialog {
                Step::PressEnter
            } else {
                Step::Failed(format!(
                    "typed but not submitted after {enters} Enter presses"
                ))
            }
        }
    }
}

/// An agent's queue: pending messages in order, and the one in flight.
#[derive(Debug)]
pub struct Queue {
    pub path: PathBuf,
    pub pending: VecDeque<Message>,
    pub inflight: Option<(Message, Phase)>,
    /// Every idempotency key ever journaled here.
    pub keys: std::collections::HashSet<String>,
}

impl Queue {
    /// Rebuild from the journal. Returns the queue and the messages caught
    /// mid-delivery with their last step (to settle against the screen).
    pub fn load(path: PathBuf) -> (Queue, Vec<(Message, Op)>) {
        let mut pending = VecDeque::new();
        let mut ambiguous = Vec::new();
        let mut keys = std::collections::HashSet::new();
        for (m, status, _, _) in replay(&path) {
            if let Some(k) = &m.key {
                keys.insert(k.clone());
            }
            match status {
                Op::Queued => pending.push_back(m),
                Op::Delivering | Op::Typed | Op::Entering => ambiguous.push((m, status)),
                Op::Delivered | Op::Failed => {}
            }
        }
        (
            Queue {
                path,
                pending,
                inflight: None,
                keys,
            },
            ambiguous,
        )
    }

    /// The message already standing for `m`: same key seen before, or one of
    /// its group still waiting.
    pub fn duplicate_of(&self, m: &Message) -> Option<String> {
        let key = m.key.as_deref()?;
        if self.keys.contains(key) {
            return Some(key.to_string());
        }
        let group = m.group();
        self.pending
            .iter()
            .chain(self.inflight.iter().map(|(m, _)| m))
            .find(|p| p.group() == group)
            .map(|p| p.id.clone())
    }

    pub fn len(&self) -> usize {
        self.pending.len() + usize::from(self.inflight.is_some())
    }

    pub fn mark(
        &self,
        id: &str,
        op: Op,
        reason: Option<String>,
        message: Option<Message>,
    ) -> std::io::Result<()> {
        journal(
            &self.path,
            &Entry {
                id: id.to_string(),
                op,
                at: Utc::now(),
                message,
                reason,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: u32) -> Message {
        Message {
            id: format!("m{i}"),
            from: "a".into(),
            to: "b".into(),
            text: format!("hello {i}"),
            created: Utc::now(),
            key: None,
        }
    }

    #[test]
    fn journal_replays_latest_status_in_queue_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.jsonl");
        let q = Queue {
            path: p.clone(),
            pending: VecDeque::new(),
            inflight: None,
            keys: Default::default(),
        };
        for i in 0..4 {
            q.mark(&format!("m{i}"), Op::Queued, None, Some(msg(i)))
                .unwrap();
        }
        q.mark("m0", Op::Delivering, None, None).unwrap();
        q.mark("m0", Op::Delivered, None, None).unwrap();
        q.mark("m1", Op::Typed, None, None).unwrap();
        q.mark("m3", Op::Failed, Some("x".into()), None).unwrap();
        // a torn last line is ignored
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"id\":\"m2\",\"op\":")
            .unwrap();
        let (q, ambiguous) = Queue::load(p.clone());
        assert_eq!(
            q.pending.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            vec!["m2"]
        );
        assert_eq!(
            ambiguous
                .iter()
                .map(|(m, op)| (m.id.as_str(), *op))
                .collect::<Vec<_>>(),
            vec![("m1", Op::Typed)]
        );
        let all = replay(&p);
        assert_eq!(
            all.iter()
                .map(|(m, s, _, _)| (m.id.as_str(), *s))
                .collect::<Vec<_>>(),
            vec![
                ("m0", Op::Delivered),
                ("m1", Op::Typed),
                ("m2", Op::Queued),
                ("m3", Op::Failed),
            ]
        );
    }

    #[test]
    fn delivery_steps() {
        use AgentState::*;
        let quiet = Duration::from_secs(1);
        // only an idle agent without a dialog gets typed into
        assert_eq!(
            next_step(None, true, Idle, false, true, None, quiet),
            Step::Type
        );
        for s in [
            Busy,
            Limited,
            AwaitingChoice,
            AwaitingPermission,
            Exited,
            Starting,
            Unknown,
        ] {
            assert_eq!(
                next_step(None, true, s, false, true, None, quiet),
                Step::Wait,
                "{s:?}"
            );
        }
        assert_eq!(
            next_step(None, true, Idle, true, true, None, quiet),
            Step::Wait
        );
        assert_eq!(
            next_step(None, false, Idle, false, true, None, quiet),
            Step::Wait
        );
        // typed: Enter once the text shows and the screen is still
        let typed = Some(Phase::Typed { at: Instant::now() });
        assert_eq!(
            next_step(typed, false, Composing, false, true, Some("hi"), quiet),
            Step::PressEnter
        );
        assert_eq!(
            next_step(
                typed,
                false,
                Composing,
                false,
                true,
                Some("hi"),
                Duration::ZERO
            ),
            Step::Wait
        );
        assert_eq!(
            next_step(typed, false, Idle, false, true, None, quiet),
            Step::Wait
        );
        let old = Some(Phase::Typed {
            at: Instant::now() - TYPE_TIMEOUT - Duration::from_secs(1),
        });
        assert!(matches!(
            next_step(old, false, Idle, false, true, None, quiet),
            Step::Failed(_)
        ));
        // entered: delivered when the composer clears; Enter again (only) if not
        let entered = Some(Phase::Entered {
            at: Instant::now(),
            enters: 1,
        });
        assert_eq!(
            next_step(entered, false, Busy, false, true, None, quiet),
            Step::Delivered
        );
        assert_eq!(
            next_step(entered, false, Composing, false, true, Some("hi"), quiet),
            Step::Wait
        );
        let late = |enters| {
            Some(Phase::Entered {
                at: Instant::now() - ENTER_TIMEOUT - Duration::from_millis(10),
                enters,
            })
        };
        assert_eq!(
            next_step(late(1), false, Composing, false, true, Some("hi"), quiet),
            Step::PressEnter
        );
        assert!(matches!(
            next_step(
                late(MAX_ENTERS),
                false,
                Composing,
                false,
                true,
                Some("hi"),
                quiet
            ),
            Step::Failed(_)
        ));
        // typed, the screen busy, the composer empty: not delivered by
        // itself; Enter once the paste had time to show
        assert_eq!(
            next_step(typed, false, Busy, false, true, None, Duration::ZERO),
            Step::Wait
        );
        let a_second_ago = Some(Phase::Typed {
            at: Instant::now() - BUSY_ENTER_AFTER - Duration::from_millis(10),
        });
        assert_eq!(
            next_step(a_second_ago, false, Busy, false, true, None, Duration::ZERO),
            Step::PressEnter
        );
        // a CLI without a composer rule: type, Enter, done
        assert_eq!(
            next_step(typed, false, Busy, false, false, None, quiet),
            Step::PressEnter
        );
        assert_eq!(
            next_step(entered, false, Busy, false, false, None, quiet),
            Step::Delivered
        );
    }
}
