//! Any byte stream, cut into chunks anywhere: the control-mode parser must not
//! panic, and what it holds must stay within its limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orc::tmux::parser::{Event, Parser, MAX_BLOCK, MAX_LINE};

fuzz_target!(|data: &[u8]| {
    // First byte picks a chunk size so that splits land everywhere.
    let (chunk, body) = match data.split_first() {
        Some((c, rest)) => ((*c as usize % 64) + 1, rest),
        None => return,
    };
    let mut p = Parser::new();
    for piece in body.chunks(chunk) {
        p.push(piece);
        while let Some(ev) = p.next_event() {
            match ev {
                Event::Reply(r) => {
                    let total: usize = r.lines.iter().map(|l| l.len()).sum();
                    assert!(total <= MAX_BLOCK);
                }
                Event::Output { data, .. } => assert!(data.len() <= MAX_LINE),
                _ => {}
            }
        }
    }
    // Unescaping never grows its input.
    assert!(orc::tmux::parser::unescape(body).len() <= body.len());
});
