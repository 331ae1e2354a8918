//! The shape ARCHITECTURE.md promises, checked on the source tree: only
//! `src/tmux/` builds tmux command lines, no import cycle between top-level
//! modules, no function over 80 lines and no file over 800 lines (a file's
//! `#[cfg(test)] mod tests` and test-only files aside).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
}

/// The path under `src/`, with `/` separators.
fn rel(p: &Path) -> String {
    p.strip_prefix(src()).unwrap().display().to_string()
}

fn is_test_file(rel: &str) -> bool {
    rel.contains("/tests/") || rel.ends_with("/tests.rs") || rel.ends_with("_tests.rs")
}

/// The lines before a file's `#[cfg(test)] mod tests`.
fn code_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].starts_with("#[cfg(test)]") && w[1].starts_with("mod "))
        .unwrap_or(lines.len());
    lines[..end].to_vec()
}

#[test]
fn only_src_tmux_builds_tmux_command_lines() {
    const VERBS: &[&str] = &[
        "list-panes",
        "list-windows",
        "kill-pane",
        "kill-server",
        "capture-pane",
        "set-option",
        "new-window",
        "new-session",
        "send-keys",
        "set-buffer",
        "paste-buffer",
        "select-window",
        "attach-session",
        "has-session",
        "refresh-client",
        "display-message",
        "rename-window",
        "respawn-pane",
    ];
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut hits = Vec::new();
    for f in &files {
        let r = rel(f);
        if r.starts_with("tmux/") || is_test_file(&r) {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in code_lines(&text).iter().enumerate() {
            let quoted = VERBS.iter().any(|v| line.contains(&format!("\"{v}\"")));
            if quoted || line.contains("Command::new(\"tmux\")") {
                hits.push(format!("{r}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "tmux command lines outside src/tmux:\n{}",
        hits.join("\n")
    );
}

/// Top-level module -> the top-level modules it names as `crate::x`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let re = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let r = rel(f);
        if is_test_file(&r) {
            continue;
        }
        let top = r
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if top == "main" || top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let deps = graph.entry(top.clone()).or_default();
        for line in code_lines(&text) {
            for c in re.captures_iter(line) {
                if c[1] != top {
                    deps.insert(c[1].to_string());
                }
            }
        }
    }
    graph
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = module_graph();
    assert!(graph.contains_key("agent") && graph["agent"].contains("screen"));
    // Depth-first search; a module met again on the current path closes a cycle.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut c = path[i..].to_vec();
            c.push(m.to_string());
            cycles.push(c.join(" -> "));
            return;
        }
        if !done.insert(m.to_string()) {
            return;
        }
        path.push(m.to_string());
        for d in graph.get(m).into_iter().flatten() {
            if graph.contains_key(d) {
                visit(d, graph, path, done, cycles);
            }
        }
        path.pop();
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

/// A function's length: from its `fn` line to the line with its closing
/// brace at the same indentation.
fn long_functions(r: &str, lines: &[&str], limit: usize, out: &mut Vec<String>) {
    let re = regex::Regex::new(r"^(\s*)(pub(\([^)]*\))? )?(const )?(async )?(unsafe )?fn (\w+)")
        .unwrap();
    for (i, line) in lines.iter().enumerate() {
        let Some(c) = re.captures(line) else { continue };
        if line.trim_end().ends_with(';') {
            continue; // a declaration in a trait
        }
        let close = format!("{}}}", &c[1]);
        let end = lines[i + 1..]
            .iter()
            .position(|l| l.trim_end() == close)
            .map_or(lines.len(), |p| i + 1 + p);
        let len = end - i + 1;
        if len > limit {
            out.push(format!("{r}:{} fn {} is {len} lines", i + 1, &c[7]));
        }
    }
}

#[test]
fn functions_and_files_stay_small() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut over = Vec::new();
    for f in &files {
        let r = rel(f);
        if is_test_file(&r) {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let code = code_lines(&text);
        if code.len() > 800 {
            over.push(format!("{r} has {} lines besides its tests", code.len()));
        }
        long_functions(&r, &code, 80, &mut over);
    }
    assert!(over.is_empty(), "over the limits:\n{}", over.join("\n"));
}

#[test]
fn the_checks_above_can_fail() {
    // A long function and a cycle, made up here, are caught.
    let lines: Vec<String> = std::iter::once("fn long() {".to_string())
        .chain((0..85).map(|i| format!("    let x{i} = {i};")))
        .chain(std::iter::once("}".to_string()))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    long_functions("made_up.rs", &refs, 80, &mut out);
    assert_eq!(out, vec!["made_up.rs:1 fn long is 87 lines"]);
    assert_eq!(
        code_lines("a\n#[cfg(test)]\nmod tests {\n}\n"),
        vec!["a"],
        "tests are not counted"
    );
}
