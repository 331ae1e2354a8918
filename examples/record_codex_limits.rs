//! Record Codex's session log with usage limits in it, from the REAL CLI:
//! `cargo run --example record_codex_limits -- [SCENARIO...]` (none: all).
//!
//! Codex (`codex exec`, the same core the TUI runs) talks to the OpenAI
//! stand-in (`tests/support/openai_stand_in.rs`) through a custom provider,
//! offline, and the stand-in's replies carry the usage-limit headers
//! (`x-codex-{primary,secondary}-{used-percent,window-minutes,reset-at}`,
//! `Reply::codex_limits`). Codex writes what it read to
//! `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`; that file is copied
//! as it is to `fixtures/codex/<version>/session-logs/<scenario>.jsonl`, with
//! `<scenario>.json` beside it (a folder of its own: the version folder's
//! `.json` files are control-mode checkpoints): the headers that were sent (the
//! truth a test compares the parse with).
//!
//! Env: `CODEX_BIN` (default
//! `$HOME/.cache/orc-e2e/codex-0.171.0/node_modules/.bin/codex`), `OUT`.

#[path = "../tests/support/openai_stand_in.rs"]
mod openai_stand_in;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use openai_stand_in::{OpenAiStandIn, Reply};
use serde_json::{json, Value};

const SCRATCH: &str = "/tmp/orc-rec-codex-limits";

/// (scenario, primary used %, secondary used %)
const SCENARIOS: &[(&str, f64, f64)] = &[("limits", 42.0, 7.5), ("limits-full", 100.0, 61.0)];

fn find_rollouts(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            find_rollouts(&p, out);
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("rollout-") && n.ends_with(".jsonl"))
        {
            out.push(p);
        }
    }
}

fn record(bin: &Path, out: &Path, name: &str, primary: f64, secondary: f64) -> Result<()> {
    let dir = PathBuf::from(SCRATCH).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let (home, proj) = (dir.join("home"), dir.join("proj"));
    let codex_home = home.join(".codex");
    std::fs::create_dir_all(&codex_home)?;
    std::fs::create_dir_all(&proj)?;
    let now = chrono::Utc::now().timestamp();
    let (p_reset, s_reset) = (now + 2 * 3600 + 17 * 60, now + 4 * 86400);
    let reply = Reply::text("Hello from the stand-in.")
        .codex_limits("primary", primary, 300, p_reset)
        .codex_limits("secondary", secondary, 10080, s_reset)
        .forever();
    let stand_in = OpenAiStandIn::start(vec![])?;
    stand_in.set_default(Some(reply.clone()));
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            "model = \"stand-in\"\nmodel_provider = \"standin\"\ncheck_for_update_on_startup = false\n\n[model_providers.standin]\nname = \"stand-in\"\nbase_url = \"{}\"\nenv_key = \"STANDIN_KEY\"\nwire_api = \"responses\"\n",
            stand_in.base_url()
        ),
    )?;
    let status = std::process::Command::new("/usr/bin/env")
        .arg("-i")
        .arg("PATH=/usr/local/bin:/usr/bin:/bin")
        .arg(format!("HOME={}", home.display()))
        .arg(format!("CODEX_HOME={}", codex_home.display()))
        .args(["STANDIN_KEY=x", "LANG=C.UTF-8", "TZ=UTC"])
        .arg(bin)
        .args(["exec", "--skip-git-repo-check", "-C"])
        .arg(&proj)
        .arg("Say hello.")
        .stdin(std::process::Stdio::null())
        .status()
        .context("running codex exec")?;
    eprintln!(
        "record: {name}: codex exec {status}, {} requests",
        stand_in.requests().len()
    );
    let mut found = Vec::new();
    find_rollouts(&codex_home.join("sessions"), &mut found);
    let [log] = found.as_slice() else {
        bail!("{name}: expected one rollout file, found {found:?}");
    };
    let text = std::fs::read_to_string(log)?;
    if !text.contains("rate_limits") {
        bail!(
            "{name}: the session log has no rate_limits ({})",
            log.display()
        );
    }
    std::fs::write(out.join(format!("{name}.jsonl")), &text)?;
    let sent: Vec<Value> = reply
        .headers
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    let truth = json!({
        "scenario": name,
        "recorded_with": "codex exec against tests/support/openai_stand_in.rs",
        "file": log.strip_prefix(&codex_home).unwrap_or(log).display().to_string(),
        "headers": sent,
        "cwd": proj.display().to_string(),
    });
    std::fs::write(
        out.join(format!("{name}.json")),
        serde_json::to_string_pretty(&truth)? + "\n",
    )?;
    eprintln!("record: {name}: {} lines", text.lines().count());
    Ok(())
}

fn main() -> Result<()> {
    let bin = std::env::var_os("CODEX_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/orc-e2e/codex-0.171.0/node_modules/.bin/codex")
        });
    let v = std::process::Command::new(&bin).arg("--version").output()?;
    let version = String::from_utf8_lossy(&v.stdout)
        .split_whitespace()
        .last()
        .ok_or_else(|| anyhow!("no version from {}", bin.display()))?
        .to_string();
    let out = std::env::var_os("OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from("fixtures/codex")
                .join(&version)
                .join("session-logs")
        });
    std::fs::create_dir_all(&out)?;
    let only: Vec<String> = std::env::args().skip(1).collect();
    for (name, p, s) in SCENARIOS {
        if only.is_empty() || only.iter().any(|o| o == name) {
            record(&bin, &out, name, *p, *s)?;
        }
    }
    std::thread::sleep(Duration::from_millis(10));
    Ok(())
}
