//! One actor per agent. It owns the agent's pane: starts it, feeds every byte
//! of its output into a vt100 screen, classifies that screen, notices when the
//! pane dies or disappears, and types messages into it.

pub mod dialogs;
pub mod signals;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

use crate::credits::{CreditPolicy, Episode, Phase as EpPhase};
use crate::orchestrator::OrchMsg;
use crate::paths::Paths;
use crate::proto::{AgentState, PsRow, Response};
use crate::proto::{CreditEvent, CreditKind};
use crate::queue::{next_step, Message, Op, Phase, Queue, Step};
use crate::screen;
use crate::screen::detect::{table_for, Detector, Dialog, Observation};
use crate::session::{SessionMsg, TmuxHandle};
use crate::state::{append_jsonl, write_atomic, AgentRecord};
use crate::tmux::{FormatSafe, PaneText, TmuxError};

pub enum AgentMsg {
    /// Bytes the pane printed, with their position in the control stream.
    Output {
        seq: u64,
        data: Vec<u8>,
    },
    /// The pane's process exited (the pane stays, `remain-on-exit`).
    PaneDied {
        status: Option<i32>,
    },
    /// The pane or its window was killed.
    PaneGone,
    /// Rebuild the screen from tmux (after a resize, a pause, a reconnect).
    Resync,
    /// Start a fresh pane for the agent (after a crash, or `orc restart`).
    Respawn {
        manual: bool,
    },
    /// The restart budget ran out.
    MarkFailed(String),
    Snapshot(RpcReplyPort<PsRow>),
    /// Queue a message (journaled before the reply). With a reply port for
    /// `--wait`, the answer comes once it is delivered or failed.
    Enqueue(Message, bool, RpcReplyPort<Response>),
    /// Kill the pane and stop the actor (`orc kill`).
    Kill(RpcReplyPort<()>),
    /// The visible screen as text, with its size (rows, cols).
    Screen(RpcReplyPort<(u16, u16, String)>),
    /// Re-classify the screen once it may have settled.
    Tick,
    /// Timer: a limited agent's resume instant may have come.
    ResumeDue(u64),
    /// Timer: the resume message went in this long ago; still limited?
    VerifyResume(u64),
    /// Test hook: panic inside the actor.
    Panic,
    /// A Claude Code hook fired in the agent (`orc hook EVENT`).
    Hook {
        event: String,
        payload: serde_json::Value,
    },
    /// Timer: does the screen agree with the hook that fired then?
    HookCheck(String, u64),
    /// What the agent's status line reported (`orc statusline`).
    Status(crate::proto::StatusReport),
    /// Timer: the permission prompt that appeared then is still unanswered?
    StillWaiting(u64),
    /// `orc rename`: a new window title (kept across restarts).
    Rename(String, RpcReplyPort<Result<(), String>>),
}

pub struct AgentArgs {
    pub record: AgentRecord,
    pub tmux: TmuxHandle,
    pub session: ActorRef<SessionMsg>,
    pub orchestrator: ActorRef<OrchMsg>,
    pub paths: Paths,
    /// Start a new pane even if the record names one (the old one is gone).
    pub fresh: bool,
    /// With `fresh`: do not start it yet; the orchestrator sends `Respawn`
    /// when its turn in the fleet restart line comes.
    pub hold: bool,
    /// How to resume after a usage limit (the profile's message applied).
    pub credits: CreditPolicy,
    pub context: crate::config::ContextPolicy,
    /// Tell a human about a permission prompt left unanswered this long.
    pub notify_permission_after: Option<Duration>,
    /// Escalate a question or menu left unanswered this long.
    pub notify_choice_after: Option<Duration>,
}

pub struct AgentState_ {
    record: AgentRecord,
    tmux: TmuxHandle,
    session: ActorRef<SessionMsg>,
    orchestrator: ActorRef<OrchMsg>,
    paths: Paths,
    parser: vt100::Parser,
    /// Output at or before this stream position is already in the screen.
    seeded_at: u64,
    alive: bool,
    /// `restarting` or `failed` while the agent has no live process.
    forced: Option<AgentState>,
    state: AgentState,
    since: DateTime<Utc>,
    last_change: Instant,
    digest: u64,
    /// When the screen was last compared with `digest`, and whether output
    /// came since (a burst is compared at most once per `DIGEST_EVERY`).
    digested_at: Instant,
    undigested: bool,
    last_activity: Option<DateTime<Utc>>,
    note: Option<String>,
    /// When the earliest pending Tick fires (None: none pending).
    tick_due: Option<Instant>,
    table: Option<&'static Detector>,
    obs: Observation,
    /// The dialog answer under way (by label, checked after every key).
    answerer: dialogs::Answerer,
    /// A dialog that orc leaves to a person has been reported (once per
    /// appearance).
    choice_reported: bool,
    limited_until: Option<DateTime<Utc>>,
    /// An unplaceable screen is logged once per episode.
    unplaced_logged: bool,
    queue: Queue,
    /// Callers of `orc send --wait`, by message id.
    waiters: std::collections::HashMap<String, RpcReplyPort<Response>>,
    /// Messages caught mid-delivery by a crash, to check against the screen.
    ambiguous: Vec<(Message, Op)>,
    /// When the last turn finished, until its event is logged.
    turn_done_at: Option<Instant>,
    /// A turn is under way (seen busy, not yet back at an idle prompt).
    in_turn: bool,
    /// This actor, for timers set from synchronous code.
    me: Option<ActorRef<AgentMsg>>,
    credits: CreditPolicy,
    context: crate::config::ContextPolicy,
    /// The usage limit under way, until the agent works again.
    episode: Option<Episode>,
    /// Bumped to cancel resume timers.
    episode_gen: u64,
    /// A turn started (busy) during the episode.
    episode_turn: bool,
    /// Claude Code's conversation log, when the agent runs it.
    convlog: Option<crate::convlog::Tail>,
    convlog_checked: Option<Instant>,
    /// The id of the resume message last taken from the queue for typing.
    last_resume_id: Option<String>,
    /// When orc's resume prompt last went in: a refusal logged before it is
    /// not a refusal of the resume.
    resume_typed_at: Option<DateTime<Utc>>,
    /// When the current pane was started (or adopted).
    started_at: Option<DateTime<Utc>>,
    /// The context level that was last acted on (one notice per dip).
    context_alerted: bool,
    /// Bumped on each hook event.
    hook_seq: u64,
    /// Bumped on each new permission prompt.
    waiting_gen: u64,
    notify_permission_after: Option<Duration>,
    notify_choice_after: Option<Duration>,
    /// Check-ins that went into a turn the limit refused.
    refused_turn: crate::refused_turn::RefusedTurn,
    /// Hooks and status line beyond the screen (`signals`).
    sig: signals::Signals,
}

pub struct AgentActor;

/// vt100 0.16 overflows on a wide character in a 1-column screen; a pane that
/// small shows nothing useful anyway.
const MIN_SIZE: u16 = 2;

/// How long a new pane may show a screen no rule places before it counts
/// as `unknown` (a CLI still drawing its first frame is `starting`).
const STARTUP_GRACE: Duration = Duration::from_secs(15);

/// How long after a turn ends its `turn-finished` event waits for the screen.
const TURN_LOG_DELAY: Duration = Duration::from_millis(800);
/// Within a burst of output, the screen is compared with its last look at
/// most this often (the comparison renders the whole screen as text; per
/// output event it was most of the supervisor's CPU under a flood).
const DIGEST_EVERY: Duration = Duration::from_millis(5);

#[derive(Serialize)]
struct LogEvent<'a> {
    at: DateTime<Utc>,
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pane: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// A dialog's name as `orc ps` and the logs spell it (`trust`, `bypass_warning`).
fn dialog_name(d: Option<Dialog>) -> String {
    d.and_then(|d| serde_json::to_value(d).ok())
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| "none".into())
}

fn pane_num(pane: &str) -> Option<u32> {
    pane.strip_prefix('%')?.parse().ok()
}
fn window_num(w: &str) -> Option<u32> {
    w.strip_prefix('@')?.parse().ok()
}

/// Text safe to type into a pane: no escape sequences or control bytes other
/// than newline and tab.
pub fn clean_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // Drop an escape sequence: ESC [ ... final, ESC ] ... BEL/ST, or ESC x.
                match chars.peek() {
                    Some('[') => {
                        chars.next();
                        while let Some(&n) = chars.peek() {
                            chars.next();
                            if ('@'..='~').contains(&n) {
                                break;
                            }
                        }
                    }
                    Some(']') => {
                        chars.next();
                        while let Some(n) = chars.next() {
                            if n == '\u{7}' {
                                break;
                            }
                            if n == '\u{1b}' {
                                chars.next();
                                break;
                            }
                        }
                    }
                    Some(_) => {
                        chars.next();
                    }
                    None => {}
                }
            }
            '\n' | '\t' => out.push(c),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

impl AgentState_ {
    fn log(&self, event: &str, detail: Option<String>) {
        let ev = LogEvent {
            at: Utc::now(),
            event,
            pane: self.record.pane.as_deref(),
            pid: self.record.pid,
            detail,
        };
        let path = self
            .paths
            .agent_log_dir(&self.record.name)
            .join("events.jsonl");
        if let Err(e) = append_jsonl(&path, &ev) {
            tracing::warn!(agent = %self.record.name, error = %e, "cannot write agent log");
        }
    }

    /// The window's title: the one set with `orc rename`, else the CLI and
    /// the role (`Claude-Developer`), else the agent's name.
    fn window_title(&self) -> String {
        if let Some(t) = &self.record.title {
            return t.clone();
        }
        let cli = match self.record.detector.split('@').next().unwrap_or("") {
            "claude-code" | "claude" => "Claude",
            "codex" => "Codex",
            "gemini" => "Gemini",
            "aider" => "Aider",
            "sim" => "Sim",
            _ => "",
        };
        let role: String = self
            .record
            .role
            .as_deref()
            .unwrap_or("")
            .split(['_', '-', ' '])
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        match (cli.is_empty(), role.is_empty()) {
            (false, false) => format!("{cli}-{role}"),
            _ => self.record.name.clone(),
        }
    }

    /// Save the pane's whole scrollback, with a header, under the project's
    /// logs (`orc logs NAME --transcript` prints the latest).
    async fn save_transcript(&self, reason: &str) {
        let Some(pane) = self.record.pane.clone() else {
            return;
        };
        let lines = match self
            .tmux
            .cmd(&[
                "capture-pane",
                "-p",
                "-J",
                "-S",
                "-",
                "-E",
                "-",
                "-t",
                &pane,
            ])
            .await
        {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(agent = %self.record.name, error = %e, "cannot capture the transcript");
                return;
            }
        };
        let now = Utc::now();
        let header = format!(
            "# transcript of agent {} (role {}, project {})\n# pane {} pid {} started {} saved {} reason {}\n# {} lines of scrollback\n\n",
            self.record.name,
            self.record.role.as_deref().unwrap_or("-"),
            self.record.project.as_deref().unwrap_or("-"),
            pane,
            self.record.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            self.started_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into()),
            now.to_rfc3339(),
            reason,
            lines.len()
        );
        let path = transcript_dir(
            &self.paths,
            self.record.project.as_deref(),
            &self.record.name,
        )
        .join(format!("{}-{reason}.txt", now.format("%Y%m%dT%H%M%S%.3fZ")));
        let body = header + &lines.join("\n") + "\n";
        if let Err(e) = write_atomic(&path, body.as_bytes()) {
            tracing::warn!(agent = %self.record.name, error = %e, "cannot save the transcript");
        } else {
            self.log("transcript-saved", Some(path.display().to_string()));
        }
    }

    /// Keep the last screen before the pane goes away.
    fn save_screen(&self, reason: &str) {
        let dir = self.paths.agent_log_dir(&self.record.name).join("screens");
        let name = format!("{}-{}.txt", Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), reason);
        let header = format!(
            "# agent {} pane {} pid {} saved {} reason {}\n",
            self.record.name,
            self.record.pane.as_deref().unwrap_or("-"),
            self.record
                .pid
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            Utc::now().to_rfc3339(),
            reason
        );
        let body = header + &screen::plain(self.parser.screen()) + "\n";
        if let Err(e) = write_atomic(&dir.join(name), body.as_bytes()) {
            tracing::warn!(agent = %self.record.name, error = %e, "cannot save last screen");
        }
    }

    fn set_state(&mut self, s: AgentState) {
        if s != self.state {
            self.state = s;
            self.since = Utc::now();
            crate::changes::bump();
            let _ = self.orchestrator.cast(OrchMsg::StateChanged {
                name: self.record.name.clone(),
                state: s,
            });
            match s {
                AgentState::AuthFailed if !self.sig.auth_reported => self.needs_human(
                    "auth_failed",
                    "the CLI cannot authenticate: log it in again (orc will not restart it)".into(),
                ),
                AgentState::AwaitingPermission | AgentState::AwaitingChoice => {
                    // Tell a human (and, for a question, the hub) if nobody
                    // answers within the configured time.
                    self.waiting_gen += 1;
                    let g = self.waiting_gen;
                    let after = if s == AgentState::AwaitingPermission {
                        self.notify_permission_after
                    } else {
                        self.notify_choice_after
                    };
                    if let (Some(me), Some(after)) = (&self.me, after) {
                        me.send_after(after, move || AgentMsg::StillWaiting(g));
                    }
                }
                _ => {}
            }
        }
    }

    /// Something only a person can fix: the hub runs the notify command.
    fn needs_human(&self, event: &str, detail: String) {
        self.log("needs-human", Some(format!("{event}: {detail}")));
        let _ = self.orchestrator.cast(OrchMsg::NeedsHuman {
            name: self.record.name.clone(),
            event: event.to_string(),
            detail,
        });
    }

    fn refresh_state(&mut self) {
        let s = match self.forced {
            Some(f) => f,
            None if !self.alive => AgentState::Exited,
            None => {
                let obs =
                    screen::classify(self.parser.screen(), self.last_change.elapsed(), self.table);
                let s = match (obs.state, self.state) {
                    // A screen still settling keeps the state it had; a dialog
                    // or an error does not outlive its screen.
                    (None, prev) if obs.rule == "settling" => match prev {
                        AgentState::Idle
                        | AgentState::Busy
                        | AgentState::Composing
                        | AgentState::Starting
                        | AgentState::Unknown => prev,
                        _ => AgentState::Starting,
                    },
                    // A new pane is `starting` until its screen first settles
                    // (the generic rule calls a moving screen busy).
                    // A settled screen no rule places is `unknown` once the
                    // CLI had time to draw its prompt: said, never guessed.
                    (None, AgentState::Starting)
                        if obs.rule == "unplaced"
                            && self.started_at.is_some_and(|t| {
                                (Utc::now() - t).to_std().unwrap_or_default() >= STARTUP_GRACE
                            }) =>
                    {
                        AgentState::Unknown
                    }
                    (Some(AgentState::Busy) | None, AgentState::Starting) if obs.rule != "busy" => {
                        AgentState::Starting
                    }
                    (s, _) => s.unwrap_or(AgentState::Unknown),
                };
                self.observed(&obs, s);
                self.obs = obs;
                s
            }
        };
        self.set_state(s);
    }

    /// Bookkeeping on a fresh observation: turn-finished events, the limit's
    /// reset time, the note, one log line for an unplaceable screen.
    fn observed(&mut self, obs: &Observation, s: AgentState) {
        let was = self.state;
        // A finished turn is logged once the screen has shown idle for a
        // moment, so that a reply drawn late (a busy machine) is in it.
        if s == AgentState::Idle {
            self.refused_turn.idle(Instant::now());
        }
        match s {
            AgentState::Busy => self.in_turn = true,
            AgentState::Idle if self.in_turn => {
                self.in_turn = false;
                self.turn_done_at = Some(Instant::now());
                if let Some(me) = &self.me {
                    me.send_after(TURN_LOG_DELAY + Duration::from_millis(20), || {
                        AgentMsg::Tick
                    });
                }
            }
            AgentState::Limited | AgentState::AuthFailed | AgentState::Exited => {
                self.in_turn = false
            }
            _ => {}
        }
        if let Some(t) = self.turn_done_at {
            if s != AgentState::Idle || t.elapsed() >= TURN_LOG_DELAY {
                self.turn_done_at = None;
                self.log(
                    "turn-finished",
                    Some(format!(
                        "{} | {}",
                        obs.finished_line.as_deref().unwrap_or("-"),
                        obs.last_reply.as_deref().unwrap_or("-")
                    )),
                );
            }
        }
        let _ = was;
        self.track_limit(obs, s);
        if s == AgentState::Unknown {
            if !self.unplaced_logged {
                self.unplaced_logged = true;
                tracing::warn!(agent = %self.record.name, detector = %self.record.detector, "screen matches no detector rule");
                self.save_screen("unplaced");
                self.log("unplaced-screen", None);
            }
        } else {
            self.unplaced_logged = false;
        }
        if self.forced.is_none() {
            self.note = match (s, obs.dialog) {
                (AgentState::Limited, _) => obs.limit_line.clone(),
                (_, Some(d)) => Some(match self.answerer.trouble() {
                    Some(why) => format!("dialog: {}: {why}", dialog_name(Some(d))),
                    None => match obs.dialog_line.as_deref() {
                        Some(line)
                            if d != Dialog::Permission && self.answer_for(d, obs).is_none() =>
                        {
                            format!("dialog: {}: \"{line}\"", dialog_name(Some(d)))
                        }
                        _ => format!("dialog: {}", dialog_name(Some(d))),
                    },
                }),
                (AgentState::AuthFailed, _) => {
                    Some("authentication failed: log in again; orc will not restart it".into())
                }
                _ if self.note.as_deref().is_some_and(|n| {
                    n.starts_with("dialog:") || n.starts_with("authentication")
                }) =>
                {
                    None
                }
                _ => self.note.take(),
            };
        }
    }

    /// Tell the hub's credit ledger, and the agent's own log.
    fn credit(&self, kind: CreditKind, detail: Option<String>) {
        let ep = self.episode.as_ref();
        let ev = CreditEvent {
            at: Utc::now(),
            kind,
            reset_at: ep.and_then(|e| e.reset),
            resume_at: ep
                .filter(|e| e.phase == EpPhase::Waiting)
                .map(|e| e.resume_at),
            tries: ep.map(|e| e.tries).unwrap_or(0),
            detail: detail.clone(),
        };
        let name = serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        self.log(
            &format!("credit-{}", name.replace('_', "-")),
            Some(format!(
                "{}{}",
                ev.resume_at
                    .map(|r| format!("resume at {} ", r.to_rfc3339()))
                    .unwrap_or_default(),
                detail.unwrap_or_default()
            )),
        );
        let _ = self.orchestrator.cast(OrchMsg::Credit {
            name: self.record.name.clone(),
            event: ev,
        });
    }

    fn parse_limit(&self, line: &str) -> (Option<DateTime<Utc>>, bool) {
        // A clock time a few minutes past is the reset that just went by,
        // not the same time tomorrow.
        let grace = chrono::Duration::minutes(10);
        match screen::reset::parse_reset(line, Utc::now() - grace, screen::reset::local_zone()) {
            Ok(r) => (Some(r.at), r.auto_continue),
            Err(e) => {
                tracing::warn!(agent = %self.record.name, error = %e, "cannot read the reset time; using the fallback cycle");
                (None, false)
            }
        }
    }

    /// Arm the timer for the episode's resume instant (re-checked at least
    /// every minute, so a wall-clock jump is noticed).
    fn arm_resume(&mut self) {
        self.episode_gen += 1;
        let Some(ep) = &self.episode else { return };
        let wait = (ep.resume_at - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(60));
        let g = self.episode_gen;
        if let Some(me) = &self.me {
            me.send_after(wait + Duration::from_millis(5), move || {
                AgentMsg::ResumeDue(g)
            });
        }
    }

    /// A usage limit starts, holds, or ends, from the screen.
    fn track_limit(&mut self, obs: &Observation, s: AgentState) {
        let now = Utc::now();
        match s {
            AgentState::Limited => {
                let line = obs.limit_line.clone().unwrap_or_default();
                match &self.episode {
                    None => {
                        let (reset, auto) = self.parse_limit(&line);
                        self.begin_episode(&line, reset, auto, CreditKind::Limited);
                    }
                    Some(ep)
                        if ep.phase == EpPhase::Resuming
                            && (obs.dialog == Some(Dialog::UsageLimitMenu)
                                || self.episode_turn
                                || (!line.is_empty() && line != ep.line)) =>
                    {
                        // After the resume a turn started and the limit is
                        // back (or its menu, or a new limit line): refused again.
                        let (reset, _) = self.parse_limit(&line);
                        self.resume_failed(&line, reset);
                    }
                    Some(_) => {}
                }
            }
            AgentState::Busy => {
                if let Some(ep) = &self.episode {
                    if !self.episode_turn && ep.phase == EpPhase::Resuming {
                        self.log(
                            "credit-working",
                            Some("a turn started after the resume".into()),
                        );
                    }
                    self.episode_turn = true;
                }
            }
            AgentState::Idle if self.episode.is_some() && self.episode_turn => {
                let how = match self.episode.as_ref().map(|e| e.phase) {
                    Some(EpPhase::Resuming) => "a turn ended normally after orc's resume",
                    _ => "a turn ended normally (resumed without orc)",
                };
                self.credit(CreditKind::Recovered, Some(how.into()));
                self.refused_turn.recovered(Instant::now());
                self.episode = None;
                self.episode_gen += 1;
                self.limited_until = None;
                self.note = None;
            }
            _ => {}
        }
        if let Some(ep) = &self.episode {
            self.limited_until = ep.reset;
            let _ = now;
        }
    }

    fn begin_episode(
        &mut self,
        line: &str,
        reset: Option<DateTime<Utc>>,
        auto: bool,
        kind: CreditKind,
    ) {
        if reset.is_none() {
            self.needs_human(
                "limit_without_reset",
                format!("usage limit with no reset time orc can read ({line}); resuming on the fallback cycle"),
            );
        }
        self.refused_turn.limited();
        let ep = Episode::start(line, reset, auto, Utc::now(), &self.credits);
        self.limited_until = ep.reset;
        self.episode = Some(ep);
        self.episode_turn = false;
        self.log("limited", Some(line.to_string()));
        self.credit(kind, Some(line.to_string()));
        self.arm_resume();
    }

    /// The resume did not take: plan the next one, or leave it to a human.
    fn resume_failed(&mut self, line: &str, reset: Option<DateTime<Utc>>) {
        let policy = self.credits.clone();
        let Some(ep) = self.episode.as_mut() else {
            return;
        };
        self.episode_turn = false;
        let gave_up = ep.still_limited(line, reset, Utc::now(), &policy);
        let tries = ep.tries;
        if gave_up {
            self.episode_gen += 1;
            self.needs_human(
                "limit_gave_up",
                format!("still limited after {tries} resumes; `orc credits` shows the history"),
            );
            self.credit(
                CreditKind::GaveUp,
                Some(format!(
                    "still limited after {tries} resumes; a human should look (`orc credits`)"
                )),
            );
        } else {
            self.credit(CreditKind::StillLimited, Some(line.to_string()));
            self.arm_resume();
        }
    }

    /// Queue orc's resume prompt ahead of everything else.
    fn send_resume(&mut self) {
        let Some(ep) = self.episode.as_mut() else {
            return;
        };
        ep.tries += 1;
        let m = Message {
            id: crate::queue::new_id(),
            from: crate::routing::SYSTEM_SENDER.into(),
            to: self.record.name.clone(),
            text: self.credits.resume_message.clone(),
            created: Utc::now(),
            key: Some(format!(
                "resume:{}:{}.{}",
                self.record.name,
                ep.started.timestamp(),
                ep.tries
            )),
        };
        if self.queue.duplicate_of(&m).is_some() {
            return;
        }
        if let Err(e) = self.queue.mark(&m.id, Op::Queued, None, Some(m.clone())) {
            tracing::error!(agent = %self.record.name, error = %e, "cannot journal the resume message");
            return;
        }
        if let Some(k) = &m.key {
            self.queue.keys.insert(k.clone());
        }
        self.queue.pending.push_front(m);
        self.credit(CreditKind::ResumeSent, None);
    }

    /// Context pressure: below the threshold, tell the hub once per dip
    /// (it resets when the level is back well above it, e.g. after /compact).
    fn check_context(&mut self) {
        let Some(left) = self.context_left() else {
            return;
        };
        let threshold = self.context.threshold;
        if left < threshold && !self.context_alerted && self.state == AgentState::Idle {
            self.context_alerted = true;
            self.log("context-low", Some(format!("{left}% left")));
            let _ = self.orchestrator.cast(OrchMsg::ContextLow {
                name: self.record.name.clone(),
                left,
            });
        } else if left >= threshold.saturating_add(10) {
            self.context_alerted = false;
        }
    }

    /// Claude Code's conversation log: a usage-limit record is a second
    /// signal (and the first, if the screen's wording is one orc misses).
    fn check_convlog(&mut self) {
        let Some(tail) = self.convlog.as_mut() else {
            return;
        };
        if self
            .convlog_checked
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            // Look again once the second is up: the last change may be the one.
            self.tick_in(Duration::from_secs(1));
            return;
        }
        self.convlog_checked = Some(Instant::now());
        for r in tail.poll() {
            match &self.episode {
                None => {
                    let (reset, auto) = self.parse_limit(&r.text);
                    self.begin_episode(&r.text, reset, auto, CreditKind::LogSignal);
                }
                // A refusal logged before the resume went in (the CLI's own
                // try at the reset) says nothing about the resume.
                Some(ep)
                    if ep.phase == EpPhase::Resuming
                        && self.resume_typed_at.is_none_or(|t| r.at >= t) =>
                {
                    // The resume was refused: the log says so before the screen does.
                    self.log("credit-log-confirms", Some(r.text.clone()));
                    let (reset, _) = self.parse_limit(&r.text);
                    self.resume_failed(&r.text, reset);
                }
                Some(_) => self.log("credit-log-confirms", Some(r.text.clone())),
            }
        }
    }

    /// The labels orc answers a dialog with by policy, or None to leave it
    /// to a person.
    fn answer_for(&self, d: Dialog, obs: &Observation) -> Option<&'static [&'static str]> {
        let labels = dialogs::labels(d);
        let allowed = match d {
            Dialog::Trust => {
                // Only the agent's own folder.
                obs.trust_folder.as_deref().is_some_and(|folder| {
                    let cwd = self.record.cwd.to_string_lossy();
                    folder == cwd
                        || cwd.ends_with(folder.trim_start_matches('~').trim_start_matches('…'))
                })
            }
            // "No, exit" is the default: accept only if orc itself asked for bypass mode.
            Dialog::BypassWarning => self
                .record
                .command
                .iter()
                .any(|a| a == "--dangerously-skip-permissions"),
            Dialog::UsageLimitMenu | Dialog::ResumeSummary => true,
            // Use the key orc was given for this agent.
            Dialog::ApiKey => self.record.env.contains_key("ANTHROPIC_API_KEY"),
            Dialog::Permission => self.record.auto_approve,
            _ => false,
        };
        (allowed && !labels.is_empty()).then_some(labels)
    }

    /// Answer the dialog on screen by its option's label, if policy says so:
    /// one key per look, the cursor read again after each, Enter only on the
    /// wanted option; the answer counts once the dialog is gone. An answer
    /// that does not take, or a dialog orc leaves to a person, is said once.
    async fn react(&mut self) {
        if self.forced.is_some() || !self.alive {
            return;
        }
        let dialog = self.obs.dialog;
        let want = dialog.and_then(|d| self.answer_for(d, &self.obs));
        if dialog.is_none() {
            self.choice_reported = false;
        } else if want.is_none() && !self.choice_reported && dialog != Some(Dialog::Permission) {
            // Nothing pressed; a person is told once what the dialog asks.
            self.choice_reported = true;
            let line = self.obs.dialog_line.clone().unwrap_or_default();
            self.needs_human(
                "dialog_waiting",
                format!(
                    "a dialog orc has no answer for ({}): \"{line}\"; answer it with `orc attach {}`",
                    dialog_name(dialog),
                    self.record.name
                ),
            );
        }
        let seen = dialog.map(|d| (d, self.obs.menu.as_ref()));
        let settled = self.last_change.elapsed() >= screen::SETTLE;
        match self.answerer.next(Instant::now(), seen, want, settled) {
            dialogs::Step::Nothing => {}
            dialogs::Step::LookAgainIn(d) => self.tick_in(d + Duration::from_millis(10)),
            dialogs::Step::Press { key, detail } => {
                let Some(pane) = self.record.pane.clone() else {
                    return;
                };
                let d = dialog_name(dialog);
                match self.tmux.press(&pane, key).await {
                    Ok(_) => self.log("dialog-key", Some(format!("{d}: {detail}"))),
                    Err(e) => {
                        tracing::warn!(agent = %self.record.name, error = %e, "cannot answer dialog")
                    }
                }
                self.tick_in(dialogs::MOVE_WAIT + Duration::from_millis(10));
            }
            dialogs::Step::Took {
                dialog,
                label,
                keys,
            } => {
                self.log(
                    "dialog-answered",
                    Some(format!(
                        "{}: '{label}' ({keys} key{}), dialog gone",
                        dialog_name(Some(dialog)),
                        if keys == 1 { "" } else { "s" }
                    )),
                );
                // Another dialog may already be waiting.
                self.tick_in(Duration::from_millis(10));
            }
            dialogs::Step::GaveUp { dialog, reason } => {
                let d = dialog_name(Some(dialog));
                self.log("dialog-unanswered", Some(format!("{d}: {reason}")));
                self.note = Some(format!("dialog: {d}: {reason}"));
                crate::changes::bump();
                self.needs_human(
                    "dialog_unanswered",
                    format!(
                        "{d}: {reason}; answer it with `orc attach {}`",
                        self.record.name
                    ),
                );
            }
        }
    }

    /// Look at the screen again when it may have settled.
    fn schedule_tick(&mut self) {
        let wait =
            screen::SETTLE.saturating_sub(self.last_change.elapsed()) + Duration::from_millis(10);
        self.tick_in(wait);
    }

    /// Compare the screen with the last look; a real change (not a redraw of
    /// the same contents) re-classifies it and drives delivery.
    async fn look_at_output(&mut self) {
        self.undigested = false;
        self.digested_at = Instant::now();
        let digest = screen::digest(self.parser.screen());
        if digest != self.digest {
            self.digest = digest;
            self.last_change = Instant::now();
            self.refresh_state();
            self.schedule_tick();
            self.react().await;
            self.drive().await;
        }
    }

    /// Make sure a Tick comes within `d`. One already due sooner is enough; a
    /// later one does not hold this one back (a slow recheck must never delay
    /// a delivery step).
    fn tick_in(&mut self, d: Duration) {
        let at = Instant::now() + d;
        if self.tick_due.is_some_and(|due| due <= at) {
            return;
        }
        self.tick_due = Some(at);
        if let Some(me) = &self.me {
            me.send_after(d, || AgentMsg::Tick);
        }
    }

    /// Open a new window running the agent's command; tag and route its pane.
    /// After a restart, a Claude Code agent started with `--session-id X`
    /// goes on with that conversation (`--resume X`) once the CLI wrote it.
    fn resume_conversation(&mut self) {
        if self.record.restarts == 0 {
            return;
        }
        let Some(i) = self.record.command.iter().position(|a| a == "--session-id") else {
            return;
        };
        let Some(id) = self.record.command.get(i + 1).cloned() else {
            return;
        };
        let home = self
            .record
            .env
            .get("HOME")
            .cloned()
            .or_else(|| std::env::var("HOME").ok());
        let Some(home) = home else { return };
        let file = crate::convlog::project_dir(std::path::Path::new(&home), &self.record.cwd)
            .join(format!("{id}.jsonl"));
        if file.exists() {
            self.record.command[i] = "--resume".into();
            self.log("conversation-resumed", Some(id));
        }
    }

    /// Claude Code's config, prepared before a launch: trust (and the bypass
    /// warning) pre-accepted when the agent's record says so, the folder's
    /// renderer and teammate mode. A failure is logged, never fatal: the
    /// dialogs are then answered on screen.
    fn prepare_launch(&self) {
        if !self.record.pre_trust || !self.record.detector.starts_with("claude") {
            return;
        }
        let Some(files) = crate::claude_config::ConfigFiles::for_env(&self.record.env) else {
            self.log(
                "pre-trust-failed",
                Some("no HOME to find the CLI's config in".into()),
            );
            return;
        };
        let bypass = self
            .record
            .command
            .iter()
            .any(|a| a == "--dangerously-skip-permissions");
        let mut done = Vec::new();
        let mut steps: Vec<(&str, Result<bool, String>)> = vec![(
            "trust",
            crate::claude_config::pre_trust(&files, &self.record.cwd),
        )];
        if bypass {
            steps.push((
                "bypass warning",
                crate::claude_config::skip_bypass_warning(&files),
            ));
        }
        steps.push((
            "folder settings",
            crate::claude_config::folder_settings(&self.record.cwd),
        ));
        for (what, r) in steps {
            match r {
                Ok(true) => done.push(what),
                Ok(false) => {}
                Err(e) => self.log("pre-trust-failed", Some(format!("{what}: {e}"))),
            }
        }
        if !done.is_empty() {
            self.log(
                "pre-trusted",
                Some(format!("{} ({})", done.join(", "), files.state.display())),
            );
        }
    }

    async fn start_pane(&mut self, myself: &ActorRef<AgentMsg>) -> Result<(), TmuxError> {
        self.resume_conversation();
        self.prepare_launch();
        let mut env: Vec<(String, String)> = self.record.env.clone().into_iter().collect();
        env.push(("ORC_AGENT".into(), self.record.name.clone()));
        if self.record.pin_version && !self.record.env.contains_key("DISABLE_AUTOUPDATER") {
            env.push(("DISABLE_AUTOUPDATER".into(), "1".into()));
        }
        // `env -u` drops what a parent Claude Code session left in the
        // server's environment (a nested launch would misbehave).
        let mut command: Vec<String> = vec!["/usr/bin/env".into()];
        for var in crate::claude_config::NESTED_ENV {
            if !self.record.env.contains_key(*var) {
                command.push("-u".into());
                command.push((*var).into());
            }
        }
        command.extend(self.record.command.iter().cloned());
        let window = crate::tmux::NewWindow {
            target: format!("={}:", self.tmux.session),
            name: FormatSafe::new(&self.window_title()),
            cwd: FormatSafe::new(&self.record.cwd.to_string_lossy()),
            env,
            print: "#{pane_id} #{pane_pid} #{window_id}",
            command,
        };
        let out = self.tmux.new_window(&window).await?;
        let line = out.first().cloned().unwrap_or_default();
        let mut it = line.split_whitespace();
        let (pane, pid, window) = (it.next(), it.next(), it.next());
        let (Some(pane), Some(pid), Some(window)) = (pane, pid, window) else {
            return Err(TmuxError::Command {
                command: "new-window".into(),
                message: format!("unexpected reply {line:?}"),
            });
        };
        self.tmux
            .cmd(&[
                "set-option",
                "-p",
                "-t",
                pane,
                "@orc_agent",
                &self.record.name,
            ])
            .await?;
        self.record.pane = Some(pane.to_string());
        self.record.window = Some(window.to_string());
        self.record.pid = pid.parse().ok();
        self.alive = true;
        self.forced = None;
        self.route(myself);
        self.resync().await?;
        self.set_state(AgentState::Starting);
        self.schedule_tick();
        self.started_at = Some(Utc::now());
        // A screen that never settles into anything known is looked at again.
        self.tick_in(STARTUP_GRACE + Duration::from_millis(50));
        self.log("started", Some(self.record.command.join(" ")));
        if !self.alive {
            // Died before orc first looked: no later death notice will count.
            self.exited("exited", None);
        }
        Ok(())
    }

    fn route(&self, myself: &ActorRef<AgentMsg>) {
        if let (Some(p), Some(w)) = (
            self.record.pane.as_deref().and_then(pane_num),
            self.record.window.as_deref().and_then(window_num),
        ) {
            let _ = self.session.cast(SessionMsg::Route {
                pane: p,
                window: w,
                agent: myself.clone(),
            });
        }
    }

    fn unroute(&self) {
        if let Some(p) = self.record.pane.as_deref().and_then(pane_num) {
            let _ = self.session.cast(SessionMsg::Unroute { pane: p });
        }
    }

    /// Rebuild the screen from tmux: size, cursor and visible contents, taken in
    /// one command line so that no output slips in between. Returns false when
    /// the pane no longer exists.
    async fn resync(&mut self) -> Result<bool, TmuxError> {
        let Some(pane) = self.record.pane.clone() else {
            return Ok(false);
        };
        let info = crate::tmux::quote("#{pane_width} #{pane_height} #{cursor_x} #{cursor_y} #{pane_dead} #{pane_pid} #{window_id}");
        let p = crate::tmux::quote(&pane);
        let display = format!("display-message -p -t {p} {info}");
        let capture = format!("capture-pane -p -e -t {p}");
        let mut replies = self
            .tmux
            .client()
            .batch(&[&display, &capture])
            .await
            .into_iter();
        let (first, second) = (
            replies.next().unwrap_or(Err(TmuxError::Closed)),
            replies.next().unwrap_or(Err(TmuxError::Closed)),
        );
        let (info, _) = match first {
            Ok(r) => r,
            Err(TmuxError::Command { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let (capture, seq) = match second {
            Ok(r) => r,
            Err(TmuxError::Command { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let text = info.text();
        let f: Vec<&str> = text.split_whitespace().collect();
        if f.len() < 7 {
            return Ok(false);
        }
        let num = |i: usize| f[i].parse::<u16>().unwrap_or(0);
        let (w, h, cx, cy) = (num(0).max(MIN_SIZE), num(1).max(MIN_SIZE), num(2), num(3));
        self.alive = f[4] == "0";
        self.record.pid = f[5].parse().ok().or(self.record.pid);
        self.record.window = Some(f[6].to_string());
        let parser = screen::seed(
            capture.lines.iter().map(|l| l.as_slice()),
            h,
            w,
            Some((cx, cy)),
        );
        self.parser = parser;
        self.seeded_at = seq;
        let digest = screen::digest(self.parser.screen());
        if digest != self.digest {
            // The same screen again (a poll while control mode is wedged) is
            // no change: the screen keeps settling.
            self.last_change = Instant::now();
        }
        self.digest = digest;
        self.digested_at = Instant::now();
        self.undigested = false;
        Ok(true)
    }

    /// Type a message's text into the composer (no Enter): short single
    /// lines literally, anything else as one bracketed paste from a buffer.
    async fn type_text(&mut self, text: &PaneText) -> Result<(), String> {
        let Some(pane) = self.record.pane.clone() else {
            return Err("the agent has no pane".into());
        };
        let buf = format!("orc-{}", self.record.name);
        self.tmux
            .type_text(&pane, &buf, text)
            .await
            .map_err(|e| e.to_string())
    }

    async fn press_enter(&mut self) -> Result<(), String> {
        let Some(pane) = self.record.pane.clone() else {
            return Err("the agent has no pane".into());
        };
        self.tmux
            .press(&pane, crate::tmux::Key::Enter)
            .await
            .map_err(|e| e.to_string())
    }

    /// The resume message is being typed: from now on a limit menu means a
    /// new refusal, and a finished turn means it works again.
    fn resume_started(&mut self) {
        let Some(ep) = self.episode.as_mut() else {
            return;
        };
        ep.phase = EpPhase::Resuming;
        self.resume_typed_at = Some(Utc::now());
        self.episode_turn = false;
        self.episode_gen += 1;
        let g = self.episode_gen;
        if let Some(me) = &self.me {
            me.send_after(self.credits.verify, move || AgentMsg::VerifyResume(g));
        }
    }

    /// The resume message could not be typed or submitted: count it as a
    /// try that found the agent still limited.
    fn resume_delivered(&mut self, ok: bool) {
        let Some(ep) = self.episode.as_ref() else {
            return;
        };
        if !ok && ep.phase == EpPhase::Resuming {
            let line = ep.line.clone();
            self.resume_failed(&line, None);
        }
    }

    fn finish(&mut self, id: &str, outcome: Result<(), String>) {
        crate::changes::bump();
        let resume = self
            .queue
            .inflight
            .as_ref()
            .map(|(m, _)| m)
            .into_iter()
            .chain(self.queue.pending.iter())
            .any(|m| m.id == id && m.is_resume())
            || self.last_resume_id.as_deref() == Some(id);
        if resume {
            self.resume_delivered(outcome.is_ok());
        }
        if outcome.is_err() {
            self.refused_turn.failed(id);
        }
        let (op, reason) = match &outcome {
            Ok(()) => (Op::Delivered, None),
            Err(r) => (Op::Failed, Some(r.clone())),
        };
        if let Err(e) = self.queue.mark(id, op, reason.clone(), None) {
            tracing::error!(agent = %self.record.name, error = %e, "cannot journal message status");
        }
        self.log(
            if outcome.is_ok() {
                "message-delivered"
            } else {
                "message-failed"
            },
            Some(match &reason {
                Some(r) => format!("{id}: {r}"),
                None => id.to_string(),
            }),
        );
        if let Some(w) = self.waiters.remove(id) {
            let _ = w.send(match outcome {
                Ok(()) => Response::Delivered { id: id.to_string() },
                Err(r) => Response::Error {
                    message: format!("message {id} to {} failed: {r}", self.record.name),
                },
            });
        }
    }

    /// Settle messages a crash caught mid-delivery, from the last journaled
    /// step and the composer (the CLI kept running while orc was down):
    /// - text in the composer: it is ours, typed but not submitted: press Enter;
    /// - composer empty after `entering`: Enter went through: delivered;
    /// - composer empty before that: it never got typed: queue it again.
    ///
    /// Only one message is ever in flight, so at most one is ambiguous.
    fn resolve_ambiguous(&mut self) {
        for (m, op) in std::mem::take(&mut self.ambiguous).into_iter().rev() {
            let composer_busy = self.obs.composer.as_deref().is_some_and(|c| !c.is_empty());
            let (what, outcome) = match (composer_busy, op) {
                (true, _) if self.queue.inflight.is_none() => {
                    ("in the composer; pressing Enter", 0)
                }
                (false, Op::Entering) => ("submitted before the restart", 1),
                _ => ("never typed; queued again", 2),
            };
            self.log("message-recovered", Some(format!("{}: {what}", m.id)));
            match outcome {
                0 => self.queue.inflight = Some((m, Phase::Typed { at: Instant::now() })),
                1 => {
                    let id = m.id.clone();
                    self.finish(&id, Ok(()));
                }
                _ => {
                    let _ = self.queue.mark(
                        &m.id,
                        Op::Queued,
                        Some("requeued after a restart".into()),
                        None,
                    );
                    self.queue.pending.push_front(m);
                }
            }
        }
    }

    /// One step of delivery, driven by the screen. Called after every
    /// re-classification; re-arms a tick while a message is in flight.
    async fn drive(&mut self) {
        if !self.ambiguous.is_empty() && self.alive && self.state != AgentState::Starting {
            self.resolve_ambiguous();
        }
        for _ in 0..4 {
            let phase = self.queue.inflight.as_ref().map(|(_, p)| *p);
            // A limited agent takes only orc's resume prompt; everything else
            // waits until it works again.
            let head_resume = self.queue.pending.front().is_some_and(|m| m.is_resume());
            let holding = self
                .episode
                .as_ref()
                .is_some_and(|e| e.phase != EpPhase::Resuming);
            let state = if !self.alive {
                AgentState::Exited
            } else if phase.is_none()
                && head_resume
                && matches!(self.state, AgentState::Limited | AgentState::Idle)
                && self.obs.dialog.is_none()
            {
                AgentState::Idle
            } else if phase.is_none() && holding {
                AgentState::Limited
            } else {
                self.state
            };
            let step = next_step(
                phase,
                !self.queue.pending.is_empty(),
                state,
                self.obs.dialog.is_some(),
                self.table.is_some(),
                self.obs.composer.as_deref(),
                self.last_change.elapsed(),
            );
            match step {
                Step::Wait => break,
                Step::Type => {
                    let Some(m) = self.queue.pending.pop_front() else {
                        break;
                    };
                    if let Err(e) = self.queue.mark(&m.id, Op::Delivering, None, None) {
                        tracing::error!(agent = %self.record.name, error = %e, "cannot journal; holding the message");
                        self.queue.pending.push_front(m);
                        break;
                    }
                    // Every text orc types, whatever its source, passes here.
                    let text = PaneText::new(&m.text);
                    let id = m.id.clone();
                    // Counted from the typing: a limit can show before the
                    // composer clears (its menu holds the delivery).
                    self.refused_turn.delivered(&m, Instant::now());
                    if m.is_resume() {
                        self.last_resume_id = Some(id.clone());
                        self.resume_started();
                    }
                    self.queue.inflight = Some((m, Phase::Typed { at: Instant::now() }));
                    match self.type_text(&text).await {
                        Ok(()) => {
                            let _ = self.queue.mark(&id, Op::Typed, None, None);
                            crash_point("typed");
                        }
                        Err(e) => {
                            self.queue.inflight = None;
                            self.finish(&id, Err(e));
                        }
                    }
                    break; // let the screen show it
                }
                Step::PressEnter => {
                    let enters = match phase {
                        Some(Phase::Entered { enters, .. }) => enters + 1,
                        _ => 1,
                    };
                    if let Some((m, _)) = &self.queue.inflight {
                        if let Err(e) = self.queue.mark(&m.id, Op::Entering, None, None) {
                            tracing::error!(agent = %self.record.name, error = %e, "cannot journal; not pressing Enter yet");
                            break;
                        }
                    }
                    crash_point("entering");
                    match self.press_enter().await {
                        Ok(()) => {
                            crash_point("entered");
                            if let Some((_, p)) = self.queue.inflight.as_mut() {
                                *p = Phase::Entered {
                                    at: Instant::now(),
                                    enters,
                                };
                            }
                        }
                        Err(e) => {
                            if let Some((m, _)) = self.queue.inflight.take() {
                                self.finish(&m.id, Err(e));
                            }
                        }
                    }
                    break;
                }
                Step::Delivered => {
                    if let Some((m, _)) = self.queue.inflight.take() {
                        self.finish(&m.id, Ok(()));
                    }
                }
                Step::Failed(reason) => {
                    if let Some((m, _)) = self.queue.inflight.take() {
                        self.finish(&m.id, Err(reason));
                    }
                }
            }
        }
        if self.queue.inflight.is_some()
            || (!self.queue.pending.is_empty()
                && (self.state == AgentState::Idle
                    || self.queue.pending.front().is_some_and(|m| m.is_resume())))
        {
            self.tick_in(Duration::from_millis(60));
        }
    }

    fn row(&mut self) -> PsRow {
        self.refresh_state();
        let state = crate::credits::shown_state(self.episode.as_ref(), self.state);
        let note = match (&self.note, state != self.state) {
            (None, true) => Some("at its prompt; messages wait for the limit's resume".into()),
            (n, _) => n.clone(),
        };
        PsRow {
            name: self.record.name.clone(),
            role: self.record.role.clone(),
            project: self.record.project.clone(),
            profile: self.record.profile.clone(),
            pane: self.record.pane.clone(),
            pid: self.record.pid,
            state,
            since: self.since,
            restarts: self.record.restarts,
            limited_until: self.limited_until,
            queue: self.queue.len() as u32,
            last_activity: self.last_activity,
            cwd: self.record.cwd.display().to_string(),
            note,
            report: None, // the orchestrator owns reports
            context_left: self.context_left(),
            last_commit: None,
            uncommitted: None,
        }
    }

    /// The pane's process is gone: keep its screen, tell the orchestrator.
    fn exited(&mut self, reason: &str, status: Option<i32>) {
        if self.forced.is_some() && !self.alive {
            return; // already reported
        }
        self.alive = false;
        self.save_screen(reason);
        self.log(reason, status.map(|s| format!("status {s}")));
        self.forced = Some(AgentState::Restarting);
        self.refresh_state();
        self.note = Some(match status {
            Some(s) => format!("{reason} (status {s})"),
            None => reason.to_string(),
        });
        let _ = self.orchestrator.cast(OrchMsg::Exited {
            name: self.record.name.clone(),
        });
    }
}

impl Actor for AgentActor {
    type Msg = AgentMsg;
    type State = AgentState_;
    type Arguments = AgentArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: AgentArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let (queue, ambiguous) = Queue::load(args.paths.queue_file(&args.record.name));
        let mut st = AgentState_ {
            record: args.record,
            tmux: args.tmux,
            session: args.session,
            orchestrator: args.orchestrator,
            paths: args.paths,
            parser: vt100::Parser::new(40, 120, 0),
            seeded_at: 0,
            alive: false,
            forced: None,
            state: AgentState::Starting,
            since: Utc::now(),
            last_change: Instant::now(),
            digested_at: Instant::now(),
            undigested: false,
            digest: 0,
            last_activity: None,
            note: None,
            tick_due: None,
            table: None,
            obs: Observation::default(),
            answerer: dialogs::Answerer::default(),
            choice_reported: false,
            limited_until: None,
            unplaced_logged: false,
            queue,
            waiters: Default::default(),
            ambiguous,
            turn_done_at: None,
            in_turn: false,
            me: Some(myself.clone()),
            credits: args.credits,
            context: args.context,
            episode: None,
            episode_gen: 0,
            episode_turn: false,
            convlog: None,
            convlog_checked: None,
            last_resume_id: None,
            resume_typed_at: None,
            started_at: Some(Utc::now()),
            context_alerted: false,
            waiting_gen: 0,
            hook_seq: 0,
            sig: Default::default(),
            notify_permission_after: args.notify_permission_after,
            notify_choice_after: args.notify_choice_after,
            refused_turn: Default::default(),
        };
        if st.record.detector.starts_with("claude") {
            let home = st
                .record
                .env
                .get("HOME")
                .cloned()
                .or_else(|| std::env::var("HOME").ok());
            if let Some(home) = home {
                let dir = crate::convlog::project_dir(std::path::Path::new(&home), &st.record.cwd);
                st.convlog = Some(crate::convlog::Tail::new(dir, Utc::now()));
            }
        }
        st.table = table_for(&st.record.detector);
        if st.record.failed {
            st.forced = Some(AgentState::Failed);
        }
        if !args.fresh && st.record.pane.is_some() {
            // Adopt the pane we had: no restart, same pane id and pid.
            st.route(&myself);
            if st.resync().await? {
                st.log("adopted", None);
                st.schedule_tick();
                if !st.alive && !st.record.failed {
                    st.exited("died while orc was away", None);
                }
                return Ok(st);
            }
            st.unroute();
            st.record.pane = None;
        }
        if st.record.failed {
            return Ok(st);
        }
        if args.hold {
            st.record.pane = None;
            st.forced = Some(AgentState::Restarting);
            st.state = AgentState::Restarting;
            st.note = Some("its pane is gone; waiting its turn to restart".into());
            return Ok(st);
        }
        if args.fresh || st.record.pane.is_none() {
            st.start_pane(&myself).await?;
            let _ = st.orchestrator.cast(OrchMsg::Updated(st.record.clone()));
        }
        Ok(st)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            AgentMsg::Output { seq, data } => {
                if seq > st.seeded_at {
                    if !screen::feed(&mut st.parser, &data) {
                        tracing::warn!(agent = %st.record.name, "the terminal emulator choked on the pane's output; rebuilding the screen from tmux");
                        let _ = myself.cast(AgentMsg::Resync);
                        return Ok(());
                    }
                    st.last_activity = Some(Utc::now());
                    st.undigested = true;
                    let since = st.digested_at.elapsed();
                    if since >= DIGEST_EVERY {
                        st.look_at_output().await;
                    } else {
                        // Mid-burst: look once the burst's slot is over.
                        st.tick_in(DIGEST_EVERY - since);
                    }
                }
            }
            AgentMsg::ResumeDue(g) => {
                if g != st.episode_gen {
                    return Ok(());
                }
                let Some(ep) = &st.episode else { return Ok(()) };
                if ep.phase != EpPhase::Waiting {
                    return Ok(());
                }
                if Utc::now() < ep.resume_at {
                    st.arm_resume(); // woke early, or the clock moved back
                    return Ok(());
                }
                st.refresh_state();
                match st.state {
                    // Still showing the limit (or idle after a log-only signal):
                    // resume it. If the CLI went on by itself, it is busy and
                    // is left alone.
                    AgentState::Limited | AgentState::Idle => {
                        st.send_resume();
                        st.drive().await;
                    }
                    _ => {
                        // Busy, in a dialog, or gone: look again shortly.
                        st.episode_gen += 1;
                        let g = st.episode_gen;
                        myself.send_after(Duration::from_secs(10), move || AgentMsg::ResumeDue(g));
                    }
                }
            }
            AgentMsg::VerifyResume(g) => {
                if g != st.episode_gen {
                    return Ok(());
                }
                st.refresh_state();
                let resuming = st
                    .episode
                    .as_ref()
                    .is_some_and(|e| e.phase == EpPhase::Resuming);
                if resuming && st.state == AgentState::Limited {
                    let line = st.obs.limit_line.clone().unwrap_or_default();
                    let (reset, _) = st.parse_limit(&line);
                    st.resume_failed(&line, reset);
                } else if resuming && st.state == AgentState::Busy {
                    // Working on it: check again later.
                    st.episode_gen += 1;
                    let g = st.episode_gen;
                    myself.send_after(st.credits.verify, move || AgentMsg::VerifyResume(g));
                }
            }
            AgentMsg::Hook { event, payload } => {
                let sid = payload["session_id"].as_str().map(String::from);
                st.log(
                    "hook",
                    Some(format!(
                        "{event}{}",
                        sid.as_deref()
                            .map(|s| format!(" session {s}"))
                            .unwrap_or_default()
                    )),
                );
                if event == "SessionStart" {
                    if let Some(s) = sid {
                        if st.record.session_id.as_deref() != Some(s.as_str()) {
                            st.record.session_id = Some(s);
                            let _ = st.orchestrator.cast(OrchMsg::Updated(st.record.clone()));
                        }
                    }
                }
                st.on_hook(&event, &payload);
                // The screen decides; a disagreement that outlasts a grace
                // period is logged.
                st.hook_seq += 1;
                let g = st.hook_seq;
                let ev = signals::check_key(&event, &payload);
                myself.send_after(Duration::from_secs(3), move || AgentMsg::HookCheck(ev, g));
            }
            AgentMsg::HookCheck(event, g) => {
                st.refresh_state();
                let expect = signals::expected_states(&event);
                if g == st.hook_seq && !expect.is_empty() && !expect.contains(&st.state) {
                    st.log(
                        "hook-disagrees",
                        Some(format!(
                            "{event} hook, but the screen shows {} 3 s later; going by the screen",
                            st.state.as_str()
                        )),
                    );
                }
            }
            AgentMsg::Status(report) => st.on_status(report),
            AgentMsg::StillWaiting(g) => {
                st.refresh_state();
                if g == st.waiting_gen && st.state == AgentState::AwaitingChoice {
                    let secs = st
                        .since
                        .signed_duration_since(Utc::now())
                        .num_seconds()
                        .unsigned_abs();
                    let line = st.obs.dialog_line.clone().unwrap_or_default();
                    st.needs_human(
                        "choice_waiting",
                        format!(
                            "{} has waited {secs} s for an answer to \"{line}\" ({}): answer it with `orc attach {}`",
                            st.record.name,
                            dialog_name(st.obs.dialog),
                            st.record.name
                        ),
                    );
                } else if g == st.waiting_gen && st.state == AgentState::AwaitingPermission {
                    let secs = st
                        .since
                        .signed_duration_since(Utc::now())
                        .num_seconds()
                        .unsigned_abs();
                    st.needs_human(
                        "permission_waiting",
                        format!("a permission prompt has waited {secs} s for an answer: `orc attach {}`", st.record.name),
                    );
                }
            }
            AgentMsg::Rename(title, reply) => {
                let r = match st.record.window.clone() {
                    Some(w) => st
                        .tmux
                        .rename_window(&w, &FormatSafe::new(&title))
                        .await
                        .map_err(|e| e.to_string()),
                    None => Ok(()),
                };
                if r.is_ok() {
                    st.record.title = Some(title.clone());
                    st.log("renamed", Some(title));
                    let _ = st.orchestrator.cast(OrchMsg::Updated(st.record.clone()));
                }
                let _ = reply.send(r);
            }
            AgentMsg::Panic => panic!("agent {} panicked on request (test hook)", st.record.name),
            AgentMsg::Tick => {
                if st
                    .tick_due
                    .is_some_and(|due| due <= Instant::now() + Duration::from_millis(5))
                {
                    st.tick_due = None;
                }
                if st.undigested {
                    st.look_at_output().await;
                }
                st.refresh_state();
                st.check_convlog();
                st.check_context();
                if st.last_change.elapsed() < screen::SETTLE {
                    st.schedule_tick();
                }
                st.react().await;
                st.drive().await;
            }
            AgentMsg::PaneDied { status } => {
                if st.alive {
                    // Read the final screen before reporting.
                    let _ = st.resync().await;
                    st.alive = false;
                }
                // Reported once: `exited` ignores a death it already told
                // (a process that died before the first look is one too).
                st.exited("exited", status);
            }
            AgentMsg::PaneGone => {
                st.unroute();
                if st.alive || st.forced.is_none() {
                    st.exited("pane killed", None);
                }
                st.record.pane = None;
                st.record.window = None;
            }
            AgentMsg::Resync => match st.resync().await {
                Ok(true) => {
                    if !st.alive {
                        st.exited("exited", None);
                    } else {
                        st.schedule_tick();
                    }
                }
                Ok(false) => {
                    if st.record.pane.is_some() {
                        st.unroute();
                        st.exited("pane gone", None);
                        st.record.pane = None;
                    }
                }
                Err(e) => tracing::warn!(agent = %st.record.name, error = %e, "resync failed"),
            },
            AgentMsg::Respawn { manual } => {
                if let Some(pane) = st.record.pane.clone() {
                    // Never respawn-pane (it can crash tmux 3.3a): kill and open anew.
                    if st.alive {
                        st.save_screen("restart");
                    }
                    st.save_transcript(if manual { "restart" } else { "crash" })
                        .await;
                    st.unroute();
                    let _ = st.tmux.cmd(&["kill-pane", "-t", &pane]).await;
                }
                st.record.pane = None;
                st.record.restarts += 1;
                st.record.failed = false;
                st.forced = None;
                st.note = manual.then(|| "restarted by request".to_string());
                match st.start_pane(&myself).await {
                    Ok(()) => st.log(
                        "restarted",
                        Some(format!("restart #{}", st.record.restarts)),
                    ),
                    Err(e) => {
                        st.note = Some(format!("restart failed: {e}"));
                        st.log("restart-failed", Some(e.to_string()));
                        st.forced = Some(AgentState::Restarting);
                        let _ = st.orchestrator.cast(OrchMsg::Exited {
                            name: st.record.name.clone(),
                        });
                    }
                }
                let _ = st.orchestrator.cast(OrchMsg::Updated(st.record.clone()));
            }
            AgentMsg::MarkFailed(why) => {
                st.record.failed = true;
                st.forced = Some(AgentState::Failed);
                st.refresh_state();
                st.note = Some(why.clone());
                st.log("failed", Some(why));
                let _ = st.orchestrator.cast(OrchMsg::Updated(st.record.clone()));
            }
            AgentMsg::Snapshot(reply) => {
                let _ = reply.send(st.row());
            }
            AgentMsg::Enqueue(m, wait, reply) => {
                if let Some(earlier) = st.refused_turn.counts_as(&m, Instant::now()) {
                    // Its job's last firing met the limit; the CLI sends that
                    // one again itself: it is this period's check-in.
                    st.log(
                        "checkin-counted",
                        Some(format!(
                            "{} ({}): {earlier} went into the turn the limit refused",
                            m.id,
                            m.key.as_deref().unwrap_or("")
                        )),
                    );
                    let _ = reply.send(Response::Duplicate { id: earlier });
                    return Ok(());
                }
                if let Some(existing) = st.queue.duplicate_of(&m) {
                    st.log(
                        "message-duplicate",
                        Some(format!(
                            "{} ({}): already have {existing}",
                            m.id,
                            m.key.as_deref().unwrap_or("")
                        )),
                    );
                    let _ = reply.send(Response::Duplicate { id: existing });
                    return Ok(());
                }
                if let Some(k) = &m.key {
                    st.queue.keys.insert(k.clone());
                }
                let id = m.id.clone();
                match self_queue_push(st, m) {
                    Ok(()) => {
                        if wait {
                            st.waiters.insert(id, reply);
                        } else {
                            let _ = reply.send(Response::Queued { id });
                        }
                        st.refresh_state();
                        st.drive().await;
                    }
                    Err(e) => {
                        let _ = reply.send(Response::Error {
                            message: format!("could not queue the message: {e}"),
                        });
                    }
                }
            }
            AgentMsg::Screen(reply) => {
                let (rows, cols) = st.parser.screen().size();
                let _ = reply.send((rows, cols, screen::plain(st.parser.screen())));
            }
            AgentMsg::Kill(reply) => {
                st.unroute();
                if let Some(pane) = st.record.pane.clone() {
                    st.save_screen("killed");
                    st.save_transcript("killed").await;
                    let _ = st.tmux.cmd(&["kill-pane", "-t", &pane]).await;
                }
                st.log("killed", None);
                let _ = reply.send(());
                myself.stop(Some("killed".into()));
            }
        }
        Ok(())
    }
}

/// Journal a message as queued, then hold it.
fn self_queue_push(st: &mut AgentState_, m: Message) -> std::io::Result<()> {
    crate::changes::bump();
    st.queue.mark(&m.id, Op::Queued, None, Some(m.clone()))?;
    st.queue.pending.push_back(m);
    Ok(())
}

/// Test hook: with `ORC_TEST_HOOKS=1` and `ORC_TEST_CRASH_AT=<step>:<n>`, the
/// supervisor aborts right after the n-th message reaches `<step>` (`typed`:
/// text in the composer, journaled; `entering`: journaled, Enter not pressed
/// yet; `entered`: Enter pressed). Lets tests crash at exact points of a
/// delivery.
fn crash_point(step: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEEN: AtomicU32 = AtomicU32::new(0);
    if std::env::var("ORC_TEST_HOOKS").as_deref() != Ok("1") {
        return;
    }
    let Ok(spec) = std::env::var("ORC_TEST_CRASH_AT") else {
        return;
    };
    let Some((at, n)) = spec.split_once(':') else {
        return;
    };
    if at == step && n.parse::<u32>().ok() == Some(SEEN.fetch_add(1, Ordering::SeqCst) + 1) {
        eprintln!("orc: test hook: aborting at {spec}");
        std::process::abort();
    }
}

/// Where an agent's transcripts go: `<state>/projects/<project|_>/logs/transcripts/<agent>/`.
pub fn transcript_dir(paths: &Paths, project: Option<&str>, agent: &str) -> std::path::PathBuf {
    paths
        .state
        .join("projects")
        .join(project.unwrap_or("_"))
        .join("logs")
        .join("transcripts")
        .join(agent)
}

/// The newest transcript of an agent, in any project.
pub fn latest_transcript(paths: &Paths, agent: &str) -> Option<std::path::PathBuf> {
    let projects = std::fs::read_dir(paths.state.join("projects")).ok()?;
    projects
        .flatten()
        .filter_map(|p| std::fs::read_dir(p.path().join("logs/transcripts").join(agent)).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .filter(|p| paths.inside(p).is_ok())
        .max_by_key(|p| p.file_name().map(|n| n.to_os_string()))
}
