//! `orc sim-agent`: a small terminal program that looks and behaves like an
//! agent CLI, for fast deterministic tests and `orc demo`.
//!
//! It draws a transcript, a composer `❯ ` between two rules and a footer; a
//! submitted message makes it "work" (spinner, `esc to interrupt`) and then
//! print a reply and a finished-turn line. Cues inside a message script it:
//! `orc-sim:crash` exits with status 3, `orc-sim:exit` exits 0,
//! `orc-sim:work=N` works N seconds, `orc-sim:permission` shows a permission
//! dialog, `orc-sim:limit` shows a usage-limit banner and menu.
//! `orc-sim:limit=N` makes it refuse every message for N seconds with a
//! banner naming the reset to the second (the `...|<epoch>` wording);
//! `orc-sim:limit=N!` never lifts: each refusal after the reset names a new
//! reset N seconds ahead; `orc-sim:limit=N+L` shows a reset N seconds ahead
//! but refuses until L seconds after it (Claude Code rounds the shown reset
//! to the minute). `orc-sim:limit-next=N`: the next message meets a limit
//! of N seconds. Refused messages are logged again (`"resent": true`) when
//! the limit lifts, as Claude Code sends them again with the next prompt.
//! `orc-sim:context=N` shows N% context left.
//! `--ui changed` (or `ORC_SIM_UI=changed`) draws another prompt glyph, heavy
//! rules and other spinner and footer words: a new release orc has no rules for.

use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod input;

use input::{read_input, Input};

#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Name shown in the banner
    #[arg(long, default_value = "sim")]
    pub name: String,
    /// How long a turn takes, in milliseconds
    #[arg(long, default_value_t = 800)]
    pub work_ms: u64,
    /// Append every submitted message to this file as a JSON line (for tests
    /// that count what arrived)
    #[arg(long)]
    pub log: Option<std::path::PathBuf>,
    /// Start with a workspace-trust dialog whose cursor is on "No, exit"
    /// (Claude Code 2.1.332's shape); "No, exit" exits with status 1
    #[arg(long)]
    pub trust_dialog: bool,
    /// Draw dialog options without digits: only arrow keys and Enter answer
    /// them (digits do nothing), as Claude Code 2.1.332 does
    #[arg(long)]
    pub arrow_menus: bool,
    /// Dialogs ignore every key (an answer that never takes)
    #[arg(long)]
    pub deaf_dialogs: bool,
    /// Append every raw byte read from the terminal to this file (for tests
    /// that check what exactly reached the pane)
    #[arg(long)]
    pub raw: Option<std::path::PathBuf>,
    /// Like --raw, into `<dir>/<$ORC_AGENT>.raw` (for agents `orc up` starts)
    #[arg(long)]
    pub raw_dir: Option<std::path::PathBuf>,
    /// `changed` draws a UI orc has no rules for (another prompt glyph,
    /// heavy rules, other spinner and footer words), as an agent CLI's new
    /// release might: for tests of `orc doctor --live`
    #[arg(long, env = "ORC_SIM_UI", value_enum, default_value = "classic")]
    pub ui: SimUi,
    /// Start logged out (Claude Code's 401 screen) when this file exists
    /// (for tests of what orc does with an agent that lost its login)
    #[arg(long)]
    pub auth_fail_if: Option<std::path::PathBuf>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimUi {
    Classic,
    Changed,
}

enum Mode {
    Idle,
    Busy {
        until: Instant,
        started: Instant,
        reply: String,
    },
    Permission,
    Limit,
    Trust,
}

impl Mode {
    /// A dialog's options, in screen order.
    fn options(&self) -> &'static [&'static str] {
        match self {
            Mode::Permission => &["Yes", "No, and tell the agent what to do differently (esc)"],
            Mode::Limit => &["Stop and wait for limit to reset", "Upgrade your plan"],
            Mode::Trust => &["No, exit", "Yes, I trust this folder"],
            _ => &[],
        }
    }
}

struct Sim {
    args: SimArgs,
    transcript: Vec<String>,
    input: String,
    pasted: Option<(usize, String)>,
    paste_count: usize,
    queued: Vec<String>,
    mode: Mode,
    spin: usize,
    banner: String,
    /// `orc-sim:context=N`: the footer shows N% context left.
    context: Option<u8>,
    /// Refusing messages until this Unix time; `Some((_, n))` never lifts and
    /// moves the reset n seconds ahead each time.
    limit: Option<(u64, Option<u64>)>,
    /// The option a dialog's cursor is on.
    cursor: usize,
    /// `orc-sim:limit=N+L`: the real reset comes L seconds after the shown one.
    limit_late: u64,
    /// `orc-sim:limit-next=N`: the next message meets a limit of N seconds.
    limit_next: Option<u64>,
    /// Messages refused while limited, sent again when the limit lifts.
    refused: Vec<String>,
    out: std::io::Stdout,
}

const SPIN: [&str; 6] = ["·", "✢", "✳", "✶", "✻", "✽"];

fn term_size() -> (usize, usize) {
    let mut ws = nix::pty::Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize struct into the pointer we pass.
    let r = unsafe { nix::libc::ioctl(1, nix::libc::TIOCGWINSZ, &mut ws) };
    if r == 0 && ws.ws_row > 0 && ws.ws_col > 0 {
        (ws.ws_row as usize, ws.ws_col as usize)
    } else {
        (40, 120)
    }
}

impl Sim {
    fn new(args: SimArgs) -> Sim {
        let logged_out = args.auth_fail_if.as_ref().is_some_and(|p| p.exists());
        Sim {
            args,
            transcript: if logged_out {
                vec![
                    "> /status".into(),
                    "  ⎿  API Error: 401 · OAuth token has expired · Please run /login".into(),
                ]
            } else {
                Vec::new()
            },
            input: String::new(),
            pasted: None,
            paste_count: 0,
            queued: Vec::new(),
            mode: Mode::Idle,
            spin: 0,
            banner: String::new(),
            context: None,
            limit: None,
            cursor: 0,
            limit_late: 0,
            limit_next: None,
            refused: Vec::new(),
            out: std::io::stdout(),
        }
    }

    fn render(&mut self) {
        let (rows, cols) = term_size();
        let changed = self.args.ui == SimUi::Changed;
        let rule = if changed { "━" } else { "─" }.repeat(cols);
        let prompt = if changed { "»" } else { "❯" };
        let mut s = String::from("\x1b[H\x1b[2J");
        if let Mode::Trust = self.mode {
            // The trust dialog replaces the whole screen, as Claude Code's does.
            s.push_str(&self.trust_screen(&rule));
            let _ = self.out.write_all(s.as_bytes());
            let _ = self.out.flush();
            return;
        }
        let mut body: Vec<String> = vec![
            format!(
                "✻ Welcome to sim-agent `{}` (orc's simulated agent CLI)",
                self.args.name
            ),
            String::new(),
        ];
        body.extend(self.transcript.iter().cloned());
        let mut bottom = self.status_lines(changed);
        for q in &self.queued {
            bottom.push(format!("  ⎿ queued: {q}"));
        }
        let composer = match &self.pasted {
            Some((n, _)) => format!(
                "{prompt} {}[Pasted text #{} +{} lines]",
                self.input, self.paste_count, n
            ),
            None => format!("{prompt} {}", self.input),
        };
        bottom.push(rule.clone());
        bottom.push(composer);
        bottom.push(rule);
        let context = self
            .context
            .map(|c| format!("   Context left until auto-compact: {c}%"))
            .unwrap_or_default();
        bottom.push(match self.mode {
            _ if changed => format!("  /help for help{context}"),
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
        let cursor_row = lines.len() - 2; // composer row (1-based: len-2)
        for (i, l) in lines.iter().enumerate() {
            let l: String = l.chars().take(cols).collect();
            s.push_str(&l);
            if i + 1 < lines.len() {
                s.push_str("\r\n");
            }
        }
        let col = 3 + self.input.chars().count();
        s.push_str(&format!("\x1b[{};{}H", cursor_row, col));
        let _ = self.out.write_all(s.as_bytes());
        let _ = self.out.flush();
    }

    /// What goes above the composer: the spinner while busy, or a dialog.
    fn status_lines(&self, changed: bool) -> Vec<String> {
        let mut bottom: Vec<String> = Vec::new();
        match &self.mode {
            Mode::Busy { started, .. } if changed => {
                bottom.push(format!(
                    "Thinking… {}s (press escape to stop)",
                    started.elapsed().as_secs()
                ));
                bottom.push(String::new());
            }
            Mode::Busy { started, .. } => {
                bottom.push(format!(
                    "{} Working… ({}s · esc to interrupt)",
                    SPIN[self.spin % SPIN.len()],
                    started.elapsed().as_secs()
                ));
                bottom.push(String::new());
            }
            Mode::Permission => {
                bottom.extend([
                    "Bash command".to_string(),
                    "  rm -rf build".into(),
                    "Do you want to proceed?".into(),
                ]);
                bottom.extend(self.option_lines());
                bottom.push(String::new());
            }
            Mode::Limit => {
                bottom.extend([
                    format!("  ⎿  {}", self.banner),
                    String::new(),
                    "What do you want to do?".into(),
                ]);
                bottom.extend(self.option_lines());
                bottom.push(String::new());
            }
            Mode::Trust | Mode::Idle => {}
        }
        bottom
    }

    /// The whole-screen workspace-trust dialog, its lines joined by CR LF.
    fn trust_screen(&self, rule: &str) -> String {
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let mut lines = vec![
            rule.to_string(),
            " Accessing workspace:".to_string(),
            String::new(),
            format!(" {cwd}"),
            String::new(),
            " Quick safety check: Is this a project you created or one you trust?".into(),
            String::new(),
        ];
        lines.extend(self.option_lines().into_iter().map(|l| format!(" {l}")));
        lines.extend([String::new(), " Enter to confirm · Esc to cancel".into()]);
        lines.join("\r\n")
    }

    fn submit(&mut self) {
        let mut text = std::mem::take(&mut self.input);
        if let Some((_, p)) = self.pasted.take() {
            text.push_str(&p);
        }
        if text.trim().is_empty() {
            return;
        }
        if let Mode::Busy { .. } = self.mode {
            self.queued.push(first_line(&text));
            return;
        }
        self.start_turn(text);
    }

    /// Append a submitted message to `--log`; `resent`: a refused one the
    /// CLI sends again by itself once the limit lifts (as Claude Code does).
    fn log_line(&self, text: &str, resent: bool) {
        if let Some(path) = &self.args.log {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let at = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0);
                let v = if resent {
                    serde_json::json!({ "text": text, "at_ms": at, "resent": true })
                } else {
                    serde_json::json!({ "text": text, "at_ms": at })
                };
                // One write of the whole line: a reader never sees half of it.
                let mut line = v.to_string();
                line.push('\n');
                let _ = f.write_all(line.as_bytes());
            }
        }
    }

    fn start_turn(&mut self, text: String) {
        self.log_line(&text, false);
        let first = first_line(&text);
        let extra = text.lines().count().saturating_sub(1);
        self.transcript.push(if extra > 0 {
            format!("> {first} (+{extra} lines)")
        } else {
            format!("> {first}")
        });
        if self.exit_or_dialog_cue(&text)
            || self.setting_cues(&text)
            || self.refused_by_limit(&text)
        {
            return;
        }
        for t in std::mem::take(&mut self.refused) {
            self.log_line(&t, true);
        }
        let work = self.work_time(&text);
        let now = Instant::now();
        self.mode = Mode::Busy {
            until: now + work,
            started: now,
            reply: format!("Done: {}", first.chars().take(60).collect::<String>()),
        };
    }

    /// `orc-sim:crash`, `orc-sim:exit` (both end the process) and
    /// `orc-sim:permission`; true when a dialog takes the turn.
    fn exit_or_dialog_cue(&mut self, text: &str) -> bool {
        if text.contains("orc-sim:crash") {
            let _ = self
                .out
                .write_all(b"\r\nsim-agent: crashing on purpose\r\n");
            let _ = self.out.flush();
            restore_terminal();
            std::process::exit(3);
        }
        if text.contains("orc-sim:exit") {
            restore_terminal();
            std::process::exit(0);
        }
        if text.contains("orc-sim:permission") {
            self.mode = Mode::Permission;
            return true;
        }
        false
    }

    /// `orc-sim:context=`, `orc-sim:limit-next=` and `orc-sim:limit...`; true
    /// when the usage-limit dialog takes the turn.
    fn setting_cues(&mut self, text: &str) -> bool {
        if let Some(i) = text.find("orc-sim:context=") {
            let n: String = text[i + 16..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            self.context = n.parse().ok();
        }
        if let Some(i) = text.find("orc-sim:limit-next=") {
            // This turn goes normally; the next one meets a limit.
            let n: String = text[i + 19..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            self.limit_next = Some(n.parse().unwrap_or(60));
        } else if let Some(n) = self.limit_next.take() {
            self.limit_late = 0;
            self.limit = Some((unix_now() + n, None));
        }
        if text.contains("orc-sim:limit-next=") {
        } else if let Some(i) = text.find("orc-sim:limit=") {
            let spec: String = text[i + 14..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '!' || *c == '+')
                .collect();
            let (n, late) = spec
                .trim_end_matches('!')
                .split_once('+')
                .unwrap_or((spec.trim_end_matches('!'), "0"));
            let n: u64 = n.parse().unwrap_or(60);
            self.limit_late = late.parse().unwrap_or(0);
            self.limit = Some((
                unix_now() + n + self.limit_late,
                spec.ends_with('!').then_some(n),
            ));
        } else if text.contains("orc-sim:limit") {
            self.banner = "You've hit your limit · resets 3pm (UTC)".into();
            self.mode = Mode::Limit;
            return true;
        }
        false
    }

    /// While a limit holds, the message is refused (and kept to be sent
    /// again); true when it was.
    fn refused_by_limit(&mut self, text: &str) -> bool {
        if let Some((until, again)) = self.limit {
            let now = unix_now();
            let until = match again {
                Some(n) if now >= until => now + n,
                _ => until,
            };
            if now < until {
                self.refused.push(text.to_string());
                self.limit = Some((until, again));
                self.banner = format!("Claude AI usage limit reached|{}", until - self.limit_late);
                self.mode = Mode::Limit;
                return true;
            }
            self.limit = None;
        }
        false
    }

    /// How long the turn works: `--work-ms`, or `orc-sim:work=N` seconds.
    fn work_time(&self, text: &str) -> Duration {
        let mut work = Duration::from_millis(self.args.work_ms);
        if let Some(i) = text.find("orc-sim:work=") {
            let n: String = text[i + 13..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Ok(n) = n.parse::<u64>() {
                work = Duration::from_secs(n);
            }
        }
        work
    }

    fn tick(&mut self) {
        if let Mode::Busy {
            until,
            started,
            reply,
        } = &self.mode
        {
            if Instant::now() >= *until {
                self.transcript.push(format!("● {reply}"));
                self.transcript
                    .push(format!("✻ Worked for {}s", started.elapsed().as_secs()));
                self.transcript.push(String::new());
                self.mode = Mode::Idle;
                if !self.queued.is_empty() {
                    let next = self.queued.remove(0);
                    self.start_turn(next);
                }
            } else {
                self.spin += 1;
            }
        }
    }

    /// The dialog's option lines: `❯ ` on the cursor's, digits unless
    /// `--arrow-menus`.
    fn option_lines(&self) -> Vec<String> {
        self.mode
            .options()
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let mark = if i == self.cursor { "❯ " } else { "  " };
                if self.args.arrow_menus {
                    format!("{mark}{o}")
                } else {
                    format!("{mark}{}. {o}", i + 1)
                }
            })
            .collect()
    }

    /// A key in a dialog: arrows move the cursor, Enter takes the cursor's
    /// option, a digit takes its option (numbered dialogs only).
    fn menu_key(&mut self, key: &[u8]) {
        if self.args.deaf_dialogs {
            return;
        }
        let n = self.mode.options().len();
        let pick = match key {
            b"\x1b[A" | b"\x1bOA" => {
                self.cursor = self.cursor.saturating_sub(1);
                return;
            }
            b"\x1b[B" | b"\x1bOB" => {
                self.cursor = (self.cursor + 1).min(n.saturating_sub(1));
                return;
            }
            b"\r" => self.cursor,
            [d @ b'1'..=b'9'] if !self.args.arrow_menus => (d - b'1') as usize,
            [0x1b] => n.saturating_sub(1),
            _ => return,
        };
        if pick >= n {
            return;
        }
        self.cursor = 0;
        if let Mode::Trust = self.mode {
            if pick == 0 {
                restore_terminal();
                std::process::exit(1);
            }
            self.mode = Mode::Idle;
            return;
        }
        // Options keep the digits' meaning: 1 = first, 2 = second.
        self.menu_choice([b'1', b'2'][pick.min(1)]);
    }

    fn menu_choice(&mut self, b: u8) {
        match (&self.mode, b) {
            (Mode::Permission, b'1' | b'\r') => {
                self.transcript.push("● Ran the command.".into());
                self.mode = Mode::Idle;
            }
            (Mode::Permission, b'2' | 0x1b) => {
                self.transcript.push("  ⎿  Declined.".into());
                self.mode = Mode::Idle;
            }
            (Mode::Limit, b'1' | b'\r') => {
                self.transcript.push(format!("  ⎿  {}", self.banner));
                self.mode = Mode::Idle;
            }
            _ => {}
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn first_line(t: &str) -> String {
    t.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

static mut SAVED: Option<nix::sys::termios::Termios> = None;

fn raw_terminal() {
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    let stdin = std::io::stdin();
    if let Ok(t) = tcgetattr(&stdin) {
        let mut raw = t.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        // SAFETY: set once at start, before any other thread reads it.
        unsafe { SAVED = Some(t) };
    }
}

fn restore_terminal() {
    use nix::sys::termios::{tcsetattr, SetArg};
    // SAFETY: read on the main thread at exit.
    #[allow(static_mut_refs)]
    if let Some(t) = unsafe { SAVED.as_ref() } {
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, t);
    }
    let mut out = std::io::stdout();
    let _ = out.write_all(b"\x1b[?2004l");
    let _ = out.flush();
}

pub fn run(args: SimArgs) -> anyhow::Result<()> {
    raw_terminal();
    let rx = read_input(&args);
    let mut sim = Sim::new(args);
    if sim.args.trust_dialog {
        sim.mode = Mode::Trust;
    }
    let _ = sim.out.write_all(b"\x1b[?2004h"); // bracketed paste on
    sim.render();
    let mut input = Input::default();
    let mut size = term_size();
    loop {
        let got = rx.recv_timeout(Duration::from_millis(100));
        let mut dirty = false;
        match got {
            Ok(bytes) if bytes.is_empty() => break,
            Ok(bytes) => {
                input.pending.extend(bytes);
                dirty = true;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
        if !sim.feed(&mut input) {
            restore_terminal();
            return Ok(());
        }
        // Redraw only when something changed: a settled screen stays still.
        if term_size() != size {
            size = term_size();
            dirty = true;
        }
        if matches!(sim.mode, Mode::Busy { .. }) {
            sim.tick();
            dirty = true;
        }
        if dirty {
            sim.render();
        }
    }
    restore_terminal();
    Ok(())
}
