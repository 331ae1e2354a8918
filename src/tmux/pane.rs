//! The agent's port to its pane. [`PaneOps`] is everything an agent actor
//! asks of tmux, by meaning (open a window, take a snapshot, type text,
//! press a key), so that the agent builds no tmux command line itself;
//! [`TmuxPane`] is the real one, over a session's control connection.
//! Tests use a fake that records what is typed and feeds recorded bytes.
//!
//! Events come back the other way through a [`PaneSink`]: the session
//! actor calls it with each [`PaneEvent`] of a routed pane and knows
//! nothing of who listens.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ractor::ActorRef;

use super::session::{SessionMsg, TmuxHandle};
use super::{FormatSafe, Key, NewWindow, PaneText, TmuxError};

/// What happened in a routed pane.
#[derive(Debug, Clone, PartialEq)]
pub enum PaneEvent {
    /// Bytes the pane printed, with their position in the control stream.
    Output { seq: u64, data: Vec<u8> },
    /// The pane's process exited (the pane stays, `remain-on-exit`).
    Died { status: Option<i32> },
    /// The pane or its window was killed.
    Gone,
    /// The screen must be rebuilt from tmux (a resize, a pause, a reconnect).
    Resync,
}

/// Where a routed pane's events go.
pub type PaneSink = Arc<dyn Fn(PaneEvent) + Send + Sync>;

/// A boxed future, so that [`PaneOps`] can be used as `dyn`.
pub type PaneFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, TmuxError>> + Send + 'a>>;

/// A new window for an agent.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The agent's name, tagged on the pane as `@orc_agent`.
    pub agent: String,
    pub title: FormatSafe,
    pub cwd: FormatSafe,
    pub env: Vec<(String, String)>,
    /// argv, exec'd directly (no shell).
    pub command: Vec<String>,
}

/// The pane a launch opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub pane: String,
    pub pid: Option<u32>,
    pub window: String,
}

/// A pane's screen and state, taken in one go so that no output slips in
/// between: output after `seq` is not in `lines`.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub width: u16,
    pub height: u16,
    pub cursor: (u16, u16),
    pub dead: bool,
    pub pid: Option<u32>,
    pub window: String,
    /// The visible rows, with their SGR escapes (`capture-pane -e`).
    pub lines: Vec<Vec<u8>>,
    pub seq: u64,
}

/// Everything an agent does to its pane.
pub trait PaneOps: Send + Sync {
    /// Open a window running the launch's command; tag its pane.
    fn open<'a>(&'a self, launch: &'a Launch) -> PaneFuture<'a, Opened>;
    /// The pane's screen and state; `None` when the pane no longer exists.
    fn snapshot<'a>(&'a self, pane: &'a str) -> PaneFuture<'a, Option<Snapshot>>;
    /// Type text into the composer (no Enter).
    fn type_text<'a>(
        &'a self,
        pane: &'a str,
        buffer: &'a str,
        text: &'a PaneText,
    ) -> PaneFuture<'a, ()>;
    fn press<'a>(&'a self, pane: &'a str, key: Key) -> PaneFuture<'a, ()>;
    fn rename<'a>(&'a self, window: &'a str, title: &'a FormatSafe) -> PaneFuture<'a, ()>;
    fn kill<'a>(&'a self, pane: &'a str) -> PaneFuture<'a, ()>;
    /// The pane's whole scrollback as text, wrapped lines joined.
    fn scrollback<'a>(&'a self, pane: &'a str) -> PaneFuture<'a, Vec<String>>;
    /// From now on, the pane's events go to `sink`.
    fn route(&self, pane: &str, window: &str, sink: PaneSink);
    fn unroute(&self, pane: &str);
}

/// The real pane port: a session's control connection and its router.
pub struct TmuxPane {
    pub tmux: TmuxHandle,
    pub session: ActorRef<SessionMsg>,
}

/// `%12` -> 12, `@3` -> 3.
fn num(id: &str, sigil: char) -> Option<u32> {
    id.strip_prefix(sigil)?.parse().ok()
}

/// The `display-message` format a snapshot reads.
const SNAPSHOT_INFO: &str =
    "#{pane_width} #{pane_height} #{cursor_x} #{cursor_y} #{pane_dead} #{pane_pid} #{window_id}";

impl TmuxPane {
    async fn open_(&self, l: &Launch) -> Result<Opened, TmuxError> {
        let window = NewWindow {
            target: format!("={}:", self.tmux.session),
            name: l.title.clone(),
            cwd: l.cwd.clone(),
            env: l.env.clone(),
            print: "#{pane_id} #{pane_pid} #{window_id}",
            command: l.command.clone(),
        };
        let out = self.tmux.new_window(&window).await?;
        let line = out.first().cloned().unwrap_or_default();
        let f: Vec<&str> = line.split_whitespace().collect();
        let [pane, pid, window] = f[..] else {
            return Err(TmuxError::Command {
                command: "new-window".into(),
                message: format!("unexpected reply {line:?}"),
            });
        };
        self.tmux
            .cmd(&["set-option", "-p", "-t", pane, "@orc_agent", &l.agent])
            .await?;
        Ok(Opened {
            pane: pane.to_string(),
            pid: pid.parse().ok(),
            window: window.to_string(),
        })
    }

    async fn snapshot_(&self, pane: &str) -> Result<Option<Snapshot>, TmuxError> {
        let p = super::quote(pane);
        let display = format!("display-message -p -t {p} {}", super::quote(SNAPSHOT_INFO));
        let capture = format!("capture-pane -p -e -t {p}");
        let mut replies = self
            .tmux
            .client()
            .batch(&[&display, &capture])
            .await
            .into_iter();
        let mut next = || match replies.next().unwrap_or(Err(TmuxError::Closed)) {
            Ok(r) => Ok(Some(r)),
            Err(TmuxError::Command { .. }) => Ok(None),
            Err(e) => Err(e),
        };
        let (Some((info, _)), Some((capture, seq))) = (next()?, next()?) else {
            return Ok(None);
        };
        let text = info.text();
        let f: Vec<&str> = text.split_whitespace().collect();
        if f.len() < 7 {
            return Ok(None);
        }
        let n = |i: usize| f[i].parse::<u16>().unwrap_or(0);
        Ok(Some(Snapshot {
            width: n(0),
            height: n(1),
            cursor: (n(2), n(3)),
            dead: f[4] != "0",
            pid: f[5].parse().ok(),
            window: f[6].to_string(),
            lines: capture.lines,
            seq,
        }))
    }
}

impl PaneOps for TmuxPane {
    fn open<'a>(&'a self, launch: &'a Launch) -> PaneFuture<'a, Opened> {
        Box::pin(self.open_(launch))
    }
    fn snapshot<'a>(&'a self, pane: &'a str) -> PaneFuture<'a, Option<Snapshot>> {
        Box::pin(self.snapshot_(pane))
    }
    fn type_text<'a>(
        &'a self,
        pane: &'a str,
        buffer: &'a str,
        text: &'a PaneText,
    ) -> PaneFuture<'a, ()> {
        Box::pin(self.tmux.type_text(pane, buffer, text))
    }
    fn press<'a>(&'a self, pane: &'a str, key: Key) -> PaneFuture<'a, ()> {
        Box::pin(async move { self.tmux.press(pane, key).await })
    }
    fn rename<'a>(&'a self, window: &'a str, title: &'a FormatSafe) -> PaneFuture<'a, ()> {
        Box::pin(self.tmux.rename_window(window, title))
    }
    fn kill<'a>(&'a self, pane: &'a str) -> PaneFuture<'a, ()> {
        Box::pin(async move { self.tmux.cmd(&["kill-pane", "-t", pane]).await.map(|_| ()) })
    }
    fn scrollback<'a>(&'a self, pane: &'a str) -> PaneFuture<'a, Vec<String>> {
        Box::pin(async move {
            self.tmux
                .cmd(&["capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", pane])
                .await
        })
    }
    fn route(&self, pane: &str, window: &str, sink: PaneSink) {
        if let (Some(pane), Some(window)) = (num(pane, '%'), num(window, '@')) {
            let _ = self.session.cast(SessionMsg::Route { pane, window, sink });
        }
    }
    fn unroute(&self, pane: &str) {
        if let Some(pane) = num(pane, '%') {
            let _ = self.session.cast(SessionMsg::Unroute { pane });
        }
    }
}
