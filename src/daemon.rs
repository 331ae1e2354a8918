//! `orc supervise`: the pid lock, the actor tree, and the unix socket server.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use crate::config::{resolve_command, Config};
use crate::ipc::{read_frame, write_frame, IpcError};
use crate::orchestrator::{OrchArgs, OrchMsg, Orchestrator, RestartPolicy};
use crate::paths::Paths;
use crate::proto::{Hello, Request, Response, PROTOCOL_VERSION};
use crate::tmux::Tmux;

/// The tmux session orc's agents live in.
pub const SESSION: &str = "orc";
const ORCHESTRATOR: &str = "orchestrator";

/// Holds the pid file's lock for the daemon's lifetime.
struct PidLock {
    _file: nix::fcntl::Flock<std::fs::File>,
    path: PathBuf,
}

impl Drop for PidLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn lock_pid_file(path: &Path) -> anyhow::Result<PidLock> {
    use std::io::{Read, Seek, Write};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot open pid file {}", path.display()))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut f) => {
            f.set_len(0)?;
            f.seek(std::io::SeekFrom::Start(0))?;
            writeln!(f, "{}", std::process::id())?;
            f.sync_all()?;
            Ok(PidLock {
                _file: f,
                path: path.to_path_buf(),
            })
        }
        Err((mut f, _)) => {
            let mut pid = String::new();
            let _ = f.read_to_string(&mut pid);
            bail!(
                "a supervisor is already running (pid {}, pid file {}); stop it with `orc stop` first",
                pid.trim(),
                path.display()
            )
        }
    }
}

/// The runtime dir: made 0700 with `mkdir`, checked with `lstat` (see
/// [`crate::private::runtime_dir`]); never chmod'ed or followed.
fn prepare_runtime_dir(dir: &Path) -> anyhow::Result<()> {
    crate::private::runtime_dir(dir).map_err(|e| anyhow!(e))
}

/// Find the tmux binary and check its version.
pub async fn tmux_for(paths: &Paths, config: &Config) -> anyhow::Result<Tmux> {
    let path_var = std::env::var("PATH").unwrap_or_default();
    let bin = resolve_command(&config.tmux, &path_var, Path::new("/")).map_err(|e| {
        anyhow!("tmux is required (>= 3.2) but {e}; install it, e.g. `apt-get install tmux`")
    })?;
    let tmux = Tmux::new(bin, config.tmux_socket.clone(), paths.tmux_conf());
    let version = tmux.check_version().await?;
    tracing::info!(%version, socket = %tmux.socket, "using tmux");
    Tmux::write_conf(&paths.tmux_conf())?;
    Ok(tmux)
}

/// Root of the actor tree: keeps the orchestrator running.
struct Root;

struct RootState {
    args: OrchArgsTemplate,
    failures: std::collections::VecDeque<std::time::Instant>,
}

#[derive(Clone)]
struct OrchArgsTemplate {
    paths: Paths,
    config: Config,
    tmux: Tmux,
}

impl OrchArgsTemplate {
    fn build(&self) -> OrchArgs {
        OrchArgs {
            paths: self.paths.clone(),
            config: self.config.clone(),
            tmux: self.tmux.clone(),
            session: SESSION.into(),
            policy: RestartPolicy::default(),
        }
    }
}

impl Actor for Root {
    type Msg = ();
    type State = RootState;
    type Arguments = OrchArgsTemplate;

    async fn pre_start(
        &self,
        myself: ActorRef<()>,
        args: OrchArgsTemplate,
    ) -> Result<RootState, ActorProcessingErr> {
        Actor::spawn_linked(
            Some(ORCHESTRATOR.into()),
            Orchestrator,
            args.build(),
            myself.get_cell(),
        )
        .await?;
        Ok(RootState {
            args,
            failures: Default::default(),
        })
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<()>,
        evt: SupervisionEvent,
        st: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(_, e) = &evt {
            st.orchestrator_failed(&myself, &e.to_string()).await?;
        }
        Ok(())
    }
}

impl RootState {
    /// The hub failed: start it again, unless it failed more than three
    /// times within a minute (then the supervisor stops, and says why).
    async fn orchestrator_failed(
        &mut self,
        myself: &ActorRef<()>,
        e: &str,
    ) -> Result<(), ActorProcessingErr> {
        tracing::error!(error = %e, "orchestrator failed; starting it again");
        let now = std::time::Instant::now();
        self.failures
            .retain(|t| now.duration_since(*t) < Duration::from_secs(60));
        self.failures.push_back(now);
        if self.failures.len() > 3 {
            return Err(format!(
                "orchestrator failed {} times within a minute: {e}",
                self.failures.len()
            )
            .into());
        }
        // Stop its children first (post_stop did not run): agents are re-adopted.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Actor::spawn_linked(
            Some(ORCHESTRATOR.into()),
            Orchestrator,
            self.args.build(),
            myself.get_cell(),
        )
        .await?;
        Ok(())
    }
}

fn orchestrator() -> Option<ActorRef<OrchMsg>> {
    ractor::registry::where_is(ORCHESTRATOR).map(ActorRef::from)
}

/// Run the supervisor in the foreground until `orc stop` or a signal.
pub async fn run(paths: Paths, config: Config) -> anyhow::Result<()> {
    private_state(&paths)?;
    let _lock = lock_pid_file(&paths.pid_file())?;
    let tmux = tmux_for(&paths, &config).await?;

    let socket = paths.socket();
    // We hold the lock, so a socket file left behind is stale.
    if socket.exists() {
        tracing::info!(socket = %socket.display(), "removing stale socket");
        std::fs::remove_file(&socket)?;
    }

    let (root, root_join) = Actor::spawn(
        None,
        Root,
        OrchArgsTemplate {
            paths: paths.clone(),
            config,
            tmux,
        },
    )
    .await
    .map_err(|e| anyhow!("cannot start the supervisor: {e}"))?;

    let listener =
        UnixListener::bind(&socket).with_context(|| format!("cannot bind {}", socket.display()))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
    tracing::info!(socket = %socket.display(), pid = std::process::id(), "supervisor ready");

    let mut root_join = Box::pin(root_join);
    serve_until_stopped(&listener, &socket, &mut root_join).await?;
    tracing::info!("stopping; agents keep running in tmux");
    drop(listener);
    let _ = std::fs::remove_file(&socket);
    root.stop_children_and_wait(None, Some(Duration::from_secs(5)))
        .await;
    root.stop(None);
    let _ = tokio::time::timeout(Duration::from_secs(5), root_join).await;
    Ok(())
}

/// The umask, the runtime dir, the state dir; state other users could read
/// is tightened (and said).
fn private_state(paths: &Paths) -> anyhow::Result<()> {
    crate::private::private_umask();
    prepare_runtime_dir(&paths.runtime)?;
    crate::private::create_dir(&paths.state)
        .with_context(|| format!("cannot create {}", paths.state.display()))?;
    let tightened = crate::private::tighten(&paths.state);
    if tightened > 0 {
        tracing::warn!(
            state = %paths.state.display(),
            entries = tightened,
            "state files were readable by other users; tightened them to 0700/0600"
        );
    }
    Ok(())
}

/// Answer clients until `orc stop`, a signal, or the actor tree's end (an
/// error).
async fn serve_until_stopped(
    listener: &UnixListener,
    socket: &std::path::Path,
    root_join: &mut std::pin::Pin<Box<impl std::future::Future + Send>>,
) -> anyhow::Result<()> {
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut accept_errors: u32 = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, _)) => {
                        accept_errors = 0;
                        let stop = stop_tx.clone();
                        tokio::spawn(async move {
                            if let Err(e) = serve(stream, stop).await {
                                tracing::debug!(error = %e, "client connection dropped");
                            }
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors (EMFILE/ENFILE) or memory:
                        // accept fails at once, again and again. Back off
                        // instead of spinning a CPU; connections wait in the
                        // listen queue meanwhile.
                        accept_errors += 1;
                        let wait = accept_backoff(accept_errors);
                        if accept_errors == 1 || accept_errors % 100 == 0 {
                            tracing::warn!(error = %e, failures = accept_errors, wait_ms = wait.as_millis() as u64, "cannot accept a connection; backing off");
                        }
                        tokio::time::sleep(wait).await;
                    }
                }
            }
            _ = stop_rx.changed() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
            _ = root_join.as_mut() => {
                let _ = std::fs::remove_file(socket);
                bail!("the supervisor's actor tree stopped; see the log");
            }
        }
    }
    Ok(())
}

/// How long to wait after the `n`th accept failure in a row: 10 ms doubling
/// to 1 s.
fn accept_backoff(n: u32) -> Duration {
    Duration::from_millis(
        10u64
            .saturating_mul(1u64 << n.min(8).saturating_sub(1))
            .min(1000),
    )
}

#[cfg(test)]
#[test]
fn accept_backs_off_up_to_a_second() {
    assert_eq!(accept_backoff(1), Duration::from_millis(10));
    assert_eq!(accept_backoff(2), Duration::from_millis(20));
    assert_eq!(accept_backoff(50), Duration::from_secs(1));
    assert!(accept_backoff(u32::MAX) <= Duration::from_secs(1));
}

async fn serve(mut stream: UnixStream, stop: watch::Sender<bool>) -> Result<(), IpcError> {
    let cred = stream.peer_cred()?;
    if cred.uid() != nix::unistd::getuid().as_raw() {
        tracing::warn!(uid = cred.uid(), "refused a connection from another user");
        return Ok(());
    }
    let hello: Hello = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut stream))
        .await
        .map_err(|_| IpcError::Timeout)??;
    write_frame(&mut stream, &Hello::ours()).await?;
    if hello.protocol != PROTOCOL_VERSION {
        return Ok(());
    }
    let req: Request =
        match tokio::time::timeout(Duration::from_secs(30), read_frame(&mut stream)).await {
            Err(_) => return Err(IpcError::Timeout),
            Ok(Err(IpcError::Malformed(m))) => {
                let _ = write_frame(
                    &mut stream,
                    &Response::Error {
                        message: format!("malformed request: {m}"),
                    },
                )
                .await;
                return Ok(());
            }
            Ok(r) => r?,
        };
    if let Request::Watch = req {
        return watch_stream(&mut stream, &stop).await;
    }
    let resp = handle(req, &stop).await;
    write_frame(&mut stream, &resp).await
}

/// `Request::Watch`: a snapshot now and after every change, until the client
/// goes away (a write fails) or the supervisor stops.
async fn watch_stream(stream: &mut UnixStream, stop: &watch::Sender<bool>) -> Result<(), IpcError> {
    let mut seen = crate::changes::version();
    let mut stopping = stop.subscribe();
    loop {
        let frame = match handle(Request::Ps, stop).await {
            Response::Ps { agents, notes } => {
                let mut messages = match handle(
                    Request::Messages {
                        agent: None,
                        status: None,
                    },
                    stop,
                )
                .await
                {
                    Response::Messages { messages } => messages,
                    _ => Vec::new(),
                };
                let cut = messages.len().saturating_sub(30);
                messages.drain(..cut);
                Response::Watch {
                    agents,
                    notes,
                    messages,
                }
            }
            other => other,
        };
        write_frame(stream, &frame).await?;
        tokio::select! {
            v = crate::changes::wait(seen, Duration::from_secs(5)) => seen = v,
            _ = stopping.changed() => return Ok(()),
        }
        // Let a burst of changes settle into one frame.
        tokio::time::sleep(Duration::from_millis(50)).await;
        seen = seen.max(crate::changes::version());
    }
}

async fn handle(req: Request, stop: &watch::Sender<bool>) -> Response {
    use ractor::rpc::CallResult;
    if let Request::Ping = req {
        return Response::Pong {
            pid: std::process::id(),
        };
    }
    if let Request::Stop = req {
        let _ = stop.send(true);
        return Response::Ok {
            message: "supervisor stopping; agents keep running".into(),
        };
    }
    if let Err(message) = crate::names::check_request(&req) {
        return Response::Error { message };
    }
    let Some(orch) = orchestrator() else {
        return Response::Error {
            message: "the supervisor is starting up or recovering; try again in a moment".into(),
        };
    };
    if let Request::Watch = req {
        return Response::Error {
            message: "watch is a stream; use ipc::subscribe".into(),
        };
    }
    if matches!(req, Request::DebugPanic { .. })
        && std::env::var("ORC_TEST_HOOKS").as_deref() != Ok("1")
    {
        return Response::Error {
            message: "test hooks are off (set ORC_TEST_HOOKS=1 for the supervisor)".into(),
        };
    }
    // `orc send --wait` answers once the message is delivered.
    let timeout = match req {
        Request::Send { wait: true, .. } => Duration::from_secs(3600),
        _ => Duration::from_secs(60),
    };
    let r = orch.call(|p| OrchMsg::Request(req, p), Some(timeout)).await;
    match r {
        Ok(CallResult::Success(resp)) => resp,
        Ok(CallResult::Timeout) => Response::Error {
            message: "the supervisor did not answer in time".into(),
        },
        Ok(CallResult::SenderError) | Err(_) => Response::Error {
            message: "the supervisor dropped the request (is it restarting?)".into(),
        },
    }
}
