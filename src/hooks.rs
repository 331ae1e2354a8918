//! Claude Code hooks as a second signal: `orc hooks install` adds `orc hook
//! <Event>` to an agent folder's `.claude/settings.local.json` (merged with
//! whatever hooks are there, never replacing them); `orc hook` tells the
//! supervisor, whose agent actor compares it with the screen.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::state::write_atomic;

/// The events orc listens to.
pub const EVENTS: [&str; 5] = [
    "SessionStart",
    "UserPromptSubmit",
    "Stop",
    "Notification",
    "PreCompact",
];

/// The settings file Claude Code reads for a working folder, not committed.
pub fn settings_path(cwd: &Path) -> PathBuf {
    cwd.join(".claude").join("settings.local.json")
}

/// A POSIX-shell single-quoted word.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The command line Claude Code runs for one event.
pub fn command_for(orc: &Path, event: &str) -> String {
    format!("{} hook {event}", sh_quote(&orc.to_string_lossy()))
}

fn is_ours(entry: &Value) -> bool {
    entry["hooks"].as_array().is_some_and(|hs| {
        hs.iter().any(|h| {
            h["command"]
                .as_str()
                .is_some_and(|c| c.contains(" hook ") && c.contains("orc"))
        })
    })
}

/// Add orc's hooks to `path` (created if missing), keeping everything else.
/// Returns how many events got a hook (0 when they were all there).
pub fn install(path: &Path, orc: &Path) -> Result<usize, String> {
    let mut root = match std::fs::read(path) {
        Ok(b) => serde_json::from_slice::<Value>(&b).map_err(|e| {
            format!(
                "{} is not valid JSON ({e}); fix it by hand, orc will not overwrite it",
                path.display()
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Object(Map::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let obj = root.as_object_mut().ok_or_else(|| {
        format!(
            "{} does not hold a JSON object; orc leaves it alone",
            path.display()
        )
    })?;
    let hooks = obj
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()));
    let hooks = hooks.as_object_mut().ok_or_else(|| {
        format!(
            "`hooks` in {} is not an object; orc leaves it alone",
            path.display()
        )
    })?;
    let mut added = 0;
    for event in EVENTS {
        let list = hooks
            .entry(event)
            .or_insert_with(|| Value::Array(Vec::new()));
        let list = list.as_array_mut().ok_or_else(|| {
            format!(
                "hooks.{event} in {} is not a list; orc leaves it alone",
                path.display()
            )
        })?;
        if list.iter().any(is_ours) {
            continue;
        }
        list.push(json!({
            "hooks": [{"type": "command", "command": command_for(orc, event), "timeout": 5}]
        }));
        added += 1;
    }
    if added > 0 {
        let text = serde_json::to_vec_pretty(&root).map_err(|e| e.to_string())?;
        write_atomic(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(added)
}

/// Keep the settings file out of git in a checkout (`info/exclude` of the
/// repository, shared by its worktrees), so that an agent's worktree is not
/// dirty because of orc. Best effort: outside a checkout nothing happens.
pub fn exclude_from_git(cwd: &Path) {
    let Ok(out) = std::process::Command::new("git")
        .arg("-C")
        .arg(cwd)
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .output()
    else {
        return;
    };
    if !out.status.success() {
        return;
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let file = dir.join("info").join("exclude");
    let line = ".claude/settings.local.json";
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    if text.lines().any(|l| l.trim() == line) {
        return;
    }
    let mut new = text;
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(line);
    new.push('\n');
    let _ = std::fs::create_dir_all(dir.join("info"));
    let _ = std::fs::write(&file, new);
}

/// Remove orc's hooks from `path`, keeping everything else. Returns how many
/// were removed.
pub fn uninstall(path: &Path) -> Result<usize, String> {
    let Ok(b) = std::fs::read(path) else {
        return Ok(0);
    };
    let mut root: Value = serde_json::from_slice(&b)
        .map_err(|e| format!("{} is not valid JSON ({e}); fix it by hand", path.display()))?;
    let mut removed = 0;
    if let Some(hooks) = root["hooks"].as_object_mut() {
        for list in hooks.values_mut() {
            if let Some(l) = list.as_array_mut() {
                let before = l.len();
                l.retain(|e| !is_ours(e));
                removed += before - l.len();
            }
        }
        hooks.retain(|_, v| v.as_array().is_none_or(|a| !a.is_empty()));
    }
    if removed > 0 {
        let text = serde_json::to_vec_pretty(&root).map_err(|e| e.to_string())?;
        write_atomic(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_merges_with_the_users_hooks_and_is_idempotent() {
        let d = tempfile::tempdir().unwrap();
        let p = settings_path(d.path());
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mine = json!({
            "model": "opus",
            "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]}
        });
        std::fs::write(&p, mine.to_string()).unwrap();
        let orc = Path::new("/opt/my tools/orc");
        assert_eq!(install(&p, orc).unwrap(), 5);
        assert_eq!(install(&p, orc).unwrap(), 0, "no second copy");
        let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["model"], "opus");
        let stop = v["hooks"]["Stop"].as_array().unwrap();
        assert_eq!(stop.len(), 2);
        assert_eq!(stop[0]["hooks"][0]["command"], "say done");
        assert_eq!(
            stop[1]["hooks"][0]["command"],
            "'/opt/my tools/orc' hook Stop"
        );
        assert_eq!(uninstall(&p).unwrap(), 5);
        let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(
            v["hooks"]["Stop"].as_array().unwrap().len(),
            1,
            "the user's hook stays"
        );
        assert!(v["hooks"].get("SessionStart").is_none());
    }

    #[test]
    fn a_broken_settings_file_is_not_overwritten() {
        let d = tempfile::tempdir().unwrap();
        let p = settings_path(d.path());
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "{ broken").unwrap();
        let e = install(&p, Path::new("/usr/bin/orc")).unwrap_err();
        assert!(e.contains("not valid JSON"), "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{ broken");
        std::fs::write(&p, r#"{"hooks": []}"#).unwrap();
        assert!(install(&p, Path::new("/usr/bin/orc"))
            .unwrap_err()
            .contains("not an object"));
    }

    #[test]
    fn quoting_survives_quotes_in_paths() {
        assert_eq!(sh_quote("/a/it's/orc"), r"'/a/it'\''s/orc'");
    }
}
