//! The screen: output fed into the vt100 parser, looked at when it may have
//! settled, classified into a state, and the bookkeeping on each new look.

use std::time::Duration;

use tokio::time::Instant;

use super::answer::dialog_name;
use super::{AgentEvent, AgentMsg, AgentState_, DIGEST_EVERY, STARTUP_GRACE, TURN_LOG_DELAY};
use crate::proto::{AgentState, PsRow};
use crate::screen;
use crate::screen::detect::{Dialog, Observation};

impl AgentState_ {
    /// Bytes the pane printed: into the screen, looked at once per burst slot.
    pub(super) async fn on_output(&mut self, seq: u64, data: &[u8]) {
        if seq <= self.seeded_at {
            return; // already in the screen the last resync built
        }
        if !screen::feed(&mut self.parser, data) {
            tracing::warn!(agent = %self.record.name, "the terminal emulator choked on the pane's output; rebuilding the screen from tmux");
            if let Some(me) = &self.me {
                let _ = me.cast(AgentMsg::Resync);
            }
            return;
        }
        self.last_activity = Some(self.now());
        self.undigested = true;
        let since = self.digested_at.elapsed();
        if since >= DIGEST_EVERY {
            self.look_at_output().await;
        } else {
            // Mid-burst: look once the burst's slot is over.
            self.tick_in(DIGEST_EVERY - since);
        }
    }

    /// A look at the screen once it may have settled: classify, check the
    /// structured signals, answer a dialog, drive delivery.
    pub(super) async fn on_tick(&mut self) {
        if self
            .tick_due
            .is_some_and(|due| due <= Instant::now() + Duration::from_millis(5))
        {
            self.tick_due = None;
        }
        if self.undigested {
            self.look_at_output().await;
        }
        self.refresh_state();
        self.check_convlog();
        self.check_codex_log();
        self.check_context();
        if self.last_change.elapsed() < screen::SETTLE {
            self.schedule_tick();
        }
        self.react().await;
        self.drive().await;
    }

    /// The visible screen as text, with its size (rows, cols).
    pub(super) fn screen_text(&self) -> (u16, u16, String) {
        let (rows, cols) = self.parser.screen().size();
        (rows, cols, screen::plain(self.parser.screen()))
    }

    pub(super) fn set_state(&mut self, s: AgentState) {
        if s != self.state {
            self.state = s;
            self.since = self.now();
            crate::changes::bump();
            self.tell(AgentEvent::StateChanged(s));
            match s {
                AgentState::AuthFailed if !self.sig.auth_reported => self.needs_human(
                    "auth_failed",
                    "the CLI cannot authenticate: log it in again (orc will not restart it)".into(),
                ),
                AgentState::AwaitingPermission | AgentState::AwaitingChoice => {
                    // Tell a human (and, for a question, the hub) if nobody
                    // answers within the configured time.
                    self.waiting_gen += 1;
                    let g = self.waiting_gen;
                    let after = if s == AgentState::AwaitingPermission {
                        self.notify_permission_after
                    } else {
                        self.notify_choice_after
                    };
                    if let (Some(me), Some(after)) = (&self.me, after) {
                        me.send_after(after, move || AgentMsg::StillWaiting(g));
                    }
                }
                _ => {}
            }
        }
    }

    /// Something only a person can fix: the hub runs the notify command.
    pub(super) fn needs_human(&self, event: &str, detail: String) {
        self.log("needs-human", Some(format!("{event}: {detail}")));
        self.tell(AgentEvent::NeedsHuman {
            event: event.to_string(),
            detail,
        });
    }

    pub(super) fn refresh_state(&mut self) {
        let s = match self.forced {
            Some(f) => f,
            None if !self.alive => AgentState::Exited,
            None => {
                let obs =
                    screen::classify(self.parser.screen(), self.last_change.elapsed(), self.table);
                let s = match (obs.state, self.state) {
                    // A screen still settling keeps the state it had; a dialog
                    // or an error does not outlive its screen.
                    (None, prev) if obs.rule == "settling" => match prev {
                        AgentState::Idle
                        | AgentState::Busy
                        | AgentState::Composing
                        | AgentState::Starting
                        | AgentState::Unknown => prev,
                        _ => AgentState::Starting,
                    },
                    // A new pane is `starting` until its screen first settles
                    // (the generic rule calls a moving screen busy).
                    // A settled screen no rule places is `unknown` once the
                    // CLI had time to draw its prompt: said, never guessed.
                    (None, AgentState::Starting)
                        if obs.rule == "unplaced"
                            && self.started_at.is_some_and(|t| {
                                (self.now() - t).to_std().unwrap_or_default() >= STARTUP_GRACE
                            }) =>
                    {
                        AgentState::Unknown
                    }
                    (Some(AgentState::Busy) | None, AgentState::Starting) if obs.rule != "busy" => {
                        AgentState::Starting
                    }
                    (s, _) => s.unwrap_or(AgentState::Unknown),
                };
                self.observed(&obs, s);
                self.obs = obs;
                s
            }
        };
        self.set_state(s);
    }

    /// Bookkeeping on a fresh observation: turn-finished events, the limit's
    /// reset time, the note, one log line for an unplaceable screen.
    pub(super) fn observed(&mut self, obs: &Observation, s: AgentState) {
        let was = self.state;
        // A finished turn is logged once the screen has shown idle for a
        // moment, so that a reply drawn late (a busy machine) is in it.
        if s == AgentState::Idle {
            self.refused_turn.idle(Instant::now());
        }
        match s {
            AgentState::Busy => self.in_turn = true,
            AgentState::Idle if self.in_turn => {
                self.in_turn = false;
                self.turn_done_at = Some(Instant::now());
                if let Some(me) = &self.me {
                    me.send_after(TURN_LOG_DELAY + Duration::from_millis(20), || {
                        AgentMsg::Tick
                    });
                }
            }
            AgentState::Limited | AgentState::AuthFailed | AgentState::Exited => {
                self.in_turn = false
            }
            _ => {}
        }
        if let Some(t) = self.turn_done_at {
            if s != AgentState::Idle || t.elapsed() >= TURN_LOG_DELAY {
                self.turn_done_at = None;
                self.log(
                    "turn-finished",
                    Some(format!(
                        "{} | {}",
                        obs.finished_line.as_deref().unwrap_or("-"),
                        obs.last_reply.as_deref().unwrap_or("-")
                    )),
                );
            }
        }
        let _ = was;
        self.track_limit(obs, s);
        if s == AgentState::Unknown {
            if !self.unplaced_logged {
                self.unplaced_logged = true;
                tracing::warn!(agent = %self.record.name, detector = %self.record.detector, "screen matches no detector rule");
                self.save_screen("unplaced");
                self.log("unplaced-screen", None);
            }
        } else {
            self.unplaced_logged = false;
        }
        if self.forced.is_none() {
            self.note = match (s, obs.dialog) {
                (AgentState::Limited, _) => obs.limit_line.clone(),
                (_, Some(d)) => Some(match self.answerer.trouble() {
                    Some(why) => format!("dialog: {}: {why}", dialog_name(Some(d))),
                    None => match obs.dialog_line.as_deref() {
                        Some(line)
                            if d != Dialog::Permission && self.answer_for(d, obs).is_none() =>
                        {
                            format!("dialog: {}: \"{line}\"", dialog_name(Some(d)))
                        }
                        _ => format!("dialog: {}", dialog_name(Some(d))),
                    },
                }),
                (AgentState::AuthFailed, _) => {
                    Some("authentication failed: log in again; orc will not restart it".into())
                }
                _ if self.note.as_deref().is_some_and(|n| {
                    n.starts_with("dialog:") || n.starts_with("authentication")
                }) =>
                {
                    None
                }
                _ => self.note.take(),
            };
        }
    }

    /// Look at the screen again when it may have settled.
    pub(super) fn schedule_tick(&mut self) {
        let wait =
            screen::SETTLE.saturating_sub(self.last_change.elapsed()) + Duration::from_millis(10);
        self.tick_in(wait);
    }

    /// Compare the screen with the last look; a real change (not a redraw of
    /// the same contents) re-classifies it and drives delivery.
    pub(super) async fn look_at_output(&mut self) {
        self.undigested = false;
        self.digested_at = Instant::now();
        let digest = screen::digest(self.parser.screen());
        if digest != self.digest {
            self.digest = digest;
            self.last_change = Instant::now();
            self.refresh_state();
            self.schedule_tick();
            self.react().await;
            self.drive().await;
        }
    }

    /// Make sure a Tick comes within `d`. One already due sooner is enough; a
    /// later one does not hold this one back (a slow recheck must never delay
    /// a delivery step).
    pub(super) fn tick_in(&mut self, d: Duration) {
        let now = Instant::now();
        let at = now + d;
        // A due well past that no Tick cleared is no promise of one.
        if self
            .tick_due
            .is_some_and(|due| due <= at && due + Duration::from_millis(250) >= now)
        {
            return;
        }
        self.tick_due = Some(at);
        if let Some(me) = &self.me {
            me.send_after(d, || AgentMsg::Tick);
        }
    }

    pub(super) fn row(&mut self) -> PsRow {
        self.refresh_state();
        let state = crate::credits::shown_state(self.episode.as_ref(), self.state);
        let note = match (&self.note, state != self.state) {
            (None, true) => Some("at its prompt; messages wait for the limit's resume".into()),
            (n, _) => n.clone(),
        };
        PsRow {
            name: self.record.name.clone(),
            role: self.record.role.clone(),
            project: self.record.project.clone(),
            profile: self.record.profile.clone(),
            pane: self.record.pane.clone(),
            pid: self.record.pid,
            state,
            since: self.since,
            restarts: self.record.restarts,
            limited_until: self.limited_until,
            queue: self.queue.len() as u32,
            last_activity: self.last_activity,
            cwd: self.record.cwd.display().to_string(),
            note,
            report: None, // the orchestrator owns reports
            context_left: self.context_left(),
            last_commit: None,
            uncommitted: None,
        }
    }
}
