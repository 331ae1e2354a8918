//! Claude Code's status line as a structured signal. The CLI runs the
//! `statusLine` command from its settings with a JSON document on stdin
//! (session, model, `context_window`, `rate_limits`, cost; field names
//! checked against 2.1.332, samples in `fixtures/claude-code/2.1.332/signals/`) and
//! shows what the command prints. orc installs `orc statusline` there: it
//! forwards what orc uses to the supervisor and prints a line. A statusLine
//! the user had is kept inside orc's entry (`orcWrappedStatusLine`), run with
//! the same input (its output is what the CLI shows), and put back by
//! uninstall.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::proto::{StatusReport, UsageWindow};

/// The key inside orc's `statusLine` entry that keeps the user's own entry.
pub const WRAPPED_KEY: &str = "orcWrappedStatusLine";
/// Where the wrapped entry came from when it was not the same file (then
/// uninstall does not copy it back: it is still there).
pub const WRAPPED_FROM_KEY: &str = "orcWrappedFrom";

/// How long a wrapped command may take before orc prints its own line.
pub const WRAPPED_TIMEOUT: Duration = Duration::from_secs(3);

/// The command line Claude Code runs for the status line.
pub fn command_for(orc: &Path) -> String {
    format!(
        "{} statusline",
        crate::claude_config::sh_quote(&orc.to_string_lossy())
    )
}

/// An entry orc installed (its command is `... orc ... statusline`).
pub fn is_ours(entry: &Value) -> bool {
    entry["command"]
        .as_str()
        .is_some_and(|c| c.ends_with(" statusline") && c.contains("orc"))
}

fn window(v: &Value) -> Option<UsageWindow> {
    let used = v["used_percentage"].as_f64()?;
    let resets_at = v["resets_at"]
        .as_i64()
        .or_else(|| v["resets_at"].as_f64().map(|f| f as i64))
        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0));
    Some(UsageWindow {
        used_percent: used,
        resets_at,
    })
}

/// The fields orc uses, from one status-line document. Anything missing or
/// of another type is None (the CLI leaves out `rate_limits` outside
/// subscription mode and before the first reply; `context_window`'s
/// percentages are null before the first reply).
pub fn parse(v: &Value) -> StatusReport {
    let s = |x: &Value| x.as_str().map(String::from);
    let cw = &v["context_window"];
    StatusReport {
        session_id: s(&v["session_id"]),
        model: s(&v["model"]["id"]).or_else(|| s(&v["model"]["display_name"])),
        version: s(&v["version"]),
        context_left_percent: cw["remaining_percentage"]
            .as_f64()
            .or_else(|| cw["used_percentage"].as_f64().map(|u| 100.0 - u)),
        context_window_size: cw["context_window_size"].as_u64(),
        cost_usd: v["cost"]["total_cost_usd"].as_f64(),
        five_hour: window(&v["rate_limits"]["five_hour"]),
        seven_day: window(&v["rate_limits"]["seven_day"]),
    }
}

fn pct(p: f64) -> String {
    format!("{}%", p.round() as i64)
}

/// orc's own status line: the agent, context left, usage of both windows.
pub fn line(agent: Option<&str>, r: &StatusReport) -> String {
    let mut parts = vec![match agent {
        Some(a) => format!("orc:{a}"),
        None => "orc".to_string(),
    }];
    if let Some(m) = &r.model {
        parts.push(m.clone());
    }
    if let Some(c) = r.context_left_percent {
        parts.push(format!("ctx {} left", pct(c)));
    }
    for (name, w) in [("5h", r.five_hour), ("7d", r.seven_day)] {
        if let Some(w) = w {
            let reset = w
                .resets_at
                .map(|t| {
                    let fmt = if t - Utc::now() > chrono::Duration::hours(20) {
                        " (resets %a %H:%M)"
                    } else {
                        " (resets %H:%M)"
                    };
                    t.with_timezone(&chrono::Local).format(fmt).to_string()
                })
                .unwrap_or_default();
            parts.push(format!("{name} {}{reset}", pct(w.used_percent)));
        }
    }
    parts.join(" · ")
}

/// The settings files whose `statusLine` applies to a folder, narrowest
/// first: the folder's local and project settings, then the user's
/// (`$CLAUDE_CONFIG_DIR/settings.json` or `~/.claude/settings.json`).
#[cfg(test)]
pub fn candidate_settings(
    cwd: &Path,
    home: Option<&Path>,
    config_dir: Option<&Path>,
) -> Vec<PathBuf> {
    let mut v = vec![
        crate::claude_config::settings_path(cwd),
        cwd.join(".claude").join("settings.json"),
    ];
    if let Some(d) = config_dir {
        v.push(d.join("settings.json"));
    } else if let Some(h) = home {
        v.push(h.join(".claude").join("settings.json"));
    }
    v
}

/// The statusLine another settings file gives the folder (one orc did not
/// install), to wrap when orc's goes into the local settings, which take
/// precedence over them.
pub fn inherited(files: &[PathBuf]) -> Option<(PathBuf, Value)> {
    for f in files {
        let Ok(b) = std::fs::read(f) else { continue };
        let Ok(v) = serde_json::from_slice::<Value>(&b) else {
            continue;
        };
        let e = &v["statusLine"];
        if e.is_object() && !is_ours(e) {
            return Some((f.clone(), e.clone()));
        }
    }
    None
}

/// Put orc's statusLine into a settings object, wrapping the one there (or,
/// when there is none, `inherited` from another file). Returns whether the
/// object changed.
pub fn merge(
    obj: &mut Map<String, Value>,
    orc: &Path,
    inherited: Option<(PathBuf, Value)>,
) -> Result<bool, String> {
    let command = command_for(orc);
    let existing = obj.get("statusLine").cloned();
    let mut entry = json!({"type": "command", "command": command});
    match existing {
        Some(e) if is_ours(&e) => {
            if e["command"] == entry["command"] {
                return Ok(false);
            }
            // orc moved: same entry, the new path.
            let mut e = e;
            e["command"] = Value::String(command);
            obj.insert("statusLine".into(), e);
            return Ok(true);
        }
        Some(Value::Object(user)) => {
            if let Some(p) = user.get("padding") {
                entry["padding"] = p.clone();
            }
            if let Some(r) = user.get("refreshInterval") {
                entry["refreshInterval"] = r.clone();
            }
            entry[WRAPPED_KEY] = Value::Object(user);
        }
        Some(Value::Null) | None => {
            if let Some((from, user)) = inherited {
                for k in ["padding", "refreshInterval"] {
                    if let Some(p) = user.get(k) {
                        entry[k] = p.clone();
                    }
                }
                entry[WRAPPED_KEY] = user;
                entry[WRAPPED_FROM_KEY] = Value::String(from.display().to_string());
            }
        }
        Some(_) => return Err("`statusLine` is not an object; orc leaves it alone".into()),
    }
    obj.insert("statusLine".into(), entry);
    Ok(true)
}

/// Take orc's statusLine out of a settings object, putting back the user's
/// entry it wrapped from the same file. Returns whether the object changed.
pub fn remove(obj: &mut Map<String, Value>) -> bool {
    let Some(e) = obj.get("statusLine") else {
        return false;
    };
    if !is_ours(e) {
        return false;
    }
    let restore = match (e.get(WRAPPED_KEY), e.get(WRAPPED_FROM_KEY)) {
        (Some(w), None) if w.is_object() => Some(w.clone()),
        _ => None,
    };
    match restore {
        Some(w) => obj.insert("statusLine".into(), w),
        None => obj.remove("statusLine"),
    };
    true
}

/// The command orc's entry wraps, from the settings file that holds it.
pub fn wrapped_command(settings: &Path) -> Option<String> {
    let b = std::fs::read(settings).ok()?;
    let v: Value = serde_json::from_slice(&b).ok()?;
    let e = &v["statusLine"];
    if !is_ours(e) {
        return None;
    }
    let w = &e[WRAPPED_KEY];
    if w["type"].as_str().is_some_and(|t| t != "command") {
        return None;
    }
    w["command"]
        .as_str()
        .filter(|c| !c.trim().is_empty())
        .map(String::from)
}

/// The folder whose settings name orc's statusLine: the document's project
/// folder (where the CLI started), else its cwd.
pub fn folder_of(doc: &Value) -> Option<PathBuf> {
    doc["workspace"]["project_dir"]
        .as_str()
        .or_else(|| doc["cwd"].as_str())
        .or_else(|| doc["workspace"]["current_dir"].as_str())
        .map(PathBuf::from)
}

/// Run a wrapped status-line command (`sh -c`) with the same input; its
/// stdout, or None if it failed, printed nothing or took longer than
/// `timeout` (then it is killed).
pub fn run_wrapped(
    command: &str,
    input: &[u8],
    cwd: Option<&Path>,
    timeout: Duration,
) -> Option<String> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(d) = cwd.filter(|d| d.is_dir()) {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().ok()?;
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.by_ref().take(1 << 16).read_to_end(&mut out);
        out
    });
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let out = reader.join().ok()?;
    let text = String::from_utf8_lossy(&out).trim_end().to_string();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/claude-code/2.1.332/signals")
            .join(name);
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }

    #[test]
    fn a_real_document_after_a_turn_gives_usage_and_context() {
        let r = parse(&fixture("statusline-after-turn.json"));
        assert_eq!(
            r.session_id.as_deref(),
            Some("c42ef190-f150-43a9-a207-86cd79aac77c")
        );
        assert_eq!(r.model.as_deref(), Some("claude-sonnet-5-5"));
        assert_eq!(r.version.as_deref(), Some("2.1.332"));
        assert_eq!(r.context_left_percent, Some(100.0));
        assert_eq!(r.context_window_size, Some(1_000_000));
        let five = r.five_hour.expect("five_hour");
        assert_eq!(five.used_percent, 42.0);
        assert_eq!(five.resets_at.unwrap().timestamp(), 1796240090);
        let seven = r.seven_day.expect("seven_day");
        assert_eq!(seven.used_percent, 17.0);
        assert_eq!(seven.resets_at.unwrap().timestamp(), 1796668490);
        let l = line(Some("dev"), &r);
        assert!(
            l.starts_with("orc:dev · claude-sonnet-5-5 · ctx 100% left · 5h 42%"),
            "{l}"
        );
        assert!(l.contains("7d 17%"), "{l}");
    }

    #[test]
    fn a_real_document_at_startup_has_no_usage_yet() {
        let r = parse(&fixture("statusline-startup.json"));
        assert!(r.session_id.is_some());
        assert_eq!(r.context_left_percent, None, "null before the first reply");
        assert_eq!(r.five_hour, None);
        assert_eq!(r.seven_day, None);
        assert_eq!(line(None, &r), "orc · claude-sonnet-5-5");
    }

    #[test]
    fn odd_documents_do_not_panic() {
        for v in [
            json!(null),
            json!([]),
            json!({"rate_limits": {"five_hour": {"used_percentage": "x"}}}),
            json!({"context_window": {"used_percentage": 30}}),
        ] {
            let _ = parse(&v);
        }
        let r = parse(
            &json!({"context_window": {"used_percentage": 30.5, "remaining_percentage": null}}),
        );
        assert_eq!(r.context_left_percent, Some(69.5));
        let r = parse(&json!({"rate_limits": {"seven_day": {"used_percentage": 91.2}}}));
        assert_eq!(r.seven_day.unwrap().resets_at, None);
        assert_eq!(r.five_hour, None);
    }

    #[test]
    fn merge_wraps_the_users_entry_and_remove_puts_it_back() {
        let orc = Path::new("/opt/orc");
        let mine = json!({"type": "command", "command": "~/bin/my-status", "padding": 1});
        let mut obj = Map::new();
        obj.insert("statusLine".into(), mine.clone());
        assert!(merge(&mut obj, orc, None).unwrap());
        assert_eq!(obj["statusLine"]["command"], "'/opt/orc' statusline");
        assert_eq!(obj["statusLine"][WRAPPED_KEY], mine);
        assert_eq!(obj["statusLine"]["padding"], 1);
        assert!(!merge(&mut obj, orc, None).unwrap(), "idempotent");
        assert_eq!(obj["statusLine"][WRAPPED_KEY], mine, "not wrapped twice");
        // orc moved: the command follows, the wrapped entry stays.
        assert!(merge(&mut obj, Path::new("/usr/bin/orc"), None).unwrap());
        assert_eq!(obj["statusLine"]["command"], "'/usr/bin/orc' statusline");
        assert_eq!(obj["statusLine"][WRAPPED_KEY], mine);
        assert!(remove(&mut obj));
        assert_eq!(obj["statusLine"], mine);
        assert!(!remove(&mut obj), "the user's entry is not orc's");
        assert_eq!(obj["statusLine"], mine);
    }

    #[test]
    fn an_inherited_entry_is_wrapped_but_not_copied_back() {
        let d = tempfile::tempdir().unwrap();
        let user = d.path().join("home/.claude/settings.json");
        std::fs::create_dir_all(user.parent().unwrap()).unwrap();
        std::fs::write(
            &user,
            json!({"statusLine": {"type": "command", "command": "echo mine"}}).to_string(),
        )
        .unwrap();
        let cwd = d.path().join("work");
        let files = candidate_settings(&cwd, Some(&d.path().join("home")), None);
        let inh = inherited(&files).expect("the user's statusLine");
        assert_eq!(inh.0, user);
        let mut obj = Map::new();
        assert!(merge(&mut obj, Path::new("/opt/orc"), Some(inh)).unwrap());
        assert_eq!(obj["statusLine"][WRAPPED_KEY]["command"], "echo mine");
        assert_eq!(
            obj["statusLine"][WRAPPED_FROM_KEY],
            user.display().to_string()
        );
        assert!(remove(&mut obj));
        assert!(
            obj.get("statusLine").is_none(),
            "the user's file still has it"
        );
    }

    #[test]
    fn the_wrapped_command_runs_with_the_same_input() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("settings.local.json");
        std::fs::write(
            &p,
            json!({"statusLine": {"type": "command", "command": "'/opt/orc' statusline",
                WRAPPED_KEY: {"type": "command", "command": "tr a-z A-Z"}}})
            .to_string(),
        )
        .unwrap();
        let cmd = wrapped_command(&p).expect("wrapped");
        assert_eq!(cmd, "tr a-z A-Z");
        let out = run_wrapped(&cmd, b"model x\n", None, WRAPPED_TIMEOUT);
        assert_eq!(out.as_deref(), Some("MODEL X"));
        // A slow or failing command gives None, quickly.
        let t = Instant::now();
        assert_eq!(
            run_wrapped("sleep 5", b"", None, Duration::from_millis(200)),
            None
        );
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(run_wrapped("exit 3", b"", None, WRAPPED_TIMEOUT), None);
    }
}
