//! Answering a dialog by the words of its option, and checking that the
//! answer took.
//!
//! Pure: the agent actor feeds every fresh look at the screen (the dialog
//! on it, its [`Menu`], whether the screen has settled) into
//! [`Answerer::next`], presses the key it gets back, and logs or escalates
//! what it reports. Nothing here counts keys blind: after each arrow key the
//! answerer waits to see the cursor move before the next one, and presses
//! Enter only while the cursor is on the wanted option; a digit is pressed
//! only when the screen numbers its options. An answer "took" when the
//! dialog is gone from the screen; one that did not take after a few tries,
//! or an option that is not on the screen, is reported once and nothing more
//! is pressed until the dialog goes away.

use std::time::Duration;

use tokio::time::Instant;

use crate::screen::detect::Dialog;
use crate::screen::menu::Menu;

pub use crate::pane_text::Key;

/// The key that picks option `d` of a numbered dialog.
fn digit(d: u8) -> Key {
    crate::pane_text::Digit::new(d)
        .map(Key::Digit)
        .unwrap_or(Key::Enter)
}

/// How long a confirm may take to clear the dialog before it is tried again.
pub const CONFIRM_WAIT: Duration = Duration::from_secs(3);
/// How long an arrow key may take to move the cursor before it is pressed again.
pub const MOVE_WAIT: Duration = Duration::from_secs(1);
/// Confirms per appearance of a dialog before orc says the answer did not take.
pub const MAX_CONFIRMS: u32 = 3;

/// What the agent should do after a look at the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing now (no dialog, not settled, or waiting for the last key).
    Nothing,
    /// Look again after this long even if the screen does not change.
    LookAgainIn(Duration),
    /// Press this key; `detail` says why, for the agent's log.
    Press { key: Key, detail: String },
    /// The dialog is gone after orc's confirm: the answer took.
    Took {
        dialog: Dialog,
        label: String,
        keys: u32,
    },
    /// orc stops answering this appearance of the dialog; tell a person.
    GaveUp { dialog: Dialog, reason: String },
}

#[derive(Debug, Clone)]
struct Attempt {
    dialog: Dialog,
    label: Option<String>,
    keys: u32,
    moves: u32,
    confirms: u32,
    /// The last key, when it was pressed and where the cursor was then.
    last: Option<(Key, Instant, usize)>,
    gave_up: Option<String>,
}

impl Attempt {
    /// The last key may not show yet: how much longer to wait for it.
    fn still_showing(&self, now: Instant, menu: &Menu) -> Option<Duration> {
        let (key, at, cursor_then) = self.last?;
        let waited = now.saturating_duration_since(at);
        match key {
            Key::Up | Key::Down if menu.cursor == cursor_then && waited < MOVE_WAIT => {
                Some(MOVE_WAIT - waited)
            }
            Key::Enter | Key::Digit(_) if waited < CONFIRM_WAIT => Some(CONFIRM_WAIT - waited),
            _ => None,
        }
    }

    /// Press `key`, unless this dialog already took as many confirms or
    /// arrow keys as an answer can need: then say so instead.
    fn press(&mut self, now: Instant, menu: &Menu, key: Key, detail: String) -> Step {
        let label = self.label.clone().unwrap_or_default();
        let n = menu.options.len() as u32;
        match key {
            Key::Enter | Key::Digit(_) => {
                if self.confirms >= MAX_CONFIRMS {
                    return self.give_up(format!(
                        "answered '{label}' {} times and the dialog is still there: nothing more pressed",
                        self.confirms
                    ));
                }
                self.confirms += 1;
            }
            Key::Up | Key::Down | Key::Escape => {
                if self.moves >= 2 * n + 4 {
                    return self.give_up(format!(
                        "the cursor did not reach '{label}' after {} arrow keys: nothing more pressed",
                        self.moves
                    ));
                }
                self.moves += 1;
            }
        }
        self.keys += 1;
        self.last = Some((key, now, menu.cursor));
        Step::Press {
            key,
            detail: format!("{detail} (key {})", self.keys),
        }
    }
}

/// The key that brings the cursor to option `target` or takes it: its digit
/// where the options are numbered, else an arrow toward it, else Enter.
fn key_for(menu: &Menu, target: usize) -> (Key, String) {
    let label = &menu.options[target].label;
    if menu.numbered() {
        let d = menu.options[target].digit.unwrap_or(1);
        (digit(d), format!("'{label}' is option {d}: pressed {d}"))
    } else if menu.cursor == target {
        (Key::Enter, format!("cursor on '{label}': pressed Enter"))
    } else {
        let on = &menu.options[menu.cursor].label;
        if menu.cursor < target {
            (Key::Down, format!("cursor on '{on}': pressed Down"))
        } else {
            (Key::Up, format!("cursor on '{on}': pressed Up"))
        }
    }
}

/// One dialog answer at a time: the one on screen now.
#[derive(Debug, Default)]
pub struct Answerer {
    current: Option<Attempt>,
}

impl Answerer {
    /// Why orc stopped answering the dialog on screen, for `orc ps`.
    pub fn trouble(&self) -> Option<&str> {
        self.current.as_ref()?.gave_up.as_deref()
    }

    /// One look at the screen. `seen` is the dialog on it with its menu;
    /// `want` the labels policy answers it with (`None`: leave it to a
    /// person); `settled` whether the screen has stopped moving.
    pub fn next(
        &mut self,
        now: Instant,
        seen: Option<(Dialog, Option<&Menu>)>,
        want: Option<&[&str]>,
        settled: bool,
    ) -> Step {
        let Some((dialog, menu)) = seen else {
            return self.gone();
        };
        if self.current.as_ref().is_some_and(|a| a.dialog != dialog) {
            // Another dialog replaced the one answered (trust, then bypass).
            let done = self.gone();
            if !matches!(done, Step::Nothing) {
                self.current = None;
                return done;
            }
        }
        let Some(want) = want.filter(|w| !w.is_empty()) else {
            self.current = None;
            return Step::Nothing;
        };
        let a = self.current.get_or_insert(Attempt {
            dialog,
            label: None,
            keys: 0,
            moves: 0,
            confirms: 0,
            last: None,
            gave_up: None,
        });
        if a.gave_up.is_some() || !settled {
            return Step::Nothing;
        }
        let Some(menu) = menu else {
            return a.give_up(format!(
                "no options found on screen (wanted '{}'): nothing pressed",
                want[0]
            ));
        };
        let Some(target) = menu.find(want) else {
            let shown: Vec<&str> = menu.options.iter().map(|o| o.label.as_str()).collect();
            return a.give_up(format!(
                "option '{}' not on screen (options: {}): nothing pressed",
                want[0],
                shown.join(" | ")
            ));
        };
        a.label = Some(menu.options[target].label.clone());
        if let Some(wait) = a.still_showing(now, menu) {
            return Step::LookAgainIn(wait);
        }
        let (key, detail) = key_for(menu, target);
        a.press(now, menu, key, detail)
    }

    /// The dialog is no longer on screen.
    fn gone(&mut self) -> Step {
        match self.current.take() {
            Some(a) if a.confirms > 0 && a.gave_up.is_none() => Step::Took {
                dialog: a.dialog,
                label: a.label.unwrap_or_default(),
                keys: a.keys,
            },
            _ => Step::Nothing,
        }
    }
}

impl Attempt {
    fn give_up(&mut self, reason: String) -> Step {
        self.gave_up = Some(reason.clone());
        Step::GaveUp {
            dialog: self.dialog,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::claude::labels;
    use crate::screen::menu;

    fn m(text: &str) -> Menu {
        let rows: Vec<&str> = text.lines().collect();
        menu::read(&rows, None).unwrap()
    }

    const TRUST_NEW_NO: &str = " ❯ No, exit\n   Yes, I trust this folder\n";
    const TRUST_NEW_YES: &str = "   No, exit\n ❯ Yes, I trust this folder\n";
    const TRUST_OLD: &str = " ❯ 1. Yes, I trust this folder\n   2. No, exit\n";

    fn press(s: &Step) -> Key {
        match s {
            Step::Press { key, .. } => *key,
            other => panic!("expected a key, got {other:?}"),
        }
    }

    #[test]
    fn an_unnumbered_dialog_is_answered_by_moving_to_the_label_then_enter() {
        let t0 = Instant::now();
        let mut a = Answerer::default();
        let want = Some(labels(Dialog::Trust));
        let no = m(TRUST_NEW_NO);
        let yes = m(TRUST_NEW_YES);
        assert_eq!(
            press(&a.next(t0, Some((Dialog::Trust, Some(&no))), want, true)),
            Key::Down
        );
        // The screen has not shown the move yet: no second key.
        let s = a.next(
            t0 + Duration::from_millis(50),
            Some((Dialog::Trust, Some(&no))),
            want,
            true,
        );
        assert!(matches!(s, Step::LookAgainIn(_)), "{s:?}");
        // The cursor moved: Enter, and only now.
        let t1 = t0 + Duration::from_millis(120);
        assert_eq!(
            press(&a.next(t1, Some((Dialog::Trust, Some(&yes))), want, true)),
            Key::Enter
        );
        // The dialog went away: the answer took.
        let s = a.next(t1 + Duration::from_millis(300), None, None, true);
        assert_eq!(
            s,
            Step::Took {
                dialog: Dialog::Trust,
                label: "Yes, I trust this folder".into(),
                keys: 2
            }
        );
    }

    #[test]
    fn a_numbered_dialog_gets_its_digit() {
        let mut a = Answerer::default();
        let old = m(TRUST_OLD);
        let s = a.next(
            Instant::now(),
            Some((Dialog::Trust, Some(&old))),
            Some(labels(Dialog::Trust)),
            true,
        );
        assert_eq!(press(&s), digit(1));
        let bypass = m("  ❯ 1. No, exit\n    2. Yes, I accept\n");
        let mut a = Answerer::default();
        let s = a.next(
            Instant::now(),
            Some((Dialog::BypassWarning, Some(&bypass))),
            Some(labels(Dialog::BypassWarning)),
            true,
        );
        assert_eq!(press(&s), digit(2));
    }

    #[test]
    fn an_arrow_that_does_not_move_the_cursor_is_retried_after_a_while_then_given_up() {
        let t0 = Instant::now();
        let mut a = Answerer::default();
        let want = Some(labels(Dialog::Trust));
        let no = m(TRUST_NEW_NO);
        let mut t = t0;
        let mut downs = 0;
        loop {
            match a.next(t, Some((Dialog::Trust, Some(&no))), want, true) {
                Step::Press { key: Key::Down, .. } => downs += 1,
                Step::LookAgainIn(d) => assert!(d <= MOVE_WAIT),
                Step::GaveUp { reason, .. } => {
                    assert!(reason.contains("did not reach"), "{reason}");
                    break;
                }
                other => panic!("{other:?}"),
            }
            t += Duration::from_millis(400);
            assert!(downs < 100);
        }
        assert_eq!(downs, 2 * 2 + 4);
        // Given up: nothing more is pressed while it stays on screen.
        assert_eq!(
            a.next(
                t + MOVE_WAIT * 3,
                Some((Dialog::Trust, Some(&no))),
                want,
                true
            ),
            Step::Nothing
        );
        assert!(a.trouble().is_some());
        // When it goes, nothing is claimed to have taken.
        assert_eq!(a.next(t, None, None, true), Step::Nothing);
        assert!(a.trouble().is_none());
    }

    #[test]
    fn a_confirm_that_does_not_clear_the_dialog_is_tried_three_times_then_reported() {
        let t0 = Instant::now();
        let mut a = Answerer::default();
        let want = Some(labels(Dialog::Trust));
        let yes = m(TRUST_NEW_YES);
        let mut enters = 0;
        let mut t = t0;
        let reason = loop {
            match a.next(t, Some((Dialog::Trust, Some(&yes))), want, true) {
                Step::Press {
                    key: Key::Enter, ..
                } => enters += 1,
                Step::LookAgainIn(_) => {}
                Step::GaveUp { reason, .. } => break reason,
                other => panic!("{other:?}"),
            }
            t += Duration::from_secs(1);
        };
        assert_eq!(enters, MAX_CONFIRMS);
        assert!(reason.contains("still there"), "{reason}");
    }

    #[test]
    fn a_missing_label_presses_nothing_and_says_so_once() {
        let mut a = Answerer::default();
        let other = m(" ❯ Maybe later\n   Never\n");
        let s = a.next(
            Instant::now(),
            Some((Dialog::Trust, Some(&other))),
            Some(labels(Dialog::Trust)),
            true,
        );
        match s {
            Step::GaveUp { reason, .. } => {
                assert!(
                    reason.contains("'Yes, I trust this folder' not on screen"),
                    "{reason}"
                );
                assert!(reason.contains("Maybe later | Never"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            a.next(
                Instant::now(),
                Some((Dialog::Trust, Some(&other))),
                Some(labels(Dialog::Trust)),
                true
            ),
            Step::Nothing
        );
    }

    #[test]
    fn no_policy_or_an_unsettled_screen_presses_nothing() {
        let mut a = Answerer::default();
        let no = m(TRUST_NEW_NO);
        assert_eq!(
            a.next(Instant::now(), Some((Dialog::Trust, Some(&no))), None, true),
            Step::Nothing
        );
        assert_eq!(
            a.next(
                Instant::now(),
                Some((Dialog::Trust, Some(&no))),
                Some(labels(Dialog::Trust)),
                false
            ),
            Step::Nothing
        );
    }

    #[test]
    fn one_dialog_replaced_by_the_next_counts_the_first_as_taken() {
        let t0 = Instant::now();
        let mut a = Answerer::default();
        let old = m(TRUST_OLD);
        press(&a.next(
            t0,
            Some((Dialog::Trust, Some(&old))),
            Some(labels(Dialog::Trust)),
            true,
        ));
        let bypass = m("  ❯ No, exit\n    Yes, I accept\n");
        let s = a.next(
            t0 + Duration::from_millis(500),
            Some((Dialog::BypassWarning, Some(&bypass))),
            Some(labels(Dialog::BypassWarning)),
            true,
        );
        assert!(
            matches!(
                s,
                Step::Took {
                    dialog: Dialog::Trust,
                    ..
                }
            ),
            "{s:?}"
        );
        let s = a.next(
            t0 + Duration::from_millis(600),
            Some((Dialog::BypassWarning, Some(&bypass))),
            Some(labels(Dialog::BypassWarning)),
            true,
        );
        assert_eq!(press(&s), Key::Down);
    }
}
