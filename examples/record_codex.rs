//! Record control-mode fixtures from the REAL Codex CLI (npm `@openai/codex`):
//! `cargo run --example record_codex -- [SCENARIO...]` (no argument: all).
//!
//! The same machinery as `examples/record_aider.rs` (private tmux server
//! `tmux -L orc-rec-codex-<pid>-<n>`, a tee'd control client set up like orc's
//! session actor, checkpoints by count of the pane's output events, truth from
//! the scenario). Codex runs offline against the OpenAI stand-in
//! (`tests/support/openai_stand_in.rs`, Responses API) through a custom
//! provider in `$CODEX_HOME/config.toml`:
//!
//! ```toml
//! model = "stand-in"
//! model_provider = "standin"
//! check_for_update_on_startup = false
//! [model_providers.standin]
//! name = "stand-in"
//! base_url = "http://127.0.0.1:<port>/v1"
//! env_key = "STANDIN_KEY"
//! wire_api = "responses"
//! ```
//!
//! Output: `fixtures/codex/<version>/<scenario>.cm` and `<scenario>.json`.
//! Env: `ORC_CODEX_BIN` or `CODEX_BIN` (default: what
//! `scripts/install-codex.sh` installed, `$HOME/.cache/orc-e2e/codex-0.171.0/...`),
//! `OUT`, `KEEP=1`.

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
const SCRATCH: &str = "/tmp/orc-rec-codex";
const CLI: &str = "codex";

const SCENARIOS: &[&str] = &[
    "startup",
    "approval",
    "auth-401",
    "rate-limit",
    "usage-limit",
    "server-error",
    "exit-ctrl-c",
    "resume",
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
    bin: PathBuf,
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
        let socket = format!("orc-rec-codex-{}-{n}", std::process::id());
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
        let codex_home = home.join(".codex");
        std::fs::create_dir_all(&codex_home)?;
        std::fs::write(
            codex_home.join("config.toml"),
            format!(
                "model = \"stand-in\"\nmodel_provider = \"standin\"\ncheck_for_update_on_startup = false\n\n[model_providers.standin]\nname = \"stand-in\"\nbase_url = \"{}\"\nenv_key = \"STANDIN_KEY\"\nwire_api = \"responses\"\n",
                stand_in.base_url()
            ),
        )?;
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

    /// Start `codex ARGS` in a new window; it becomes the recorded pane.
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
            "codex".into(),
            "-c".into(),
            orc::tmux::escape_format(&self.proj.to_string_lossy()),
            "--".into(),
            "/usr/bin/env".into(),
            "-i".into(),
            "PATH=/usr/local/bin:/usr/bin:/bin".into(),
            format!("HOME={}", self.home.display()),
            format!("CODEX_HOME={}", self.home.join(".codex").display()),
            "STANDIN_KEY=x".into(),
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
        eprintln!("record: {}: codex {args:?} in %{id}", self.name);
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
        self.wait_for(r"(?m)^› Ask Codex to do anything", secs)
            .await?;
        self.wait_gone(r"esc to interrupt", secs).await?;
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

    /// Launch, answer the trust question (Enter on 1.), wait for the composer.
    async fn boot(&mut self) -> Result<()> {
        self.launch(&[]).await?;
        self.wait_for(r"Trust and continue", 60).await?;
        self.rest().await?;
        self.keys(&["Enter"]).await?;
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
        // Codex 0.169 starts a background `codex app-server` daemon (under
        // $CODEX_HOME/packages/...) that outlives the TUI: end ours, found by
        // the scratch HOME in their command line.
        kill_daemons(&self.home);
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

fn kill_daemons(home: &Path) {
    let needle = home.to_string_lossy().into_owned();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmd).contains(&needle) {
            eprintln!("record: ending codex daemon {pid}");
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
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

async fn run(r: &mut Rec) -> Result<()> {
    match r.name.clone().as_str() {
        "startup" => startup(r).await,
        "auth-401" => auth_401(r).await,
        "rate-limit" => rate_limit(r).await,
        "server-error" => server_error(r).await,
        "exit-ctrl-c" => exit_ctrl_c(r).await,
        "approval" => approval(r).await,
        "usage-limit" => usage_limit(r).await,
        "resume" => resume(r).await,
        other => bail!("unknown scenario {other}; known: {SCENARIOS:?}"),
    }
}

async fn startup(r: &mut Rec) -> Result<()> {
    r.launch(&[]).await?;
    // 0.171 draws the banner with the folder and an empty composer first;
    // the trust question comes seconds later.
    r.wait_for(r"(?m)^› Ask Codex to do anything|Trust and continue", 60)
        .await?;
    if !r.screen().contains("Trust and continue") {
        r.settle(Duration::from_millis(300)).await?;
        if !r.screen().contains("Trust and continue") {
            r.checkpoint(
                "composer-before-trust",
                "starting",
                None,
                "Banner, folder and an empty composer drawn while Codex still loads; the trust question is yet to come (no '<model> · <folder>' footer line yet).",
            );
        }
    }
    r.wait_for(r"Trust and continue", 60).await?;
    r.rest().await?;
    r.checkpoint(
        "trust-dialog",
        "awaiting_choice",
        Some("trust"),
        "First start in a folder: 'Trust this folder?' with '› 1. Trust and continue' preselected; nothing proceeds until it is answered.",
    );
    r.keys(&["Enter"]).await?;
    r.wait_prompt(60).await?;
    r.checkpoint(
        "idle-fresh",
        "idle",
        None,
        "Trust answered with Enter: banner, the composer '› Ask Codex to do anything' (placeholder), footer '? for shortcuts'; settled.",
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
    r.wait_for("esc to interrupt", 15).await?;
    sleep_ms(3000).await;
    r.checkpoint(
        "busy-waiting",
        "busy",
        None,
        "Message submitted; the stand-in holds the reply for 10 s: the turn runs ('esc to interrupt').",
    );
    r.wait_for("I fixed the test", 30).await?;
    r.wait_prompt(30).await?;
    r.checkpoint(
        "turn-finished",
        "idle",
        None,
        "The reply arrived and the turn ended ('• I fixed the test...', 'Worked for Ns'); empty composer, settled.",
    );
    Ok(())
}

async fn auth_401(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    r.stand_in.push(Reply::unauthorized().forever());
    r.say("hello").await?;
    r.wait_for("401|Unauthorized|API key", 60).await?;
    r.wait_prompt(60).await?;
    r.checkpoint(
        "auth-401",
        "auth_failed",
        None,
        "Every request answered 401 invalid_api_key: the turn ends with the error shown; only a new key helps.",
    );
    Ok(())
}

async fn rate_limit(r: &mut Rec) -> Result<()> {
    r.boot().await?;
    r.stand_in.push(Reply::rate_limited().forever());
    r.say("hello").await?;
    r.wait_for(r"(?i)429|rate limit|too many requests|exceeded", 120)
        .await?;
    r.wait_prompt(180).await?;
    r.checkpoint(
        "rate-limited-429",
        "limited",
        None,
        "Every request answered 429 rate_limit_exceeded (retry-after: 1): after its retries the turn ends with the rate-limit error above an empty composer.",
    );
    Ok(())
}

async fn server_error(r: &mut Rec) -> Result<()> {
    // A few 500s are retried silently within a second; every request 500
    // exhausts the retries.
    r.boot().await?;
    r.stand_in.push(Reply::server_error().forever());
    r.say("hello").await?;
    r.wait_for(r"high demand|exceeded retry limit|unexpected status 5", 180)
        .await?;
    r.wait_prompt(60).await?;
    r.checkpoint(
        "server-error-500",
        "api_error",
        None,
        "Every request answered 500 server_error: Codex retries silently, then the turn ends with '■ We’re currently experiencing high demand, which may cause temporary errors.' above an empty composer.",
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
            "One ctrl-c at the empty composer: Codex hints how to quit and still waits for input.",
        );
        r.keys(&["C-c"]).await?;
    }
    r.wait_dead(30).await?;
    r.rest().await?;
    r.checkpoint(
        "exited",
        "exited",
        None,
        "ctrl-c (twice if asked): Codex quit and the pane is dead. orc learns this from the pane's death.",
    );
    Ok(())
}

async fn approval(r: &mut Rec) -> Result<()> {
    // The default policy in a trusted folder (`on-request`, workspace-write
    // sandbox) asks before a command the model wants run unsandboxed.
    r.boot().await?;
    r.stand_in.push(Reply::codex_shell_escalated(
        "touch made-by-codex.txt",
        "Create the marker file?",
    ));
    r.stand_in.push(Reply::text("Created the marker file."));
    r.say("create the marker file").await?;
    r.wait_for("Would you like to run the following command", 30)
        .await?;
    r.rest().await?;
    r.checkpoint(
        "approval-dialog",
        "awaiting_permission",
        Some("permission"),
        "The model called exec_command with sandbox_permissions=require_escalated: 'Would you like to run the following command?' with '› 1. Yes, proceed (y)' preselected.",
    );
    r.keys(&["Enter"]).await?;
    r.wait_for("Created the marker file", 30).await?;
    r.wait_prompt(30).await?;
    if !r.proj.join("made-by-codex.txt").exists() {
        bail!("approved, but the command did not run");
    }
    r.checkpoint(
        "approved-turn-finished",
        "idle",
        None,
        "Enter on 'Yes, proceed': the command ran ('✔ You approved codex to run ...', '• Ran ...'), the reply came, the turn ended; empty composer.",
    );
    Ok(())
}

async fn usage_limit(r: &mut Rec) -> Result<()> {
    // A ChatGPT plan's usage limit: 429 `usage_limit_reached` with
    // `resets_at` (2 h 7 min ahead): does the TUI say when it resets?
    r.boot().await?;
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 2 * 3600
        + 7 * 60;
    r.stand_in.push(Reply::codex_usage_limit(reset).forever());
    r.say("hello").await?;
    r.wait_for(r"(?i)usage limit|429|exceeded", 120).await?;
    r.wait_prompt(180).await?;
    r.checkpoint(
        "usage-limit-429",
        "limited",
        None,
        &format!("Every request answered 429 usage_limit_reached, resets_at {reset} (2 h 7 min after the request): the turn ends with the limit message above an empty composer."),
    );
    Ok(())
}

async fn resume(r: &mut Rec) -> Result<()> {
    // What orc does after a restart: `codex resume --last` in the same
    // folder goes on with the conversation. Only the second pane is the
    // recording's.
    r.boot().await?;
    r.stand_in
        .push(Reply::text("I will remember the word PINEAPPLE."));
    r.say("remember the word PINEAPPLE").await?;
    r.wait_for("I will remember", 30).await?;
    r.wait_prompt(30).await?;
    r.keys(&["C-c"]).await?;
    sleep_ms(1500).await;
    if !r.pane_dead().await? {
        r.keys(&["C-c"]).await?;
    }
    r.wait_dead(30).await?;
    r.launch(&["resume", "--last"]).await?;
    r.wait_for("remember the word PINEAPPLE", 60).await?;
    r.wait_prompt(60).await?;
    r.checkpoint(
        "resumed-idle",
        "idle",
        None,
        "`codex resume --last` after the first TUI quit: the earlier turn is drawn again above an empty composer, no trust question; settled.",
    );
    r.stand_in.push(Reply::text("The word was PINEAPPLE."));
    r.say("which word was it?").await?;
    r.wait_for("The word was PINEAPPLE", 30).await?;
    r.wait_prompt(30).await?;
    let last = r.stand_in.completions().into_iter().last();
    if !last.is_some_and(|q| {
        q.body["input"]
            .to_string()
            .contains("remember the word PINEAPPLE")
    }) {
        bail!("the resumed turn did not carry the earlier one");
    }
    r.checkpoint(
        "resumed-turn-finished",
        "idle",
        None,
        "A turn in the resumed conversation (the request carried the earlier turn) ended; empty composer.",
    );
    Ok(())
}

// ---------------------------------------------------------------------------

fn codex_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ORC_CODEX_BIN").or_else(|| std::env::var_os("CODEX_BIN")) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/orc-e2e/codex-0.171.0/node_modules/.bin/codex")
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
    let bin = codex_bin();
    let v = std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .with_context(|| format!("run {} --version", bin.display()))?;
    let got = String::from_utf8_lossy(&v.stdout);
    let version = got
        .split_whitespace()
        .last()
        .ok_or_else(|| anyhow!("codex --version printed {got:?}"))?
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
        eprintln!("record: scenario {name} (codex {version})");
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
