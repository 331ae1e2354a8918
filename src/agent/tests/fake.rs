//! A pane without tmux for the agent's unit tests: [`FakePane`] implements
//! [`PaneOps`], records every call, and hosts a small model of orc's own
//! simulated CLI (`orc sim-agent`, see `src/sim.rs`): the same frames
//! (welcome line, transcript, composer between rules, footer), the same
//! dialogs (trust with the cursor on "No, exit", permission, the usage-limit
//! menu), arrow keys and Enter, a turn that works for a while and replies.
//! What it draws goes through a vt100 parser, as tmux's copy of a pane does,
//! so snapshots are the screen the agent would capture.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::scheduler::Clock;
use crate::tmux::pane::{Launch, Opened, PaneEvent, PaneFuture, PaneOps, PaneSink, Snapshot};
use crate::tmux::{FormatSafe, Key, PaneText};

/// One call the agent made to its pane.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Open(Vec<String>),
    Type(String),
    Press(Key),
    Rename(String),
    Kill(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Idle,
    Busy {
        until: Instant,
    },
    Permission,
    Limit,
    Trust,
    /// A screen no detector rule places (a CLI's new UI).
    Strange,
}

impl Mode {
    fn options(&self) -> &'static [&'static str] {
        match self {
            Mode::Permission => &["Yes", "No, and tell the agent what to do differently (esc)"],
            Mode::Limit => &["Stop and wait for limit to reset", "Upgrade your plan"],
            Mode::Trust => &["No, exit", "Yes, I trust this folder"],
            _ => &[],
        }
    }
}

/// How the fake CLI behaves; set before the agent opens the pane.
#[derive(Clone)]
pub struct Script {
    /// The first screen after a launch.
    pub start: Mode,
    /// The folder the trust dialog names.
    pub trust_folder: String,
    /// Dialog options without digits (Claude Code 2.1.332).
    pub arrow_menus: bool,
    /// Dialogs ignore every key.
    pub deaf: bool,
    /// How long a turn works.
    pub work: Duration,
    /// The process is dead before the agent first looks.
    pub die_on_open: bool,
    /// Every message submitted before then is refused with a usage limit
    /// naming this reset.
    pub limited_until: Option<DateTime<Utc>>,
    /// Messages that bring up a permission dialog.
    pub permission_cue: &'static str,
    /// The footer shows this much context left.
    pub context: Option<u8>,
    /// Typing into the pane fails (tmux refuses).
    pub fail_typing: bool,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            start: Mode::Idle,
            trust_folder: String::new(),
            arrow_menus: true,
            deaf: false,
            work: Duration::from_millis(800),
            die_on_open: false,
            limited_until: None,
            permission_cue: "needs-permission",
            context: None,
            fail_typing: false,
        }
    }
}

struct Inner {
    script: Script,
    mode: Mode,
    input: String,
    transcript: Vec<String>,
    cursor: usize,
    banner: String,
    calls: Vec<Call>,
    sink: Option<PaneSink>,
    panes: u32,
    pane: Option<String>,
    dead: bool,
    seq: u64,
    vt: vt100::Parser,
    /// What reached the CLI as submitted messages.
    submitted: Vec<String>,
}

/// The fake pane; clones share one state.
#[derive(Clone)]
pub struct FakePane {
    inner: Arc<Mutex<Inner>>,
    clock: Arc<dyn Clock>,
}

const ROWS: u16 = 40;
const COLS: u16 = 120;

impl FakePane {
    pub fn new(script: Script, clock: Arc<dyn Clock>) -> Self {
        let mode = script.start;
        Self {
            inner: Arc::new(Mutex::new(Inner {
                script,
                mode,
                input: String::new(),
                transcript: vec![],
                cursor: 0,
                banner: String::new(),
                calls: vec![],
                sink: None,
                panes: 0,
                pane: None,
                dead: false,
                seq: 0,
                vt: vt100::Parser::new(ROWS, COLS, 0),
                submitted: vec![],
            })),
            clock,
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }
    pub fn typed(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Type(t) => Some(t),
                _ => None,
            })
            .collect()
    }
    pub fn keys(&self) -> Vec<Key> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Press(k) => Some(k),
                _ => None,
            })
            .collect()
    }
    pub fn opens(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| matches!(c, Call::Open(_)))
            .count()
    }
    /// The messages the CLI took as submitted prompts.
    pub fn submitted(&self) -> Vec<String> {
        self.inner.lock().unwrap().submitted.clone()
    }
    pub fn mode(&self) -> Mode {
        self.inner.lock().unwrap().mode
    }
    /// Change the script (e.g. lift a limit) from now on.
    pub fn script(&self, f: impl FnOnce(&mut Script)) {
        f(&mut self.inner.lock().unwrap().script)
    }
    /// Put text in the composer as if someone typed it (no agent call).
    pub fn set_composer(&self, text: &str) {
        self.inner.lock().unwrap().input = text.to_string();
        self.redraw();
    }
    /// Lines of the transcript that contain `from` are drawn as `to` from
    /// now on (a restarted CLI replays its record in other words).
    pub fn reword(&self, from: &str, to: &str) {
        {
            let mut i = self.inner.lock().unwrap();
            for l in i.transcript.iter_mut() {
                if l.contains(from) {
                    *l = to.to_string();
                }
            }
        }
        self.redraw();
    }
    /// The CLI starts a turn by itself (it goes on after a limit lifts).
    pub fn go_on(&self, text: &str) {
        self.inner.lock().unwrap().input = text.to_string();
        self.key(Key::Enter);
    }
    /// The process dies (the pane stays): a death notice, as tmux sends.
    pub fn die(&self, status: Option<i32>) {
        let sink = {
            let mut i = self.inner.lock().unwrap();
            i.dead = true;
            i.sink.clone()
        };
        if let Some(s) = sink {
            s(PaneEvent::Died { status });
        }
    }
    /// The process clears its screen, prints `words` and dies with `status`.
    pub fn die_saying(&self, status: Option<i32>, words: &str) {
        let (sink, data, seq) = {
            let mut i = self.inner.lock().unwrap();
            let data = format!("\x1b[H\x1b[2J{words}\r\n").into_bytes();
            i.vt.process(&data);
            i.seq += 1;
            (i.sink.clone(), data, i.seq)
        };
        if let Some(s) = sink {
            s(PaneEvent::Output { seq, data });
        }
        self.die(status);
    }
    /// The pane is killed from outside.
    pub fn vanish(&self) {
        let sink = {
            let mut i = self.inner.lock().unwrap();
            i.pane = None;
            i.sink.take()
        };
        if let Some(s) = sink {
            s(PaneEvent::Gone);
        }
    }
    /// A pane that was there before the agent started (for adoption).
    pub fn existing(&self, dead: bool) -> (String, String) {
        let mut i = self.inner.lock().unwrap();
        i.panes += 1;
        let n = i.panes;
        i.pane = Some(format!("%{n}"));
        i.dead = dead;
        drop(i);
        self.redraw();
        (format!("%{n}"), format!("@{n}"))
    }

    /// Draw the current frame and send it as output.
    pub fn redraw(&self) {
        let (sink, data, seq) = {
            let mut i = self.inner.lock().unwrap();
            let data = frame(&i).into_bytes();
            i.vt.process(&data);
            i.seq += 1;
            (i.sink.clone(), data, i.seq)
        };
        if let Some(s) = sink {
            s(PaneEvent::Output { seq, data });
        }
    }

    fn key(&self, key: Key) {
        let mut i = self.inner.lock().unwrap();
        if i.dead {
            return;
        }
        match i.mode {
            Mode::Strange => {}
            Mode::Permission | Mode::Limit | Mode::Trust => {
                if !i.script.deaf {
                    menu_key(&mut i, key);
                }
            }
            Mode::Idle | Mode::Busy { .. } => {
                if key == Key::Enter {
                    let text = std::mem::take(&mut i.input);
                    if !text.trim().is_empty() {
                        let now = self.clock.now();
                        start_turn(&mut i, text, now);
                    }
                }
            }
        }
        let busy = matches!(i.mode, Mode::Busy { .. });
        let work = i.script.work;
        drop(i);
        self.redraw();
        if busy && key == Key::Enter {
            let me = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(work).await;
                me.finish_turn();
            });
        }
    }

    fn finish_turn(&self) {
        {
            let mut i = self.inner.lock().unwrap();
            let Mode::Busy { .. } = i.mode else { return };
            let last = i.submitted.last().cloned().unwrap_or_default();
            i.transcript.push(format!("● Done: {}", first_line(&last)));
            i.transcript.push("✻ Worked for 1s".into());
            i.transcript.push(String::new());
            i.mode = Mode::Idle;
        }
        self.redraw();
    }
}

fn first_line(t: &str) -> String {
    t.lines().next().unwrap_or("").chars().take(60).collect()
}

fn start_turn(i: &mut Inner, text: String, now: DateTime<Utc>) {
    i.transcript.push(format!("> {}", first_line(&text)));
    i.submitted.push(text.clone());
    if let Some(until) = i.script.limited_until.filter(|u| now < *u) {
        i.banner = format!("Claude AI usage limit reached|{}", until.timestamp());
        i.mode = Mode::Limit;
        return;
    }
    if text.contains(i.script.permission_cue) {
        i.mode = Mode::Permission;
        return;
    }
    i.mode = Mode::Busy {
        until: Instant::now() + i.script.work,
    };
}

fn menu_key(i: &mut Inner, key: Key) {
    let n = i.mode.options().len();
    let pick = match key {
        Key::Up => {
            i.cursor = i.cursor.saturating_sub(1);
            return;
        }
        Key::Down => {
            i.cursor = (i.cursor + 1).min(n.saturating_sub(1));
            return;
        }
        Key::Enter => i.cursor,
        Key::Digit(d) if !i.script.arrow_menus && (1..=n as u8).contains(&d.get()) => {
            d.get() as usize - 1
        }
        _ => return,
    };
    i.cursor = 0;
    match (i.mode, pick) {
        (Mode::Trust, 0) => i.dead = true, // "No, exit"
        (Mode::Trust, _) => i.mode = Mode::Idle,
        (Mode::Permission, 0) => {
            i.transcript.push("● Ran the command.".into());
            i.mode = Mode::Idle;
        }
        (Mode::Permission, _) => {
            i.transcript.push("  ⎿  Declined.".into());
            i.mode = Mode::Idle;
        }
        (Mode::Limit, 0) => {
            let b = i.banner.clone();
            i.transcript.push(format!("  ⎿  {b}"));
            i.mode = Mode::Idle;
        }
        _ => {}
    }
}

fn option_lines(i: &Inner) -> Vec<String> {
    i.mode
        .options()
        .iter()
        .enumerate()
        .map(|(n, o)| {
            let mark = if n == i.cursor { "❯ " } else { "  " };
            if i.script.arrow_menus {
                format!("{mark}{o}")
            } else {
                format!("{mark}{}. {o}", n + 1)
            }
        })
        .collect()
}

/// The sim's frame for the current mode (see `Sim::render`).
fn frame(i: &Inner) -> String {
    let (rows, cols) = (ROWS as usize, COLS as usize);
    let rule = "─".repeat(cols);
    let mut s = String::from("\x1b[H\x1b[2J");
    if i.mode == Mode::Strange {
        s.push_str("=== orc-has-no-rule-for-this ===\r\n\r\n>>> ");
        return s;
    }
    if i.mode == Mode::Trust {
        let mut lines = vec![
            rule.clone(),
            " Accessing workspace:".to_string(),
            String::new(),
            format!(" {}", i.script.trust_folder),
            String::new(),
            " Quick safety check: Is this a project you created or one you trust?".into(),
            String::new(),
        ];
        lines.extend(option_lines(i).into_iter().map(|l| format!(" {l}")));
        lines.extend([String::new(), " Enter to confirm · Esc to cancel".into()]);
        s.push_str(&lines.join("\r\n"));
        return s;
    }
    let mut body = vec![
        "✻ Welcome to sim-agent `fake` (orc's simulated agent CLI)".to_string(),
        String::new(),
    ];
    body.extend(i.transcript.iter().cloned());
    let mut bottom: Vec<String> = vec![];
    match i.mode {
        Mode::Busy { .. } => {
            bottom.push("✶ Working… (1s · esc to interrupt)".into());
            bottom.push(String::new());
        }
        Mode::Permission => {
            bottom.extend([
                "Bash command".to_string(),
                "  rm -rf build".into(),
                "Do you want to proceed?".into(),
            ]);
            bottom.extend(option_lines(i));
            bottom.push(String::new());
        }
        Mode::Limit => {
            bottom.extend([
                format!("  ⎿  {}", i.banner),
                String::new(),
                "What do you want to do?".into(),
            ]);
            bottom.extend(option_lines(i));
            bottom.push(String::new());
        }
        _ => {}
    }
    bottom.push(rule.clone());
    bottom.push(format!("❯ {}", i.input));
    bottom.push(rule);
    let context = i
        .script
        .context
        .map(|c| format!("   Context left until auto-compact: {c}%"))
        .unwrap_or_default();
    bottom.push(match i.mode {
        Mode::Busy { .. } => format!("  esc to interrupt{context}"),
        _ => format!("  ? for shortcuts{context}"),
    });
    let room = rows.saturating_sub(bottom.len());
    let skip = body.len().saturating_sub(room);
    let mut lines: Vec<String> = body.into_iter().skip(skip).collect();
    while lines.len() < room {
        lines.push(String::new());
    }
    lines.extend(bottom);
    let cursor_row = lines.len() - 2;
    let text: Vec<String> = lines
        .iter()
        .map(|l| l.chars().take(cols).collect())
        .collect();
    s.push_str(&text.join("\r\n"));
    s.push_str(&format!(
        "\x1b[{};{}H",
        cursor_row,
        3 + i.input.chars().count()
    ));
    s
}

impl PaneOps for FakePane {
    fn open<'a>(&'a self, launch: &'a Launch) -> PaneFuture<'a, Opened> {
        Box::pin(async move {
            let n = {
                let mut i = self.inner.lock().unwrap();
                i.calls.push(Call::Open(launch.command.clone()));
                i.panes += 1;
                let n = i.panes;
                i.pane = Some(format!("%{n}"));
                i.dead = i.script.die_on_open;
                i.mode = i.script.start;
                i.input.clear();
                i.transcript.clear();
                i.cursor = 0;
                i.vt = vt100::Parser::new(ROWS, COLS, 0);
                n
            };
            self.redraw();
            Ok(Opened {
                pane: format!("%{n}"),
                pid: Some(1000 + n),
                window: format!("@{n}"),
            })
        })
    }
    fn snapshot<'a>(&'a self, pane: &'a str) -> PaneFuture<'a, Option<Snapshot>> {
        Box::pin(async move {
            let i = self.inner.lock().unwrap();
            if i.pane.as_deref() != Some(pane) {
                return Ok(None);
            }
            let screen = i.vt.screen();
            let (cy, cx) = screen.cursor_position();
            Ok(Some(Snapshot {
                width: COLS,
                height: ROWS,
                cursor: (cx, cy),
                dead: i.dead,
                pid: Some(1000 + i.panes),
                window: format!("@{}", pane.trim_start_matches('%')),
                lines: screen.rows_formatted(0, COLS).collect(),
                seq: i.seq,
            }))
        })
    }
    fn type_text<'a>(
        &'a self,
        _pane: &'a str,
        _buffer: &'a str,
        text: &'a PaneText,
    ) -> PaneFuture<'a, ()> {
        Box::pin(async move {
            {
                let mut i = self.inner.lock().unwrap();
                if i.script.fail_typing {
                    return Err(crate::tmux::TmuxError::Command {
                        command: "paste-buffer".into(),
                        message: "no such pane".into(),
                    });
                }
                i.calls.push(Call::Type(text.as_str().to_string()));
                if !i.dead && matches!(i.mode, Mode::Idle | Mode::Busy { .. }) {
                    i.input.push_str(text.as_str());
                }
            }
            self.redraw();
            Ok(())
        })
    }
    fn press<'a>(&'a self, _pane: &'a str, key: Key) -> PaneFuture<'a, ()> {
        Box::pin(async move {
            self.inner.lock().unwrap().calls.push(Call::Press(key));
            self.key(key);
            Ok(())
        })
    }
    fn rename<'a>(&'a self, _window: &'a str, title: &'a FormatSafe) -> PaneFuture<'a, ()> {
        Box::pin(async move {
            self.inner
                .lock()
                .unwrap()
                .calls
                .push(Call::Rename(title.as_str().to_string()));
            Ok(())
        })
    }
    fn kill<'a>(&'a self, pane: &'a str) -> PaneFuture<'a, ()> {
        Box::pin(async move {
            let mut i = self.inner.lock().unwrap();
            i.calls.push(Call::Kill(pane.to_string()));
            if i.pane.as_deref() == Some(pane) {
                i.pane = None;
                i.sink = None;
            }
            Ok(())
        })
    }
    fn scrollback<'a>(&'a self, _pane: &'a str) -> PaneFuture<'a, Vec<String>> {
        Box::pin(async move {
            let i = self.inner.lock().unwrap();
            Ok(i.vt.screen().contents().lines().map(String::from).collect())
        })
    }
    fn route(&self, pane: &str, _window: &str, sink: PaneSink) {
        let mut i = self.inner.lock().unwrap();
        if i.pane.as_deref() == Some(pane) {
            i.sink = Some(sink);
        }
    }
    fn unroute(&self, pane: &str) {
        let mut i = self.inner.lock().unwrap();
        if i.pane.as_deref() == Some(pane) {
            i.sink = None;
        }
    }
}
