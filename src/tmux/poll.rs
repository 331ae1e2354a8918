//! The fallback when control mode is wedged: tmux has been seen giving
//! `%exit` to every new control client while the server lives on. Then orc
//! runs each command as its own `tmux ARGS` process behind the same
//! [`ControlClient`] interface (replies framed as control-mode blocks), and
//! the session actor polls the panes (`list-panes`, `capture-pane`) instead
//! of reading their output, until control mode attaches again.
//!
//! Commands that only mean something to a control client (`refresh-client`)
//! are answered with an empty success.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::client::{ControlClient, Sequenced};
use super::Tmux;

/// Split one command line as orc writes it (bare words, and arguments from
/// [`super::quote`]) back into its arguments. Returns `None` for anything
/// else (orc never writes it).
pub fn split(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Some(out);
        };
        let mut word = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        d @ '0'..='7' => {
                            let mut n = d.to_digit(8)?;
                            for _ in 0..2 {
                                n = n * 8 + chars.next()?.to_digit(8)?;
                            }
                            word.push(char::from_u32(n)?);
                        }
                        e => word.push(e),
                    },
                    ch => word.push(ch),
                }
            }
            if chars.peek().is_some_and(|c| *c != ' ') {
                return None;
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch == ' ' {
                    break;
                }
                if ch == '"' || ch == '\\' || ch == ';' {
                    return None;
                }
                word.push(ch);
                chars.next();
            }
        }
        out.push(word);
    }
}

/// A client whose commands each run as one `tmux` process. The receiver
/// yields only `Exit` when the client is dropped or detached.
pub fn client(tmux: Tmux) -> (ControlClient, tokio::sync::mpsc::Receiver<Sequenced>) {
    let (client_end, shim_end) = tokio::io::duplex(1 << 20);
    let (client_r, client_w) = tokio::io::split(client_end);
    let (shim_r, mut shim_w) = tokio::io::split(shim_end);
    tokio::spawn(async move {
        let mut lines = BufReader::new(shim_r).lines();
        let mut number: u64 = 0;
        while let Ok(Some(line)) = lines.next_line().await {
            if line.is_empty() {
                break; // detach
            }
            number += 1;
            let (ok, body) = match split(&line) {
                None => (
                    false,
                    format!("orc cannot run `{line}` without control mode"),
                ),
                Some(args) if args.first().is_some_and(|a| a == "refresh-client") => {
                    (true, String::new())
                }
                Some(args) => {
                    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
                    match tmux.run(&refs).await {
                        Ok(out) => (true, out),
                        Err(super::TmuxError::Command { message, .. }) => (false, message),
                        Err(e) => (false, e.to_string()),
                    }
                }
            };
            let mut block = format!("%begin 0 {number} 1\n");
            block.push_str(&body);
            if !body.is_empty() && !body.ends_with('\n') {
                block.push('\n');
            }
            block.push_str(&format!(
                "{} 0 {number} 1\n",
                if ok { "%end" } else { "%error" }
            ));
            if shim_w.write_all(block.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = shim_w.shutdown().await;
    });
    ControlClient::from_io(client_r, client_w, 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tmux::quote;

    #[test]
    fn split_undoes_quote() {
        let args = [
            "display-message",
            "-p",
            "#{pane_width} #{pane_dead}",
            "a \"b\" \\c $HOME ~x",
            "tab\there\nnewline",
            "ünï ❯",
            "",
        ];
        let line = std::iter::once(args[0].to_string())
            .chain(args[1..].iter().map(|a| quote(a)))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(split(&line).unwrap(), args);
        assert_eq!(
            split("capture-pane -p -e -t \"%3\"").unwrap(),
            ["capture-pane", "-p", "-e", "-t", "%3"]
        );
        assert_eq!(split("a ; b"), None);
        assert_eq!(split("\"open"), None);
    }
}
