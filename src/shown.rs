//! The one way to the user's terminal. Every user-derived field the CLI
//! prints (names, roles, projects, message text, log lines, notes) goes
//! through [`visible`] or [`one_line`]: control bytes, C1 controls and
//! invisible format characters are made visible (`\x1b`, `\u{202e}`), so no
//! printed string can clear the screen, set the title or write the clipboard.

use std::borrow::Cow;

/// C1 controls and invisible format characters (bidi overrides, zero-width).
pub fn is_hidden(c: char) -> bool {
    matches!(c as u32,
        0x80..=0x9f | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2069 | 0xfeff | 0xfff9..=0xfffb)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

fn needs(c: char) -> bool {
    c.is_control() || is_hidden(c)
}

/// Text for the terminal: newlines and tabs kept, every other control
/// character shown as an escape.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| needs(c) && c != '\n' && c != '\t') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs(c) && c != '\n' && c != '\t' {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A table cell or a one-line field: newlines and tabs shown as escapes too.
pub fn one_line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A quoted form for error messages (`"a\u{1b}b"`).
pub fn debug(s: &str) -> String {
    format!("{s:?}")
}

/// Wraps a string so that `{}` prints it [`one_line`].
pub struct Shown<'a>(pub &'a str);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&one_line(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_raw_reaches_the_terminal() {
        for bad in [
            "\x1b[2J\x1b[H",
            "\x1b]0;title\x07",
            "\x1b]52;c;eA==\x07",
            "\u{9b}2J",
            "a\u{202e}b",
        ] {
            let v = visible(bad);
            assert!(!v.chars().any(needs), "{bad:?} -> {v:?}");
            assert!(!one_line(bad).chars().any(needs));
        }
        assert_eq!(visible("a\nb\x1bc"), "a\nb\\x1bc");
        assert_eq!(one_line("a\nb"), "a\\nb");
        assert!(matches!(visible("plain é"), Cow::Borrowed(_)));
        assert_eq!(format!("{:<6}|", Shown("a\x07")), "a\\x07 |");
        assert!(debug("x\x1b").contains("\\u{1b}"));
    }
}
