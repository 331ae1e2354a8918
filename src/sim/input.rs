//! The sim agent's input: a thread reading the terminal, and turning its
//! bytes into keys, pastes and dialog answers.

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Mode, Sim, SimArgs};

/// A thread reading the terminal (and copying it to `--raw`); an empty
/// chunk means the input ended.
pub(super) fn read_input(args: &SimArgs) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let raw_path = args.raw.clone().or_else(|| {
        let agent = std::env::var("ORC_AGENT").unwrap_or_else(|_| "sim".into());
        args.raw_dir
            .as_ref()
            .map(|d| d.join(format!("{agent}.raw")))
    });
    let mut raw_log = raw_path.as_ref().and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Vec::new());
                    return;
                }
                Ok(n) => {
                    if let Some(f) = raw_log.as_mut() {
                        let _ = f.write_all(&buf[..n]);
                    }
                    if tx.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Input read but not used yet, and what it was in the middle of.
#[derive(Default)]
pub(super) struct Input {
    pub(super) pending: Vec<u8>,
    /// Inside a bracketed paste: what it pasted so far.
    in_paste: Option<Vec<u8>>,
    last_ctrl_c: Option<Instant>,
}

/// After a typed key: go on, wait for more bytes, or quit.
enum Flow {
    Go,
    Wait,
    Quit,
}

impl Sim {
    /// Consume the complete input bytes; false when the user quit (ctrl-c
    /// twice on an empty composer).
    pub(super) fn feed(&mut self, input: &mut Input) -> bool {
        let mut i = 0;
        while i < input.pending.len() {
            let rest = &input.pending[i..];
            if input.in_paste.is_some() {
                match self.paste_byte(&mut input.in_paste, rest) {
                    Some(n) => i += n,
                    None => break,
                }
                continue;
            }
            if rest.starts_with(b"\x1b[200~") {
                input.in_paste = Some(Vec::new());
                i += 6;
                continue;
            }
            if rest[0] == 0x1b && rest.len() < 6 && b"\x1b[200~".starts_with(rest) {
                break;
            }
            if matches!(self.mode, Mode::Permission | Mode::Limit | Mode::Trust) {
                // An arrow key is three bytes (`ESC [ B`); wait for all of them.
                let arrow = rest.len() >= 3 && rest[0] == 0x1b && matches!(rest[1], b'[' | b'O');
                if rest[0] == 0x1b && rest.len() < 3 {
                    break;
                }
                let len = if arrow { 3 } else { 1 };
                self.menu_key(&rest[..len]);
                i += len;
                continue;
            }
            match self.typed(&input.pending, &mut i, &mut input.last_ctrl_c) {
                Flow::Go => {}
                Flow::Wait => break,
                Flow::Quit => return false,
            }
        }
        input.pending.drain(..i);
        true
    }

    /// One byte of a bracketed paste (or its end marker): how many bytes it
    /// took, `None` to wait for more.
    fn paste_byte(&mut self, in_paste: &mut Option<Vec<u8>>, rest: &[u8]) -> Option<usize> {
        let p = in_paste.as_mut()?;
        if rest.starts_with(b"\x1b[201~") {
            let text =
                String::from_utf8_lossy(&in_paste.take().unwrap_or_default()).replace('\r', "\n");
            let n = text.lines().count();
            if n > 1 {
                self.paste_count += 1;
                self.pasted = Some((n, text));
            } else {
                self.input.push_str(&text);
            }
            Some(6)
        } else if b"\x1b[201~".starts_with(rest) {
            None // maybe a split end marker: wait for more
        } else {
            p.push(rest[0]);
            Some(1)
        }
    }

    /// A key typed in the composer.
    fn typed(&mut self, pending: &[u8], i: &mut usize, last_ctrl_c: &mut Option<Instant>) -> Flow {
        let b = pending[*i];
        *i += 1;
        match b {
            b'\r' | b'\n' => self.submit(),
            0x7f | 0x08 if self.pasted.take().is_none() => {
                self.input.pop();
            }
            0x15 => {
                // ctrl-u: clear the composer
                self.input.clear();
                self.pasted = None;
            }
            0x03 => {
                if self.input.is_empty()
                    && last_ctrl_c.is_some_and(|t| t.elapsed() < Duration::from_secs(2))
                {
                    return Flow::Quit;
                }
                self.input.clear();
                self.pasted = None;
                *last_ctrl_c = Some(Instant::now());
            }
            0x1b => {
                if let Mode::Busy { .. } = self.mode {
                    self.transcript.push("  ⎿  Interrupted by user".into());
                    self.mode = Mode::Idle;
                }
            }
            b if b >= 0x20 || b == b'\t' => {
                // Re-assemble UTF-8 sequences.
                let len = match b {
                    0xc0..=0xdf => 2,
                    0xe0..=0xef => 3,
                    0xf0..=0xf7 => 4,
                    _ => 1,
                };
                let start = *i - 1;
                if start + len > pending.len() {
                    *i = start;
                    return Flow::Wait;
                }
                self.input
                    .push_str(&String::from_utf8_lossy(&pending[start..start + len]));
                *i = start + len;
            }
            _ => {}
        }
        Flow::Go
    }
}
