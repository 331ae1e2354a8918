//! Dependency manifests (package.json, Cargo.toml, ...) and docker-compose
//! files, read without full parsers where a few lines do.

use std::collections::HashSet;

use super::evidence::*;
use super::scan::Scan;
use super::{DATA, IAC, SYS, WEB};

/// Dependency names in a package.json (dependencies, devDependencies,
/// peerDependencies).
pub(super) fn npm_deps(c: &str) -> HashSet<String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(c) else {
        return HashSet::new();
    };
    ["dependencies", "devDependencies", "peerDependencies"]
        .iter()
        .filter_map(|k| v.get(k).and_then(|d| d.as_object()))
        .flat_map(|o| o.keys().cloned())
        .collect()
}

/// Dependency names in a Cargo.toml (`[*dependencies]`, also under
/// `[workspace]` and `[target.'cfg(...)']`).
pub(super) fn cargo_deps(c: &str) -> HashSet<String> {
    fn collect(t: &toml::Table, out: &mut HashSet<String>) {
        for (k, v) in t {
            let Some(v) = v.as_table() else { continue };
            if k.ends_with("dependencies") {
                out.extend(v.keys().cloned());
            } else if k == "workspace" {
                collect(v, out);
            } else if k == "target" {
                for cfg in v.values().filter_map(|x| x.as_table()) {
                    collect(cfg, out);
                }
            }
        }
    }
    let mut out = HashSet::new();
    if let Ok(t) = c.parse::<toml::Table>() {
        collect(&t, &mut out);
    }
    out
}

/// The services of a docker-compose file and their images, read line by line
/// (no YAML parser): the keys one level under the top-level `services:`.
pub(super) fn compose_services(c: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut in_services = false;
    let mut svc_indent = None;
    for line in c.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            in_services = trimmed == "services:";
            continue;
        }
        if !in_services {
            continue;
        }
        let si = *svc_indent.get_or_insert(indent);
        if indent == si {
            if let Some(name) = trimmed.strip_suffix(':') {
                out.push((name.trim_matches(['"', '\'']).to_string(), None));
            }
        } else if indent > si {
            if let (Some(img), Some(last)) = (trimmed.strip_prefix("image:"), out.last_mut()) {
                last.1 = Some(img.trim().trim_matches(['"', '\'']).to_string());
            }
        }
    }
    out
}

impl Scan {
    /// Dependency manifests and project files: the stack they name, the
    /// frameworks and database libraries they list.
    pub(super) fn manifest(&mut self, rel: &str, lower: &str, c: &str) {
        match lower {
            "package.json" => {
                self.hit("manifest:npm", Some(WEB), 1, format!("{rel} (Node.js)"));
                let deps = npm_deps(c);
                let found: Vec<&Lib> = NPM_LIBS.iter().filter(|l| deps.contains(l.0)).collect();
                self.libs(rel, &found);
            }
            "requirements.txt" | "pyproject.toml" | "pipfile" | "setup.py" | "setup.cfg" => {
                self.hit("manifest:py", Some(WEB), 1, format!("{rel} (Python)"));
                let tokens: Vec<String> = c
                    .split(|ch: char| !(ch.is_ascii_alphanumeric() || "-_.[".contains(ch)))
                    .map(|t| t.to_lowercase().replace('_', "-"))
                    .collect();
                let found: Vec<&Lib> = PY_LIBS
                    .iter()
                    .filter(|l| tokens.iter().any(|t| py_token_matches(t, l.0)))
                    .collect();
                self.libs(rel, &found);
            }
            "gemfile" => {
                self.hit("manifest:gem", Some(WEB), 1, format!("{rel} (Ruby)"));
                let gems: HashSet<&str> = c
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("gem "))
                    .filter_map(|l| {
                        l.trim()
                            .trim_start_matches(['\'', '"'])
                            .split(['\'', '"'])
                            .next()
                    })
                    .collect();
                let found: Vec<&Lib> = GEMS.iter().filter(|l| gems.contains(l.0)).collect();
                self.libs(rel, &found);
            }
            "go.mod" => {
                self.hit("manifest:go", Some(WEB), 1, format!("{rel} (Go)"));
                let found: Vec<&Lib> = GO_MODS.iter().filter(|l| c.contains(l.0)).collect();
                self.libs(rel, &found);
            }
            "cargo.toml" => {
                self.hit("manifest:cargo", Some(WEB), 1, format!("{rel} (Rust)"));
                let deps = cargo_deps(c);
                let found: Vec<&Lib> = CRATES.iter().filter(|l| deps.contains(l.0)).collect();
                self.libs(rel, &found);
            }
            "manage.py" if c.contains("django") => {
                self.hit("django:manage", Some(WEB), 2, format!("{rel} (Django)"));
            }
            "schema.prisma" => self.database("prisma", format!("Prisma schema {rel}")),
            "dbt_project.yml" => {
                self.hit("dbt", Some(DATA), 6, format!("dbt project {rel}"));
                self.has_database = true;
            }
            "pulumi.yaml" | "pulumi.yml" => {
                self.hit("pulumi", Some(IAC), 6, format!("Pulumi project {rel}"));
            }
            "cdk.json" => self.hit("cdk", Some(IAC), 5, format!("AWS CDK app {rel}")),
            "terragrunt.hcl" => self.hit(
                "terragrunt",
                Some(IAC),
                3,
                format!("Terragrunt config {rel}"),
            ),
            "ansible.cfg" => self.hit("ansible.cfg", Some(SYS), 4, format!("Ansible config {rel}")),
            "inventory" | "inventory.ini" | "hosts.ini" => self.hit(
                "inventory",
                Some(SYS),
                1,
                format!("Ansible inventory {rel}"),
            ),
            "chart.yaml" if c.contains("apiVersion") => {
                self.hit("helm", Some(SYS), 3, format!("Helm chart {rel}"))
            }
            _ => {}
        }
    }
}
