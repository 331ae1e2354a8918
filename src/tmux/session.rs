//! One actor per tmux session: it owns the control-mode connection, routes each
//! pane's output and death to the sink registered for the pane (it knows
//! nothing of agents), and reconnects when the connection drops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::tmux::pane::{PaneEvent, PaneSink};
use crate::tmux::{ControlClient, Event, Sequenced, Tmux, TmuxError};

/// Shared handle to a session's current control connection. Agents use it to
/// run commands; the session actor swaps the client on reconnect.
#[derive(Clone)]
pub struct TmuxHandle {
    pub tmux: Tmux,
    pub session: String,
    client: Arc<RwLock<ControlClient>>,
    /// Control mode is wedged: commands run one by one, panes are polled.
    polling: Arc<AtomicBool>,
}

/// While control mode is wedged: how often the panes are looked at, and how
/// often control mode is tried again.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
pub const RETRY_CONTROL_EVERY: Duration = Duration::from_secs(10);

impl TmuxHandle {
    /// True while control mode is wedged and orc polls the panes instead.
    pub fn polling(&self) -> bool {
        self.polling.load(Ordering::Relaxed)
    }

    pub fn client(&self) -> ControlClient {
        self.client.read().expect("client lock").clone()
    }
    pub async fn cmd(&self, args: &[&str]) -> Result<Vec<String>, TmuxError> {
        self.client().cmd(args).await
    }
    /// The one way to type into a pane: see [`crate::pane_text`].
    pub async fn type_text(
        &self,
        pane: &str,
        buffer: &str,
        text: &crate::tmux::PaneText,
    ) -> Result<(), TmuxError> {
        self.client().type_text(pane, buffer, text).await
    }
    pub async fn press(&self, pane: &str, key: crate::tmux::Key) -> Result<(), TmuxError> {
        self.client().press(pane, key).await
    }
    pub async fn new_window(&self, w: &crate::tmux::NewWindow) -> Result<Vec<String>, TmuxError> {
        self.client().new_window(w).await
    }
    /// Every pane of the server that carries an `@orc_agent` tag.
    pub async fn tagged_panes(&self) -> Result<Vec<TaggedPane>, TmuxError> {
        let lines = self
            .cmd(&[
                "list-panes",
                "-a",
                "-F",
                "#{pane_id}\t#{pane_dead}\t#{session_name}\t#{@orc_agent}",
            ])
            .await?;
        Ok(lines
            .iter()
            .filter_map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                (f.len() == 4 && !f[3].is_empty()).then(|| TaggedPane {
                    pane: f[0].to_string(),
                    dead: f[1] == "1",
                    agent: f[3].to_string(),
                })
            })
            .collect())
    }
    pub async fn rename_window(
        &self,
        window: &str,
        name: &crate::tmux::FormatSafe,
    ) -> Result<(), TmuxError> {
        self.client().rename_window(window, name).await
    }
}

/// A pane tagged for an agent (`@orc_agent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedPane {
    pub pane: String,
    pub dead: bool,
    pub agent: String,
}

pub enum SessionMsg {
    Event(Sequenced),
    /// Output and death of `pane` (in `window`) go to `sink` from now on.
    Route {
        pane: u32,
        window: u32,
        sink: PaneSink,
    },
    Unroute {
        pane: u32,
    },
    /// The connection of this generation ended.
    Closed(u64),
    /// Timer (polling mode): look at the panes.
    Poll(u64),
    /// Timer (polling mode): try control mode again.
    RetryControl(u64),
}

pub struct SessionActor;

pub struct SessionState {
    handle: TmuxHandle,
    /// The `tmux -C` process (none while polling).
    child: Option<tokio::process::Child>,
    routes: HashMap<u32, (u32, PaneSink)>,
    /// Bumped with every new connection: older pumps and timers are ignored.
    generation: u64,
    /// Polling mode: each routed pane's last known `pane_dead`.
    dead: HashMap<u32, bool>,
}

/// A connection: control mode, or the polling fallback.
enum Link {
    Control(crate::tmux::Control),
    Polling(ControlClient, tokio::sync::mpsc::Receiver<Sequenced>),
}

/// Connect to `session` (creating the server or session if needed); when
/// the server lives but no control client can attach (it gets `%exit` at
/// once), fall back to polling. Never kills the server.
async fn link(tmux: &Tmux, session: &str) -> Result<Link, TmuxError> {
    match connect(tmux, session).await {
        Ok(c) => Ok(Link::Control(c)),
        Err(e) => {
            if tmux
                .run(&["has-session", "-t", &format!("={session}")])
                .await
                .is_err()
            {
                return Err(e);
            }
            tracing::error!(session, error = %e, "tmux control mode cannot attach while the server runs; polling the panes with capture-pane until it can");
            let (client, events) = crate::tmux::poll::client(tmux.clone());
            client
                .cmd(&["set-option", "-g", "remain-on-exit", "on"])
                .await?;
            Ok(Link::Polling(client, events))
        }
    }
}

/// Connect to `session` (creating it if needed) and set the options orc
/// relies on, whatever config the server was started with.
async fn connect(tmux: &Tmux, session: &str) -> Result<crate::tmux::Control, TmuxError> {
    tmux.ensure_session(session).await?;
    let (client, events, child) = tmux.control(session).await?;
    client
        .cmd(&["set-option", "-g", "remain-on-exit", "on"])
        .await?;
    client.cmd(&["refresh-client", "-C", "120x40"]).await?;
    client
        .cmd(&["refresh-client", "-f", "pause-after=30"])
        .await?;
    client
        .cmd(&[
            "refresh-client",
            "-B",
            "dead:%*:#{pane_dead}:#{pane_dead_status}",
        ])
        .await?;
    Ok((client, events, child))
}

fn pump(
    myself: ActorRef<SessionMsg>,
    mut events: tokio::sync::mpsc::Receiver<Sequenced>,
    generation: u64,
) {
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if myself.cast(SessionMsg::Event(ev)).is_err() {
                return;
            }
        }
        let _ = myself.cast(SessionMsg::Closed(generation));
    });
}

impl SessionActor {
    /// Start the actor; returns it with the handle agents use.
    pub async fn start(
        tmux: Tmux,
        session: String,
        supervisor: ractor::ActorCell,
    ) -> Result<(ActorRef<SessionMsg>, TmuxHandle), ActorProcessingErr> {
        let (client, events, child, polling) = match link(&tmux, &session).await? {
            Link::Control((c, e, ch)) => (c, e, Some(ch), false),
            Link::Polling(c, e) => (c, e, None, true),
        };
        let handle = TmuxHandle {
            tmux,
            session: session.clone(),
            client: Arc::new(RwLock::new(client)),
            polling: Arc::new(AtomicBool::new(polling)),
        };
        let (actor, _) = Actor::spawn_linked(
            Some(format!("tmux-session:{session}")),
            SessionActor,
            (handle.clone(), child, events),
            supervisor,
        )
        .await?;
        Ok((actor, handle))
    }
}

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = (
        TmuxHandle,
        Option<tokio::process::Child>,
        tokio::sync::mpsc::Receiver<Sequenced>,
    );

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (handle, child, events): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        pump(myself.clone(), events, 0);
        if handle.polling() {
            myself.send_after(POLL_EVERY, || SessionMsg::Poll(0));
            myself.send_after(RETRY_CONTROL_EVERY, || SessionMsg::RetryControl(0));
        }
        Ok(SessionState {
            handle,
            child,
            routes: HashMap::new(),
            generation: 0,
            dead: HashMap::new(),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Detach politely; the server and the agents' panes stay.
        state.handle.client().detach().await;
        if let Some(child) = state.child.as_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionMsg::Route { pane, window, sink } => {
                state.routes.insert(pane, (window, sink));
            }
            SessionMsg::Unroute { pane } => {
                state.routes.remove(&pane);
            }
            SessionMsg::Event((seq, ev)) => self.event(&myself, state, seq, ev).await,
            SessionMsg::Closed(g) if g == state.generation => {
                self.reconnect(&myself, state).await?
            }
            SessionMsg::Closed(_) => {} // an older connection's end
            SessionMsg::Poll(g) if g == state.generation && state.handle.polling() => {
                self.poll(state).await;
                myself.send_after(POLL_EVERY, move || SessionMsg::Poll(g));
            }
            SessionMsg::RetryControl(g) if g == state.generation && state.handle.polling() => {
                self.retry_control(&myself, state, g).await
            }
            SessionMsg::Poll(_) | SessionMsg::RetryControl(_) => {}
        }
        Ok(())
    }
}

impl SessionActor {
    /// The control connection closed: connect again (100 ms doubling, up to
    /// about 6 s, then the actor fails and its supervisor restarts it).
    async fn reconnect(
        &self,
        myself: &ActorRef<SessionMsg>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        tracing::warn!(session = %state.handle.session, "tmux control connection closed; reconnecting");
        let mut delay = Duration::from_millis(100);
        loop {
            match link(&state.handle.tmux, &state.handle.session).await {
                Ok(l) => {
                    self.adopt(myself, state, l);
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "reconnecting to tmux failed");
                    if delay > Duration::from_secs(5) {
                        return Err(e.into());
                    }
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        // Panes may have gone with the old server: every agent checks its own.
        for (_, agent) in state.routes.values() {
            agent(PaneEvent::Resync);
        }
        Ok(())
    }

    /// Polling: is control mode back?
    async fn retry_control(&self, myself: &ActorRef<SessionMsg>, state: &mut SessionState, g: u64) {
        match connect(&state.handle.tmux, &state.handle.session).await {
            Ok(c) => {
                tracing::info!(session = %state.handle.session, "tmux control mode attaches again; polling stops");
                self.adopt(myself, state, Link::Control(c));
                for (_, agent) in state.routes.values() {
                    agent(PaneEvent::Resync);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "tmux control mode still cannot attach");
                myself.send_after(RETRY_CONTROL_EVERY, move || SessionMsg::RetryControl(g));
            }
        }
    }

    /// Use a new connection (control mode or polling) from now on.
    fn adopt(&self, myself: &ActorRef<SessionMsg>, state: &mut SessionState, l: Link) {
        state.generation += 1;
        let g = state.generation;
        let (client, events, child, polling) = match l {
            Link::Control((c, e, ch)) => (c, e, Some(ch), false),
            Link::Polling(c, e) => (c, e, None, true),
        };
        *state.handle.client.write().expect("client lock") = client;
        state.child = child;
        state.handle.polling.store(polling, Ordering::Relaxed);
        crate::changes::bump();
        pump(myself.clone(), events, g);
        if polling {
            state.dead.clear();
            myself.send_after(POLL_EVERY, move || SessionMsg::Poll(g));
            myself.send_after(RETRY_CONTROL_EVERY, move || SessionMsg::RetryControl(g));
        }
    }

    /// Polling mode: what control mode would have pushed. Deaths and closed
    /// panes from `list-panes`; each live pane's screen rebuilt from
    /// `capture-pane` by its agent.
    async fn poll(&self, state: &mut SessionState) {
        let target = format!("={}", state.handle.session);
        let Ok(lines) = state
            .handle
            .cmd(&[
                "list-panes",
                "-s",
                "-t",
                &target,
                "-F",
                "#{pane_id} #{pane_dead} #{pane_dead_status}",
            ])
            .await
        else {
            return;
        };
        let mut seen: HashMap<u32, (bool, Option<i32>)> = HashMap::new();
        for l in &lines {
            let mut it = l.split_whitespace();
            let (Some(p), Some(d)) = (it.next(), it.next()) else {
                continue;
            };
            if let Some(p) = p.strip_prefix('%').and_then(|p| p.parse().ok()) {
                seen.insert(p, (d == "1", it.next().and_then(|s| s.parse().ok())));
            }
        }
        let panes: Vec<u32> = state.routes.keys().copied().collect();
        for p in panes {
            match seen.get(&p) {
                None => {
                    state.dead.remove(&p);
                    if let Some((_, agent)) = state.routes.remove(&p) {
                        agent(PaneEvent::Gone);
                    }
                }
                Some((true, status)) => {
                    if state.dead.insert(p, true) != Some(true) {
                        if let Some((_, agent)) = state.routes.get(&p) {
                            agent(PaneEvent::Died { status: *status });
                        }
                    }
                }
                Some((false, _)) => {
                    state.dead.insert(p, false);
                    if let Some((_, agent)) = state.routes.get(&p) {
                        agent(PaneEvent::Resync);
                    }
                }
            }
        }
    }

    async fn event(
        &self,
        _myself: &ActorRef<SessionMsg>,
        state: &mut SessionState,
        seq: u64,
        ev: Event,
    ) {
        match ev {
            Event::Output { pane, data } => {
                if let Some((_, agent)) = state.routes.get(&pane) {
                    agent(PaneEvent::Output { seq, data });
                }
            }
            Event::SubscriptionChanged {
                name,
                pane: Some(pane),
                value,
                ..
            } if name == "dead" => {
                if let Some((_, agent)) = state.routes.get(&pane) {
                    let mut it = value.splitn(2, ':');
                    if it.next() == Some("1") {
                        let status = it.next().and_then(|s| s.trim().parse().ok());
                        agent(PaneEvent::Died { status });
                    }
                }
            }
            Event::WindowClose { window } | Event::UnlinkedWindowClose { window } => {
                let gone: Vec<u32> = state
                    .routes
                    .iter()
                    .filter(|(_, (w, _))| *w == window)
                    .map(|(p, _)| *p)
                    .collect();
                for p in gone {
                    if let Some((_, agent)) = state.routes.remove(&p) {
                        agent(PaneEvent::Gone);
                    }
                }
            }
            Event::LayoutChange { window } => {
                for (w, agent) in state.routes.values() {
                    if *w == window {
                        agent(PaneEvent::Resync);
                    }
                }
            }
            Event::Pause { pane } => {
                // We read as fast as tmux writes; a pause means we fell behind.
                // Resume at once and rebuild the screen from tmux's copy.
                let client = state.handle.client();
                let target = format!("%{pane}:continue");
                tokio::spawn(async move {
                    let _ = client.cmd(&["refresh-client", "-A", &target]).await;
                });
                if let Some((_, agent)) = state.routes.get(&pane) {
                    agent(PaneEvent::Resync);
                }
            }
            Event::Exit { reason } => {
                tracing::warn!(?reason, "tmux control client exited");
            }
            Event::Overlong { len } => tracing::warn!(len, "tmux sent an overlong line; dropped"),
            _ => {}
        }
    }
}
