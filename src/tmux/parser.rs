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
    Output {
        pane: u32,
        data: Vec<u8>,
    },
    Pause {
        pane: u32,
    },
    Continue {
        pane: u32,
    },
    WindowAdd {
        window: u32,
    },
    WindowClose {
        window: u32,
    },
    UnlinkedWindowClose {
        window: u32,
    },
    LayoutChange {
        window: u32,
    },
    SessionChanged {
        session: u32,
        name: String,
    },
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
    Exit {
        reason: Option<String>,
    },
    /// A line longer than [`MAX_LINE`] was dropped.
    Overlong {
        len: usize,
    },
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
            // A command can cause flow-control notifications that tmux prints
            // inside its block (`refresh-client -A '%1:continue'`). Losing a
            // `%pause` would leave a pane paused for good, so these two exact
            // forms are notifications wherever they appear.
            if let Some(ev @ (Event::Pause { .. } | Event::Continue { .. })) =
                parse_notification(&line)
            {
                self.events.push_back(ev);
                return;
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
        b"%pause" if !rest.contains(&b' ') => Some(Event::Pause {
            pane: parse_id(rest, b'%')?,
        }),
        b"%continue" if !rest.contains(&b' ') => Some(Event::Continue {
            pane: parse_id(rest, b'%')?,
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
    b.len() == 3
        && (b'0'..=b'3').contains(&b[0])
        && b[1..].iter().all(|c| (b'0'..=b'7').contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(p: &mut Parser) -> Vec<Event> {
        std::iter::from_fn(|| p.next_event()).collect()
    }

    fn parse(bytes: &[u8]) -> Vec<Event> {
        let mut p = Parser::new();
        p.push(bytes);
        all(&mut p)
    }

    #[test]
    fn block_closes_only_on_the_exact_triple() {
        let ev = parse(
            b"%begin 100 7 1\n%end 100 8 1\n%end 99 7 1\n%error 100 7 0\n%output %1 x\nreal\n%continue %1\n%end 100 7 1\n",
        );
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert_eq!(
            ev[0],
            Event::Continue { pane: 1 },
            "flow control inside a block is a notification"
        );
        let ev = &ev[1..];
        let Event::Reply(r) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert!(r.ok);
        assert_eq!(
            r.guard,
            Guard {
                time: 100,
                number: 7,
                flags: 1
            }
        );
        let lines: Vec<&[u8]> = r.lines.iter().map(|l| l.as_slice()).collect();
        assert_eq!(
            lines,
            vec![
                &b"%end 100 8 1"[..],
                b"%end 99 7 1",
                b"%error 100 7 0",
                b"%output %1 x",
                b"real"
            ]
        );
    }

    #[test]
    fn error_block_and_flags() {
        let ev =
            parse(b"%begin 1 2 0\n%end 1 2 0\n%begin 1 3 1\ncan't find pane: %999\n%error 1 3 1\n");
        let [Event::Reply(a), Event::Reply(b)] = ev.as_slice() else {
            panic!("{ev:?}")
        };
        assert!(a.ok && !a.from_client());
        assert!(!b.ok && b.from_client());
        assert_eq!(b.text(), "can't find pane: %999");
    }

    #[test]
    fn a_guard_with_extra_words_is_payload() {
        let ev = parse(b"%begin 1 2 1\n%end 1 2 1 extra\n%end 1 2 1\n");
        let [Event::Reply(r)] = ev.as_slice() else {
            panic!("{ev:?}")
        };
        assert_eq!(r.lines, vec![b"%end 1 2 1 extra".to_vec()]);
    }

    #[test]
    fn output_is_unescaped_and_split_utf8_survives_chunking() {
        // `❯` is e2 9d af; split it across two %output lines and the chunks.
        let stream = b"%output %3 a\\342\\235\n%output %3 \\257b\\015\\012\\134\\033[31m\n";
        for cut in 0..stream.len() {
            let mut p = Parser::new();
            p.push(&stream[..cut]);
            p.push(&stream[cut..]);
            let data: Vec<u8> = all(&mut p)
                .into_iter()
                .flat_map(|e| match e {
                    Event::Output { pane: 3, data } => data,
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(data, "a❯b\r\n\\\x1b[31m".as_bytes(), "cut at {cut}");
        }
    }

    #[test]
    fn raw_utf8_in_output_passes_through() {
        let ev = parse("%output %0 ─❯ ünï\n".as_bytes());
        assert_eq!(
            ev,
            vec![Event::Output {
                pane: 0,
                data: "─❯ ünï".as_bytes().to_vec()
            }]
        );
    }

    #[test]
    fn malformed_escapes_are_kept() {
        assert_eq!(unescape(b"\\9\\12\\400x\\"), b"\\9\\12\\400x\\".to_vec());
        assert_eq!(unescape(b"\\000\\377"), vec![0, 255]);
    }

    #[test]
    fn extended_output_pause_continue() {
        let ev = parse(b"%extended-output %2 1234 : hi\\040there\n%pause %2\n%continue %2\n");
        assert_eq!(
            ev,
            vec![
                Event::Output {
                    pane: 2,
                    data: b"hi there".to_vec()
                },
                Event::Pause { pane: 2 },
                Event::Continue { pane: 2 },
            ]
        );
    }

    #[test]
    fn notifications() {
        let ev = parse(
            b"%window-close @4\n%unlinked-window-close @5\n%window-add @6\n%layout-change @4 b25d,80x24,0,0,1 b25d,80x24,0,0,1 *\n%session-changed $1 orc\n%sessions-changed\n%subscription-changed dead $0 @1 1 %2 : 1:3\n%subscription-changed dead $0 @1 1 %2 :\n%exit too far behind\n%exit\n%client-detached c\n",
        );
        assert_eq!(
            ev,
            vec![
                Event::WindowClose { window: 4 },
                Event::UnlinkedWindowClose { window: 5 },
                Event::WindowAdd { window: 6 },
                Event::LayoutChange { window: 4 },
                Event::SessionChanged {
                    session: 1,
                    name: "orc".into()
                },
                Event::SessionsChanged,
                Event::SubscriptionChanged {
                    name: "dead".into(),
                    window: Some(1),
                    pane: Some(2),
                    value: "1:3".into()
                },
                Event::SubscriptionChanged {
                    name: "dead".into(),
                    window: Some(1),
                    pane: Some(2),
                    value: "".into()
                },
                Event::Exit {
                    reason: Some("too far behind".into())
                },
                Event::Exit { reason: None },
                Event::Other(b"%client-detached c".to_vec()),
            ]
        );
    }

    #[test]
    fn overlong_lines_are_dropped_and_reported() {
        let mut p = Parser::new();
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..(MAX_LINE / chunk.len() + 3) {
            p.push(&chunk);
        }
        assert!(p.line.len() <= MAX_LINE);
        p.push(b"\n%output %1 ok\n");
        let ev = all(&mut p);
        assert!(matches!(ev[0], Event::Overlong { len } if len > MAX_LINE));
        assert_eq!(
            ev[1],
            Event::Output {
                pane: 1,
                data: b"ok".to_vec()
            }
        );
    }

    #[test]
    fn huge_blocks_are_truncated_not_unbounded() {
        let mut p = Parser::new();
        p.push(b"%begin 1 1 1\n");
        let line = vec![b'y'; 1024 * 1024];
        for _ in 0..(MAX_BLOCK / line.len() + 4) {
            p.push(&line);
            p.push(b"\n");
        }
        p.push(b"%end 1 1 1\n");
        let ev = all(&mut p);
        let [Event::Reply(r)] = ev.as_slice() else {
            panic!()
        };
        assert!(r.truncated);
        assert!(r.lines.iter().map(|l| l.len()).sum::<usize>() <= MAX_BLOCK);
    }

    #[test]
    fn ids_out_of_range_are_not_events() {
        let ev = parse(b"%output %99999999999 x\n%window-close @-1\n");
        assert!(matches!(ev[0], Event::Other(_)));
        assert!(matches!(ev[1], Event::Other(_)));
    }
}
