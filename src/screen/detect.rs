//! Detector tables: one per agent CLI (and UI generation), kept as data in
//! `detectors/*.toml`, applied to a vt100 screen.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::proto::AgentState;

/// A dialog that needs an answer before the agent can go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialog {
    Trust,
    BypassWarning,
    UsageLimitMenu,
    Permission,
    ApiKey,
    ResumeSummary,
    ResumePicker,
    Menu,
    /// The model asks a question with options (AskUserQuestion, 2.1.3xx:
    /// `Enter to select · ↑/↓ to navigate`).
    Question,
    /// The CLI's own one-time setup question about the agent's folder,
    /// answered with the choice it recommends (Aider: `Add .aider* to
    /// .gitignore (recommended)?`).
    Setup,
    /// The CLI asks to read a file of the agent's repo into the conversation
    /// (Aider: `Add file to the chat?`, after a reply names one): answered
    /// yes, since reading the repo is the agent's work.
    AddFile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Region {
    Live,
    Turn,
    Footer,
    Composer,
    Screen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ComposerStyle {
    /// `❯ text` between two full-width `─` rules (Claude Code 2026).
    Rules,
    /// `│ > text │` inside a rounded box (Claude Code 2025).
    Box,
    /// A plain `> text` line under a full-width `─` rule, as the last
    /// non-blank line of the screen (Aider). A screen whose last line is
    /// anything else (a spinner, streamed text, a wrapped input) has none.
    Line,
    /// `› text` as the last line starting with the prompt, with nothing
    /// below it but blank lines and an indented footer (Codex).
    Footer,
    /// ` > text` a few rows under the last full-width `─` rule (a hint line
    /// and a blank row between), down to the blank row above the footer;
    /// continuation rows are indented (Gemini CLI). Past turns show as
    /// ` > text` too.
    Indented,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    state: AgentState,
    dialog: Option<Dialog>,
    region: Region,
    #[serde(default)]
    all: Vec<String>,
    #[serde(default)]
    any: Vec<String>,
    /// The rule does not match where any of these is in its region.
    #[serde(default)]
    none: Vec<String>,
    /// The rule applies only to a screen without a composer (Aider: a turn
    /// in progress, never the prompt that ends it, whatever mode it shows).
    #[serde(default)]
    without_composer: bool,
    regex: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: String,
    composer: ComposerStyle,
    prompt: String,
    /// The empty composer's hint, when the CLI draws it in a colour rather
    /// than dim (Gemini CLI): a composer showing only this is empty.
    #[serde(default)]
    placeholder: Option<String>,
    /// Other prompts the composer shows in other modes (`indented` only:
    /// Gemini CLI's `*` in YOLO mode, `!` in shell mode).
    #[serde(default)]
    alt_prompts: Vec<String>,
    /// `line` only: rows that may stand between the rule and the prompt
    /// (Aider lists the chat's files there), at most [`MAX_ABOVE_PROMPT`].
    #[serde(default)]
    above_prompt: Option<String>,
    /// `line` only: what may stand before the prompt, as a regex (Aider's
    /// chat mode or edit format, and ` multi`: `architect> `, `ask multi> `).
    #[serde(default)]
    prompt_modes: Option<String>,
    #[serde(rename = "rule")]
    rules: Vec<RawRule>,
}

#[derive(Debug)]
struct Rule {
    name: String,
    state: AgentState,
    dialog: Option<Dialog>,
    region: Region,
    all: Vec<String>,
    any: Vec<String>,
    none: Vec<String>,
    without_composer: bool,
    regex: Option<Regex>,
}

/// A compiled detector table.
#[derive(Debug)]
pub struct Table {
    pub name: String,
    composer: ComposerStyle,
    prompt: String,
    placeholder: Option<String>,
    alt_prompts: Vec<String>,
    above_prompt: Option<Regex>,
    /// `line` only: a row that starts with the prompt, after one of the
    /// table's `prompt_modes` if it has them (`^(?:modes)?>(?: |$)`).
    line_prompt: Regex,
    rules: Vec<Rule>,
}

impl Table {
    pub fn parse(text: &str) -> Result<Table, String> {
        let raw: RawTable = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut rules = Vec::new();
        for r in raw.rules {
            let regex = match r.regex {
                Some(re) => Some(Regex::new(&re).map_err(|e| format!("rule {}: {e}", r.name))?),
                None => None,
            };
            if r.all.is_empty() && r.any.is_empty() && regex.is_none() {
                return Err(format!("rule {} has no pattern", r.name));
            }
            rules.push(Rule {
                name: r.name,
                state: r.state,
                dialog: r.dialog,
                region: r.region,
                all: r.all,
                any: r.any,
                none: r.none,
                without_composer: r.without_composer,
                regex,
            });
        }
        let above_prompt = match raw.above_prompt {
            Some(re) => Some(Regex::new(&re).map_err(|e| format!("above_prompt: {e}"))?),
            None => None,
        };
        let modes = raw.prompt_modes.as_deref().unwrap_or("");
        let line_prompt = Regex::new(&format!(
            "^(?:{modes})?{}(?: |$)",
            regex::escape(&raw.prompt)
        ))
        .map_err(|e| format!("prompt_modes: {e}"))?;
        Ok(Table {
            name: raw.name,
            composer: raw.composer,
            prompt: raw.prompt,
            placeholder: raw.placeholder,
            alt_prompts: raw.alt_prompts,
            above_prompt,
            line_prompt,
            rules,
        })
    }
}

/// A CLI's detector: its tables, one per UI generation, tried in order; the
/// first that can place the screen decides.
#[derive(Debug)]
pub struct Detector {
    pub name: &'static str,
    pub tables: Vec<Table>,
}

// `TABLES`: every `detectors/*.toml`, newest UI first within a CLI.
include!(concat!(env!("OUT_DIR"), "/detector_tables.rs"));

pub(crate) fn detectors() -> &'static BTreeMap<&'static str, Detector> {
    static T: OnceLock<BTreeMap<&'static str, Detector>> = OnceLock::new();
    T.get_or_init(|| {
        let mut map: BTreeMap<&'static str, Detector> = BTreeMap::new();
        for (cli, text) in TABLES {
            let table = Table::parse(text)
                .unwrap_or_else(|e| panic!("built-in detector table for {cli}: {e}"));
            map.entry(cli)
                .or_insert_with(|| Detector {
                    name: cli,
                    tables: Vec::new(),
                })
                .tables
                .push(table);
        }
        map
    })
}

/// The detector table of this name (a CLI's, as `detectors/<cli>.toml`
/// names it). A profile's detector name (`claude`, `sim`) goes through its
/// driver first: `drivers::table_for`. No table: `None` (the generic rule).
pub fn table_for(name: &str) -> Option<&'static Detector> {
    detectors().get(name)
}

/// What the screen says.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Observation {
    pub state: Option<AgentState>,
    pub dialog: Option<Dialog>,
    /// The rule that decided, or `composer`, `settling` (no state yet: the
    /// screen is still moving), `unplaced` (no rule fits: `unknown`).
    pub rule: String,
    /// Unsent text in the composer.
    pub composer: Option<String>,
    /// The line that announced a usage limit.
    pub limit_line: Option<String>,
    /// `Context left until auto-compact: N%`.
    pub context_left: Option<u8>,
    /// The last finished-turn line of the last turn (`✻ Worked for 12s`).
    pub finished_line: Option<String>,
    /// The last reply line (`● ...`) of the last turn.
    pub last_reply: Option<String>,
    /// The folder a trust dialog asks about.
    pub trust_folder: Option<String>,
    pub version: Option<String>,
    /// A dialog's options and where its cursor is (see [`super::menu`]).
    pub menu: Option<super::menu::Menu>,
    /// A dialog's first line of text (what it asks), for the note.
    pub dialog_line: Option<String>,
    /// The screen shows the CLI's composer (its prompt, empty or not): text
    /// typed now goes there. Aider retrying a 429 is limited without one.
    pub prompt_drawn: bool,
}

impl Observation {
    pub fn state(&self) -> AgentState {
        self.state.unwrap_or(AgentState::Unknown)
    }
}

struct Layout {
    rows: Vec<String>,
    /// (top rule, bottom rule) of the composer.
    composer: Option<(usize, usize)>,
    /// Start of the live region.
    live_start: usize,
    turn_start: usize,
    /// The screen has this UI's frame: its composer, or (with none) the
    /// rule or box a dialog sits in. Without it, `live` is the whole screen.
    anchored: bool,
}

fn is_rule(row: &str) -> bool {
    let t = row.trim();
    t.chars().count() >= 20 && t.chars().all(|c| c == '─')
}

fn layout(screen: &vt100::Screen, table: &Table) -> Layout {
    let (_, cols) = screen.size();
    let rows: Vec<String> = screen
        .rows(0, cols)
        // The 2025 UI draws `│\u{a0}>\u{a0}text`: no-break spaces count as spaces.
        .map(|r| r.trim_end().replace('\u{a0}', " "))
        .collect();
    let composer = find_composer(&rows, table);
    let (live_start, turn_start, anchored) = live_region(&rows, table, composer);
    Layout {
        rows,
        composer,
        live_start,
        turn_start,
        anchored,
    }
}

/// The composer's top and bottom row, as this UI draws it.
fn find_composer(rows: &[String], table: &Table) -> Option<(usize, usize)> {
    let n = rows.len();
    let mut composer = None;
    match table.composer {
        ComposerStyle::Rules => {
            // The bottom-most pair of rules with the prompt just under the top one.
            let rules: Vec<usize> = (0..n).filter(|&i| is_rule(&rows[i])).collect();
            for w in rules.windows(2).rev() {
                let (t, b) = (w[0], w[1]);
                if b > t + 1 && rows[t + 1].starts_with(&table.prompt) {
                    composer = Some((t, b));
                    break;
                }
            }
        }
        ComposerStyle::Box => {
            let open = |r: &str| r.trim_start().starts_with('╭');
            let close = |r: &str| r.trim_start().starts_with('╰');
            for b in (0..n).rev() {
                if close(&rows[b]) {
                    if let Some(t) = (0..b).rev().find(|&t| open(&rows[t])) {
                        if rows.get(t + 1).is_some_and(|r| {
                            r.trim_start().starts_with(&format!("│ {}", table.prompt))
                        }) {
                            composer = Some((t, b));
                        }
                    }
                    break;
                }
            }
        }
        ComposerStyle::Line => composer = line_composer(rows, table),
        ComposerStyle::Footer => {
            let with_space = format!("{} ", table.prompt);
            let p = (1..n)
                .rev()
                .find(|&i| rows[i] == table.prompt || rows[i].starts_with(&with_space));
            if let Some(p) = p {
                if rows[p + 1..]
                    .iter()
                    .all(|r| r.is_empty() || r.starts_with("  "))
                {
                    composer = Some((p - 1, p + 1));
                }
            }
        }
        ComposerStyle::Indented => composer = indented_composer(rows, table),
    }
    composer
}

/// The most rows a `line` table's `above_prompt` may stand for.
const MAX_ABOVE_PROMPT: usize = 12;

/// Aider's composer: (the row above its first prompt row, the row below its
/// last). Several lines of input (a paste) each start with the prompt
/// (prompt_toolkit's continuation); the first sits under the rule, or under
/// the chat's files (`above_prompt` rows) under the rule.
fn line_composer(rows: &[String], table: &Table) -> Option<(usize, usize)> {
    let prompt_line = |row: &String| table.line_prompt.is_match(row);
    let p = (0..rows.len())
        .rev()
        .find(|&i| !rows[i].trim().is_empty())?;
    if !prompt_line(&rows[p]) {
        return None;
    }
    let mut top = p;
    while top > 0 && prompt_line(&rows[top - 1]) {
        top -= 1;
    }
    if top > 0 && is_rule(&rows[top - 1]) {
        return Some((top - 1, p + 1));
    }
    if let Some(above) = &table.above_prompt {
        // The rows between: none a rule, each one the table allows, the one
        // right above the prompt not blank.
        let mut r = top;
        while r > 0 && top - r < MAX_ABOVE_PROMPT && !is_rule(&rows[r - 1]) {
            if !above.is_match(&rows[r - 1]) {
                break;
            }
            r -= 1;
        }
        if r < top && r > 0 && is_rule(&rows[r - 1]) && !rows[top - 1].trim().is_empty() {
            return Some((top - 1, p + 1));
        }
    }
    // An input taller than the screen (a long briefing): its rule and first
    // rows scrolled off; every row down to the last is the prompt's. Row 0
    // stands in for the rule.
    (top == 0 && p + 1 >= rows.len() / 2).then_some((0, p + 1))
}

/// Gemini CLI's composer: (the row above its ` > ` row, the blank row below
/// its text).
fn indented_composer(rows: &[String], table: &Table) -> Option<(usize, usize)> {
    let n = rows.len();
    let t = (0..n).rev().find(|&i| is_rule(&rows[i]))?;
    let p = (t + 1..n.min(t + 5)).find(|&i| indented_prompt(table, &rows[i]).is_some())?;
    let b = (p + 1..n).find(|&i| rows[i].trim().is_empty()).unwrap_or(n);
    Some((p - 1, b))
}

/// The prompt an `indented` composer row starts with (` > text`, ` >`), if any.
fn indented_prompt<'a>(table: &'a Table, row: &str) -> Option<&'a str> {
    std::iter::once(&table.prompt)
        .chain(table.alt_prompts.iter())
        .map(String::as_str)
        .find(|p| {
            row.strip_prefix(' ')
                .and_then(|r| r.strip_prefix(*p))
                .is_some_and(|r| r.is_empty() || r.starts_with(' '))
        })
}

/// Where the live region and the last turn start, and whether the screen
/// has this UI's frame at all.
fn live_region(
    rows: &[String],
    table: &Table,
    composer: Option<(usize, usize)>,
) -> (usize, usize, bool) {
    let n = rows.len();
    let mut anchored = composer.is_some();
    let (live_start, turn_start) = match composer {
        Some((t, _)) => {
            let turn = (0..t)
                .rev()
                .find(|&i| {
                    rows[i].starts_with(&format!("{} ", table.prompt))
                        || (table.composer == ComposerStyle::Line
                            && table.line_prompt.is_match(&rows[i]))
                        || rows[i].starts_with("> ")
                        || (table.composer == ComposerStyle::Indented
                            && indented_prompt(table, &rows[i]).is_some())
                })
                // Aider: a long turn scrolls its echoed `> message` off the
                // screen; then all of it above the composer is that turn.
                .unwrap_or(if table.composer == ComposerStyle::Line {
                    0
                } else {
                    t
                });
            match table.composer {
                // Answered dialogs stay drawn above the welcome box: only the
                // last turn is live.
                ComposerStyle::Box => (turn, turn),
                _ => (t.saturating_sub(12).min(turn), turn),
            }
        }
        None if table.composer == ComposerStyle::Box => {
            // A dialog replaces the composer: it is the last box.
            let last_box = (0..n)
                .rev()
                .find(|&i| rows[i].trim_start().starts_with('╭'));
            anchored = last_box.is_some();
            let start = last_box.unwrap_or(0);
            (start, start)
        }
        None => {
            // A dialog replaces the composer: it sits below the last rule.
            let last_rule = (0..n).rev().find(|&i| is_rule(&rows[i]));
            anchored = last_rule.is_some();
            let start = last_rule.map(|r| r + 1).unwrap_or(0);
            (start, start)
        }
    };
    (live_start, turn_start, anchored)
}

impl Layout {
    /// The option list of a dialog in the live region (the composer row,
    /// when drawn, is not one).
    fn menu(&self) -> Option<super::menu::Menu> {
        let start = self.live_start.min(self.rows.len());
        let rows: Vec<&str> = self.rows[start..].iter().map(String::as_str).collect();
        if let Some(m) = rows
            .iter()
            .rev()
            .find(|r| !r.trim().is_empty())
            .and_then(|r| super::menu::read_inline(r))
        {
            return Some(m);
        }
        // Only a composer drawn under a rule is surely not a menu line (a
        // footer-style prompt `› 1. Trust and continue` is the cursor).
        let skip = self
            .composer
            .filter(|(t, _)| is_rule(&self.rows[*t]))
            .and_then(|(t, _)| (t + 1).checked_sub(start));
        super::menu::read(&rows, skip)
    }

    fn region(&self, r: Region) -> String {
        let n = self.rows.len();
        let (a, b) = match (r, self.composer) {
            (Region::Screen, _) => (0, n),
            (Region::Live, _) => (self.live_start, n),
            (Region::Turn, Some((t, _))) => (self.turn_start, t),
            (Region::Turn, None) => (self.live_start, n),
            (Region::Footer, Some((_, b))) => (b + 1, n),
            (Region::Composer, Some((t, b))) => (t + 1, b),
            (Region::Footer | Region::Composer, None) => (0, 0),
        };
        self.rows[a.min(n)..b.min(n)].join("\n")
    }
}

/// The composer's text as typed: prompt stripped, placeholder hints (dim
/// text behind a fake cursor) left out.
fn composer_text(screen: &vt100::Screen, lay: &Layout, table: &Table) -> Option<String> {
    let (t, b) = lay.composer?;
    let (_, cols) = screen.size();
    let mut lines = Vec::new();
    for row in (t + 1)..b {
        let mut s = String::new();
        let mut col = 0u16;
        while col < cols {
            let Some(cell) = screen.cell(row as u16, col) else {
                break;
            };
            let next_dim = screen
                .cell(row as u16, col + 1)
                .is_some_and(|c| c.dim() && c.has_contents());
            let text = cell.contents();
            if !(cell.dim() || (cell.inverse() && next_dim)) {
                s.push_str(if text.is_empty() { " " } else { text });
            }
            col += if cell.is_wide() { 2 } else { 1 };
        }
        lines.push(s.trim_end().replace('\u{a0}', " "));
    }
    if table.composer == ComposerStyle::Line {
        // Every line of a multi-line input shows the prompt (with its mode).
        for l in lines.iter_mut() {
            if let Some(m) = table.line_prompt.find(l) {
                *l = l[m.end()..].to_string();
            }
        }
    }
    let mut text = lines.join("\n");
    // (A dim box border is left out above: the row then starts with spaces.)
    let prompt = match table.composer {
        ComposerStyle::Indented => {
            indented_prompt(table, &lay.rows[t + 1]).unwrap_or(&table.prompt)
        }
        // Stripped from every line above.
        ComposerStyle::Line => "",
        _ => &table.prompt,
    };
    if let Some(rest) = text.trim_start().strip_prefix(prompt) {
        text = rest.to_string();
    } else if let Some(i) = text.find(&format!("│ {}", table.prompt)) {
        text = text[i + "│ ".len() + table.prompt.len()..].to_string();
    }
    // Box rows: `│   more text   │` (both borders go).
    let text: Vec<&str> = text
        .lines()
        .map(|l| l.trim().trim_matches('│').trim())
        .collect();
    let text = text.join("\n").trim().to_string();
    if table.placeholder.as_deref() == Some(text.as_str()) {
        return Some(String::new());
    }
    Some(text)
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("static regex")
}

fn extras(o: &mut Observation, lay: &Layout) {
    static CONTEXT: OnceLock<Regex> = OnceLock::new();
    static FINISHED: OnceLock<Regex> = OnceLock::new();
    static VERSION: OnceLock<Regex> = OnceLock::new();
    let live = lay.region(Region::Live);
    // Wordings seen: `Context left until auto-compact: 16%` (older),
    // `12% until auto-compact`, `Context low (6% remaining)`, and
    // `94% context used` (2.1.197, depending on model and settings).
    let context = CONTEXT.get_or_init(|| {
        re(r"(?:Context left until auto-compact: (\d{1,3})%|(\d{1,3})% until auto-compact|Context low \((\d{1,3})% remaining\)|(\d{1,3})% context used)")
    });
    if let Some(c) = context.captures(&live) {
        let left = c
            .get(1)
            .or(c.get(2))
            .or(c.get(3))
            .and_then(|m| m.as_str().parse::<u8>().ok());
        let used = c.get(4).and_then(|m| m.as_str().parse::<u8>().ok());
        o.context_left = left.or(used.map(|u| 100u8.saturating_sub(u)));
    }
    let turn = lay.region(Region::Turn);
    let finished = FINISHED.get_or_init(|| re(r"^[✻✽✶✳✢·*] [A-Z][a-z]+ for \d+[smh]"));
    o.finished_line = turn
        .lines()
        .rfind(|l| finished.is_match(l))
        .map(str::to_string);
    o.last_reply = turn
        .lines()
        .rfind(|l| l.starts_with("● "))
        .map(|l| l[4..].trim().to_string());
    let screen = lay.region(Region::Screen);
    if let Some(c) = VERSION
        .get_or_init(|| re(r"Claude Code v(\d+\.\d+\.\d+)"))
        .captures(&screen)
    {
        o.version = Some(c[1].to_string());
    }
}

/// The last visible line that announces a usage limit (the menu hides the
/// banner's turn, so look at the whole visible screen, newest first). A
/// line saying the CLI will go on by itself at the reset (`set to continue
/// automatically at 4:05pm`, `Continuing automatically at 4:05pm · Esc to
/// cancel`) wins over the others: it carries the reset and the fact that the
/// CLI resumes without help. A menu option offering to (`Wait here, then
/// continue automatically at ...`) is not such a line.
fn limit_line(lay: &Layout) -> Option<String> {
    static LIMIT: OnceLock<Regex> = OnceLock::new();
    static AUTO: OnceLock<Regex> = OnceLock::new();
    let limit = LIMIT.get_or_init(|| re(r"(?i)(hit your .*limit|usage limit reached|limit reached|out of extra usage|limit will reset|access resets at)"));
    let auto = AUTO.get_or_init(|| {
        re(r"(?i)(set to continue automatically|continuing automatically) (at|on|in) ")
    });
    let clean = |l: &String| l.trim().trim_start_matches('⎿').trim().to_string();
    let live = &lay.rows[lay.live_start.min(lay.rows.len())..];
    live.iter()
        .rev()
        .find(|l| auto.is_match(l))
        .map(clean)
        .or_else(|| {
            let i = lay.rows.iter().rposition(|l| limit.is_match(l))?;
            Some(with_wrapped_tail(&lay.rows, i, clean(&lay.rows[i])))
        })
}

/// A limit line the terminal wrapped before its reset (Codex 0.171: `■
/// You’ve hit your usage limit. Upgrade ... settings/` then `usage to
/// purchase more credits or try again at 1:49 PM.`): the next row, when it
/// starts at the left edge (a wrap, not a new item) and the line itself
/// names no time.
fn with_wrapped_tail(rows: &[String], i: usize, line: String) -> String {
    static TIME: OnceLock<Regex> = OnceLock::new();
    let time = TIME.get_or_init(|| re(r"(?i)\b(?:resets?|again at|automatically)\b"));
    match rows.get(i + 1) {
        Some(next)
            if !time.is_match(&line)
                && next.starts_with(|c: char| c.is_alphanumeric())
                && long_row(&rows[i]) =>
        {
            format!("{line} {}", next.trim())
        }
        _ => line,
    }
}

/// A row long enough to have been wrapped by the terminal (a short line
/// ended where it meant to).
fn long_row(row: &str) -> bool {
    row.chars().count() >= 60
}

/// Gemini CLI names the folder it asks about by its last component only
/// (`1. Trust folder (proj)`): `/proj`, so that only a folder of that name
/// matches the agent's own.
fn gemini_trust_folder(text: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| re(r"\d\. Trust folder \(([^()/]+)\)"));
    re.captures(text).map(|c| format!("/{}", &c[1]))
}

/// Classify a screen with a CLI's detector. `quiet_for` is how long the
/// screen has not changed; an empty composer is `idle` only once it settled.
pub fn observe(
    screen: &vt100::Screen,
    quiet_for: Duration,
    detector: &Detector,
    settle: Duration,
) -> Observation {
    // A table that placed the screen without finding its own frame (no
    // composer, rule or box: every rule looked at the whole screen) only
    // decides when no other table places it within its frame.
    let mut first = None;
    let mut unanchored = None;
    for table in &detector.tables {
        let o = observe_table(screen, quiet_for, table, settle);
        if o.rule != "unplaced" {
            if layout(screen, table).anchored {
                return o;
            }
            unanchored.get_or_insert(o);
        } else {
            first.get_or_insert(o);
        }
    }
    unanchored.or(first).unwrap_or_default()
}

/// The folder a trust question asks about: the line under Claude Code's
/// `Accessing workspace:` or Codex's `Folder access`, else Gemini CLI's
/// `Trust folder (name)`.
fn trust_folder(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    match lines
        .iter()
        .position(|l| l.contains("Accessing workspace:") || l.trim() == "Folder access")
    {
        Some(i) => lines[i + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .map(str::to_string),
        None => gemini_trust_folder(text),
    }
}

/// Classify a screen with one table.
pub fn observe_table(
    screen: &vt100::Screen,
    quiet_for: Duration,
    table: &Table,
    settle: Duration,
) -> Observation {
    let lay = layout(screen, table);
    let mut o = Observation {
        prompt_drawn: lay.composer.is_some(),
        ..Observation::default()
    };
    extras(&mut o, &lay);
    for rule in &table.rules {
        let text = lay.region(rule.region);
        if text.is_empty() || (rule.without_composer && lay.composer.is_some()) {
            continue;
        }
        let all = rule.all.iter().all(|p| text.contains(p.as_str()));
        let any = rule.any.is_empty() || rule.any.iter().any(|p| text.contains(p.as_str()));
        let none = !rule.none.iter().any(|p| text.contains(p.as_str()));
        let regex = rule.regex.as_ref().map(|r| r.find(&text));
        if all && any && none && regex.as_ref().is_none_or(|m| m.is_some()) {
            o.state = Some(rule.state);
            o.dialog = rule.dialog;
            o.rule = rule.name.clone();
            if rule.dialog.is_some() {
                o.menu = lay.menu();
                o.dialog_line = text
                    .lines()
                    .map(|l| l.trim().trim_matches('│').trim())
                    .find(|l| !l.is_empty() && !l.starts_with(['─', '╭', '╰']))
                    .map(str::to_string);
            }
            if rule.state == AgentState::Limited {
                o.limit_line = limit_line(&lay);
            }
            if rule.dialog == Some(Dialog::Trust) {
                o.trust_folder = trust_folder(&text);
            }
            if rule.dialog.is_none() && lay.composer.is_some() {
                o.composer = composer_text(screen, &lay, table).filter(|t| !t.is_empty());
            }
            return o;
        }
    }
    match composer_text(screen, &lay, table) {
        Some(text) if !text.is_empty() => {
            o.state = Some(AgentState::Composing);
            o.rule = "composer".into();
            o.composer = Some(text);
        }
        Some(_) if quiet_for >= settle => {
            o.state = Some(AgentState::Idle);
            o.rule = "composer".into();
        }
        Some(_) => {
            // An empty composer on a screen still moving: not yet decided.
            o.rule = "settling".into();
        }
        // A screen no rule places is `unknown` only once it has settled: a
        // half-drawn frame is not worth a verdict.
        None if quiet_for < settle => {
            o.rule = "settling".into();
        }
        None => {
            o.rule = "unplaced".into();
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aider_input_taller_than_the_screen_is_still_its_composer() {
        let mut p = vt100::Parser::new(10, 60, 0);
        let rows: Vec<String> = (0..30)
            .map(|i| format!("> line {i} of a long briefing"))
            .collect();
        p.process(rows.join("\r\n").as_bytes());
        let t = table_for("aider").unwrap();
        let o = observe(p.screen(), Duration::from_secs(5), t, crate::screen::SETTLE);
        assert_eq!(o.state(), crate::proto::AgentState::Composing, "{o:?}");
        assert!(
            o.composer
                .as_deref()
                .is_some_and(|c| c.ends_with("line 29 of a long briefing")),
            "{o:?}"
        );
        // Output that merely ends with a `>` line, under text: not a composer.
        let mut p = vt100::Parser::new(10, 60, 0);
        p.process(b"Tokens: 5 sent\r\nsome reply\r\n> quoted");
        let o = observe(p.screen(), Duration::from_secs(5), t, crate::screen::SETTLE);
        assert_ne!(o.state(), crate::proto::AgentState::Composing, "{o:?}");
    }

    #[test]
    fn an_aider_prompt_under_the_chats_files_is_its_composer_and_a_reply_is_not() {
        use crate::proto::AgentState;
        let t = table_for("aider").unwrap();
        let rule = "─".repeat(60);
        let look = |text: &str| {
            let mut p = vt100::Parser::new(12, 60, 0);
            p.process(format!("Tokens: 1 sent, 2 received.\r\n{rule}\r\n{text}").as_bytes());
            observe(p.screen(), Duration::from_secs(5), t, crate::screen::SETTLE)
        };
        // One row of files; files in columns, read-only ones apart.
        for files in [
            "src/app.py src/util.py",
            "Readonly: docs/a.md (read only)\r\n\r\nEditable: src/app.py",
        ] {
            let o = look(&format!("{files}\r\n> "));
            assert_eq!(o.state(), AgentState::Idle, "{files}: {o:?}");
            let o = look(&format!("{files}\r\n> fix it"));
            assert_eq!(o.state(), AgentState::Composing, "{files}: {o:?}");
            assert_eq!(o.composer.as_deref(), Some("fix it"), "{files}");
        }
        // A turn sent with files in the chat, or in a mode: busy.
        for sent in ["src/app.py\r\n> fix it", "ask> what is this?"] {
            let o = look(&format!("{sent}\r\n  Waiting for openai/stand-in"));
            assert_eq!(o.state(), AgentState::Busy, "{sent}: {o:?}");
        }
        // A mode's prompt: idle when empty, its text read without it.
        assert_eq!(look("architect> ").state(), AgentState::Idle);
        let o = look("src/app.py\r\narchitect> plan it\r\narchitect> in two steps");
        assert_eq!(o.composer.as_deref(), Some("plan it\nin two steps"));
        // A sentence between the rule and `>`, or a blank row right above
        // it: not the chat's files, so no composer.
        for between in ["I will change it.", "src/app.py\r\n"] {
            let o = look(&format!("{between}\r\n> "));
            assert!(o.composer.is_none(), "{between:?}: {o:?}");
            assert_ne!(o.state(), AgentState::Idle, "{between:?}");
        }
    }

    #[test]
    fn every_built_in_table_parses_and_is_reachable() {
        assert!(!TABLES.is_empty());
        for (cli, text) in TABLES {
            let t = Table::parse(text).unwrap_or_else(|e| panic!("{cli}: {e}"));
            assert!(!t.rules.is_empty(), "{cli}: no rules");
            assert!(
                table_for(cli).is_some_and(|d| d.tables.iter().any(|x| x.name == t.name)),
                "{cli}"
            );
        }
        assert!(table_for("claude-code").is_some() && table_for("shell").is_none());
    }

    #[test]
    fn a_table_without_patterns_or_with_a_bad_regex_is_refused() {
        let base = "name = \"x\"\ncomposer = \"rules\"\nprompt = \">\"\n[[rule]]\nname = \"r\"\nstate = \"busy\"\nregion = \"footer\"\n";
        assert!(Table::parse(base).unwrap_err().contains("no pattern"));
        assert!(Table::parse(&format!("{base}regex = \"(\"\n")).is_err());
        assert!(Table::parse(&format!("{base}any = [\"x\"]\nstate2 = 1\n")).is_err());
    }
}
