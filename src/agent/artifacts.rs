//! What an agent leaves behind: its event log (`orc logs NAME`), the last
//! screen before its pane went away, and whole-scrollback transcripts.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AgentState_;
use crate::paths::Paths;
use crate::screen;
use crate::state::{append_jsonl, write_atomic};

#[derive(Serialize)]
struct LogEvent<'a> {
    at: DateTime<Utc>,
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pane: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl AgentState_ {
    pub(super) fn log(&self, event: &str, detail: Option<String>) {
        let ev = LogEvent {
            at: self.now(),
            event,
            pane: self.record.pane.as_deref(),
            pid: self.record.pid,
            detail,
        };
        let path = self
            .paths
            .agent_log_dir(&self.record.name)
            .join("events.jsonl");
        if let Err(e) = append_jsonl(&path, &ev) {
            tracing::warn!(agent = %self.record.name, error = %e, "cannot write agent log");
        }
    }

    /// Save the pane's whole scrollback, with a header, under the project's
    /// logs (`orc logs NAME --transcript` prints the latest).
    pub(super) async fn save_transcript(&self, reason: &str) {
        let Some(pane) = self.record.pane.clone() else {
            return;
        };
        let lines = match self.pane.scrollback(&pane).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(agent = %self.record.name, error = %e, "cannot capture the transcript");
                return;
            }
        };
        let now = self.now();
        let header = format!(
            "# transcript of agent {} (role {}, project {})\n# pane {} pid {} started {} saved {} reason {}\n# {} lines of scrollback\n\n",
            self.record.name,
            self.record.role.as_deref().unwrap_or("-"),
            self.record.project.as_deref().unwrap_or("-"),
            pane,
            self.record.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            self.started_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into()),
            now.to_rfc3339(),
            reason,
            lines.len()
        );
        let path = transcript_dir(
            &self.paths,
            self.record.project.as_deref(),
            &self.record.name,
        )
        .join(format!("{}-{reason}.txt", now.format("%Y%m%dT%H%M%S%.3fZ")));
        let body = header + &lines.join("\n") + "\n";
        if let Err(e) = write_atomic(&path, body.as_bytes()) {
            tracing::warn!(agent = %self.record.name, error = %e, "cannot save the transcript");
        } else {
            self.log("transcript-saved", Some(path.display().to_string()));
        }
    }

    /// Keep the last screen before the pane goes away.
    pub(super) fn save_screen(&self, reason: &str) {
        let dir = self.paths.agent_log_dir(&self.record.name).join("screens");
        let name = format!("{}-{}.txt", self.now().format("%Y%m%dT%H%M%S%.3fZ"), reason);
        let header = format!(
            "# agent {} pane {} pid {} saved {} reason {}\n",
            self.record.name,
            self.record.pane.as_deref().unwrap_or("-"),
            self.record
                .pid
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            self.now().to_rfc3339(),
            reason
        );
        let body = header + &screen::plain(self.parser.screen()) + "\n";
        if let Err(e) = write_atomic(&dir.join(name), body.as_bytes()) {
            tracing::warn!(agent = %self.record.name, error = %e, "cannot save last screen");
        }
    }
}

/// Where an agent's transcripts go: `<state>/projects/<project|_>/logs/transcripts/<agent>/`.
pub fn transcript_dir(paths: &Paths, project: Option<&str>, agent: &str) -> std::path::PathBuf {
    paths
        .state
        .join("projects")
        .join(project.unwrap_or("_"))
        .join("logs")
        .join("transcripts")
        .join(agent)
}

/// The newest transcript of an agent, in any project.
pub fn latest_transcript(paths: &Paths, agent: &str) -> Option<std::path::PathBuf> {
    let projects = std::fs::read_dir(paths.state.join("projects")).ok()?;
    projects
        .flatten()
        .filter_map(|p| std::fs::read_dir(p.path().join("logs/transcripts").join(agent)).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .filter(|p| paths.inside(p).is_ok())
        .max_by_key(|p| p.file_name().map(|n| n.to_os_string()))
}
