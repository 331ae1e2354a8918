//! Record control-mode fixtures from the REAL Aider CLI (PyPI `aider-chat`):
//! `cargo run --example record_aider -- [SCENARIO...]` (no argument: all), or
//! `cargo run --example record_aider -- --serve` to only run the stand-in.
//!
//! Built like `examples/record_claude.rs`: each scenario gets a private tmux
//! server (`tmux -L orc-rec-aider-<pid>-<n>`, orc's `tmux.conf`), a session with
//! a keeper window, and a control client of our own whose stdout is copied byte
//! for byte before `ControlClient::from_io` parses it. The client is set up like
//! orc's session actor (`refresh-client -C 120x40`, `pause-after=30`, the `dead`
//! subscription); then `new-window` starts `aider` against the OpenAI stand-in
//! (`tests/support/openai_stand_in.rs`), so every byte the pane wrote is in the
//! stream. A vt100 screen fed with the pane's output tells *when* to take a
//! checkpoint; a checkpoint stores how many output events of the pane had
//! arrived and the state the scenario makes true (not the detector's opinion).
//!
//! Output: `fixtures/aider/<version>/<scenario>.cm` and `<scenario>.json`.
//! Env: `AIDER_BIN` (default `$HOME/.cache/orc-e2e/aider-0.86.2/bin/aider`, where
//! `scripts/install-aider.sh` installs it),
//! `OUT` (default `fixtures/aider/<version>`), `KEEP=1` keeps the scratch folder.
//!
//! Aider runs offline with: `--openai-api-base <stand-in>/v1 --openai-api-key x
//! --model openai/stand-in --no-check-update --no-show-release-notes
//! --no-analytics --no-show-model-warnings`, `LITELLM_LOCAL_MODEL_COST_MAP=True`
//! and a fresh `$HOME/.aider/caches/model_prices_and_context_window.json`
//! (else litellm and aider fetch a price list from the network at start).

#[path = "../tests/support/openai_stand_in.rs"]
mod openai_stand_in;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use openai_stand_in::{OpenAiStandIn, Reply};
use orc::tmux::{ControlClient, Event};
use regex::Regex;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, ReadBuf};

const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;
const SCRATCH: &str = "/tmp/orc-rec-aider";
const CLI: &str = "aider";
const MODEL_SETTINGS: &str = "- name: openai/stand-in\n  edit_format: diff\n  use_repo_map: true\n  reminder: sys\n  examples_as_sys_msg: true\n";

const SCENARIOS: &[&str] = &[
    "startup",
    "streaming",
    "auth-401",
    "rate-limit",
    "rate-limit-gave-up",
    "server-error",
    "exit-command",
    "exit-ctrl-c",
    "shell-command",
    "composing-multiline",
    "rate-limit-quota",
    "add-file",
    "add-files",
    "create-file",
    "architect-mode",
    "architect-confirm",
    "ask-mode",
];

// ---------------------------------------------------------------------------
// The tee: everything the control client writes, kept exactly.
// ---------------------------------------------------------------------------

struct Tee<R> {
    inner: R,
    log: Arc<Mutex<Vec<u8>>>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Tee<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let new = &buf.filled()[before..];
            self.log.lock().unwrap().extend_from_slice(new);
        }
        r
    }
}

struct PaneView {
    outputs: usize,
    parser: vt100::Parser,
    last: Instant,
}

#[derive(Default)]
struct Seen {
    panes: HashMap<u32, PaneView>,
}

fn pump(
    mut events: tokio::sync::mpsc::Receiver<(u64, Event)>,
    seen: Arc<Mutex<Seen>>,
    client: ControlClient,
) {
    tokio::spawn(async move {
        while let Some((_, ev)) = events.recv().await {
            match ev {
                Event::Output { pane, data } => {
                    let mut s = seen.lock().unwrap();
                    let v = s.panes.entry(pane).or_insert_with(|| PaneView {
                        outputs: 0,
                        parser: vt100::Parser::new(HEIGHT, WIDTH, 0),
                        last: Instant::now(),
                    });
                    v.outputs += 1;
                    v.parser.process(&data);
                    v.last = Instant::now();
                }
                Event::Pause { pane } => {
                    eprintln!("record: %pause %{pane}: continuing");
                    let c = client.clone();
                    tokio::spawn(async move {
                        let _ = c
                            .tool_cmd(&["refresh-client", "-A", &format!("%{pane}:continue")])
                            .await;
                    });
                }
                _ => {}
            }
        }
    });
}

// ---------------------------------------------------------------------------
// One scenario's recording.
// ---------------------------------------------------------------------------

struct Rec {
    name: String,
    version: String,
    socket: String,
    conf: PathBuf,
    aider: PathBuf,
    dir: PathBuf,
    home: PathBuf,
    proj: PathBuf,
    client: ControlClient,
    child: tokio::process::Child,
    log: Arc<Mutex<Vec<u8>>>,
    seen: Arc<Mutex<Seen>>,
    stand_in: OpenAiStandIn,
    pane: Option<u32>,
    checkpoints: Vec<Value>,
}

fn tmux_one(socket: &str, conf: &Path, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new("tmux")
        .arg("-u")
        .arg("-L")
        .arg(socket)
        .arg("-f")
        .arg(conf)
        .args(args)
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!(
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Rec {
    async fn start(name: &str, n: usize, aider: &Path, version: &str) -> Result<Rec> {
        let dir = PathBuf::from(SCRATCH).join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let home = dir.join("home");
        let proj = dir.join("proj");
        std::fs::create_dir_all(&home)?;
        std::fs::create_dir_all(&proj)?;
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = Fixture\n\temail = fixture@example.com\n",
        )?;
        // A fresh, non-empty model-info cache (with no entry for our model):
        // else aider fetches litellm's price list from the network at start
        // and prints the failure.
        let caches = home.join(".aider/caches");
        std::fs::create_dir_all(&caches)?;
        std::fs::write(
            caches.join("model_prices_and_context_window.json"),
            "{\"orc-fixture-placeholder\": {}}",
        )?;
        // The stand-in model gets the settings aider ships for gpt-4o (diff
        // edits, so a reply can propose shell commands; the edit rules as a
        // system message, so the last user message is what was typed). As
        // the model's own settings, the prompt stays `>` (an edit format
        // other than the model's shows as `diff>`).
        std::fs::write(home.join(".aider.model.settings.yml"), MODEL_SETTINGS)?;
        init_repo(&proj, &home)?;
        let conf = dir.join("tmux.conf");
        std::fs::write(&conf, orc::tmux::CONF)?;
        let socket = format!("orc-rec-aider-{}-{n}", std::process::id());
        tmux_one(
            &socket,
            &conf,
            &[
                "new-session",
                "-d",
                "-s",
                "rec",
                "-n",
                "keeper",
                "-x",
                "120",
                "-y",
                "40",
                "--",
                "/bin/sh",
                "-c",
                "exec tail -f /dev/null",
            ],
        )?;
        let mut child = tokio::process::Command::new("tmux")
            .arg("-u")
            .arg("-L")
            .arg(&socket)
            .arg("-f")
            .arg(&conf)
            .arg("-C")
            .arg("attach-session")
            .arg("-t")
            .arg("=rec")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let tee = Tee {
            inner: stdout,
            log: log.clone(),
        };
        let (client, mut events) = ControlClient::from_io(tee, stdin, 4096);
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some((_, ev)) = events.recv().await {
                match ev {
                    Event::SessionChanged { .. } => return Ok(()),
                    Event::Exit { reason } => bail!("control client exited: {reason:?}"),
                    _ => {}
                }
            }
            bail!("control client closed")
        })
        .await
        .map_err(|_| anyhow!("no %session-changed within 10 s"))??;
        let seen = Arc::new(Mutex::new(Seen::default()));
        pump(events, seen.clone(), client.clone());
        client.tool_cmd(&["refresh-client", "-C", "120x40"]).await?;
        client
            .tool_cmd(&["refresh-client", "-f", "pause-after=30"])
            .await?;
        client
            .tool_cmd(&[
                "refresh-client",
                "-B",
                "dead:%*:#{pane_dead}:#{pane_dead_status}",
            ])
            .await?;
        let stand_in = OpenAiStandIn::start(vec![])?;
        Ok(Rec {
            name: name.to_string(),
            version: version.to_string(),
            socket,
            conf,
            aider: aider.to_path_buf(),
            dir,
            home,
            proj,
            client,
            child,
            log,
            seen,
            stand_in,
            pane: None,
            checkpoints: Vec::new(),
        })
    }

    /// Start `aider <offline flags> ARGS` in a new window; it becomes the
    /// recorded pane.
    async fn launch(&mut self, args: &[&str]) -> Result<u32> {
        let base = self.stand_in.base_url();
        let mut cmd: Vec<String> = vec![
            "new-window".into(),
            "-d".into(),
            "-P".into(),
            "-F".into(),
            "#{pane_id}".into(),
            "-t".into(),
            "=rec:".into(),
            "-n".into(),
            "aider".into(),
            "-c".into(),
            orc::tmux::escape_format(&self.proj.to_string_lossy()),
            "--".into(),
            "/usr/bin/env".into(),
            "-i".into(),
            "PATH=/usr/local/bin:/usr/bin:/bin".into(),
            format!("HOME={}", self.home.display()),
            "TERM=xterm-256color".into(),
            "LANG=C.UTF-8".into(),
            "TZ=UTC".into(),
            "LITELLM_LOCAL_MODEL_COST_MAP=True".into(),
            self.aider.display().to_string(),
            "--openai-api-base".into(),
            base,
            "--openai-api-key".into(),
            "x".into(),
            "--model".into(),
            "openai/stand-in".into(),
            "--no-check-update".into(),
            "--no-show-release-notes".into(),
            "--no-analytics".into(),
            "--no-show-model-warnings".into(),
        ];
        cmd.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
        let out = self.client.tool_cmd(&refs).await?;
        let id = out
            .first()
            .and_then(|l| l.trim().strip_prefix('%'))
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| anyhow!("new-window printed {out:?}"))?;
        self.pane = Some(id);
        eprintln!("record: {}: aider {args:?} in %{id}", self.name);
        Ok(id)
    }

    fn target(&self) -> String {
        format!("%{}", self.pane.expect("a pane"))
    }

    fn screen(&self) -> String {
        let s = self.seen.lock().unwrap();
        s.panes
            .get(&self.pane.expect("a pane"))
            .map(|v| v.parser.screen().contents())
            .unwrap_or_default()
    }

    fn outputs(&self) -> usize {
        let s = self.seen.lock().unwrap();
        s.panes
            .get(&self.pane.expect("a pane"))
            .map_or(0, |v| v.outputs)
    }

    fn quiet_for(&self) -> Duration {
        let s = self.seen.lock().unwrap();
        s.panes
            .get(&self.pane.expect("a pane"))
            .map_or(Duration::ZERO, |v| v.last.elapsed())
    }

    async fn wait_for(&self, pattern: &str, secs: u64) -> Result<()> {
        let re = Regex::new(pattern)?;
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if re.is_match(&self.screen()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{}: timeout waiting for /{pattern}/; screen:\n{}",
                    self.name,
                    self.screen()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until the pane has written nothing for `quiet` (at most 30 s).
    async fn settle(&self, quiet: Duration) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.quiet_for() < quiet {
            if Instant::now() >= deadline {
                bail!("{}: the screen did not settle within 30 s", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    async fn rest(&self) -> Result<()> {
        self.settle(Duration::from_millis(1000)).await
    }

    /// The prompt is back: the last non-blank line is `>` under a rule.
    async fn wait_prompt(&self, secs: u64) -> Result<()> {
        self.wait_for(r"(?m)^─{20,}\n>\s*\z", secs).await?;
        self.rest().await?;
        self.wait_for(r"(?m)^─{20,}\n>\s*\z", 5).await
    }

    /// The prompt is back with files in the chat: aider lists them on a line
    /// (or a few) between the rule and `>`.
    async fn wait_prompt_files(&self, secs: u64) -> Result<()> {
        let re = r"(?m)^─{20,}\n(?:[^─>\n][^\n]*\n){1,3}>\s*\z";
        self.wait_for(re, secs).await?;
        self.rest().await?;
        self.wait_for(re, 5).await
    }

    /// The prompt of a chat mode other than the model's own edit format is
    /// back: `MODE> ` (e.g. `architect> `, `ask> `) as the last line under
    /// the rule, or under the chat's files.
    async fn wait_mode_prompt(&self, mode: &str, secs: u64) -> Result<()> {
        let re = format!(
            r"(?m)^─{{20,}}\n(?:[^─>\n][^\n]*\n){{0,3}}{}>\s*\z",
            regex::escape(mode)
        );
        self.wait_for(&re, secs).await?;
        self.rest().await?;
        self.wait_for(&re, 5).await
    }

    async fn keys(&self, keys: &[&str]) -> Result<()> {
        let t = self.target();
        let mut args = vec!["send-keys", "-t", &t];
        args.extend_from_slice(keys);
        self.client.tool_cmd(&args).await?;
        Ok(())
    }

    async fn type_text(&self, text: &str) -> Result<()> {
        let t = self.target();
        self.client
            .tool_cmd(&["send-keys", "-t", &t, "-l", "--", text])
            .await?;
        Ok(())
    }

    /// Type a short message, then Enter as a separate key after a pause.
    async fn say(&self, text: &str) -> Result<()> {
        self.type_text(text).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.keys(&["Enter"]).await
    }

    async fn pane_dead(&self) -> Result<bool> {
        let out = self
            .client
            .tool_cmd(&[
                "display-message",
                "-p",
                "-t",
                &self.target(),
                "#{pane_dead}",
            ])
            .await?;
        Ok(out.first().map(|s| s.trim()) == Some("1"))
    }

    async fn wait_dead(&self, secs: u64) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.pane_dead().await? {
            if Instant::now() >= deadline {
                bail!(
                    "{}: the pane did not die; screen:\n{}",
                    self.name,
                    self.screen()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Record a checkpoint: the truth `state` (and `dialog`) of the screen now.
    fn checkpoint(&mut self, name: &str, state: &str, dialog: Option<&str>, note: &str) {
        let outputs = self.outputs();
        let said = {
            let s = self.seen.lock().unwrap();
            let v = s.panes.get(&self.pane.unwrap());
            match (v, orc::screen::detect::table_for(CLI)) {
                (Some(v), Some(t)) => {
                    let o = orc::screen::detect::observe(
                        v.parser.screen(),
                        Duration::from_secs(5),
                        t,
                        orc::screen::SETTLE,
                    );
                    format!("{:?}/{:?} ({})", o.state(), o.dialog, o.rule)
                }
                _ => "no table".to_string(),
            }
        };
        eprintln!(
            "record: {}: checkpoint {name} at {outputs} outputs: truth {state}/{dialog:?}; detector {said}",
            self.name
        );
        if std::env::var_os("SHOW").is_some() {
            eprintln!("{}\n-----", self.screen().trim_end());
        }
        self.checkpoints.push(json!({
            "name": name,
            "outputs": outputs,
            "state": state,
            "dialog": dialog,
            "note": note,
        }));
    }

    /// Paste `text` the way orc types a message of several lines or a long
    /// one: `set-buffer` + `paste-buffer -p -d` (a bracketed paste).
    async fn paste(&self, text: &str) -> Result<()> {
        let t = self.target();
        let text = orc::tmux::PaneText::new(text);
        assert!(text.wants_paste(), "orc pastes only text that wants it");
        self.client.type_text(&t, "orc-rec", &text).await?;
        Ok(())
    }

    /// Launch with `--no-gitignore` and wait for the idle prompt.
    async fn boot(&mut self) -> Result<()> {
        self.boot_with(&[]).await
    }

    /// `boot` with more arguments.
    async fn boot_with(&mut self, extra: &[&str]) -> Result<()> {
        let mut args = vec!["--no-gitignore"];
        args.extend_from_slice(extra);
        self.launch(&args).await?;
        self.wait_for(r"Aider v\d", 60).await?;
        self.wait_prompt(60).await
    }

    /// Launch with `--no-gitignore` and EXTRA, and wait for the idle prompt
    /// of chat mode MODE (`MODE> `).
    async fn boot_mode(&mut self, extra: &[&str], mode: &str) -> Result<()> {
        let mut args = vec!["--no-gitignore"];
        args.extend_from_slice(extra);
        self.launch(&args).await?;
        self.wait_for(r"Aider v\d", 60).await?;
        self.wait_mode_prompt(mode, 60).await
    }

    /// Detach, wait for the client to end, save the stream and checkpoints,
    /// kill the private server.
    async fn finish(mut self, out: &Path, ok: bool) -> Result<()> {
        let socket_path = self
            .client
            .tool_cmd(&["display-message", "-p", "#{socket_path}"])
            .await
            .ok()
            .and_then(|l| l.first().map(|s| PathBuf::from(s.trim())));
        self.client.detach().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let _ = self.child.kill().await;
        let _ = tmux_one(&self.socket, &self.conf, &["kill-server"]);
        if let Some(p) = socket_path.filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy() == self.socket)
        }) {
            let _ = std::fs::remove_file(p);
        }
        if ok {
            let bytes = self.log.lock().unwrap().clone();
            std::fs::create_dir_all(out)?;
            std::fs::write(out.join(format!("{}.cm", self.name)), &bytes)?;
            let meta = json!({
                "cli": CLI,
                "version": self.version,
                "width": WIDTH,
                "height": HEIGHT,
                "pane": format!("%{}", self.pane.unwrap_or(0)),
                "auth": "api",
                "checkpoints": self.checkpoints,
            });
            std::fs::write(
                out.join(format!("{}.json", self.name)),
                serde_json::to_string_pretty(&meta)? + "\n",
            )?;
            eprintln!(
                "record: {}: wrote {} bytes, {} checkpoints",
                self.name,
                bytes.len(),
                meta["checkpoints"].as_array().map_or(0, |a| a.len())
            );
        }
        eprintln!(
            "record: {}: {} completion requests",
            self.name,
            self.stand_in.completions().len()
        );
        if std::env::var_os("KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        Ok(())
    }
}

fn init_repo(repo: &Path, home: &Path) -> Result<()> {
    let git = |args: &[&str]| -> Result<()> {
        let o = std::process::Command::new("git")
            .args(args)
            .current_dir(repo)
            .env("HOME", home)
            .output()?;
        if !o.status.success() {
            bail!("git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        }
        Ok(())
    };
    git(&["init", "-q", "-b", "main"])?;
    std::fs::write(repo.join("README.md"), "fixture repo\n")?;
    git(&["add", "."])?;
    git(&["commit", "-qm", "init"])
}

/// Run `git ARGS` in the scenario's repo (HOME: the scratch home, for the
/// user name); its stdout.
fn git_in(r: &Rec, args: &[&str]) -> Result<String> {
    let o = std::process::Command::new("git")
        .args(args)
        .current_dir(&r.proj)
        .env("HOME", &r.home)
        .output()?;
    if !o.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Write and commit files before aider starts (in the repo, not in the chat).
fn commit_files(r: &Rec, files: &[(&str, &str)]) -> Result<()> {
    for (path, text) in files {
        let p = r.proj.join(path);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(p, text)?;
        git_in(r, &["add", path])?;
    }
    git_in(r, &["commit", "-qm", "add source files"])?;
    Ok(())
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

async fn run(r: &mut Rec) -> Result<()> {
    match r.name.clone().as_str() {
        "startup" => startup(r).await,
        "streaming" => streaming(r).await,
        "auth-401" => auth_401(r).await,
        "rate-limit" => rate_limit(r).await,
        "rate-limit-gave-up" => rate_limit_gave_up(r).await,
        "server-error" => server_error(r).await,
        "exit-command" => exit_command(r).await,
        "exit-ctrl-c" => exit_ctrl_c(r).await,
        "shell-command" => shell_command(r).await,
        "composing-multiline" => composing_multiline(r).await,
        "rate-limit-quota" => rate_limit_quota(r).await,
        "add-file" => add_file(r).await,
        "add-files" => add_files(r).await,
        "create-file" => create_file(r).await,
        "architect-mode" => architect_mode(r).await,
        "architect-confirm" => architect_confirm(r).await,
        "ask-mode" => ask_mode(r).await,
        other => bail!("unknown scenario {other}; known: {SCENARIOS:?}"),
    }
}

async fn startup(r: &mut Rec) -> Result<()> {
    // Without --no-gitignore: the first start in a repo asks about .gitignore.
    r.launch(&[]).await?;
    r.wait_for(r"\(Y\)es/\(N\)o", 60).await?;
    r.rest().await?;
    r.checkpoint(
        "gitignore-question",
        "awaiting_choice",
        Some("setup"),
        "First start in a git repo without .aider* in .gitignore: 'Add .aider* to .gitignore (recommended)? (Y)es/(N)o [Yes]:' waits for an answer.",
    );
    r.keys(&["Enter"]).await?;
    r.wait_prompt(60).await?;
    r.checkpoint(
        "idle-fresh",
        "idle",
        None,
        "Answered Yes with Enter: version/model/repo lines, a full-width rule and the empty '>' prompt; no request in flight, settled.",
    );
    r.type_text("please fix the failing test in src/lib.rs")
        .await?;
    r.wait_for("please fix the failing test", 10).await?;
    r.rest().await?;
    r.checkpoint(
        "composing-typed",
        "composing",
        None,
        "Text typed with send-keys -l, Enter not pressed: unsent text on the '>' prompt line.",
    );
    r.stand_in
        .push(Reply::text("I fixed the test in src/lib.rs.").delay(Duration::from_secs(10)));
    r.keys(&["Enter"]).await?;
    r.wait_for("Waiting for", 15).await?;
    sleep_ms(3000).await;
    r.checkpoint(
        "busy-waiting",
        "busy",
        None,
        "Message submitted; the stand-in holds the reply for 10 s: the spinner line 'Waiting for openai/stand-in' under the echoed prompt.",
    );
    r.wait_for("I fixed the test", 30).await?;
    r.wait_prompt(30).await?;
    r.checkpoint(
        "turn-finished",
        "idle",
        None,
        "The reply arrived and the turn ended ('Tokens: N sent, M received.', a rule, the empty '>' prompt); settled.",
    );
    Ok(())
}

async fn streaming(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    r.stand_in.push(
        Reply::text("Streaming a long answer word by word so that the screen shows partial text while the turn is still running until the very end of it.")
            .chunk_delay(Duration::from_millis(400)),
    );
    r.say("stream something").await?;
    r.wait_for("Streaming a long", 20).await?;
    sleep_ms(2500).await;
    r.checkpoint(
        "busy-streaming",
        "busy",
        None,
        "The reply streams in word by word (one word per 400 ms): partial text shown, the turn still runs.",
    );
    r.wait_for("very end of it", 60).await?;
    r.wait_prompt(30).await?;
    r.checkpoint(
        "turn-done-streamed",
        "idle",
        None,
        "The streamed reply is complete and the turn ended; empty prompt, settled.",
    );
    Ok(())
}

async fn auth_401(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    r.stand_in.push(Reply::unauthorized().forever());
    r.say("hello").await?;
    r.wait_for("AuthenticationError", 60).await?;
    // The error names a URL: aider asks whether to open it.
    r.wait_for(r"\[Yes\]:\s*\z", 30).await?;
    // The spinner keeps turning under the question: the screen never settles.
    sleep_ms(2000).await;
    r.checkpoint(
        "auth-401-open-url",
        "auth_failed",
        None,
        "After the 401 (litellm.AuthenticationError, 'Check your API key.') the error names a URL and aider asks 'Open URL for more info? (Y)es/(N)o/(D)on't ask again [Yes]:' (its first characters overdrawn by the spinner's last frame): the auth failure is what matters (only a new key helps); the question is not orc's to answer.",
    );
    r.type_text("n").await?;
    sleep_ms(300).await;
    r.keys(&["Enter"]).await?;
    r.wait_prompt(60).await?;
    r.checkpoint(
        "auth-401",
        "auth_failed",
        None,
        "Every request answered 401 invalid_api_key: the turn ends with litellm.AuthenticationError and 'Check your API key.'; the prompt is back, but only a new key helps.",
    );
    Ok(())
}

async fn rate_limit(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    // The OpenAI SDK under litellm retries twice itself (honouring
    // retry-after: 1 s), so one aider attempt is three requests.
    r.stand_in.push(Reply::rate_limited().times(6));
    r.stand_in.push(Reply::text("Recovered after the 429s."));
    r.say("hello").await?;
    r.wait_for(r"Retrying in 0\.2", 60).await?;
    sleep_ms(300).await;
    r.checkpoint(
        "retrying-429",
        "limited",
        None,
        "Requests answered 429 rate_limit_exceeded (six times = two aider attempts of three SDK requests, then a reply): litellm.RateLimitError, 'The API provider has rate limited you', 'Retrying in Ns...'; the turn waits on the rate limit.",
    );
    r.wait_for("Recovered after the 429s", 60).await?;
    r.wait_prompt(30).await?;
    r.checkpoint(
        "recovered-429",
        "idle",
        None,
        "A retry succeeded: the reply and 'Tokens: ...' follow the 429 messages, the turn ended; empty prompt, settled.",
    );
    Ok(())
}

async fn rate_limit_gave_up(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    r.stand_in.push(Reply::rate_limited().forever());
    r.say("hello").await?;
    r.wait_for("RateLimitError", 60).await?;
    // litellm/aider back off 0.2 s, 0.5 s, 1 s, ... and give up past 60 s.
    r.wait_prompt(150).await?;
    r.checkpoint(
        "gave-up-429",
        "limited",
        None,
        "Every request answered 429: after the retries (0.2 s doubling) aider gives up; the turn ends with the rate-limit message above an empty prompt.",
    );
    Ok(())
}

async fn server_error(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    r.stand_in.push(Reply::server_error().times(6));
    r.stand_in.push(Reply::text("Recovered after the 500s."));
    r.say("hello").await?;
    r.wait_for(r"Retrying in 0\.2", 60).await?;
    sleep_ms(300).await;
    r.checkpoint(
        "retrying-500",
        "api_error",
        None,
        "Requests answered 500 (six times = two aider attempts of three SDK requests, then a reply): litellm.InternalServerError, 'servers are down or overloaded', 'Retrying in Ns...'.",
    );
    r.wait_for("Recovered after the 500s", 60).await?;
    r.wait_prompt(30).await?;
    r.checkpoint(
        "recovered-500",
        "idle",
        None,
        "A retry succeeded: reply and 'Tokens: ...' after the 500 messages, turn ended; settled.",
    );
    Ok(())
}

async fn exit_command(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    r.say("/exit").await?;
    r.wait_dead(30).await?;
    r.rest().await?;
    r.checkpoint(
        "exited",
        "exited",
        None,
        "/exit typed and submitted: aider quit and the pane is dead (remain-on-exit keeps its last screen). orc learns this from the pane's death.",
    );
    Ok(())
}

async fn exit_ctrl_c(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    r.keys(&["C-c"]).await?;
    r.wait_for(r"\^C again to exit", 10).await?;
    r.wait_prompt(10).await?;
    r.checkpoint(
        "ctrl-c-once",
        "idle",
        None,
        "One ctrl-c at the empty prompt: aider prints '^C again to exit', draws a new rule and an empty prompt, and waits for input.",
    );
    r.keys(&["C-c"]).await?;
    r.wait_dead(30).await?;
    r.rest().await?;
    r.checkpoint(
        "exited",
        "exited",
        None,
        "ctrl-c twice: aider quit ('^C KeyboardInterrupt') and the pane is dead. orc learns this from the pane's death.",
    );
    Ok(())
}

async fn shell_command(r: &mut Rec) -> Result<()> {
    // The diff edit format (MODEL_SETTINGS) is one whose replies may
    // propose shell commands (`whole`, aider's default, never does).
    r.boot().await?;
    r.stand_in.push(Reply::text(
        "I will create the marker file.\n\n```bash\ntouch made-by-aider.txt && echo marker made\n```\n",
    ));
    r.say("create the marker file").await?;
    r.wait_for(r"Run shell command\?.*\[Yes\]:\s*\z", 30)
        .await?;
    r.rest().await?;
    r.checkpoint(
        "run-shell-command",
        "awaiting_permission",
        Some("permission"),
        "The reply holds a fenced bash block: aider shows the command and asks 'Run shell command? (Y)es/(N)o/(D)on't ask again [Yes]:' (default Yes; --yes-always would answer No: explicit yes required).",
    );
    // Enter takes the default, Yes: the command runs in the repo.
    r.keys(&["Enter"]).await?;
    r.wait_for(r"Add command output to the chat\?.*\[Yes\]:\s*\z", 30)
        .await?;
    r.rest().await?;
    if !r.proj.join("made-by-aider.txt").exists() {
        bail!("Enter at 'Run shell command?' did not run it");
    }
    r.checkpoint(
        "add-output",
        "awaiting_permission",
        Some("permission"),
        "The command ran (the marker file exists); aider asks 'Add command output to the chat? (Y)es/(N)o/(D)on't ask again [Yes]:'.",
    );
    r.keys(&["Enter"]).await?;
    r.wait_prompt(30).await?;
    r.checkpoint(
        "idle-after-command",
        "idle",
        None,
        "Output added to the chat; no new request: the turn ended, empty prompt, settled.",
    );
    Ok(())
}

async fn composing_multiline(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    r.stand_in.push(Reply::text("First answer."));
    r.say("first question").await?;
    r.wait_for("First answer", 30).await?;
    r.wait_prompt(30).await?;
    r.checkpoint(
        "idle-after-turn",
        "idle",
        None,
        "A turn finished ('Tokens: ...', a rule, the empty '>' prompt below the last reply); settled.",
    );
    let multi = "multi line message\nsecond line\n  indented third line";
    r.paste(multi).await?;
    r.wait_for("indented third line", 10).await?;
    r.rest().await?;
    r.checkpoint(
        "composing-multiline",
        "composing",
        None,
        "Three lines pasted as one bracketed paste (set-buffer + paste-buffer -p, as orc types them), Enter not pressed: the prompt shows the first line after '> ', the others below it; unsent.",
    );
    r.stand_in.push(Reply::text("Got the three lines."));
    r.keys(&["Enter"]).await?;
    r.wait_for("Got the three lines", 30).await?;
    r.wait_prompt(30).await?;
    let got = r
        .stand_in
        .completions()
        .last()
        .and_then(|q| q.last_user_text())
        .unwrap_or_default();
    if got.trim_end() != multi {
        bail!("the pasted message arrived as {got:?}");
    }
    r.checkpoint(
        "idle-after-multiline",
        "idle",
        None,
        "Enter submitted the paste as one message (the stand-in got the three lines byte for byte); the turn ended, settled.",
    );
    let long = format!("long message {}", "lorem ipsum dolor sit amet ".repeat(40));
    let long = long.trim_end().to_string();
    r.paste(&long).await?;
    r.wait_for(r"sit amet\s*\z", 10).await?;
    r.rest().await?;
    r.checkpoint(
        "composing-wrapped",
        "composing",
        None,
        "A one-line message of ~1 KB pasted, not sent: the prompt line wraps over several rows below '> '.",
    );
    r.stand_in.push(Reply::text("Got the long one."));
    r.keys(&["Enter"]).await?;
    r.wait_for("Got the long one", 30).await?;
    r.wait_prompt(30).await?;
    r.checkpoint(
        "idle-after-wrapped",
        "idle",
        None,
        "The long message was submitted and answered; the turn ended, settled.",
    );
    Ok(())
}

async fn rate_limit_quota(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    // OpenAI's wording for an account out of quota: a 429 whose message
    // names a URL and no reset instant.
    r.stand_in.push(
        Reply::error(
            429,
            "insufficient_quota",
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        )
        .forever(),
    );
    r.say("hello").await?;
    r.wait_for(r"Retrying in 0\.2", 60).await?;
    sleep_ms(300).await;
    r.checkpoint(
        "retrying-quota",
        "limited",
        None,
        "Every request answered 429 insufficient_quota (no reset instant, a docs URL): 'The API provider has rate limited you. Try again later or check your quotas.', 'Retrying in 0.2 seconds...'.",
    );
    // Past ~60 s of retries aider gives up and offers the URL.
    r.wait_for(r"Open URL for more info\?.*\[Yes\]:\s*\z", 150)
        .await?;
    sleep_ms(2000).await;
    r.checkpoint(
        "gave-up-open-url",
        "limited",
        Some("menu"),
        "aider gave up retrying and asks 'Open URL for more info? (Y)es/(N)o/(D)on't ask again [Yes]:' under the rate-limit message: still limited (no reset shown); the question is not orc's to answer (Yes would start a browser).",
    );
    r.type_text("n").await?;
    sleep_ms(300).await;
    r.keys(&["Enter"]).await?;
    r.wait_prompt(30).await?;
    r.checkpoint(
        "gave-up-quota",
        "limited",
        None,
        "Answered No by hand: the prompt is back under the rate-limit message; the account is still out of quota: limited, not idle.",
    );
    Ok(())
}

const APP_PY: &str =
    "def main():\n    print(\"app\")\n\n\nif __name__ == \"__main__\":\n    main()\n";

async fn add_file(r: &mut Rec) -> Result<()> {
    // A file in the repo (committed) but not in the chat; the reply names it.
    commit_files(r, &[("src/app.py", APP_PY)])?;
    r.boot().await?;
    r.stand_in
        .push(Reply::text("You should look at src/app.py first."));
    // Once the file is added aider sends the model a follow-up request of
    // its own; held 5 s so the screen in between is recorded.
    r.stand_in
        .push(Reply::text("Thanks, I have read the file now.").delay(Duration::from_secs(5)));
    r.say("where should I start?").await?;
    r.wait_for(r"Add file to the chat\?.*\[Yes\]:\s*\z", 30)
        .await?;
    r.rest().await?;
    r.checkpoint(
        "add-file-question",
        "awaiting_choice",
        Some("add_file"),
        "The reply names src/app.py (in the repo, not in the chat): aider prints the path and asks 'Add file to the chat? (Y)es/(N)o/(D)on't ask again [Yes]:' (default Yes).",
    );
    // Enter takes the default, Yes: the file joins the chat and aider asks
    // the model again with it.
    r.keys(&["Enter"]).await?;
    r.wait_for("Waiting for", 15).await?;
    sleep_ms(2000).await;
    r.checkpoint(
        "file-added-busy",
        "busy",
        None,
        "Answered Yes with Enter: the file is added to the chat and aider sends a follow-up request of its own (held 5 s by the stand-in): the spinner runs below the question.",
    );
    r.wait_for("I have read the file now", 30).await?;
    r.wait_prompt_files(30).await?;
    let reqs = r.stand_in.completions();
    if reqs.len() != 2 {
        bail!("expected 2 completion requests, got {}", reqs.len());
    }
    eprintln!(
        "record: add-file: aider's follow-up request ends with the user text {:?}",
        reqs[1].last_user_text().unwrap_or_default()
    );
    r.checkpoint(
        "idle-after-add",
        "idle",
        None,
        "The follow-up reply arrived and the turn ended ('Tokens: ...', a rule, the chat's files 'src/app.py' on their own line, then the empty '>' prompt); settled.",
    );
    Ok(())
}

async fn add_files(r: &mut Rec) -> Result<()> {
    // Two files named in one reply: aider asks for each, offering All/Skip all.
    commit_files(
        r,
        &[
            ("src/app.py", APP_PY),
            ("src/util.py", "def helper():\n    return 42\n"),
        ],
    )?;
    r.boot().await?;
    r.stand_in.push(Reply::text(
        "You should look at src/app.py and src/util.py first.",
    ));
    r.stand_in
        .push(Reply::text("Thanks, I have read both files now.").delay(Duration::from_secs(5)));
    r.say("where should I start?").await?;
    r.wait_for(r"Add file to the chat\?.*\[Yes\]:\s*\z", 30)
        .await?;
    r.rest().await?;
    r.checkpoint(
        "add-files-first",
        "awaiting_choice",
        Some("add_file"),
        "The reply names two files not in the chat: aider asks about the first with the group's options, 'Add file to the chat? (Y)es/(N)o/(A)ll/(S)kip all/(D)on't ask again [Yes]:'.",
    );
    let before = r.screen();
    r.keys(&["Enter"]).await?;
    // The second question: the screen changes and ends in a question again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let question = Regex::new(r"Add file to the chat\?.*\[Yes\]:\s*\z")?;
    loop {
        let s = r.screen();
        if s != before && question.is_match(&s) {
            break;
        }
        if s.contains("Waiting for") || Instant::now() >= deadline {
            bail!("no second question after Enter; screen:\n{s}");
        }
        sleep_ms(100).await;
    }
    r.rest().await?;
    r.checkpoint(
        "add-files-second",
        "awaiting_choice",
        Some("add_file"),
        "Enter answered Yes for the first file; aider asks the same question for the second one.",
    );
    r.keys(&["Enter"]).await?;
    r.wait_for("Waiting for", 15).await?;
    sleep_ms(2000).await;
    r.checkpoint(
        "files-added-busy",
        "busy",
        None,
        "Enter answered Yes for the second file too: both are in the chat and aider's follow-up request runs (held 5 s): the spinner below the questions.",
    );
    r.wait_for("I have read both files now", 30).await?;
    r.wait_prompt_files(30).await?;
    r.checkpoint(
        "idle-after-add-files",
        "idle",
        None,
        "The follow-up reply arrived and the turn ended: a rule, the chat's files 'src/app.py src/util.py' on one line, the empty '>' prompt; settled.",
    );
    Ok(())
}

async fn create_file(r: &mut Rec) -> Result<()> {
    // A diff-format (SEARCH/REPLACE) edit with an empty SEARCH: a new file.
    r.boot().await?;
    r.stand_in.push(Reply::text(
        "I will create it.\n\nhello.py\n```python\n<<<<<<< SEARCH\n=======\nprint(\"hello\")\n>>>>>>> REPLACE\n```\n",
    ));
    // The commit message aider asks the (weak = main) model for.
    r.stand_in.push(Reply::text("feat: add hello.py"));
    r.say("create hello.py that prints hello").await?;
    r.wait_for(r"Create new file\?.*\[Yes\]:\s*\z", 30).await?;
    r.rest().await?;
    r.checkpoint(
        "create-file-question",
        "awaiting_permission",
        Some("permission"),
        "The reply is a SEARCH/REPLACE block for hello.py, which does not exist: aider prints the path and asks 'Create new file? (Y)es/(N)o [Yes]:' (default Yes).",
    );
    r.keys(&["Enter"]).await?;
    r.wait_for("Applied edit to hello.py", 30).await?;
    r.wait_prompt_files(30).await?;
    if !r.proj.join("hello.py").exists() {
        bail!("Enter at 'Create new file?' did not create hello.py");
    }
    let log = git_in(r, &["log", "--format=%s", "-1", "--", "hello.py"])?;
    if log.trim().is_empty() {
        bail!("hello.py was not committed");
    }
    eprintln!(
        "record: create-file: hello.py committed as {:?}",
        log.trim()
    );
    r.checkpoint(
        "idle-after-create",
        "idle",
        None,
        "Answered Yes with Enter: 'Applied edit to hello.py', aider commits it ('Commit <hash> <message>'), the turn ended: a rule, the chat's file 'hello.py' on its own line, the empty '>' prompt; settled.",
    );
    Ok(())
}

/// The last non-blank row of the screen (the prompt row when idle).
fn last_row(screen: &str) -> String {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_string()
}

async fn architect_mode(r: &mut Rec) -> Result<()> {
    // `--architect`: the chat mode is `architect`, not the model's own edit
    // format (diff), so the prompt carries its name. With aider's default
    // `--auto-accept-architect` the architect's reply goes to the editor
    // model (here the same stand-in) without a question.
    r.boot_mode(&["--architect"], "architect").await?;
    eprintln!(
        "record: architect-mode: prompt row {:?}",
        last_row(&r.screen())
    );
    r.checkpoint(
        "idle-architect",
        "idle",
        None,
        "Started with --architect: the banner, a full-width rule and the empty 'architect> ' prompt (the chat mode's name, as it is not the model's own edit format); settled.",
    );
    r.type_text("plan a greeting module").await?;
    r.wait_for("plan a greeting module", 10).await?;
    r.rest().await?;
    r.checkpoint(
        "composing-architect",
        "composing",
        None,
        "Text typed with send-keys -l after 'architect> ', Enter not pressed: unsent.",
    );
    // The architect's reply, streamed slowly; then the editor's turn (the
    // same stand-in model), held 5 s so its spinner is recorded.
    r.stand_in.push(
        Reply::text("Create a module greeting.py with a function greet that returns the text hello for the caller to print.")
            .chunk_delay(Duration::from_millis(400)),
    );
    r.stand_in
        .push(Reply::text("No edits are needed for this plan yet.").delay(Duration::from_secs(5)));
    r.keys(&["Enter"]).await?;
    r.wait_for("Create a module", 20).await?;
    sleep_ms(2500).await;
    r.checkpoint(
        "busy-architect",
        "busy",
        None,
        "Message sent: the architect's reply streams in word by word (400 ms a word); the turn runs.",
    );
    r.wait_for(r"caller to print\.", 60).await?;
    // The editor's request: held 5 s by the stand-in.
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.stand_in.completions().len() < 2 {
        if Instant::now() >= deadline {
            bail!(
                "no editor request after the architect's reply; screen:\n{}",
                r.screen()
            );
        }
        sleep_ms(100).await;
    }
    sleep_ms(2500).await;
    r.checkpoint(
        "busy-editor",
        "busy",
        None,
        "The architect's reply is complete; aider (auto-accept-architect, its default) sends it to the editor model at once, no question; the editor's request is held 5 s: the turn still runs.",
    );
    r.wait_for("No edits are needed", 30).await?;
    r.wait_mode_prompt("architect", 30).await?;
    let reqs = r.stand_in.completions();
    eprintln!(
        "record: architect-mode: {} completion requests; the editor's user text begins {:?}; prompt row {:?}",
        reqs.len(),
        reqs.get(1)
            .and_then(|q| q.last_user_text())
            .unwrap_or_default()
            .chars()
            .take(80)
            .collect::<String>(),
        last_row(&r.screen())
    );
    r.checkpoint(
        "idle-after-architect",
        "idle",
        None,
        "The editor's reply arrived (no edits) and the turn ended: a rule and the empty 'architect> ' prompt again; settled.",
    );
    Ok(())
}

async fn architect_confirm(r: &mut Rec) -> Result<()> {
    // `--architect --no-auto-accept-architect`: aider asks before handing
    // the architect's reply to the editor.
    r.boot_mode(&["--architect", "--no-auto-accept-architect"], "architect")
        .await?;
    r.checkpoint(
        "idle-architect",
        "idle",
        None,
        "Started with --architect --no-auto-accept-architect: a rule and the empty 'architect> ' prompt; settled.",
    );
    r.stand_in.push(Reply::text(
        "Create a module greeting.py with a function greet that returns hello.",
    ));
    r.say("plan a greeting module").await?;
    r.wait_for(r"Edit the files\?.*\[Yes\]:\s*\z", 30).await?;
    r.rest().await?;
    eprintln!(
        "record: architect-confirm: question row {:?}",
        last_row(&r.screen())
    );
    r.checkpoint(
        "edit-the-files",
        "awaiting_choice",
        Some("menu"),
        "The architect's reply is complete; without auto-accept aider asks 'Edit the files? (Y)es/(N)o [Yes]:' (default Yes: send the plan to the editor model).",
    );
    r.type_text("n").await?;
    sleep_ms(300).await;
    r.keys(&["Enter"]).await?;
    r.wait_mode_prompt("architect", 30).await?;
    if r.stand_in.completions().len() != 1 {
        bail!(
            "answering No still sent {} requests",
            r.stand_in.completions().len()
        );
    }
    r.checkpoint(
        "idle-after-no",
        "idle",
        None,
        "Answered No ('n' + Enter): no editor request; a rule and the empty 'architect> ' prompt; settled.",
    );
    Ok(())
}

async fn ask_mode(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    r.say("/chat-mode ask").await?;
    r.wait_mode_prompt("ask", 30).await?;
    eprintln!("record: ask-mode: prompt row {:?}", last_row(&r.screen()));
    r.checkpoint(
        "idle-ask",
        "idle",
        None,
        "'/chat-mode ask' switched to ask mode: a rule and the empty 'ask> ' prompt; settled.",
    );
    r.type_text("what does this repo do?").await?;
    r.wait_for(r"what does this repo do\?", 10).await?;
    r.rest().await?;
    r.checkpoint(
        "composing-ask",
        "composing",
        None,
        "Text typed with send-keys -l after 'ask> ', Enter not pressed: unsent.",
    );
    r.stand_in.push(
        Reply::text("This repo holds only a README that says it is a fixture repo for tests.")
            .chunk_delay(Duration::from_millis(400)),
    );
    r.keys(&["Enter"]).await?;
    r.wait_for("This repo holds", 20).await?;
    sleep_ms(2500).await;
    r.checkpoint(
        "busy-ask",
        "busy",
        None,
        "Question sent in ask mode: the reply streams in word by word (400 ms a word); the turn runs.",
    );
    r.wait_for(r"fixture repo for tests\.", 60).await?;
    r.wait_mode_prompt("ask", 30).await?;
    r.checkpoint(
        "idle-after-ask",
        "idle",
        None,
        "The answer arrived and the turn ended ('Tokens: ...', a rule, the empty 'ask> ' prompt); settled.",
    );
    r.say("/chat-mode code").await?;
    r.wait_prompt(30).await?;
    eprintln!(
        "record: ask-mode: back in code mode, prompt row {:?}",
        last_row(&r.screen())
    );
    r.checkpoint(
        "idle-code-again",
        "idle",
        None,
        "'/chat-mode code' switched back to the model's own edit format: a rule and the plain empty '>' prompt; settled.",
    );
    Ok(())
}

// ---------------------------------------------------------------------------

fn aider_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("AIDER_BIN") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/orc-e2e/aider-0.86.2/bin/aider")
}

#[tokio::main]
async fn main() -> Result<()> {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    if wanted.first().map(String::as_str) == Some("--serve") {
        let s = OpenAiStandIn::start(vec![])?;
        s.set_log(true);
        println!("{}", s.base_url());
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let aider = aider_bin();
    let v = std::process::Command::new(&aider)
        .arg("--version")
        .output()
        .with_context(|| format!("run {} --version", aider.display()))?;
    let got = String::from_utf8_lossy(&v.stdout);
    let version = got
        .split_whitespace()
        .last()
        .ok_or_else(|| anyhow!("aider --version printed {got:?}"))?
        .to_string();
    let out = std::env::var_os("OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("fixtures").join(CLI).join(&version));
    let list: Vec<String> = if wanted.is_empty() {
        SCENARIOS.iter().map(|s| s.to_string()).collect()
    } else {
        wanted
    };
    for s in &list {
        if !SCENARIOS.contains(&s.as_str()) {
            bail!("unknown scenario {s}; known: {SCENARIOS:?}");
        }
    }
    let mut failed = Vec::new();
    for (n, name) in list.iter().enumerate() {
        eprintln!("record: scenario {name} (aider {version})");
        let mut rec = Rec::start(name, n, &aider, &version).await?;
        let result = run(&mut rec).await;
        if let Err(e) = &result {
            eprintln!("record: {name} FAILED: {e:#}");
            failed.push(name.clone());
        }
        rec.finish(&out, result.is_ok()).await?;
    }
    if !failed.is_empty() {
        bail!("failed scenarios: {failed:?}");
    }
    eprintln!("record: done, fixtures in {}", out.display());
    Ok(())
}
