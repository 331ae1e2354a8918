//! Every bad input: a clear message naming what was wrong, a non-zero exit,
//! nothing lost.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::Harness;

#[test]
fn client_commands_without_a_supervisor() {
    let h = Harness::new();
    for args in [
        &["ps"][..],
        &["send", "a", "x"],
        &["kill", "a"],
        &["restart", "a"],
        &["logs", "a"],
        &["stop"],
    ] {
        let r = h.orc(args);
        assert_eq!(r.code, 3, "{args:?}");
        assert!(
            r.stderr
                .contains("no supervisor running; start it with `orc supervise --detach`"),
            "{args:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn spawn_rejects_bad_names_cwds_profiles_and_commands() {
    let h = Harness::new();
    h.supervise();
    let dir = h.workdir("ok");
    let d = dir.to_str().unwrap();
    let long = "x".repeat(65);
    for (name, needle) in [
        ("", "empty"),
        ("a/b", "contains '/'"),
        ("..", "reserved"),
        ("has space", "contains ' '"),
        ("tab\there", "contains '\\t'"),
        (long.as_str(), "limit is 64"),
    ] {
        h.orc(&["spawn", name, "--cwd", d, "--", "bash"])
            .fails_with(needle);
    }
    h.orc(&["spawn", "a", "--cwd", "/no/such/dir", "--", "bash"])
        .fails_with("/no/such/dir does not exist");
    h.orc(&["spawn", "a", "--cwd", d, "--profile", "nope"])
        .fails_with("unknown profile `nope`; known profiles: aider, claude");
    h.orc(&["spawn", "a", "--cwd", d, "--", "no-such-cmd-xyz"])
        .fails_with("command `no-such-cmd-xyz` was not found in PATH (");
    h.orc(&["spawn", "a", "--cwd", d, "--env", "NOEQUALS", "--", "bash"])
        .fails_with("is not KEY=VALUE");
    assert!(h.ps().is_empty(), "nothing was created by bad spawns");
    h.orc(&["spawn", "a", "--cwd", d, "--", "bash"]).ok();
    h.orc(&["spawn", "a", "--cwd", d, "--", "bash"])
        .fails_with("an agent named `a` already exists");
    assert_eq!(h.ps().len(), 1);
}

#[test]
fn a_second_supervisor_refuses() {
    let h = Harness::new();
    h.supervise();
    h.orc(&["supervise", "--detach"])
        .fails_with("a supervisor is already running");
    // the foreground form too, via the pid lock
    h.orc(&["supervise"])
        .fails_with("a supervisor is already running");
    h.orc(&["ps"]).ok();
}

#[test]
fn corrupt_state_file_is_moved_aside_and_reported() {
    let h = Harness::new();
    let state = h.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("agents.json"),
        "{ \"version\": 1,\n  \"agents\": [ oops ]\n}",
    )
    .unwrap();
    h.supervise();
    let log = std::fs::read_to_string(state.join("logs/supervisor.log")).unwrap();
    assert!(log.contains("agents.json is corrupt (line 2"), "{log}");
    let moved: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("corrupt"))
        .collect();
    assert_eq!(moved.len(), 1, "moved aside, not overwritten");
    let kept = std::fs::read_to_string(state.join(&moved[0])).unwrap();
    assert!(kept.contains("oops"), "original bytes kept");
}

#[test]
fn corrupt_config_names_file_and_line() {
    let h = Harness::new();
    std::fs::write(
        h.path().join("config.toml"),
        "tmux_socket = \"x\"\n[profiles.claude]\ncommand = \n",
    )
    .unwrap();
    let r = h.orc(&["supervise"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("config.toml"), "{}", r.stderr);
    assert!(r.stderr.contains("line 3"), "{}", r.stderr);
    // detached start reports the same failure
    let r = h.orc(&["supervise", "--detach"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("line 3"), "{}", r.stderr);
}

#[test]
fn config_profiles_override_and_extend() {
    let h = Harness::new();
    std::fs::write(
        h.path().join("config.toml"),
        "[profiles.mine]\ncommand = \"bash\"\nargs = [\"--norc\"]\nenv = { ORC_T_PROFILE = \"yes\" }\ndetector = \"shell\"\n",
    )
    .unwrap();
    h.supervise();
    let d = h.workdir("m");
    h.orc(&[
        "spawn",
        "m",
        "--cwd",
        d.to_str().unwrap(),
        "--profile",
        "mine",
    ])
    .ok();
    let a = h.agent("m");
    assert_eq!(a["profile"], "mine");
    let pane = a["pane"].as_str().unwrap();
    h.wait_for_shell_prompt(pane);
    h.tmux(&["send-keys", "-t", pane, "-l", "echo p=$ORC_T_PROFILE"])
        .ok();
    h.tmux(&["send-keys", "-t", pane, "Enter"]).ok();
    h.wait_until(5, "profile env", || h.capture(pane).contains("p=yes"));
}

#[test]
fn tmux_missing_or_too_old() {
    let h = Harness::new();
    let mut c = h.cmd();
    c.env("ORC_TMUX", "/nonexistent/tmux").args(["supervise"]);
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("tmux is required") && err.contains("/nonexistent/tmux"),
        "{err}"
    );

    let fake = h.path().join("oldtmux");
    std::fs::write(&fake, "#!/bin/sh\necho 'tmux 2.9'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = h
        .cmd()
        .env("ORC_TMUX", &fake)
        .arg("supervise")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("tmux 2.9 is too old: orc needs tmux >= 3.2"),
        "{err}"
    );
}

#[test]
fn garbage_and_oversized_frames_drop_the_connection_not_the_daemon() {
    let h = Harness::new();
    h.supervise();
    let sock = h.path().join("run/orc.sock");
    // socket and dir permissions
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(h.path().join("run"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );

    let talk = |bytes: &[u8]| {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(bytes);
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf); // the daemon closes the connection
        buf
    };
    // plain garbage (read as a huge length)
    assert!(talk(b"GET / HTTP/1.1\r\n\r\n").is_empty());
    // an oversized frame header
    assert!(talk(&(64u32 * 1024 * 1024).to_be_bytes()).is_empty());
    // a well-sized frame of non-JSON
    let mut f = 5u32.to_be_bytes().to_vec();
    f.extend_from_slice(b"xxxxx");
    assert!(talk(&f).is_empty());
    // a valid hello followed by a bad request gets an error reply
    let hello = br#"{"protocol":1,"version":"t"}"#;
    let mut f = (hello.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(hello);
    f.extend_from_slice(&7u32.to_be_bytes());
    f.extend_from_slice(b"{\"op\":1");
    let reply = talk(&f);
    assert!(String::from_utf8_lossy(&reply).contains("malformed request"));
    // the daemon lives
    h.orc(&["ps"]).ok();
}

#[test]
fn other_commands_name_unknown_agents() {
    let h = Harness::new();
    h.supervise();
    h.orc(&["kill", "zed"]).fails_with("no agent named `zed`");
    h.orc(&["restart", "zed"])
        .fails_with("no agent named `zed`");
    h.orc(&["attach", "zed"]).fails_with("no agent named `zed`");
    h.orc(&["logs", "zed"]).fails_with("no agent named `zed`");
}
