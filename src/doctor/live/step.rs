//! Walking the steps: sending each step's message, following the agent's
//! states until the step ends, and checking the evidence.

use std::time::{Duration, Instant};

use super::super::Status;
use super::plans::{plans, Kind, Plan, Until, RESET_SLACK, TOOL_FILE};
use super::{Live, Step, AGENT};
use crate::proto::{AgentState, PsRow, Request, Response};

impl Live {
    pub(super) async fn walk(
        &mut self,
        kind: Kind,
        steps: &mut Vec<Step>,
        screen: &mut Vec<String>,
    ) {
        let mut failed: Option<&'static str> = None;
        for plan in plans(kind) {
            if let Some(at) = failed {
                steps.push(Step {
                    step: plan.step,
                    expected: plan.expected,
                    status: Status::Skip,
                    saw: vec![],
                    secs: 0.0,
                    detail: format!("not run (stopped at {at})"),
                });
                continue;
            }
            let step = self.step(kind, &plan).await;
            if step.status == Status::Fail {
                failed = Some(plan.step);
                *screen = self.screen().await;
            }
            steps.push(step);
        }
    }

    pub(super) async fn step(&mut self, kind: Kind, plan: &Plan) -> Step {
        for r in &plan.replies {
            self.stand_in.push(r.clone());
        }
        // Startup counts everything since the spawn.
        let fresh = plan.message.is_none();
        let pressed_before = if fresh { 0 } else { self.answers().len() };
        let events_before = if fresh { 0 } else { self.events().len() };
        if let Some(m) = &plan.message {
            let req = Request::Send {
                name: AGENT.into(),
                text: m.clone(),
                from: None,
                wait: false,
            };
            if let Err(e) = self.ctx.ok(req).await {
                return fail(plan, vec![], 0.0, format!("orc refused the message: {e}"));
            }
        }
        let start = Instant::now();
        let sent_at = chrono::Utc::now().timestamp();
        let mut saw: Vec<String> = Vec::new();
        let mut last: Option<PsRow> = None;
        let outcome = self
            .follow(plan, start, pressed_before, &mut saw, &mut last)
            .await;
        let secs = start.elapsed().as_secs_f64();
        let answers: Vec<String> = self.answers().split_off(pressed_before);
        let pressed = if answers.is_empty() {
            String::new()
        } else {
            format!("; orc answered {}", answers.join(", "))
        };
        if let Err(e) = outcome {
            let unplaced = self.events()[events_before..]
                .iter()
                .any(|(e, _)| e == "unplaced-screen");
            let why = if unplaced {
                "; orc logged unplaced-screen".to_string()
            } else {
                String::new()
            };
            let verdict = self.verdict().await;
            return fail(plan, saw, secs, format!("{e}{pressed}{why}{verdict}"));
        }
        let extra = match self.evidence(kind, plan, sent_at, last.as_ref()).await {
            Ok(extra) => extra,
            Err(detail) => return fail(plan, saw, secs, detail),
        };
        let mut detail = format!("in {secs:.1} s");
        for e in extra {
            detail.push_str(&format!(", {e}"));
        }
        detail.push_str(&pressed);
        Step {
            step: plan.step,
            expected: plan.expected.clone(),
            status: Status::Pass,
            saw,
            secs,
            detail,
        }
    }

    /// Follow the agent's rows until the step's end, a dead CLI or the
    /// timeout; `saw` gets the states shown, `last` the last row.
    async fn follow(
        &mut self,
        plan: &Plan,
        start: Instant,
        pressed_before: usize,
        saw: &mut Vec<String>,
        last: &mut Option<PsRow>,
    ) -> Result<(), String> {
        let mut left_idle = false;
        loop {
            let row = match self.row().await {
                Ok(r) => r,
                Err(e) => break Err(e),
            };
            let l = label(&row);
            if saw.last() != Some(&l) {
                saw.push(l.clone());
            }
            if row.pid.is_some() {
                self.pane_pid = row.pid;
            }
            let done = self.done(plan, &row, &mut left_idle, saw, pressed_before);
            *last = Some(row.clone());
            if done {
                break Ok(());
            }
            if matches!(
                row.state,
                AgentState::Exited
                    | AgentState::Restarting
                    | AgentState::Failed
                    | AgentState::AuthFailed
            ) {
                break Err(format!("the CLI went to {l}"));
            }
            if start.elapsed() > plan.timeout {
                break Err(stuck(plan, &row, saw, &l));
            }
        }
    }

    /// Whether `row` ends the step.
    fn done(
        &self,
        plan: &Plan,
        row: &PsRow,
        left_idle: &mut bool,
        saw: &[String],
        pressed_before: usize,
    ) -> bool {
        match &plan.until {
            Until::Idle => row.state == AgentState::Idle,
            Until::TurnBack(must) => {
                *left_idle |= row.state != AgentState::Idle;
                // A prompt orc answered between two frames counts as seen.
                let answered = *must == AgentState::AwaitingPermission
                    && self.answers()[pressed_before..]
                        .iter()
                        .any(|a| a.starts_with("permission"));
                *left_idle
                    && row.state == AgentState::Idle
                    && row.queue == 0
                    && (answered || saw.iter().any(|s| s.starts_with(must.as_str())))
            }
            Until::Limited(_) | Until::LimitedAfter(_) => {
                row.state == AgentState::Limited && row.limited_until.is_some()
            }
            Until::LimitedAny => row.state == AgentState::Limited,
        }
    }

    /// The step's own evidence beyond the states: the reply on screen, the
    /// tool's file and result, the reset time. `Err` says what is missing.
    async fn evidence(
        &self,
        kind: Kind,
        plan: &Plan,
        sent_at: i64,
        last: Option<&PsRow>,
    ) -> Result<Vec<String>, String> {
        let mut extra = Vec::new();
        if let Some(text) = &plan.screen_has {
            if !self
                .screen()
                .await
                .iter()
                .any(|l| l.contains(text.as_str()))
            {
                return Err(format!(
                    "orc says idle, but the reply {text:?} is not on its screen"
                ));
            }
            extra.push("reply on screen".to_string());
        }
        if kind == Kind::Claude && plan.step == "tool call" {
            let ran = std::fs::read_to_string(self.work.join(TOOL_FILE))
                .is_ok_and(|t| t.contains("orc-doctor-tool"));
            let returned = self
                .stand_in
                .tool_results()
                .iter()
                .any(|t| t.contains("orc-doctor-tool"));
            if !ran || !returned {
                return Err(format!(
                    "the Bash command {} and its result {} back to the API",
                    if ran { "ran" } else { "did not run" },
                    if returned { "came" } else { "never came" }
                ));
            }
            extra.push(format!("{TOOL_FILE} written, result sent back"));
        }
        let want = match plan.until {
            Until::Limited(t) => Some(t),
            Until::LimitedAfter(secs) => Some(sent_at + secs),
            _ => None,
        };
        if let (Some(want), Some(got)) = (want, last.and_then(|r| r.limited_until)) {
            let off = got.timestamp() - want;
            if off.abs() > RESET_SLACK {
                return Err(format!(
                    "limited, but until {} ({off:+} s off the announced reset)",
                    got.format("%H:%M:%S UTC")
                ));
            }
            extra.push(format!("reset {}", got.format("%H:%M:%S UTC")));
        }
        Ok(extra)
    }

    /// The agent's next row: the next watch frame, or (none within 250 ms)
    /// a fresh `ps`.
    pub(super) async fn row(&mut self) -> Result<PsRow, String> {
        if let Some(rx) = self.frames.as_mut() {
            if let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(250), rx.recv()).await {
                return Ok(r);
            }
        }
        let (rows, _) = self
            .ctx
            .ps()
            .await
            .map_err(|e| format!("the private supervisor stopped answering: {e}"))?;
        rows.into_iter()
            .find(|r| r.name == AGENT)
            .ok_or_else(|| "the agent is gone from the private supervisor".to_string())
    }

    /// The agent's events orc logged so far (event, detail).
    fn events(&self) -> Vec<(String, String)> {
        let file = self.ctx.paths.agent_log_dir(AGENT).join("events.jsonl");
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
                (s("event"), s("detail"))
            })
            .collect()
    }

    /// The dialog answers orc logged for the agent so far.
    fn answers(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|(e, _)| e == "dialog-answered")
            .map(|(_, d)| d)
            .collect()
    }

    /// What orc's rules make of the agent's screen now, as a clause.
    async fn verdict(&self) -> String {
        let Ok(Response::Screen { rows, cols, text }) =
            self.ctx.ok(Request::Screen { name: AGENT.into() }).await
        else {
            return String::new();
        };
        let mut p = vt100::Parser::new(rows.max(1), cols.max(1), 0);
        p.process(text.replace('\n', "\r\n").as_bytes());
        let det = self.detector.as_str();
        let o = crate::screen::classify(
            p.screen(),
            Duration::from_secs(10),
            crate::drivers::table_for(det),
        );
        let what = match (o.state, o.rule.as_str()) {
            (_, "unplaced") => "no rule matches and no composer is found".to_string(),
            (Some(s), rule) => format!("rule `{rule}` says {}", s.as_str()),
            (None, rule) => format!("rule `{rule}`, no state"),
        };
        let dialog = o
            .dialog
            .and_then(|d| serde_json::to_value(d).ok())
            .and_then(|v| v.as_str().map(|d| format!(" (dialog: {d})")))
            .unwrap_or_default();
        format!("; orc's `{det}` screen rules on the last screen: {what}{dialog}")
    }

    /// The agent's screen, without trailing blank lines.
    pub(super) async fn screen(&self) -> Vec<String> {
        let Ok(Response::Screen { text, .. }) =
            self.ctx.ok(Request::Screen { name: AGENT.into() }).await
        else {
            return vec![];
        };
        let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        let first = lines.iter().position(|l| !l.is_empty()).unwrap_or(0);
        lines.drain(..first);
        // Runs of blank lines as one.
        lines.dedup_by(|a, b| a.is_empty() && b.is_empty());
        lines
    }
}

fn fail(plan: &Plan, saw: Vec<String>, secs: f64, detail: String) -> Step {
    Step {
        step: plan.step,
        expected: plan.expected.clone(),
        status: Status::Fail,
        saw,
        secs,
        detail,
    }
}

/// A state as the report shows it: with the dialog or the reset.
fn label(r: &PsRow) -> String {
    let s = r.state.as_str();
    match r.state {
        AgentState::Limited => match r.limited_until {
            Some(u) => format!("{s} (until {})", u.format("%H:%M:%S UTC")),
            None => format!("{s} (no reset time)"),
        },
        _ => match r.note.as_deref() {
            Some(n) if n.starts_with("dialog:") => format!("{s} ({n})"),
            _ => s.to_string(),
        },
    }
}

/// What a step that ran out of time says.
fn stuck(plan: &Plan, row: &PsRow, saw: &[String], l: &str) -> String {
    let queued = match row.queue {
        0 => String::new(),
        n => format!(", {n} message(s) still queued"),
    };
    match &plan.until {
        Until::TurnBack(must) if !saw.iter().any(|s| s.starts_with(must.as_str())) => {
            format!(
                "never saw {}; stuck at {l} after {} s{queued}",
                must.as_str(),
                plan.timeout.as_secs()
            )
        }
        _ => format!("stuck at {l} after {} s{queued}", plan.timeout.as_secs()),
    }
}
