//! The walk over a project tree and its bounds (depth, file count, bytes read).

use std::collections::VecDeque;
use std::path::Path;

use super::scan::{Detection, Scan};

/// Directory names never descended into: VCS data, dependencies, build
/// output, test fixtures (which may hold whole sample projects).
/// Hidden directories (`.github`, `.terraform`, ...) are skipped as well.
const SKIP_DIRS: [&str; 11] = [
    "node_modules",
    "target",
    "vendor",
    "venv",
    "dist",
    "build",
    "__pycache__",
    "site-packages",
    "bower_components",
    // test data, not the project
    "fixtures",
    "testdata",
];
/// Directories deeper than this below the project root are not read.
pub const MAX_DEPTH: usize = 6;
/// The walk stops after this many files.
pub const MAX_FILES: u64 = 20_000;
/// Files larger than this are counted but not read.
pub(super) const READ_LIMIT: u64 = 512 * 1024;
/// Total bytes read per scan; past it, files are counted but not read.
pub(super) const READ_BUDGET: u64 = 64 * 1024 * 1024;

/// Scan a project tree and guess its type. Breadth first, so the top of a huge
/// repository is seen before the file bound is reached; never follows symlinks.
pub fn detect(project: &Path) -> Detection {
    let mut scan = Scan::default();
    let mut queue = VecDeque::from([(project.to_path_buf(), String::new(), 0usize)]);
    'walk: while let Some((dir, rel, depth)) = queue.pop_front() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let Ok(ft) = e.file_type() else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if ft.is_dir() {
                if name.starts_with('.') || SKIP_DIRS.contains(&name.as_str()) {
                    continue;
                }
                if depth >= MAX_DEPTH {
                    scan.truncated = true;
                    continue;
                }
                scan.dir(&child, &name);
                queue.push_back((e.path(), child, depth + 1));
            } else if ft.is_file() {
                if scan.files >= MAX_FILES {
                    scan.truncated = true;
                    break 'walk;
                }
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                scan.file(&e.path(), &child, &name, size);
            }
        }
    }
    scan.finish()
}
