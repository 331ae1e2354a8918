//! Replays of control-mode transcripts recorded from the real tmux 3.3a
//! (`fixtures/tmux/`, made by `fixtures/tmux/record.sh`). Times, numbers and
//! pids differ between recordings, so these check structure.

use super::parser::{Event, Parser, Reply};

fn replay(name: &str) -> Vec<Event> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tmux")
        .join(format!("{name}.out"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Feed in awkward chunks: 7 bytes at a time.
    let mut p = Parser::new();
    let mut out = Vec::new();
    for chunk in bytes.chunks(7) {
        p.push(chunk);
        out.extend(std::iter::from_fn(|| p.next_event()));
    }
    assert!(!p.in_block(), "{name}: transcript ends inside a block");
    out
}

fn replies(ev: &[Event]) -> Vec<&Reply> {
    ev.iter()
        .filter_map(|e| {
            if let Event::Reply(r) = e {
                Some(r)
            } else {
                None
            }
        })
        .collect()
}

fn output(ev: &[Event], pane: u32) -> Vec<u8> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Output { pane: p, data } if *p == pane => Some(data.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn startup_block_for_attach_has_flags_zero() {
    let ev = replay("startup");
    let Event::Reply(first) = &ev[0] else {
        panic!("{ev:?}")
    };
    assert!(first.ok && !first.from_client() && first.lines.is_empty());
    assert!(matches!(&ev[1], Event::SessionChanged { session: 0, name } if name == "s"));
    assert!(matches!(ev.last(), Some(Event::Exit { reason: None })));
}

#[test]
fn failed_attach_is_an_error_block_then_exit() {
    let ev = replay("attach-fail");
    let Event::Reply(first) = &ev[0] else {
        panic!("{ev:?}")
    };
    assert!(!first.ok && !first.from_client());
    assert_eq!(first.text(), "can't find session: nosuchsession");
    assert!(matches!(ev.last(), Some(Event::Exit { .. })));
}

#[test]
fn command_replies_pair_up_with_stdin_lines() {
    let ev = replay("commands");
    let ours: Vec<&Reply> = replies(&ev)
        .into_iter()
        .filter(|r| r.from_client())
        .collect();
    // Numbers grow with each command, in order.
    assert!(ours
        .windows(2)
        .all(|w| w[0].guard.number < w[1].guard.number));
    let texts: Vec<String> = ours.iter().map(|r| r.text()).collect();
    assert!(
        ours.iter()
            .any(|r| !r.ok && r.text() == "can't find pane: %999"),
        "{texts:?}"
    );
    assert!(
        ours.iter()
            .any(|r| !r.ok && r.text().contains("unknown command: no-such-command")),
        "{texts:?}"
    );
    // Lines that look like protocol are payload inside a block.
    for fake in ["%end 1 2 3", "%output %0 fake"] {
        assert!(
            texts.iter().any(|t| t.lines().any(|l| l == fake)),
            "{fake} not payload: {texts:?}"
        );
    }
    // A hook's block has flags 0 and must not take a command's place.
    assert!(replies(&ev)
        .iter()
        .any(|r| !r.from_client() && r.text() == "hooked"));
}

#[test]
fn output_is_reassembled_across_lines() {
    let ev = replay("output");
    let data = output(&ev, 1);
    assert!(contains(
        &data,
        b"ctl:\x01\x02\x07\x08\x09|\x1b|\x7f|\xff|\\|cr\rlf\r\n"
    ));
    assert!(
        contains(&data, "split:❯ end".as_bytes()),
        "UTF-8 split over two %output lines"
    );
    assert!(contains(&data, "emoji:😀".as_bytes()));
    assert!(
        contains(&data, b"esc:\x1b[32mgreen\x1b[0m"),
        "escape sequence split over two lines"
    );
    // Through vt100, the split pieces draw whole characters.
    let mut vt = vt100::Parser::new(40, 120, 0);
    vt.process(&data);
    let screen = vt.screen().contents();
    assert!(
        screen.contains("split:❯ end")
            && screen.contains("emoji:😀")
            && screen.contains("esc:green"),
        "{screen}"
    );
}

#[test]
fn pause_and_continue_with_extended_output() {
    let ev = replay("pause");
    // The recording races with the pane, so only presence is checked, not order.
    assert!(ev.contains(&Event::Pause { pane: 1 }), "%pause");
    assert!(ev.contains(&Event::Continue { pane: 1 }), "%continue");
    assert!(
        contains(&output(&ev, 1), b"after-continue\r\n"),
        "%extended-output unescaped"
    );
    assert!(contains(&output(&ev, 1), b"burst1 0\r\n"));
}

#[test]
fn pane_death_arrives_as_subscription_changes() {
    let ev = replay("death");
    let dead: Vec<(Option<u32>, String)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::SubscriptionChanged {
                name, pane, value, ..
            } if name == "dead" => Some((*pane, value.clone())),
            _ => None,
        })
        .collect();
    assert!(
        dead.contains(&(Some(1), "1:3".into())),
        "exit status 3: {dead:?}"
    );
    assert!(
        dead.contains(&(Some(2), "1:".into())),
        "killed by a signal: {dead:?}"
    );
    assert!(
        dead.contains(&(Some(0), "0:".into())),
        "live panes report 0: {dead:?}"
    );
}

#[test]
fn closing_windows_and_exits() {
    let ev = replay("window-close");
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::UnlinkedWindowClose { .. })),
        "{ev:?}"
    );
    assert!(ev.iter().any(|e| matches!(e, Event::LayoutChange { .. })));
    let ev = replay("server-exit");
    assert!(matches!(ev.last(), Some(Event::Exit { .. })));
    let ev = replay("session-exit");
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::Exit { .. } | Event::SessionChanged { .. })));
}

#[test]
fn capture_payload_is_raw_not_escaped() {
    let ev = replay("capture");
    let all: Vec<String> = replies(&ev).iter().map(|r| r.text()).collect();
    assert!(all.iter().any(|t| t.contains("\x1b[31mred")), "{all:?}");
}

#[test]
fn every_transcript_parses_without_overlong_lines() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tmux");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "out") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let ev = replay(&name);
            assert!(
                !ev.iter().any(|e| matches!(e, Event::Overlong { .. })),
                "{name}"
            );
            n += 1;
        }
    }
    assert!(n >= 10, "only {n} transcripts");
}
