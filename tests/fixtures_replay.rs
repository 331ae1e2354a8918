//! Replay control-mode fixtures recorded from the real Claude Code CLI
//! (`examples/record_claude.rs`) through orc's parser, a vt100 screen and the
//! detector, and check every checkpoint's state against its recorded truth.
//!
//! For each `fixtures/claude-code/<version>/<scenario>.json`: parse
//! `<scenario>.cm` with `orc::tmux::parser::Parser` (fed in odd-size chunks),
//! take the recorded pane's `Output` events, feed the first `outputs` of them
//! into a `width`x`height` screen and classify it as a settled screen (quiet
//! for 5 s). `exited` checkpoints (the pane is dead; orc learns that from the
//! pane's death) only require that the detector claims neither `idle` nor
//! `busy` for the last screen.
//!
//! `ORC_FIXTURE_DUMP=1 cargo test --test fixtures_replay -- --nocapture` prints
//! every checkpoint's screen.

use std::path::{Path, PathBuf};
use std::time::Duration;

use orc::proto::AgentState;
use orc::screen::detect::{observe, table_for, Dialog};
use orc::tmux::parser::{Event, Parser};
use serde::Deserialize;

/// The suite must find at least this many checkpoints.
const MIN_CHECKPOINTS: usize = 25;

/// Checkpoints whose truth no screen can show, with the reason: (fixture,
/// checkpoint, an earlier checkpoint of the same fixture whose screen it must
/// equal exactly, why). The test checks that the screens really are equal and
/// that every entry matches a recorded checkpoint.
const SKIP: &[(&str, &str, &str, &str)] = &[
    (
        "claude-code/2.1.332/exit-ctrl-c",
        "exited",
        "ctrl-c-once",
        "as in 2.1.197: the second ctrl-c quits without redrawing, so the dead pane's last \
         screen is the live, idle `ctrl-c-once` screen; orc learns of the exit from the \
         pane's death",
    ),
    (
        "claude-code/2.1.197/exit-ctrl-c",
        "exited",
        "ctrl-c-once",
        "the CLI quits on the second ctrl-c without redrawing anything: the dead pane's last \
     screen is the live `ctrl-c-once` screen (empty composer, 'Press Ctrl-C again to \
     exit'), which is idle; orc learns of the exit from the pane's death",
    ),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    cli: String,
    version: String,
    width: u16,
    height: u16,
    pane: String,
    auth: String,
    checkpoints: Vec<Checkpoint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Checkpoint {
    name: String,
    outputs: usize,
    state: AgentState,
    dialog: Option<Dialog>,
    /// The context meter's "percent left", when the screen shows one.
    #[serde(default)]
    context_left: Option<u8>,
    note: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Every `<cli>/<version>/<scenario>.json` under fixtures/ (`tmux/` holds
/// control-mode transcripts, `screens/` capture-pane screens and `projects/`
/// sample projects for detection: not these).
fn fixture_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let versions = std::fs::read_dir(root())
        .expect("fixtures/ exists")
        .filter_map(|d| d.ok().map(|d| d.path()))
        .filter(|d| {
            d.is_dir()
                && !d.ends_with("tmux")
                && !d.ends_with("screens")
                && !d.ends_with("projects")
        })
        .flat_map(|cli| std::fs::read_dir(cli).unwrap().filter_map(|d| d.ok()));
    for v in versions {
        let v = v.path();
        if !v.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&v).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "json") {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

/// The pane's output events, in stream order, parsed from the raw bytes fed
/// in odd-size chunks.
fn pane_outputs(cm: &[u8], pane: u32) -> Vec<Vec<u8>> {
    const CHUNKS: &[usize] = &[1, 7, 13, 61, 509, 3, 4093, 2, 257];
    let mut parser = Parser::new();
    let mut outputs = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < cm.len() {
        let n = CHUNKS[i % CHUNKS.len()].min(cm.len() - at);
        parser.push(&cm[at..at + n]);
        at += n;
        i += 1;
        while let Some(ev) = parser.next_event() {
            if let Event::Output { pane: p, data } = ev {
                if p == pane {
                    outputs.push(data);
                }
            }
        }
    }
    outputs
}

/// The key lines of a screen for a failure message: non-blank rows, the
/// welcome box left out.
fn key_lines(screen: &vt100::Screen) -> String {
    let (_, cols) = screen.size();
    screen
        .rows(0, cols)
        .map(|r| r.trim_end().to_string())
        .filter(|r| {
            !r.trim().is_empty()
                && !r.starts_with('│')
                && !r.starts_with('╭')
                && !r.starts_with('╰')
        })
        .map(|r| format!("      | {r}"))
        .collect::<Vec<_>>()
        .join("\n")
}

struct Outcome {
    checked: usize,
    /// Dialog checkpoints whose answer's label the menu reader found.
    menus: usize,
    skipped: Vec<String>,
    failures: Vec<String>,
}

fn check_fixture(json_path: &Path, out: &mut Outcome) {
    let label = json_path
        .strip_prefix(root())
        .unwrap_or(json_path)
        .display()
        .to_string();
    let text = std::fs::read_to_string(json_path).unwrap();
    let fx: Fixture = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{label}: not a fixture description: {e}"));
    let dir_cli = json_path
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap();
    assert_eq!(fx.cli, dir_cli, "{label}: cli vs folder");
    let dir_version = json_path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap();
    assert_eq!(fx.version, dir_version, "{label}: version vs folder");
    assert!(!fx.auth.is_empty(), "{label}: auth");
    assert!(!fx.checkpoints.is_empty(), "{label}: no checkpoints");
    let pane: u32 = fx
        .pane
        .strip_prefix('%')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{label}: pane {:?} is not %N", fx.pane));
    let cm_path = json_path.with_extension("cm");
    let cm = std::fs::read(&cm_path)
        .unwrap_or_else(|e| panic!("{label}: missing {}: {e}", cm_path.display()));
    let outputs = pane_outputs(&cm, pane);
    let table =
        table_for(&fx.cli).unwrap_or_else(|| panic!("{label}: no detector table for {}", fx.cli));
    let key = label.trim_end_matches(".json").to_string();
    let mut last = 0;
    let mut screens: Vec<(String, String)> = Vec::new();
    for cp in &fx.checkpoints {
        assert!(
            cp.outputs <= outputs.len(),
            "{label}/{}: wants {} outputs of %{pane}, the stream has {}",
            cp.name,
            cp.outputs,
            outputs.len()
        );
        assert!(
            cp.outputs >= last,
            "{label}/{}: checkpoints out of order",
            cp.name
        );
        assert!(!cp.note.trim().is_empty(), "{label}/{}: no note", cp.name);
        last = cp.outputs;
        let mut vt = vt100::Parser::new(fx.height, fx.width, 0);
        for data in &outputs[..cp.outputs] {
            vt.process(data);
        }
        let o = observe(
            vt.screen(),
            Duration::from_secs(5),
            table,
            orc::screen::SETTLE,
        );
        if std::env::var_os("ORC_FIXTURE_DUMP").is_some() {
            eprintln!(
                "--- {label}/{} @{}\n{}",
                cp.name,
                cp.outputs,
                key_lines(vt.screen())
            );
        }
        screens.push((cp.name.clone(), vt.screen().contents()));
        if let Some((_, _, same_as, why)) =
            SKIP.iter().find(|(f, c, _, _)| *f == key && *c == cp.name)
        {
            let earlier = screens
                .iter()
                .find(|(n, _)| n == same_as)
                .unwrap_or_else(|| {
                    panic!(
                        "{label}/{}: skip names {same_as}, not recorded before it",
                        cp.name
                    )
                });
            assert_eq!(
                earlier.1,
                vt.screen().contents(),
                "{label}/{}: skipped as identical to {same_as}, but the screens differ",
                cp.name
            );
            out.skipped.push(format!("{key}/{}: {why}", cp.name));
            eprintln!("skip {key}/{}: {why}", cp.name);
            continue;
        }
        out.checked += 1;
        let got = o.state();
        let wrong = if cp.state == AgentState::Exited {
            // The pane is dead; the screen only must not look like a live agent.
            matches!(got, AgentState::Idle | AgentState::Busy)
        } else {
            got != cp.state
                || (cp.dialog.is_some() && o.dialog != cp.dialog)
                || (cp.context_left.is_some() && o.context_left != cp.context_left)
        };
        // A dialog orc answers must show its answer's label, and where the
        // cursor is, to the menu reader (orc answers by label, not digit).
        // The labels of the fixture's own driver.
        let labels = cp
            .dialog
            .map(orc::drivers::of(&fx.cli).labels)
            .unwrap_or(&[]);
        let menu_wrong = !labels.is_empty()
            && cp.state != AgentState::Exited
            && o.menu.as_ref().and_then(|m| m.find(labels)).is_none();
        if !labels.is_empty() && !menu_wrong {
            out.menus += 1;
        }
        let wrong = wrong || menu_wrong;
        let line = format!(
            "{label}/{} (@{} outputs): truth {}/{:?}, detector {}/{:?} (rule {}){}",
            cp.name,
            cp.outputs,
            cp.state.as_str(),
            cp.dialog,
            got.as_str(),
            o.dialog,
            o.rule,
            match (&o.menu, menu_wrong) {
                (_, true) => format!(", menu {:?} lacks {labels:?}", o.menu),
                (Some(m), false) if !labels.is_empty() => format!(
                    ", cursor on '{}', answer '{}'",
                    m.options[m.cursor].label,
                    m.find(labels)
                        .map(|i| m.options[i].label.as_str())
                        .unwrap_or("-")
                ),
                _ => String::new(),
            }
        );
        if wrong {
            out.failures.push(format!(
                "{line}\n    note: {}\n{}",
                cp.note,
                key_lines(vt.screen())
            ));
        } else {
            eprintln!("ok   {line}");
        }
    }
}

#[test]
fn recorded_claude_screens_classify_as_recorded() {
    let files = fixture_files();
    assert!(!files.is_empty(), "no fixtures under {}", root().display());
    let mut out = Outcome {
        checked: 0,
        menus: 0,
        skipped: Vec::new(),
        failures: Vec::new(),
    };
    for f in &files {
        check_fixture(f, &mut out);
    }
    eprintln!(
        "{} checkpoints checked in {} fixtures ({} dialogs read by label), {} wrong, {} skipped",
        out.checked,
        files.len(),
        out.menus,
        out.failures.len(),
        out.skipped.len()
    );
    assert_eq!(
        out.skipped.len(),
        SKIP.len(),
        "a SKIP entry matches no recorded checkpoint: {SKIP:?}"
    );
    assert!(
        out.checked >= MIN_CHECKPOINTS,
        "only {} checkpoints found, want at least {MIN_CHECKPOINTS}",
        out.checked
    );
    assert!(
        out.failures.is_empty(),
        "{} of {} checkpoints classified wrong:\n\n{}",
        out.failures.len(),
        out.checked,
        out.failures.join("\n\n")
    );
    assert!(out.menus >= 8, "only {} dialog menus read", out.menus);
}

/// Every .cm has its .json and the other way round (a lone file is a
/// half-written recording).
#[test]
fn every_stream_has_its_checkpoints() {
    for v in std::fs::read_dir(root()).unwrap() {
        let v = v.unwrap().path();
        if !v.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&v).unwrap() {
            let f = f.unwrap().path();
            match f.extension().and_then(|e| e.to_str()) {
                Some("cm") => assert!(
                    f.with_extension("json").exists(),
                    "{} has no .json",
                    f.display()
                ),
                Some("json") => assert!(
                    f.with_extension("cm").exists(),
                    "{} has no .cm",
                    f.display()
                ),
                _ => {}
            }
        }
    }
}

/// 2.1.332 continues by itself at the reset: the limit line the detector
/// reports for its limit screens must say so (`auto_continue`), with the
/// reset the screen shows; the weekly menu (reset more than a day out, no
/// automatic continue) must not.
#[test]
fn limit_screens_of_2_1_332_report_auto_continue() {
    let clock = regex::Regex::new(r"(\d{1,2}):(\d{2})(am|pm)").unwrap();
    let cases: &[(&str, &str, bool)] = &[
        ("usage-limit", "usage-limit-auto", true),
        ("usage-limit-reset", "usage-limit-waiting", true),
        ("usage-limit-weekly", "usage-limit-weekly", false),
    ];
    let dir = root().join("claude-code/2.1.332");
    for (fixture, checkpoint, want_auto) in cases {
        let fx: Fixture = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{fixture}.json"))).unwrap(),
        )
        .unwrap();
        let cp = fx
            .checkpoints
            .iter()
            .find(|c| c.name == *checkpoint)
            .unwrap();
        let pane: u32 = fx.pane.trim_start_matches('%').parse().unwrap();
        let outputs = pane_outputs(
            &std::fs::read(dir.join(format!("{fixture}.cm"))).unwrap(),
            pane,
        );
        let mut vt = vt100::Parser::new(fx.height, fx.width, 0);
        for data in &outputs[..cp.outputs] {
            vt.process(data);
        }
        let o = observe(
            vt.screen(),
            Duration::from_secs(5),
            table_for("claude-code").unwrap(),
            orc::screen::SETTLE,
        );
        assert_eq!(o.state(), AgentState::Limited, "{fixture}/{checkpoint}");
        let line = o
            .limit_line
            .clone()
            .unwrap_or_else(|| panic!("{fixture}/{checkpoint}: no limit line"));
        // The reset as the screen words it (hh:mm[am|pm]) must be the parsed one.
        let shown = clock
            .captures(&line)
            .unwrap_or_else(|| panic!("{fixture}/{checkpoint}: no clock in {line:?}"));
        let r = orc::screen::reset::parse_reset(
            &line,
            chrono::Utc::now() - chrono::Duration::hours(1),
            chrono_tz::UTC,
        )
        .unwrap_or_else(|e| panic!("{fixture}/{checkpoint}: {line:?}: {e}"));
        let mut h: u32 = shown[1].parse().unwrap();
        if &shown[3] == "pm" && h != 12 {
            h += 12;
        } else if &shown[3] == "am" && h == 12 {
            h = 0;
        }
        use chrono::Timelike;
        assert_eq!(
            (r.at.hour(), r.at.minute()),
            (h, shown[2].parse().unwrap()),
            "{line:?}"
        );
        assert_eq!(
            r.auto_continue, *want_auto,
            "{fixture}/{checkpoint}: {line:?}"
        );
    }
}

/// Codex 0.171's usage limit (429 `usage_limit_reached` with `resets_at`)
/// says when to try again, wrapped over two rows: the limit line orc reads
/// must carry it, and it must parse to the `resets_at` the stand-in sent
/// (the note records it; the screen shows it to the minute, in the pane's
/// zone, UTC in the recording).
#[test]
fn codex_usage_limit_screen_gives_the_reset_it_was_sent() {
    let dir = root().join("codex/0.171.0");
    let fx: Fixture =
        serde_json::from_str(&std::fs::read_to_string(dir.join("usage-limit.json")).unwrap())
            .unwrap();
    let cp = &fx.checkpoints[0];
    let sent: i64 = regex::Regex::new(r"resets_at (\d{9,11})")
        .unwrap()
        .captures(&cp.note)
        .expect("the note records resets_at")[1]
        .parse()
        .unwrap();
    let pane: u32 = fx.pane.trim_start_matches('%').parse().unwrap();
    let outputs = pane_outputs(&std::fs::read(dir.join("usage-limit.cm")).unwrap(), pane);
    let mut vt = vt100::Parser::new(fx.height, fx.width, 0);
    for data in &outputs[..cp.outputs] {
        vt.process(data);
    }
    let o = observe(
        vt.screen(),
        Duration::from_secs(5),
        table_for("codex").unwrap(),
        orc::screen::SETTLE,
    );
    assert_eq!(o.state(), AgentState::Limited);
    let line = o.limit_line.clone().expect("a limit line");
    assert!(line.contains("try again at"), "{line:?}");
    // Recorded 2 h 7 min before the reset.
    let then = chrono::DateTime::from_timestamp(sent - 7620, 0).unwrap();
    let r = orc::screen::reset::parse_reset(&line, then, chrono_tz::UTC)
        .unwrap_or_else(|e| panic!("{line:?}: {e}"));
    let diff = sent - r.at.timestamp();
    assert!((0..60).contains(&diff), "{line:?}: {} vs {sent}", r.at);
    assert!(!r.auto_continue, "Codex does not go on by itself: {line:?}");
}

/// orc answers a trust question only for the agent's own folder: Codex's
/// (`Folder access` above the path) must give the folder it asks about.
#[test]
fn codex_trust_dialogs_name_their_folder() {
    for version in ["0.169.0", "0.171.0"] {
        let dir = root().join("codex").join(version);
        let fx: Fixture =
            serde_json::from_str(&std::fs::read_to_string(dir.join("startup.json")).unwrap())
                .unwrap();
        let cp = fx
            .checkpoints
            .iter()
            .find(|c| c.name == "trust-dialog")
            .unwrap();
        let pane: u32 = fx.pane.trim_start_matches('%').parse().unwrap();
        let outputs = pane_outputs(&std::fs::read(dir.join("startup.cm")).unwrap(), pane);
        let mut vt = vt100::Parser::new(fx.height, fx.width, 0);
        for data in &outputs[..cp.outputs] {
            vt.process(data);
        }
        let o = observe(
            vt.screen(),
            Duration::from_secs(5),
            table_for("codex").unwrap(),
            orc::screen::SETTLE,
        );
        assert_eq!(
            o.trust_folder.as_deref(),
            Some("/tmp/orc-rec-codex/startup/proj"),
            "{version}"
        );
    }
}

/// Gemini CLI 0.61.0's limit dialog: the limit line the detector reports is
/// the one with the reset (`Access resets at 12:45 PM UTC.`), and it parses
/// to the clock time shown.
#[test]
fn gemini_limit_dialog_reports_its_reset() {
    let dir = root().join("gemini/0.61.0");
    let fx: Fixture =
        serde_json::from_str(&std::fs::read_to_string(dir.join("quota.json")).unwrap()).unwrap();
    let cp = fx
        .checkpoints
        .iter()
        .find(|c| c.name == "limit-dialog")
        .unwrap();
    let outputs = pane_outputs(&std::fs::read(dir.join("quota.cm")).unwrap(), 1);
    let mut vt = vt100::Parser::new(fx.height, fx.width, 0);
    for data in &outputs[..cp.outputs] {
        vt.process(data);
    }
    let o = observe(
        vt.screen(),
        Duration::from_secs(5),
        table_for("gemini").unwrap(),
        orc::screen::SETTLE,
    );
    assert_eq!(o.state(), AgentState::Limited);
    let line = o.limit_line.expect("a limit line");
    let shown = regex::Regex::new(r"Access resets at (\d{1,2}):(\d{2}) (AM|PM) UTC\.")
        .unwrap()
        .captures(&line)
        .unwrap_or_else(|| panic!("limit line {line:?}"));
    let r =
        orc::screen::reset::parse_reset(&line, chrono::Utc::now(), "Asia/Tokyo".parse().unwrap())
            .unwrap();
    let mut h: u32 = shown[1].parse().unwrap();
    if &shown[3] == "PM" && h != 12 {
        h += 12;
    } else if &shown[3] == "AM" && h == 12 {
        h = 0;
    }
    use chrono::Timelike;
    assert_eq!((r.at.hour(), r.at.minute()), (h, shown[2].parse().unwrap()));
    assert!(!r.auto_continue);
}
