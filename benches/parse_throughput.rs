//! Parser throughput: tmux control-mode parsing (`orc::tmux::parser`) and
//! vt100 feeding (`orc::screen::feed`), MB of raw control-mode bytes per
//! second of one core's CPU time, on
//!   - the recorded Claude Code streams (`fixtures/claude-code/*/*.cm`), and
//!   - a synthetic worst case: dense SGR/cursor escapes (every ESC arrives
//!     octal-escaped), wide and multi-byte characters split across `%output`
//!     lines, lines of 1..48 payload bytes, four interleaved panes.
//!
//! Baseline in the same run, on the same bytes: the naive way — each line
//! read into a `String` (lossy UTF-8), a regex to recognise `%output` /
//! `%extended-output`, a regex to unescape `\ooo`, and vt100 fed per line.
//! (It is also wrong: a character split across two lines becomes U+FFFD.)
//!
//! Each figure is the median of several runs (spread in the note); time is
//! the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so a busy machine slows
//! the wall clock, not the figure.
//!
//! Run: `cargo bench --bench parse_throughput` (ORC_BENCH_RUNS=N, default 7;
//! writes `target/bench/parse_throughput.json`).

mod support;

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;

use orc::tmux::parser::{Event, Parser};
use support::{median, pct, report, Better, Row};

const ROWS: u16 = 40;
const COLS: u16 = 120;
/// Bytes of input per timed run (the corpus is repeated up to this).
const RUN_BYTES: usize = 16 << 20;

fn cpu_now() -> f64 {
    let mut ts = nix::libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { nix::libc::clock_gettime(nix::libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// One stream = one control client's stdout (a fresh parser and fresh screens).
type Corpus = Vec<Vec<u8>>;

fn fixtures() -> Corpus {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/claude-code");
    let mut files = Vec::new();
    for v in std::fs::read_dir(&root).unwrap() {
        let v = v.unwrap().path();
        if v.is_dir() {
            for f in std::fs::read_dir(&v).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "cm") {
                    files.push(f);
                }
            }
        }
    }
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// tmux's control-mode escaping of pane bytes: < 0x20 and `\` as `\ooo`.
fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        if b < b' ' || b == b'\\' {
            out.extend_from_slice(format!("\\{b:03o}").as_bytes());
        } else {
            out.push(b);
        }
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn synthetic(size: usize) -> Corpus {
    let glyphs = [
        "a", "Z", "0", "─", "❯", "✻", "⎿", "●", "漢", "字", "😀", "é", "\\", " ", "│", "█",
    ];
    let mut rng = Rng(0x5eed);
    // what the panes wrote
    let mut panes: Vec<Vec<u8>> = vec![Vec::new(); 4];
    for p in panes.iter_mut() {
        while p.len() < size / 4 * 2 / 3 {
            match rng.below(10) {
                0 => p.extend_from_slice(
                    format!("\x1b[{};{}H", 1 + rng.below(40), 1 + rng.below(120)).as_bytes(),
                ),
                1 => p.extend_from_slice(b"\r\n"),
                2 => p.extend_from_slice(b"\x1b[0m\x1b[K"),
                3 => p.extend_from_slice(
                    format!(
                        "\x1b[1;38;2;{};{};{}m",
                        rng.below(256),
                        rng.below(256),
                        rng.below(256)
                    )
                    .as_bytes(),
                ),
                _ => {}
            }
            p.extend_from_slice(format!("\x1b[38;5;{}m", rng.below(256)).as_bytes());
            for _ in 0..1 + rng.below(4) {
                p.extend_from_slice(glyphs[rng.below(glyphs.len() as u64) as usize].as_bytes());
            }
        }
    }
    // as tmux would deliver them: short %output / %extended-output lines,
    // cut anywhere (mid-escape, mid-character), panes interleaved
    let mut cm = Vec::new();
    cm.extend_from_slice(b"%begin 1 1 0\n%end 1 1 0\n%session-changed $0 bench\n");
    let mut at = [0usize; 4];
    let mut n = 0u64;
    while at.iter().zip(&panes).any(|(a, p)| a < &p.len()) {
        let i = rng.below(4) as usize;
        if at[i] >= panes[i].len() {
            continue;
        }
        let len = (1 + rng.below(48) as usize).min(panes[i].len() - at[i]);
        let chunk = &panes[i][at[i]..at[i] + len];
        at[i] += len;
        if rng.below(2) == 0 {
            cm.extend_from_slice(format!("%extended-output %{i} 0 : ").as_bytes());
        } else {
            cm.extend_from_slice(format!("%output %{i} ").as_bytes());
        }
        escape(&mut cm, chunk);
        cm.push(b'\n');
        n += 1;
        if n % 500 == 0 {
            cm.extend_from_slice(
                format!("%begin 2 {n} 1\nsome reply\n%end 2 {n} 1\n%layout-change @0 x\n")
                    .as_bytes(),
            );
        }
    }
    vec![cm]
}

/// orc's way: the byte parser fed in 4 KiB reads (as the client reads its
/// pipe), each `Output` fed to its pane's screen. Returns output bytes.
fn orc_way(corpus: &Corpus, screens: bool) -> (usize, Vec<String>) {
    let mut out = 0;
    let mut shown = Vec::new();
    for stream in corpus {
        let mut p = Parser::new();
        let mut vts: HashMap<u32, vt100::Parser> = HashMap::new();
        for chunk in stream.chunks(4096) {
            p.push(chunk);
            while let Some(ev) = p.next_event() {
                if let Event::Output { pane, data } = ev {
                    out += data.len();
                    if screens {
                        let vt = vts
                            .entry(pane)
                            .or_insert_with(|| vt100::Parser::new(ROWS, COLS, 0));
                        orc::screen::feed(vt, &data);
                    }
                }
            }
        }
        let mut k: Vec<_> = vts.into_iter().collect();
        k.sort_by_key(|(p, _)| *p);
        shown.extend(k.into_iter().map(|(_, v)| v.screen().contents()));
    }
    (out, shown)
}

struct Naive {
    output: regex::Regex,
    octal: regex::Regex,
}

impl Naive {
    fn new() -> Self {
        Naive {
            output: regex::Regex::new(r"^%(?:output|extended-output) %(\d+) (?:\d+ : )?(.*)$")
                .unwrap(),
            octal: regex::Regex::new(r"\\([0-7]{3})").unwrap(),
        }
    }
    /// The naive way: line by line as Strings, regexes, vt100 fed per line.
    fn run(&self, corpus: &Corpus, screens: bool) -> (usize, Vec<String>) {
        let mut out = 0;
        let mut shown = Vec::new();
        for stream in corpus {
            let mut vts: HashMap<u32, vt100::Parser> = HashMap::new();
            let mut reader = std::io::BufReader::new(&stream[..]);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                if reader.read_until(b'\n', &mut buf).unwrap() == 0 {
                    break;
                }
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches('\n')
                    .to_string();
                let Some(c) = self.output.captures(&line) else {
                    continue;
                };
                let pane: u32 = c[1].parse().unwrap();
                let data = self.octal.replace_all(&c[2], |m: &regex::Captures| {
                    char::from(u8::from_str_radix(&m[1], 8).unwrap()).to_string()
                });
                out += data.len();
                if screens {
                    let vt = vts
                        .entry(pane)
                        .or_insert_with(|| vt100::Parser::new(ROWS, COLS, 0));
                    vt.process(data.as_bytes());
                }
            }
            let mut k: Vec<_> = vts.into_iter().collect();
            k.sort_by_key(|(p, _)| *p);
            shown.extend(k.into_iter().map(|(_, v)| v.screen().contents()));
        }
        (out, shown)
    }
}

/// MB/s (CPU time) of `f` over the corpus, `runs` times.
fn measure(corpus: &Corpus, runs: usize, mut f: impl FnMut(&Corpus)) -> Vec<f64> {
    let size: usize = corpus.iter().map(Vec::len).sum();
    let reps = RUN_BYTES.div_ceil(size).max(1);
    f(corpus); // warm up
    (0..runs)
        .map(|_| {
            let t = cpu_now();
            for _ in 0..reps {
                f(corpus);
            }
            (size * reps) as f64 / 1e6 / (cpu_now() - t)
        })
        .collect()
}

fn main() {
    let runs: usize = std::env::var("ORC_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let naive = Naive::new();
    let corpora = [
        ("claude-code fixtures", fixtures()),
        ("synthetic worst case", synthetic(8 << 20)),
    ];
    let mut rows = Vec::new();
    let mut extra = Vec::new();
    for (name, corpus) in &corpora {
        let size: usize = corpus.iter().map(Vec::len).sum();
        let (orc_out, orc_screens) = orc_way(corpus, true);
        let (naive_out, naive_screens) = naive.run(corpus, true);
        let wrong = orc_screens
            .iter()
            .zip(&naive_screens)
            .filter(|(a, b)| a != b)
            .count();
        for (what, screens) in [("parse", false), ("parse + vt100", true)] {
            let o = measure(corpus, runs, |c| {
                std::hint::black_box(orc_way(c, screens));
            });
            let b = measure(corpus, runs, |c| {
                std::hint::black_box(naive.run(c, screens));
            });
            let mut row = Row::new(
                format!("{what}, {name}"),
                "MB/s",
                Better::Higher,
                median(&o),
            )
            .base(median(&b))
            .note(format!(
                "orc {:.0}..{:.0}, naive {:.0}..{:.0} (min..max of {runs})",
                pct(&o, 0.0),
                pct(&o, 1.0),
                pct(&b, 0.0),
                pct(&b, 1.0)
            ));
            if screens {
                row = row.target(100.0);
            }
            extra.push(serde_json::json!({
                "corpus": name, "what": what, "input_bytes": size,
                "orc_mb_s": o, "naive_mb_s": b,
            }));
            rows.push(row);
        }
        extra.push(serde_json::json!({
            "corpus": name,
            "streams": corpus.len(),
            "input_bytes": size,
            "pane_bytes_orc": orc_out,
            "pane_bytes_naive": naive_out,
            "screens": orc_screens.len(),
            "naive_screens_differing_from_orc": wrong,
        }));
        println!(
            "{name}: {} streams, {:.2} MB control-mode input, {:.2} MB pane bytes; naive screens differing from orc's: {wrong}/{}",
            corpus.len(),
            size as f64 / 1e6,
            orc_out as f64 / 1e6,
            orc_screens.len()
        );
    }
    report(
        "parse_throughput",
        "control-mode parse (+ vt100 feed), MB/s of raw control-mode input, one core (CPU time); baseline: String lines + regex unescape + vt100 per line",
        &rows,
        serde_json::json!(extra),
    );
}
