//! The commands themselves: install, uninstall, status.

use super::*;

/// Write the unit, then `daemon-reload` and `enable --now` it.
pub async fn install(host: &Host) -> Result<Report> {
    let mut r = Report::default();
    let (_, missing, text) = host.plan();
    missing_tools(&mut r, &missing);

    let before = std::fs::read_to_string(&host.unit_path).ok();
    let changed = before.as_deref() != Some(text.as_str());
    if changed {
        crate::state::write_atomic(&host.unit_path, text.as_bytes())
            .with_context(|| format!("cannot write {}", host.unit_path.display()))?;
        let verb = if before.is_some() { "updated" } else { "wrote" };
        r.say(format!("{verb} {}", host.unit_path.display()));
    } else {
        r.say(format!("{} is up to date", host.unit_path.display()));
    }
    r.say(format!("ExecStart={} supervise", host.orc_exe.display()));

    let running = supervisor_pid(&host.paths).await;
    let (sc, before_state) = match manager(host) {
        Manager::Ready(sc, state) => (sc, state),
        Manager::Unavailable(why) => {
            r.warn(format!("{why}: the service was not started."));
            if let Some(pid) = running {
                r.say(format!(
                    "A supervisor is running now (pid {pid}), outside systemd."
                ));
            }
            manual_alternatives(&mut r, host, true);
            return Ok(r);
        }
    };

    let reload = sc.run(&["daemon-reload"]);
    if !reload.ok {
        r.warn(format!(
            "`systemctl --user daemon-reload` failed ({}): the service was not started.",
            reload.reason()
        ));
        manual_alternatives(&mut r, host, true);
        return Ok(r);
    }
    if let Some(pid) = running.filter(|&p| p != before_state.main_pid) {
        r.warn(format!(
            "a supervisor (pid {pid}) already answers on {} outside systemd. The service's \
             supervisor fails on its pid lock and retries every 5 s until that one stops: \
             run `orc stop` to hand over (agents keep running in tmux).",
            host.paths.socket().display()
        ));
    }
    let enable = sc.run(&["enable", "--now", UNIT_NAME]);
    if !enable.ok {
        r.failure = Some(format!(
            "`systemctl --user enable --now {UNIT_NAME}` failed: {}",
            enable.reason()
        ));
        r.say(format!("see `journalctl --user -u {UNIT_NAME}`"));
        return Ok(r);
    }
    r.say(format!("enabled {UNIT_NAME}"));
    if changed && before_state.running() {
        let restart = sc.run(&["restart", UNIT_NAME]);
        if restart.ok {
            r.say("restarted the supervisor under the new unit (agents keep running in tmux)");
        } else {
            r.warn(format!(
                "the new unit is not in effect: `systemctl --user restart {UNIT_NAME}` failed ({})",
                restart.reason()
            ));
        }
    }
    if let Ok(state) = sc.show() {
        r.say(state.describe());
    }
    linger_advice(&mut r, host);
    r.say(format!("logs: journalctl --user -u {UNIT_NAME}"));
    Ok(r)
}

/// `disable --now` the unit, remove its file, `daemon-reload`.
pub async fn uninstall(host: &Host) -> Result<Report> {
    let mut r = Report::default();
    let exists = host.unit_path.exists();
    match manager(host) {
        Manager::Ready(sc, state) => {
            if exists {
                let off = sc.run(&["disable", "--now", UNIT_NAME]);
                if off.ok {
                    r.say(format!("disabled and stopped {UNIT_NAME}"));
                } else {
                    r.warn(format!(
                        "`systemctl --user disable --now {UNIT_NAME}` failed ({})",
                        off.reason()
                    ));
                }
            } else if state.running() {
                // Loaded from a file we did not write (or already removed).
                let stop = sc.run(&["stop", UNIT_NAME]);
                if stop.ok {
                    r.say(format!("stopped {UNIT_NAME}"));
                }
            }
            if exists {
                remove_unit(&mut r, host)?;
            }
            sc.run(&["daemon-reload"]);
            sc.run(&["reset-failed", UNIT_NAME]);
            if !exists && !state.running() {
                r.say(format!(
                    "{UNIT_NAME} is not installed (no {})",
                    host.unit_path.display()
                ));
                return Ok(r);
            }
        }
        Manager::Unavailable(why) => {
            if !exists {
                r.say(format!(
                    "{UNIT_NAME} is not installed (no {})",
                    host.unit_path.display()
                ));
                return Ok(r);
            }
            remove_unit(&mut r, host)?;
            // What `disable` would have removed.
            if let Some(link) = host.wants_link() {
                if link.is_symlink() && std::fs::remove_file(&link).is_ok() {
                    r.say(format!("removed {}", link.display()));
                }
            }
            r.say(format!("({why}: nothing to stop there)"));
        }
    }
    r.say("Agents keep running in tmux; to supervise them, run `orc supervise --detach`.");
    Ok(r)
}

pub(super) fn remove_unit(r: &mut Report, host: &Host) -> Result<()> {
    match std::fs::remove_file(&host.unit_path) {
        Ok(()) => r.say(format!("removed {}", host.unit_path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot remove {}", host.unit_path.display()))
        }
    }
    Ok(())
}

/// The unit file, the service, linger, and who answers on the socket.
pub async fn status(host: &Host) -> Result<Report> {
    let mut r = Report::default();
    let (_, missing, text) = host.plan();
    match std::fs::read_to_string(&host.unit_path) {
        Ok(current) if current == text => r.say(format!("unit file: {}", host.unit_path.display())),
        Ok(_) => {
            r.say(format!("unit file: {}", host.unit_path.display()));
            r.warn(
                "it differs from what `orc service install` would write now \
                 (orc moved, or PATH/ORC_HOME changed): run it again",
            );
        }
        Err(_) => r.say(format!(
            "unit file: none (would be {}); install with `orc service install`",
            host.unit_path.display()
        )),
    }
    missing_tools(&mut r, &missing);

    let service = match manager(host) {
        Manager::Ready(_, state) => {
            r.say(state.describe());
            if host.unit_path.exists() {
                linger_advice(&mut r, host);
            }
            Some(state)
        }
        Manager::Unavailable(why) => {
            r.say(format!("systemd: {why}"));
            None
        }
    };

    let service_pid = service
        .as_ref()
        .filter(|s| s.running())
        .map(|s| s.main_pid)
        .filter(|&p| p != 0);
    match (supervisor_pid(&host.paths).await, service_pid) {
        (Some(pid), Some(main)) if pid == main => r.say(format!(
            "supervisor: pid {pid}, under systemd, on {}",
            host.paths.socket().display()
        )),
        (Some(pid), Some(main)) => {
            r.say(format!(
                "supervisor: pid {pid} on {}, started outside systemd",
                host.paths.socket().display()
            ));
            r.warn(format!(
                "the service's supervisor (pid {main}) cannot take the pid lock while pid {pid} \
                 runs: `orc stop` hands over to the service"
            ));
        }
        (Some(pid), None) => r.say(format!(
            "supervisor: pid {pid} on {}, started outside systemd",
            host.paths.socket().display()
        )),
        (None, Some(_)) => r.say(format!(
            "supervisor: none answers on {} yet; see `journalctl --user -u {UNIT_NAME}`",
            host.paths.socket().display()
        )),
        (None, None) => r.say(format!(
            "supervisor: none answers on {}",
            host.paths.socket().display()
        )),
    }
    Ok(r)
}
