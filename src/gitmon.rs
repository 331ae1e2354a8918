//! Git activity monitor: what each agent's worktree looks like, and the
//! commit rule built on top of it.
//!
//! * [`inspect`] reads one worktree through git2 and returns an [`Activity`]:
//!   branch, last commit, uncommitted files (and how long the oldest of them
//!   has sat uncommitted), and ahead/behind counts against the parent branch.
//! * [`CommitRule`] + [`RuleState::check`] form a pure state machine over
//!   activities and time: they say when to remind an agent to commit and when
//!   to tell the project manager. No I/O; the supervisor performs the
//!   [`Action`]s and persists the [`RuleState`] (it is serde-serializable).
//! * [`record`] appends an activity to the dated JSONL log; [`table`] renders
//!   the `orc git` listing.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use git2::{BranchType, ErrorCode, Oid, Repository, RepositoryOpenFlags, Status, StatusOptions};
use serde::{Deserialize, Serialize};

pub use crate::proto::Activity;

#[derive(Debug, thiserror::Error)]
pub enum GitmonError {
    #[error("worktree of agent {agent} is missing: {} does not exist", .path.display())]
    WorktreeMissing { agent: String, path: PathBuf },

    #[error("worktree of agent {agent} at {} is not a git worktree: {source}", .path.display())]
    NotARepo {
        agent: String,
        path: PathBuf,
        source: git2::Error,
    },

    #[error(
        "parent branch {parent:?} of agent {agent} is neither a branch nor a commit in {}",
        .path.display()
    )]
    ParentNotFound {
        agent: String,
        parent: String,
        path: PathBuf,
    },

    #[error("git failed to {what} in {}: {source}", .path.display())]
    Git {
        what: &'static str,
        path: PathBuf,
        source: git2::Error,
    },
}

/// Inspects the worktree of `agent`; `parent_branch` is a branch name (or
/// anything `git rev-parse` understands, such as a commit id).
pub fn inspect(agent: &str, worktree: &Path, parent_branch: &str) -> Result<Activity, GitmonError> {
    let at = Utc::now();
    if !worktree.exists() {
        return Err(GitmonError::WorktreeMissing {
            agent: agent.to_string(),
            path: worktree.to_path_buf(),
        });
    }
    // Open exactly this directory: never fall back to an enclosing repository.
    let repo = Repository::open_ext(
        worktree,
        RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&std::ffi::OsStr>(),
    )
    .map_err(|source| GitmonError::NotARepo {
        agent: agent.to_string(),
        path: worktree.to_path_buf(),
        source,
    })?;
    let git = |what: &'static str| git_failed(what, worktree);
    let (branch, head) = head_of(&repo, worktree)?;
    let last_commit = head
        .as_ref()
        .and_then(|c| DateTime::from_timestamp(c.time().seconds(), 0));
    let last_commit_summary = head
        .as_ref()
        .and_then(|c| c.summary_bytes())
        .map(|s| String::from_utf8_lossy(s).into_owned());

    let (uncommitted, oldest_change) = changes(&repo, worktree, at)?;

    // Ahead/behind the parent.
    let (ahead, behind) = match &head {
        None => (0, 0),
        Some(head) => {
            let parent =
                resolve(&repo, parent_branch).ok_or_else(|| GitmonError::ParentNotFound {
                    agent: agent.to_string(),
                    parent: parent_branch.to_string(),
                    path: worktree.to_path_buf(),
                })?;
            repo.graph_ahead_behind(head.id(), parent)
                .map_err(git("compare with the parent branch"))?
        }
    };

    Ok(Activity {
        agent: agent.to_string(),
        worktree: worktree.to_path_buf(),
        branch,
        parent: parent_branch.to_string(),
        last_commit,
        last_commit_summary,
        uncommitted,
        oldest_change,
        ahead,
        behind,
        at,
    })
}

/// A `map_err` for a git operation that failed in `worktree`.
fn git_failed(what: &'static str, worktree: &Path) -> impl FnOnce(git2::Error) -> GitmonError {
    let path = worktree.to_path_buf();
    move |source| GitmonError::Git { what, path, source }
}

/// HEAD: the branch (also an unborn one) and the last commit.
fn head_of<'r>(
    repo: &'r Repository,
    worktree: &Path,
) -> Result<(Option<String>, Option<git2::Commit<'r>>), GitmonError> {
    let git = |what: &'static str| git_failed(what, worktree);
    Ok(match repo.head() {
        Ok(r) => {
            let branch = if r.is_branch() {
                Some(String::from_utf8_lossy(r.shorthand_bytes()).into_owned())
            } else {
                None
            };
            let commit = r.peel_to_commit().map_err(git("read HEAD"))?;
            (branch, Some(commit))
        }
        Err(e) if e.code() == ErrorCode::UnbornBranch => {
            let branch = repo
                .find_reference("HEAD")
                .ok()
                .and_then(|r| {
                    r.symbolic_target_bytes()
                        .map(|t| String::from_utf8_lossy(t).into_owned())
                })
                .map(|t| t.strip_prefix("refs/heads/").unwrap_or(&t).to_string());
            (branch, None)
        }
        Err(e) => return Err(git("read HEAD")(e)),
    })
}

/// The uncommitted files: how many, and when the oldest of them changed.
fn changes(
    repo: &Repository,
    worktree: &Path,
    at: DateTime<Utc>,
) -> Result<(usize, Option<DateTime<Utc>>), GitmonError> {
    let git = |what: &'static str| git_failed(what, worktree);
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = repo.statuses(Some(&mut opts)).map_err(git("read status"))?;
    let mut uncommitted = 0;
    let mut oldest_change: Option<DateTime<Utc>> = None;
    for entry in statuses.iter() {
        let s = entry.status();
        if s == Status::CURRENT || s.contains(Status::IGNORED) {
            continue;
        }
        uncommitted += 1;
        let file = worktree.join(std::ffi::OsStr::from_bytes(entry.path_bytes()));
        // Deleted (or unreadable) files: changed as far as we can tell now.
        let changed = std::fs::symlink_metadata(&file)
            .and_then(|m| m.modified())
            .map(DateTime::<Utc>::from)
            .unwrap_or(at);
        oldest_change = Some(oldest_change.map_or(changed, |o| o.min(changed)));
    }
    Ok((uncommitted, oldest_change))
}

/// A local branch of that name first (so a tag of the same name cannot
/// shadow it), then any revision git understands.
fn resolve(repo: &Repository, parent: &str) -> Option<Oid> {
    if let Ok(b) = repo.find_branch(parent, BranchType::Local) {
        if let Ok(c) = b.get().peel_to_commit() {
            return Some(c.id());
        }
    }
    repo.revparse_single(parent)
        .ok()?
        .peel_to_commit()
        .ok()
        .map(|c| c.id())
}

/// The commit rule: uncommitted work must not sit longer than `limit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRule {
    /// How long work may stay uncommitted before the agent is reminded.
    pub limit: Duration,
    /// How often to repeat the reminder while the work stays uncommitted.
    pub period: Duration,
    /// How many reminders go unanswered before the project manager is told.
    pub escalate_after: u32,
}

impl Default for CommitRule {
    fn default() -> Self {
        let limit = Duration::from_secs(30 * 60);
        CommitRule {
            limit,
            period: limit,
            escalate_after: 2,
        }
    }
}

/// What the supervisor should do after a [`RuleState::check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Type `text` to the agent itself.
    Remind { agent: String, text: String },
    /// Tell the project manager (hub) about `agent`.
    Escalate { agent: String, text: String },
}

/// One agent's current stretch of overdue uncommitted work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stretch {
    /// Reminders sent in this stretch.
    pub reminders: u32,
    pub last_reminder: Option<DateTime<Utc>>,
    /// Whether the project manager was told in this stretch.
    pub escalated: bool,
}

/// Per-agent memory of the commit rule; keep it across supervisor restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleState {
    /// Agents with an open stretch; an absent agent has nothing pending.
    pub agents: BTreeMap<String, Stretch>,
}

impl RuleState {
    /// Applies the rule to a fresh [`Activity`] at `now`.
    ///
    /// Uncommitted work is overdue once `limit` has passed since the later of
    /// its oldest change and the last commit (an agent that commits at least
    /// every `limit` complies, even if some file stays dirty longer). While it
    /// is overdue the agent gets one reminder per `period`. After
    /// `escalate_after` reminders have gone unanswered, the next due reminder
    /// also tells the project manager, once per stretch. The stretch ends when
    /// nothing is uncommitted or a commit lands after the last reminder.
    pub fn check(&mut self, rule: &CommitRule, a: &Activity, now: DateTime<Utc>) -> Vec<Action> {
        if a.uncommitted == 0 {
            self.agents.remove(&a.agent);
            return Vec::new();
        }
        if let Some(st) = self.agents.get(&a.agent) {
            let committed_since = matches!(
                (st.last_reminder, a.last_commit),
                (Some(r), Some(c)) if c > r
            );
            if committed_since {
                self.agents.remove(&a.agent);
            }
        }

        let changed = a.oldest_change.unwrap_or(a.at);
        let pending_since = a.last_commit.map_or(changed, |c| c.max(changed));
        let limit = delta(rule.limit);
        if now - pending_since < limit {
            return Vec::new();
        }

        let st = self.agents.entry(a.agent.clone()).or_default();
        if let Some(last) = st.last_reminder {
            if now - last < delta(rule.period) {
                return Vec::new();
            }
        }

        let mut out = Vec::new();
        if st.reminders >= rule.escalate_after && !st.escalated {
            st.escalated = true;
            out.push(Action::Escalate {
                agent: a.agent.clone(),
                text: escalation_text(a, st.reminders, now),
            });
        }
        st.reminders += 1;
        st.last_reminder = Some(now);
        out.insert(
            0,
            Action::Remind {
                agent: a.agent.clone(),
                text: reminder_text(a, now),
            },
        );
        out
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

fn files(n: usize) -> String {
    if n == 1 {
        "1 uncommitted file".to_string()
    } else {
        format!("{n} uncommitted files")
    }
}

fn reminder_text(a: &Activity, now: DateTime<Utc>) -> String {
    let oldest = a.oldest_change.unwrap_or(a.at);
    let last = match a.last_commit {
        Some(c) => format!("your last commit was {} ago", long_age(now - c)),
        None => "you have not committed yet".to_string(),
    };
    format!(
        "orc: you have {}; the oldest changed {} ago and {last}. \
         Commit your work now (small commits; merge only into {}).",
        files(a.uncommitted),
        long_age(now - oldest),
        a.parent,
    )
}

fn escalation_text(a: &Activity, reminders: u32, now: DateTime<Utc>) -> String {
    let oldest = a.oldest_change.unwrap_or(a.at);
    let branch = a.branch.as_deref().unwrap_or("a detached HEAD");
    let last = match a.last_commit {
        Some(c) => format!("last commit {} ago", long_age(now - c)),
        None => "no commit yet".to_string(),
    };
    format!(
        "orc: agent {} has not committed after {reminders} reminder{}: {} on {branch}, \
         the oldest changed {} ago, {last}; {} ahead / {} behind {}. Please follow up.",
        a.agent,
        if reminders == 1 { "" } else { "s" },
        files(a.uncommitted),
        long_age(now - oldest),
        a.ahead,
        a.behind,
        a.parent,
    )
}

/// `47 min`, `3h05m`, `2d04h` (for messages).
fn long_age(d: TimeDelta) -> String {
    let m = d.num_minutes().max(0);
    if m < 60 {
        format!("{m} min")
    } else {
        age(d)
    }
}

/// `<1m`, `12m`, `3h05m`, `2d04h` (for the table).
fn age(d: TimeDelta) -> String {
    let m = d.num_minutes().max(0);
    if d.num_seconds() < 60 {
        "<1m".to_string()
    } else if m < 60 {
        format!("{m}m")
    } else if m < 24 * 60 {
        format!("{}h{:02}m", m / 60, m % 60)
    } else {
        format!("{}d{:02}h", m / (24 * 60), (m / 60) % 24)
    }
}

/// Appends `a` to `<logs_dir>/git-activity/<YYYY-MM-DD of a.at, UTC>/<agent>.jsonl`
/// and returns that path.
pub fn record(logs_dir: &Path, a: &Activity) -> io::Result<PathBuf> {
    let name: String = a
        .agent
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = if name.is_empty() || name.starts_with('.') {
        format!("_{name}")
    } else {
        name
    };
    let path = logs_dir
        .join("git-activity")
        .join(a.at.format("%Y-%m-%d").to_string())
        .join(format!("{name}.jsonl"));
    crate::state::append_jsonl(&path, a)?;
    Ok(path)
}

/// The `orc git` table, one row per activity.
pub fn table(rows: &[Activity], now: DateTime<Utc>) -> String {
    let head = [
        "AGENT",
        "BRANCH",
        "LAST COMMIT",
        "UNCOMMITTED",
        "AHEAD/BEHIND",
    ];
    let mut cells: Vec<[String; 5]> = vec![head.map(str::to_string)];
    for a in rows {
        let last = a.last_commit.map_or("never".to_string(), |c| age(now - c));
        let unc = match (a.uncommitted, a.oldest_change) {
            (0, _) => "0".to_string(),
            (n, Some(o)) => format!("{n} ({})", age(now - o)),
            (n, None) => n.to_string(),
        };
        cells.push([
            crate::shown::one_line(&a.agent).into_owned(),
            crate::shown::one_line(a.branch.as_deref().unwrap_or("(detached)")).into_owned(),
            last,
            unc,
            format!("+{}/-{} {}", a.ahead, a.behind, a.parent),
        ]);
    }
    let mut width = [0usize; 5];
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in &cells {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(c);
            if i + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', width[i] - c.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::SystemTime;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn commit(dir: &Path, file: &str, msg: &str) {
        std::fs::write(dir.join(file), msg).unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", msg]);
    }

    /// main: c0 - m1; work (worktree): c0 - w1 - w2.
    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let wt = tmp.path().join("wt");
        std::fs::create_dir(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join(".gitignore"), "*.log\n").unwrap();
        commit(&repo, "a.txt", "c0");
        git(
            &repo,
            &["worktree", "add", "-q", "-b", "work", wt.to_str().unwrap()],
        );
        commit(&wt, "w1.txt", "w1");
        commit(&wt, "w2.txt", "second on work");
        commit(&repo, "m1.txt", "m1");
        (tmp, repo, wt)
    }

    #[test]
    fn inspect_reports_branch_commits_and_changes() {
        let (_tmp, repo, wt) = setup();
        let a = inspect("dev", &wt, "main").unwrap();
        assert_eq!(a.agent, "dev");
        assert_eq!(a.branch.as_deref(), Some("work"));
        assert_eq!((a.ahead, a.behind), (2, 1));
        assert_eq!(a.uncommitted, 0);
        assert_eq!(a.oldest_change, None);
        assert_eq!(a.last_commit_summary.as_deref(), Some("second on work"));
        let lc = a.last_commit.unwrap();
        assert!((a.at - lc).num_seconds().abs() < 120, "{lc} vs {}", a.at);

        // Parent given as a commit id works the same.
        let main_id = git(&repo, &["rev-parse", "main"]);
        let b = inspect("dev", &wt, &main_id).unwrap();
        assert_eq!((b.ahead, b.behind), (2, 1));

        // An untracked file changed 40 minutes ago, an ignored one, a deletion.
        let f = wt.join("new.rs");
        std::fs::write(&f, "x").unwrap();
        let forty = SystemTime::now() - Duration::from_secs(40 * 60);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(forty)
            .unwrap();
        std::fs::write(wt.join("noise.log"), "ignored").unwrap();
        std::fs::remove_file(wt.join("w1.txt")).unwrap();
        let a = inspect("dev", &wt, "main").unwrap();
        assert_eq!(a.uncommitted, 2);
        let age = a.at - a.oldest_change.unwrap();
        assert!(
            (age.num_seconds() - 40 * 60).abs() <= 5,
            "oldest change {age} ago"
        );

        // Only the deletion left: its time is now.
        std::fs::remove_file(&f).unwrap();
        let a = inspect("dev", &wt, "main").unwrap();
        assert_eq!(a.uncommitted, 1);
        assert_eq!(a.oldest_change, Some(a.at));
    }

    #[test]
    fn inspect_errors_are_clear() {
        let (tmp, _repo, wt) = setup();
        let missing = tmp.path().join("gone");
        let e = inspect("dev", &missing, "main").unwrap_err();
        assert!(matches!(e, GitmonError::WorktreeMissing { .. }), "{e}");
        assert!(e.to_string().contains("does not exist"), "{e}");

        let plain = tmp.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        let e = inspect("dev", &plain, "main").unwrap_err();
        assert!(matches!(e, GitmonError::NotARepo { .. }), "{e}");

        let e = inspect("dev", &wt, "no-such-branch").unwrap_err();
        assert!(matches!(e, GitmonError::ParentNotFound { .. }), "{e}");
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn min(m: i64) -> DateTime<Utc> {
        t0() + TimeDelta::minutes(m)
    }

    fn activity(uncommitted: usize, oldest: i64, last_commit: i64, at: i64) -> Activity {
        Activity {
            agent: "dev".into(),
            worktree: "/w/dev".into(),
            branch: Some("main-dev".into()),
            parent: "main".into(),
            last_commit: Some(min(last_commit)),
            last_commit_summary: Some("wip".into()),
            uncommitted,
            oldest_change: (uncommitted > 0).then(|| min(oldest)),
            ahead: 2,
            behind: 1,
            at: min(at),
        }
    }

    fn kinds(actions: &[Action]) -> (usize, usize) {
        let r = actions
            .iter()
            .filter(|a| matches!(a, Action::Remind { .. }))
            .count();
        (r, actions.len() - r)
    }

    #[test]
    fn rule_reminds_once_per_period_and_escalates_once() {
        let rule = CommitRule::default();
        assert_eq!(rule.period, Duration::from_secs(1800));
        let mut st = RuleState::default();
        // Work changed at minute 0, last commit at -60.
        let mut log = Vec::new();
        let checks = [
            0, 10, 20, 40, 50, 60, 69, 70, 80, 99, 100, 110, 129, 130, 160, 190,
        ];
        for m in checks {
            let acts = st.check(&rule, &activity(3, 0, -60, m), min(m));
            if !acts.is_empty() {
                log.push((m, kinds(&acts)));
            }
        }
        // Reminders at 40, 70, 100, 130, 160, 190; escalation with the third.
        assert_eq!(
            log,
            vec![
                (40, (1, 0)),
                (70, (1, 0)),
                (100, (1, 1)),
                (130, (1, 0)),
                (160, (1, 0)),
                (190, (1, 0)),
            ]
        );
        let acts = st.check(&rule, &activity(3, 0, -60, 220), min(220));
        match &acts[..] {
            [Action::Remind { agent, text }] => {
                assert_eq!(agent, "dev");
                assert!(text.contains("3 uncommitted files"), "{text}");
                assert!(text.contains("3h40m ago"), "{text}");
                assert!(text.contains("merge only into main"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(st.agents["dev"].reminders, 7);
        assert!(st.agents["dev"].escalated);

        // Serializable across restarts.
        let json = serde_json::to_string(&st).unwrap();
        let back: RuleState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, st);
    }

    #[test]
    fn rule_escalation_text_and_custom_counts() {
        let rule = CommitRule {
            limit: Duration::from_secs(30 * 60),
            period: Duration::from_secs(10 * 60),
            escalate_after: 1,
        };
        let mut st = RuleState::default();
        assert!(st.check(&rule, &activity(1, 0, -5, 29), min(29)).is_empty());
        let acts = st.check(&rule, &activity(1, 0, -5, 30), min(30));
        assert_eq!(kinds(&acts), (1, 0));
        assert!(st.check(&rule, &activity(1, 0, -5, 39), min(39)).is_empty());
        let acts = st.check(&rule, &activity(1, 0, -5, 40), min(40));
        assert_eq!(kinds(&acts), (1, 1));
        match &acts[1] {
            Action::Escalate { agent, text } => {
                assert_eq!(agent, "dev");
                assert!(text.contains("after 1 reminder:"), "{text}");
                assert!(text.contains("1 uncommitted file on main-dev"), "{text}");
                assert!(text.contains("40 min ago"), "{text}");
                assert!(text.contains("2 ahead / 1 behind main"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        for m in [50, 60, 70] {
            assert_eq!(
                kinds(&st.check(&rule, &activity(1, 0, -5, m), min(m))),
                (1, 0)
            );
        }
    }

    #[test]
    fn rule_resets_after_commit_or_clean_tree() {
        let rule = CommitRule::default();
        let mut st = RuleState::default();
        assert_eq!(
            kinds(&st.check(&rule, &activity(2, 0, -60, 40), min(40))),
            (1, 0)
        );
        assert_eq!(
            kinds(&st.check(&rule, &activity(2, 0, -60, 70), min(70))),
            (1, 0)
        );
        // A commit at 75 leaves one old file dirty: the stretch restarts and
        // the clock counts from the commit.
        assert!(st.check(&rule, &activity(1, 0, 75, 80), min(80)).is_empty());
        assert!(!st.agents.contains_key("dev"));
        assert!(st
            .check(&rule, &activity(1, 0, 75, 100), min(100))
            .is_empty());
        assert_eq!(
            kinds(&st.check(&rule, &activity(1, 0, 75, 105), min(105))),
            (1, 0)
        );
        assert_eq!(st.agents["dev"].reminders, 1);
        // Clean tree: state dropped; new work starts a fresh stretch.
        assert!(st
            .check(&rule, &activity(0, 0, 75, 110), min(110))
            .is_empty());
        assert!(st.agents.is_empty());
        assert!(st
            .check(&rule, &activity(1, 115, 75, 140), min(140))
            .is_empty());
        assert_eq!(
            kinds(&st.check(&rule, &activity(1, 115, 75, 145), min(145))),
            (1, 0)
        );
    }

    #[test]
    fn record_writes_dated_jsonl() {
        let tmp = tempfile::tempdir().unwrap();
        let a = activity(2, 0, -60, 30);
        let p = record(tmp.path(), &a).unwrap();
        assert_eq!(p, tmp.path().join("git-activity/2026-03-01/dev.jsonl"));
        record(tmp.path(), &a).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let back: Activity = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn table_formats_ages_and_counts() {
        let mut b = activity(0, 0, 0, 0);
        b.agent = "reviewer".into();
        b.branch = None;
        b.last_commit = None;
        b.ahead = 0;
        b.behind = 0;
        let rows = [activity(3, 0, -125, 47), b];
        let out = table(&rows, min(47));
        let expected = "\
AGENT     BRANCH      LAST COMMIT  UNCOMMITTED  AHEAD/BEHIND
dev       main-dev    2h52m        3 (47m)      +2/-1 main
reviewer  (detached)  never        0            +0/-0 main
";
        assert_eq!(out, expected);
        assert_eq!(age(TimeDelta::seconds(30)), "<1m");
        assert_eq!(age(TimeDelta::minutes(12)), "12m");
        assert_eq!(age(TimeDelta::minutes(185)), "3h05m");
        assert_eq!(age(TimeDelta::minutes(26 * 60 + 10)), "1d02h");
        assert_eq!(age(TimeDelta::minutes(-5)), "<1m");
    }
}
