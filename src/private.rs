//! Private by default. The supervisor runs with umask 077; orc's state
//! (agent table with `--env` values, queues, logs, transcripts) is 0700/0600,
//! and existing files are tightened on start. The runtime dir (socket, pid
//! file) is made with `mkdir` 0700 and checked with `lstat`: a symlink, a dir
//! of another user, or one open to group/other is refused, never repaired.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// The umask orc was started with (`u32::MAX`: not changed).
static ORIGINAL: AtomicU32 = AtomicU32::new(u32::MAX);

/// Set umask 077 for this process; remember the old one for the programs
/// orc starts for the user (the tmux server, and through it the agents).
pub fn private_umask() {
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let _ = ORIGINAL.compare_exchange(u32::MAX, old.bits(), Ordering::SeqCst, Ordering::SeqCst);
}

/// The umask to give programs started for the user, if orc changed its own.
pub fn user_umask() -> Option<u32> {
    match ORIGINAL.load(Ordering::SeqCst) {
        u32::MAX => None,
        m => Some(m),
    }
}

/// Create `dir` (and missing parents) with mode 0700.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Make the runtime dir, or check the one there: it must be a real dir (not
/// a symlink), ours, and closed to group and other.
pub fn runtime_dir(dir: &Path) -> Result<(), String> {
    if let Some(parent) = dir.parent() {
        if !parent.exists() {
            create_dir(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(format!(
                "cannot create the runtime dir {}: {e}",
                dir.display()
            ))
        }
    }
    check_runtime_dir(dir)
}

/// The `lstat` checks of [`runtime_dir`], without creating anything.
pub fn check_runtime_dir(dir: &Path) -> Result<(), String> {
    let fix =
        "remove it (or point ORC_HOME / XDG_RUNTIME_DIR at a folder of yours) and start orc again";
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot inspect the runtime dir {}: {e}", dir.display()))?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "the runtime dir {} is a symlink (to {}); orc refuses to put its socket through a link someone may have planted: {fix}",
            dir.display(),
            std::fs::read_link(dir).map(|t| t.display().to_string()).unwrap_or_else(|_| "?".into())
        ));
    }
    if !meta.is_dir() {
        return Err(format!(
            "the runtime dir {} is not a directory: {fix}",
            dir.display()
        ));
    }
    let me = nix::unistd::getuid().as_raw();
    if meta.uid() != me {
        return Err(format!(
            "the runtime dir {} belongs to uid {}, not to you (uid {me}): {fix}",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "the runtime dir {} has mode {:o}, open to other users: `chmod 700 {}` (or remove it) and start orc again",
            dir.display(),
            meta.mode() & 0o777,
            dir.display()
        ));
    }
    Ok(())
}

/// Tighten everything under `root` to 0700 (dirs) and 0600 (files), without
/// following symlinks. Returns how many entries were changed.
pub fn tighten(root: &Path) -> usize {
    fn walk(p: &Path, n: &mut usize) {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            return;
        };
        if meta.file_type().is_symlink() {
            return;
        }
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 || (meta.is_dir() && mode & 0o700 != 0o700) {
            let new = if meta.is_dir() { want } else { mode & 0o700 };
            if std::fs::set_permissions(p, std::fs::Permissions::from_mode(new)).is_ok() {
                *n += 1;
            }
        }
        if meta.is_dir() {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(&e.path(), n);
                }
            }
        }
    }
    let mut n = 0;
    walk(root, &mut n);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_dir_refuses_links_and_open_modes() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        runtime_dir(&run).unwrap();
        assert_eq!(std::fs::metadata(&run).unwrap().mode() & 0o777, 0o700);
        runtime_dir(&run).unwrap(); // again: fine
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = runtime_dir(&run).unwrap_err();
        assert!(e.contains("mode 755") && e.contains("chmod 700"), "{e}");
        let target = d.path().join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = d.path().join("run2");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = runtime_dir(&link).unwrap_err();
        assert!(e.contains("is a symlink") && e.contains("run2"), "{e}");
        // the link's target was not touched
        assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o777, 0o755);
    }

    #[test]
    fn tighten_closes_group_and_other() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("state");
        std::fs::create_dir_all(s.join("queues")).unwrap();
        std::fs::write(s.join("agents.json"), "{}").unwrap();
        std::fs::write(s.join("queues/a.jsonl"), "").unwrap();
        for (p, m) in [(&s, 0o755), (&s.join("queues"), 0o755)] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        }
        std::fs::set_permissions(
            s.join("agents.json"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        assert!(tighten(&s) >= 3);
        assert_eq!(std::fs::metadata(&s).unwrap().mode() & 0o777, 0o700);
        assert_eq!(
            std::fs::metadata(s.join("agents.json")).unwrap().mode() & 0o777,
            0o600
        );
        assert_eq!(tighten(&s), 0, "said once");
    }
}
