//! `orc service install|uninstall|status`: run `orc supervise` as a systemd
//! *user* unit, so the supervisor comes back after a crash, a logout (with
//! linger) and a reboot.
//!
//! Everything the commands read from the outside world (the orc binary, PATH,
//! the carried variables, where the unit goes) sits in a [`Host`], so tests
//! pass their own and never touch the process environment. `systemctl` is
//! looked up on the host's PATH, so a test can put a fake one first.
//!
//! When there is no `systemctl`, or it cannot reach a user manager (common in
//! containers: "Failed to connect to bus"), `install` still writes the unit and
//! says how to start the supervisor without systemd.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::config::{resolve_command, Config};
use crate::paths::Paths;
use crate::proto::{Request, Response};

mod commands;
mod host;
mod report;
mod systemctl;
mod unit;

pub use commands::*;
pub use host::*;
pub use report::*;
use systemctl::*;
pub use unit::*;

/// The unit's file name.
pub const UNIT_NAME: &str = "orc.service";

/// Variables copied from the installing shell into the unit when set: they
/// decide where the supervisor keeps its state, socket and tmux server, so the
/// service must see the same values as the `orc` commands typed in a shell.
pub const CARRIED_ENV: &[&str] = &[
    "ORC_HOME",
    "ORC_TMUX_SOCKET",
    "ORC_LOG",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
];

/// Of [`CARRIED_ENV`], the ones holding a path (made absolute: the service
/// runs in the home directory, not where `install` ran).
const PATH_VARS: &[&str] = &["ORC_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"];

/// PATH for the unit when the installing one has no absolute entry at all.
const FALLBACK_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// `orc service ...`
#[derive(clap::Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum ServiceCmd {
    /// Write the systemd user unit for `orc supervise`, enable and start it
    Install,
    /// Stop and disable the unit and remove it; agents keep running in tmux
    Uninstall,
    /// Show the unit file, the service and the running supervisor, if any
    Status,
}

/// The CLI entry point: gather the host, act, print the report.
pub async fn run(action: ServiceCmd) -> Result<()> {
    let paths = Paths::from_env();
    let config = Config::load(&paths.config_file)?;
    let host = Host::from_env(paths, &config)?;
    let report = match action {
        ServiceCmd::Install => install(&host).await?,
        ServiceCmd::Uninstall => uninstall(&host).await?,
        ServiceCmd::Status => status(&host).await?,
    };
    print!("{report}");
    match report.failure {
        Some(why) => bail!(why),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write_exec(path: &Path, body: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn quoting_follows_systemd_rules() {
        assert_eq!(quote("/usr/bin/orc"), "/usr/bin/orc");
        assert_eq!(quote("PATH=/a:/b"), "PATH=/a:/b");
        assert_eq!(quote("/home/me/My Tools/orc"), r#""/home/me/My Tools/orc""#);
        assert_eq!(quote("/x/100%"), "/x/100%%");
        assert_eq!(quote("/x/$HOME"), r#""/x/$HOME""#);
        assert_eq!(quote(r#"A=say "hi" \o/"#), r#""A=say \"hi\" \\o/""#);
        assert_eq!(quote("A=a\nb"), r#""A=a\nb""#);
        assert_eq!(quote("A=\u{1b}"), r#""A=\x1b""#);
        assert_eq!(quote(""), r#""""#);
        assert_eq!(quote("A=it's"), r#""A=it's""#);
    }

    #[test]
    fn sh_quoting() {
        assert_eq!(sh_quote("/usr/bin/orc"), "/usr/bin/orc");
        assert_eq!(sh_quote("/a b/orc"), "'/a b/orc'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn unit_text_runs_orc_with_the_tools_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        write_exec(&bin.join("tmux"), "#!/bin/sh\n");
        let current = format!("{}:/usr/bin:relative/dir", bin.display());
        let (path, found) = build_path(&current, &["tmux"]);
        assert_eq!(found[0].1.as_deref(), Some(bin.join("tmux").as_path()));
        let exe = dir.path().join("orc");
        let text = unit_text(&exe, &path, &env(&[("ORC_HOME", "/srv/orc home")]));
        let lines: Vec<&str> = text.lines().collect();
        let has = |l: &str| lines.contains(&l);
        assert!(
            has(&format!("ExecStart={} supervise", exe.display())),
            "{text}"
        );
        assert!(has("Type=simple"));
        assert!(has("Restart=on-failure"));
        assert!(has("RestartSec=5"));
        assert!(has("KillMode=process"));
        assert!(has("WantedBy=default.target"));
        assert!(
            has(&format!("Environment=PATH={}:/usr/bin", bin.display())),
            "{text}"
        );
        assert!(has(r#"Environment="ORC_HOME=/srv/orc home""#), "{text}");
        assert!(!text.contains("relative/dir"));
        for section in ["[Unit]", "[Service]", "[Install]"] {
            assert!(has(section), "{section} missing:\n{text}");
        }
    }

    #[test]
    fn unit_text_quotes_an_exe_path_with_spaces() {
        let text = unit_text(Path::new("/opt/my tools/orc"), "/usr/bin", &[]);
        assert!(
            text.contains("ExecStart=\"/opt/my tools/orc\" supervise\n"),
            "{text}"
        );
    }

    #[test]
    fn build_path_reports_found_and_missing_and_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let extra = dir.path().join("extra");
        write_exec(&a.join("tmux"), "#!/bin/sh\n");
        write_exec(&b.join("claude"), "#!/bin/sh\n");
        write_exec(&b.join("tmux"), "#!/bin/sh\n"); // shadowed by a/tmux
        write_exec(&extra.join("aider"), "#!/bin/sh\n");
        std::fs::write(b.join("codex"), "not executable").unwrap();
        let current = format!(
            "{a}::.:{b}:~/bin:{a}:/nonexistent-dir",
            a = a.display(),
            b = b.display()
        );
        let aider = extra.join("aider");
        let tools = ["tmux", "claude", "codex", "gemini", aider.to_str().unwrap()];
        let (path, found) = build_path(&current, &tools);
        assert_eq!(
            path,
            format!(
                "{}:{}:/nonexistent-dir:{}",
                a.display(),
                b.display(),
                extra.display()
            )
        );
        let got: Vec<(&str, Option<&Path>)> = found
            .iter()
            .map(|(t, p)| (t.as_str(), p.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("tmux", Some(a.join("tmux").as_path())),
                ("claude", Some(b.join("claude").as_path())),
                ("codex", None),
                ("gemini", None),
                (tools[4], Some(aider.as_path())),
            ]
        );
        // Nothing absolute at all: a sane default rather than an empty PATH.
        assert_eq!(build_path(".:bin", &[]).0, FALLBACK_PATH);
    }

    #[test]
    fn unit_path_prefers_xdg_config_home() {
        let os = |s: &'static str| Some(std::ffi::OsStr::new(s));
        assert_eq!(
            unit_path_from(os("/x/cfg"), os("/home/me")).unwrap(),
            Path::new("/x/cfg/systemd/user/orc.service")
        );
        assert_eq!(
            unit_path_from(None, os("/home/me")).unwrap(),
            Path::new("/home/me/.config/systemd/user/orc.service")
        );
        assert_eq!(
            unit_path_from(os("relative"), os("/home/me")).unwrap(),
            Path::new("/home/me/.config/systemd/user/orc.service")
        );
        assert!(unit_path_from(None, None).is_err());
    }

    #[test]
    fn tools_come_from_tmux_git_and_profiles() {
        let config = Config::load(Path::new("/nonexistent/config.toml")).unwrap();
        let exe = std::env::current_exe().unwrap();
        let tools = tools_for(&config, &exe);
        let names: Vec<&str> = tools.iter().map(|t| t.command.as_str()).collect();
        for want in ["tmux", "git", "claude", "codex", "gemini", "aider", "bash"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        let claude = tools.iter().find(|t| t.command == "claude").unwrap();
        assert_eq!(
            claude.needed_by,
            "agents with the claude profile will not start under the service"
        );
    }

    /// Lines of `systemd-analyze verify` output that are about the unit file
    /// itself (its syntax, values, executables), not about the manager.
    fn verify_complaints(unit: &Path, runtime: &Path) -> Option<(String, Vec<String>)> {
        let run = |user: bool| {
            let mut cmd = Command::new("systemd-analyze");
            cmd.arg("verify");
            if user {
                cmd.arg("--user");
            }
            // A user-mode verify needs a runtime dir; give it a private one
            // (set on the child only: tests share the process environment).
            cmd.arg(unit)
                .env("XDG_RUNTIME_DIR", runtime)
                .env("SYSTEMD_LOG_COLOR", "0")
                .output()
        };
        let out = run(true).ok()?;
        let text = |o: &std::process::Output| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        };
        let mut all = text(&out);
        let manager_trouble = |s: &str| {
            s.contains("Failed to initialize manager")
                || s.contains("Failed to connect to bus")
                || s.contains("Failed to lookup RuntimeDirectory")
        };
        let mut mode = "--user";
        if manager_trouble(&all) {
            let out = run(false).ok()?;
            all = text(&out);
            mode = "system mode";
            if manager_trouble(&all) {
                return None;
            }
        }
        let name = unit.file_name().unwrap().to_string_lossy().into_owned();
        let unit_s = unit.to_string_lossy().into_owned();
        // Every complaint about a unit names it: "<path>:<line>: ..." for a
        // bad line, "orc.service: ..." for a bad unit as a whole.
        let complaints = all
            .lines()
            .filter(|l| l.contains(&unit_s) || l.contains(&name))
            .map(str::to_string)
            .collect();
        Some((format!("{mode}: {all}"), complaints))
    }

    #[test]
    fn systemd_analyze_accepts_the_unit() {
        if build_path(
            &std::env::var("PATH").unwrap_or_default(),
            &["systemd-analyze"],
        )
        .1[0]
            .1
            .is_none()
        {
            println!("SKIP: systemd-analyze is not installed");
            return;
        }
        // A folder name with a space, a specifier (`%u`) and `$`, to check
        // the quoting: the verifier rejects an ExecStart= naming no file.
        let dir = tempfile::Builder::new()
            .prefix("orc unit %u $x ")
            .tempdir()
            .unwrap();
        let exe = dir.path().join("bin dir").join("orc");
        write_exec(&exe, "#!/bin/sh\nexit 0\n");
        let runtime = dir.path().join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        let unit = dir.path().join("units").join(UNIT_NAME);
        let (path, _) = build_path(&format!("/usr/bin:/bin:{}", dir.path().display()), &[]);
        let text = unit_text(
            &exe,
            &path,
            &env(&[
                ("ORC_HOME", &dir.path().join("home").to_string_lossy()),
                ("ORC_TMUX_SOCKET", "orc test"),
            ]),
        );
        crate::state::write_atomic(&unit, text.as_bytes()).unwrap();
        let Some((output, complaints)) = verify_complaints(&unit, &runtime) else {
            println!("SKIP: systemd-analyze cannot start a manager here, in user or system mode");
            return;
        };
        println!("systemd-analyze verify ({output})");
        assert!(
            complaints.is_empty(),
            "unit:\n{text}\ncomplaints: {complaints:#?}"
        );

        // The check can fail: a broken value and a missing executable are seen.
        let broken = text
            .replace("Restart=on-failure", "Restart=sometimes")
            .replace("bin dir", "no such dir");
        crate::state::write_atomic(&unit, broken.as_bytes()).unwrap();
        let (_, complaints) = verify_complaints(&unit, &runtime).unwrap();
        assert!(
            complaints.iter().any(|l| l.contains("restart specifier")),
            "{complaints:#?}"
        );
        assert!(
            complaints.iter().any(|l| l.contains("not executable")),
            "{complaints:#?}"
        );
    }

    /// A host in a tempdir: the unit under `<tmp>/config`, orc's state under
    /// `<tmp>/home`, a fake tmux, and `bin` first on PATH (for a fake systemctl).
    struct Fixture {
        dir: tempfile::TempDir,
        host: Host,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let bin = dir.path().join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            write_exec(&dir.path().join("tools").join("tmux"), "#!/bin/sh\n");
            let orc_exe = dir.path().join("orc");
            write_exec(&orc_exe, "#!/bin/sh\n");
            let home = dir.path().join("home");
            let host = Host {
                orc_exe,
                // No /usr/bin: the real systemctl must never be reached.
                path_var: format!("{}:{}", bin.display(), dir.path().join("tools").display()),
                carried: env(&[("ORC_HOME", home.to_str().unwrap())]),
                unit_path: unit_path_from(Some(dir.path().join("config").as_os_str()), None)
                    .unwrap(),
                tools: vec![
                    Tool {
                        command: "tmux".into(),
                        needed_by: "the supervisor cannot start without it".into(),
                    },
                    Tool {
                        command: "claude".into(),
                        needed_by:
                            "agents with the claude profile will not start under the service".into(),
                    },
                ],
                paths: Paths::under(&home),
                user: Some("tester".into()),
                linger_file: Some(dir.path().join("linger").join("tester")),
                has_runtime_dir: false,
            };
            Fixture { dir, host }
        }

        /// A fake `systemctl` that logs its arguments and keeps the unit's
        /// state in a file: `enable --now` starts it, `disable --now` stops it.
        fn fake_systemctl(&self) -> PathBuf {
            let log = self.dir.path().join("systemctl.log");
            let state = self.dir.path().join("active");
            std::fs::write(&state, "inactive").unwrap();
            let script = format!(
                r#"#!/bin/sh
echo "$*" >> '{log}'
case "$*" in
  *"enable --now"*) echo active > '{state}' ;;
  *"disable --now"*) echo inactive > '{state}' ;;
  *" show "*)
    read s < '{state}' 
    echo LoadState=loaded
    echo ActiveState=$s
    if [ "$s" = active ]; then echo SubState=running; echo MainPID=4242; else echo SubState=dead; echo MainPID=0; fi
    echo UnitFileState=enabled
    echo NRestarts=0 ;;
esac
exit 0
"#,
                log = log.display(),
                state = state.display()
            );
            write_exec(&self.dir.path().join("bin").join("systemctl"), &script);
            log
        }

        /// A `systemctl` that cannot reach a user manager, like in a container.
        fn busless_systemctl(&self) {
            write_exec(
                &self.dir.path().join("bin").join("systemctl"),
                "#!/bin/sh\necho 'Failed to connect to bus: No medium found' >&2\nexit 1\n",
            );
        }
    }

    fn calls(log: &Path) -> Vec<String> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    const SHOW: &str = "--user show --property=LoadState,ActiveState,SubState,UnitFileState,MainPID,NRestarts orc.service";

    #[tokio::test]
    async fn install_then_uninstall_drive_systemctl() {
        let f = Fixture::new();
        let log = f.fake_systemctl();

        let r = install(&f.host).await.unwrap();
        assert_eq!(r.failure, None, "{r}");
        let text = std::fs::read_to_string(&f.host.unit_path).unwrap();
        assert!(text.contains(&format!("ExecStart={} supervise", f.host.orc_exe.display())));
        assert!(text.contains(&f.dir.path().join("tools").display().to_string()));
        assert!(text.contains("Environment=ORC_HOME="));
        assert_eq!(
            calls(&log),
            vec![
                SHOW.to_string(),
                "--user daemon-reload".into(),
                "--user enable --now orc.service".into(),
                SHOW.into(),
            ]
        );
        assert!(r.mentions("claude not found on PATH: agents with the claude profile will not start under the service"), "{r}");
        assert!(
            r.mentions("orc.service: active (running), enabled, main pid 4242"),
            "{r}"
        );
        assert!(r.mentions("loginctl enable-linger tester"), "{r}");

        // Again, unchanged: no restart. Status agrees with the file.
        std::fs::write(&log, "").unwrap();
        let r = install(&f.host).await.unwrap();
        assert!(r.mentions("is up to date"), "{r}");
        assert!(
            !calls(&log).iter().any(|c| c.contains("restart")),
            "{:?}",
            calls(&log)
        );
        let s = status(&f.host).await.unwrap();
        assert!(!s.mentions("differs"), "{s}");
        assert!(s.mentions("orc.service: active"), "{s}");
        assert!(s.mentions("supervisor: none answers"), "{s}");

        // A changed unit restarts a running service.
        let mut moved = f.host.clone();
        moved.carried = env(&[("ORC_HOME", "/elsewhere")]);
        assert!(status(&moved).await.unwrap().mentions("differs"));
        std::fs::write(&log, "").unwrap();
        let r = install(&moved).await.unwrap();
        assert!(r.mentions("updated"), "{r}");
        assert!(calls(&log).contains(&"--user restart orc.service".to_string()));

        std::fs::write(&log, "").unwrap();
        let r = uninstall(&f.host).await.unwrap();
        assert_eq!(r.failure, None, "{r}");
        assert!(!f.host.unit_path.exists());
        assert_eq!(
            calls(&log),
            vec![
                SHOW.to_string(),
                "--user disable --now orc.service".into(),
                "--user daemon-reload".into(),
                "--user reset-failed orc.service".into(),
            ]
        );
        assert!(r.mentions("Agents keep running in tmux"), "{r}");

        // Twice: nothing to do, and it says so.
        let r = uninstall(&f.host).await.unwrap();
        assert!(r.mentions("is not installed"), "{r}");
    }

    #[tokio::test]
    async fn without_a_user_manager_install_writes_the_unit_and_explains() {
        let f = Fixture::new();
        f.busless_systemctl();
        let r = install(&f.host).await.unwrap();
        assert_eq!(r.failure, None, "{r}");
        assert!(f.host.unit_path.exists());
        assert!(r.mentions("Failed to connect to bus"), "{r}");
        assert!(r.mentions("orc supervise --detach"), "{r}");
        let cron = format!(
            "@reboot PATH={}:{} ORC_HOME={} {} supervise --detach",
            f.dir.path().join("bin").display(),
            f.dir.path().join("tools").display(),
            f.host.paths.state.parent().unwrap().display(),
            f.host.orc_exe.display()
        );
        assert!(r.mentions(&cron), "want {cron}\n{r}");

        let s = status(&f.host).await.unwrap();
        assert!(
            s.mentions("systemd: `systemctl --user` cannot reach a user manager"),
            "{s}"
        );

        // Uninstall still cleans up, including the enablement link.
        let link = f.host.wants_link().unwrap();
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&f.host.unit_path, &link).unwrap();
        let r = uninstall(&f.host).await.unwrap();
        assert_eq!(r.failure, None, "{r}");
        assert!(!f.host.unit_path.exists());
        assert!(!link.is_symlink());
    }

    #[tokio::test]
    async fn without_systemctl_install_still_writes_the_unit() {
        let f = Fixture::new();
        // No fake systemctl and no system dirs on PATH.
        let r = install(&f.host).await.unwrap();
        assert_eq!(r.failure, None, "{r}");
        assert!(f.host.unit_path.exists());
        assert!(r.mentions("systemctl was not found on PATH"), "{r}");
    }

    #[tokio::test]
    async fn a_failing_enable_is_a_failure() {
        let f = Fixture::new();
        write_exec(
            &f.dir.path().join("bin").join("systemctl"),
            "#!/bin/sh\ncase \"$*\" in *enable*) echo 'Job failed' >&2; exit 1;; esac\nexit 0\n",
        );
        let r = install(&f.host).await.unwrap();
        assert!(
            r.failure.as_deref().unwrap_or("").contains("Job failed"),
            "{r:?}"
        );
    }
}
