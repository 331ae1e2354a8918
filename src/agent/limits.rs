//! Usage limits: an episode starts on the screen or in the conversation
//! log, holds every message but orc's resume prompt, resumes at the reset
//! (unless the CLI went on by itself), is re-armed when refused, and ends
//! with the first normal turn. Also context pressure.

use std::time::Duration;

use tokio::time::Instant;

use chrono::{DateTime, Utc};

use super::{AgentEvent, AgentMsg, AgentState_};
use crate::credits::{Episode, Phase as EpPhase};
use crate::proto::{AgentState, CreditEvent, CreditKind};
use crate::queue::{Message, Op};
use crate::screen;
use crate::screen::detect::{Dialog, Observation};

impl AgentState_ {
    /// Timer: the episode's resume instant may have come.
    pub(super) async fn on_resume_due(&mut self, g: u64) {
        if g != self.episode_gen {
            return;
        }
        let Some(ep) = &self.episode else { return };
        if ep.phase != EpPhase::Waiting {
            return;
        }
        if self.now() < ep.resume_at {
            self.arm_resume(); // woke early, or the clock moved back
            return;
        }
        self.refresh_state();
        match self.state {
            // Still showing the limit (or idle after a log-only signal):
            // resume it. If the CLI went on by itself, it is busy and is
            // left alone.
            AgentState::Limited | AgentState::Idle => {
                self.send_resume();
                self.drive().await;
            }
            _ => {
                // Busy, in a dialog, or gone: look again shortly.
                self.episode_gen += 1;
                let g = self.episode_gen;
                if let Some(me) = &self.me {
                    me.send_after(Duration::from_secs(10), move || AgentMsg::ResumeDue(g));
                }
            }
        }
    }

    /// Timer: the resume went in a while ago; is the agent still limited?
    pub(super) fn on_verify_resume(&mut self, g: u64) {
        if g != self.episode_gen {
            return;
        }
        self.refresh_state();
        let resuming = self
            .episode
            .as_ref()
            .is_some_and(|e| e.phase == EpPhase::Resuming);
        if resuming && self.state == AgentState::Limited {
            let line = self.obs.limit_line.clone().unwrap_or_default();
            let (reset, _) = self.parse_limit(&line);
            self.resume_failed(&line, reset);
        } else if resuming && self.state == AgentState::Busy {
            // Working on it: check again later.
            self.episode_gen += 1;
            let g = self.episode_gen;
            if let Some(me) = &self.me {
                me.send_after(self.credits.verify, move || AgentMsg::VerifyResume(g));
            }
        }
    }

    /// Tell the hub's credit ledger, and the agent's own log.
    pub(super) fn credit(&self, kind: CreditKind, detail: Option<String>) {
        let ep = self.episode.as_ref();
        let ev = CreditEvent {
            at: self.now(),
            kind,
            reset_at: ep.and_then(|e| e.reset),
            resume_at: ep
                .filter(|e| e.phase == EpPhase::Waiting)
                .map(|e| e.resume_at),
            tries: ep.map(|e| e.tries).unwrap_or(0),
            detail: detail.clone(),
        };
        let name = serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        self.log(
            &format!("credit-{}", name.replace('_', "-")),
            Some(format!(
                "{}{}",
                ev.resume_at
                    .map(|r| format!("resume at {} ", r.to_rfc3339()))
                    .unwrap_or_default(),
                detail.unwrap_or_default()
            )),
        );
        self.tell(AgentEvent::Credit(ev));
    }

    pub(super) fn parse_limit(&self, line: &str) -> (Option<DateTime<Utc>>, bool) {
        // A clock time a few minutes past is the reset that just went by,
        // not the same time tomorrow.
        let grace = chrono::Duration::minutes(10);
        match screen::reset::parse_reset(line, self.now() - grace, screen::reset::local_zone()) {
            Ok(r) => (Some(r.at), r.auto_continue),
            Err(e) => {
                tracing::warn!(agent = %self.record.name, error = %e, "cannot read the reset time; using the fallback cycle");
                (None, false)
            }
        }
    }

    /// Arm the timer for the episode's resume instant (re-checked at least
    /// every minute, so a wall-clock jump is noticed).
    pub(super) fn arm_resume(&mut self) {
        self.episode_gen += 1;
        let Some(ep) = &self.episode else { return };
        let wait = (ep.resume_at - self.now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(60));
        let g = self.episode_gen;
        if let Some(me) = &self.me {
            me.send_after(wait + Duration::from_millis(5), move || {
                AgentMsg::ResumeDue(g)
            });
        }
    }

    /// A usage limit starts, holds, or ends, from the screen.
    pub(super) fn track_limit(&mut self, obs: &Observation, s: AgentState) {
        let now = self.now();
        match s {
            AgentState::Limited => {
                let line = obs.limit_line.clone().unwrap_or_default();
                match &self.episode {
                    None => {
                        let (reset, auto) = self.parse_limit(&line);
                        self.begin_episode(&line, reset, auto, CreditKind::Limited);
                    }
                    Some(ep)
                        if ep.phase == EpPhase::Resuming
                            && (obs.dialog == Some(Dialog::UsageLimitMenu)
                                || self.episode_turn
                                || (!line.is_empty() && line != ep.line)) =>
                    {
                        // After the resume a turn started and the limit is
                        // back (or its menu, or a new limit line): refused again.
                        let (reset, _) = self.parse_limit(&line);
                        self.resume_failed(&line, reset);
                    }
                    Some(_) => {}
                }
            }
            AgentState::Busy => {
                if let Some(ep) = &self.episode {
                    if !self.episode_turn && ep.phase == EpPhase::Resuming {
                        self.log(
                            "credit-working",
                            Some("a turn started after the resume".into()),
                        );
                    }
                    self.episode_turn = true;
                }
            }
            AgentState::Idle if self.episode.is_some() && self.episode_turn => {
                let how = match self.episode.as_ref().map(|e| e.phase) {
                    Some(EpPhase::Resuming) => "a turn ended normally after orc's resume",
                    _ => "a turn ended normally (resumed without orc)",
                };
                self.credit(CreditKind::Recovered, Some(how.into()));
                self.refused_turn.recovered(Instant::now());
                self.episode = None;
                self.episode_gen += 1;
                self.limited_until = None;
                self.note = None;
            }
            _ => {}
        }
        if let Some(ep) = &self.episode {
            self.limited_until = ep.reset;
            let _ = now;
        }
    }

    pub(super) fn begin_episode(
        &mut self,
        line: &str,
        reset: Option<DateTime<Utc>>,
        auto: bool,
        kind: CreditKind,
    ) {
        if reset.is_none() {
            self.needs_human(
                "limit_without_reset",
                format!("usage limit with no reset time orc can read ({line}); resuming on the fallback cycle"),
            );
        }
        self.refused_turn.limited();
        let ep = Episode::start(line, reset, auto, self.now(), &self.credits);
        self.limited_until = ep.reset;
        self.episode = Some(ep);
        self.episode_turn = false;
        self.log("limited", Some(line.to_string()));
        self.credit(kind, Some(line.to_string()));
        self.arm_resume();
    }

    /// The resume did not take: plan the next one, or leave it to a human.
    pub(super) fn resume_failed(&mut self, line: &str, reset: Option<DateTime<Utc>>) {
        let policy = self.credits.clone();
        let now = self.now();
        let Some(ep) = self.episode.as_mut() else {
            return;
        };
        self.episode_turn = false;
        let gave_up = ep.still_limited(line, reset, now, &policy);
        let tries = ep.tries;
        if gave_up {
            self.episode_gen += 1;
            self.needs_human(
                "limit_gave_up",
                format!("still limited after {tries} resumes; `orc credits` shows the history"),
            );
            self.credit(
                CreditKind::GaveUp,
                Some(format!(
                    "still limited after {tries} resumes; a human should look (`orc credits`)"
                )),
            );
        } else {
            self.credit(CreditKind::StillLimited, Some(line.to_string()));
            self.arm_resume();
        }
    }

    /// Queue orc's resume prompt ahead of everything else.
    pub(super) fn send_resume(&mut self) {
        let now = self.now();
        let Some(ep) = self.episode.as_mut() else {
            return;
        };
        ep.tries += 1;
        let m = Message {
            id: crate::queue::new_id(),
            from: crate::routing::SYSTEM_SENDER.into(),
            to: self.record.name.clone(),
            text: self.credits.resume_message.clone(),
            created: now,
            key: Some(format!(
                "resume:{}:{}.{}",
                self.record.name,
                ep.started.timestamp(),
                ep.tries
            )),
        };
        if self.queue.duplicate_of(&m).is_some() {
            return;
        }
        if let Err(e) = self.queue.mark(&m.id, Op::Queued, None, Some(m.clone())) {
            tracing::error!(agent = %self.record.name, error = %e, "cannot journal the resume message");
            return;
        }
        if let Some(k) = &m.key {
            self.queue.keys.insert(k.clone());
        }
        self.queue.pending.push_front(m);
        self.credit(CreditKind::ResumeSent, None);
    }

    /// Context pressure: below the threshold, tell the hub once per dip
    /// (it resets when the level is back well above it, e.g. after /compact).
    pub(super) fn check_context(&mut self) {
        let Some(left) = self.context_left() else {
            return;
        };
        let threshold = self.context.threshold;
        if left < threshold && !self.context_alerted && self.state == AgentState::Idle {
            self.context_alerted = true;
            self.log("context-low", Some(format!("{left}% left")));
            self.tell(AgentEvent::ContextLow(left));
        } else if left >= threshold.saturating_add(10) {
            self.context_alerted = false;
        }
    }

    /// Claude Code's conversation log: a usage-limit record is a second
    /// signal (and the first, if the screen's wording is one orc misses).
    pub(super) fn check_convlog(&mut self) {
        let Some(tail) = self.convlog.as_mut() else {
            return;
        };
        if self
            .convlog_checked
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            // Look again once the second is up: the last change may be the one.
            self.tick_in(Duration::from_secs(1));
            return;
        }
        self.convlog_checked = Some(Instant::now());
        for r in tail.poll() {
            match &self.episode {
                None => {
                    let (reset, auto) = self.parse_limit(&r.text);
                    self.begin_episode(&r.text, reset, auto, CreditKind::LogSignal);
                }
                // A refusal logged before the resume went in (the CLI's own
                // try at the reset) says nothing about the resume.
                Some(ep)
                    if ep.phase == EpPhase::Resuming
                        && self.resume_typed_at.is_none_or(|t| r.at >= t) =>
                {
                    // The resume was refused: the log says so before the screen does.
                    self.log("credit-log-confirms", Some(r.text.clone()));
                    let (reset, _) = self.parse_limit(&r.text);
                    self.resume_failed(&r.text, reset);
                }
                Some(_) => self.log("credit-log-confirms", Some(r.text.clone())),
            }
        }
    }

    /// The resume message is being typed: from now on a limit menu means a
    /// new refusal, and a finished turn means it works again.
    pub(super) fn resume_started(&mut self) {
        let Some(ep) = self.episode.as_mut() else {
            return;
        };
        ep.phase = EpPhase::Resuming;
        // What the screen shows as the resume goes in is not a refusal of
        // it (a restarted CLI replays the limit in other words than the
        // live notice that started the episode): only a line that differs
        // from this one is.
        if let Some(line) = self.obs.limit_line.clone() {
            ep.line = line;
        }
        self.resume_typed_at = Some(self.now());
        self.episode_turn = false;
        self.episode_gen += 1;
        let g = self.episode_gen;
        if let Some(me) = &self.me {
            me.send_after(self.credits.verify, move || AgentMsg::VerifyResume(g));
        }
    }

    /// The resume message could not be typed or submitted: count it as a
    /// try that found the agent still limited.
    pub(super) fn resume_delivered(&mut self, ok: bool) {
        let Some(ep) = self.episode.as_ref() else {
            return;
        };
        if !ok && ep.phase == EpPhase::Resuming {
            let line = ep.line.clone();
            self.resume_failed(&line, None);
        }
    }
}
