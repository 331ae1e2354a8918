//! Team templates: which roles a kind of project gets, parsed from
//! `roles/teams/*.toml` and checked.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use super::scan::Detection;
use super::{check_role, HUB, TEAM_FILES};
use crate::routing::Policy;

/// When a conditional role joins a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// `database`: the project has a database.
    Database,
    /// `production`: the project deploys to production.
    Production,
    /// `services >= N` (or `services > N-1`).
    ServicesAtLeast(u32),
}

impl Condition {
    pub fn holds(&self, d: &Detection) -> bool {
        match *self {
            Condition::Database => d.has_database,
            Condition::Production => d.production,
            Condition::ServicesAtLeast(n) => d.service_count >= n,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Database => f.write_str("database"),
            Condition::Production => f.write_str("production"),
            Condition::ServicesAtLeast(n) => write!(f, "services >= {n}"),
        }
    }
}

impl FromStr for Condition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        match t {
            "database" => return Ok(Condition::Database),
            "production" => return Ok(Condition::Production),
            _ => {}
        }
        let bad = || {
            format!(
                "unknown condition {s:?}; valid: \"database\", \"production\", \"services >= N\""
            )
        };
        let rest = t.strip_prefix("services").ok_or_else(bad)?.trim_start();
        let (strict, n) = if let Some(n) = rest.strip_prefix(">=") {
            (false, n)
        } else if let Some(n) = rest.strip_prefix('>') {
            (true, n)
        } else {
            return Err(bad());
        };
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        Ok(Condition::ServicesAtLeast(if strict { n + 1 } else { n }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conditional {
    pub role: String,
    pub condition: Condition,
}

/// A team template: which roles a kind of project gets, in priority order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub description: String,
    /// Always on the team (plan permitting); the first is the orchestrator.
    pub core: Vec<String>,
    /// Taken from the front as the project's size allows.
    pub optional: Vec<String>,
    /// Joins when its condition holds; ranked after the core roles.
    pub conditional: Vec<Conditional>,
    /// role → the roles it cannot work without.
    pub dependencies: BTreeMap<String, Vec<String>>,
    /// The team's routing policy.
    pub routing: Policy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    name: String,
    description: String,
    core: Vec<String>,
    #[serde(default)]
    optional: Vec<String>,
    #[serde(default)]
    conditional: Vec<RawConditional>,
    #[serde(default)]
    dependencies: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    routing: Policy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConditional {
    role: String,
    condition: String,
}

impl Template {
    /// Parse and check a template file; `stem` is its file name without `.toml`.
    pub fn parse(stem: &str, src: &str) -> Result<Template, String> {
        let raw: RawTemplate =
            toml::from_str(src).map_err(|e| format!("team template {stem}: {e}"))?;
        let err = |m: String| format!("team template {stem}: {m}");
        if raw.name != stem {
            return Err(err(format!(
                "name {:?} does not match the file name",
                raw.name
            )));
        }
        if raw.core.first().map(String::as_str) != Some(HUB) {
            return Err(err(format!("the first core role must be {HUB}")));
        }
        let mut seen = HashSet::new();
        for r in raw.core.iter().chain(&raw.optional) {
            check_role(r).map_err(err)?;
            if !seen.insert(r) {
                return Err(err(format!("role {r} is listed twice")));
            }
        }
        let mut conditional = Vec::new();
        for c in raw.conditional {
            check_role(&c.role).map_err(err)?;
            let condition = c.condition.parse().map_err(err)?;
            conditional.push(Conditional {
                role: c.role,
                condition,
            });
        }
        for (r, deps) in &raw.dependencies {
            check_role(r).map_err(err)?;
            for d in deps {
                check_role(d).map_err(err)?;
                if d == r {
                    return Err(err(format!("{r} depends on itself")));
                }
            }
        }
        check_role(&raw.routing.hub).map_err(err)?;
        for (a, b) in &raw.routing.allow {
            for r in [a, b] {
                if r != "*" {
                    check_role(r).map_err(err)?;
                }
            }
        }
        Ok(Template {
            name: raw.name,
            description: raw.description,
            core: raw.core,
            optional: raw.optional,
            conditional,
            dependencies: raw.dependencies,
            routing: raw.routing,
        })
    }

    /// `role` and everything it needs, transitively; needs come first.
    pub(super) fn with_needs(&self, role: &str) -> Vec<String> {
        fn visit(t: &Template, r: &str, path: &mut Vec<String>, out: &mut Vec<String>) {
            // `path` ends a dependency cycle instead of looping.
            if out.iter().chain(path.iter()).any(|o| o == r) {
                return;
            }
            path.push(r.to_string());
            for d in t.dependencies.get(r).into_iter().flatten() {
                visit(t, d, path, out);
            }
            path.pop();
            out.push(r.to_string());
        }
        let mut out = Vec::new();
        visit(self, role, &mut Vec::new(), &mut out);
        out
    }
}

/// The built-in templates (`roles/teams/*.toml`), by name.
pub fn templates() -> Vec<Template> {
    TEAM_FILES
        .iter()
        .filter_map(|(stem, src)| match Template::parse(stem, src) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!("{e}");
                None
            }
        })
        .collect()
}

/// A built-in template by name.
pub fn template(name: &str) -> Result<Template, String> {
    let all = templates();
    let valid: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
    let msg = format!(
        "unknown team template {name:?}; valid templates: {}",
        valid.join(", ")
    );
    all.iter().find(|t| t.name == name).cloned().ok_or(msg)
}
