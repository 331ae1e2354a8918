//! What each CLI needs to run offline against the doctor's stand-in: files
//! in the private HOME and work folder, and the agent's environment. No
//! real credential is ever set: the keys are dummies the stand-in ignores.

use std::path::Path;

use anyhow::Context;

use super::DUMMY_TOKEN;

/// Files the CLI of `detector` needs before its first start.
pub(super) fn prepare(detector: &str, home: &Path, work: &Path, api: &str) -> anyhow::Result<()> {
    match detector {
        "aider" => {
            // A price list of its own, else litellm fetches one at start.
            let caches = home.join(".aider/caches");
            std::fs::create_dir_all(&caches)?;
            std::fs::write(
                caches.join("model_prices_and_context_window.json"),
                "{\"orc-doctor\": {}}",
            )?;
            // Aider asks to create a repository in a folder without one.
            git2::Repository::init(work).context("git init of the doctor's work folder")?;
        }
        "codex" => {
            let dir = home.join(".codex");
            std::fs::create_dir_all(&dir)?;
            let config = format!(
                "model = \"stand-in\"\nmodel_provider = \"doctor\"\ncheck_for_update_on_startup = false\n\n\
                 [model_providers.doctor]\nname = \"orc doctor stand-in\"\nbase_url = {api:?}\n\
                 env_key = \"ORC_DOCTOR_KEY\"\nwire_api = \"responses\"\n"
            );
            std::fs::write(dir.join("config.toml"), config)?;
        }
        _ => {
            std::fs::write(
                home.join(".claude.json"),
                r#"{"hasCompletedOnboarding": true}"#,
            )?;
        }
    }
    Ok(())
}

/// The agent's environment for `detector`: HOME, the stand-in, a dummy key.
pub(super) fn env(
    detector: &str,
    home: &Path,
    anthropic: &str,
    openai: &str,
) -> Vec<(String, String)> {
    let home_s = home.display().to_string();
    let mut env: Vec<(&str, String)> = vec![("HOME", home_s), ("TERM", "xterm-256color".into())];
    match detector {
        "aider" => env.extend([
            ("AIDER_OPENAI_API_BASE", openai.to_string()),
            ("AIDER_OPENAI_API_KEY", DUMMY_TOKEN.to_string()),
            ("AIDER_MODEL", "openai/stand-in".into()),
            ("AIDER_CHECK_UPDATE", "false".into()),
            ("AIDER_SHOW_RELEASE_NOTES", "false".into()),
            ("AIDER_ANALYTICS", "false".into()),
            ("AIDER_SHOW_MODEL_WARNINGS", "false".into()),
            ("AIDER_GITIGNORE", "false".into()),
            ("LITELLM_LOCAL_MODEL_COST_MAP", "True".into()),
        ]),
        "codex" => env.extend([
            ("CODEX_HOME", home.join(".codex").display().to_string()),
            ("ORC_DOCTOR_KEY", DUMMY_TOKEN.to_string()),
        ]),
        _ => env.extend([
            ("ANTHROPIC_BASE_URL", anthropic.to_string()),
            ("CLAUDE_CODE_OAUTH_TOKEN", DUMMY_TOKEN.to_string()),
            ("IS_SANDBOX", "1".into()),
            ("DISABLE_AUTOUPDATER", "1".into()),
        ]),
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cli_gets_its_own_stand_in_and_no_other_cli_s_keys() {
        let home = Path::new("/h");
        let names = |d: &str| -> Vec<String> {
            env(d, home, "http://a", "http://o/v1")
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert!(names("aider").contains(&"AIDER_OPENAI_API_BASE".to_string()));
        assert!(!names("aider").iter().any(|k| k.starts_with("ANTHROPIC")));
        assert!(names("codex").contains(&"CODEX_HOME".to_string()));
        assert!(names("claude-code").contains(&"ANTHROPIC_BASE_URL".to_string()));
        assert!(!names("claude-code").iter().any(|k| k.starts_with("AIDER")));
    }

    #[test]
    fn codex_is_pointed_at_the_stand_in_by_its_config() {
        let dir = tempfile::tempdir().unwrap();
        let (home, work) = (dir.path().join("h"), dir.path().join("w"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        prepare("codex", &home, &work, "http://127.0.0.1:9/doctor/v1").unwrap();
        let c = std::fs::read_to_string(home.join(".codex/config.toml")).unwrap();
        let t: toml::Table = c.parse().unwrap();
        assert_eq!(
            t["model_providers"]["doctor"]["base_url"].as_str(),
            Some("http://127.0.0.1:9/doctor/v1")
        );
        prepare("aider", &home, &work, "x").unwrap();
        assert!(work.join(".git").exists());
    }
}
