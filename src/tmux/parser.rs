//! Byte-level parser for tmux control mode (`tmux -C`).
//!
//! Input is the raw byte stream of the control client's stdout, in chunks of any
//! size. Output is a sequence of [`Event`]s. The parser is pure and synchronous,
//! never panics, and bounds its memory: a line longer than [`MAX_LINE`] is cut
//! (and reported), and a reply block longer than [`MAX_BLOCK`] keeps only its
//! first bytes (and says so).

use std::collections::VecDeque;

/// Longest line kept whole. tmux writes `%output` in pieces far below this.
pub const MAX_LINE: usize = 8 * 1024 * 1024;
/// Most payload bytes kept for one `%begin` ... `%end` block.
pub const MAX_BLOCK: usize = 32 * 1024 * 1024;

/// Identifies a `%begin`/`%end`/`%error` block: time, command number, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    pub time: u64,
    pub number: u64,
    pub flags: u64,
}

/// The reply to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub guard: Guard,
    /// `%end` (true) or `%error` (false).
    pub ok: bool,
    /// The payload lines, without their trailing newline.
    pub lines: Vec<Vec<u8>>,
    /// Set when the block exceeded [`MAX_BLOCK`] and lines were dropped.
    pub truncated: bool,
}

impl Reply {
    /// True when the block answers a command this client wrote (flags bit 0).
    /// The block tmux prints for the attach command itself has flags 0.
    pub fn from_client(&self) -> bool {
        self.guard.flags & 1 == 1
    }

    /// Payload as text, lines joined with `\n`, invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (i, l) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&String::from_utf8_lossy(l));
        }
        out
    }
}

/// One thing the control client said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Reply(Reply),
    /// `%output %P data` or `%extended-output %P age ... : data`, unescaped.
    Output { pane: u32, data: Vec<u8> },
    Pause { pane: u32 },
    Continue { pane: u32 },
    WindowAdd { window: u32 },
    WindowClose { window: u32 },
    UnlinkedWindowClose { window: u32 },
    LayoutChange { window: u32 },
    SessionChanged { session: u32, name: String },
    SessionsChanged,
    /// `%subscription-changed NAME $S @W IDX %P ... : VALUE`
    /// (window and pane are absent for session-level subscriptions).
    SubscriptionChanged {
        name: String,
        window: Option<u32>,
        pane: Option<u32>,
        value: String,
    },
    /// `%exit [reason]`: the client is leaving; nothing follows.
    Exit { reason: Option<String> },
    /// A line longer than [`MAX_LINE`] was dropped.
    Overlong { len: usize },
    /// Any other notification, kept verbatim.
    Other(Vec<u8>),
}

#[derive(Debug, Default)]
pub struct Parser {
    line: Vec<u8>,
    /// Bytes of the current line that were dropped because it was too long.
    dropped: usize,
    block: Option<OpenBlock>,
    events: VecDeque<Event>,
}

#[derive(Debug)]
struct OpenBlock {
    guard: Guard,
    lines: Vec<Vec<u8>>,
    size: usize,
    truncated: bool,
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed bytes; complete lines become events.
    pub fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.append(&bytes[..i]);
                    bytes = &bytes[i + 1..];
                    let line = std::mem::take(&mut self.line);
                    let dropped = std::mem::replace(&mut self.dropped, 0);
                    if dropped > 0 {
                        self.events.push_back(Event::Overlong {
                            len: line.len() + dropped,
                        });
                    } else {
                        self.line_done(line);
                    }
                }
                None => {
                    self.append(bytes);
                    bytes = &[];
                }
            }
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.line.len());
        if bytes.len() <= room && self.dropped == 0 {
            self.line.extend_from_slice(bytes);
        } else {
            let keep = room.min(bytes.len());
            if self.dropped == 0 {
                self.line.extend_from_slice(&bytes[..keep]);
                self.dropped += bytes.len() - keep;
            } else {
                self.dropped += bytes.len();
            }
        }
    }

    /// The next complete event, if any.
    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// True while inside a `%begin` block.
    pub fn in_block(&self) -> bool {
        self.block.is_some()
    }

    fn line_done(&mut self, line: Vec<u8>) {
        if let Some(block) = &mut self.block {
            if let Some((ok, guard)) = parse_guard_end(&line) {
                if guard == block.guard {
                    let b = self.block.take().expect("block is open");
                    self.events.push_back(Event::Reply(Reply {
                        guard: b.guard,
                        ok,
                        lines: b.lines,
                        truncated: b.truncated,
                    }));
                    return;
                }
            }
            if block.size + line.len() > MAX_BLOCK {
                block.truncated = true;
            } else {
                block.size += line.len();
                block.lines.push(line);
            }
            return;
        }
        if let Some(guard) = parse_guard(&line, b"%begin ") {
            self.block = Some(OpenBlock {
                guard,
                lines: Vec::new(),
                size: 0,
                truncated: false,
            });
            return;
        }
        let ev = parse_notification(&line).unwrap_or(Event::Other(line));
        self.events.push_back(ev);
    }
}

fn parse_guard_end(line: &[u8]) -> Option<(bool, Guard)> {
    if let Some(g) = parse_guard(line, b"%end ") {
        return Some((true, g));
    }
    parse_guard(line, b"%error ").map(|g| (false, g))
}

/// `PREFIX <time> <number> <flags>`, nothing else on the line.
fn parse_guard(line: &[u8], prefix: &[u8]) -> Option<Guard> {
    let rest = line.strip_prefix(prefix)?;
    let mut it = rest.split(|&b| b == b' ');
    let time = parse_u64(it.next()?)?;
    let number = parse_u64(it.next()?)?;
    let flags = parse_u64(it.next()?)?;
    if it.next().is_some() {
        return None;
    }
    Some(Guard {
        time,
        number,
        flags,
    })
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// `%12` -> 12 (also `@12`, `$12` with the matching sigil).
fn parse_id(b: &[u8], sigil: u8) -> Option<u32> {
    let digits = b.strip_prefix(&[sigil])?;
    let n = parse_u64(digits)?;
    u32::try_from(n).ok()
}

/// Split off the first space-separated word.
fn word(b: &[u8]) -> (&[u8], &[u8]) {
    match b.iter().position(|&c| c == b' ') {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &[]),
    }
}

fn parse_notification(line: &[u8]) -> Option<Event> {
    let (name, rest) = word(line);
    match name {
        b"%output" => {
            let (pane, data) = word(rest);
            Some(Event::Output {
                pane: parse_id(pane, b'%')?,
                data: unescape(data),
            })
        }
        b"%extended-output" => {
            let (pane, rest) = word(rest);
            let pane = parse_id(pane, b'%')?;
            // `%extended-output %P AGE [more fields] : DATA`
            let colon = find(rest, b" : ")?;
            Some(Event::Output {
                pane,
                data: unescape(&rest[colon + 3..]),
            })
        }
        b"%pause" => Some(Event::Pause {
            pane: parse_id(word(rest).0, b'%')?,
        }),
        b"%continue" => Some(Event::Continue {
            pane: parse_id(word(rest).0, b'%')?,
        }),
        b"%window-add" => Some(Event::WindowAdd {
            window: parse_id(word(rest).0, b'@')?,
        }),
        b"%window-close" => Some(Event::WindowClose {
            window: parse_id(word(rest).0, b'@')?,
        }),
        b"%unlinked-window-close" => Some(Event::UnlinkedWindowClose {
            window: parse_id(word(rest).0, b'@')?,
        }),
        b"%layout-change" => Some(Event::LayoutChange {
            window: parse_id(word(rest).0, b'@')?,
        }),
        b"%session-changed" => {
            let (id, name) = word(rest);
            Some(Event::SessionChanged {
                session: parse_id(id, b'$')?,
                name: String::from_utf8_lossy(name).into_owned(),
            })
        }
        b"%sessions-changed" => Some(Event::SessionsChanged),
        b"%subscription-changed" => {
            let (sub, rest) = word(rest);
            let colon = find(rest, b" : ").or_else(|| {
                // a value may be empty: `... :` at end of line
                rest.ends_with(b" :").then(|| rest.len() - 2)
            })?;
            let fields = &rest[..colon];
            let value = rest.get(colon + 3..).unwrap_or(&[]);
            let mut window = None;
            let mut pane = None;
            for f in fields.split(|&b| b == b' ') {
                if let Some(w) = parse_id(f, b'@') {
                    window = Some(w);
                } else if let Some(p) = parse_id(f, b'%') {
                    pane = Some(p);
                }
            }
            Some(Event::SubscriptionChanged {
                name: String::from_utf8_lossy(sub).into_owned(),
                window,
                pane,
                value: String::from_utf8_lossy(value).into_owned(),
            })
        }
        b"%exit" => Some(Event::Exit {
            reason: (!rest.is_empty()).then(|| String::from_utf8_lossy(rest).into_owned()),
        }),
        _ => None,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Undo tmux's output escaping: `\ooo` (three octal digits) is one byte.
/// Anything else, including a malformed escape, is kept as it is.
pub fn unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b == b'\\' && i + 3 < data.len() && is_octal3(&data[i + 1..i + 4]) {
            let v = (data[i + 1] - b'0') as u32 * 64
                + (data[i + 2] - b'0') as u32 * 8
                + (data[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

fn is_octal3(b: &[u8]) -> bool {
    b.len() == 3 && (b'0'..=b'3').contains(&b[0]) && b[1..].iter().all(|c| (b'0'..=b'7').contains(c))
}
