//! `orc doctor --live PROFILE`: the profile's real CLI under a private `orc
//! supervise` (its own ORC_HOME and tmux server), talking to the built-in API
//! stand-in, walked through startup, a turn, a tool call and a usage limit.
//! Each step says what orc should see and what it saw; the first mismatch
//! ends the walk. Everything it started is stopped at the end (the private
//! tmux server is killed: it is the doctor's own).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde::Serialize;

use super::stand_in::{Reply, StandIn};
use super::{detector_of, install_hint, unknown_profile, Status};
use crate::client::Ctx;
use crate::config::{resolve_command, Config};
use crate::paths::Paths;
use crate::proto::{AgentState, PsRow, Request, Response, SpawnRequest};

const AGENT: &str = "doctor";
/// What the CLI gets as its subscription token: not a secret, not real.
const DUMMY_TOKEN: &str = "orc-doctor-dummy-token";

#[derive(Debug, Serialize)]
pub struct Step {
    pub step: &'static str,
    pub expected: String,
    pub status: Status,
    /// The states orc showed during the step, in order (repeats folded).
    pub saw: Vec<String>,
    pub secs: f64,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct LiveReport {
    pub ok: bool,
    pub profile: String,
    pub command: String,
    /// `--version` of the CLI (Claude Code only).
    pub version: Option<String>,
    pub steps: Vec<Step>,
    /// The agent's screen as orc saw it when a step failed.
    pub screen: Vec<String>,
    /// The private ORC_HOME, when `--keep` kept it.
    pub kept: Option<String>,
}

impl LiveReport {
    pub fn summary(&self) -> String {
        let passed = self
            .steps
            .iter()
            .filter(|s| s.status == Status::Pass)
            .count();
        match self.steps.iter().find(|s| s.status == Status::Fail) {
            None => format!("all {passed} steps passed"),
            Some(s) => format!("stopped at {}: {}", s.step, s.detail),
        }
    }

    pub fn human(&self) -> String {
        let mut out = format!("orc doctor --live {}\n", self.profile);
        out.push_str(&format!(
            "  CLI: {}{}\n",
            self.command,
            self.version
                .as_deref()
                .map(|v| format!(" ({v})"))
                .unwrap_or_default()
        ));
        for s in &self.steps {
            out.push_str(&format!(
                "{} {:<12} {}\n",
                s.status.mark(),
                s.step,
                s.detail
            ));
            if s.status != Status::Skip {
                out.push_str(&format!("      expected: {}\n", s.expected));
                out.push_str(&format!(
                    "      saw:      {}{}\n",
                    if s.saw.is_empty() {
                        "nothing".to_string()
                    } else {
                        s.saw.join(" → ")
                    },
                    format_args!(" ({:.1} s)", s.secs)
                ));
            }
        }
        if !self.screen.is_empty() {
            out.push_str("the agent's screen as orc saw it last:\n");
            for l in &self.screen {
                out.push_str(&format!("  | {l}\n"));
            }
        }
        if let Some(k) = &self.kept {
            out.push_str(&format!(
                "kept: {k} (supervisor log, agent events and saved screens)\n"
            ));
        }
        out.push_str(&format!(
            "result: {} — {}\n",
            if self.ok { "PASS" } else { "FAIL" },
            self.summary()
        ));
        out
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Claude,
    Sim,
}

/// How a step ends.
enum Until {
    Idle,
    /// Away from idle (through `must_see`) and back, nothing queued.
    TurnBack(AgentState),
    /// `limited` with a reset near this Unix time.
    Limited(i64),
    /// `limited` with a reset this many seconds after the message was sent.
    LimitedAfter(i64),
}

struct Plan {
    step: &'static str,
    expected: String,
    message: Option<String>,
    replies: Vec<Reply>,
    until: Until,
    timeout: Duration,
    /// Text the screen must show when the step is done.
    screen_has: Option<String>,
}

/// How far a limit's reset may be from the expected one (the CLI shows it to
/// the minute).
const RESET_SLACK: i64 = 90;

fn plans(kind: Kind) -> Vec<Plan> {
    let secs = |n| Duration::from_secs(n);
    let (startup, step) = match kind {
        Kind::Claude => (secs(60), secs(60)),
        Kind::Sim => (secs(20), secs(20)),
    };
    let now = chrono::Utc::now().timestamp();
    // A whole minute at least 20 minutes ahead: the CLI shows minutes only.
    let reset = (now + 20 * 60) / 60 * 60 + 60;
    let utc = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%H:%M UTC").to_string())
            .unwrap_or_default()
    };
    let startup = Plan {
        step: "startup",
        expected: format!(
            "idle within {} s, every startup dialog answered by orc",
            startup.as_secs()
        ),
        message: None,
        replies: vec![],
        until: Until::Idle,
        timeout: startup,
        screen_has: None,
    };
    match kind {
        Kind::Claude => vec![
            startup,
            Plan {
                step: "turn",
                expected: "busy, then idle with the reply on screen".into(),
                message: Some("orc doctor: please answer briefly.".into()),
                replies: vec![Reply::Text {
                    text: "orc doctor: turn finished.".into(),
                    delay: secs(3),
                }],
                until: Until::TurnBack(AgentState::Busy),
                timeout: step,
                screen_has: Some("orc doctor: turn finished.".into()),
            },
            Plan {
                step: "tool call",
                expected: "busy (a permission prompt, if any, answered by orc), then idle; the Bash command ran".into(),
                message: Some("orc doctor: please run the tool.".into()),
                replies: vec![
                    Reply::Bash {
                        command: format!("echo orc-doctor-tool > {TOOL_FILE}; cat {TOOL_FILE}"),
                        delay: secs(1),
                    },
                    Reply::Text {
                        text: "orc doctor: the tool ran.".into(),
                        delay: secs(2),
                    },
                ],
                until: Until::TurnBack(AgentState::Busy),
                timeout: step,
                screen_has: Some("orc doctor: the tool ran.".into()),
            },
            Plan {
                step: "usage limit",
                expected: format!("limited, resetting at {} (HTTP 429, five_hour)", utc(reset)),
                message: Some("orc doctor: one more turn, please.".into()),
                replies: vec![Reply::UsageLimit { reset: reset as u64 }],
                until: Until::Limited(reset),
                timeout: step,
                screen_has: None,
            },
        ],
        Kind::Sim => vec![
            startup,
            Plan {
                step: "turn",
                expected: "busy, then idle with the reply on screen".into(),
                message: Some("orc doctor: a turn orc-sim:work=2".into()),
                replies: vec![],
                until: Until::TurnBack(AgentState::Busy),
                timeout: step,
                screen_has: Some("Done: orc doctor: a turn".into()),
            },
            Plan {
                step: "tool call",
                expected: "a permission prompt answered by orc, then idle".into(),
                message: Some("orc doctor: a tool call orc-sim:permission".into()),
                replies: vec![],
                until: Until::TurnBack(AgentState::AwaitingPermission),
                timeout: step,
                screen_has: Some("Ran the command.".into()),
            },
            Plan {
                step: "usage limit",
                expected: "limited, resetting 15 minutes after the message".into(),
                message: Some("orc doctor: a limit orc-sim:limit=900".into()),
                replies: vec![],
                until: Until::LimitedAfter(900),
                timeout: step,
                screen_has: None,
            },
        ],
    }
}

const TOOL_FILE: &str = "orc-doctor-tool.txt";

/// The private world of one live run.
struct Live {
    root: PathBuf,
    work: PathBuf,
    ctx: Ctx,
    tmux: crate::tmux::Tmux,
    supervisor: Option<std::process::Child>,
    stand_in: StandIn,
    /// The agent pane's process, for the clean-up.
    pane_pid: Option<u32>,
    /// The profile's detector (`claude-code`, `sim`).
    detector: String,
    /// The supervisor's watch stream: the agent's row after every change.
    frames: Option<tokio::sync::mpsc::Receiver<PsRow>>,
}

pub async fn run(profile: &str, keep: bool) -> anyhow::Result<LiveReport> {
    let paths = Paths::from_env();
    let config = Config::load(&paths.config_file)
        .map_err(|e| anyhow!("{e}: fix it first (`orc doctor` checks it)"))?;
    let Some(p) = config.profiles.get(profile) else {
        bail!("{}", unknown_profile(profile, &config.profiles, &paths));
    };
    let det = detector_of(profile, p);
    let kind = match det {
        "claude-code" => Kind::Claude,
        "sim" => Kind::Sim,
        d => bail!(
            "`orc doctor --live` drives Claude Code (detector `claude-code`) and orc's sim agent \
             (detector `sim`); profile `{profile}` uses detector `{d}`: run `orc doctor {profile}` for its static checks"
        ),
    };
    let path_var = p
        .env
        .get("PATH")
        .cloned()
        .unwrap_or_else(|| std::env::var("PATH").unwrap_or_default());
    let exe = resolve_command(&p.command, &path_var, &std::env::current_dir()?).map_err(|e| {
        anyhow!(
            "profile `{profile}` runs `{}`: {e}; {}, or set `command` in [profiles.{profile}] of {}",
            p.command,
            install_hint(det),
            paths.config_file.display()
        )
    })?;
    let version = match kind {
        Kind::Claude => Some(super::cli_version(&exe, p).await.map_err(|e| anyhow!(e))?.0),
        Kind::Sim => None,
    };
    let socket = format!("orc-doctor-{}", std::process::id());
    let root = private_dir()?;
    let tmux = crate::tmux::Tmux::new(
        config.tmux.clone().into(),
        socket.clone(),
        root.join("orc/state/tmux.conf"),
    );
    if let Err(e) = tmux.check_version().await {
        let _ = std::fs::remove_dir_all(&root);
        bail!("{e}; `orc doctor --live` needs tmux to run the CLI");
    }
    let stand_in = StandIn::start()
        .await
        .context("starting the API stand-in")?;
    let mut live = Live {
        work: root.join("work"),
        ctx: Ctx {
            paths: Paths::under(&root.join("orc")),
        },
        root,
        tmux,
        supervisor: None,
        stand_in,
        pane_pid: None,
        frames: None,
        detector: det.to_string(),
    };
    let mut steps = Vec::new();
    let mut screen = Vec::new();
    let setup = live.setup(&config, profile).await;
    match setup {
        Err(e) => {
            live.cleanup(keep).await;
            return Err(e);
        }
        Ok(()) => {
            tokio::select! {
                _ = live.walk(kind, &mut steps, &mut screen) => {}
                _ = tokio::signal::ctrl_c() => {
                    steps.push(Step {
                        step: "interrupted",
                        expected: String::new(),
                        status: Status::Fail,
                        saw: vec![],
                        secs: 0.0,
                        detail: "interrupted (ctrl-c); cleaned up".into(),
                    });
                }
            }
        }
    }
    let kept = keep.then(|| live.root.display().to_string());
    live.cleanup(keep).await;
    Ok(LiveReport {
        ok: steps.iter().all(|s| s.status != Status::Fail),
        profile: profile.to_string(),
        command: exe.display().to_string(),
        version,
        steps,
        screen,
        kept,
    })
}

/// A new 0700 folder under the temp dir.
fn private_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("orc-doctor-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Variables of the user's environment the private supervisor (and so the
/// CLI) must not inherit: real credentials, another API or config dir, a
/// parent Claude Code or tmux session.
fn inherited_badly(name: &str) -> bool {
    name.starts_with("ANTHROPIC_")
        || name.starts_with("CLAUDE")
        || name.starts_with("TMUX")
        || name.starts_with("ORC_")
        || name.starts_with("AWS_BEARER_TOKEN")
}

impl Live {
    async fn setup(&mut self, config: &Config, profile: &str) -> anyhow::Result<()> {
        let orc_home = self.root.join("orc");
        let home = self.root.join("home");
        for d in [&orc_home, &home, &self.work] {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(
            home.join(".claude.json"),
            r#"{"hasCompletedOnboarding": true}"#,
        )?;
        // The user's config, so that the profile is exactly theirs; without
        // its notifications (a person would be told of the doctor's agent).
        if let Some(file) = &config.file {
            let text = std::fs::read_to_string(file)?;
            let mut t: toml::Table = text
                .parse()
                .with_context(|| format!("parsing {}", file.display()))?;
            t.remove("notify");
            t.remove("tmux_socket");
            std::fs::write(orc_home.join("config.toml"), toml::to_string(&t)?)?;
        }
        let log = std::fs::File::create(self.root.join("supervisor.log"))?;
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_none_or(inherited_badly) {
                cmd.env_remove(k);
            }
        }
        cmd.arg("supervise")
            .env("ORC_HOME", &orc_home)
            .env("ORC_TMUX_SOCKET", &self.tmux.socket)
            .env("ORC_TMUX", &self.tmux.bin)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Its own process group: a ctrl-c in this terminal reaches the doctor,
        // which then stops everything in order.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        self.supervisor = Some(cmd.spawn().context("cannot start the private supervisor")?);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Response::Pong { .. }) = self.ctx.request(Request::Ping).await {
                break;
            }
            let exited = self
                .supervisor
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(self.root.join("supervisor.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                bail!(
                    "the private supervisor did not start: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let env = [
            ("HOME", home.display().to_string()),
            ("ANTHROPIC_BASE_URL", self.stand_in.base_url()),
            ("CLAUDE_CODE_OAUTH_TOKEN", DUMMY_TOKEN.to_string()),
            ("IS_SANDBOX", "1".into()),
            ("DISABLE_AUTOUPDATER", "1".into()),
            ("TERM", "xterm-256color".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let req = SpawnRequest {
            name: AGENT.into(),
            cwd: self.work.display().to_string(),
            role: None,
            project: None,
            profile: Some(profile.into()),
            env,
            command: vec![],
            auto_approve: true,
            account: None,
            session: None,
            hooks: false,
            // The walk is of what a user meets: the dialogs, answered on screen.
            pre_trust: Some(false),
            pin_version: Some(true),
        };
        // Subscribe first: no state of the new agent goes unseen.
        let mut stream = crate::ipc::subscribe(&self.ctx.paths.socket(), &Request::Watch).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            while let Ok(Response::Watch { agents, .. }) =
                crate::ipc::read_frame::<_, Response>(&mut stream).await
            {
                for r in agents.into_iter().filter(|r| r.name == AGENT) {
                    if tx.send(r).await.is_err() {
                        return;
                    }
                }
            }
        });
        self.frames = Some(rx);
        self.ctx
            .ok(Request::Spawn(req))
            .await
            .map_err(|e| anyhow!("the private supervisor refused to start the agent: {e}"))?;
        Ok(())
    }

    async fn walk(&mut self, kind: Kind, steps: &mut Vec<Step>, screen: &mut Vec<String>) {
        let mut failed: Option<&'static str> = None;
        for plan in plans(kind) {
            if let Some(at) = failed {
                steps.push(Step {
                    step: plan.step,
                    expected: plan.expected,
                    status: Status::Skip,
                    saw: vec![],
                    secs: 0.0,
                    detail: format!("not run (stopped at {at})"),
                });
                continue;
            }
            let step = self.step(kind, &plan).await;
            if step.status == Status::Fail {
                failed = Some(plan.step);
                *screen = self.screen().await;
            }
            steps.push(step);
        }
    }

    async fn step(&mut self, kind: Kind, plan: &Plan) -> Step {
        for r in &plan.replies {
            self.stand_in.push(r.clone());
        }
        // Startup counts everything since the spawn.
        let fresh = plan.message.is_none();
        let pressed_before = if fresh { 0 } else { self.answers().len() };
        let events_before = if fresh { 0 } else { self.events().len() };
        if let Some(m) = &plan.message {
            let req = Request::Send {
                name: AGENT.into(),
                text: m.clone(),
                from: None,
                wait: false,
            };
            if let Err(e) = self.ctx.ok(req).await {
                return fail(plan, vec![], 0.0, format!("orc refused the message: {e}"));
            }
        }
        let start = Instant::now();
        let sent_at = chrono::Utc::now().timestamp();
        let mut saw: Vec<String> = Vec::new();
        let mut left_idle = false;
        let mut last: Option<PsRow> = None;
        let outcome: Result<(), String> = loop {
            let row = match self.row().await {
                Ok(r) => r,
                Err(e) => break Err(e),
            };
            let l = label(&row);
            if saw.last() != Some(&l) {
                saw.push(l.clone());
            }
            if row.pid.is_some() {
                self.pane_pid = row.pid;
            }
            let done = match &plan.until {
                Until::Idle => row.state == AgentState::Idle,
                Until::TurnBack(must) => {
                    left_idle |= row.state != AgentState::Idle;
                    // A prompt orc answered between two frames counts as seen.
                    let answered = *must == AgentState::AwaitingPermission
                        && self.answers()[pressed_before..]
                            .iter()
                            .any(|a| a.starts_with("permission"));
                    left_idle
                        && row.state == AgentState::Idle
                        && row.queue == 0
                        && (answered || saw.iter().any(|s| s.starts_with(must.as_str())))
                }
                Until::Limited(_) | Until::LimitedAfter(_) => {
                    row.state == AgentState::Limited && row.limited_until.is_some()
                }
            };
            last = Some(row.clone());
            if done {
                break Ok(());
            }
            if matches!(
                row.state,
                AgentState::Exited
                    | AgentState::Restarting
                    | AgentState::Failed
                    | AgentState::AuthFailed
            ) {
                break Err(format!("the CLI went to {l}"));
            }
            if start.elapsed() > plan.timeout {
                let queued = match row.queue {
                    0 => String::new(),
                    n => format!(", {n} message(s) still queued"),
                };
                let what = match &plan.until {
                    Until::TurnBack(must) if !saw.iter().any(|s| s.starts_with(must.as_str())) => {
                        format!(
                            "never saw {}; stuck at {l} after {} s{queued}",
                            must.as_str(),
                            plan.timeout.as_secs()
                        )
                    }
                    _ => format!("stuck at {l} after {} s{queued}", plan.timeout.as_secs()),
                };
                break Err(what);
            }
        };
        let secs = start.elapsed().as_secs_f64();
        let answers: Vec<String> = self.answers().split_off(pressed_before);
        let pressed = if answers.is_empty() {
            String::new()
        } else {
            format!("; orc answered {}", answers.join(", "))
        };
        if let Err(e) = outcome {
            let unplaced = self.events()[events_before..]
                .iter()
                .any(|(e, _)| e == "unplaced-screen");
            let why = if unplaced {
                "; orc logged unplaced-screen".to_string()
            } else {
                String::new()
            };
            let verdict = self.verdict().await;
            return fail(plan, saw, secs, format!("{e}{pressed}{why}{verdict}"));
        }
        // The step's own evidence.
        let mut extra = Vec::new();
        if let Some(text) = &plan.screen_has {
            if !self
                .screen()
                .await
                .iter()
                .any(|l| l.contains(text.as_str()))
            {
                return fail(
                    plan,
                    saw,
                    secs,
                    format!("orc says idle, but the reply {text:?} is not on its screen"),
                );
            }
            extra.push("reply on screen".to_string());
        }
        if kind == Kind::Claude && plan.step == "tool call" {
            let ran = std::fs::read_to_string(self.work.join(TOOL_FILE))
                .is_ok_and(|t| t.contains("orc-doctor-tool"));
            let returned = self
                .stand_in
                .tool_results()
                .iter()
                .any(|t| t.contains("orc-doctor-tool"));
            if !ran || !returned {
                return fail(
                    plan,
                    saw,
                    secs,
                    format!(
                        "the Bash command {} and its result {} back to the API",
                        if ran { "ran" } else { "did not run" },
                        if returned { "came" } else { "never came" }
                    ),
                );
            }
            extra.push(format!("{TOOL_FILE} written, result sent back"));
        }
        let want = match plan.until {
            Until::Limited(t) => Some(t),
            Until::LimitedAfter(secs) => Some(sent_at + secs),
            _ => None,
        };
        if let (Some(want), Some(got)) = (want, last.as_ref().and_then(|r| r.limited_until)) {
            let off = got.timestamp() - want;
            if off.abs() > RESET_SLACK {
                return fail(
                    plan,
                    saw,
                    secs,
                    format!(
                        "limited, but until {} ({off:+} s off the announced reset)",
                        got.format("%H:%M:%S UTC")
                    ),
                );
            }
            extra.push(format!("reset {}", got.format("%H:%M:%S UTC")));
        }
        let mut detail = format!("in {secs:.1} s");
        for e in extra {
            detail.push_str(&format!(", {e}"));
        }
        detail.push_str(&pressed);
        Step {
            step: plan.step,
            expected: plan.expected.clone(),
            status: Status::Pass,
            saw,
            secs,
            detail,
        }
    }

    /// The agent's next row: the next watch frame, or (none within 250 ms)
    /// a fresh `ps`.
    async fn row(&mut self) -> Result<PsRow, String> {
        if let Some(rx) = self.frames.as_mut() {
            if let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(250), rx.recv()).await {
                return Ok(r);
            }
        }
        let (rows, _) = self
            .ctx
            .ps()
            .await
            .map_err(|e| format!("the private supervisor stopped answering: {e}"))?;
        rows.into_iter()
            .find(|r| r.name == AGENT)
            .ok_or_else(|| "the agent is gone from the private supervisor".to_string())
    }

    /// The agent's events orc logged so far (event, detail).
    fn events(&self) -> Vec<(String, String)> {
        let file = self.ctx.paths.agent_log_dir(AGENT).join("events.jsonl");
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
                (s("event"), s("detail"))
            })
            .collect()
    }

    /// The dialog answers orc logged for the agent so far.
    fn answers(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|(e, _)| e == "dialog-answered")
            .map(|(_, d)| d)
            .collect()
    }

    /// What orc's rules make of the agent's screen now, as a clause.
    async fn verdict(&self) -> String {
        let Ok(Response::Screen { rows, cols, text }) =
            self.ctx.ok(Request::Screen { name: AGENT.into() }).await
        else {
            return String::new();
        };
        let mut p = vt100::Parser::new(rows.max(1), cols.max(1), 0);
        p.process(text.replace('\n', "\r\n").as_bytes());
        let det = self.detector.as_str();
        let o = crate::screen::classify(
            p.screen(),
            Duration::from_secs(10),
            crate::drivers::table_for(det),
        );
        let what = match (o.state, o.rule.as_str()) {
            (_, "unplaced") => "no rule matches and no composer is found".to_string(),
            (Some(s), rule) => format!("rule `{rule}` says {}", s.as_str()),
            (None, rule) => format!("rule `{rule}`, no state"),
        };
        let dialog = o
            .dialog
            .and_then(|d| serde_json::to_value(d).ok())
            .and_then(|v| v.as_str().map(|d| format!(" (dialog: {d})")))
            .unwrap_or_default();
        format!("; orc's `{det}` screen rules on the last screen: {what}{dialog}")
    }

    /// The agent's screen, without trailing blank lines.
    async fn screen(&self) -> Vec<String> {
        let Ok(Response::Screen { text, .. }) =
            self.ctx.ok(Request::Screen { name: AGENT.into() }).await
        else {
            return vec![];
        };
        let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        let first = lines.iter().position(|l| !l.is_empty()).unwrap_or(0);
        lines.drain(..first);
        // Runs of blank lines as one.
        lines.dedup_by(|a, b| a.is_empty() && b.is_empty());
        lines
    }

    /// Stop the agent, the supervisor and the private tmux server; remove the
    /// private folder unless `keep`.
    async fn cleanup(&mut self, keep: bool) {
        let short = Duration::from_secs(10);
        let _ = tokio::time::timeout(
            short,
            self.ctx.request(Request::Kill { name: AGENT.into() }),
        )
        .await;
        let _ = tokio::time::timeout(short, self.ctx.request(Request::Stop)).await;
        if let Some(mut child) = self.supervisor.take() {
            let deadline = Instant::now() + short;
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let _ = self.tmux.kill_private_server().await;
        // The CLI's own process group, if it outlived its pane.
        if let Some(pid) = self.pane_pid {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if !keep {
            remove_dir(&self.root).await;
        }
    }
}

async fn remove_dir(dir: &Path) {
    for _ in 0..20 {
        if std::fs::remove_dir_all(dir).is_ok() || !dir.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn fail(plan: &Plan, saw: Vec<String>, secs: f64, detail: String) -> Step {
    Step {
        step: plan.step,
        expected: plan.expected.clone(),
        status: Status::Fail,
        saw,
        secs,
        detail,
    }
}

/// A state as the report shows it: with the dialog or the reset.
fn label(r: &PsRow) -> String {
    let s = r.state.as_str();
    match r.state {
        AgentState::Limited => match r.limited_until {
            Some(u) => format!("{s} (until {})", u.format("%H:%M:%S UTC")),
            None => format!("{s} (no reset time)"),
        },
        _ => match r.note.as_deref() {
            Some(n) if n.starts_with("dialog:") => format!("{s} ({n})"),
            _ => s.to_string(),
        },
    }
}
