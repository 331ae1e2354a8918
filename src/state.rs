//! The agent table on disk, and atomic file writes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Write `bytes` to `path` atomically: a temp file in the same folder, fsync,
/// rename over the target, fsync the folder.
/// New files are 0600 and new folders 0700: orc's state is private. An
/// error names the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_(path, bytes).map_err(|e| with_path(path, e))
}

/// An i/o error that says which file it is about.
pub fn with_path(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn write_atomic_(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::private::create_dir(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Append one JSON line to a journal (created if missing, 0600).
pub fn append_jsonl<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    open_journal(path)?.write_all(&line)
}

/// Open a journal for appending (created 0600 in a 0700 folder if missing).
/// A torn tail (a last line with no newline, left by a crash mid-write) is
/// first moved aside to `<file>.torn` and logged, so that every append
/// starts on a fresh line and no new record is glued to a broken one.
pub fn open_journal(path: &Path) -> std::io::Result<std::fs::File> {
    open_journal_(path).map_err(|e| with_path(path, e))
}

fn open_journal_(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        crate::private::create_dir(dir)?;
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    heal_torn_tail(path, &f)?;
    Ok(f)
}

/// See [`open_journal`]. Returns the torn bytes' new home, if any.
pub fn heal_torn_tail(path: &Path, f: &std::fs::File) -> std::io::Result<Option<PathBuf>> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut last = [0u8; 1];
    f.read_exact_at(&mut last, len - 1)?;
    if last[0] == b'\n' {
        return Ok(None);
    }
    // Find the start of the torn line: after the last newline, if any.
    let mut start = len;
    let mut buf = vec![0u8; 64 * 1024];
    while start > 0 {
        let n = (start as usize).min(buf.len());
        let from = start - n as u64;
        f.read_exact_at(&mut buf[..n], from)?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            start = from + i as u64 + 1;
            break;
        }
        start = from;
    }
    let mut torn = vec![0u8; (len - start) as usize];
    f.read_exact_at(&mut torn, start)?;
    let aside = PathBuf::from(format!("{}.torn", path.display()));
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut t = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&aside)?;
        torn.push(b'\n');
        t.write_all(&torn)?;
        t.sync_data()?;
    }
    f.set_len(start)?;
    f.sync_data()?;
    tracing::warn!(
        journal = %path.display(),
        bytes = torn.len() - 1,
        aside = %aside.display(),
        "a torn last line (no newline: a write cut short) was moved aside before appending"
    );
    Ok(Some(aside))
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
    /// Claude Code: trust (and the bypass warning) pre-accepted in its
    /// config before every launch.
    #[serde(default)]
    pub pre_trust: bool,
    /// Keep the installed CLI version (no auto-update while it runs).
    #[serde(default)]
    pub pin_version: bool,
    pub created: DateTime<Utc>,
    /// The current launch's marker (`ORC_LAUNCH` in the pane's
    /// environment): how its processes are found (`procs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<String>,
    /// Earlier launches whose daemons were left running because another
    /// process shared them (`procs::Family::older`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spared_launches: Vec<String>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_torn_tail_is_moved_aside_and_the_next_record_stands_alone() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("q.jsonl");
        std::fs::write(&p, b"{\"a\":1}\n{\"a\":2,\"b\":").unwrap();
        append_jsonl(&p, &serde_json::json!({"a": 3})).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"a\":3}\n");
        let torn = std::fs::read_to_string(d.path().join("q.jsonl.torn")).unwrap();
        assert_eq!(torn, "{\"a\":2,\"b\":\n");
        // a file that is one torn line
        let p2 = d.path().join("one.jsonl");
        std::fs::write(&p2, b"{\"half").unwrap();
        append_jsonl(&p2, &serde_json::json!({"ok": true})).unwrap();
        assert_eq!(std::fs::read_to_string(&p2).unwrap(), "{\"ok\":true}\n");
    }

    #[test]
    fn new_state_files_are_private() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s/agents.json");
        write_atomic(&p, b"{}").unwrap();
        let j = d.path().join("s/q/x.jsonl");
        append_jsonl(&j, &1).unwrap();
        for (f, m) in [
            (&p, 0o600),
            (&j, 0o600),
            (&d.path().join("s"), 0o700),
            (&d.path().join("s/q"), 0o700),
        ] {
            assert_eq!(
                std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
                m,
                "{}",
                f.display()
            );
        }
    }
}
