//! The soak: a team of real Claude Code agents under a private `orc
//! supervise` (own ORC_HOME, own tmux server `-L orc-bench-<pid>-soak`),
//! against the API stand-in, for a working day compressed into MINUTES, with
//! the day's faults injected on a fixed seed. Nobody touches the team.
//!
//! Run: `scripts/soak.sh [MINUTES]` (or `SOAK_MINUTES=10 cargo bench --bench
//! soak`). Settings (environment): SOAK_AGENTS (5), SOAK_SEED (1),
//! SOAK_CLAUDE_BIN or ORC_CLAUDE_BIN (default: the pinned 2.1.332, installed by
//! scripts/install-claude.sh), SOAK_MESSAGES (outside messages per agent per
//! day, 24), SOAK_CHECKIN_HOURS (2), SOAK_LIMITS (3), SOAK_AGENT_KILLS (4),
//! SOAK_SUPERVISOR_KILLS (2), SOAK_TMUX_KILLS (1), SOAK_RESET_SKEW_SECS (0:
//! resets on the whole minute the CLI shows), SOAK_SETTLE_SECS (300).
//!
//! What is counted, and how: `tests/support/soak_count.rs`. The report goes
//! to stdout and `target/soak/<stamp>/report.json`, the picture to
//! `soak.svg` there and `docs/soak.svg`; the run's orc state (journals,
//! events, supervisor log) is copied to `target/soak/<stamp>/state`.

#[path = "../tests/support/stand_in.rs"]
mod stand_in;

#[path = "../tests/support/soak_count.rs"]
mod soak_count;

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use orc::proto::{AgentState, Request as OrcRequest, Response};
use serde_json::{json, Value};
use soak_count::{close_pairs, pct, Counter, Turn};
use stand_in::{Reply, Request, RequestKind, StandIn};
use support::Env;

const PINNED: &str = "2.1.332";
const DAY: f64 = 86400.0;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

// ------------------------------------------------------------------ seed

/// splitmix64: the whole plan comes from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ------------------------------------------------------------------ plan

#[derive(Clone, Debug)]
enum Action {
    Send {
        to: String,
        token: String,
        text: String,
    },
    Limit {
        agent: String,
        reset: f64,
    },
    KillAgent {
        agent: String,
    },
    KillSupervisor,
    KillTmux,
}

#[derive(Clone, Debug)]
struct Planned {
    /// Seconds after the day's start (wall clock).
    at: f64,
    action: Action,
}

/// What the receiver of an outside message passes on, when it arrives.
#[derive(Clone, Debug)]
struct RelayPlan {
    token: String,
    to: String,
    report: bool,
    text: String,
}

fn body(kind: usize, token: &str, what: &str) -> String {
    match kind % 5 {
        0 => format!("{token} {what}: please look at the build"),
        1 => format!(
            "{token} {what}, multi-line:\nfirst point\n  second point, indented\nthird point"
        ),
        2 => format!(
            "{token} {what}, long: {}",
            "lorem ipsum dolor sit amet ".repeat(150)
        ),
        3 => format!("{token} {what}, unicode: ❯ ünïcødé 😀 日本語 — ✓ ½"),
        _ => format!(
            "{token} {what}, shell: $HOME; `id` $(echo no) 'single' \"double\" \\back | & > < * ? #"
        ),
    }
}

struct Plan {
    events: Vec<Planned>,
    relays: BTreeMap<String, RelayPlan>,
}

fn plan(seed: u64, agents: &[String], day_wall: f64, scale: f64) -> Plan {
    let mut r = Rng(seed);
    let mut events = Vec::new();
    let mut relays = BTreeMap::new();
    let per_agent: usize = env_or("SOAK_MESSAGES", 24);
    let n_msgs = per_agent * agents.len();
    let mut next_id = 0;
    let mut id = |c: char| {
        next_id += 1;
        format!("SOAKID-{c}{next_id:04}")
    };
    for i in 0..n_msgs {
        let at = day_wall * (0.02 + 0.86 * r.f());
        let to = agents[r.below(agents.len())].clone();
        let token = id('m');
        let relay = r.f() < 0.3;
        let what = if relay {
            let mut other = agents[r.below(agents.len())].clone();
            if other == to {
                other = agents[(agents.iter().position(|a| *a == to).unwrap() + 1) % agents.len()]
                    .clone();
            }
            // non-hub agents report to the hub half the time
            let report = to != agents[0] && r.f() < 0.5;
            let (c, dest) = if report {
                ('p', agents[0].clone())
            } else {
                ('r', other)
            };
            let rt = id(c);
            relays.insert(
                token.clone(),
                RelayPlan {
                    text: body(
                        r.below(5),
                        &rt,
                        &format!("from {to}{}", if report { " (report)" } else { "" }),
                    ),
                    token: rt,
                    to: dest.clone(),
                    report,
                },
            );
            format!("outside message {i}, pass a note on to {dest}")
        } else {
            format!("outside message {i}")
        };
        let text = body(i, &token, &what);
        events.push(Planned {
            at,
            action: Action::Send { to, token, text },
        });
    }
    // Usage limits: a five-hour window each, on distinct agents where possible.
    let n_limits: usize = env_or("SOAK_LIMITS", 3);
    let skew: f64 = env_or("SOAK_RESET_SKEW_SECS", 0.0);
    let mut order: Vec<usize> = (0..agents.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, r.below(i + 1));
    }
    for k in 0..n_limits {
        let agent = agents[order[k % order.len()]].clone();
        let at = day_wall * (0.08 + 0.55 * r.f());
        let reset_wall = at + 5.0 * 3600.0 * scale;
        events.push(Planned {
            at,
            action: Action::Limit {
                agent,
                // the absolute reset is fixed when the day starts (whole minute)
                reset: reset_wall + skew,
            },
        });
    }
    // Kills, one per slot of the day so that recoveries do not overlap.
    let mut kills = Vec::new();
    for _ in 0..env_or("SOAK_AGENT_KILLS", 4usize) {
        kills.push(Action::KillAgent {
            agent: agents[r.below(agents.len())].clone(),
        });
    }
    for _ in 0..env_or("SOAK_SUPERVISOR_KILLS", 2usize) {
        kills.push(Action::KillSupervisor);
    }
    for _ in 0..env_or("SOAK_TMUX_KILLS", 1usize) {
        kills.push(Action::KillTmux);
    }
    for i in (1..kills.len()).rev() {
        kills.swap(i, r.below(i + 1));
    }
    let slot = 0.80 / kills.len().max(1) as f64;
    for (i, a) in kills.into_iter().enumerate() {
        let at = day_wall * (0.06 + slot * (i as f64 + 0.25 + 0.5 * r.f()));
        events.push(Planned { at, action: a });
    }
    events.sort_by(|a, b| a.at.partial_cmp(&b.at).unwrap());
    Plan { events, relays }
}

// ------------------------------------------------------------------ shared

#[derive(Clone, Debug)]
struct Window {
    agent: String,
    /// unix seconds
    start: f64,
    reset: f64,
    first_refused: Option<f64>,
    refusals: usize,
    /// first accepted agent turn at or after the reset
    resumed: Option<f64>,
}

#[derive(Clone, Debug)]
struct Relay {
    from: String,
    to: String,
    report: bool,
    text: String,
    /// unix seconds of each command the stand-in gave the agent
    tries: Vec<f64>,
    ok: bool,
    failed: usize,
}

struct Shared {
    t0: f64,
    counter: Counter,
    windows: Vec<Window>,
    planned: BTreeMap<String, RelayPlan>,
    relays: BTreeMap<String, Relay>,
    /// relay tokens whose `orc send` failed, to give again
    retry: BTreeMap<String, Vec<String>>,
    turns: std::fs::File,
    /// tool_use ids whose results were read
    seen_results: std::collections::BTreeSet<String>,
    orc: String,
    rng: Rng,
}

fn agent_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/a/")?;
    Some(rest.split('/').next()?.to_string())
}

fn user_texts(req: &Request) -> Vec<String> {
    req.messages()
        .iter()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| {
            let c = m.get("content").cloned().unwrap_or(Value::Null);
            let parts: Vec<String> = match c {
                Value::String(s) => vec![s],
                Value::Array(bs) => bs
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                    .filter_map(|b| b.get("text").and_then(Value::as_str))
                    .filter(|t| !t.trim_start().starts_with("<system-reminder>"))
                    .map(str::to_string)
                    .collect(),
                _ => vec![],
            };
            parts.join("\n")
        })
        .collect()
}

/// (tool_use_id, output text) of every tool result in the request's user messages.
fn all_tool_results(req: &Request) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for m in req.messages() {
        if m.get("role").and_then(Value::as_str) != Some("user") {
            continue;
        }
        let Some(blocks) = m.get("content").and_then(Value::as_array) else {
            continue;
        };
        for b in blocks {
            if b.get("type").and_then(Value::as_str) != Some("tool_result") {
                continue;
            }
            let id = b
                .get("tool_use_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let text = match b.get("content") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => String::new(),
            };
            out.push((id, text));
        }
    }
    out
}

fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl Shared {
    fn relay_command(&self, tok: &str) -> String {
        let r = &self.relays[tok];
        let cmd = if r.report {
            format!("{} report progress {}", self.orc, sq(&r.text))
        } else {
            format!("{} send {} {}", self.orc, r.to, sq(&r.text))
        };
        format!("if {cmd}; then echo SOAKOK-{tok}; else echo SOAKFAIL-{tok}; fi")
    }

    fn respond(&mut self, req: &Request) -> Option<Reply> {
        let agent = agent_of(&req.path)?;
        let t = now();
        let win = self
            .windows
            .iter_mut()
            .find(|w| w.agent == agent && w.start <= t && t < w.reset);
        if let Some(w) = win {
            let reset = w.reset;
            if req.kind == RequestKind::AgentTurn {
                w.first_refused.get_or_insert(t);
                w.refusals += 1;
                let texts = user_texts(req);
                self.counter.observe(
                    &agent,
                    &Turn {
                        at: t - self.t0,
                        user_texts: texts.clone(),
                        accepted: false,
                    },
                );
                self.log_turn(&agent, t, &texts, false, &[]);
            }
            return Some(Reply::usage_limit(reset as u64, "five_hour"));
        }
        if req.kind != RequestKind::AgentTurn {
            return None;
        }
        for w in self.windows.iter_mut() {
            if w.agent == agent && w.reset <= t && w.first_refused.is_some() && w.resumed.is_none()
            {
                w.resumed = Some(t);
            }
        }
        let texts = user_texts(req);
        let arrived = self.counter.observe(
            &agent,
            &Turn {
                at: t - self.t0,
                user_texts: texts.clone(),
                accepted: true,
            },
        );
        self.log_turn(&agent, t, &texts, true, &arrived);
        // Results of the relay commands given before, in any user message
        // (a prompt queued while the tool ran may follow its result), each
        // tool call taken once.
        for (id, out) in all_tool_results(req) {
            if !self.seen_results.insert(id) {
                continue;
            }
            for (mark, ok) in [("SOAKOK-", true), ("SOAKFAIL-", false)] {
                for tok in soak_count::tokens(&out.replace(mark, "SOAKID-")) {
                    if !out.contains(&format!("{mark}{}", &tok[7..])) {
                        continue;
                    }
                    if let Some(r) = self.relays.get_mut(&tok) {
                        if ok {
                            r.ok = true;
                        } else {
                            r.failed += 1;
                            if r.failed <= 10 {
                                self.retry.entry(agent.clone()).or_default().push(tok);
                            }
                        }
                    }
                }
            }
        }
        let mut cmds = Vec::new();
        if let Some(again) = self.retry.remove(&agent) {
            for tok in again {
                cmds.push(format!("sleep 3; {}", self.relay_command(&tok)));
                self.relays.get_mut(&tok).unwrap().tries.push(t);
            }
        }
        for tok in &arrived {
            if let Some(p) = self.planned.remove(tok) {
                self.relays.insert(
                    p.token.clone(),
                    Relay {
                        from: agent.clone(),
                        to: p.to.clone(),
                        report: p.report,
                        text: p.text.clone(),
                        tries: vec![t],
                        ok: false,
                        failed: 0,
                    },
                );
                cmds.push(self.relay_command(&p.token));
            }
        }
        if !cmds.is_empty() {
            return Some(Reply::bash(cmds.join("\n")).preface("Passing that on."));
        }
        // Some work: new texts take a while, tool results and the rest little.
        let ms = if arrived.is_empty() {
            200
        } else {
            500 + self.rng.below(2500) as u64
        };
        Some(Reply::text("Noted.").delay(Duration::from_millis(ms)))
    }

    fn log_turn(
        &mut self,
        agent: &str,
        t: f64,
        texts: &[String],
        accepted: bool,
        arrived: &[String],
    ) {
        let last = texts.last().map(|s| {
            let mut x: String = s.chars().take(160).collect();
            if s.chars().count() > 160 {
                x.push('…');
            }
            x
        });
        let line = json!({
            "at": t - self.t0, "agent": agent, "accepted": accepted,
            "user_messages": texts.len(), "last_user": last, "arrived": arrived,
        });
        let _ = writeln!(self.turns, "{line}");
    }
}

// ------------------------------------------------------------------ samples

#[derive(Clone, Debug)]
struct Row {
    state: AgentState,
    restarts: u32,
    queue: u32,
    pid: Option<u32>,
}

#[derive(Clone, Debug)]
struct Sample {
    /// seconds since t0
    at: f64,
    rows: Option<BTreeMap<String, Row>>,
}

fn sampler(socket: PathBuf, t0: f64, out: Arc<Mutex<Vec<Sample>>>, stop: Arc<AtomicBool>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    while !stop.load(Ordering::Relaxed) {
        let at = now() - t0;
        let r = rt.block_on(orc::ipc::request(
            &socket,
            &OrcRequest::Ps,
            Duration::from_secs(2),
        ));
        let rows = match r {
            Ok(Response::Ps { agents, .. }) => Some(
                agents
                    .into_iter()
                    .map(|a| {
                        (
                            a.name,
                            Row {
                                state: a.state,
                                restarts: a.restarts,
                                queue: a.queue,
                                pid: a.pid,
                            },
                        )
                    })
                    .collect(),
            ),
            _ => None,
        };
        out.lock().unwrap().push(Sample { at, rows });
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn at_work(s: AgentState) -> bool {
    matches!(
        s,
        AgentState::Idle | AgentState::Busy | AgentState::Composing
    )
}

// ------------------------------------------------------------------ setup

fn claude_bin() -> PathBuf {
    for k in ["SOAK_CLAUDE_BIN", "ORC_CLAUDE_BIN"] {
        if let Ok(p) = std::env::var(k) {
            return PathBuf::from(p);
        }
    }
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/install-claude.sh"
        ))
        .env("CLAUDE_CODE_VERSION", PINNED)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "install-claude.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .trim(),
    )
}

fn git(repo: &Path, home: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("HOME", home)
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}");
}

fn spawn(env: &Env, name: &str, role: Option<&str>, si: &StandIn, claude: &Path, sid: &str) {
    let home = env.home.path().join(format!("home-{name}"));
    let repo = env.home.path().join(format!("repo-{name}"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        home.join(".claude.json"),
        r#"{"hasCompletedOnboarding": true}"#,
    )
    .unwrap();
    git(&repo, &home, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "soak\n").unwrap();
    git(&repo, &home, &["add", "."]);
    git(
        &repo,
        &home,
        &[
            "-c",
            "user.email=s@s",
            "-c",
            "user.name=s",
            "commit",
            "-qm",
            "init",
        ],
    );
    let mut args: Vec<String> = vec![
        "spawn".into(),
        name.into(),
        "--cwd".into(),
        repo.display().to_string(),
        "--profile".into(),
        "claude".into(),
    ];
    if let Some(r) = role {
        args.extend(["--role".into(), r.into()]);
    }
    for e in [
        format!("ANTHROPIC_BASE_URL={}", si.base_url(&format!("/a/{name}"))),
        format!("HOME={}", home.display()),
        "CLAUDE_CODE_OAUTH_TOKEN=soak".into(),
        "IS_SANDBOX=1".into(),
        "DISABLE_AUTOUPDATER=1".into(),
        "TERM=xterm-256color".into(),
        format!("ORC_HOME={}", env.home.path().display()),
        format!("ORC_TMUX_SOCKET={}", env.socket),
    ] {
        args.extend(["--env".into(), e]);
    }
    args.extend([
        "--".into(),
        claude.display().to_string(),
        "--dangerously-skip-permissions".into(),
        "--session-id".into(),
        sid.into(),
    ]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    env.orc_ok(&a);
}

fn uuid(r: &mut Rng) -> String {
    let a = r.next();
    let b = r.next();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

fn restart_supervisor(env: &Env) -> bool {
    for _ in 0..20 {
        let o = env.orc(&["supervise", "--detach"]);
        if o.status.success() && env.ping().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    false
}

// ------------------------------------------------------------------ faults

/// An outside message `orc send` took: (to, token, seconds since t0, attempts).
type Sent = (String, String, f64, usize);

#[derive(Clone, Debug)]
struct Fault {
    kind: &'static str,
    agent: Option<String>,
    /// seconds since t0
    at: f64,
    /// restarts of each agent just before
    before: BTreeMap<String, u32>,
    pid: Option<u32>,
    detail: String,
}

fn main() {
    let minutes: f64 = env_or("SOAK_MINUTES", 10.0);
    let n_agents: usize = env_or("SOAK_AGENTS", 5);
    let seed: u64 = env_or("SOAK_SEED", 1);
    let settle_max: f64 = env_or("SOAK_SETTLE_SECS", 300.0);
    let checkin_hours: f64 = env_or("SOAK_CHECKIN_HOURS", 2.0);
    let day_wall = minutes * 60.0;
    let scale = day_wall / DAY;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/soak")
        .join(&stamp);
    std::fs::create_dir_all(&out).unwrap();
    let agents: Vec<String> = (0..n_agents).map(|i| format!("a{i}")).collect();
    let claude = claude_bin();
    let version = Command::new(&claude)
        .arg("--version")
        .env("DISABLE_AUTOUPDATER", "1")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!(
        "soak: {minutes} min for a 24 h day (x{:.0}), {n_agents} agents, seed {seed}, Claude Code {version}, out {}",
        1.0 / scale,
        out.display()
    );

    let env = Env::new("soak");
    let buffer = ((120.0 * scale).round() as u64).max(3);
    std::fs::write(
        env.home.path().join("config.toml"),
        format!(
            "[credits]\nbuffer_secs = {buffer}\nfallback_hours = {:.4}\n\n[checkins]\ndefault = 0\nroles = {{ orchestrator = 0 }}\n\n[routing]\noutside = \"allow\"\ncritical = []\n",
            5.0 * scale
        ),
    )
    .unwrap();
    env.supervise();
    let si = StandIn::start(vec![]).unwrap();
    si.set_keep_records(false);
    si.set_default(Reply::text("OK."));
    let orc_bin = env.bin.display().to_string();
    let turns = std::fs::File::create(out.join("turns.jsonl")).unwrap();
    let p = plan(seed, &agents, day_wall, scale);
    let shared = Arc::new(Mutex::new(Shared {
        t0: now(),
        counter: Counter::default(),
        windows: Vec::new(),
        planned: p.relays.clone(),
        relays: BTreeMap::new(),
        retry: BTreeMap::new(),
        turns,
        seen_results: Default::default(),
        orc: orc_bin.clone(),
        rng: Rng(seed ^ 0xabcdef),
    }));
    {
        let sh = shared.clone();
        si.set_responder(Arc::new(move |req: &Request| {
            sh.lock().unwrap_or_else(|e| e.into_inner()).respond(req)
        }));
    }

    // The team, one at a time, each at its prompt before the next.
    let mut r = Rng(seed.wrapping_mul(31));
    for (i, a) in agents.iter().enumerate() {
        let role = (i == 0).then_some("orchestrator");
        spawn(&env, a, role, &si, &claude, &uuid(&mut r));
        env.wait_ps(&format!("{a} idle"), Duration::from_secs(180), |rows| {
            rows.iter()
                .any(|x| x.name == *a && x.state == AgentState::Idle)
        });
    }
    println!("soak: team at its prompts");
    let period = checkin_hours * 3600.0 * scale;
    let mut every_via = "orc schedule --every";
    for a in &agents {
        let m = format!("{:.4}", period / 60.0);
        let o = env.orc(&[
            "schedule",
            "--every",
            &m,
            &format!("SOAKCHK-{a} check-in: how is it going?"),
            "--to",
            a,
        ]);
        if !o.status.success() {
            // a floor on --every: ask the supervisor directly (seconds)
            every_via = "Request::Schedule (the CLI refused the period)";
            eprintln!(
                "soak: orc schedule --every {m} refused: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            let r = env.rt.block_on(orc::ipc::request(
                &env.orc_socket(),
                &OrcRequest::Schedule {
                    to: a.clone(),
                    from: Some("soak".into()),
                    note: format!("SOAKCHK-{a} check-in: how is it going?"),
                    at: chrono::Utc::now()
                        + chrono::Duration::milliseconds((period * 1000.0) as i64),
                    every: Some(period.round().max(1.0) as u64),
                },
                Duration::from_secs(10),
            ));
            assert!(
                matches!(r, Ok(Response::Scheduled { .. })),
                "schedule: {r:?}"
            );
        }
    }

    // The day starts now.
    let t0 = now();
    shared.lock().unwrap().t0 = t0;
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler_thread = {
        let (s, st, sock) = (samples.clone(), stop.clone(), env.orc_socket());
        std::thread::spawn(move || sampler(sock, t0, s, st))
    };
    let mut faults: Vec<Fault> = Vec::new();
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::new(Mutex::new(Vec::new()));
    let mut actions = std::fs::File::create(out.join("actions.jsonl")).unwrap();
    let latest = |samples: &Arc<Mutex<Vec<Sample>>>| {
        samples
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|s| s.rows.clone())
            .unwrap_or_default()
    };
    std::thread::scope(|scope| {
        for ev in &p.events {
            let wait = t0 + ev.at - now();
            if wait > 0.0 {
                std::thread::sleep(Duration::from_secs_f64(wait));
            }
            let at = now() - t0;
            let before: BTreeMap<String, u32> = latest(&samples)
                .into_iter()
                .map(|(n, r)| (n, r.restarts))
                .collect();
            match &ev.action {
                Action::Send { to, token, text } => {
                    let (env, sent) = (&env, sent.clone());
                    let (to, token, text) = (to.clone(), token.clone(), text.clone());
                    scope.spawn(move || {
                        // a script outside: retried while the supervisor is down
                        for attempt in 1..=120 {
                            if env.orc(&["send", &to, &text]).status.success() {
                                sent.lock().unwrap().push((to, token, now() - t0, attempt));
                                return;
                            }
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    });
                }
                Action::Limit { agent, reset } => {
                    let reset_abs =
                        ((t0 + reset) / 60.0).ceil() * 60.0 + (reset - reset.floor()).min(59.0);
                    let w = Window {
                        agent: agent.clone(),
                        start: now(),
                        reset: reset_abs,
                        first_refused: None,
                        refusals: 0,
                        resumed: None,
                    };
                    let _ = writeln!(
                        actions,
                        "{}",
                        json!({"at": at, "limit": agent, "reset_in": reset_abs - now()})
                    );
                    println!(
                        "soak: {at:>6.0}s limit {agent} until +{:.0}s",
                        reset_abs - t0
                    );
                    shared.lock().unwrap().windows.push(w);
                }
                Action::KillAgent { agent } => {
                    let pid = latest(&samples).get(agent).and_then(|r| r.pid);
                    if let Some(pid) = pid {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid as i32),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                    println!("soak: {at:>6.0}s kill -9 {agent} (pid {pid:?})");
                    faults.push(Fault {
                        kind: "agent kill",
                        agent: Some(agent.clone()),
                        at,
                        before,
                        pid,
                        detail: String::new(),
                    });
                }
                Action::KillSupervisor => {
                    let pid = env.ping();
                    if let Some(pid) = pid {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid as i32),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                    // the service manager starts it again after 2 s
                    std::thread::sleep(Duration::from_secs(2));
                    let ok = restart_supervisor(&env);
                    println!("soak: {at:>6.0}s kill -9 supervisor (pid {pid:?}), restarted: {ok}");
                    faults.push(Fault {
                        kind: "supervisor kill",
                        agent: None,
                        at,
                        before,
                        pid,
                        detail: format!("restarted after 2 s: {ok}"),
                    });
                }
                Action::KillTmux => {
                    let pid = env.tmux_server_pid();
                    let o = env.tmux(&["kill-server"]);
                    println!(
                        "soak: {at:>6.0}s tmux kill-server (pid {pid:?}): {}",
                        o.status
                    );
                    faults.push(Fault {
                        kind: "tmux kill",
                        agent: None,
                        at,
                        before,
                        pid,
                        detail: String::new(),
                    });
                }
            }
            if !matches!(ev.action, Action::Send { .. }) {
                let _ = writeln!(
                    actions,
                    "{}",
                    json!({"at": at, "action": format!("{:?}", ev.action)})
                );
            }
        }
        let wait = t0 + day_wall - now();
        if wait > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(wait));
        }
    });
    let day_end = now() - t0;
    println!(
        "soak: day over at {day_end:.0}s; check-ins cancelled, waiting for the team to settle"
    );
    // The day is over: no more check-ins; wait for the team to settle.
    let jobs: Value = serde_json::from_slice(&env.orc(&["schedule", "list", "--json"]).stdout)
        .unwrap_or(Value::Null);
    for j in jobs.as_array().cloned().unwrap_or_default() {
        if let Some(id) = j["id"].as_str() {
            env.orc(&["schedule", "cancel", id]);
        }
    }
    let settle_t = now();
    let mut calm = 0;
    while now() - settle_t < settle_max {
        let rows = latest(&samples);
        let in_flight = {
            let sh = shared.lock().unwrap();
            sh.relays
                .values()
                .any(|r| !r.ok && r.tries.last().is_some_and(|t| now() - t < 60.0))
                || !sh.retry.is_empty()
        };
        let quiet = rows.len() == agents.len()
            && rows
                .values()
                .all(|r| r.state == AgentState::Idle && r.queue == 0)
            && !in_flight;
        calm = if quiet { calm + 1 } else { 0 };
        if calm >= 6 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));
    let end = now() - t0;
    stop.store(true, Ordering::Relaxed);
    sampler_thread.join().unwrap();
    let samples = samples.lock().unwrap().clone();
    let sh = shared.lock().unwrap();
    let report = analyse(Analysis {
        minutes,
        seed,
        version: &version,
        agents: &agents,
        day_end,
        end,
        settled: calm >= 6,
        period,
        every_via,
        buffer,
        sh: &sh,
        samples: &samples,
        faults: &faults,
        sent: &sent.lock().unwrap(),
        state: &env.home.path().join("state"),
        t0,
    });
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    let svg = picture(&agents, &samples, &sh.windows, &faults, t0, day_wall, end);
    std::fs::write(out.join("soak.svg"), &svg).unwrap();
    std::fs::write(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/soak.svg"),
        &svg,
    )
    .unwrap();
    let _ = Command::new("cp")
        .arg("-r")
        .arg(env.home.path().join("state"))
        .arg(out.join("state"))
        .status();
    print_table(&report);
    println!("soak: written {} (report.json, soak.svg, turns.jsonl, actions.jsonl, state/) and docs/soak.svg", out.display());
}

// ------------------------------------------------------------------ analysis

struct Analysis<'a> {
    minutes: f64,
    seed: u64,
    version: &'a str,
    agents: &'a [String],
    day_end: f64,
    end: f64,
    settled: bool,
    period: f64,
    every_via: &'a str,
    buffer: u64,
    sh: &'a Shared,
    samples: &'a [Sample],
    faults: &'a [Fault],
    sent: &'a [Sent],
    state: &'a Path,
    t0: f64,
}

fn stats(v: &[f64]) -> Value {
    json!({ "n": v.len(), "median": pct(v, 0.5), "worst": pct(v, 1.0), "each": v })
}

fn analyse(a: Analysis) -> Value {
    let c = &a.sh.counter;
    // --- messages: from outside (accepted by `orc send`) and relays
    let mut rows = Vec::new(); // (kind, to, token, count)
    for (to, tok, _, _) in a.sent {
        rows.push(("outside", to.clone(), tok.clone(), c.count(to, tok)));
    }
    let mut relay_unconfirmed = Vec::new();
    let mut relay_not_given = 0;
    // what orc queued for each agent (its queue journals): a relay whose
    // tool result the stand-in never saw was still sent if orc took it
    let queued_text = |ag: &str| {
        std::fs::read_to_string(a.state.join("queues").join(format!("{ag}.jsonl")))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["op"] == "queued")
            .filter_map(|v| v["message"]["text"].as_str().map(str::to_string))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let queued: BTreeMap<&String, String> =
        a.agents.iter().map(|ag| (ag, queued_text(ag))).collect();
    let mut relay_by_journal = 0;
    for (tok, r) in &a.sh.relays {
        let n = c.count(&r.to, tok);
        let in_journal = queued
            .get(&r.to)
            .is_some_and(|q| soak_count::tokens(q).contains(tok));
        if !r.ok && n == 0 && in_journal {
            relay_by_journal += 1;
        }
        if r.ok || n > 0 || in_journal {
            rows.push((
                if r.report { "report" } else { "agent" },
                r.to.clone(),
                tok.clone(),
                n,
            ));
        } else {
            relay_unconfirmed.push(json!({"token": tok, "from": r.from, "to": r.to, "tries": r.tries.len(), "failed": r.failed}));
        }
    }
    relay_not_given += a.sh.planned.len();
    let lost: Vec<&(&str, String, String, usize)> = rows.iter().filter(|r| r.3 == 0).collect();
    let dup: Vec<&(&str, String, String, usize)> = rows.iter().filter(|r| r.3 > 1).collect();
    let once = rows.iter().filter(|r| r.3 == 1).count();
    // a token that reached someone else
    let mut misrouted = Vec::new();
    for (agent, tok) in c.arrivals.keys() {
        if tok.starts_with("SOAKCHK-") {
            continue;
        }
        if let Some(r) = rows.iter().find(|r| &r.2 == tok) {
            if &r.1 != agent && !(agent == &a.agents[0] && tok.starts_with("SOAKID-p")) {
                misrouted.push(json!({"token": tok, "at": agent, "meant_for": r.1}));
            }
        }
    }
    // --- check-ins
    let sched = std::fs::read_to_string(a.state.join("schedule.jsonl")).unwrap_or_default();
    let mut fired = 0;
    let mut sched_events: BTreeMap<String, usize> = BTreeMap::new();
    for l in sched.lines() {
        if let Ok(v) = serde_json::from_str::<Value>(l) {
            let e = v["event"].as_str().unwrap_or("").to_string();
            if e == "fired" {
                fired += 1;
            }
            *sched_events.entry(e).or_insert(0) += 1;
        }
    }
    let mut chk_arrived = 0;
    let mut chk_dup = 0;
    let mut chk_dups = Vec::new();
    for ag in a.agents {
        let tok = format!("SOAKCHK-{ag}");
        let t = c.times(ag, &tok);
        chk_arrived += t.len();
        let d = close_pairs(t, a.period);
        if d > 0 {
            chk_dups.push(json!({"agent": ag, "times": t}));
        }
        chk_dup += d;
    }
    // --- refused spans: [first refusal, reset)
    let spans: Vec<(String, f64, f64)> =
        a.sh.windows
            .iter()
            .filter_map(|w| {
                w.first_refused
                    .map(|f| (w.agent.clone(), f - a.t0, w.reset - a.t0))
            })
            .collect();
    let refused_at = |ag: &str, t: f64| spans.iter().any(|(x, s, e)| x == ag && *s <= t && t < *e);
    // --- typed while limited, from orc's queue journals: a `delivering` step
    // of a message other than orc's resume between the first refusal and the
    // first accepted turn after the reset
    let mut typed_journal = Vec::new();
    for w in &a.sh.windows {
        let Some(f) = w.first_refused else { continue };
        let until = w.resumed.unwrap_or(f64::INFINITY);
        let q = std::fs::read_to_string(a.state.join("queues").join(format!("{}.jsonl", w.agent)))
            .unwrap_or_default();
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        for l in q.lines() {
            let Ok(v) = serde_json::from_str::<Value>(l) else {
                continue;
            };
            let id = v["id"].as_str().unwrap_or("").to_string();
            if let Some(k) = v["message"]["key"].as_str() {
                keys.insert(id.clone(), k.to_string());
            }
            if v["op"] == "delivering" {
                let at = chrono::DateTime::parse_from_rfc3339(v["at"].as_str().unwrap_or(""))
                    .map(|d| d.timestamp_millis() as f64 / 1000.0)
                    .unwrap_or(0.0);
                let resume = keys.get(&id).is_some_and(|k| k.starts_with("resume:"));
                if !resume && at > f && at < until {
                    typed_journal.push(json!({"agent": w.agent, "id": id, "at": at - a.t0}));
                }
            }
        }
    }
    // --- recovery
    let in_window = |ag: &str, t: f64| {
        a.sh.windows
            .iter()
            .any(|w| w.agent == ag && w.start - a.t0 <= t && t < w.reset - a.t0 + 300.0)
    };
    let mut rec: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut rec_detail = Vec::new();
    for f in a.faults {
        let after = a.samples.iter().filter(|s| s.at > f.at);
        let mut got = None;
        for s in after {
            let Some(rows) = &s.rows else { continue };
            let ok = match f.kind {
                "agent kill" => {
                    let ag = f.agent.as_deref().unwrap();
                    rows.get(ag).is_some_and(|r| {
                        (at_work(r.state) || r.state == AgentState::Limited && in_window(ag, s.at))
                            && (r.restarts > f.before.get(ag).copied().unwrap_or(0)
                                || r.pid != f.pid)
                    })
                }
                _ => a.agents.iter().all(|ag| {
                    rows.get(ag).is_some_and(|r| {
                        (at_work(r.state) || r.state == AgentState::Limited && in_window(ag, s.at))
                            && (f.kind != "tmux kill"
                                || r.restarts > f.before.get(ag).copied().unwrap_or(0))
                    })
                }),
            };
            if ok {
                got = Some(s.at - f.at);
                break;
            }
        }
        if let Some(g) = got {
            rec.entry(f.kind).or_default().push(g);
        }
        let adopted = if f.kind == "supervisor kill" {
            a.samples
                .iter()
                .rev()
                .find_map(|s| s.rows.clone())
                .map(|rows| {
                    a.agents
                        .iter()
                        .all(|ag| rows.get(ag).map(|r| r.restarts) >= f.before.get(ag).copied())
                })
        } else {
            None
        };
        rec_detail.push(json!({"kind": f.kind, "agent": f.agent, "at": f.at, "recovered_after": got, "pid": f.pid, "detail": f.detail, "adopted": adopted}));
    }
    let mut limit_rows = Vec::new();
    for w in &a.sh.windows {
        let r = w.resumed.map(|x| x - w.reset);
        if let Some(x) = r {
            rec.entry("limit reset").or_default().push(x);
        }
        limit_rows.push(json!({
            "agent": w.agent, "start": w.start - a.t0, "reset": w.reset - a.t0,
            "first_refused": w.first_refused.map(|x| x - a.t0), "refusals": w.refusals,
            "resumed_after_reset": r, "hit": w.first_refused.is_some(),
        }));
    }
    // --- availability over the day
    let mut avail = BTreeMap::new();
    let mut team = (0usize, 0usize);
    let mut no_answer = 0;
    let mut worst_states: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut why_not: BTreeMap<&str, usize> = BTreeMap::new();
    let recovering = |ag: &str, t: f64| {
        rec_detail.iter().any(|f| {
            let start = f["at"].as_f64().unwrap_or(0.0);
            let took = f["recovered_after"].as_f64().unwrap_or(f64::INFINITY);
            (f["agent"].is_null() || f["agent"].as_str() == Some(ag))
                && start <= t
                && t <= start + took
        })
    };
    let after_reset = |ag: &str, t: f64| {
        a.sh.windows.iter().any(|w| {
            w.agent == ag
                && w.first_refused.is_some()
                && w.reset - a.t0 <= t
                && t < w.resumed.map_or(f64::INFINITY, |r| r - a.t0)
        })
    };
    for s in a.samples.iter().filter(|s| s.at <= a.day_end) {
        let Some(rows) = &s.rows else {
            no_answer += 1;
            continue;
        };
        for ag in a.agents {
            if refused_at(ag, s.at) {
                continue;
            }
            let e = avail.entry(ag.clone()).or_insert((0usize, 0usize));
            e.1 += 1;
            team.1 += 1;
            match rows.get(ag) {
                Some(r) if at_work(r.state) => {
                    e.0 += 1;
                    team.0 += 1;
                }
                other => {
                    let st = other.map_or("absent".to_string(), |r| r.state.as_str().to_string());
                    *worst_states
                        .entry(ag.clone())
                        .or_default()
                        .entry(st)
                        .or_insert(0) += 1;
                    let why = if recovering(ag, s.at) {
                        "recovering from an injected kill"
                    } else if after_reset(ag, s.at) {
                        "after a reset, before the resume"
                    } else {
                        "other"
                    };
                    *why_not.entry(why).or_insert(0) += 1;
                }
            }
        }
    }
    let share = |(w, n): (usize, usize)| {
        if n == 0 {
            f64::NAN
        } else {
            100.0 * w as f64 / n as f64
        }
    };
    // --- needing a human at the end
    let last = a
        .samples
        .iter()
        .rev()
        .find_map(|s| s.rows.clone())
        .unwrap_or_default();
    let mut human = Vec::new();
    for ag in a.agents {
        match last.get(ag) {
            Some(r) if r.state == AgentState::Idle && r.queue == 0 => {}
            Some(r) => {
                human.push(json!({"agent": ag, "state": r.state.as_str(), "queue": r.queue}))
            }
            None => human.push(json!({"agent": ag, "state": "absent"})),
        }
    }
    let rec_json: BTreeMap<&str, Value> = rec.iter().map(|(k, v)| (*k, stats(v))).collect();
    let worst = |k: &str| rec.get(k).and_then(|v| pct(v, 1.0));
    let count_faults = |k: &str| a.faults.iter().filter(|f| f.kind == k).count();
    let unrecovered = |k: &str| count_faults(k) - rec.get(k).map_or(0, Vec::len);
    let hit =
        a.sh.windows
            .iter()
            .filter(|w| w.first_refused.is_some())
            .count();
    let not_resumed =
        a.sh.windows
            .iter()
            .filter(|w| w.first_refused.is_some() && w.resumed.is_none())
            .count();
    let team_avail = share(team);
    let rows_out = vec![
        target_row("messages sent", rows.len() as f64, None, ""),
        target_row("delivered exactly once", once as f64, None, ""),
        target_row("lost", lost.len() as f64, Some(("=", 0.0)), ""),
        target_row("duplicated", dup.len() as f64, Some(("=", 0.0)), ""),
        target_row("check-ins fired (scheduler)", fired as f64, None, ""),
        target_row("check-ins reached the model", chk_arrived as f64, None, ""),
        target_row(
            "check-ins duplicated (< half a period)",
            chk_dup as f64,
            Some(("=", 0.0)),
            "",
        ),
        target_row(
            "typed into a limited agent (stand-in)",
            c.typed_while_limited.len() as f64,
            Some(("=", 0.0)),
            "",
        ),
        target_row(
            "typed into a limited agent (orc journal)",
            typed_journal.len() as f64,
            Some(("=", 0.0)),
            "",
        ),
        target_row(
            "availability outside refused windows (%)",
            team_avail,
            Some((">=", 99.0)),
            "",
        ),
        target_row(
            "agent kill -> at work, worst (s)",
            worst("agent kill").unwrap_or(f64::NAN),
            Some(("<=", 10.0)),
            &format!(
                "{} kills, {} not back",
                count_faults("agent kill"),
                unrecovered("agent kill")
            ),
        ),
        target_row(
            "supervisor kill -> team at work, worst (s)",
            worst("supervisor kill").unwrap_or(f64::NAN),
            None,
            &format!(
                "{} kills, {} not back",
                count_faults("supervisor kill"),
                unrecovered("supervisor kill")
            ),
        ),
        target_row(
            "tmux kill -> team at work, worst (s)",
            worst("tmux kill").unwrap_or(f64::NAN),
            Some(("<=", 60.0)),
            &format!(
                "{} kills, {} not back",
                count_faults("tmux kill"),
                unrecovered("tmux kill")
            ),
        ),
        target_row(
            "limit reset -> resumed, worst (s)",
            worst("limit reset").unwrap_or(f64::NAN),
            Some(("<=", 180.0)),
            &format!(
                "{} windows, {hit} hit, {not_resumed} not resumed",
                a.sh.windows.len()
            ),
        ),
        target_row(
            "agents needing a human at the end",
            human.len() as f64,
            Some(("=", 0.0)),
            "",
        ),
    ];
    json!({
        "when": chrono::Utc::now().to_rfc3339(),
        "claude_code": a.version,
        "minutes": a.minutes,
        "seed": a.seed,
        "agents": a.agents,
        "scale": format!("1 s = {:.0} s of the day", DAY / (a.minutes * 60.0)),
        "checkin_period_secs": a.period,
        "checkins_via": a.every_via,
        "credits_buffer_secs": a.buffer,
        "day_secs": a.day_end,
        "end_secs": a.end,
        "settled": a.settled,
        "machine": {
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "loadavg_at_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        },
        "rows": rows_out,
        "messages": {
            "sent": rows.len(), "exactly_once": once,
            "lost": lost.iter().map(|r| json!({"kind": r.0, "to": r.1, "token": r.2})).collect::<Vec<_>>(),
            "duplicated": dup.iter().map(|r| json!({"kind": r.0, "to": r.1, "token": r.2, "count": r.3, "times": c.times(&r.1, &r.2)})).collect::<Vec<_>>(),
            "by_kind": {
                "outside": rows.iter().filter(|r| r.0 == "outside").count(),
                "agent": rows.iter().filter(|r| r.0 == "agent").count(),
                "report": rows.iter().filter(|r| r.0 == "report").count(),
            },
            "outside_send_retries": a.sent.iter().filter(|s| s.3 > 1).count(),
            "relays_unconfirmed": relay_unconfirmed,
            "relays_never_given": relay_not_given,
            "relays_sent_by_journal_only": relay_by_journal,
            "misrouted": misrouted,
        },
        "checkins": {"fired": fired, "reached_model": chk_arrived, "duplicated": chk_dup, "duplicates": chk_dups, "scheduler_events": sched_events},
        "typed_while_limited": {
            "stand_in": c.typed_while_limited.iter().map(|(a, t, at)| json!({"agent": a, "token": t, "at": at})).collect::<Vec<_>>(),
            "journal": typed_journal,
        },
        "new_conversations": c.new_conversations.iter().map(|(a, t)| json!({"agent": a, "at": t})).collect::<Vec<_>>(),
        "availability": {
            "team_pct": team_avail,
            "per_agent_pct": avail.iter().map(|(k, v)| (k.clone(), json!(share(*v)))).collect::<serde_json::Map<_, _>>(),
            "not_at_work_samples": worst_states,
            "samples_without_answer": no_answer,
            "why_not_at_work": why_not,
            "counted_as_at_work": "idle, busy, composing",
        },
        "recovery": rec_json,
        "faults": rec_detail,
        "limits": limit_rows,
        "needing_a_human": human,
    })
}

fn target_row(figure: &str, v: f64, target: Option<(&str, f64)>, note: &str) -> Value {
    let met = target.map(|(op, t)| match op {
        "=" => v == t,
        "<=" => v <= t,
        _ => v >= t,
    });
    json!({
        "figure": figure, "value": if v.is_finite() { json!(v) } else { Value::Null },
        "target": target.map(|(op, t)| format!("{op} {t}")), "met": met, "note": note,
    })
}

fn print_table(r: &Value) {
    println!(
        "\n== soak: Claude Code {}, {} min, seed {}, {} agents ({}), settled: {}",
        r["claude_code"].as_str().unwrap_or("?"),
        r["minutes"],
        r["seed"],
        r["agents"].as_array().map_or(0, Vec::len),
        r["scale"].as_str().unwrap_or(""),
        r["settled"]
    );
    println!(
        "{:<46} {:>9} {:>8} {:>5}  note",
        "figure", "value", "target", "met?"
    );
    for row in r["rows"].as_array().unwrap() {
        let v = match row["value"].as_f64() {
            Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
            Some(x) => format!("{x:.2}"),
            None => "n/a".into(),
        };
        println!(
            "{:<46} {:>9} {:>8} {:>5}  {}",
            row["figure"].as_str().unwrap(),
            v,
            row["target"].as_str().unwrap_or("-"),
            match row["met"].as_bool() {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            },
            row["note"].as_str().unwrap_or("")
        );
    }
}

// ------------------------------------------------------------------ picture

fn color(s: Option<AgentState>) -> &'static str {
    match s {
        Some(AgentState::Idle) => "#4caf50",
        Some(AgentState::Busy) => "#1e88e5",
        Some(AgentState::Composing) => "#64b5f6",
        Some(AgentState::Limited) => "#ff9800",
        Some(AgentState::Starting) | Some(AgentState::Restarting) => "#9e9e9e",
        Some(AgentState::Exited) | Some(AgentState::Failed) | Some(AgentState::AuthFailed) => {
            "#e53935"
        }
        Some(AgentState::AwaitingPermission) | Some(AgentState::AwaitingChoice) => "#8e24aa",
        Some(AgentState::ApiError) => "#f06292",
        Some(AgentState::Unknown) => "#795548",
        None => "#ffffff",
    }
}

fn picture(
    agents: &[String],
    samples: &[Sample],
    windows: &[Window],
    faults: &[Fault],
    t0: f64,
    day: f64,
    end: f64,
) -> String {
    let (left, top, lane, gap, width) = (60.0, 40.0, 26.0, 10.0, 1100.0);
    let span = end.max(day);
    let x = |t: f64| left + width * (t / span).clamp(0.0, 1.0);
    let h = top + agents.len() as f64 * (lane + gap) + 70.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fafafa\"/>\n",
        left + width + 20.0
    );
    s += &format!("<text x=\"{left}\" y=\"18\" font-size=\"13\">orc soak: a day in {:.0} min; lanes coloured by state (sampled every 0.5 s), limit windows outlined, faults marked</text>\n", day / 60.0);
    for (i, ag) in agents.iter().enumerate() {
        let y = top + i as f64 * (lane + gap);
        s += &format!("<text x=\"8\" y=\"{}\">{ag}</text>\n", y + lane * 0.65);
        // one rect per run of samples in the same state
        let state_at = |i: usize| {
            samples[i]
                .rows
                .as_ref()
                .and_then(|r| r.get(ag).map(|r| r.state))
        };
        let mut i = 0;
        while i + 1 < samples.len() {
            let st = state_at(i);
            let mut j = i + 1;
            while j + 1 < samples.len() && state_at(j) == st {
                j += 1;
            }
            let name = st.map_or("no answer", AgentState::as_str);
            s += &format!(
                "<rect x=\"{:.1}\" y=\"{y}\" width=\"{:.2}\" height=\"{lane}\" fill=\"{}\"><title>{ag} {name} {:.0}-{:.0}s</title></rect>\n",
                x(samples[i].at),
                (x(samples[j].at) - x(samples[i].at)).max(0.3),
                color(st),
                samples[i].at,
                samples[j].at
            );
            i = j;
        }
        for w in windows.iter().filter(|w| &w.agent == ag) {
            let (a, b) = (x(w.start - t0), x(w.reset - t0));
            s += &format!("<rect x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#e65100\" stroke-width=\"2\" stroke-dasharray=\"4 2\"/>\n", y - 2.0, b - a, lane + 4.0);
            if let Some(f) = w.first_refused {
                s += &format!("<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e65100\" stroke-width=\"3\"/>\n", x(f - t0), b, y + lane + 1.0, y + lane + 1.0);
            }
            if let Some(r) = w.resumed {
                s += &format!(
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#e65100\"/>\n",
                    x(r - t0),
                    y + lane / 2.0
                );
            }
        }
        for f in faults.iter().filter(|f| f.agent.as_ref() == Some(ag)) {
            let fx = x(f.at);
            s += &format!("<path d=\"M{:.1},{:.1} l-5,-8 h10 z\" fill=\"#b71c1c\"><title>kill -9 {ag} at {:.0}s</title></path>\n", fx, y, f.at);
        }
    }
    let bottom = top + agents.len() as f64 * (lane + gap);
    for f in faults.iter().filter(|f| f.agent.is_none()) {
        let fx = x(f.at);
        let (c, l) = if f.kind == "tmux kill" {
            ("#000", "tmux killed")
        } else {
            ("#6a1b9a", "supervisor killed")
        };
        s += &format!("<line x1=\"{fx:.1}\" x2=\"{fx:.1}\" y1=\"{:.1}\" y2=\"{bottom:.1}\" stroke=\"{c}\" stroke-width=\"2\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"{c}\">{l}</text>\n", top - 6.0, fx + 2.0, top - 8.0);
    }
    // day hours and the end of the day
    for hour in (0..=24).step_by(3) {
        let t = day * hour as f64 / 24.0;
        s += &format!("<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{bottom:.1}\" y2=\"{1:.1}\" stroke=\"#333\"/><text x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"middle\">{hour:02}:00</text>\n", x(t), bottom + 5.0, bottom + 17.0);
    }
    if end > day {
        s += &format!("<rect x=\"{:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#000\" opacity=\"0.07\"/><text x=\"{:.1}\" y=\"{:.1}\">settling</text>\n", x(day), x(end) - x(day), bottom - top, x(day) + 2.0, bottom + 30.0);
    }
    let legend = [
        ("idle", "#4caf50"),
        ("busy", "#1e88e5"),
        ("composing", "#64b5f6"),
        ("limited", "#ff9800"),
        ("starting/restarting", "#9e9e9e"),
        ("exited/failed", "#e53935"),
        ("dialog", "#8e24aa"),
        ("unknown", "#795548"),
        ("no answer from orc", "#ffffff"),
    ];
    let mut lx = left;
    let ly = bottom + 42.0;
    for (n, c) in legend {
        s += &format!("<rect x=\"{lx}\" y=\"{ly}\" width=\"10\" height=\"10\" fill=\"{c}\" stroke=\"#999\"/><text x=\"{}\" y=\"{}\">{n}</text>\n", lx + 13.0, ly + 9.0);
        lx += 13.0 + 7.0 * n.len() as f64 + 14.0;
    }
    s += &format!("<text x=\"{left}\" y=\"{}\">dashed: limit window (stand-in refuses from its start to the reset); thick line: refused from the first 429; dot: first accepted turn after the reset; ▼ agent kill -9</text>\n", ly + 24.0);
    s += "</svg>\n";
    s
}
