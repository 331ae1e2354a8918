//! The control-mode client against a real tmux server (private socket).

use std::path::PathBuf;

use orc::tmux::{Event, Tmux};

struct Server {
    tmux: Tmux,
    _dir: tempfile::TempDir,
}

impl Server {
    fn new(tag: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("tmux.conf");
        Tmux::write_conf(&conf).unwrap();
        let tmux = Tmux::new(
            PathBuf::from("tmux"),
            format!("orc-test-{}-{tag}", std::process::id()),
            conf,
        );
        Self { tmux, _dir: dir }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.tmux.socket, "kill-server"])
            .output();
        let dir = std::env::var_os("TMUX_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let uid = String::from_utf8_lossy(
            &std::process::Command::new("id")
                .arg("-u")
                .output()
                .unwrap()
                .stdout,
        )
        .trim()
        .to_string();
        let _ = std::fs::remove_file(dir.join(format!("tmux-{uid}")).join(&self.tmux.socket));
    }
}

#[tokio::test]
async fn quoted_arguments_arrive_byte_exact() {
    let s = Server::new("quote");
    s.tmux.check_version().await.unwrap();
    s.tmux.ensure_session("orc").await.unwrap();
    let (client, _events, _child) = s.tmux.control("orc").await.unwrap();
    let ascii: String = (1u8..=0x7f).map(|b| b as char).collect();
    let cases = [
        ascii.as_str(),
        "~/not-home",
        "~",
        "$HOME ${HOME} $(id)",
        "#{pane_id} ## #",
        "a;b ; c \\; d",
        "'single' \"double\" \\back\\",
        "line one\nline two\r\n\ttabbed",
        "❯ ─ 😀 é ünï",
        "{ block }",
        "%output %1 x",
    ];
    let out = s._dir.path().join("buf");
    for (i, case) in cases.iter().enumerate() {
        let name = format!("t{i}");
        client
            .tool_cmd(&["set-buffer", "-b", &name, "--", case])
            .await
            .unwrap_or_else(|e| panic!("case {i} {case:?}: {e}"));
        client
            .tool_cmd(&["save-buffer", "-b", &name, out.to_str().unwrap()])
            .await
            .unwrap();
        // save-buffer's file is written by the client process, possibly just
        // after the reply: give it a moment.
        let mut got = Vec::new();
        for _ in 0..100 {
            got = std::fs::read(&out).unwrap_or_default();
            if got == case.as_bytes() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(String::from_utf8_lossy(&got), *case, "case {i}");
        let _ = std::fs::remove_file(&out);
    }
}

#[tokio::test]
async fn commands_are_answered_in_order_and_output_flows() {
    let s = Server::new("order");
    s.tmux.ensure_session("orc").await.unwrap();
    let (client, mut events, _child) = s.tmux.control("orc").await.unwrap();
    // many commands in flight at once; each gets its own answer
    let mut handles = Vec::new();
    for i in 0..50 {
        let c = client.clone();
        handles.push(tokio::spawn(async move {
            c.tool_cmd(&["display-message", "-p", &format!("n={i}")])
                .await
        }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap().unwrap(), vec![format!("n={i}")]);
    }
    let err = client
        .tool_cmd(&["kill-pane", "-t", "%999"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("can't find pane"), "{err}");
    let out = client
        .tool_cmd(&[
            "new-window",
            "-d",
            "-P",
            "-F",
            "#{pane_id}",
            "--",
            "/bin/sh",
            "-c",
            "printf 'hello ❯\\n'; sleep 5",
        ])
        .await
        .unwrap();
    let pane: u32 = out[0].trim_start_matches('%').parse().unwrap();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !String::from_utf8_lossy(&seen).contains("hello ❯") {
        let (_, ev) = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("output in time")
            .expect("open");
        if let Event::Output { pane: p, data } = ev {
            if p == pane {
                seen.extend(data);
            }
        }
    }
}
