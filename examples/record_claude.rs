//! Record control-mode fixtures from the REAL Claude Code CLI:
//! `cargo run --example record_claude -- [SCENARIO...]` (no argument: all).
//!
//! Each scenario gets a private tmux server (`tmux -L orc-rec-<pid>-<n>`, orc's
//! `tmux.conf`), a session with a keeper window, and a control client of our own
//! whose stdout is copied byte for byte into a buffer before
//! `ControlClient::from_io` parses it. The client is set up like orc's session
//! actor (`refresh-client -C 120x40`, `pause-after=30`, the `dead` subscription);
//! then `new-window` starts `claude`, so every byte the pane ever wrote is in
//! the stream. The scenario is driven through that client (send-keys,
//! paste-buffer) and the API stand-in (`tests/support/stand_in.rs`); a vt100
//! screen fed with the pane's output tells us *when* to take a checkpoint. A
//! checkpoint stores how many output events of the pane had arrived and the
//! state the scenario makes true (not what orc's detector says).
//!
//! Output: `fixtures/claude-code/<version>/<scenario>.cm` (the control client's
//! stdout, exactly) and `<scenario>.json` (the checkpoints).
//! Env: `CLAUDE_BIN` (default: `scripts/install-claude.sh`), `OUT` (default
//! `fixtures/claude-code/<version>`), `KEEP=1` keeps the scratch folder.

#[path = "../tests/support/stand_in.rs"]
mod stand_in;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use orc::tmux::{ControlClient, Event};
use regex::Regex;
use serde_json::{json, Value};
use stand_in::{Reply, StandIn};
use tokio::io::{AsyncRead, ReadBuf};

/// The pinned version (installed when `CLAUDE_BIN` is not set). With
/// `CLAUDE_BIN`, whatever version that binary reports is recorded.
const VERSION: &str = "2.1.197";
static RECORDED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
/// `claude --help` lists a `manual` permission mode (2.1.3xx, where `auto`
/// is the default and runs low-risk tool calls without asking).
static HAS_MANUAL_MODE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// The version being recorded (what `claude --version` said).
fn version() -> &'static str {
    RECORDED.get().map(String::as_str).unwrap_or(VERSION)
}

/// The trust dialog, in the 2026 wording and the 2025 one (1.x: "Do you
/// trust the files in this folder?" / "1. Yes, proceed").
/// `new` for the 2026 UI (2.x), `old` for the 2025 one (0.x/1.x).
fn ui<'a>(new: &'a str, old: &'a str) -> &'a str {
    if version().starts_with("0.") || version().starts_with("1.") {
        old
    } else {
        new
    }
}

const TRUST: &str = r"Yes, I trust this folder|Do you trust the files in this folder";

/// The trust dialog's "yes" option, by its label.
fn trust_yes() -> &'static str {
    ui("Yes, I trust this folder", "Yes, proceed")
}
const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;
const SCRATCH: &str = "/tmp/orc-rec-cm";
const API_KEY: &str = "sk-ant-api03-orc-fixture-key-0123456789abcdef";

const SCENARIOS: &[&str] = &[
    "startup",
    "bypass",
    "turns",
    "permission",
    "usage-limit",
    "api-key",
    "auth-401",
    "retry",
    "resume",
    "exit-command",
    "exit-ctrl-c",
    "context-low",
    "context-window",
    "context-no-compact",
    // Only where the CLI shows them (2.1.3xx): skipped with a note otherwise.
    "usage-limit-reset",
    "usage-limit-weekly",
    "usage-limit-warning",
    "question",
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

// ---------------------------------------------------------------------------
// What the recorder sees of each pane.
// ---------------------------------------------------------------------------

struct PaneView {
    outputs: usize,
    parser: vt100::Parser,
    last: Instant,
}

#[derive(Default)]
struct Seen {
    panes: HashMap<u32, PaneView>,
    closed: bool,
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
                Event::Exit { .. } => {
                    seen.lock().unwrap().closed = true;
                }
                _ => {}
            }
        }
        seen.lock().unwrap().closed = true;
    });
}

// ---------------------------------------------------------------------------
// One scenario's recording.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Auth {
    Subscription,
    Api,
}

struct Rec {
    name: String,
    tmux_bin: String,
    socket: String,
    conf: PathBuf,
    claude: PathBuf,
    dir: PathBuf,
    home: PathBuf,
    proj: PathBuf,
    client: ControlClient,
    child: tokio::process::Child,
    log: Arc<Mutex<Vec<u8>>>,
    seen: Arc<Mutex<Seen>>,
    stand_in: StandIn,
    pane: Option<u32>,
    auth: Auth,
    checkpoints: Vec<Value>,
}

impl Rec {
    async fn start(name: &str, n: usize, claude: &Path) -> Result<Rec> {
        let dir = PathBuf::from(SCRATCH).join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let home = dir.join("home");
        let proj = dir.join("proj");
        std::fs::create_dir_all(&home)?;
        std::fs::create_dir_all(&proj)?;
        std::fs::write(
            home.join(".claude.json"),
            "{\"hasCompletedOnboarding\": true}\n",
        )?;
        init_repo(&proj, &home)?;
        let conf = dir.join("tmux.conf");
        std::fs::write(&conf, orc::tmux::CONF)?;
        let socket = format!("orc-rec-{}-{n}", std::process::id());
        let tmux_bin = "tmux".to_string();

        let one = |args: &[&str]| -> Result<String> {
            let out = std::process::Command::new(&tmux_bin)
                .arg("-u")
                .arg("-L")
                .arg(&socket)
                .arg("-f")
                .arg(&conf)
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
        };
        one(&[
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
        ])?;

        let mut child = tokio::process::Command::new(&tmux_bin)
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

        // The same setup as orc's session actor.
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

        let stand_in = StandIn::start(vec![])?;
        Ok(Rec {
            name: name.to_string(),
            tmux_bin,
            socket,
            conf,
            claude: claude.to_path_buf(),
            dir,
            home,
            proj,
            client,
            child,
            log,
            seen,
            stand_in,
            pane: None,
            auth: Auth::Subscription,
            checkpoints: Vec::new(),
        })
    }

    /// Start `claude ARGS` in a new window; it becomes the recorded pane.
    async fn launch(&mut self, auth: Auth, args: &[&str]) -> Result<u32> {
        self.launch_env(auth, &[], args).await
    }

    /// [`launch`](Self::launch) with extra `NAME=value` environment entries.
    async fn launch_env(&mut self, auth: Auth, env: &[&str], args: &[&str]) -> Result<u32> {
        let base = self.stand_in.base_url(&format!("/rec/{}", self.name));
        let mut cmd: Vec<String> = vec![
            "new-window".into(),
            "-d".into(),
            "-P".into(),
            "-F".into(),
            "#{pane_id}".into(),
            "-t".into(),
            "=rec:".into(),
            "-n".into(),
            "claude".into(),
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
            format!("ANTHROPIC_BASE_URL={base}"),
            "DISABLE_AUTOUPDATER=1".into(),
        ];
        match auth {
            Auth::Subscription => cmd.push("CLAUDE_CODE_OAUTH_TOKEN=x".into()),
            Auth::Api => cmd.push(format!("ANTHROPIC_API_KEY={API_KEY}")),
        }
        if args.contains(&"--dangerously-skip-permissions") {
            cmd.push("IS_SANDBOX=1".into());
        }
        cmd.extend(env.iter().map(|e| e.to_string()));
        cmd.push(self.claude.display().to_string());
        cmd.extend(args.iter().map(|a| a.to_string()));
        let refs: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
        let out = self.client.tool_cmd(&refs).await?;
        let id = out
            .first()
            .and_then(|l| l.trim().strip_prefix('%'))
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| anyhow!("new-window printed {out:?}"))?;
        let size = self
            .client
            .tool_cmd(&[
                "display-message",
                "-p",
                "-t",
                &format!("%{id}"),
                "#{pane_width}x#{pane_height}",
            ])
            .await?;
        if size.first().map(|s| s.trim()) != Some("120x40") {
            bail!("pane %{id} is {size:?}, want 120x40");
        }
        self.pane = Some(id);
        self.auth = auth;
        eprintln!("record: {}: {env:?} claude {args:?} in %{id}", self.name);
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

    /// Wait until the screen matches `pattern` (a regex).
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

    /// Wait until the screen no longer matches `pattern`.
    async fn wait_gone(&self, pattern: &str, secs: u64) -> Result<()> {
        let re = Regex::new(pattern)?;
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if !re.is_match(&self.screen()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{}: timeout waiting for /{pattern}/ to go; screen:\n{}",
                    self.name,
                    self.screen()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The part of the screen a dialog is in: the whole screen for 2.x; for
    /// 1.x, from the last box down (answered dialogs stay drawn above it).
    fn live_screen(&self) -> String {
        let s = self.screen();
        if ui("new", "old") == "new" {
            return s;
        }
        let lines: Vec<&str> = s.lines().collect();
        let start = lines
            .iter()
            .rposition(|l| l.trim_start().starts_with('╭'))
            .unwrap_or(0);
        lines[start..].join("\n")
    }

    /// Choose a dialog option by its label. Where the screen numbers the
    /// options (`1. Yes`), press that digit; otherwise move the `❯` cursor
    /// with Up/Down, reading the screen after each move, and press Enter
    /// once the cursor is on the label. Fails (nothing confirmed) if the
    /// label is not on screen or the cursor never reaches it.
    async fn choose(&self, label: &str) -> Result<()> {
        // An option line: optional cursor, optional "N.", then the text.
        let opt = Regex::new(r"^\s*(❯)?\s*(?:(\d+)\.\s+)?(.*?)\s*$")?;
        let is_label = |text: &str| text == label || text.starts_with(&format!("{label}  "));
        for _ in 0..12 {
            let s = self.live_screen();
            if std::env::var_os("DUMP").is_some() {
                eprintln!("record: choose {label:?} sees:\n{s}");
            }
            let mut cursor = None;
            let mut target = None;
            for (row, line) in s.lines().enumerate() {
                let Some(c) = opt.captures(line) else {
                    continue;
                };
                let text = c.get(3).map_or("", |m| m.as_str());
                let on = c.get(1).is_some() && !text.is_empty();
                if on {
                    cursor = Some(row);
                }
                if is_label(text) {
                    if let Some(d) = c.get(2) {
                        let d = d.as_str().to_string();
                        eprintln!(
                            "record: {}: choose {label:?}: numbered, pressing {d}",
                            self.name
                        );
                        return self.keys(&[&d]).await;
                    }
                    target = Some(row);
                }
            }
            let Some(target) = target else {
                bail!("{}: option {label:?} not on screen:\n{s}", self.name);
            };
            let Some(cursor) = cursor else {
                bail!("{}: no ❯ cursor on screen:\n{s}", self.name);
            };
            if cursor == target {
                eprintln!(
                    "record: {}: choose {label:?}: cursor on it, Enter",
                    self.name
                );
                return self.keys(&["Enter"]).await;
            }
            let key = if target > cursor { "Down" } else { "Up" };
            let before = self.outputs();
            self.keys(&[key]).await?;
            // Wait for the redraw, then for the screen to settle.
            let deadline = Instant::now() + Duration::from_secs(3);
            while self.outputs() == before && Instant::now() < deadline {
                sleep_ms(50).await;
            }
            self.settle(Duration::from_millis(300)).await?;
        }
        bail!(
            "{}: the cursor never reached {label:?}:\n{}",
            self.name,
            self.live_screen()
        )
    }

    /// The option under the `❯` cursor as the screen shows it (with its
    /// digit, if any), for checkpoint notes.
    fn cursor_option(&self) -> String {
        self.live_screen()
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix('❯'))
            .map(|t| t.trim().to_string())
            .rfind(|t| !t.is_empty())
            .unwrap_or_else(|| "?".into())
    }

    /// Wait until [`live_screen`](Self::live_screen) no longer matches `pattern`.
    async fn wait_live_gone(&self, pattern: &str, secs: u64) -> Result<()> {
        let re = Regex::new(pattern)?;
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if !re.is_match(&self.live_screen()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{}: timeout waiting for /{pattern}/ to go; screen:\n{}",
                    self.name,
                    self.screen()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until the pane has written nothing for `quiet` (at most 20 s).
    async fn settle(&self, quiet: Duration) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.quiet_for() < quiet {
            if Instant::now() >= deadline {
                bail!("{}: the screen did not settle within 20 s", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    async fn rest(&self) -> Result<()> {
        self.settle(Duration::from_millis(1000)).await
    }

    async fn wait_idle(&self, secs: u64) -> Result<()> {
        self.wait_for(r"\? for shortcuts|bypass permissions on|auto mode on", secs)
            .await?;
        self.wait_gone("esc to interrupt", secs).await?;
        self.rest().await
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

    /// Bracketed paste through a tmux buffer.
    async fn paste(&self, text: &str) -> Result<()> {
        let t = self.target();
        self.client
            .tool_cmd(&["set-buffer", "-b", "orcpaste", "--", text])
            .await?;
        self.client
            .tool_cmd(&["paste-buffer", "-p", "-d", "-b", "orcpaste", "-t", &t])
            .await?;
        Ok(())
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
        let screen = {
            let s = self.seen.lock().unwrap();
            let v = s.panes.get(&self.pane.unwrap());
            v.map(|v| {
                orc::screen::detect::observe(
                    v.parser.screen(),
                    Duration::from_secs(5),
                    orc::screen::detect::table_for("claude-code").unwrap(),
                    orc::screen::SETTLE,
                )
            })
        };
        let said = screen
            .as_ref()
            .map(|o| format!("{:?}/{:?} ({})", o.state(), o.dialog, o.rule))
            .unwrap_or_default();
        eprintln!(
            "record: {}: checkpoint {name} at {outputs} outputs: truth {state}/{dialog:?}; detector {said}",
            self.name
        );
        if std::env::var_os("DUMP").is_some() {
            eprintln!("{}", self.screen());
        }
        self.checkpoints.push(json!({
            "name": name,
            "outputs": outputs,
            "state": state,
            "dialog": dialog,
            "note": note,
        }));
    }

    /// Trust dialog (Enter on the preselected Yes), then the bypass warning
    /// (`2`) when asked for, then the idle composer.
    async fn boot(&self, bypass: bool) -> Result<()> {
        self.wait_for(TRUST, 30).await?;
        self.rest().await?;
        self.choose(trust_yes()).await?;
        if bypass {
            self.wait_for("Yes, I accept", 30).await?;
            self.rest().await?;
            self.choose("Yes, I accept").await?;
        }
        self.wait_idle(30).await
    }

    /// API mode: the key question (answer 1 = use it) and the trust dialog,
    /// in whichever order they come.
    async fn boot_api(&self) -> Result<()> {
        let trust = Regex::new(TRUST)?;
        for _ in 0..2 {
            self.wait_for(
                &format!(r"Detected a custom API key|{TRUST}|\? for shortcuts|auto mode on"),
                30,
            )
            .await?;
            self.rest().await?;
            let s = self.live_screen();
            if s.contains("Detected a custom API key") {
                accept_api_key(self).await?;
            } else if trust.is_match(&s) {
                self.choose(trust_yes()).await?;
                self.wait_live_gone(TRUST, 15).await?;
            } else {
                break;
            }
        }
        self.wait_idle(30).await
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
        let _ = std::process::Command::new(&self.tmux_bin)
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg(&self.conf)
            .arg("kill-server")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // tmux leaves its socket file behind; it is ours (orc-rec-<pid>-<n>).
        if let Some(p) = socket_path.filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy() == self.socket)
        }) {
            let _ = std::fs::remove_file(p);
        }
        if !ok {
            let bytes = self.log.lock().unwrap().clone();
            let p = std::env::temp_dir().join(format!("orc-rec-failed-{}.cm", self.name));
            std::fs::write(&p, &bytes)?;
            eprintln!(
                "record: {}: failed stream kept in {}",
                self.name,
                p.display()
            );
        }
        if ok {
            let bytes = self.log.lock().unwrap().clone();
            std::fs::create_dir_all(out)?;
            std::fs::write(out.join(format!("{}.cm", self.name)), &bytes)?;
            let meta = json!({
                "cli": "claude-code",
                "version": version(),
                "width": WIDTH,
                "height": HEIGHT,
                "pane": format!("%{}", self.pane.unwrap_or(0)),
                "auth": match self.auth { Auth::Subscription => "subscription", Auth::Api => "api" },
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
    git(&[
        "-c",
        "user.email=t@t",
        "-c",
        "user.name=t",
        "commit",
        "-qm",
        "init",
    ])
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

const PASTE_LINES: usize = 12;

async fn run(r: &mut Rec) -> Result<()> {
    match r.name.clone().as_str() {
        "startup" => startup(r).await,
        "bypass" => bypass(r).await,
        "turns" => turns(r).await,
        "permission" => permission(r).await,
        "usage-limit" => usage_limit(r).await,
        "api-key" => api_key(r).await,
        "auth-401" => auth_401(r).await,
        "retry" => retry(r).await,
        "resume" => resume(r).await,
        "exit-command" => exit_command(r).await,
        "exit-ctrl-c" => exit_ctrl_c(r).await,
        "context-low" => context_low(r).await,
        "context-window" => context_window(r).await,
        "context-no-compact" => context_no_compact(r).await,
        "usage-limit-reset" => usage_limit_reset(r).await,
        "usage-limit-weekly" => usage_limit_weekly(r).await,
        "usage-limit-warning" => usage_limit_warning(r).await,
        "question" => question(r).await,
        other => bail!("unknown scenario {other}; known: {SCENARIOS:?}"),
    }
}

async fn startup(r: &mut Rec) -> Result<()> {
    r.launch(Auth::Subscription, &[]).await?;
    r.wait_for(TRUST, 30).await?;
    r.rest().await?;
    let pre = r.cursor_option();
    let note = ui(
        "First start in a new folder: the trust dialog, cursor on '{pre}'; nothing proceeds until it is answered.",
        "First start in a new folder: the trust dialog 'Do you trust the files in this folder?', cursor on '{pre}'; nothing proceeds until it is answered.",
    )
    .replace("{pre}", &pre);
    r.checkpoint("trust-dialog", "awaiting_choice", Some("trust"), &note);
    r.choose(trust_yes()).await?;
    r.wait_idle(30).await?;
    r.checkpoint(
        "idle-fresh",
        "idle",
        None,
        "Trust answered by choosing its yes option by label: welcome box, empty composer, footer (mode line or '? for shortcuts'); no request in flight, screen settled.",
    );
    r.type_text("please fix the failing test in src/lib.rs")
        .await?;
    r.wait_for("please fix the failing test", 10).await?;
    r.rest().await?;
    r.checkpoint(
        "composing-typed",
        "composing",
        None,
        "Text typed with send-keys -l, Enter not pressed: unsent text in the composer.",
    );
    r.stand_in
        .push(Reply::text("I fixed the test in src/lib.rs.").delay(Duration::from_secs(8)));
    r.keys(&["Enter"]).await?;
    r.wait_for("esc to interrupt", 15).await?;
    sleep_ms(3000).await;
    r.checkpoint(
        "busy-waiting",
        "busy",
        None,
        "Message submitted; the stand-in holds the reply for 8 s, so the turn is running: spinner line and 'esc to interrupt'.",
    );
    r.wait_for("I fixed the test", 30).await?;
    r.wait_idle(30).await?;
    r.checkpoint(
        "turn-finished",
        "idle",
        None,
        ui(
            "The reply arrived and the turn ended ('● I fixed the test...', '✻ <Verb> for Ns'); empty composer, settled.",
            "The reply arrived and the turn ended ('● I fixed the test...'; this version prints no '<Verb> for Ns' line); empty composer, settled.",
        ),
    );
    let text: String = (1..=PASTE_LINES)
        .map(|i| format!("line {i} of a pasted multi-line message\n"))
        .collect();
    r.paste(&text).await?;
    // 2.x shows a marker; 1.x shows the pasted lines in the composer box.
    r.wait_for(r"Pasted text #1|line 12 of a pasted", 10)
        .await?;
    r.rest().await?;
    r.checkpoint(
        "composing-pasted",
        "composing",
        None,
        ui(
            "A 12-line bracketed paste (paste-buffer -p), not submitted: the composer holds a [Pasted text #1 +N lines] marker.",
            "A 12-line bracketed paste (paste-buffer -p), not submitted: the composer box shows all 12 pasted lines (no paste marker in this version).",
        ),
    );
    Ok(())
}

async fn bypass(r: &mut Rec) -> Result<()> {
    r.launch(Auth::Subscription, &["--dangerously-skip-permissions"])
        .await?;
    // 1.x skips the trust dialog in bypass mode and shows the warning first.
    r.wait_for(&format!("{TRUST}|Yes, I accept"), 30).await?;
    r.rest().await?;
    if !r.screen().contains("Yes, I accept") {
        r.choose(trust_yes()).await?;
    }
    r.wait_for("Yes, I accept", 30).await?;
    r.rest().await?;
    let note = format!(
        "--dangerously-skip-permissions: the Bypass Permissions warning, cursor on '{}' (Enter would exit); waits for an answer.",
        r.cursor_option()
    );
    r.checkpoint(
        "bypass-warning",
        "awaiting_choice",
        Some("bypass_warning"),
        &note,
    );
    r.choose("Yes, I accept").await?;
    r.wait_idle(30).await?;
    r.checkpoint(
        "idle-bypass",
        "idle",
        None,
        "Chose 'Yes, I accept' by its label: empty composer, footer 'bypass permissions on (shift+tab to cycle)', settled.",
    );
    r.stand_in.push(
        Reply::bash_described("sleep 6 && echo hello-from-bash", "Sleep, then greet")
            .preface("Running it."),
    );
    r.stand_in
        .push(Reply::text("The command printed hello-from-bash."));
    r.say("run the greeting command").await?;
    r.wait_for(r"Bash\(sleep", 20).await?;
    sleep_ms(2500).await;
    r.checkpoint(
        "busy-tool-running",
        "busy",
        None,
        "A Bash tool call (sleep 6) runs without a prompt (bypass mode); the turn is not over until it ends and the next reply comes.",
    );
    r.wait_for("The command printed hello-from-bash", 40)
        .await?;
    r.wait_idle(30).await?;
    r.checkpoint(
        "bash-done",
        "idle",
        None,
        "The tool ran (Bash(...) with its output), the final text reply came, the turn ended; settled.",
    );
    Ok(())
}

async fn turns(r: &mut Rec) -> Result<()> {
    r.launch(Auth::Subscription, &[]).await?;
    r.boot(false).await?;
    r.stand_in
        .push(Reply::text("Working on it, this took a while.").delay(Duration::from_secs(15)));
    r.stand_in
        .push(Reply::text("And the follow-up is handled too."));
    r.say("what is the answer?").await?;
    r.wait_for("esc to interrupt", 15).await?;
    sleep_ms(2000).await;
    r.type_text("and a follow-up while you work").await?;
    sleep_ms(500).await;
    r.keys(&["Enter"]).await?;
    r.wait_for("queued messages|and a follow-up", 10).await?;
    sleep_ms(1500).await;
    r.checkpoint(
        "busy-queued",
        "busy",
        None,
        "A second message typed and submitted while the first turn runs (stand-in holding the reply 15 s): it is queued, the turn still runs.",
    );
    r.wait_for("And the follow-up is handled too", 40).await?;
    r.wait_idle(30).await?;
    r.checkpoint(
        "turn-done-queued",
        "idle",
        None,
        "The delayed turn ended and the queued message was answered; empty composer, settled.",
    );
    r.stand_in.push(
        Reply::text("Streaming a long answer word by word so that the screen shows partial text while the turn is still running and the spinner keeps going until the very end of it.")
            .chunk_delay(Duration::from_millis(400)),
    );
    r.say("stream something").await?;
    // 1.x draws a text block only once it is complete: wait for the spinner.
    r.wait_for(ui("Streaming a long", "esc to interrupt"), 20)
        .await?;
    sleep_ms(2000).await;
    r.checkpoint(
        "busy-streaming",
        "busy",
        None,
        ui(
            "The reply streams in word by word (one word per 400 ms): partial text shown, turn still running.",
            "The reply streams in word by word (one word per 400 ms, ~14 s in all); this version shows no partial text, only the spinner with 'esc to interrupt': turn still running.",
        ),
    );
    r.wait_for("very end of it", 60).await?;
    r.wait_idle(30).await?;
    r.checkpoint(
        "turn-done-streamed",
        "idle",
        None,
        "The streamed reply is complete and the turn ended; settled.",
    );
    r.stand_in.push(Reply::hang());
    r.say("start something long").await?;
    r.wait_for("esc to interrupt", 15).await?;
    sleep_ms(2000).await;
    r.keys(&["Escape"]).await?;
    r.wait_gone("esc to interrupt", 15).await?;
    r.rest().await?;
    if ui("new", "old") == "old" {
        r.checkpoint(
            "interrupted",
            "idle",
            None,
            "Esc while the stand-in hung before the first byte: the turn ends with '⎿  Interrupted by user'; this version does not put the prompt back, the composer is empty; settled.",
        );
    } else {
        r.checkpoint(
            "interrupted-restored",
            "composing",
            None,
            "Esc while the stand-in hung before the first byte: the turn is dropped and the prompt text is put back, unsent, in the composer.",
        );
    }
    Ok(())
}

async fn permission(r: &mut Rec) -> Result<()> {
    // Where auto mode is the default it runs a low-risk command without
    // asking: ask for the mode that prompts.
    let manual = HAS_MANUAL_MODE.get().copied().unwrap_or(false);
    let args: &[&str] = if manual {
        &["--permission-mode", "manual"]
    } else {
        &[]
    };
    r.launch(Auth::Subscription, args).await?;
    r.boot(false).await?;
    r.stand_in.push(Reply::bash_described(
        "touch created-by-claude.txt",
        "Create a marker file",
    ));
    r.stand_in.push(Reply::text("Created the file."));
    r.say("create the marker file").await?;
    r.wait_for(r"Do you want to proceed\?", 30).await?;
    r.rest().await?;
    let note = format!(
        "{} permission mode, a Bash tool call: 'Do you want to proceed?', cursor on '{}'; the command has not run.",
        if manual { "--permission-mode manual" } else { "Default" },
        r.cursor_option()
    );
    r.checkpoint(
        "permission-prompt",
        "awaiting_permission",
        Some("permission"),
        &note,
    );
    r.choose("Yes").await?;
    r.wait_for("Created the file", 30).await?;
    r.wait_idle(30).await?;
    if !r.proj.join("created-by-claude.txt").exists() {
        bail!("the approved command did not run");
    }
    r.checkpoint(
        "permission-granted",
        "idle",
        None,
        "Chose 'Yes': the command ran (file exists), final reply shown, turn ended; settled.",
    );
    Ok(())
}

async fn usage_limit(r: &mut Rec) -> Result<()> {
    if ui("new", "old") == "old" {
        return usage_limit_old(r).await;
    }
    r.launch(Auth::Subscription, &[]).await?;
    r.boot(false).await?;
    r.stand_in
        .push(Reply::usage_limit(stand_in::unix_now() + 7200, "five_hour"));
    r.say("do the next task").await?;
    r.wait_for(r"What do you want to do\?|continue automatically", 30)
        .await?;
    r.rest().await?;
    if !r.screen().contains("What do you want to do?") {
        return usage_limit_auto(r).await;
    }
    r.checkpoint(
        "usage-limit-menu",
        "limited",
        Some("usage_limit_menu"),
        "Subscription mode, 429 with unified headers (five_hour, reset in 2 h): limit line and the 'What do you want to do?' menu.",
    );
    r.choose("Stop and wait for limit to reset").await?;
    r.wait_gone(r"What do you want to do\?", 15).await?;
    r.wait_idle(30).await?;
    r.checkpoint(
        "usage-limit-waited",
        "limited",
        None,
        "Chose 1 (Stop and wait): menu gone, the limit banner of the last turn stays above an empty composer; the reset is still 2 h away.",
    );
    r.say("are you back?").await?;
    r.wait_for(r"● OK\.", 30).await?;
    r.wait_idle(30).await?;
    r.checkpoint(
        "usage-limit-recovered",
        "idle",
        None,
        "A new message after the limit (the stand-in answers normally again): replied 'OK.', turn ended; the banner is in an older turn.",
    );
    Ok(())
}

/// 2.1.3xx: no menu; the CLI says it will continue by itself at the reset.
/// The reset is 2 h away here: the screen while it waits, then a message
/// typed by hand before the reset.
async fn usage_limit_auto(r: &mut Rec) -> Result<()> {
    let line = limit_lines(&r.screen());
    r.checkpoint(
        "usage-limit-auto",
        "limited",
        None,
        &format!("Subscription mode, 429 with unified headers (five_hour, reset in 2 h): no menu; the CLI says it will continue by itself at the reset: {line}."),
    );
    // Esc cancels the automatic continue (the footer says so); a new
    // message is what a person would type.
    r.say("are you back?").await?;
    r.wait_for(r"● OK\.", 30).await?;
    r.wait_idle(30).await?;
    let line = limit_lines(&r.screen());
    r.checkpoint(
        "usage-limit-recovered",
        "idle",
        None,
        &format!("A new message typed before the reset (the stand-in answers normally again): replied 'OK.', turn ended. Limit lines still on screen: {line}."),
    );
    Ok(())
}

/// The limit-related lines of a screen, quoted for a checkpoint note.
fn limit_lines(screen: &str) -> String {
    let re = Regex::new(r"(?i)limit|continu|resets").unwrap();
    let lines: Vec<String> = screen
        .lines()
        .filter(|l| re.is_match(l) && !l.contains("/tmp/"))
        .map(|l| format!("'{}'", l.trim().trim_start_matches('⎿').trim()))
        .collect();
    if lines.is_empty() {
        "none".into()
    } else {
        lines.join(" / ")
    }
}

/// Whether this CLI continues by itself after a limit (no menu): probed
/// per scenario from the screen, never assumed from the version.
async fn limit_screen(r: &Rec) -> Result<bool> {
    r.wait_for(
        r"What do you want to do\?|continue automatically|(?i)hit your",
        30,
    )
    .await?;
    r.rest().await?;
    Ok(!r.screen().contains("What do you want to do?"))
}

/// A reset 75 s ahead: the waiting screen, then what the CLI does when the
/// reset passes (it continues by itself: the stand-in's next reply shows).
async fn usage_limit_reset(r: &mut Rec) -> Result<()> {
    r.launch(Auth::Subscription, &[]).await?;
    r.boot(false).await?;
    let reset = stand_in::unix_now() + 75;
    r.stand_in.push(Reply::usage_limit(reset, "five_hour"));
    r.stand_in
        .push(Reply::text("Continuing the task after the reset."));
    r.say("do the next task").await?;
    if !limit_screen(r).await? {
        bail!("this CLI shows the limit menu: it does not continue by itself (skip this scenario)");
    }
    let line = limit_lines(&r.screen());
    r.checkpoint(
        "usage-limit-waiting",
        "limited",
        None,
        &format!("429 with unified headers (five_hour, reset 75 s ahead): the CLI waits to continue by itself: {line}."),
    );
    let requests = r.stand_in.agent_turns().len();
    // The reset passes; nothing is typed.
    let deadline = Instant::now() + Duration::from_secs(240);
    while r.stand_in.agent_turns().len() == requests {
        if Instant::now() >= deadline {
            bail!("no request after the reset; screen:\n{}", r.screen());
        }
        sleep_ms(200).await;
    }
    let after = stand_in::unix_now() as i64 - reset as i64;
    eprintln!(
        "record: {}: the CLI sent a request {after} s after the reset",
        r.name
    );
    r.wait_for("Continuing the task after the reset", 60)
        .await?;
    r.wait_idle(60).await?;
    let line = limit_lines(&r.screen());
    r.checkpoint(
        "usage-limit-auto-continued",
        "idle",
        None,
        &format!("Nothing typed: {after} s after the reset the CLI sent the next request by itself, the reply ('Continuing the task after the reset.') shows and the turn ended; settled. Limit lines on screen: {line}."),
    );
    Ok(())
}

/// The weekly claim (`seven_day`), reset 3 days out (a date in the wording).
async fn usage_limit_weekly(r: &mut Rec) -> Result<()> {
    r.launch(Auth::Subscription, &[]).await?;
    r.boot(false).await?;
    r.stand_in.push(Reply::usage_limit(
        stand_in::unix_now() + 3 * 86400 + 3600,
        "seven_day",
    ));
    r.say("do the next task").await?;
    let auto = limit_screen(r).await?;
    let line = limit_lines(&r.screen());
    r.checkpoint(
        "usage-limit-weekly",
        "limited",
        if auto { None } else { Some("usage_limit_menu") },
        &format!("429 with unified headers, representative claim seven_day, reset 3 days 1 h ahead: {line}."),
    );
    Ok(())
}

/// A 200 reply with `anthropic-ratelimit-unified-status: allowed_warning`
/// (five_hour, 92 % used): the turn ends normally; the warning is a notice,
/// not a limit.
async fn usage_limit_warning(r: &mut Rec) -> Result<()> {
    r.launch(Auth::Subscription, &[]).await?;
    r.boot(false).await?;
    let reset = (stand_in::unix_now() + 7200).to_string();
    r.stand_in.push(
        Reply::text("Done with this step.")
            .header("anthropic-ratelimit-unified-status", "allowed_warning")
            .header("anthropic-ratelimit-unified-reset", reset.clone())
            .header(
                "anthropic-ratelimit-unified-representative-claim",
                "five_hour",
            )
            .header("anthropic-ratelimit-unified-5h-status", "allowed_warning")
            .header("anthropic-ratelimit-unified-5h-utilization", "0.92")
            .header("anthropic-ratelimit-unified-5h-reset", reset)
            .header("anthropic-ratelimit-unified-5h-surpassed-threshold", "0.9"),
    );
    r.say("do the next step").await?;
    r.wait_for("Done with this step", 30).await?;
    r.wait_idle(30).await?;
    sleep_ms(1500).await;
    r.rest().await?;
    let line = limit_lines(&r.screen());
    r.checkpoint(
        "usage-limit-warning",
        "idle",
        None,
        &format!("A normal reply carrying allowed_warning headers (five_hour, 92 % used, reset in 2 h): the turn ended, requests still allowed; limit lines on screen: {line}."),
    );
    Ok(())
}

/// An AskUserQuestion tool call: the model asks a question with options.
async fn question(r: &mut Rec) -> Result<()> {
    r.launch(Auth::Subscription, &[]).await?;
    r.boot(false).await?;
    r.stand_in.push(Reply::tool_use(
        "AskUserQuestion",
        json!({"questions": [{
            "question": "Which database should the service use?",
            "header": "Database",
            "multiSelect": false,
            "options": [
                {"label": "PostgreSQL", "description": "Relational, the team knows it"},
                {"label": "SQLite", "description": "A single file, no server"}
            ]
        }]}),
    ));
    r.stand_in.push(Reply::text("PostgreSQL it is."));
    r.say("set up the database").await?;
    r.wait_for("Which database should the service use", 30)
        .await?;
    r.rest().await?;
    let note = format!(
        "An AskUserQuestion tool call (one question, options PostgreSQL / SQLite): the CLI shows the question and waits for a choice, cursor on '{}'.",
        r.cursor_option()
    );
    r.checkpoint("question", "awaiting_choice", Some("question"), &note);
    r.choose("PostgreSQL").await?;
    // Some versions ask to submit the answers on a second screen.
    for _ in 0..3 {
        sleep_ms(1000).await;
        r.rest().await?;
        let s = r.screen();
        if s.contains("PostgreSQL it is") {
            break;
        }
        if s.contains("Submit answers") {
            r.choose("Submit answers").await?;
        }
    }
    r.wait_for("PostgreSQL it is", 30).await?;
    r.wait_idle(30).await?;
    r.checkpoint(
        "question-answered",
        "idle",
        None,
        "Chose 'PostgreSQL' by its label: the answer went back to the model, its reply shows, the turn ended; settled.",
    );
    Ok(())
}

/// 1.x: the SDK retries a 429 before the CLI looks at it (so the limit is
/// answered every time, and retries are cut to one with
/// CLAUDE_CODE_MAX_RETRIES=1); there is no "What do you want to do?" menu.
async fn usage_limit_old(r: &mut Rec) -> Result<()> {
    r.launch_env(Auth::Subscription, &["CLAUDE_CODE_MAX_RETRIES=1"], &[])
        .await?;
    r.boot(false).await?;
    r.stand_in
        .push(Reply::usage_limit(stand_in::unix_now() + 7200, "five_hour").forever());
    r.say("do the next task").await?;
    r.wait_for(r"(?i)limit reached|What do you want to do\?", 90)
        .await?;
    r.wait_idle(60).await?;
    r.checkpoint(
        "usage-limit",
        "limited",
        None,
        "Subscription mode, every request answered 429 with unified headers (five_hour, reset in 2 h), CLAUDE_CODE_MAX_RETRIES=1: the turn ends with the usage-limit message; the reset is still 2 h away.",
    );
    r.stand_in.clear();
    r.say("are you back?").await?;
    r.wait_for(r"● OK\.", 60).await?;
    r.wait_idle(30).await?;
    r.checkpoint(
        "usage-limit-recovered",
        "idle",
        None,
        "A new message after the limit (the stand-in answers normally again): replied 'OK.', turn ended; the limit message is in an older turn.",
    );
    Ok(())
}

/// Answer the API key question with its "Yes" option.
async fn accept_api_key(r: &Rec) -> Result<()> {
    r.choose("Yes").await?;
    r.wait_live_gone("Detected a custom API key", 15).await
}

async fn api_key(r: &mut Rec) -> Result<()> {
    r.launch(Auth::Api, &[]).await?;
    for _ in 0..2 {
        r.wait_for(&format!(r"Detected a custom API key|{TRUST}"), 30)
            .await?;
        r.rest().await?;
        if r.live_screen().contains("Detected a custom API key") {
            break;
        }
        r.choose(trust_yes()).await?;
        r.wait_live_gone(TRUST, 15).await?;
    }
    r.checkpoint(
        "api-key-question",
        "awaiting_choice",
        Some("api_key"),
        "ANTHROPIC_API_KEY set: 'Detected a custom API key ... Do you want to use this API key?' with 2. No (recommended) preselected.",
    );
    accept_api_key(r).await?;
    r.boot_api().await?;
    r.checkpoint(
        "idle-api-key",
        "idle",
        None,
        "Chose 'Yes' (use the key) (and the trust dialog answered): empty composer, settled.",
    );
    Ok(())
}

async fn auth_401(r: &mut Rec) -> Result<()> {
    // 1.x retries a 401 like any error (10 times, up to ~40 s apart): cut
    // the retries so the turn ends.
    let env: &[&str] = if ui("new", "old") == "old" {
        &["CLAUDE_CODE_MAX_RETRIES=2"]
    } else {
        &[]
    };
    r.launch_env(Auth::Subscription, env, &[]).await?;
    r.boot(false).await?;
    r.stand_in.push(
        Reply::unauthorized(
            "OAuth token has expired. Please obtain a new token or refresh your existing token.",
        )
        .forever(),
    );
    r.say("hello").await?;
    r.wait_for("401|login|expired", 60).await?;
    r.wait_idle(60).await?;
    r.checkpoint(
        "auth-401",
        "auth_failed",
        None,
        ui(
            "Subscription mode, every request answered 401 authentication_error (OAuth token has expired): the turn ends with the auth error; only a new login helps.",
            "Subscription mode, every request answered 401 authentication_error (OAuth token has expired), CLAUDE_CODE_MAX_RETRIES=2: after the retries the turn ends with the auth error; only a new login helps.",
        ),
    );
    Ok(())
}

async fn retry(r: &mut Rec) -> Result<()> {
    r.launch(Auth::Subscription, &[]).await?;
    r.boot(false).await?;
    // 1.x retries silently three times before it shows "Retrying in".
    let fails = if ui("new", "old") == "old" { 5 } else { 3 };
    r.stand_in.push(Reply::server_error().times(fails));
    r.stand_in.push(Reply::text("Recovered after the 500s."));
    r.say("hello").await?;
    r.wait_for("(?i)retrying in", 60).await?;
    sleep_ms(500).await;
    let note = format!(
        "Requests answered 500 ({} times, then a reply): the CLI is retrying ('{}').",
        fails,
        retry_line(&r.screen())
    );
    r.checkpoint("retrying-500", "api_error", None, &note);
    r.wait_for("Recovered after the 500s", 120).await?;
    r.wait_idle(30).await?;
    r.checkpoint(
        "retry-recovered",
        "idle",
        None,
        "The retry succeeded, the reply shows, the turn ended; settled.",
    );
    r.stand_in.push(Reply::overloaded().times(fails));
    r.stand_in.push(Reply::text("Recovered after the 529s."));
    r.say("again").await?;
    // 1.x keeps the first turn's "Retrying in" lines on screen.
    r.wait_for(ui("(?i)retrying in", r"(?s)> again.*Retrying in"), 60)
        .await?;
    sleep_ms(500).await;
    let note = format!(
        "Requests answered 529 overloaded ({} times, then a reply): the CLI is retrying ('{}').",
        fails,
        retry_line(&r.screen())
    );
    r.checkpoint("retrying-529", "api_error", None, &note);
    r.wait_for("Recovered after the 529s", 120).await?;
    r.wait_idle(30).await?;
    r.checkpoint(
        "retry-recovered-529",
        "idle",
        None,
        "The retry after the 529s succeeded; turn ended, settled.",
    );
    Ok(())
}

/// The last line of a screen that says the CLI is retrying.
fn retry_line(screen: &str) -> String {
    screen
        .lines()
        .rfind(|l| l.to_lowercase().contains("retrying"))
        .map(|l| l.trim().to_string())
        .unwrap_or_default()
}

async fn resume(r: &mut Rec) -> Result<()> {
    // A first conversation in another window (its output is in the stream too,
    // under its own pane id; the recorded pane is the --resume one).
    r.launch(Auth::Subscription, &[]).await?;
    r.boot(false).await?;
    r.stand_in.push(Reply::text(
        "Here is the plan:\n\n1. Read the code.\n2. Fix the bug.\n3. Run the tests.",
    ));
    r.say("make a plan").await?;
    r.wait_for("Run the tests", 30).await?;
    r.wait_idle(30).await?;
    r.say("/exit").await?;
    r.wait_dead(30).await?;
    r.launch(Auth::Subscription, &["--resume"]).await?;
    // 1.x titles the picker with its column headers, not "Resume session".
    let picker = ui(r"Resume session", r"# Messages");
    r.wait_for(picker, 30).await?;
    r.wait_for(r"make a plan", 30).await?;
    r.rest().await?;
    r.checkpoint(
        "resume-picker",
        "awaiting_choice",
        Some("resume_picker"),
        "claude --resume without an id: the session picker lists the earlier conversation ('make a plan'); waits for a choice.",
    );
    r.keys(&["Enter"]).await?;
    r.wait_gone(picker, 30).await?;
    r.wait_idle(30).await?;
    r.checkpoint(
        "resumed-idle",
        "idle",
        None,
        "Picked the conversation with Enter: the earlier turn is shown again above an empty composer; settled.",
    );
    Ok(())
}

async fn exit_command(r: &mut Rec) -> Result<()> {
    r.launch(Auth::Subscription, &[]).await?;
    r.boot(false).await?;
    r.say("/exit").await?;
    r.wait_dead(30).await?;
    r.rest().await?;
    r.checkpoint(
        "exited",
        "exited",
        None,
        "/exit typed and submitted: the CLI quit and the pane is dead (remain-on-exit keeps its last screen). orc learns this from the pane's death, not from the screen.",
    );
    Ok(())
}

async fn exit_ctrl_c(r: &mut Rec) -> Result<()> {
    r.launch(Auth::Subscription, &[]).await?;
    r.boot(false).await?;
    r.keys(&["C-c"]).await?;
    r.wait_for("(?i)again to exit", 10).await?;
    sleep_ms(300).await;
    r.checkpoint(
        "ctrl-c-once",
        "idle",
        None,
        "One ctrl-c at the empty composer: the CLI only hints 'Press Ctrl-C again to exit' and still waits for input.",
    );
    r.keys(&["C-c"]).await?;
    r.wait_dead(30).await?;
    r.rest().await?;
    r.checkpoint(
        "exited",
        "exited",
        None,
        "ctrl-c twice: the CLI quit and the pane is dead. orc learns this from the pane's death, not from the screen.",
    );
    Ok(())
}

/// A turn whose usage reports `tokens` input tokens, on a 200k-window model
/// (the default model shows no context meter), with `env` added. The note
/// quotes the meter as shown.
async fn context_turn(r: &mut Rec, env: &[&str], tokens: u64, why: &str) -> Result<()> {
    r.launch_env(Auth::Subscription, env, &["--model", "claude-sonnet-4-5"])
        .await?;
    r.boot(false).await?;
    r.stand_in
        .push(Reply::text("That was a big one.").input_tokens(tokens));
    r.say("read everything").await?;
    r.wait_for("That was a big one", 30).await?;
    r.wait_idle(30).await?;
    let meter = Regex::new(
        r"(\d+% context used|\d+% until auto-compact|Context low \([^)]*\)|Context left until auto-compact: \d+%)",
    )?;
    let screen = r.screen();
    let shown = meter.find(&screen).map(|m| m.as_str().to_string());
    eprintln!("record: {}: context meter: {shown:?}", r.name);
    let note = match &shown {
        Some(m) => format!(
            "Turn ended after a reply whose usage reported {tokens} input tokens (--model claude-sonnet-4-5{why}): idle, the footer shows '{m}'."
        ),
        None => format!(
            "Turn ended after a reply whose usage reported {tokens} input tokens (--model claude-sonnet-4-5{why}): idle; no context meter shown."
        ),
    };
    r.checkpoint("context-low", "idle", None, &note);
    Ok(())
}

async fn context_low(r: &mut Rec) -> Result<()> {
    context_turn(r, &[], 170_000, "").await
}

async fn context_window(r: &mut Rec) -> Result<()> {
    // A configured auto-compact window switches the meter to "N% until auto-compact".
    context_turn(
        r,
        &["CLAUDE_CODE_AUTO_COMPACT_WINDOW=180000"],
        130_000,
        ", CLAUDE_CODE_AUTO_COMPACT_WINDOW=180000",
    )
    .await
}

async fn context_no_compact(r: &mut Rec) -> Result<()> {
    // With auto-compact off the CLI words it "Context low (N% remaining)".
    context_turn(
        r,
        &["DISABLE_AUTO_COMPACT=1"],
        170_000,
        ", DISABLE_AUTO_COMPACT=1",
    )
    .await
}

// ---------------------------------------------------------------------------

fn claude_bin(root: &Path) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("CLAUDE_BIN").or_else(|| std::env::var_os("ORC_CLAUDE_BIN")) {
        return Ok(PathBuf::from(p));
    }
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/install-claude.sh"))
        .env("CLAUDE_CODE_VERSION", VERSION)
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("scripts/install-claude.sh failed");
    }
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok(PathBuf::from(path))
}

#[tokio::main]
async fn main() -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let claude = claude_bin(&root)?;
    let v = std::process::Command::new(&claude)
        .arg("--version")
        .env("DISABLE_AUTOUPDATER", "1")
        .output()
        .context("run claude --version")?;
    let got = String::from_utf8_lossy(&v.stdout);
    let got_version = got
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let explicit =
        std::env::var_os("CLAUDE_BIN").is_some() || std::env::var_os("ORC_CLAUDE_BIN").is_some();
    if got_version != VERSION && (!explicit || got_version.is_empty()) {
        bail!("{} is {got:?}, want {VERSION}", claude.display());
    }
    RECORDED.set(got_version).ok();
    let help = std::process::Command::new(&claude)
        .arg("--help")
        .env("DISABLE_AUTOUPDATER", "1")
        .output()
        .context("run claude --help")?;
    HAS_MANUAL_MODE
        .set(String::from_utf8_lossy(&help.stdout).contains("\"manual\""))
        .ok();
    let out = std::env::var_os("OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("fixtures/claude-code").join(version()));
    // A folder named for another version would mix two CLIs' screens.
    if let Some(dir) = out.file_name().and_then(|n| n.to_str()) {
        let looks_like_version =
            dir.split('.').count() == 3 && dir.split('.').all(|p| p.parse::<u32>().is_ok());
        if looks_like_version && dir != version() {
            bail!(
                "OUT {} is named for {dir}, but the CLI is {}",
                out.display(),
                version()
            );
        }
    }
    let wanted: Vec<String> = std::env::args().skip(1).collect();
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
        eprintln!("record: scenario {name}");
        let mut rec = Rec::start(name, n, &claude).await?;
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
