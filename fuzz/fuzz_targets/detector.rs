//! Any bytes on any pane size: vt100 plus orc's detectors must return a state
//! and never panic (garbage, half-drawn frames, unknown escapes, resizes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use orc::screen::detect::{observe, table_for};
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let rows = 2 + (data[0] as u16 % 120);
    let cols = 2 + (data[1] as u16 % 250);
    let split = data[2] as usize % (data.len() - 2) + 3;
    let (first, second) = data[3..].split_at((split - 3).min(data.len() - 3));
    let mut vt = vt100::Parser::new(rows, cols, 0);
    orc::screen::feed(&mut vt, first);
    let detectors: Vec<_> = ["claude-code", "aider", "codex"].iter().map(|d| table_for(d).unwrap()).collect();
    for d in &detectors {
        let _ = observe(vt.screen(), Duration::from_secs(1), d, orc::screen::SETTLE);
    }
    // No resize mid-stream here: vt100 0.16 itself panics on wide characters
    // after a shrink (libFuzzer aborts on any panic); orc catches that panic
    // (`screen::feed`, tested in src/screen/mod.rs) and rebuilds the screen.
    orc::screen::feed(&mut vt, second);
    for d in &detectors {
        let o = observe(vt.screen(), Duration::from_millis(1), d, orc::screen::SETTLE);
        let _ = o.state();
    }
    let _ = orc::screen::classify(vt.screen(), Duration::ZERO, None);
});
