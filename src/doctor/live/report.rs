//! What a live run reports: each step, what it expected and saw, and the
//! whole as text for a person.

use serde::Serialize;

use super::super::Status;

#[derive(Debug, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub expected: String,
    pub status: Status,
    /// The states orc showed during the step, in order (repeats folded).
    pub saw: Vec<String>,
    pub secs: f64,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct LiveReport {
    pub ok: bool,
    pub profile: String,
    pub command: String,
    /// `--version` of the CLI (Claude Code only).
    pub version: Option<String>,
    pub steps: Vec<Step>,
    /// The agent's screen as orc saw it when a step failed.
    pub screen: Vec<String>,
    /// The private ORC_HOME, when `--keep` kept it.
    pub kept: Option<String>,
}

impl LiveReport {
    pub fn summary(&self) -> String {
        let passed = self
            .steps
            .iter()
            .filter(|s| s.status == Status::Pass)
            .count();
        match self.steps.iter().find(|s| s.status == Status::Fail) {
            None => format!("all {passed} steps passed"),
            Some(s) => format!("stopped at {}: {}", s.step, s.detail),
        }
    }

    pub fn human(&self) -> String {
        let mut out = format!("orc doctor --live {}\n", self.profile);
        out.push_str(&format!(
            "  CLI: {}{}\n",
            self.command,
            self.version
                .as_deref()
                .map(|v| format!(" ({v})"))
                .unwrap_or_default()
        ));
        for s in &self.steps {
            out.push_str(&format!(
                "{} {:<12} {}\n",
                s.status.mark(),
                s.step,
                s.detail
            ));
            if s.status != Status::Skip {
                out.push_str(&format!("      expected: {}\n", s.expected));
                out.push_str(&format!(
                    "      saw:      {}{}\n",
                    if s.saw.is_empty() {
                        "nothing".to_string()
                    } else {
                        s.saw.join(" → ")
                    },
                    format_args!(" ({:.1} s)", s.secs)
                ));
            }
        }
        if !self.screen.is_empty() {
            out.push_str("the agent's screen as orc saw it last:\n");
            for l in &self.screen {
                out.push_str(&format!("  | {l}\n"));
            }
        }
        if let Some(k) = &self.kept {
            out.push_str(&format!(
                "kept: {k} (supervisor log, agent events and saved screens)\n"
            ));
        }
        out.push_str(&format!(
            "result: {} — {}\n",
            if self.ok { "PASS" } else { "FAIL" },
            self.summary()
        ));
        out
    }
}
