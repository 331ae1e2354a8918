//! Codex's session log as a signal (`codex_limits`): the usage windows it
//! logged go to the credit ledger (`orc credits`) and warn like the status
//! line's; a window used up with a reset starts a limit episode (or says
//! a resume was refused), as Claude Code's conversation log does.

use std::time::Duration;

use tokio::time::Instant;

use super::signals::{usage_warnings, warning_text};
use super::{AgentEvent, AgentState_};
use crate::codex_limits::{Limits, Tail};
use crate::credits::Phase as EpPhase;
use crate::proto::CreditKind;

impl AgentState_ {
    /// Follow the session log of this agent's folder from now on, when it
    /// runs Codex (its `CODEX_HOME`: `codex_limits::codex_home`).
    pub(super) fn open_codex_log(&mut self) {
        if !self.driver().session_limit_log {
            return;
        }
        if let Some(home) = crate::codex_limits::codex_home(&self.record.env) {
            self.codex_log = Some(Tail::new(&home, &self.record.cwd, self.now()));
        }
    }

    /// Read what Codex logged since the last look (at most once a second,
    /// at least every 2 s).
    pub(super) fn check_codex_log(&mut self) {
        let Some(tail) = self.codex_log.as_mut() else {
            return;
        };
        if self
            .codex_checked
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            self.tick_in(Duration::from_secs(1));
            return;
        }
        self.codex_checked = Some(Instant::now());
        let found = tail.poll();
        // Codex logs after a turn, with or without output after it: looked
        // at every 2 s while the agent runs Codex.
        self.tick_in(Duration::from_secs(2));
        for r in found {
            self.on_codex_limits(&r);
        }
    }

    fn on_codex_limits(&mut self, r: &Limits) {
        let report = r.report();
        self.tell(AgentEvent::Usage(report.clone()));
        for (kind, w) in usage_warnings(&report, self.credits.warn_percent, &mut self.sig.warned) {
            let text = warning_text(kind, &w);
            self.log("usage-high", Some(format!("{text} (session log)")));
            self.needs_human("usage_high", format!("{text} (Codex's session log)"));
        }
        let now = self.now();
        let Some((w, until)) = r.exhausted().filter(|(_, t)| *t > now) else {
            return;
        };
        let line = format!(
            "Codex's session log: {}% of the {} window used, resets at {}",
            w.used_percent.round() as i64,
            w.window_minutes
                .map(|m| format!("{m}-minute"))
                .unwrap_or_else(|| "usage".into()),
            until.format("%Y-%m-%d %H:%M UTC")
        );
        match &self.episode {
            None => self.begin_episode(&line, Some(until), false, CreditKind::LogSignal),
            // Logged after the resume went in: the resume did not help.
            Some(ep)
                if ep.phase == EpPhase::Resuming
                    && self.resume_typed_at.is_none_or(|t| r.at >= t) =>
            {
                self.log("credit-log-confirms", Some(line.clone()));
                self.resume_failed(&line, Some(until));
            }
            Some(_) => self.log("credit-log-confirms", Some(line)),
        }
    }
}
