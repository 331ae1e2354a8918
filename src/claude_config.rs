//! Claude Code's own configuration, as orc prepares it before a launch so that
//! dialogs which a setting can avoid never appear:
//!
//! - the workspace-trust dialog: the folder's entry in the agent's
//!   `.claude.json` (`projects["<abs path>"].hasTrustDialogAccepted`), which
//!   the CLI checks for the folder and its parents up to the git root;
//! - the bypass-permissions warning: `skipDangerousModePermissionPrompt` in the
//!   user settings (`settings.json`), only for an agent orc launches with
//!   `--dangerously-skip-permissions`;
//! - in the folder's `.claude/settings.local.json` (kept out of git with the
//!   hooks): `tui = "default"` (the classic renderer, 2.1.332 spells it
//!   `default`: no fullscreen-renderer offer, and a screen
//!   that keeps its scrollback for `capture-pane`) and `teammateMode =
//!   "in-process"` (agent teams inside an orc pane must not split tmux panes).
//!   A value the user set is never replaced.
//!
//! Every edit keeps what is there (a file that is not JSON is left alone and
//! reported), is written atomically with the file's own permissions, and is
//! serialised within the supervisor: two launches never write at once.
//!
//! Where the files live: `$CLAUDE_CONFIG_DIR/.claude.json` and
//! `$CLAUDE_CONFIG_DIR/settings.json` when the agent's environment sets it,
//! else `$HOME/.claude.json` and `$HOME/.claude/settings.json` (the agent's
//! `HOME` if its environment sets one, else the supervisor's).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Map, Value};

/// Environment variables a parent Claude Code session leaves behind that
/// make a CLI started inside an orc pane think it is nested (it then refuses
/// or changes how it runs). They are removed from every agent pane.
pub const NESTED_ENV: &[&str] = &[
    "CLAUDECODE",
    "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDE_CODE_CHILD_SESSION",
    "CLAUDE_CODE_SSE_PORT",
    "CLAUDE_CODE_SESSION_ID",
];

/// One launch's config edits at a time.
pub(crate) static EDITS: Mutex<()> = Mutex::new(());

/// The agent's Claude Code config files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFiles {
    /// `.claude.json`: trust, onboarding, per-project state.
    pub state: PathBuf,
    /// `settings.json`: the user settings.
    pub settings: PathBuf,
}

impl ConfigFiles {
    /// Where the CLI with this environment reads its config.
    pub fn for_env(env: &BTreeMap<String, String>) -> Option<Self> {
        let var = |k: &str| {
            env.get(k)
                .cloned()
                .or_else(|| std::env::var(k).ok())
                .filter(|v| !v.is_empty())
        };
        if let Some(dir) = var("CLAUDE_CONFIG_DIR")
            .map(PathBuf::from)
            .filter(|d| d.is_absolute())
        {
            return Some(Self {
                state: dir.join(".claude.json"),
                settings: dir.join("settings.json"),
            });
        }
        let home = PathBuf::from(var("HOME")?);
        Some(Self {
            state: home.join(".claude.json"),
            settings: home.join(".claude").join("settings.json"),
        })
    }
}

/// Read a JSON object, apply `edit`, and write it back only if `edit` says
/// it changed something. A missing file starts as `{}` (created 0600).
fn edit_json(
    path: &Path,
    edit: impl FnOnce(&mut Map<String, Value>) -> bool,
) -> Result<bool, String> {
    let (mut root, mode) = match std::fs::read(path) {
        Ok(b) => {
            let v: Value = serde_json::from_slice(&b).map_err(|e| {
                format!(
                    "{} is not valid JSON ({e}); orc leaves it alone",
                    path.display()
                )
            })?;
            let mode = std::fs::metadata(path)
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0o600);
            (v, mode)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Value::Object(Map::new()), 0o600),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let obj = root.as_object_mut().ok_or_else(|| {
        format!(
            "{} does not hold a JSON object; orc leaves it alone",
            path.display()
        )
    })?;
    if !edit(obj) {
        return Ok(false);
    }
    let text = serde_json::to_vec_pretty(&root).map_err(|e| e.to_string())?;
    crate::state::write_atomic(path, &text)
        .and_then(|_| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(true)
}

/// The object under `key`, made one if missing; `None` if it is something else.
fn object_at<'a>(obj: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    obj.entry(key)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
}

/// Record `folder` as trusted in `.claude.json` (both as given and as its
/// canonical path, when they differ). Returns whether anything changed.
pub fn pre_trust(files: &ConfigFiles, folder: &Path) -> Result<bool, String> {
    let _one = EDITS.lock().unwrap_or_else(|p| p.into_inner());
    let mut keys = vec![folder.to_string_lossy().into_owned()];
    if let Ok(real) = std::fs::canonicalize(folder) {
        let real = real.to_string_lossy().into_owned();
        if real != keys[0] {
            keys.push(real);
        }
    }
    edit_json(&files.state, |obj| {
        let Some(projects) = object_at(obj, "projects") else {
            return false;
        };
        let mut changed = false;
        for k in &keys {
            let Some(p) = object_at(projects, k) else {
                continue;
            };
            if p.get("hasTrustDialogAccepted") != Some(&Value::Bool(true)) {
                p.insert("hasTrustDialogAccepted".into(), Value::Bool(true));
                changed = true;
            }
        }
        changed
    })
}

/// Keep the bypass-permissions warning away (the user settings' own switch).
pub fn skip_bypass_warning(files: &ConfigFiles) -> Result<bool, String> {
    let _one = EDITS.lock().unwrap_or_else(|p| p.into_inner());
    edit_json(&files.settings, |obj| {
        if obj.get("skipDangerousModePermissionPrompt") == Some(&Value::Bool(true)) {
            return false;
        }
        obj.insert(
            "skipDangerousModePermissionPrompt".into(),
            Value::Bool(true),
        );
        true
    })
}

/// The folder's local settings: the classic renderer and in-process
/// teammates, unless the user chose otherwise there.
pub fn folder_settings(cwd: &Path) -> Result<bool, String> {
    let _one = EDITS.lock().unwrap_or_else(|p| p.into_inner());
    let path = settings_path(cwd);
    let changed = edit_json(&path, |obj| {
        let mut changed = false;
        for (k, v) in [("tui", "default"), ("teammateMode", "in-process")] {
            if !obj.contains_key(k) {
                obj.insert(k.into(), Value::String(v.into()));
                changed = true;
            }
        }
        changed
    })?;
    if changed {
        exclude_from_git(cwd);
    }
    Ok(changed)
}

/// The settings file Claude Code reads for a working folder, not committed.
pub fn settings_path(cwd: &Path) -> PathBuf {
    cwd.join(".claude").join("settings.local.json")
}

/// A POSIX-shell single-quoted word.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> ConfigFiles {
        ConfigFiles {
            state: dir.join(".claude.json"),
            settings: dir.join(".claude/settings.json"),
        }
    }

    #[test]
    fn trust_is_added_beside_what_is_there_and_only_once() {
        let d = tempfile::tempdir().unwrap();
        let f = files(d.path());
        std::fs::write(
            &f.state,
            r#"{"hasCompletedOnboarding": true, "projects": {"/other": {"allowedTools": ["Bash"]}}}"#,
        )
        .unwrap();
        std::fs::set_permissions(&f.state, std::fs::Permissions::from_mode(0o600)).unwrap();
        let work = d.path().join("work");
        std::fs::create_dir(&work).unwrap();
        assert!(pre_trust(&f, &work).unwrap());
        assert!(!pre_trust(&f, &work).unwrap(), "idempotent");
        let v: Value = serde_json::from_slice(&std::fs::read(&f.state).unwrap()).unwrap();
        assert_eq!(v["hasCompletedOnboarding"], true);
        assert_eq!(v["projects"]["/other"]["allowedTools"][0], "Bash");
        let key = work.to_string_lossy().into_owned();
        assert_eq!(v["projects"][key.as_str()]["hasTrustDialogAccepted"], true);
        let mode = std::fs::metadata(&f.state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the file keeps its permissions");
    }

    #[test]
    fn a_file_that_is_not_json_is_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let f = files(d.path());
        std::fs::write(&f.state, "{ half a file").unwrap();
        let e = pre_trust(&f, d.path()).unwrap_err();
        assert!(
            e.contains("not valid JSON") && e.contains(".claude.json"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&f.state).unwrap(), "{ half a file");
    }

    #[test]
    fn bypass_setting_and_folder_settings_never_replace_the_users_choice() {
        let d = tempfile::tempdir().unwrap();
        let f = files(d.path());
        assert!(skip_bypass_warning(&f).unwrap());
        assert!(!skip_bypass_warning(&f).unwrap());
        let s: Value = serde_json::from_slice(&std::fs::read(&f.settings).unwrap()).unwrap();
        assert_eq!(s["skipDangerousModePermissionPrompt"], true);
        let local = settings_path(d.path());
        std::fs::create_dir_all(local.parent().unwrap()).unwrap();
        std::fs::write(&local, r#"{"tui": "fullscreen"}"#).unwrap();
        assert!(folder_settings(d.path()).unwrap());
        let v: Value = serde_json::from_slice(&std::fs::read(&local).unwrap()).unwrap();
        assert_eq!(v["tui"], "fullscreen", "the user's choice stays");
        assert_eq!(v["teammateMode"], "in-process");
    }

    #[test]
    fn config_dir_wins_over_home() {
        let mut env = BTreeMap::new();
        env.insert("HOME".to_string(), "/h".to_string());
        assert_eq!(
            ConfigFiles::for_env(&env).unwrap().state,
            PathBuf::from("/h/.claude.json")
        );
        env.insert("CLAUDE_CONFIG_DIR".to_string(), "/c".to_string());
        let f = ConfigFiles::for_env(&env).unwrap();
        assert_eq!(f.state, PathBuf::from("/c/.claude.json"));
        assert_eq!(f.settings, PathBuf::from("/c/settings.json"));
    }
}
