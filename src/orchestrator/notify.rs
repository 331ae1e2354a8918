//! Telling a person: `logs/notifications.jsonl` and the configured notify
//! command; a question an agent asks also goes to its hub.

use std::time::Duration;

use chrono::Utc;

use super::OrchState;
use crate::state;

impl OrchState {
    /// Record that an agent needs a person (`logs/notifications.jsonl`) and
    /// run the configured notify command, if any, without waiting for it.
    pub(super) fn notify(&self, name: &str, event: &str, detail: &str) {
        let ev = serde_json::json!({
            "at": Utc::now(), "agent": name, "event": event, "detail": detail,
            "project": self.agents.get(name).and_then(|e| e.record.project.clone()),
        });
        tracing::warn!(agent = name, event, detail, "needs a human");
        if let Err(e) = state::append_jsonl(&self.paths.logs().join("notifications.jsonl"), &ev) {
            tracing::warn!(error = %e, "cannot record the notification");
        }
        let Some((prog, args)) = self.config.notify.command.split_first() else {
            return;
        };
        let mut cmd = tokio::process::Command::new(prog);
        cmd.args(args)
            .env("ORC_EVENT", event)
            .env("ORC_AGENT", name)
            .env("ORC_DETAIL", detail)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        tokio::spawn(run_notify(cmd, prog.clone(), ev.to_string()));
    }

    /// From an agent (or the hub itself): only a person can fix this.
    pub(super) fn needs_human(&self, name: &str, event: &str, detail: &str) {
        self.notify(name, event, detail);
        // A question an agent asks is work the hub can unblock.
        if event == "choice_waiting" {
            let key = format!("choice:{name}:{}", Utc::now().timestamp());
            self.tell_hubs(name, &format!("orc: {detail}"), &key);
        }
    }
}

/// The notify command, the event on its stdin, killed after 30 s.
async fn run_notify(mut cmd: tokio::process::Command, prog: String, body: String) {
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(command = %prog, error = %e, "cannot run the notify command");
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        let _ = stdin.write_all(body.as_bytes()).await;
    }
    match tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await {
        Ok(Ok(out)) if !out.status.success() => tracing::error!(
            command = %prog,
            status = %out.status,
            stderr = %String::from_utf8_lossy(&out.stderr),
            "the notify command failed"
        ),
        Ok(Err(e)) => {
            tracing::error!(command = %prog, error = %e, "the notify command failed")
        }
        Err(_) => {
            tracing::error!(command = %prog, "the notify command took over 30 s; killed")
        }
        _ => {}
    }
}
