//! The async client over scripted I/O (tokio-test's mock): FIFO correlation,
//! the attach block, notifications in between, and a closed stream.

use tokio_test::io::Builder;

use super::client::ControlClient;
use super::parser::Event;
use super::TmuxError;

#[tokio::test]
async fn replies_match_commands_in_order_and_notifications_flow() {
    let reader = Builder::new()
        .read(b"%begin 10 1 0\n%end 10 1 0\n%session-changed $0 orc\n")
        .wait(std::time::Duration::from_millis(20))
        .read(b"%output %1 hi\\015\\012\n%begin 10 2 1\none\ntwo\n%end 10 2 1\n%begin 10 3 1\ncan't find pane: %9\n%error 10 3 1\n")
        .build();
    let writer = Builder::new()
        .write(b"\"list-windows\"\n")
        .write(b"\"kill-pane\" \"-t\" \"%9\"\n")
        .build();
    let (client, mut events) = ControlClient::from_io(reader, writer, 16);
    let a = client.clone();
    let first = tokio::spawn(async move { a.cmd(&["list-windows"]).await });
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = client.cmd(&["kill-pane", "-t", "%9"]).await;
    assert_eq!(
        first.await.unwrap().unwrap(),
        vec!["one".to_string(), "two".to_string()]
    );
    match second {
        Err(TmuxError::Command { message, .. }) => assert_eq!(message, "can't find pane: %9"),
        other => panic!("{other:?}"),
    }
    let (s1, e1) = events.recv().await.unwrap();
    assert_eq!(
        e1,
        Event::SessionChanged {
            session: 0,
            name: "orc".into()
        }
    );
    let (s2, e2) = events.recv().await.unwrap();
    assert_eq!(
        e2,
        Event::Output {
            pane: 1,
            data: b"hi\r\n".to_vec()
        }
    );
    assert!(s2 > s1);
}

#[tokio::test]
async fn batch_reports_stream_positions() {
    let reader = Builder::new()
        .wait(std::time::Duration::from_millis(10))
        .read(b"%begin 1 5 1\n80 24\n%end 1 5 1\n%output %0 before\n%begin 1 6 1\nscreen\n%end 1 6 1\n%output %0 after\n")
        .build();
    let writer = Builder::new()
        .write(b"display -p x\ncapture-pane -p\n")
        .build();
    let (client, mut events) = ControlClient::from_io(reader, writer, 16);
    let r = client.batch(&["display -p x", "capture-pane -p"]).await;
    let (_, s_display) = r[0].as_ref().unwrap();
    let (cap, s_capture) = r[1].as_ref().unwrap();
    assert_eq!(cap.text(), "screen");
    let (s_before, _) = events.recv().await.unwrap();
    let (s_after, _) = events.recv().await.unwrap();
    assert!(s_display < &s_before && s_before < *s_capture && *s_capture < s_after);
}

#[tokio::test]
async fn a_closed_stream_fails_waiters_and_says_exit() {
    let reader = Builder::new()
        .wait(std::time::Duration::from_millis(20))
        .read(b"%begin 1 1 1\npartial\n")
        .build();
    let writer = Builder::new().write(b"\"list-sessions\"\n").build();
    let (client, mut events) = ControlClient::from_io(reader, writer, 4);
    let r = client.cmd(&["list-sessions"]).await;
    assert!(matches!(r, Err(TmuxError::Closed)), "{r:?}");
    let (_, ev) = events.recv().await.unwrap();
    assert!(matches!(ev, Event::Exit { .. }));
    assert!(matches!(client.cmd(&["x"]).await, Err(TmuxError::Closed)));
}

#[tokio::test]
async fn newlines_and_empty_lines_are_refused_before_writing() {
    let (client, _events) = ControlClient::from_io(
        Builder::new()
            .wait(std::time::Duration::from_secs(1))
            .build(),
        Builder::new().build(),
        4,
    );
    assert!(matches!(
        client.raw("a\nb").await,
        Err(TmuxError::BadCommand(_))
    ));
    assert!(matches!(
        client.raw("").await,
        Err(TmuxError::BadCommand(_))
    ));
}

#[test]
fn quoting_covers_tmux_specials() {
    assert_eq!(super::quote("a b"), "\"a b\"");
    assert_eq!(
        super::quote("$HOME \"x\" \\ #; ~"),
        "\"\\$HOME \\\"x\\\" \\\\ #; \\~\""
    );
    assert_eq!(
        super::quote("a\nb\t\u{1b}\u{7f}"),
        "\"a\\012b\\011\\033\\177\""
    );
    assert_eq!(super::quote("❯"), "\"❯\"");
}

#[tokio::test]
async fn typing_and_format_commands_are_refused_untyped() {
    // Nothing may be written: the writer mock fails on any write.
    let reader = Builder::new()
        .wait(std::time::Duration::from_secs(5))
        .build();
    let writer = Builder::new().build();
    let (client, _events) = ControlClient::from_io(reader, writer, 4);
    for args in [
        &["send-keys", "-t", "%1", "-l", "--", "x"][..],
        &["set-buffer", "-b", "b", "--", "x"],
        &["paste-buffer", "-b", "b"],
        &["rename-window", "-t", "@1", "#(touch /tmp/x)"],
        &["new-window", "-n", "#(id)"],
        &["run-shell", "id"],
    ] {
        match client.cmd(args).await {
            Err(TmuxError::BadCommand(m)) => assert!(m.contains("typed methods"), "{m}"),
            other => panic!("{args:?} was not refused: {other:?}"),
        }
    }
    match client.raw("\"send-keys\" -t %1 Enter").await {
        Err(TmuxError::BadCommand(_)) => {}
        other => panic!("a quoted guarded command passed: {other:?}"),
    }
}

/// orc's own code types only through the typed methods: `tool_cmd` (the
/// unguarded door for recorders and tests) is never called under `src/`.
#[test]
fn src_never_uses_the_tool_door() {
    fn walk(dir: &std::path::Path, hits: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, hits);
            } else if p.extension().is_some_and(|x| x == "rs")
                && !p.ends_with("tmux/client.rs")
                && !p.ends_with("tmux/client_tests.rs")
            {
                let text = std::fs::read_to_string(&p).unwrap();
                if text.contains(".tool_cmd(") {
                    hits.push(p.display().to_string());
                }
            }
        }
    }
    let mut hits = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut hits,
    );
    assert!(hits.is_empty(), "tool_cmd used in {hits:?}");
}
