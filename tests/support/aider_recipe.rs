//! How to run the real Aider (PyPI `aider-chat` 0.86.2) under orc against
//! the OpenAI stand-in (`openai_stand_in.rs`) without a human: the profile
//! (`config.toml` section, or its args and env for `orc spawn`), and the
//! HOME it needs offline. Used by `tests/e2e_aider.rs`; meant for any test
//! that puts an Aider agent in a team.
//!
//! What it sets up and why:
//! - `--model openai/stand-in` with `--model-settings-file`: the settings
//!   aider ships for gpt-4o (diff edits, so a reply may propose shell
//!   commands; the edit rules in the system message, so a request's last user
//!   message is exactly what orc typed). As the model's own settings the
//!   prompt stays `>` (another edit format shows `diff>`, which orc's
//!   detector does not place).
//! - No `--yes-always`: it would answer *No* to `Run shell command?` (aider
//!   needs an explicit yes there) and Yes to everything else, including
//!   `Open URL for more info?` (a browser). Instead orc answers by label:
//!   `Add .aider* to .gitignore (recommended)?` always, `Run shell command?`
//!   and `Add command output to the chat?` only with `auto_approve = true`,
//!   which lets the model run any command it proposes, in the agent's folder,
//!   as the user orc runs as. Without it the question waits for a person.
//! - The key goes in the environment (`OPENAI_API_KEY`), not the command
//!   line orc logs.
//! - A fresh, non-empty model price cache and `LITELLM_LOCAL_MODEL_COST_MAP`:
//!   else aider and litellm fetch a price list from the network at start.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The release the tests drive.
pub const AIDER_VERSION: &str = "0.86.2";

/// The model settings file put in the agent's HOME.
pub const MODEL_SETTINGS: &str = "- name: openai/stand-in\n  edit_format: diff\n  use_repo_map: true\n  reminder: sys\n  examples_as_sys_msg: true\n";

/// The `aider` binary: `ORC_AIDER_BIN`, else the pinned release installed
/// (once, cached) by `scripts/install-aider.sh`.
pub fn aider_bin() -> PathBuf {
    if let Ok(p) = std::env::var("ORC_AIDER_BIN") {
        return PathBuf::from(p);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/install-aider.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("AIDER_VERSION", AIDER_VERSION)
        .output()
        .expect("run install-aider.sh");
    assert!(
        out.status.success(),
        "installing Aider {AIDER_VERSION} failed (needs python3 with venv and PyPI): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    PathBuf::from(path)
}

/// One Aider agent's launch: what a `[profiles.<name>]` section holds.
#[derive(Debug, Clone)]
pub struct AiderProfile {
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Answer `Run shell command?` (orc's label answer, not `--yes-always`).
    pub auto_approve: bool,
}

impl AiderProfile {
    /// The `[profiles.NAME]` section for `config.toml` (`detector = "aider"`).
    pub fn toml(&self, name: &str) -> String {
        let q = |s: &str| toml_string(s);
        let args: Vec<String> = self.args.iter().map(|a| q(a)).collect();
        let env: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{} = {}", q(k), q(v)))
            .collect();
        format!(
            "[profiles.{name}]\ncommand = {}\nargs = [{}]\nenv = {{ {} }}\ndetector = \"aider\"\nauto_approve = {}\n",
            q(&self.command),
            args.join(", "),
            env.join(", "),
            self.auto_approve
        )
    }

    /// `--env K=V` pairs for `orc spawn`.
    pub fn spawn_env(&self) -> Vec<String> {
        self.env
            .iter()
            .flat_map(|(k, v)| ["--env".to_string(), format!("{k}={v}")])
            .collect()
    }
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prepare `home` for an offline Aider (git identity, model settings, the
/// price cache) and give the profile talking to `base_url`
/// (`OpenAiStandIn::base_url()`), with `key` as its API key.
pub fn aider_profile(bin: &Path, base_url: &str, key: &str, home: &Path) -> AiderProfile {
    prepare_home(home);
    let settings = home.join(".aider.model.settings.yml");
    let args = [
        "--openai-api-base",
        base_url,
        "--model",
        "openai/stand-in",
        "--model-settings-file",
        &settings.display().to_string(),
        "--no-check-update",
        "--no-show-release-notes",
        "--no-analytics",
        "--no-show-model-warnings",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let env = [
        ("HOME", home.display().to_string()),
        ("OPENAI_API_KEY", key.to_string()),
        ("TERM", "xterm-256color".to_string()),
        ("LANG", "C.UTF-8".to_string()),
        ("LITELLM_LOCAL_MODEL_COST_MAP", "True".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    AiderProfile {
        command: bin.display().to_string(),
        args,
        env,
        auto_approve: true,
    }
}

fn prepare_home(home: &Path) {
    std::fs::create_dir_all(home.join(".aider/caches")).unwrap();
    std::fs::write(
        home.join(".gitconfig"),
        "[user]\n\tname = Aider Agent\n\temail = aider@example.com\n",
    )
    .unwrap();
    std::fs::write(
        home.join(".aider/caches/model_prices_and_context_window.json"),
        "{\"orc-placeholder\": {}}",
    )
    .unwrap();
    std::fs::write(home.join(".aider.model.settings.yml"), MODEL_SETTINGS).unwrap();
}
