//! The options of a dialog as the screen shows them: their labels, their
//! digits when the dialog numbers them, and which one the cursor (`❯`) is on.
//!
//! Pure: rows of text in, a [`Menu`] out. orc answers a dialog by an option's
//! label (see `agent::dialogs`), so it needs to know where that label is and
//! where the cursor is now, read afresh after every key it presses.
//!
//! Shapes recorded from the real CLIs:
//!
//! ```text
//!  ❯ 1. Yes, I trust this folder        (Claude Code 2.1.197: numbered)
//!    2. No, exit
//!
//!  ❯ No, exit                           (2.1.332: no digits, cursor on "No")
//!    Yes, I trust this folder
//! ```
//!
//! Option lines share the label's column; a line indented deeper is a
//! description of the option above it; anything else ends the list.

use serde::Serialize;

/// The cursor marks a dialog uses (Claude Code's `❯`; `›` and `>` elsewhere; Gemini CLI's `●`).
const CURSORS: &[char] = &['❯', '›', '>', '●'];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MenuOption {
    /// The option's text without the cursor mark or digit.
    pub label: String,
    /// The digit shown before it (`1.`), when the dialog numbers its options.
    pub digit: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Menu {
    pub options: Vec<MenuOption>,
    /// Index into `options` of the line the cursor is on.
    pub cursor: usize,
}

impl Menu {
    /// Whether every option shows a digit (then a digit picks it).
    pub fn numbered(&self) -> bool {
        !self.options.is_empty() && self.options.iter().all(|o| o.digit.is_some())
    }

    /// The index of the first option whose label is one of `labels`
    /// (compared without case, surrounding space, or a trailing
    /// parenthesised hint such as `(recommended)` or `(esc)`).
    pub fn find(&self, labels: &[&str]) -> Option<usize> {
        labels.iter().find_map(|want| {
            let want = normalise(want);
            self.options
                .iter()
                .position(|o| normalise(&o.label) == want)
        })
    }
}

fn normalise(label: &str) -> String {
    let mut s = label.trim();
    if s.ends_with(')') {
        if let Some(i) = s.rfind(" (") {
            s = s[..i].trim_end();
        }
    }
    s.to_lowercase()
}

fn unbox(row: &str) -> String {
    let t = row.trim_start();
    match t.strip_prefix('│') {
        Some(inner) => {
            let lead = row.len() - t.len();
            let inner = inner.trim_end().trim_end_matches('│').trim_end();
            format!("{} {inner}", &row[..lead])
        }
        None => row.to_string(),
    }
}

/// Column (in chars) of the first non-space character, and the rest.
fn indent(row: &str) -> (usize, &str) {
    let t = row.trim_start_matches([' ', '\u{a0}']);
    (row[..row.len() - t.len()].chars().count(), t)
}

/// `1. Label` → (Some(1), "Label"); anything else → (None, text).
fn split_digit(text: &str) -> (Option<u8>, &str) {
    let mut chars = text.char_indices();
    if let Some((_, c)) = chars.next() {
        if let Some(d) = c.to_digit(10) {
            if let Some(rest) = text[c.len_utf8()..].strip_prefix(". ") {
                return (Some(d as u8), rest.trim_start());
            }
        }
    }
    (None, text)
}

/// The cursor line: `❯ label` (after any indent). Returns the label's
/// column and text.
fn cursor_line(row: &str) -> Option<(usize, &str)> {
    let (col, t) = indent(row);
    let mark = t.chars().next().filter(|c| CURSORS.contains(c))?;
    let after = &t[mark.len_utf8()..];
    let rest = after.trim_start_matches([' ', '\u{a0}']);
    if rest.is_empty() || rest.len() == after.len() {
        // A bare prompt (an empty composer) or `>text` is not a menu line.
        return None;
    }
    let gap = after.chars().count() - rest.chars().count();
    Some((col + 1 + gap, rest.trim_end()))
}

/// A question asked on one line that ends with its options and the default
/// in brackets (Aider: `Run shell command? (Y)es/(N)o/(D)on't ask again
/// [Yes]:`). Enter takes the default, and that is the only option offered:
/// another answer would have to be typed (a letter), and the arrow keys
/// recall input history there. `None` for any other row.
pub fn read_inline(row: &str) -> Option<Menu> {
    let t = row.trim_end();
    let rest = t.strip_suffix(':').or_else(|| {
        // Answered already: `... [Yes]: n` (one word typed after it).
        let (head, word) = t.rsplit_once(' ')?;
        (!word.is_empty() && !word.contains(['[', ']'])).then_some(head.strip_suffix(':')?)
    })?;
    let open = rest.rfind(" [")?;
    let default = rest[open + 2..].strip_suffix(']')?;
    let options = &rest[..open];
    if !options.contains("(Y)es/(N)o") || !matches!(default, "Yes" | "No") {
        return None;
    }
    Some(Menu {
        options: vec![MenuOption {
            label: default.to_string(),
            digit: None,
        }],
        cursor: 0,
    })
}

/// Read the menu from `rows` (top to bottom). The cursor line is the lowest
/// row that starts with a cursor mark followed by text, other than the
/// composer row `skip` (the composer's `❯` is not a menu). `None` when no
/// option list is found.
pub fn read(rows: &[&str], skip: Option<usize>) -> Option<Menu> {
    // A dialog drawn in a box (`│ ❯ 1. Yes, proceed   │`, Claude Code 1.x):
    // the borders are not part of the text; columns stay as drawn.
    let unboxed: Vec<String> = rows.iter().map(|r| unbox(r)).collect();
    let rows: Vec<&str> = unboxed.iter().map(String::as_str).collect();
    let rows = &rows[..];
    let (at, col, text) = rows
        .iter()
        .enumerate()
        .rev()
        .filter(|(i, _)| Some(*i) != skip)
        .find_map(|(i, r)| cursor_line(r).map(|(c, t)| (i, c, t)))?;
    let (above, below) = neighbours(rows, at, col, skip);
    // An option line above the cursor must look like one: with digits, the
    // one above is numbered too; without, the block above the first option
    // is usually the question, which ends at a blank line or a shallower row.
    let (cursor_digit, _) = split_digit(text);
    let keep = |t: &&str| split_digit(t).0.is_some() == cursor_digit.is_some();
    // Lines of the other kind (a numbered question above an unnumbered
    // list, say) are not options of this menu.
    let above: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for t in above.iter().rev() {
            if !keep(t) {
                break;
            }
            v.push(t);
        }
        v.reverse();
        v
    };
    let below: Vec<&str> = below.into_iter().take_while(|t| keep(t)).collect();
    let mut options = Vec::new();
    for t in above
        .iter()
        .chain(std::iter::once(&text))
        .chain(below.iter())
    {
        let (digit, label) = split_digit(t);
        options.push(MenuOption {
            label: label.to_string(),
            digit,
        });
    }
    Some(Menu {
        cursor: above.len(),
        options,
    })
}

/// The option lines above and below the cursor line `at`, whose labels
/// start at column `col` (lines indented deeper, a wrapped label, are
/// passed over).
fn neighbours<'a>(
    rows: &[&'a str],
    at: usize,
    col: usize,
    skip: Option<usize>,
) -> (Vec<&'a str>, Vec<&'a str>) {
    let deeper = |row: &str| {
        let (c, t) = indent(row);
        !t.is_empty() && c > col
    };
    let mut above = Vec::new();
    let mut i = at;
    while i > 0 {
        i -= 1;
        if Some(i) == skip {
            break;
        }
        if let Some(t) = option_at(rows[i], col) {
            above.push(t);
        } else if !deeper(rows[i]) {
            break;
        }
    }
    above.reverse();
    let mut below = Vec::new();
    for (j, row) in rows.iter().enumerate().skip(at + 1) {
        if Some(j) == skip {
            break;
        }
        if let Some(t) = option_at(row, col) {
            below.push(t);
        } else if !deeper(row) {
            break;
        }
    }
    (above, below)
}

/// The text of `row` when it starts at column `col`.
fn option_at(row: &str, col: usize) -> Option<&str> {
    let (c, t) = indent(row);
    (c == col && !t.is_empty()).then(|| t.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu(text: &str) -> Menu {
        let rows: Vec<&str> = text.lines().collect();
        read(&rows, None).expect("a menu")
    }

    #[test]
    fn numbered_options_with_the_cursor_on_the_first() {
        let m = menu(
            " Quick safety check: Is this a project you created or one you trust?\n\n ❯ 1. Yes, I trust this folder\n   2. No, exit\n\n Enter to confirm · Esc to cancel",
        );
        assert!(m.numbered());
        assert_eq!(m.cursor, 0);
        assert_eq!(m.options[1].label, "No, exit");
        assert_eq!(m.options[1].digit, Some(2));
        assert_eq!(m.find(&["yes, i trust this folder"]), Some(0));
    }

    #[test]
    fn unnumbered_options_with_the_cursor_on_the_last_line_but_one() {
        let m = menu(
            " Quick safety check: Is this a project you created or one you trust?\n\n ❯ No, exit\n   Yes, I trust this folder\n\n Enter to confirm · Esc to cancel",
        );
        assert!(!m.numbered());
        assert_eq!(m.cursor, 0);
        assert_eq!(m.options.len(), 2);
        assert_eq!(m.find(&["Yes, I trust this folder"]), Some(1));
        let m = menu("   No, exit\n ❯ Yes, I accept\n");
        assert_eq!((m.cursor, m.options.len()), (1, 2));
    }

    #[test]
    fn descriptions_under_options_are_not_options() {
        let m = menu(
            "Which library?\n❯ 1. serde\n     The usual one\n  2. miniserde\n     Smaller\n  3. Type something.\n",
        );
        assert_eq!(m.options.len(), 3);
        assert_eq!(m.options[2].label, "Type something.");
    }

    #[test]
    fn hints_in_parentheses_and_case_do_not_matter_but_the_words_do() {
        let m = menu("  1. Yes\n❯ 2. No (recommended)\n");
        assert_eq!(m.find(&["no"]), Some(1));
        assert_eq!(m.find(&["Yes"]), Some(0));
        let m = menu("❯ 1. Yes\n  2. Yes, and don't ask again for this command\n  3. No, and tell Claude what to do differently (esc)\n");
        assert_eq!(m.find(&["Yes"]), Some(0), "exact label, not a prefix");
        assert_eq!(m.find(&["Maybe"]), None);
    }

    #[test]
    fn the_composer_and_a_bare_prompt_are_not_menus() {
        assert!(read(&["────", "❯ ", "────"], None).is_none());
        assert!(read(&["────", "❯ hello", "────"], Some(1)).is_none());
        assert!(read(&["plain text", "more"], None).is_none());
    }

    #[test]
    fn a_boxed_dialog_is_read_without_its_borders() {
        let m = menu("╭──────╮\n│ Do you trust the files in this folder?  │\n│ ❯ 1. Yes, proceed                        │\n│   2. No, exit                            │\n╰──────╯");
        assert_eq!(m.options.len(), 2);
        assert_eq!(m.find(&["Yes, proceed"]), Some(0));
        assert_eq!(m.options[1].label, "No, exit");
    }

    #[test]
    fn an_inline_question_offers_only_its_default() {
        let m = read_inline("Run shell command? (Y)es/(N)o/(D)on't ask again [Yes]: ")
            .expect("a question");
        assert_eq!(m.options.len(), 1);
        assert_eq!(m.find(&["Yes"]), Some(0));
        assert_eq!(m.find(&["No"]), None);
        assert_eq!(m.find(&["Don't ask again"]), None);
        let no = read_inline("Try to proceed anyway? (Y)es/(N)o [No]:").unwrap();
        assert_eq!(no.options[0].label, "No");
        // Overdrawn by a spinner (its options gone): nothing to answer by;
        // answered (a letter typed after it): still the question.
        assert!(read_inline("  █░  Waiting for x on't ask again [Yes]:").is_none());
        assert!(
            read_inline("Open URL for more info? (Y)es/(N)o/(D)on't ask again [Yes]: n").is_some()
        );
        assert!(read_inline("> hello [Yes]:").is_none());
        assert!(read_inline("plain text").is_none());
    }
}
