//! Per-agent git worktrees with fallbacks.
//!
//! Every agent works in its own worktree, outside the user's repository, so
//! agents never edit the same files on disk. [`ensure`] reuses a worktree that
//! is already there, and otherwise creates one, trying in order:
//!
//! 1. the repository's current branch (works only if no worktree has it checked
//!    out; git never checks one branch out twice, and orc never forces it);
//! 2. an agent branch `<current>-<role>` (`orc-<role>` when the repository's
//!    HEAD is detached): created at HEAD, or reused if it already exists and is
//!    not checked out elsewhere;
//! 3. a detached worktree at HEAD.
//!
//! Queries go through git2; mutations run the `git` command (`git -C <repo>
//! worktree ...`), whose stderr ends up in the error, because git2 has no
//! force/detach options for worktrees.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use git2::{BranchType, ErrorCode, Repository, RepositoryOpenFlags, StatusOptions};
use serde::{Deserialize, Serialize};

/// How [`ensure`] got the worktree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// `dest` already was a valid worktree of the repository.
    Existing,
    /// A worktree on the repository's current branch.
    CurrentBranch,
    /// A new branch `<current>-<role>` created at HEAD.
    AgentBranch,
    /// The branch `<current>-<role>` already existed and was free.
    AgentBranchReused,
    /// A detached worktree at HEAD.
    Detached,
}

/// An agent's worktree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worktree {
    pub path: PathBuf,
    /// The branch checked out in the worktree; `None` if detached.
    pub branch: Option<String>,
    /// The branch the repository was on, where work merges back (the commit
    /// id if the repository's HEAD was detached).
    pub parent_branch: String,
    pub strategy: Strategy,
    /// The commit the worktree's HEAD points at.
    pub head: String,
}

/// What [`check_repo`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoInfo {
    /// Top of the repository's working tree.
    pub root: PathBuf,
    /// Current branch; `None` if HEAD is detached.
    pub branch: Option<String>,
    /// Commit id of HEAD.
    pub head: String,
    /// Modified, staged, deleted or untracked (not ignored) files.
    pub dirty_files: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    #[error("{} does not exist; check the path, or create the project there first", .path.display())]
    RepoMissing { path: PathBuf },

    #[error("{} is not a git repository; run `git init` there yourself, orc does not", .path.display())]
    NotARepo { path: PathBuf },

    #[error(
        "{} is inside the git repository {}, not at its top; point orc at {}",
        .path.display(), .root.display(), .root.display()
    )]
    NotTopLevel { path: PathBuf, root: PathBuf },

    #[error(
        "{} is a bare git repository (no working tree); clone it (`git clone {} <folder>`) and point orc at the clone",
        .path.display(), .path.display()
    )]
    Bare { path: PathBuf },

    #[error(
        "{} has no commits yet (HEAD is unborn); make a first commit there (e.g. `git commit --allow-empty -m init`) and try again",
        .path.display()
    )]
    NoCommits { path: PathBuf },

    #[error("could not {what} in {}: {source}; check it with `git status` / `git fsck`", .path.display())]
    Git2 {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: git2::Error,
    },

    #[error(
        "role `{role}` makes `{branch}`, which is not a valid git branch name; rename the role"
    )]
    InvalidRole { role: String, branch: String },

    #[error(
        "{} is the repository's own working tree; agents need a folder of their own outside it",
        .dest.display()
    )]
    DestIsRepo { dest: PathBuf },

    #[error(
        "{} already exists and is not a worktree of {}{}; move it away, empty it or choose another folder",
        .dest.display(), .repo.display(), .detail
    )]
    DestOccupied {
        dest: PathBuf,
        repo: PathBuf,
        /// e.g. " (it is a worktree of another repository)"
        detail: String,
    },

    #[error("could not run `git`: {source}; install git and make sure it is on PATH")]
    GitMissing {
        #[source]
        source: std::io::Error,
    },

    #[error("`git {args}` failed in {} ({status}): {stderr}", .repo.display())]
    GitFailed {
        repo: PathBuf,
        args: String,
        status: String,
        stderr: String,
    },

    #[error(
        "could not create a worktree at {}; tried:\n  - {}\nfix the problem above (disk space, permissions, a stale `.git/worktrees` entry) and run again",
        .dest.display(), .attempts.join("\n  - ")
    )]
    AllFailed {
        dest: PathBuf,
        attempts: Vec<String>,
    },

    #[error("could not use {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

type Result<T, E = WorktreeError> = std::result::Result<T, E>;

/// Checks that `repo` is the top of a non-bare git repository with at least
/// one commit. Uncommitted changes are counted, not refused.
pub fn check_repo(repo: &Path) -> Result<RepoInfo> {
    let r = open(repo)?;
    let head = head_commit(&r, repo)?;
    let branch = current_branch(&r, repo)?;
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = r
        .statuses(Some(&mut opts))
        .map_err(git2_err("read the status", repo))?;
    let dirty_files = statuses
        .iter()
        .filter(|e| {
            let s = e.status();
            !s.is_empty() && !s.contains(git2::Status::IGNORED)
        })
        .count();
    Ok(RepoInfo {
        root: root_of(&r, repo),
        branch,
        head,
        dirty_files,
    })
}

/// Makes sure `dest` is a worktree of `repo` for the agent `role`, reusing it
/// if it already is one; see the module documentation for the fallbacks.
pub fn ensure(repo: &Path, dest: &Path, role: &str) -> Result<Worktree> {
    ensure_from(repo, dest, role, None)
}

/// [`ensure`], with `base` standing in for the repository's current branch
/// (the branch tried first, and the parent of the agent branch).
fn ensure_from(repo: &Path, dest: &Path, role: &str, base: Option<&str>) -> Result<Worktree> {
    let r = open(repo)?;
    let root = root_of(&r, repo);
    let dest = absolute(dest)?;
    let b = branches(&r, repo, role, base)?;

    // A valid worktree of this repository already there: reuse it.
    let registered = registered(&r, repo)?;
    if let Some(wt) = registered
        .iter()
        .find(|w| w.valid && same_path(&w.path, &dest))
    {
        let (branch, head) = worktree_head(&wt.path)?;
        return Ok(Worktree {
            path: dest,
            branch,
            parent_branch: b.parent_branch,
            strategy: Strategy::Existing,
            head,
        });
    }
    prune_stale(&root, &registered, &dest)?;

    check_dest(&r, &root, &dest)?;
    add_worktree(&r, &root, dest, b)
}

/// The branches a worktree for `role` is made from.
struct Branches {
    /// The branch tried first; None on a detached HEAD.
    base: Option<String>,
    /// The commit a new agent branch or a detached worktree starts at.
    start: String,
    /// What the agent merges back into.
    parent_branch: String,
    /// `<base>-<role>`, or `orc-<role>` on a detached HEAD.
    agent_branch: String,
}

fn branches(r: &Repository, repo: &Path, role: &str, base: Option<&str>) -> Result<Branches> {
    let base = match base {
        Some(b) => Some(b.to_string()),
        None => current_branch(r, repo)?,
    };
    let start = match &base {
        Some(b) => branch_commit(r, repo, b)?,
        None => head_commit(r, repo)?,
    };
    let parent_branch = base.clone().unwrap_or_else(|| start.clone());
    let agent_branch = match &base {
        Some(b) => format!("{b}-{role}"),
        None => format!("orc-{role}"),
    };
    if !git2::Branch::name_is_valid(&agent_branch).unwrap_or(false) {
        return Err(WorktreeError::InvalidRole {
            role: role.to_string(),
            branch: agent_branch,
        });
    }
    Ok(Branches {
        base,
        start,
        parent_branch,
        agent_branch,
    })
}

fn prune_stale(root: &Path, registered: &[Registered], dest: &Path) -> Result<()> {
    // Stale registrations (folder gone) block their branch and their path:
    // prune them. A locked one at `dest` is ours: unlock it first. Locks on
    // other folders are left alone (a lock says "on a removable disk").
    let stale: Vec<&Registered> = registered.iter().filter(|w| !w.path.exists()).collect();
    for wt in &stale {
        if wt.locked && same_path(&wt.path, dest) {
            run_git(
                root,
                &[
                    OsStr::new("worktree"),
                    OsStr::new("unlock"),
                    wt.path.as_os_str(),
                ],
            )?;
        }
    }
    if !stale.is_empty() {
        run_git(root, &[OsStr::new("worktree"), OsStr::new("prune")])?;
    }
    Ok(())
}

/// Add the worktree, trying in turn: the current branch, the agent branch
/// (reused or created), detached at HEAD.
fn add_worktree(r: &Repository, root: &Path, dest: PathBuf, b: Branches) -> Result<Worktree> {
    let in_use = checked_out(r);
    let used_at = |branch: &str| {
        let full = format!("refs/heads/{branch}");
        in_use
            .iter()
            .find(|(b, _)| *b == full)
            .map(|(_, p)| p.clone())
    };
    let mut attempts = Vec::new();
    let dest_os = dest.as_os_str();
    let wt_add = OsStr::new("worktree");
    let add = OsStr::new("add");
    let Branches {
        base,
        start,
        parent_branch,
        agent_branch,
    } = b;

    // 1. The current branch.
    if let Some(b) = &base {
        if add_existing(root, &dest, b, used_at(b), &mut attempts) {
            return finish(
                dest,
                Some(b.clone()),
                parent_branch,
                Strategy::CurrentBranch,
            );
        }
    }

    // 2. The agent branch: reuse or create.
    let exists = r.find_branch(&agent_branch, BranchType::Local).is_ok();
    if exists {
        if add_existing(
            root,
            &dest,
            &agent_branch,
            used_at(&agent_branch),
            &mut attempts,
        ) {
            return finish(
                dest,
                Some(agent_branch),
                parent_branch,
                Strategy::AgentBranchReused,
            );
        }
    } else {
        let args = [
            wt_add,
            add,
            OsStr::new("-b"),
            OsStr::new(&agent_branch),
            dest_os,
            OsStr::new(&start),
        ];
        match run_git(root, &args) {
            Ok(()) => {
                return finish(
                    dest,
                    Some(agent_branch),
                    parent_branch,
                    Strategy::AgentBranch,
                )
            }
            Err(e) => attempts.push(format!("new branch `{agent_branch}`: {e}")),
        }
    }

    // 3. Detached at HEAD.
    add_detached(root, dest, &start, parent_branch, attempts)
}

/// The last resort: a worktree detached at `start`.
fn add_detached(
    root: &Path,
    dest: PathBuf,
    start: &str,
    parent_branch: String,
    mut attempts: Vec<String>,
) -> Result<Worktree> {
    let args = [
        OsStr::new("worktree"),
        OsStr::new("add"),
        OsStr::new("--detach"),
        dest.as_os_str(),
        OsStr::new(start),
    ];
    match run_git(root, &args) {
        Ok(()) => finish(dest, None, parent_branch, Strategy::Detached),
        Err(e) => {
            attempts.push(format!("detached at {start}: {e}"));
            Err(WorktreeError::AllFailed { dest, attempts })
        }
    }
}

/// `git worktree add <dest> <branch>` for an existing branch, unless it is
/// checked out at `used_at`; true when it worked, else why not is noted in
/// `attempts`.
fn add_existing(
    root: &Path,
    dest: &Path,
    branch: &str,
    used_at: Option<PathBuf>,
    attempts: &mut Vec<String>,
) -> bool {
    let args = [
        OsStr::new("worktree"),
        OsStr::new("add"),
        dest.as_os_str(),
        OsStr::new(branch),
    ];
    match used_at {
        Some(p) => attempts.push(format!("branch `{branch}`: checked out at {}", p.display())),
        None => match run_git(root, &args) {
            Ok(()) => return true,
            Err(e) => attempts.push(format!("branch `{branch}`: {e}")),
        },
    }
    false
}

/// Removes the worktree `wt` of `repo` (`git worktree remove --force`: local
/// changes in it are lost). A worktree whose folder is already gone is pruned.
pub fn remove(repo: &Path, wt: &Path) -> Result<()> {
    let r = open(repo)?;
    let root = root_of(&r, repo);
    let wt = absolute(wt)?;
    if !wt.exists() {
        return run_git(&root, &[OsStr::new("worktree"), OsStr::new("prune")]);
    }
    run_git(
        &root,
        &[
            OsStr::new("worktree"),
            OsStr::new("remove"),
            OsStr::new("--force"),
            wt.as_os_str(),
        ],
    )
}

// ---------------------------------------------------------------- queries

fn git2_err(what: &'static str, path: &Path) -> impl FnOnce(git2::Error) -> WorktreeError {
    let path = path.to_path_buf();
    move |source| WorktreeError::Git2 { what, path, source }
}

/// Opens `repo` exactly where it is (no search upwards: a folder inside some
/// other repository, e.g. a dotfiles repository in $HOME, must not be taken
/// for a project).
fn open(repo: &Path) -> Result<Repository> {
    if !repo.exists() {
        return Err(WorktreeError::RepoMissing {
            path: repo.to_path_buf(),
        });
    }
    let r = match Repository::open_ext(
        repo,
        RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&OsStr>(),
    ) {
        Ok(r) => r,
        Err(e) if e.code() == ErrorCode::NotFound => {
            if let Ok(outer) = Repository::discover(repo) {
                if let Some(root) = outer.workdir() {
                    return Err(WorktreeError::NotTopLevel {
                        path: repo.to_path_buf(),
                        root: strip_slash(root),
                    });
                }
            }
            return Err(WorktreeError::NotARepo {
                path: repo.to_path_buf(),
            });
        }
        Err(e) => return Err(git2_err("open the git repository", repo)(e)),
    };
    if r.is_bare() {
        return Err(WorktreeError::Bare {
            path: repo.to_path_buf(),
        });
    }
    Ok(r)
}

fn strip_slash(p: &Path) -> PathBuf {
    // git2 reports work directories with a trailing slash.
    p.components().collect()
}

fn root_of(r: &Repository, repo: &Path) -> PathBuf {
    r.workdir()
        .map(strip_slash)
        .unwrap_or_else(|| repo.to_path_buf())
}

fn head_commit(r: &Repository, repo: &Path) -> Result<String> {
    let head = r.head().map_err(|e| match e.code() {
        ErrorCode::UnbornBranch | ErrorCode::NotFound => WorktreeError::NoCommits {
            path: repo.to_path_buf(),
        },
        _ => git2_err("read HEAD", repo)(e),
    })?;
    let commit = head
        .peel_to_commit()
        .map_err(git2_err("read the HEAD commit", repo))?;
    Ok(commit.id().to_string())
}

fn branch_commit(r: &Repository, repo: &Path, branch: &str) -> Result<String> {
    let b = r
        .find_branch(branch, BranchType::Local)
        .map_err(git2_err("find the branch", repo))?;
    let commit = b
        .get()
        .peel_to_commit()
        .map_err(git2_err("read the branch's commit", repo))?;
    Ok(commit.id().to_string())
}

/// The current branch's short name; `None` if HEAD is detached.
fn current_branch(r: &Repository, repo: &Path) -> Result<Option<String>> {
    let head = r.head().map_err(|e| match e.code() {
        ErrorCode::UnbornBranch | ErrorCode::NotFound => WorktreeError::NoCommits {
            path: repo.to_path_buf(),
        },
        _ => git2_err("read HEAD", repo)(e),
    })?;
    if !head.is_branch() {
        return Ok(None);
    }
    Ok(head
        .name()
        .ok()
        .and_then(|n| n.strip_prefix("refs/heads/"))
        .map(str::to_string))
}

/// A worktree registered in the repository (`.git/worktrees/<name>`).
struct Registered {
    path: PathBuf,
    valid: bool,
    locked: bool,
}

fn registered(r: &Repository, repo: &Path) -> Result<Vec<Registered>> {
    let names = r
        .worktrees()
        .map_err(git2_err("list the worktrees", repo))?;
    let mut out = Vec::new();
    for name in names.iter().filter_map(|n| n.ok().flatten()) {
        let Ok(wt) = r.find_worktree(name) else {
            continue;
        };
        out.push(Registered {
            path: strip_slash(wt.path()),
            valid: wt.validate().is_ok(),
            locked: matches!(wt.is_locked(), Ok(git2::WorktreeLockStatus::Locked(_))),
        });
    }
    Ok(out)
}

/// Branches checked out anywhere (`refs/heads/...`, with the worktree's
/// path): the main worktree and every linked one. Unreadable entries are
/// skipped; `git worktree add` is the final judge anyway.
fn checked_out(r: &Repository) -> Vec<(String, PathBuf)> {
    let common = r.commondir().to_path_buf();
    let mut out = Vec::new();
    let mut head_of = |gitdir: &Path, path: PathBuf| {
        let Ok(g) = Repository::open(gitdir) else {
            return;
        };
        let Ok(head) = g.find_reference("HEAD") else {
            return;
        };
        if let Ok(Some(target)) = head.symbolic_target() {
            out.push((target.to_string(), path));
        }
    };
    let main_path = common
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| common.clone());
    head_of(&common, main_path);
    if let Ok(names) = r.worktrees() {
        for name in names.iter().filter_map(|n| n.ok().flatten()) {
            let path = r
                .find_worktree(name)
                .map(|w| strip_slash(w.path()))
                .unwrap_or_else(|_| PathBuf::from(name));
            head_of(&common.join("worktrees").join(name), path);
        }
    }
    out
}

/// Branch (`None` if detached) and HEAD commit of the worktree at `path`.
fn worktree_head(path: &Path) -> Result<(Option<String>, String)> {
    let r = Repository::open_ext(
        path,
        RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&OsStr>(),
    )
    .map_err(git2_err("open the worktree", path))?;
    let head = head_commit(&r, path)?;
    let branch = current_branch(&r, path)?;
    Ok((branch, head))
}

/// `dest` must be missing or an empty folder.
fn check_dest(r: &Repository, root: &Path, dest: &Path) -> Result<()> {
    if same_path(dest, root) {
        return Err(WorktreeError::DestIsRepo {
            dest: dest.to_path_buf(),
        });
    }
    let occupied = |detail: String| WorktreeError::DestOccupied {
        dest: dest.to_path_buf(),
        repo: root.to_path_buf(),
        detail,
    };
    let meta = match std::fs::symlink_metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(WorktreeError::Io {
                path: dest.to_path_buf(),
                source,
            })
        }
    };
    if !meta.is_dir() {
        return Err(occupied(" (it is a file, not a folder)".into()));
    }
    let mut entries = std::fs::read_dir(dest).map_err(|source| WorktreeError::Io {
        path: dest.to_path_buf(),
        source,
    })?;
    if entries.next().is_none() {
        return Ok(());
    }
    let detail = match Repository::open_ext(dest, RepositoryOpenFlags::NO_SEARCH, std::iter::empty::<&OsStr>()) {
        Ok(other) if !same_path(other.commondir(), r.commondir()) => {
            " (it is a git repository or worktree of another repository)".to_string()
        }
        Ok(_) => " (it looks like one, but git does not list it as valid; try `git worktree repair` there)".to_string(),
        Err(_) => " (it is a folder with files in it)".to_string(),
    };
    Err(occupied(detail))
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|source| WorktreeError::Io {
        path: p.to_path_buf(),
        source,
    })?;
    Ok(cwd.join(p))
}

/// The same place on disk, following symlinks where the path exists.
fn same_path(a: &Path, b: &Path) -> bool {
    fn canon(p: &Path) -> PathBuf {
        let p = strip_slash(p);
        if let Ok(c) = p.canonicalize() {
            return c;
        }
        match (p.parent(), p.file_name()) {
            (Some(parent), Some(name)) => canon(parent).join(name),
            _ => p,
        }
    }
    canon(a) == canon(b)
}

// --------------------------------------------------------------- mutations

/// Runs `git -C <repo> <args>`, returning its stderr in the error.
fn run_git(repo: &Path, args: &[&OsStr]) -> Result<()> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        // Set by git hooks; they would point git at another repository.
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_COMMON_DIR")
        .env_remove("GIT_OBJECT_DIRECTORY")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| WorktreeError::GitMissing { source })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(WorktreeError::GitFailed {
        repo: repo.to_path_buf(),
        args: args
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        status: out.status.to_string(),
        stderr: if stderr.is_empty() {
            "(no output)".into()
        } else {
            stderr
        },
    })
}

fn finish(
    dest: PathBuf,
    branch: Option<String>,
    parent_branch: String,
    strategy: Strategy,
) -> Result<Worktree> {
    let (actual, head) = worktree_head(&dest)?;
    debug_assert_eq!(actual, branch);
    Ok(Worktree {
        path: dest,
        branch,
        parent_branch,
        strategy,
        head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    /// Runs git in `dir`, isolated from the user's and the system's config.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A temp folder holding `repo/` on `main` with one commit.
    fn setup() -> (TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("a.txt"), "a\n").unwrap();
        git(&repo, &["add", "a.txt"]);
        git(&repo, &["commit", "-q", "-m", "first"]);
        (tmp, repo)
    }

    fn head(repo: &Path) -> String {
        git(repo, &["rev-parse", "HEAD"])
    }

    fn worktree_paths(repo: &Path) -> Vec<String> {
        git(repo, &["worktree", "list", "--porcelain"])
            .lines()
            .filter_map(|l| l.strip_prefix("worktree "))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn current_branch_used_when_free() {
        let (tmp, repo) = setup();
        // The main worktree moves on to `feature`; `main` is free for the agent.
        git(&repo, &["checkout", "-q", "-b", "feature"]);
        let dest = tmp.path().join("wt-dev");
        let wt = ensure_from(&repo, &dest, "dev", Some("main")).unwrap();
        assert_eq!(wt.strategy, Strategy::CurrentBranch);
        assert_eq!(wt.branch.as_deref(), Some("main"));
        assert_eq!(wt.parent_branch, "main");
        assert_eq!(wt.head, head(&repo));
        assert_eq!(git(&dest, &["branch", "--show-current"]), "main");
    }

    #[test]
    fn agent_branch_created_when_current_is_checked_out() {
        let (tmp, repo) = setup();
        let dest = tmp.path().join("wt-dev");
        let wt = ensure(&repo, &dest, "dev").unwrap();
        assert_eq!(wt.strategy, Strategy::AgentBranch);
        assert_eq!(wt.branch.as_deref(), Some("main-dev"));
        assert_eq!(wt.parent_branch, "main");
        assert_eq!(wt.head, head(&repo));
        assert_eq!(wt.path, dest);
        assert_eq!(git(&dest, &["branch", "--show-current"]), "main-dev");
        assert_eq!(std::fs::read_to_string(dest.join("a.txt")).unwrap(), "a\n");
    }

    #[test]
    fn agent_branch_reused_when_it_exists() {
        let (tmp, repo) = setup();
        git(&repo, &["branch", "main-dev"]);
        // Work on it that is not on main yet.
        let side = tmp.path().join("side");
        git(
            &repo,
            &["worktree", "add", "-q", side.to_str().unwrap(), "main-dev"],
        );
        git(
            &side,
            &["commit", "-q", "--allow-empty", "-m", "agent work"],
        );
        let agent_head = head(&side);
        git(&repo, &["worktree", "remove", side.to_str().unwrap()]);

        let dest = tmp.path().join("wt-dev");
        let wt = ensure(&repo, &dest, "dev").unwrap();
        assert_eq!(wt.strategy, Strategy::AgentBranchReused);
        assert_eq!(wt.branch.as_deref(), Some("main-dev"));
        assert_eq!(wt.parent_branch, "main");
        assert_eq!(wt.head, agent_head);
    }

    #[test]
    fn detached_when_agent_branch_is_checked_out_elsewhere() {
        let (tmp, repo) = setup();
        let other = tmp.path().join("other");
        git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "main-dev",
                other.to_str().unwrap(),
            ],
        );
        let dest = tmp.path().join("wt-dev");
        let wt = ensure(&repo, &dest, "dev").unwrap();
        assert_eq!(wt.strategy, Strategy::Detached);
        assert_eq!(wt.branch, None);
        assert_eq!(wt.parent_branch, "main");
        assert_eq!(wt.head, head(&repo));
        assert_eq!(git(&dest, &["branch", "--show-current"]), "");
    }

    #[test]
    fn detached_main_repo_uses_commit_as_parent() {
        let (tmp, repo) = setup();
        let commit = head(&repo);
        git(&repo, &["checkout", "-q", "--detach"]);
        let dest = tmp.path().join("wt-dev");
        let wt = ensure(&repo, &dest, "dev").unwrap();
        assert_eq!(wt.strategy, Strategy::AgentBranch);
        assert_eq!(wt.branch.as_deref(), Some("orc-dev"));
        assert_eq!(wt.parent_branch, commit);
        assert_eq!(wt.head, commit);

        // Its branch now taken, a second agent of the same role goes detached.
        let wt2 = ensure(&repo, &tmp.path().join("wt-dev2"), "dev").unwrap();
        assert_eq!(wt2.strategy, Strategy::Detached);
        assert_eq!(wt2.parent_branch, commit);
    }

    #[test]
    fn existing_worktree_reused() {
        let (tmp, repo) = setup();
        let dest = tmp.path().join("wt-dev");
        let first = ensure(&repo, &dest, "dev").unwrap();
        std::fs::write(dest.join("work.txt"), "in progress").unwrap();
        let second = ensure(&repo, &dest, "dev").unwrap();
        assert_eq!(second.strategy, Strategy::Existing);
        assert_eq!(second.branch, first.branch);
        assert_eq!(second.parent_branch, "main");
        assert_eq!(second.head, first.head);
        assert!(dest.join("work.txt").exists(), "work left alone");
        assert_eq!(worktree_paths(&repo).len(), 2);
    }

    #[test]
    fn stale_registration_recovered() {
        let (tmp, repo) = setup();
        let dest = tmp.path().join("wt-dev");
        ensure(&repo, &dest, "dev").unwrap();
        std::fs::remove_dir_all(&dest).unwrap();
        // `main-dev` is still "checked out" by the stale entry until pruned.
        let wt = ensure(&repo, &dest, "dev").unwrap();
        assert_eq!(wt.strategy, Strategy::AgentBranchReused);
        assert_eq!(wt.branch.as_deref(), Some("main-dev"));
        assert!(dest.join("a.txt").exists());
        assert_eq!(worktree_paths(&repo).len(), 2);
    }

    #[test]
    fn locked_stale_registration_unlocked() {
        let (tmp, repo) = setup();
        let dest = tmp.path().join("wt-dev");
        ensure(&repo, &dest, "dev").unwrap();
        git(
            &repo,
            &[
                "worktree",
                "lock",
                "--reason",
                "test",
                dest.to_str().unwrap(),
            ],
        );
        std::fs::remove_dir_all(&dest).unwrap();
        let wt = ensure(&repo, &dest, "dev").unwrap();
        assert_eq!(wt.strategy, Strategy::AgentBranchReused);
        assert!(dest.join("a.txt").exists());
        let list = git(&repo, &["worktree", "list", "--porcelain"]);
        assert!(!list.contains("locked"), "{list}");
    }

    #[test]
    fn locked_stale_elsewhere_left_alone() {
        let (tmp, repo) = setup();
        let away = tmp.path().join("usb");
        git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "main-dev",
                away.to_str().unwrap(),
            ],
        );
        git(&repo, &["worktree", "lock", away.to_str().unwrap()]);
        std::fs::remove_dir_all(&away).unwrap();
        let wt = ensure(&repo, &tmp.path().join("wt-dev"), "dev").unwrap();
        assert_eq!(wt.strategy, Strategy::Detached);
        let list = git(&repo, &["worktree", "list", "--porcelain"]);
        assert!(list.contains("locked"), "{list}");
    }

    #[test]
    fn non_empty_folder_refused() {
        let (tmp, repo) = setup();
        let dest = tmp.path().join("wt-dev");
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("notes.txt"), "mine").unwrap();
        let err = ensure(&repo, &dest, "dev").unwrap_err();
        assert!(matches!(err, WorktreeError::DestOccupied { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("already exists") && msg.contains("choose another folder"),
            "{msg}"
        );
        assert_eq!(
            std::fs::read_to_string(dest.join("notes.txt")).unwrap(),
            "mine"
        );
        assert!(!git(&repo, &["branch", "--list"]).contains("main-dev"));
    }

    #[test]
    fn worktree_of_another_repo_refused() {
        let (tmp, repo) = setup();
        let other = tmp.path().join("other");
        std::fs::create_dir(&other).unwrap();
        git(&other, &["init", "-q"]);
        let err = ensure(&repo, &other, "dev").unwrap_err();
        assert!(err.to_string().contains("another repository"), "{err}");
    }

    #[test]
    fn empty_folder_accepted() {
        let (tmp, repo) = setup();
        let dest = tmp.path().join("wt-dev");
        std::fs::create_dir(&dest).unwrap();
        let wt = ensure(&repo, &dest, "dev").unwrap();
        assert_eq!(wt.strategy, Strategy::AgentBranch);
    }

    #[test]
    fn repo_itself_refused() {
        let (_tmp, repo) = setup();
        let err = ensure(&repo, &repo, "dev").unwrap_err();
        assert!(matches!(err, WorktreeError::DestIsRepo { .. }), "{err:?}");
    }

    #[test]
    fn invalid_role_refused() {
        let (tmp, repo) = setup();
        let err = ensure(&repo, &tmp.path().join("x"), "a..b").unwrap_err();
        assert!(matches!(err, WorktreeError::InvalidRole { .. }), "{err:?}");
    }

    #[test]
    fn check_repo_reports_state() {
        let (_tmp, repo) = setup();
        let info = check_repo(&repo).unwrap();
        assert_eq!(info.branch.as_deref(), Some("main"));
        assert_eq!(info.head, head(&repo));
        assert_eq!(info.dirty_files, 0);
        assert!(same_path(&info.root, &repo));

        std::fs::write(repo.join("a.txt"), "changed\n").unwrap();
        std::fs::create_dir(repo.join("new")).unwrap();
        std::fs::write(repo.join("new/b.txt"), "b").unwrap();
        std::fs::write(repo.join("new/c.txt"), "c").unwrap();
        std::fs::write(repo.join(".gitignore"), "ignored.txt\n").unwrap();
        std::fs::write(repo.join("ignored.txt"), "x").unwrap();
        // a.txt, new/b.txt, new/c.txt, .gitignore
        assert_eq!(check_repo(&repo).unwrap().dirty_files, 4);

        git(&repo, &["checkout", "-q", "--detach"]);
        assert_eq!(check_repo(&repo).unwrap().branch, None);
    }

    #[test]
    fn check_repo_errors() {
        let tmp = tempfile::tempdir().unwrap();

        let missing = tmp.path().join("missing");
        let err = check_repo(&missing).unwrap_err();
        assert!(matches!(err, WorktreeError::RepoMissing { .. }), "{err:?}");

        let plain = tmp.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        let err = check_repo(&plain).unwrap_err();
        assert!(matches!(err, WorktreeError::NotARepo { .. }), "{err:?}");
        assert!(err
            .to_string()
            .contains("run `git init` there yourself, orc does not"));

        let bare = tmp.path().join("bare.git");
        std::fs::create_dir(&bare).unwrap();
        git(&bare, &["init", "-q", "--bare"]);
        let err = check_repo(&bare).unwrap_err();
        assert!(matches!(err, WorktreeError::Bare { .. }), "{err:?}");

        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        git(&empty, &["init", "-q"]);
        let err = check_repo(&empty).unwrap_err();
        assert!(matches!(err, WorktreeError::NoCommits { .. }), "{err:?}");
        assert!(err.to_string().contains("make a first commit"));
        let err = ensure(&empty, &tmp.path().join("wt"), "dev").unwrap_err();
        assert!(matches!(err, WorktreeError::NoCommits { .. }), "{err:?}");

        let (_t, repo) = setup();
        let sub = repo.join("sub");
        std::fs::create_dir(&sub).unwrap();
        let err = check_repo(&sub).unwrap_err();
        assert!(matches!(err, WorktreeError::NotTopLevel { .. }), "{err:?}");
    }

    #[test]
    fn remove_deletes_worktree() {
        let (tmp, repo) = setup();
        let dest = tmp.path().join("wt-dev");
        ensure(&repo, &dest, "dev").unwrap();
        std::fs::write(dest.join("dirty.txt"), "x").unwrap();
        remove(&repo, &dest).unwrap();
        assert!(!dest.exists());
        assert_eq!(worktree_paths(&repo).len(), 1);
        // Branch kept: the agent's work is still there to merge.
        assert!(git(&repo, &["branch", "--list", "main-dev"]).contains("main-dev"));

        // Already gone: nothing to do but prune.
        let dest2 = tmp.path().join("wt-qa");
        ensure(&repo, &dest2, "qa").unwrap();
        std::fs::remove_dir_all(&dest2).unwrap();
        remove(&repo, &dest2).unwrap();
        assert_eq!(worktree_paths(&repo).len(), 1);

        // Not a worktree: git's reason in the error.
        let plain = tmp.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        let err = remove(&repo, &plain).unwrap_err();
        assert!(matches!(err, WorktreeError::GitFailed { .. }), "{err:?}");
        assert!(err.to_string().contains("is not a working tree"), "{err}");
    }

    #[test]
    fn checked_out_sees_main_and_linked_worktrees() {
        let (tmp, repo) = setup();
        let other = tmp.path().join("other");
        git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "topic",
                other.to_str().unwrap(),
            ],
        );
        git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "--detach",
                tmp.path().join("d").to_str().unwrap(),
            ],
        );
        let r = open(&repo).unwrap();
        let mut found: Vec<(String, bool)> = checked_out(&r)
            .into_iter()
            .map(|(b, p)| {
                let at = if b.ends_with("main") { &repo } else { &other };
                (b, same_path(&p, at))
            })
            .collect();
        found.sort();
        assert_eq!(
            found,
            vec![
                ("refs/heads/main".into(), true),
                ("refs/heads/topic".into(), true)
            ]
        );
        // The same answer from inside the linked worktree.
        let r = open(&other).unwrap();
        assert_eq!(checked_out(&r).len(), 2);
    }

    #[test]
    fn serde_names() {
        assert_eq!(
            serde_json::to_string(&Strategy::AgentBranchReused).unwrap(),
            "\"agent_branch_reused\""
        );
        let wt = Worktree {
            path: "/x".into(),
            branch: None,
            parent_branch: "main".into(),
            strategy: Strategy::Detached,
            head: "abc".into(),
        };
        let back: Worktree = serde_json::from_str(&serde_json::to_string(&wt).unwrap()).unwrap();
        assert_eq!(back, wt);
    }
}
