//! The agent table on disk, and atomic file writes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Write `bytes` to `path` atomically: a temp file in the same folder, fsync,
/// rename over the target, fsync the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Append one JSON line to a journal (created if missing).
pub fn append_jsonl<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(&line)
}

/// Everything orc remembers about one agent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentRecord {
    pub name: String,
    pub role: Option<String>,
    pub project: Option<String>,
    pub profile: String,
    /// Which screen detector table applies (from the profile).
    #[serde(default)]
    pub detector: String,
    /// Answer tool permission prompts with "yes".
    #[serde(default)]
    pub auto_approve: bool,
    /// argv; `command[0]` is an absolute path resolved at spawn time.
    pub command: Vec<String>,
    pub cwd: PathBuf,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// tmux session the agent's window lives in.
    pub session: String,
    /// Current pane (`%N`), if it has one.
    pub pane: Option<String>,
    pub window: Option<String>,
    pub pid: Option<u32>,
    #[serde(default)]
    pub restarts: u32,
    /// Set when the restart budget ran out; cleared by `orc restart`.
    #[serde(default)]
    pub failed: bool,
    /// The agent's last `orc report`.
    #[serde(default)]
    pub report: Option<crate::proto::Report>,
    /// Agents on the same account share a usage limit.
    #[serde(default)]
    pub account: Option<String>,
    /// The CLI's own session id, as its SessionStart hook reported it.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Window title set with `orc rename`.
    #[serde(default)]
    pub title: Option<String>,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StateFile {
    pub version: u32,
    pub agents: Vec<AgentRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path} is corrupt ({reason}); it was moved aside to {moved} and orc starts with an empty agent table. Inspect or restore it, then restart the supervisor.")]
    Corrupt {
        path: PathBuf,
        reason: String,
        moved: PathBuf,
    },
    #[error("cannot read state file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Load the agent table. A missing file is an empty table. A corrupt file is
/// renamed to `<file>.corrupt-<time>` (never overwritten) and reported.
pub fn load(path: &Path) -> Result<StateFile, StateError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(StateFile {
                version: 1,
                agents: vec![],
            })
        }
        Err(e) => {
            return Err(StateError::Io {
                path: path.into(),
                source: e,
            })
        }
    };
    match serde_json::from_slice::<StateFile>(&bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let moved = path.with_extension(format!(
                "json.corrupt-{}",
                Utc::now().format("%Y%m%dT%H%M%S")
            ));
            std::fs::rename(path, &moved).map_err(|e| StateError::Io {
                path: path.into(),
                source: e,
            })?;
            Err(StateError::Corrupt {
                path: path.into(),
                reason: format!("line {} column {}: {}", e.line(), e.column(), e),
                moved,
            })
        }
    }
}

pub fn save(path: &Path, agents: &[AgentRecord]) -> std::io::Result<()> {
    let file = StateFile {
        version: 1,
        agents: agents.to_vec(),
    };
    let mut bytes = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Agent names become tmux tags, file names and window names: keep them
/// plain (the rule lives in [`crate::names::check`]).
pub fn validate_name(name: &str) -> Result<(), String> {
    crate::names::check("agent name", name)
}
