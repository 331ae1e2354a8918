//! One actor per tmux session: it owns the control-mode connection, routes each
//! pane's output and death to the agent actor that owns the pane, and
//! reconnects when the connection drops.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::agent::AgentMsg;
use crate::tmux::{ControlClient, Event, Sequenced, Tmux, TmuxError};

/// Shared handle to a session's current control connection. Agents use it to
/// run commands; the session actor swaps the client on reconnect.
#[derive(Clone)]
pub struct TmuxHandle {
    pub tmux: Tmux,
    pub session: String,
    client: Arc<RwLock<ControlClient>>,
}

impl TmuxHandle {
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
    pub async fn rename_window(
        &self,
        window: &str,
        name: &crate::tmux::FormatSafe,
    ) -> Result<(), TmuxError> {
        self.client().rename_window(window, name).await
    }
}

pub enum SessionMsg {
    Event(Sequenced),
    /// Output and death of `pane` (in `window`) go to `agent` from now on.
    Route {
        pane: u32,
        window: u32,
        agent: ActorRef<AgentMsg>,
    },
    Unroute {
        pane: u32,
    },
    /// The control connection ended.
    Closed,
}

pub struct SessionActor;

pub struct SessionState {
    handle: TmuxHandle,
    child: tokio::process::Child,
    routes: HashMap<u32, (u32, ActorRef<AgentMsg>)>,
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

fn pump(myself: ActorRef<SessionMsg>, mut events: tokio::sync::mpsc::Receiver<Sequenced>) {
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if myself.cast(SessionMsg::Event(ev)).is_err() {
                return;
            }
        }
        let _ = myself.cast(SessionMsg::Closed);
    });
}

impl SessionActor {
    /// Start the actor; returns it with the handle agents use.
    pub async fn start(
        tmux: Tmux,
        session: String,
        supervisor: ractor::ActorCell,
    ) -> Result<(ActorRef<SessionMsg>, TmuxHandle), ActorProcessingErr> {
        let (client, events, child) = connect(&tmux, &session).await?;
        let handle = TmuxHandle {
            tmux,
            session: session.clone(),
            client: Arc::new(RwLock::new(client)),
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
        tokio::process::Child,
        tokio::sync::mpsc::Receiver<Sequenced>,
    );

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (handle, child, events): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        pump(myself, events);
        Ok(SessionState {
            handle,
            child,
            routes: HashMap::new(),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Detach politely; the server and the agents' panes stay.
        state.handle.client().detach().await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), state.child.wait()).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionMsg::Route {
                pane,
                window,
                agent,
            } => {
                state.routes.insert(pane, (window, agent));
            }
            SessionMsg::Unroute { pane } => {
                state.routes.remove(&pane);
            }
            SessionMsg::Event((seq, ev)) => self.event(&myself, state, seq, ev).await,
            SessionMsg::Closed => {
                tracing::warn!(session = %state.handle.session, "tmux control connection closed; reconnecting");
                let mut delay = std::time::Duration::from_millis(100);
                loop {
                    match connect(&state.handle.tmux, &state.handle.session).await {
                        Ok((client, events, child)) => {
                            *state.handle.client.write().expect("client lock") = client;
                            state.child = child;
                            pump(myself.clone(), events);
                            break;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "reconnecting to tmux failed");
                            if delay > std::time::Duration::from_secs(5) {
                                return Err(e.into());
                            }
                            tokio::time::sleep(delay).await;
                            delay *= 2;
                        }
                    }
                }
                // Panes may have gone with the old server: every agent checks its own.
                for (_, agent) in state.routes.values() {
                    let _ = agent.cast(AgentMsg::Resync);
                }
            }
        }
        Ok(())
    }
}

impl SessionActor {
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
                    let _ = agent.cast(AgentMsg::Output { seq, data });
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
                        let _ = agent.cast(AgentMsg::PaneDied { status });
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
                        let _ = agent.cast(AgentMsg::PaneGone);
                    }
                }
            }
            Event::LayoutChange { window } => {
                for (w, agent) in state.routes.values() {
                    if *w == window {
                        let _ = agent.cast(AgentMsg::Resync);
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
                    let _ = agent.cast(AgentMsg::Resync);
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
