//! Claude Code hooks as a second signal: `orc hooks install` adds `orc hook
//! <Event>` to an agent folder's `.claude/settings.local.json` (merged with
//! whatever hooks are there, never replacing them); `orc hook` tells the
//! supervisor, whose agent actor compares it with the screen. The same
//! install puts orc's status line there (`crate::statusline`).

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::state::write_atomic;

/// The events orc listens to, with the matcher orc's entry has (None: every
/// occurrence). Checked against the event list and the notification types in
/// Claude Code 2.1.332's bundle.
pub const EVENTS: [(&str, Option<&str>); 9] = [
    ("SessionStart", None),
    ("UserPromptSubmit", None),
    ("Stop", None),
    // A turn ended on an API error; `error` says which (rate_limit,
    // authentication_failed, billing_error, overloaded, server_error, ...).
    ("StopFailure", None),
    ("Notification", Some(NOTIFICATION_MATCHER)),
    ("PermissionRequest", None),
    ("PreCompact", None),
    ("PostCompact", None),
    ("SessionEnd", None),
];

/// The notification types orc acts on or logs (2.1.332 has more: push,
/// computer use, plugin notices).
pub const NOTIFICATION_MATCHER: &str = "permission_prompt|idle_prompt|auth_success|elicitation_dialog|elicitation_url_dialog|agent_needs_input|agent_completed|quota_auto_resume_fired|quota_auto_resume_stale|quota_auto_resume_disabled|auth_storage_failure";

/// The command line Claude Code runs for one event.
pub fn command_for(orc: &Path, event: &str) -> String {
    format!("{} hook {event}", sh_quote(&orc.to_string_lossy()))
}

pub(crate) use crate::claude_config::sh_quote;
pub use crate::claude_config::{exclude_from_git, settings_path};

fn is_ours(entry: &Value) -> bool {
    entry["hooks"].as_array().is_some_and(|hs| {
        hs.iter().any(|h| {
            h["command"]
                .as_str()
                .is_some_and(|c| c.contains(" hook ") && c.contains("orc"))
        })
    })
}

/// orc's entry for one event.
fn entry_for(orc: &Path, event: &str, matcher: Option<&str>) -> Value {
    let mut e = json!({
        "hooks": [{"type": "command", "command": command_for(orc, event), "timeout": 5}]
    });
    if let Some(m) = matcher {
        e["matcher"] = Value::String(m.into());
    }
    e
}

fn read_settings(path: &Path) -> Result<Value, String> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice::<Value>(&b).map_err(|e| {
            format!(
                "{} is not valid JSON ({e}); fix it by hand, orc will not overwrite it",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Object(Map::new())),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// What an install changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Installed {
    /// Events that got (or had updated) orc's hook.
    pub hooks: usize,
    /// orc's statusLine went in (or was updated).
    pub status_line: bool,
}

/// Add orc's hooks and status line to `path` (created if missing), keeping
/// everything else: a user's hooks stay beside orc's, a user's statusLine is
/// wrapped (`user_settings`: the user's settings file, whose statusLine is
/// wrapped when the folder has none of its own). An older orc entry (another
/// matcher, another path) is replaced by the current one.
pub fn install(path: &Path, orc: &Path, user_settings: Option<&Path>) -> Result<Installed, String> {
    let _one = crate::claude_config::EDITS
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let mut root = read_settings(path)?;
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
    let mut done = Installed::default();
    for (event, matcher) in EVENTS {
        let list = hooks
            .entry(event)
            .or_insert_with(|| Value::Array(Vec::new()));
        let list = list.as_array_mut().ok_or_else(|| {
            format!(
                "hooks.{event} in {} is not a list; orc leaves it alone",
                path.display()
            )
        })?;
        let want = entry_for(orc, event, matcher);
        if list.contains(&want) {
            continue;
        }
        list.retain(|e| !is_ours(e));
        list.push(want);
        done.hooks += 1;
    }
    let cwd = path
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let mut files = vec![cwd.join(".claude").join("settings.json")];
    files.extend(user_settings.map(Path::to_path_buf));
    let inherited = crate::statusline::inherited(&files);
    done.status_line = crate::statusline::merge(obj, orc, inherited)
        .map_err(|e| format!("{e} (in {})", path.display()))?;
    if done != Installed::default() {
        let text = serde_json::to_vec_pretty(&root).map_err(|e| e.to_string())?;
        write_atomic(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(done)
}

/// Remove orc's hooks and status line from `path`, keeping everything else
/// (the user's statusLine that orc wrapped goes back). Returns how many
/// hooks were removed and whether the status line was.
pub fn uninstall(path: &Path) -> Result<Installed, String> {
    let _one = crate::claude_config::EDITS
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let Ok(b) = std::fs::read(path) else {
        return Ok(Installed::default());
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
    let status_line = root.as_object_mut().is_some_and(crate::statusline::remove);
    if removed > 0 || status_line {
        let text = serde_json::to_vec_pretty(&root).map_err(|e| e.to_string())?;
        write_atomic(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(Installed {
        hooks: removed,
        status_line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }

    #[test]
    fn install_merges_with_the_users_hooks_and_is_idempotent() {
        let d = tempfile::tempdir().unwrap();
        let p = settings_path(d.path());
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let my_line = json!({"type": "command", "command": "~/bin/my-status"});
        let mine = json!({
            "model": "opus",
            "statusLine": my_line,
            "hooks": {
                "Stop": [{"hooks": [{"type": "command", "command": "say done"}]}],
                "Notification": [{"matcher": "idle_prompt", "hooks": [{"type": "command", "command": "beep"}]}]
            }
        });
        std::fs::write(&p, mine.to_string()).unwrap();
        let orc = Path::new("/opt/my tools/orc");
        let done = install(&p, orc, None).unwrap();
        assert_eq!(done.hooks, EVENTS.len());
        assert!(done.status_line);
        assert_eq!(
            install(&p, orc, None).unwrap(),
            Installed::default(),
            "no second copy"
        );
        let v = read(&p);
        assert_eq!(v["model"], "opus");
        let stop = v["hooks"]["Stop"].as_array().unwrap();
        assert_eq!(stop.len(), 2);
        assert_eq!(stop[0]["hooks"][0]["command"], "say done");
        assert_eq!(
            stop[1]["hooks"][0]["command"],
            "'/opt/my tools/orc' hook Stop"
        );
        for ev in [
            "StopFailure",
            "PermissionRequest",
            "SessionEnd",
            "PostCompact",
        ] {
            assert_eq!(
                v["hooks"][ev][0]["hooks"][0]["command"],
                format!("'/opt/my tools/orc' hook {ev}"),
                "{ev}"
            );
        }
        let n = v["hooks"]["Notification"].as_array().unwrap();
        assert_eq!(n.len(), 2);
        assert_eq!(n[0]["hooks"][0]["command"], "beep");
        let m = n[1]["matcher"].as_str().unwrap();
        for t in [
            "permission_prompt",
            "idle_prompt",
            "auth_success",
            "elicitation_dialog",
        ] {
            assert!(m.split('|').any(|x| x == t), "{t} in {m}");
        }
        assert_eq!(v["statusLine"]["command"], "'/opt/my tools/orc' statusline");
        assert_eq!(v["statusLine"][crate::statusline::WRAPPED_KEY], my_line);

        let gone = uninstall(&p).unwrap();
        assert_eq!(gone.hooks, EVENTS.len());
        assert!(gone.status_line);
        let v = read(&p);
        assert_eq!(
            v["hooks"]["Stop"].as_array().unwrap().len(),
            1,
            "the user's hook stays"
        );
        assert_eq!(v["hooks"]["Notification"].as_array().unwrap().len(), 1);
        assert!(v["hooks"].get("SessionStart").is_none());
        assert_eq!(v["statusLine"], my_line, "the user's status line is back");
        assert_eq!(uninstall(&p).unwrap(), Installed::default());
    }

    #[test]
    fn an_older_install_is_brought_up_to_date() {
        let d = tempfile::tempdir().unwrap();
        let p = settings_path(d.path());
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        // What orc wrote before: five events, Notification with no matcher.
        let old = json!({"hooks": {
            "Stop": [{"hooks": [{"type": "command", "command": "'/usr/bin/orc' hook Stop", "timeout": 5}]}],
            "Notification": [{"hooks": [{"type": "command", "command": "'/usr/bin/orc' hook Notification", "timeout": 5}]}]
        }});
        std::fs::write(&p, old.to_string()).unwrap();
        let done = install(&p, Path::new("/usr/bin/orc"), None).unwrap();
        assert_eq!(done.hooks, EVENTS.len() - 1, "Stop was current");
        let v = read(&p);
        let n = v["hooks"]["Notification"].as_array().unwrap();
        assert_eq!(n.len(), 1, "replaced, not doubled");
        assert_eq!(n[0]["matcher"], NOTIFICATION_MATCHER);
        assert_eq!(v["hooks"]["Stop"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_status_line_from_the_users_settings_is_wrapped() {
        let d = tempfile::tempdir().unwrap();
        let user = d.path().join("home/.claude/settings.json");
        std::fs::create_dir_all(user.parent().unwrap()).unwrap();
        std::fs::write(
            &user,
            json!({"statusLine": {"type": "command", "command": "echo from-home"}}).to_string(),
        )
        .unwrap();
        let cwd = d.path().join("work");
        let p = settings_path(&cwd);
        let done = install(&p, Path::new("/usr/bin/orc"), Some(&user)).unwrap();
        assert!(done.status_line);
        assert_eq!(
            crate::statusline::wrapped_command(&p).as_deref(),
            Some("echo from-home")
        );
        assert!(uninstall(&p).unwrap().status_line);
        assert!(read(&p).get("statusLine").is_none());
        assert_eq!(
            read(&user)["statusLine"]["command"],
            "echo from-home",
            "the user's file is never touched"
        );
    }

    #[test]
    fn a_broken_settings_file_is_not_overwritten() {
        let d = tempfile::tempdir().unwrap();
        let p = settings_path(d.path());
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "{ broken").unwrap();
        let e = install(&p, Path::new("/usr/bin/orc"), None).unwrap_err();
        assert!(e.contains("not valid JSON"), "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{ broken");
        std::fs::write(&p, r#"{"hooks": []}"#).unwrap();
        assert!(install(&p, Path::new("/usr/bin/orc"), None)
            .unwrap_err()
            .contains("not an object"));
    }

    #[test]
    fn quoting_survives_quotes_in_paths() {
        assert_eq!(sh_quote("/a/it's/orc"), r"'/a/it'\''s/orc'");
    }
}
