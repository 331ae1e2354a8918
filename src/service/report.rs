//! The [`Report`] a command prints, and the advice it gives when systemd
//! cannot keep the supervisor running.

use super::*;

/// What a command did, for the CLI to print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub lines: Vec<String>,
    /// Set when nothing useful could be done: the CLI exits non-zero with it.
    pub failure: Option<String>,
}

impl Report {
    pub(super) fn say(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }
    pub(super) fn warn(&mut self, line: impl AsRef<str>) {
        self.lines.push(format!("warning: {}", line.as_ref()));
    }
    /// Whether some line contains `needle` (for tests and callers).
    #[cfg(test)]
    pub fn mentions(&self, needle: &str) -> bool {
        self.lines.iter().any(|l| l.contains(needle))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// Ways to keep a supervisor running without systemd.
pub(super) fn manual_alternatives(r: &mut Report, host: &Host, unit_written: bool) {
    if unit_written {
        r.say(format!(
            "The unit file is in place for a machine where a user manager runs: \
             `systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}`."
        ));
    }
    r.say("Without systemd, start the supervisor one of these ways:");
    r.say(format!(
        "  orc supervise --detach    from a login shell (a detached `nohup orc supervise &`; log: {})",
        host.paths.supervisor_log().display()
    ));
    let (path, _, _) = host.plan();
    let mut line = String::from("@reboot");
    line.push_str(&format!(" PATH={}", sh_quote(&path)));
    for (k, v) in &host.carried {
        line.push_str(&format!(" {k}={}", sh_quote(v)));
    }
    line.push_str(&format!(
        " {} supervise --detach",
        sh_quote(&host.orc_exe.to_string_lossy())
    ));
    // cron turns a bare `%` into a newline.
    let line = line.replace('%', r"\%");
    r.say(format!("  {line}"));
    r.say("      a crontab line (`crontab -e`) that starts it at every boot");
    if host.has_runtime_dir && host.var("ORC_HOME").is_none() {
        r.say(
            "      (cron has no XDG_RUNTIME_DIR, so that supervisor would listen where your \
             shell's orc does not look: set ORC_HOME in both)",
        );
    }
}

pub(super) fn linger_advice(r: &mut Report, host: &Host) {
    let Some(file) = &host.linger_file else {
        return;
    };
    if file.exists() {
        r.say("linger: on (the service runs from boot, without a login)");
    } else {
        let user = host.user.as_deref().unwrap_or("$USER");
        r.warn(format!(
            "linger is off: your user manager, and the service with tmux and the agents, \
             stops at your last logout and starts only at your next login. \
             Turn it on with `loginctl enable-linger {user}`."
        ));
    }
}

pub(super) fn missing_tools(r: &mut Report, missing: &[&Tool]) {
    for t in missing {
        r.warn(format!("{} not found on PATH: {}", t.command, t.needed_by));
    }
}
