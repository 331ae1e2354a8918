//! An agent's process family: every process one launch of its pane started,
//! including those that left the pane's session (Codex's `codex app-server`
//! daemon double-forks and outlives the pane). Ended SIGTERM first, SIGKILL
//! after a grace, when orc restarts or kills the agent, or finds at
//! adoption that the pane is dead or gone.
//!
//! A family is found exactly, never by name: each launch puts
//! `ORC_LAUNCH=<nonce>` (128 random bits) into the pane's environment and
//! every descendant inherits it (`/proc/<pid>/environ`); the pane's own
//! session (`sid` = the pane's pid) counts too, but only while that pid is
//! gone or still carries the marker (a recycled pid's session is someone
//! else's). Two orc homes, two teams or a user's own process never match.
//!
//! [`ProcOps`] is the agent's port; [`Reaper`] the real one over a `/proc`
//! root (a fake directory in tests) and a [`Signals`] port.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable that marks a launch's processes.
pub const MARKER_VAR: &str = "ORC_LAUNCH";

/// How long a family has between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(3);

/// One launch: its marker and the pane's pid (its session leader).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Family {
    pub nonce: String,
    pub leader: Option<u32>,
    /// Earlier launches of the agent whose shared processes were spared:
    /// theirs too, once nobody shares them.
    pub older: Vec<String>,
    /// An environment entry (`CODEX_HOME=/x`) naming what a daemon of the
    /// family may serve to others: a process out of the pane's session is
    /// spared while a process outside the family carries the same entry
    /// (Codex runs one `app-server` per `CODEX_HOME`, and a second agent's
    /// TUI works through the first one's).
    pub shared: Option<String>,
}

impl Family {
    /// The `NAME=value` entries its processes carry.
    fn entries(&self) -> Vec<Vec<u8>> {
        std::iter::once(&self.nonce)
            .chain(&self.older)
            .map(|n| format!("{MARKER_VAR}={n}").into_bytes())
            .collect()
    }
}

/// A fresh launch marker: 32 hex digits from the kernel's random source.
pub fn new_nonce() -> String {
    use std::io::Read;
    let mut b = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok();
    if !ok {
        // No urandom: still unique per process and instant.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b = (t ^ ((std::process::id() as u128) << 96)).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What `/proc` says of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub session: u32,
    /// Its environment holds one of the family's marker entries exactly.
    pub marked: bool,
    /// Its environment holds the family's `shared` entry exactly.
    pub shares: bool,
    /// A zombie: already dead, only not reaped.
    pub zombie: bool,
}

/// Pure: which of `procs` belong to `fam` (never `me`), as (to end,
/// spared because another process shares what they serve).
pub fn members(procs: &[ProcInfo], fam: &Family, me: u32) -> (Vec<u32>, Vec<u32>) {
    let session_ok = fam.leader.filter(|l| {
        procs
            .iter()
            .find(|p| p.pid == *l)
            .is_none_or(|p| p.marked || p.zombie)
    });
    let live = |p: &&ProcInfo| p.pid != me && !p.zombie;
    let ours = |p: &ProcInfo| p.marked || session_ok == Some(p.session);
    let shared = fam.shared.is_some() && procs.iter().filter(live).any(|p| p.shares && !ours(p));
    let (mut end, mut spare) = (Vec::new(), Vec::new());
    for p in procs.iter().filter(live).filter(|p| ours(p)) {
        let detached = fam.leader.is_none_or(|l| p.session != l);
        if shared && detached && p.shares {
            spare.push(p.pid);
        } else {
            end.push(p.pid);
        }
    }
    end.sort_unstable();
    spare.sort_unstable();
    (end, spare)
}

/// Parse `/proc/<pid>/stat`: (state, session). `comm` may hold spaces and
/// parentheses, so the fields are read after the last `)`.
fn parse_stat(stat: &str) -> Option<(char, u32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let _ppid = f.next()?;
    let _pgrp = f.next()?;
    Some((state, f.next()?.parse().ok()?))
}

/// A `/proc` tree (the real one, or a fake directory in tests).
#[derive(Debug, Clone)]
pub struct ProcTable {
    pub root: PathBuf,
}

impl ProcTable {
    /// Every process readable under the root, marked against `marks`.
    /// Processes of other users (environ unreadable) are never marked.
    pub fn scan(&self, marks: &[Vec<u8>], shared: Option<&[u8]>) -> Vec<ProcInfo> {
        let Ok(rd) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let dir = e.path();
            let Some((state, session)) = std::fs::read_to_string(dir.join("stat"))
                .ok()
                .and_then(|s| parse_stat(&s))
            else {
                continue;
            };
            let env = std::fs::read(dir.join("environ")).unwrap_or_default();
            let has = |e: &[u8]| env.split(|b| *b == 0).any(|kv| kv == e);
            out.push(ProcInfo {
                pid,
                session,
                marked: marks.iter().any(|m| has(m)),
                shares: shared.is_some_and(has),
                zombie: state == 'Z' || state == 'X',
            });
        }
        out
    }
}

/// The two signals a family gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
}

/// How signals are sent (the kernel's `kill(2)`, or a test's record).
pub trait Signals: Send + Sync {
    fn send(&self, pid: u32, sig: Sig);
}

/// `kill(2)`.
pub struct Kernel;

impl Signals for Kernel {
    fn send(&self, pid: u32, sig: Sig) {
        use nix::sys::signal::{kill, Signal};
        let s = match sig {
            Sig::Term => Signal::SIGTERM,
            Sig::Kill => Signal::SIGKILL,
        };
        if let Ok(p) = i32::try_from(pid) {
            if p > 1 {
                let _ = kill(nix::unistd::Pid::from_raw(p), s);
            }
        }
    }
}

/// What ending a family did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ended {
    /// Sent SIGTERM.
    pub termed: Vec<u32>,
    /// Still there after the grace: sent SIGKILL.
    pub killed: Vec<u32>,
    /// Left running: others share what they serve (`Family::shared`).
    pub spared: Vec<u32>,
}

impl Ended {
    pub fn is_empty(&self) -> bool {
        self.termed.is_empty() && self.killed.is_empty() && self.spared.is_empty()
    }

    /// One line for the agent's event log.
    pub fn describe(&self) -> String {
        let list = |v: &[u32]| {
            v.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut s = format!(
            "{} process(es) ended: {}",
            self.termed.len(),
            list(&self.termed)
        );
        if !self.killed.is_empty() {
            s.push_str(&format!(
                "; SIGKILL after the grace: {}",
                list(&self.killed)
            ));
        }
        if !self.spared.is_empty() {
            s.push_str(&format!(
                "; left running, shared with another process: {}",
                list(&self.spared)
            ));
        }
        s
    }
}

pub type ProcFuture<'a> = Pin<Box<dyn Future<Output = Ended> + Send + 'a>>;

/// The agent's port to its processes.
pub trait ProcOps: Send + Sync {
    /// End every process of `fam`: SIGTERM, then SIGKILL after the grace.
    fn end<'a>(&'a self, fam: &'a Family) -> ProcFuture<'a>;
}

/// The real [`ProcOps`].
pub struct Reaper {
    pub table: ProcTable,
    pub signals: Arc<dyn Signals>,
    pub grace: Duration,
    /// Never signalled (orc itself).
    pub me: u32,
}

impl Reaper {
    /// Over the system's `/proc`, with `kill(2)` and [`GRACE`].
    pub fn system() -> Reaper {
        Reaper {
            table: ProcTable {
                root: PathBuf::from("/proc"),
            },
            signals: Arc::new(Kernel),
            grace: GRACE,
            me: std::process::id(),
        }
    }

    /// The family's processes to end now (the spared ones left out).
    fn live(&self, fam: &Family, spared: &[u32]) -> Vec<u32> {
        self.split(fam)
            .0
            .into_iter()
            .filter(|p| !spared.contains(p))
            .collect()
    }

    fn split(&self, fam: &Family) -> (Vec<u32>, Vec<u32>) {
        let shared = fam.shared.as_ref().map(|s| s.as_bytes());
        members(&self.table.scan(&fam.entries(), shared), fam, self.me)
    }

    async fn end_(&self, fam: &Family) -> Ended {
        let mut ended = Ended {
            spared: self.split(fam).1,
            ..Default::default()
        };
        let deadline = tokio::time::Instant::now() + self.grace;
        // Looked at again until the grace is over: a child forked while
        // its parent was dying is found and signalled too.
        loop {
            let now = self.live(fam, &ended.spared);
            if now.is_empty() {
                return ended;
            }
            for pid in now {
                if !ended.termed.contains(&pid) {
                    self.signals.send(pid, Sig::Term);
                    ended.termed.push(pid);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for pid in self.live(fam, &ended.spared) {
            self.signals.send(pid, Sig::Kill);
            ended.killed.push(pid);
            if !ended.termed.contains(&pid) {
                ended.termed.push(pid);
            }
        }
        ended
    }
}

impl ProcOps for Reaper {
    fn end<'a>(&'a self, fam: &'a Family) -> ProcFuture<'a> {
        Box::pin(self.end_(fam))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn p(pid: u32, session: u32, marked: bool) -> ProcInfo {
        ProcInfo {
            pid,
            session,
            marked,
            shares: false,
            zombie: false,
        }
    }

    fn fam(leader: Option<u32>) -> Family {
        Family {
            nonce: "ab".repeat(16),
            leader,
            ..Default::default()
        }
    }

    fn ended(procs: &[ProcInfo], fam: &Family, me: u32) -> Vec<u32> {
        members(procs, fam, me).0
    }

    #[test]
    fn marked_processes_and_the_panes_session_are_the_family() {
        // 100: the pane (leader, marked); 101: its child that cleared its
        // environment but stayed in the session; 300: the setsid daemon,
        // marked; 400: someone else's process.
        let procs = [
            p(100, 100, true),
            p(101, 100, false),
            p(300, 300, true),
            p(400, 400, false),
        ];
        assert_eq!(ended(&procs, &fam(Some(100)), 1), vec![100, 101, 300]);
        // orc itself is never a member.
        assert_eq!(ended(&procs, &fam(Some(100)), 300), vec![100, 101]);
    }

    #[test]
    fn a_recycled_leader_pid_brings_no_strangers() {
        // The pane's pid 100 now belongs to an unmarked process whose
        // session a stranger shares: only the marked daemon is ours.
        let procs = [p(100, 100, false), p(101, 100, false), p(300, 300, true)];
        assert_eq!(ended(&procs, &fam(Some(100)), 1), vec![300]);
        // The leader is gone: its session's survivors are ours.
        let procs = [p(101, 100, false), p(300, 300, true)];
        assert_eq!(ended(&procs, &fam(Some(100)), 1), vec![101, 300]);
        // No leader known: the marker alone decides.
        assert_eq!(ended(&procs, &fam(None), 1), vec![300]);
    }

    #[test]
    fn a_daemon_another_process_shares_is_spared_until_nobody_does() {
        let mut f = fam(Some(100));
        f.shared = Some("CODEX_HOME=/x".into());
        let sharer = |pid, session, marked| ProcInfo {
            shares: true,
            ..p(pid, session, marked)
        };
        // 100: the pane's TUI; 300: the daemon it started (own session);
        // 500: another agent's TUI on the same CODEX_HOME.
        let procs = [
            sharer(100, 100, true),
            sharer(300, 300, true),
            sharer(500, 500, false),
        ];
        assert_eq!(members(&procs, &f, 1), (vec![100], vec![300]));
        // Nobody else on that home: the daemon goes too.
        assert_eq!(members(&procs[..2], &f, 1), (vec![100, 300], vec![]));
        // Without a shared entry nothing is spared.
        assert_eq!(ended(&procs, &fam(Some(100)), 1), vec![100, 300]);
    }

    #[test]
    fn zombies_are_not_signalled() {
        let mut z = p(300, 300, true);
        z.zombie = true;
        assert!(ended(&[z], &fam(None), 1).is_empty());
    }

    #[test]
    fn nonces_are_32_hex_digits_and_differ() {
        let (a, b) = (new_nonce(), new_nonce());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn stat_is_read_after_the_last_parenthesis() {
        assert_eq!(
            parse_stat("4242 (we ird) (x) S 1 4242 4240 0 -1 4194560"),
            Some(('S', 4240))
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    /// A fake `/proc`: a directory per pid with `stat` and `environ`.
    fn fake_proc(dir: &std::path::Path, pid: u32, sid: u32, state: char, env: &[&str]) {
        let d = dir.join(pid.to_string());
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("stat"),
            format!("{pid} (sh) {state} 1 {pid} {sid} 0 -1 0"),
        )
        .unwrap();
        let mut e = env.join("\0").into_bytes();
        e.push(0);
        std::fs::write(d.join("environ"), e).unwrap();
    }

    /// Signals removed from the fake /proc: TERM ends a pid unless it is
    /// listed as ignoring it; KILL always.
    struct FakeSignals {
        root: PathBuf,
        ignores_term: Vec<u32>,
        sent: Mutex<Vec<(u32, Sig)>>,
    }

    impl Signals for FakeSignals {
        fn send(&self, pid: u32, sig: Sig) {
            self.sent.lock().unwrap().push((pid, sig));
            if sig == Sig::Kill || !self.ignores_term.contains(&pid) {
                let _ = std::fs::remove_dir_all(self.root.join(pid.to_string()));
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn term_then_kill_after_the_grace_over_a_fake_proc() {
        let dir = tempfile::tempdir().unwrap();
        let f = fam(Some(100));
        let mark = format!("{MARKER_VAR}={}", f.nonce);
        let other = format!("{MARKER_VAR}={}", "cd".repeat(16));
        fake_proc(dir.path(), 100, 100, 'S', &["ORC_AGENT=a", &mark]);
        fake_proc(dir.path(), 300, 300, 'S', &[&mark, "HOME=/h"]); // the daemon
        fake_proc(dir.path(), 500, 500, 'S', &["ORC_AGENT=a", &other]); // another orc
        fake_proc(dir.path(), 600, 600, 'S', &[&format!("X{mark}")]); // not exact
        fake_proc(dir.path(), 700, 700, 'S', &[&format!("{mark}0")]); // not exact
                                                                      // 800: a daemon of an earlier launch (spared then), shared with 900.
        let older = format!("{MARKER_VAR}={}", "ef".repeat(16));
        fake_proc(dir.path(), 800, 800, 'S', &[&older, "CODEX_HOME=/x"]);
        fake_proc(dir.path(), 900, 900, 'S', &["CODEX_HOME=/x"]);
        let signals = Arc::new(FakeSignals {
            root: dir.path().to_path_buf(),
            ignores_term: vec![300],
            sent: Mutex::new(Vec::new()),
        });
        let reaper = Reaper {
            table: ProcTable {
                root: dir.path().to_path_buf(),
            },
            signals: signals.clone(),
            grace: Duration::from_secs(3),
            me: 1,
        };
        let mut f = f;
        f.older = vec!["ef".repeat(16)];
        f.shared = Some("CODEX_HOME=/x".into());
        let t0 = tokio::time::Instant::now();
        let ended = reaper.end(&f).await;
        assert_eq!(ended.spared, vec![800], "900 still uses it");
        assert_eq!(ended.termed, vec![100, 300]);
        assert_eq!(ended.killed, vec![300]);
        assert!(
            t0.elapsed() >= Duration::from_secs(3),
            "KILL only after the grace"
        );
        assert_eq!(
            *signals.sent.lock().unwrap(),
            vec![(100, Sig::Term), (300, Sig::Term), (300, Sig::Kill)]
        );
        for pid in [500, 600, 700, 800, 900] {
            assert!(dir.path().join(pid.to_string()).exists(), "{pid} untouched");
        }
        assert!(ended.describe().contains("SIGKILL after the grace: 300"));
        // 900 gone: the earlier launch's daemon ends with the next pass.
        std::fs::remove_dir_all(dir.path().join("900")).unwrap();
        let again = reaper.end(&f).await;
        assert_eq!((again.termed, again.spared), (vec![800], vec![]));
        // Nothing left: a pass signals nobody and returns at once.
        let t1 = tokio::time::Instant::now();
        assert!(reaper.end(&f).await.is_empty());
        assert!(t1.elapsed() < Duration::from_millis(10));
    }
}
