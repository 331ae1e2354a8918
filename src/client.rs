//! The client side of `orc`: where a command finds its supervisor
//! ([`Ctx`]), starting and stopping it, and the tables commands print.
//! Shared by the command line, `orc up`, `orc top`, `orc doctor` and the
//! demo; it knows nothing of the supervisor's insides (only `proto`).

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use crate::config::Config;
use crate::ipc;
use crate::paths::Paths;
use crate::proto::{PsRow, Request, Response};

/// Where a client finds its supervisor.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub paths: Paths,
}

impl Ctx {
    pub fn from_env() -> Self {
        Self {
            paths: Paths::from_env(),
        }
    }

    pub async fn request(&self, req: Request) -> anyhow::Result<Response> {
        Ok(ipc::request(&self.paths.socket(), &req, Duration::from_secs(90)).await?)
    }

    /// Send a request; an error response becomes an error.
    pub async fn ok(&self, req: Request) -> anyhow::Result<Response> {
        match self.request(req).await? {
            Response::Error { message } => Err(anyhow!(message)),
            r => Ok(r),
        }
    }

    pub async fn ps(&self) -> anyhow::Result<(Vec<PsRow>, Vec<String>)> {
        match self.ok(Request::Ps).await? {
            Response::Ps { agents, notes } => Ok((agents, notes)),
            r => bail!("unexpected answer {r:?}"),
        }
    }
}

pub fn load_config(paths: &Paths) -> anyhow::Result<Config> {
    Ok(Config::load(&paths.config_file)?)
}

/// Start `orc supervise` in the background for `ctx`, with extra environment;
/// returns its pid once the socket answers.
pub async fn detach(ctx: &Ctx, extra_env: &[(&str, &str)]) -> anyhow::Result<u32> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::process::CommandExt;
    if let Ok(Response::Pong { pid }) = ctx.request(Request::Ping).await {
        bail!("a supervisor is already running (pid {pid}); stop it with `orc stop` first");
    }
    let log_path = ctx.paths.supervisor_log();
    crate::private::create_dir(log_path.parent().expect("log has a parent"))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("supervise")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    // Own session: the supervisor outlives this terminal.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("cannot start the supervisor")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Response::Pong { pid }) =
            ipc::request(&ctx.paths.socket(), &Request::Ping, Duration::from_secs(2)).await
        {
            // Reap it from a thread so it leaves no zombie while we live.
            std::thread::spawn(move || child.wait());
            return Ok(pid);
        }
        if let Some(status) = child.try_wait()? {
            let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "the supervisor exited ({status}) before it was ready:\n{}",
                tail.join("\n")
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!(
                "the supervisor did not become ready within 15 s; see {}",
                log_path.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn stop(ctx: &Ctx) -> anyhow::Result<()> {
    let pid = match ctx.request(Request::Ping).await? {
        Response::Pong { pid } => pid,
        r => bail!("unexpected answer {r:?}"),
    };
    ctx.ok(Request::Stop).await?;
    // Wait for the process to go, so a following `supervise` finds no lock.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_err() {
            println!("supervisor stopped (pid {pid}); agents keep running in tmux");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the supervisor (pid {pid}) is still running 10 s after `stop`")
}

/// The human table of `orc ps`.
pub fn ps_table(rows: &[PsRow]) -> String {
    let mut lines = vec![[
        "NAME", "ROLE", "PROFILE", "PROJECT", "PANE", "PID", "STATE", "SINCE", "RESTARTS",
        "ACTIVE", "CTX", "NOTE",
    ]
    .map(String::from)
    .to_vec()];
    for r in rows {
        lines.push(vec![
            r.name.clone(),
            r.role.clone().unwrap_or_else(|| "-".into()),
            r.profile.clone(),
            r.project.clone().unwrap_or_else(|| "-".into()),
            r.pane.clone().unwrap_or_else(|| "-".into()),
            r.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            match (r.state, r.limited_until) {
                (crate::proto::AgentState::Limited, Some(u)) => {
                    format!("limited ({})", countdown(u).replace("in ", ""))
                }
                (s, _) => s.as_str().to_string(),
            },
            ago(r.since),
            r.restarts.to_string(),
            r.last_activity
                .map(|t| format!("{} ago", ago(t)))
                .unwrap_or_else(|| "-".into()),
            r.context_left
                .map(|c| format!("{c}%"))
                .unwrap_or_else(|| "-".into()),
            match (&r.note, &r.report) {
                (Some(n), _) => n.clone(),
                (None, Some(rep)) => format!(
                    "reported {} {} ago: {}",
                    rep.status.as_str(),
                    ago(rep.at),
                    rep.details.chars().take(40).collect::<String>()
                ),
                (None, None) => String::new(),
            },
        ]);
    }
    let mut out = table(&lines);
    if rows.is_empty() {
        out.push_str("(no agents; start one with `orc spawn NAME --cwd DIR`)\n");
    }
    out
}

/// Columns padded to their widest cell, two spaces apart.
pub fn table(lines: &[Vec<String>]) -> String {
    let n = lines.first().map(|l| l.len()).unwrap_or(0);
    // Every cell is shown with control characters made visible.
    let shown: Vec<Vec<String>> = lines
        .iter()
        .map(|l| {
            l.iter()
                .map(|c| crate::shown::one_line(c).into_owned())
                .collect()
        })
        .collect();
    let lines = &shown;
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for l in lines {
        let cells: Vec<String> = l
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:w$}", c, w = widths[i]))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// How long ago `t` was, short (`12s`, `5m`, `2h03m`).
pub fn ago(t: chrono::DateTime<chrono::Utc>) -> String {
    let s = (chrono::Utc::now() - t).num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// How long until `t`, short (`in 42s`, `in 3m05s`, `in 4h59m`, `now`).
pub fn countdown(t: chrono::DateTime<chrono::Utc>) -> String {
    let s = (t - chrono::Utc::now()).num_seconds();
    if s <= 0 {
        return "now".into();
    }
    match s {
        0..=59 => format!("in {s}s"),
        60..=3599 => format!("in {}m{:02}s", s / 60, s % 60),
        _ => format!("in {}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
