//! Dialogs on the agent's screen: which ones orc answers by policy, the
//! answer pressed one key per look (the mechanics are in `dialogs`), and
//! the person told about the ones orc leaves alone or that wait too long.

use std::time::Duration;

use tokio::time::Instant;

use super::{dialogs, AgentState_};
use crate::proto::AgentState;
use crate::screen;
use crate::screen::detect::{Dialog, Observation};

/// A dialog's name as `orc ps` and the logs spell it (`trust`, `bypass_warning`).
pub(super) fn dialog_name(d: Option<Dialog>) -> String {
    d.and_then(|d| serde_json::to_value(d).ok())
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_else(|| "none".into())
}

impl AgentState_ {
    /// Timer: a permission prompt or question that appeared then is still
    /// unanswered: tell a human (and, for a question, the hub).
    pub(super) fn on_still_waiting(&mut self, g: u64) {
        self.refresh_state();
        if g != self.waiting_gen {
            return;
        }
        let secs = self
            .since
            .signed_duration_since(self.now())
            .num_seconds()
            .unsigned_abs();
        let name = self.record.name.clone();
        if self.state == AgentState::AwaitingChoice {
            let line = self.obs.dialog_line.clone().unwrap_or_default();
            self.needs_human(
                "choice_waiting",
                format!(
                    "{name} has waited {secs} s for an answer to \"{line}\" ({}): answer it with `orc attach {name}`",
                    dialog_name(self.obs.dialog),
                ),
            );
        } else if self.state == AgentState::AwaitingPermission {
            self.needs_human(
                "permission_waiting",
                format!(
                    "a permission prompt has waited {secs} s for an answer: `orc attach {name}`"
                ),
            );
        }
    }

    /// The labels orc answers a dialog with by policy, or None to leave it
    /// to a person.
    pub(super) fn answer_for(
        &self,
        d: Dialog,
        obs: &Observation,
    ) -> Option<&'static [&'static str]> {
        let labels = (self.driver().labels)(d);
        let allowed = match d {
            Dialog::Trust => {
                // Only the agent's own folder.
                obs.trust_folder.as_deref().is_some_and(|folder| {
                    let cwd = self.record.cwd.to_string_lossy();
                    folder == cwd
                        || cwd.ends_with(folder.trim_start_matches('~').trim_start_matches('…'))
                })
            }
            // "No, exit" is the default: accept only if orc itself asked for bypass mode.
            Dialog::BypassWarning => self
                .record
                .command
                .iter()
                .any(|a| a == "--dangerously-skip-permissions"),
            Dialog::UsageLimitMenu | Dialog::ResumeSummary => true,
            // Use the key orc was given for this agent.
            Dialog::ApiKey => self.record.env.contains_key("ANTHROPIC_API_KEY"),
            Dialog::Permission => self.record.auto_approve,
            // The CLI's own setup of its files in the agent's folder.
            Dialog::Setup => true,
            // A file of its own repo read into the conversation.
            Dialog::AddFile => true,
            _ => false,
        };
        (allowed && !labels.is_empty()).then_some(labels)
    }

    /// Answer the dialog on screen by its option's label, if policy says so:
    /// one key per look, the cursor read again after each, Enter only on the
    /// wanted option; the answer counts once the dialog is gone. An answer
    /// that does not take, or a dialog orc leaves to a person, is said once.
    pub(super) async fn react(&mut self) {
        if self.forced.is_some() || !self.alive {
            return;
        }
        let dialog = self.obs.dialog;
        let want = dialog.and_then(|d| self.answer_for(d, &self.obs));
        if dialog.is_none() {
            self.choice_reported = false;
        } else if want.is_none() && !self.choice_reported && dialog != Some(Dialog::Permission) {
            // Nothing pressed; a person is told once what the dialog asks.
            self.choice_reported = true;
            let line = self.obs.dialog_line.clone().unwrap_or_default();
            self.needs_human(
                "dialog_waiting",
                format!(
                    "a dialog orc has no answer for ({}): \"{line}\"; answer it with `orc attach {}`",
                    dialog_name(dialog),
                    self.record.name
                ),
            );
        }
        // A CLI whose digits pick nothing is answered with arrows and Enter.
        let mut menu = self.obs.menu.clone();
        if let Some(m) = menu.as_mut().filter(|_| !self.driver().digit_keys) {
            m.options.iter_mut().for_each(|o| o.digit = None);
        }
        let seen = dialog.map(|d| (d, menu.as_ref()));
        let settled = self.last_change.elapsed() >= screen::SETTLE;
        match self.answerer.next(Instant::now(), seen, want, settled) {
            dialogs::Step::Nothing => {}
            dialogs::Step::LookAgainIn(d) => self.tick_in(d + Duration::from_millis(10)),
            dialogs::Step::Press { key, detail } => {
                let Some(pane) = self.record.pane.clone() else {
                    return;
                };
                let d = dialog_name(dialog);
                match self.pane.press(&pane, key).await {
                    Ok(_) => self.log("dialog-key", Some(format!("{d}: {detail}"))),
                    Err(e) => {
                        tracing::warn!(agent = %self.record.name, error = %e, "cannot answer dialog")
                    }
                }
                self.tick_in(dialogs::MOVE_WAIT + Duration::from_millis(10));
            }
            dialogs::Step::Took {
                dialog,
                label,
                keys,
            } => {
                self.log(
                    "dialog-answered",
                    Some(format!(
                        "{}: '{label}' ({keys} key{}), dialog gone",
                        dialog_name(Some(dialog)),
                        if keys == 1 { "" } else { "s" }
                    )),
                );
                // Another dialog may already be waiting.
                self.tick_in(Duration::from_millis(10));
            }
            dialogs::Step::GaveUp { dialog, reason } => {
                let d = dialog_name(Some(dialog));
                self.log("dialog-unanswered", Some(format!("{d}: {reason}")));
                self.note = Some(format!("dialog: {d}: {reason}"));
                crate::changes::bump();
                self.needs_human(
                    "dialog_unanswered",
                    format!(
                        "{d}: {reason}; answer it with `orc attach {}`",
                        self.record.name
                    ),
                );
            }
        }
    }
}
