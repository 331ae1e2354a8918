//! `orc top` in a real terminal: run inside a tmux window of a second private
//! server, driven with keys, read back with capture-pane.

mod common;

use std::process::Command;

use common::Harness;

struct Ui {
    socket: String,
}

impl Ui {
    fn start(h: &Harness) -> Ui {
        let socket = format!("{}-ui", h.socket);
        let ui = Ui { socket };
        let home = format!("ORC_HOME={}", h.path().display());
        let sock = format!("ORC_TMUX_SOCKET={}", h.socket);
        let bin = h.bin.display().to_string();
        ui.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "ui",
            "-x",
            "150",
            "-y",
            "45",
            "-e",
            &home,
            "-e",
            &sock,
            "-e",
            "TERM=xterm-256color",
            &bin,
            "top",
        ]);
        ui
    }
    fn tmux(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "ui"])
    }
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "ui"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
        let _ = std::fs::remove_file(common::socket_file(&self.socket));
    }
}

#[test]
fn top_shows_the_team_live_and_its_keys_work() {
    let h = Harness::new();
    h.supervise();
    let log = h.spawn_logged("dev", &["--role", "developer"]);
    h.spawn_logged("qa", &["--role", "tester", "--project", "shop"]);
    h.wait_until(10, "idle", || {
        h.agent("dev")["state"] == "idle" && h.agent("qa")["state"] == "idle"
    });
    let ui = Ui::start(&h);
    h.wait_until(10, "the table", || {
        let s = ui.screen();
        s.contains("orc top: 2 agents") && s.contains("developer") && s.contains("idle")
    });
    // The selected agent's screen is shown (dev is first).
    h.wait_until(5, "dev's screen", || ui.screen().contains("screen: dev"));

    // A crash shows up without any key pressed, and the agent comes back.
    h.orc(&["send", "dev", "orc-sim:crash"]).ok();
    h.wait_until(10, "the crash on screen", || {
        let s = ui.screen();
        s.contains("restarting") || s.contains("exited") || s.contains("starting")
    });
    h.wait_until(15, "idle again", || {
        h.agent("dev")["restarts"] == 1 && h.agent("dev")["state"] == "idle"
    });
    h.wait_until(10, "top caught up", || {
        let s = ui.screen();
        s.lines().filter(|l| l.contains("idle")).count() >= 2
    });

    // s: send a message to the selected agent.
    ui.keys(&["s"]);
    h.wait_until(5, "input line", || ui.screen().contains("message to dev"));
    ui.keys(&["-l", "hello from top"]);
    ui.keys(&["Enter"]);
    h.wait_until(10, "delivered", || {
        h.received(&log).contains(&"hello from top".to_string())
    });
    h.wait_until(10, "in the feed", || ui.screen().contains("hello from top"));

    // p: filter by project (shop has only qa).
    ui.keys(&["p"]);
    h.wait_until(5, "filtered", || ui.screen().contains("1 agents in shop"));
    ui.keys(&["p"]);
    h.wait_until(5, "unfiltered", || {
        ui.screen().contains("orc top: 2 agents")
    });

    // a: attach to the agent's window, then back after a detach.
    ui.keys(&["a"]);
    h.wait_until(10, "attached", || {
        let s = ui.screen();
        !s.contains("orc top:") && s.contains("for shortcuts")
    });
    let clients = h
        .tmux(&[
            "list-clients",
            "-F",
            "#{client_name} #{client_control_mode}",
        ])
        .ok()
        .stdout;
    let tty = clients
        .lines()
        .find(|l| l.ends_with(" 0"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the attached client")
        .to_string();
    h.tmux(&["detach-client", "-t", &tty]).ok();
    h.wait_until(10, "back in top", || ui.screen().contains("back from dev"));

    // q quits.
    ui.keys(&["q"]);
    h.wait_until(5, "top exited", || {
        !ui.tmux(&["list-sessions"]).contains("ui:")
    });
    // The supervisor is fine.
    assert_eq!(h.agent("qa")["state"], "idle");
}
