//! Async control-mode client: one `tmux -C attach` process, commands written to
//! its stdin, replies matched to commands in order (FIFO), notifications sent
//! to an event channel.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::parser::{Event, Parser, Reply};
use super::{quote, FormatSafe, Key, NewWindow, PaneText, TmuxError};

type Pending = VecDeque<oneshot::Sender<(Reply, u64)>>;

/// A notification and its position in the stream. Positions grow by one per
/// line-level event (replies included), so a reply's position tells which
/// notifications came before it.
pub type Sequenced = (u64, Event);

struct Inner {
    /// Writer and the FIFO of waiting callers, under one lock so that the
    /// order of lines written is the order of the queue.
    io: Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
    pending: Arc<std::sync::Mutex<Option<Pending>>>,
}

/// Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct ControlClient {
    inner: Arc<Inner>,
}

impl ControlClient {
    /// Wrap a reader/writer pair speaking control mode (a `tmux -C` process, or
    /// a mock in tests). Notifications go to the returned receiver; when the
    /// stream ends, waiting commands fail with [`TmuxError::Closed`] and the
    /// receiver yields `Event::Exit` (if tmux did not say so itself) and closes.
    pub fn from_io<R, W>(reader: R, writer: W, events: usize) -> (Self, mpsc::Receiver<Sequenced>)
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let (tx, rx) = mpsc::channel(events.max(1));
        let pending: Arc<std::sync::Mutex<Option<Pending>>> =
            Arc::new(std::sync::Mutex::new(Some(VecDeque::new())));
        let inner = Arc::new(Inner {
            io: Mutex::new(Box::new(writer)),
            pending: pending.clone(),
        });
        tokio::spawn(read_loop(reader, pending, tx));
        (Self { inner }, rx)
    }

    /// Run one command line (already quoted) and wait for its reply.
    /// `%error` replies become [`TmuxError::Command`].
    pub async fn raw(&self, line: &str) -> Result<Reply, TmuxError> {
        self.raw_seq(line).await.map(|(r, _)| r)
    }

    /// Like [`raw`](Self::raw), also returning the reply's stream position.
    pub async fn raw_seq(&self, line: &str) -> Result<(Reply, u64), TmuxError> {
        self.batch(&[line])
            .await
            .pop()
            .unwrap_or(Err(TmuxError::Closed))
    }

    /// Write several command lines in one go (tmux runs them back to back,
    /// with no pane output processed in between) and wait for every reply.
    ///
    /// Commands that type into a pane or expand formats ([`super::GUARDED`])
    /// are refused here: they go through the typed methods below.
    pub async fn batch(&self, lines: &[&str]) -> Vec<Result<(Reply, u64), TmuxError>> {
        if let Some(word) = lines.iter().find_map(|l| guarded(l)) {
            let msg = format!(
                "`{word}` may be sent only through ControlClient's typed methods (PaneText, Key, FormatSafe)"
            );
            return lines
                .iter()
                .map(|_| Err(TmuxError::BadCommand(msg.clone())))
                .collect();
        }
        self.batch_unchecked(lines).await
    }

    async fn batch_unchecked(&self, lines: &[&str]) -> Vec<Result<(Reply, u64), TmuxError>> {
        if let Some(bad) = lines.iter().find(|l| l.contains('\n') || l.is_empty()) {
            // An empty line would detach the client; a newline would split it.
            let err = TmuxError::BadCommand(bad.escape_debug().to_string());
            return lines
                .iter()
                .map(|_| Err(TmuxError::BadCommand(err.to_string())))
                .collect();
        }
        let mut waiters = Vec::with_capacity(lines.len());
        {
            let mut io = self.inner.io.lock().await;
            let mut buf = Vec::new();
            {
                let mut p = self.inner.pending.lock().expect("pending lock");
                let Some(q) = p.as_mut() else {
                    return lines.iter().map(|_| Err(TmuxError::Closed)).collect();
                };
                for line in lines {
                    let (tx, rx) = oneshot::channel();
                    q.push_back(tx);
                    waiters.push(rx);
                    buf.extend_from_slice(line.as_bytes());
                    buf.push(b'\n');
                }
            }
            if io.write_all(&buf).await.is_err() || io.flush().await.is_err() {
                return lines.iter().map(|_| Err(TmuxError::Closed)).collect();
            }
        }
        let mut out = Vec::with_capacity(lines.len());
        for (rx, line) in waiters.into_iter().zip(lines) {
            out.push(match rx.await {
                Err(_) => Err(TmuxError::Closed),
                Ok((reply, seq)) if reply.ok => Ok((reply, seq)),
                Ok((reply, _)) => Err(TmuxError::Command {
                    command: line.to_string(),
                    message: reply.text(),
                }),
            });
        }
        out
    }

    /// Run a command given as separate arguments; each one is quoted.
    pub async fn cmd(&self, args: &[&str]) -> Result<Vec<String>, TmuxError> {
        let line = args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
        let reply = self.raw(&line).await?;
        Ok(reply_lines(&reply))
    }

    /// Any command, guarded ones included, for tools that drive a CLI by
    /// hand (the fixture recorders in `examples/`, tests). orc's own code
    /// never calls it: a unit test checks that `src/` does not.
    pub async fn tool_cmd(&self, args: &[&str]) -> Result<Vec<String>, TmuxError> {
        self.cmd_typed(args).await
    }

    /// A guarded command, built by a typed method of this client.
    async fn cmd_typed(&self, args: &[&str]) -> Result<Vec<String>, TmuxError> {
        let line = args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
        let (reply, _) = self
            .batch_unchecked(&[&line])
            .await
            .pop()
            .unwrap_or(Err(TmuxError::Closed))?;
        Ok(reply_lines(&reply))
    }

    /// Type `text` into `pane` (no Enter): one line literally
    /// (`send-keys -l`), several lines or a long one as one bracketed paste
    /// (`set-buffer` into `buffer`, `paste-buffer -p -d`).
    pub async fn type_text(
        &self,
        pane: &str,
        buffer: &str,
        text: &PaneText,
    ) -> Result<(), TmuxError> {
        if text.wants_paste() {
            self.cmd_typed(&["set-buffer", "-b", buffer, "--", text.as_str()])
                .await?;
            self.cmd_typed(&["paste-buffer", "-p", "-d", "-b", buffer, "-t", pane])
                .await?;
        } else {
            self.cmd_typed(&["send-keys", "-t", pane, "-l", "--", text.as_str()])
                .await?;
        }
        Ok(())
    }

    /// Press one key in `pane`.
    pub async fn press(&self, pane: &str, key: Key) -> Result<(), TmuxError> {
        let (name, literal) = key.tmux_key();
        if literal {
            self.cmd_typed(&["send-keys", "-t", pane, "-l", "--", name])
                .await?;
        } else {
            self.cmd_typed(&["send-keys", "-t", pane, name]).await?;
        }
        Ok(())
    }

    /// Open a window; returns what its `-P -F` format printed.
    pub async fn new_window(&self, w: &NewWindow) -> Result<Vec<String>, TmuxError> {
        let args = w.args();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.cmd_typed(&refs).await
    }

    pub async fn rename_window(&self, window: &str, name: &FormatSafe) -> Result<(), TmuxError> {
        self.cmd_typed(&["rename-window", "-t", window, "--", name.as_str()])
            .await
            .map(|_| ())
    }

    /// Ask tmux to detach this client (an empty line).
    pub async fn detach(&self) {
        let mut io = self.inner.io.lock().await;
        let _ = io.write_all(b"\n").await;
        let _ = io.flush().await;
    }
}

fn reply_lines(reply: &Reply) -> Vec<String> {
    reply
        .lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

/// A guarded command in a command line: its first word, or a word after an
/// unquoted `;` (tmux's command separator). Quotes and backslashes are
/// followed as tmux reads them.
fn guarded(line: &str) -> Option<String> {
    let mut commands: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut at_start = true; // the next word starts a command
    let (mut dq, mut sq, mut esc) = (false, false, false);
    let finish = |word: &mut String, at_start: &mut bool, commands: &mut Vec<String>| {
        if !word.is_empty() {
            if *at_start {
                commands.push(std::mem::take(word));
            }
            word.clear();
            *at_start = false;
        }
    };
    for c in line.chars() {
        if esc {
            word.push(c);
            esc = false;
            continue;
        }
        match c {
            '\\' if !sq => esc = true,
            '"' if !sq => dq = !dq,
            '\'' if !dq => sq = !sq,
            ';' if !dq && !sq => {
                finish(&mut word, &mut at_start, &mut commands);
                at_start = true;
            }
            c if c.is_whitespace() && !dq && !sq => finish(&mut word, &mut at_start, &mut commands),
            c => word.push(c),
        }
    }
    finish(&mut word, &mut at_start, &mut commands);
    commands
        .into_iter()
        .find(|w| super::GUARDED.contains(&w.as_str()))
}

#[cfg(test)]
#[test]
fn guarded_commands_are_found_after_separators() {
    assert_eq!(guarded("send-keys -t %1 x").as_deref(), Some("send-keys"));
    assert_eq!(
        guarded("\"paste-buffer\" -b x").as_deref(),
        Some("paste-buffer")
    );
    assert_eq!(
        guarded("display -p x ; send-keys Enter").as_deref(),
        Some("send-keys")
    );
    assert_eq!(
        guarded("display -p x; run-shell id").as_deref(),
        Some("run-shell")
    );
    assert_eq!(guarded("display -p \"a ; send-keys\""), None);
    assert_eq!(guarded("display -p x \\; send-keys"), None);
    assert_eq!(guarded("list-panes -a"), None);
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut reader: R,
    pending: Arc<std::sync::Mutex<Option<Pending>>>,
    tx: mpsc::Sender<Sequenced>,
) {
    let mut seq: u64 = 0;
    let mut parser = Parser::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut saw_exit = false;
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        parser.push(&buf[..n]);
        while let Some(ev) = parser.next_event() {
            seq += 1;
            match ev {
                Event::Reply(reply) if reply.from_client() => {
                    let waiter = pending
                        .lock()
                        .expect("pending lock")
                        .as_mut()
                        .and_then(|q| q.pop_front());
                    match waiter {
                        Some(w) => {
                            let _ = w.send((reply, seq));
                        }
                        None => tracing::warn!(
                            number = reply.guard.number,
                            "tmux reply with no command waiting"
                        ),
                    }
                }
                // The attach command's own block (flags 0) and any other
                // block not started by us: nobody waits for it.
                Event::Reply(_) => {}
                ev => {
                    if matches!(ev, Event::Exit { .. }) {
                        saw_exit = true;
                    }
                    if tx.send((seq, ev)).await.is_err() {
                        // Nobody listens for notifications; keep serving replies.
                    }
                }
            }
        }
    }
    // Stream closed: fail everybody still waiting, refuse new commands.
    pending.lock().expect("pending lock").take();
    if !saw_exit {
        let _ = tx
            .send((
                seq + 1,
                Event::Exit {
                    reason: Some("connection closed".into()),
                },
            ))
            .await;
    }
}
