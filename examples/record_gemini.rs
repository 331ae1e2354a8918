//! Record control-mode fixtures from the REAL Gemini CLI (npm
//! `@google/gemini-cli`): `cargo run --example record_gemini -- [SCENARIO...]`
//! (no argument: all).
//!
//! The same machinery as `examples/record_codex.rs` (private tmux server
//! `tmux -L orc-rec-gemini-<pid>-<n>`, a tee'd control client set up like
//! orc's session actor, checkpoints by count of the pane's output events,
//! truth from the scenario, never from the detector). Gemini runs offline
//! against the Gemini API stand-in (`tests/support/gemini_stand_in.rs`):
//! `GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:<port>`, `GEMINI_API_KEY=<dummy>`
//! and a scratch HOME whose `.gemini/settings.json` chooses API-key auth and
//! pins the model (no auth chooser, no model router).
//!
//! Output: `fixtures/gemini/<version>/<scenario>.cm` and `<scenario>.json`.
//! Env: `GEMINI_BIN` (default: what `scripts/install-gemini.sh` installs),
//! `OUT`, `KEEP=1`, `SHOW=1` (print each checkpoint's screen).

#[path = "../tests/support/gemini_stand_in.rs"]
mod gemini_stand_in;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use gemini_stand_in::{GeminiStandIn, Reply};
use orc::tmux::{ControlClient, Event};
use regex::Regex;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, ReadBuf};

const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;
const SCRATCH: &str = "/tmp/orc-rec-gemini";
const CLI: &str = "gemini";

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
    bin: PathBuf,
    dir: PathBuf,
    home: PathBuf,
    proj: PathBuf,
    client: ControlClient,
    child: tokio::process::Child,
    log: Arc<Mutex<Vec<u8>>>,
    seen: Arc<Mutex<Seen>>,
    stand_in: GeminiStandIn,
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
    async fn start(name: &str, n: usize, bin: &Path, version: &str) -> Result<Rec> {
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
        init_repo(&proj, &home)?;
        let conf = dir.join("tmux.conf");
        std::fs::write(&conf, orc::tmux::CONF)?;
        let socket = format!("orc-rec-gemini-{}-{n}", std::process::id());
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
        let stand_in = GeminiStandIn::start()?;
        gemini_stand_in::prepare_home(&home)?;
        Ok(Rec {
            name: name.to_string(),
            version: version.to_string(),
            socket,
            conf,
            bin: bin.to_path_buf(),
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

    /// Start `gemini ARGS` in a new window; it becomes the recorded pane.
    async fn launch(&mut self, args: &[&str]) -> Result<u32> {
        let mut cmd: Vec<String> = vec![
            "new-window".into(),
            "-d".into(),
            "-P".into(),
            "-F".into(),
            "#{pane_id}".into(),
            "-t".into(),
            "=rec:".into(),
            "-n".into(),
            "gemini".into(),
            "-c".into(),
            orc::tmux::escape_format(&self.proj.to_string_lossy()),
            "--".into(),
            "/usr/bin/env".into(),
            "-i".into(),
            "PATH=/usr/local/bin:/usr/bin:/bin".into(),
            format!("HOME={}", self.home.display()),
            format!("GOOGLE_GEMINI_BASE_URL={}", self.stand_in.base_url()),
            format!("GEMINI_API_KEY={}", gemini_stand_in::DUMMY_KEY),
            "TERM=xterm-256color".into(),
            "LANG=C.UTF-8".into(),
            "TZ=UTC".into(),
            self.bin.display().to_string(),
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
        eprintln!("record: {}: gemini {args:?} in %{id}", self.name);
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

    /// The empty composer is drawn and no turn runs.
    async fn wait_prompt(&self, secs: u64) -> Result<()> {
        self.wait_for(r"(?m)^ >   Type your message", secs).await?;
        self.wait_gone(r"esc to cancel", secs).await?;
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

    /// Launch, answer the trust question (Enter on `1. Trust folder`), wait
    /// for the composer after the CLI's own restart.
    async fn boot(&mut self) -> Result<()> {
        self.launch(&[]).await?;
        self.wait_for(r"Do you trust the files in this folder\?", 60)
            .await?;
        self.rest().await?;
        self.keys(&["Enter"]).await?;
        self.wait_gone(r"Do you trust the files", 60).await?;
        self.wait_prompt(60).await
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
            "record: {}: {} requests, turns {:?}",
            self.name,
            self.stand_in.requests().len(),
            self.stand_in.turns()
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

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

const SCENARIOS: &[&str] = &[
    "startup",
    "tool-confirm",
    "quota",
    "auth-400",
    "auth-401",
    "auth-403",
    "exit-ctrl-c",
    "yolo",
];

async fn run(r: &mut Rec) -> Result<()> {
    match r.name.clone().as_str() {
        "startup" => startup(r).await,
        "tool-confirm" => tool_confirm(r).await,
        "quota" => quota(r).await,
        "auth-400" => auth(r, Reply::bad_key(), "API key not valid").await,
        "auth-401" => {
            auth(
                r,
                Reply::unauthenticated(),
                "invalid authentication credentials|401",
            )
            .await
        }
        "auth-403" => auth(r, Reply::forbidden(), "Permission denied|403").await,
        "exit-ctrl-c" => exit_ctrl_c(r).await,
        "yolo" => yolo(r).await,
        other => bail!("unknown scenario {other}; known: {SCENARIOS:?}"),
    }
}

async fn startup(r: &mut Rec) -> Result<()> {
    r.launch(&[]).await?;
    r.wait_for(r"Do you trust the files in this folder\?", 60)
        .await?;
    r.rest().await?;
    r.checkpoint(
        "trust-dialog",
        "awaiting_choice",
        Some("trust"),
        "First start in a folder: 'Do you trust the files in this folder?' with '● 1. Trust folder (proj)', '2. Trust parent folder (...)', '3. Don't trust'; nothing proceeds until it is answered.",
    );
    r.keys(&["Enter"]).await?;
    r.wait_gone(r"Do you trust the files", 60).await?;
    r.wait_prompt(60).await?;
    r.checkpoint(
        "idle-fresh",
        "idle",
        None,
        "Trust answered with Enter: 'Gemini CLI is restarting to apply the trust changes...', the banner again, the composer ' >   Type your message or @path/to/file' (placeholder) under a rule, the footer; settled.",
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
        .push(Reply::text("I fixed the test in src/lib.rs.").delay(Duration::from_secs(10)));
    r.keys(&["Enter"]).await?;
    r.wait_for("esc to cancel", 15).await?;
    sleep_ms(3000).await;
    r.checkpoint(
        "busy-waiting",
        "busy",
        None,
        "Message submitted; the stand-in holds the reply for 10 s: the turn runs ('⠏ Thinking... (esc to cancel, Ns)').",
    );
    r.wait_for("I fixed the test", 30).await?;
    r.wait_prompt(30).await?;
    r.checkpoint(
        "turn-finished",
        "idle",
        None,
        "The reply arrived and the turn ended ('✦ I fixed the test...'); empty composer, settled.",
    );
    let words: Vec<String> = (1..=20).map(|i| format!("word{i}")).collect();
    r.stand_in
        .push(Reply::text(words.join(" ")).chunk_delay(Duration::from_millis(700)));
    r.say("stream a long answer").await?;
    r.wait_for("word3", 20).await?;
    r.checkpoint(
        "busy-streaming",
        "busy",
        None,
        "The reply streams in one word every 0.7 s: partial text and the spinner line with 'esc to cancel'.",
    );
    r.wait_for("word20", 40).await?;
    r.wait_prompt(30).await?;
    r.type_text("first line").await?;
    r.keys(&["C-j"]).await?;
    r.type_text("second line ünïcødé; echo $HOME | cat").await?;
    r.wait_for("second line", 10).await?;
    r.rest().await?;
    r.checkpoint(
        "composing-multiline",
        "composing",
        None,
        "Two lines in the composer (ctrl-j between them), unicode and shell metacharacters, not sent.",
    );
    Ok(())
}

async fn tool_confirm(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    r.stand_in.next_turn_runs(
        "echo orc-was-here > marker.txt",
        "Done: the marker is written.",
    );
    r.say("write the marker file").await?;
    r.wait_for(r"Allow execution of", 30).await?;
    r.rest().await?;
    r.checkpoint(
        "permission-shell",
        "awaiting_permission",
        Some("permission"),
        "The model asked for run_shell_command: '? Shell echo orc-was-here > marker.txt', 'Allow execution of [Shell]?', '● 1. Allow once', '2. Allow for this session', '3. No, suggest changes (esc)'.",
    );
    r.keys(&["Enter"]).await?;
    r.wait_for("Done: the marker is written", 30).await?;
    r.wait_prompt(30).await?;
    let marker = std::fs::read_to_string(r.proj.join("marker.txt")).unwrap_or_default();
    if marker.trim() != "orc-was-here" {
        bail!("the shell command did not run: marker {marker:?}");
    }
    r.checkpoint(
        "tool-ran",
        "idle",
        None,
        "'Allow once' chosen with Enter: the command ran ('✓ Shell ...'), its output went back, the reply arrived; empty composer.",
    );
    Ok(())
}

async fn quota(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    r.stand_in.push(Reply::quota(3600).forever());
    r.say("hello").await?;
    r.wait_for(r"Usage limit reached", 60).await?;
    r.wait_for(r"Access resets at", 10).await?;
    r.rest().await?;
    r.checkpoint(
        "limit-dialog",
        "limited",
        Some("usage_limit_menu"),
        "Every turn answered 429 RESOURCE_EXHAUSTED (per-minute quota, retryDelay 3600s): 'Usage limit reached for all Pro models.', 'Access resets at H:MM PM UTC.', '● 1. Keep trying', '2. Stop'.",
    );
    r.keys(&["2"]).await?;
    r.wait_gone(r"Access resets at", 30).await?;
    r.wait_prompt(60).await?;
    r.checkpoint(
        "limit-stopped",
        "limited",
        None,
        "'2. Stop' chosen: the turn ends with '✕ [API Error: You exceeded your current quota, ... Please retry in 3600s. Suggested retry after 3600s.]' above an empty composer.",
    );
    Ok(())
}

async fn auth(r: &mut Rec, reply: Reply, shown: &str) -> Result<()> {
    r.boot().await?;
    r.stand_in.push(reply.forever());
    r.say("hello").await?;
    r.wait_for(shown, 60).await?;
    r.wait_prompt(60).await?;
    let name = r.name.clone();
    r.checkpoint(
        &name,
        "auth_failed",
        None,
        "Every turn answered with an authentication error: the turn ends with '✕ [API Error: ...]' naming it; only a new key helps.",
    );
    Ok(())
}

async fn yolo(r: &mut Rec) -> Result<()> {
    r.launch(&["--approval-mode", "yolo"]).await?;
    r.wait_for(r"Do you trust the files in this folder\?", 60)
        .await?;
    r.rest().await?;
    r.keys(&["Enter"]).await?;
    r.wait_gone(r"Do you trust the files", 60).await?;
    r.wait_for(r"(?m)^ \*   Type your message", 60).await?;
    r.rest().await?;
    r.checkpoint(
        "idle-yolo",
        "idle",
        None,
        "Started with --approval-mode yolo, trust answered: the composer's prompt is '*' (' *   Type your message or @path/to/file'), the hint line says 'YOLO Ctrl+Y'; settled.",
    );
    r.type_text("run the marker command").await?;
    r.wait_for("run the marker command", 10).await?;
    r.rest().await?;
    r.checkpoint(
        "composing-yolo",
        "composing",
        None,
        "Text typed after the '*' prompt, not sent.",
    );
    r.stand_in
        .next_turn_runs("echo yolo-ran > marker.txt", "Done without asking.");
    r.keys(&["Enter"]).await?;
    r.wait_for("Done without asking", 30).await?;
    r.wait_for(r"(?m)^ \*   Type your message", 30).await?;
    r.wait_gone(r"esc to cancel", 30).await?;
    r.rest().await?;
    let marker = std::fs::read_to_string(r.proj.join("marker.txt")).unwrap_or_default();
    if marker.trim() != "yolo-ran" {
        bail!("the shell command did not run: marker {marker:?}");
    }
    r.checkpoint(
        "tool-ran-unasked",
        "idle",
        None,
        "The functionCall ran with no confirmation dialog ('✓ Shell ...'), the reply arrived; empty '*' composer.",
    );
    Ok(())
}

async fn exit_ctrl_c(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    r.keys(&["C-c"]).await?;
    sleep_ms(1500).await;
    if !r.pane_dead().await? {
        r.checkpoint(
            "ctrl-c-once",
            "idle",
            None,
            "One ctrl-c at the empty composer: the CLI hints how to quit and still waits for input.",
        );
        r.keys(&["C-c"]).await?;
    }
    r.wait_dead(30).await?;
    r.rest().await?;
    r.checkpoint(
        "exited",
        "exited",
        None,
        "ctrl-c twice: the CLI printed its session summary and quit; the pane is dead. orc learns this from the pane's death.",
    );
    Ok(())
}

// ---------------------------------------------------------------------------

fn gemini_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("GEMINI_BIN") {
        return Ok(PathBuf::from(p));
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/install-gemini.sh");
    let out = std::process::Command::new("bash").arg(&script).output()?;
    if !out.status.success() {
        bail!(
            "install-gemini.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok(PathBuf::from(last))
}

#[tokio::main]
async fn main() -> Result<()> {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = gemini_bin()?;
    let v = std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .with_context(|| format!("run {} --version", bin.display()))?;
    let got = String::from_utf8_lossy(&v.stdout);
    let version = got
        .split_whitespace()
        .last()
        .ok_or_else(|| anyhow!("gemini --version printed {got:?}"))?
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
        eprintln!("record: scenario {name} (gemini {version})");
        let mut rec = Rec::start(name, n, &bin, &version).await?;
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
