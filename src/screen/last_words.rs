//! What a CLI last printed before its process ended: the last paragraph of
//! its screen, tmux's own `Pane is dead (...)` line left out. It goes into
//! the note of an agent orc gave up restarting, so that "status 55" comes
//! with the CLI's reason (Gemini CLI: "... trust this directory in
//! interactive mode ...").

/// The most lines of a paragraph kept (its last ones).
const MAX_ROWS: usize = 6;
/// The most characters kept (the first ones, then `…`).
const MAX_CHARS: usize = 400;

/// The last non-blank paragraph on `screen`, on one line: rows the terminal
/// wrapped (or that fill the width, as a rebuilt screen loses the wrap flag)
/// are joined as they were, other rows with a space; runs of spaces become
/// one. None when the screen is blank.
pub fn last_words(screen: &vt100::Screen) -> Option<String> {
    let (_, cols) = screen.size();
    // Logical lines: a row the terminal wrapped goes on in the next.
    let mut lines: Vec<String> = vec![String::new()];
    for (i, row) in screen.rows(0, cols).enumerate() {
        let wrapped = screen.row_wrapped(i as u16) || row.chars().count() >= cols as usize;
        lines.last_mut().expect("one line").push_str(&row);
        if !wrapped {
            lines.push(String::new());
        }
    }
    let blank = |l: &String| l.trim().is_empty();
    while lines
        .last()
        .is_some_and(|l| blank(l) || l.trim_start().starts_with("Pane is dead"))
    {
        lines.pop();
    }
    let end = lines.len();
    let start = (lines[..end].iter().rposition(blank)).map_or(0, |b| b + 1);
    let start = start.max(end.saturating_sub(MAX_ROWS));
    let mut out = String::new();
    for word in lines[start..end].iter().flat_map(|l| l.split_whitespace()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        return None;
    }
    if out.chars().count() > MAX_CHARS {
        out = out.chars().take(MAX_CHARS).collect::<String>() + "…";
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(cols: u16, bytes: &str) -> vt100::Parser {
        let mut p = vt100::Parser::new(10, cols, 0);
        p.process(bytes.as_bytes());
        p
    }

    #[test]
    fn a_wrapped_message_is_joined_and_tmuxs_line_left_out() {
        // As Gemini CLI 0.61 printed it under CI=true, 40 columns wide.
        let p = screen(
            40,
            "\x1b[31mstarting\x1b[0m\r\n\r\nNot a trusted folder: trust it in interactive mode, see https://example.invalid/docs/trust\r\n\r\n\r\nPane is dead (status 55, Thu Dec  3 14:25:00 2026)\r\n",
        );
        assert_eq!(
            last_words(p.screen()).as_deref(),
            Some("Not a trusted folder: trust it in interactive mode, see https://example.invalid/docs/trust")
        );
    }

    #[test]
    fn separate_rows_are_joined_by_a_space_and_a_long_paragraph_is_cut() {
        let p = screen(80, "Error: boom\r\n    at main (x.js:1)\r\n");
        assert_eq!(
            last_words(p.screen()).as_deref(),
            Some("Error: boom at main (x.js:1)")
        );
        let long: String = (0..9)
            .map(|i| format!("line {i} {}\r\n", "x".repeat(70)))
            .collect();
        let p = screen(80, &long);
        let w = last_words(p.screen()).unwrap();
        assert!(w.starts_with("line 3 "), "only the last rows: {w}");
        assert!(
            w.ends_with('…') && w.chars().count() == MAX_CHARS + 1,
            "{w}"
        );
    }

    #[test]
    fn a_blank_screen_or_only_tmuxs_line_says_nothing() {
        assert_eq!(last_words(screen(40, "").screen()), None);
        let p = screen(
            40,
            "\r\nPane is dead (signal 9, Thu Dec  3 14:25:00 2026)\r\n",
        );
        assert_eq!(last_words(p.screen()), None);
    }
}
