//! Delivery: the queue typed into the composer one message at a time, each
//! step journaled before it is taken, driven by what the screen shows
//! (`queue::next_step` decides); messages a crash caught mid-way settled
//! from the composer; `orc send --wait` answered.

use std::time::Duration;

use tokio::time::Instant;

use ractor::RpcReplyPort;

use super::AgentState_;
use crate::credits::Phase as EpPhase;
use crate::proto::{AgentState, Response};
use crate::queue::{next_step, Message, Op, Phase, Step};
use crate::tmux::PaneText;

impl AgentState_ {
    /// Queue a message (journaled before the reply). With `wait`, the answer
    /// comes once it is delivered or failed.
    pub(super) async fn enqueue(&mut self, m: Message, wait: bool, reply: RpcReplyPort<Response>) {
        if let Some(earlier) = self.refused_turn.counts_as(&m, Instant::now()) {
            // Its job's last firing met the limit; the CLI sends that one
            // again itself: it is this period's check-in.
            self.log(
                "checkin-counted",
                Some(format!(
                    "{} ({}): {earlier} went into the turn the limit refused",
                    m.id,
                    m.key.as_deref().unwrap_or("")
                )),
            );
            let _ = reply.send(Response::Duplicate { id: earlier });
            return;
        }
        if let Some(existing) = self.queue.duplicate_of(&m) {
            self.log(
                "message-duplicate",
                Some(format!(
                    "{} ({}): already have {existing}",
                    m.id,
                    m.key.as_deref().unwrap_or("")
                )),
            );
            let _ = reply.send(Response::Duplicate { id: existing });
            return;
        }
        if let Some(k) = &m.key {
            self.queue.keys.insert(k.clone());
        }
        let id = m.id.clone();
        match self.push(m) {
            Ok(()) => {
                if wait {
                    self.waiters.insert(id, reply);
                } else {
                    let _ = reply.send(Response::Queued { id });
                }
                self.refresh_state();
                self.drive().await;
            }
            Err(e) => {
                let _ = reply.send(Response::Error {
                    message: format!("could not queue the message: {e}"),
                });
            }
        }
    }

    /// Journal a message as queued, then hold it.
    fn push(&mut self, m: Message) -> std::io::Result<()> {
        crate::changes::bump();
        self.queue.mark(&m.id, Op::Queued, None, Some(m.clone()))?;
        self.queue.pending.push_back(m);
        Ok(())
    }

    /// Type a message's text into the composer (no Enter): short single
    /// lines literally, anything else as one bracketed paste from a buffer.
    pub(super) async fn type_text(&mut self, text: &PaneText) -> Result<(), String> {
        let Some(pane) = self.record.pane.clone() else {
            return Err("the agent has no pane".into());
        };
        let buf = format!("orc-{}", self.record.name);
        self.pane
            .type_text(&pane, &buf, text)
            .await
            .map_err(|e| e.to_string())
    }

    pub(super) async fn press_enter(&mut self) -> Result<(), String> {
        let Some(pane) = self.record.pane.clone() else {
            return Err("the agent has no pane".into());
        };
        self.pane
            .press(&pane, crate::tmux::Key::Enter)
            .await
            .map_err(|e| e.to_string())
    }

    pub(super) fn finish(&mut self, id: &str, outcome: Result<(), String>) {
        crate::changes::bump();
        let resume = self
            .queue
            .inflight
            .as_ref()
            .map(|(m, _)| m)
            .into_iter()
            .chain(self.queue.pending.iter())
            .any(|m| m.id == id && m.is_resume())
            || self.last_resume_id.as_deref() == Some(id);
        if resume {
            self.resume_delivered(outcome.is_ok());
        }
        if outcome.is_err() {
            self.refused_turn.failed(id);
        }
        let (op, reason) = match &outcome {
            Ok(()) => (Op::Delivered, None),
            Err(r) => (Op::Failed, Some(r.clone())),
        };
        if let Err(e) = self.queue.mark(id, op, reason.clone(), None) {
            tracing::error!(agent = %self.record.name, error = %e, "cannot journal message status");
        }
        self.log(
            if outcome.is_ok() {
                "message-delivered"
            } else {
                "message-failed"
            },
            Some(match &reason {
                Some(r) => format!("{id}: {r}"),
                None => id.to_string(),
            }),
        );
        if let Some(w) = self.waiters.remove(id) {
            let _ = w.send(match outcome {
                Ok(()) => Response::Delivered { id: id.to_string() },
                Err(r) => Response::Error {
                    message: format!("message {id} to {} failed: {r}", self.record.name),
                },
            });
        }
    }

    /// Settle messages a crash caught mid-delivery, from the last journaled
    /// step and the composer (the CLI kept running while orc was down):
    /// - text in the composer: it is ours, typed but not submitted: press Enter;
    /// - composer empty after `entering`: Enter went through: delivered;
    /// - composer empty before that: it never got typed: queue it again.
    ///
    /// Only one message is ever in flight, so at most one is ambiguous.
    pub(super) fn resolve_ambiguous(&mut self) {
        for (m, op) in std::mem::take(&mut self.ambiguous).into_iter().rev() {
            let composer_busy = self.obs.composer.as_deref().is_some_and(|c| !c.is_empty());
            let (what, outcome) = match (composer_busy, op) {
                (true, _) if self.queue.inflight.is_none() => {
                    ("in the composer; pressing Enter", 0)
                }
                (false, Op::Entering) => ("submitted before the restart", 1),
                _ => ("never typed; queued again", 2),
            };
            self.log("message-recovered", Some(format!("{}: {what}", m.id)));
            match outcome {
                0 => self.queue.inflight = Some((m, Phase::Typed { at: Instant::now() })),
                1 => {
                    let id = m.id.clone();
                    self.finish(&id, Ok(()));
                }
                _ => {
                    let _ = self.queue.mark(
                        &m.id,
                        Op::Queued,
                        Some("requeued after a restart".into()),
                        None,
                    );
                    self.queue.pending.push_front(m);
                }
            }
        }
    }

    /// The state delivery goes by: a limited agent takes only orc's resume
    /// prompt; everything else waits until it works again.
    fn gate(&self, phase: Option<Phase>) -> AgentState {
        let head_resume = self.queue.pending.front().is_some_and(|m| m.is_resume());
        let holding = self
            .episode
            .as_ref()
            .is_some_and(|e| e.phase != EpPhase::Resuming);
        if !self.alive {
            AgentState::Exited
        } else if phase.is_none()
            && head_resume
            && matches!(self.state, AgentState::Limited | AgentState::Idle)
            && self.obs.dialog.is_none()
            // A limited screen without the composer (Aider still retrying)
            // is no place to type: wait until the prompt is back.
            && (self.state != AgentState::Limited || self.obs.prompt_drawn || self.table.is_none())
        {
            AgentState::Idle
        } else if phase.is_none() && holding {
            AgentState::Limited
        } else {
            self.state
        }
    }

    /// One step of delivery, driven by the screen. Called after every
    /// re-classification; re-arms a tick while a message is in flight.
    pub(super) async fn drive(&mut self) {
        if !self.ambiguous.is_empty() && self.alive && self.state != AgentState::Starting {
            self.resolve_ambiguous();
        }
        for _ in 0..4 {
            let phase = self.queue.inflight.as_ref().map(|(_, p)| *p);
            let step = next_step(
                phase,
                !self.queue.pending.is_empty(),
                self.gate(phase),
                self.obs.dialog.is_some(),
                self.table.is_some(),
                self.obs.composer.as_deref(),
                self.last_change.elapsed(),
            );
            match step {
                Step::Wait => break,
                Step::Type => {
                    self.type_next().await;
                    break; // let the screen show it
                }
                Step::PressEnter if self.enter_held(phase) => break,
                Step::PressEnter => {
                    self.enter_step(phase).await;
                    break;
                }
                Step::Delivered => {
                    if let Some((m, _)) = self.queue.inflight.take() {
                        self.finish(&m.id, Ok(()));
                    }
                }
                Step::Failed(reason) => {
                    if let Some((m, _)) = self.queue.inflight.take() {
                        self.finish(&m.id, Err(reason));
                    }
                }
            }
        }
        if self.queue.inflight.is_some()
            || (!self.queue.pending.is_empty()
                && (self.state == AgentState::Idle
                    || self.queue.pending.front().is_some_and(|m| m.is_resume())))
        {
            self.tick_in(Duration::from_millis(60));
        } else if !self.queue.pending.is_empty() {
            // A slow look while anything waits, whatever the screen said: a
            // lost wakeup (seen under load with Aider, whose screen goes
            // wholly quiet after a turn) then costs a second, not minutes.
            self.tick_in(Duration::from_secs(1));
        }
    }

    /// A typed message's first Enter waits out the driver's `enter_delay`
    /// (Codex keeps an Enter inside a key burst as a newline); the tick is
    /// re-armed for when it is over.
    fn enter_held(&mut self, phase: Option<Phase>) -> bool {
        let Some(Phase::Typed { at }) = phase else {
            return false;
        };
        let left = self.driver().enter_delay.saturating_sub(at.elapsed());
        if left.is_zero() {
            return false;
        }
        self.tick_in(left);
        true
    }

    /// Take the next message from the queue and type it (journaled first).
    async fn type_next(&mut self) {
        let Some(m) = self.queue.pending.pop_front() else {
            return;
        };
        if let Err(e) = self.queue.mark(&m.id, Op::Delivering, None, None) {
            tracing::error!(agent = %self.record.name, error = %e, "cannot journal; holding the message");
            self.queue.pending.push_front(m);
            return;
        }
        // Every text orc types, whatever its source, passes here.
        let text = match self.driver().paste_always {
            true => PaneText::new(&m.text).pasted(),
            false => PaneText::new(&m.text),
        };
        let id = m.id.clone();
        // Counted from the typing: a limit can show before the composer
        // clears (its menu holds the delivery).
        self.refused_turn.delivered(&m, Instant::now());
        if m.is_resume() {
            self.last_resume_id = Some(id.clone());
            self.resume_started();
        }
        self.queue.inflight = Some((m, Phase::Typed { at: Instant::now() }));
        match self.type_text(&text).await {
            Ok(()) => {
                let _ = self.queue.mark(&id, Op::Typed, None, None);
                crash_point("typed");
            }
            Err(e) => {
                self.queue.inflight = None;
                self.finish(&id, Err(e));
            }
        }
    }

    /// Submit the typed message (journaled first; pressed again if the
    /// first Enter did not take).
    async fn enter_step(&mut self, phase: Option<Phase>) {
        let enters = match phase {
            Some(Phase::Entered { enters, .. }) => enters + 1,
            _ => 1,
        };
        if let Some((m, _)) = &self.queue.inflight {
            if let Err(e) = self.queue.mark(&m.id, Op::Entering, None, None) {
                tracing::error!(agent = %self.record.name, error = %e, "cannot journal; not pressing Enter yet");
                return;
            }
        }
        crash_point("entering");
        match self.press_enter().await {
            Ok(()) => {
                crash_point("entered");
                if let Some((_, p)) = self.queue.inflight.as_mut() {
                    *p = Phase::Entered {
                        at: Instant::now(),
                        enters,
                    };
                }
            }
            Err(e) => {
                if let Some((m, _)) = self.queue.inflight.take() {
                    self.finish(&m.id, Err(e));
                }
            }
        }
    }
}

/// Test hook: with `ORC_TEST_HOOKS=1` and `ORC_TEST_CRASH_AT=<step>:<n>`, the
/// supervisor aborts right after the n-th message reaches `<step>` (`typed`:
/// text in the composer, journaled; `entering`: journaled, Enter not pressed
/// yet; `entered`: Enter pressed). Lets tests crash at exact points of a
/// delivery.
fn crash_point(step: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEEN: AtomicU32 = AtomicU32::new(0);
    if std::env::var("ORC_TEST_HOOKS").as_deref() != Ok("1") {
        return;
    }
    let Ok(spec) = std::env::var("ORC_TEST_CRASH_AT") else {
        return;
    };
    let Some((at, n)) = spec.split_once(':') else {
        return;
    };
    if at == step && n.parse::<u32>().ok() == Some(SEEN.fetch_add(1, Ordering::SeqCst) + 1) {
        eprintln!("orc: test hook: aborting at {spec}");
        std::process::abort();
    }
}
