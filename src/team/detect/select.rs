//! Choosing a team's roles under a plan's cap, and explaining the choice.

use super::scan::Detection;
use super::size::{PlanTier, Size};
use super::template::Template;
use super::{check_role, HUB};

/// The roles chosen for a team and why others are not on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// In priority order, the orchestrator first; a role's dependencies come
    /// before it.
    pub roles: Vec<String>,
    /// (role, why) for every wanted role that did not make it.
    pub dropped: Vec<(String, String)>,
    /// Roles on the team only because another role needs them.
    pub added_for_dependencies: Vec<String>,
}

/// Choose a team's roles.
///
/// Wanted roles, in priority order: the orchestrator; then either exactly
/// `only`, or the template's core roles, then `add`, then the conditional
/// roles whose condition holds, then as many optional roles as `size` allows
/// (`add` is appended to `only` too). Every role must be one of [`ROLES`].
///
/// Then, in that order, each role joins together with the roles it needs
/// (from the template's `[dependencies]`, placed just before it) if they all
/// fit under the plan's cap; otherwise it is dropped, and so are the needs it
/// alone brought. So a role never stays without its dependencies, the lowest
/// priority roles go first (optional from the end, then core from the end),
/// and the orchestrator always stays.
pub fn select_roles(
    t: &Template,
    d: &Detection,
    size: Size,
    plan: PlanTier,
    only: Option<&[String]>,
    add: &[String],
) -> Result<Selection, String> {
    for r in only.into_iter().flatten().chain(add) {
        check_role(r)?;
    }
    let mut wanted: Vec<String> = vec![HUB.to_string()];
    let mut want = |r: &str| {
        if !wanted.iter().any(|w| w == r) {
            wanted.push(r.to_string());
        }
    };
    match only {
        Some(only) => only.iter().chain(add).for_each(|r| want(r)),
        None => {
            t.core.iter().chain(add).for_each(|r| want(r));
            t.conditional
                .iter()
                .filter(|c| c.condition.holds(d))
                .for_each(|c| want(&c.role));
            t.optional
                .iter()
                .take(size.optional_roles())
                .for_each(|r| want(r));
        }
    }

    let cap = plan.cap();
    let mut sel = Selection::default();
    for role in &wanted {
        if sel.roles.contains(role) {
            continue;
        }
        let group: Vec<String> = t
            .with_needs(role)
            .into_iter()
            .filter(|r| !sel.roles.contains(r))
            .collect();
        if role == HUB || sel.roles.len() + group.len() <= cap {
            for r in group {
                sel.dropped.retain(|(d, _)| *d != r);
                if !wanted.contains(&r) {
                    sel.added_for_dependencies.push(r.clone());
                }
                sel.roles.push(r);
            }
            continue;
        }
        let limit = format!("plan {plan} allows {cap} agents");
        let needs: Vec<&String> = group.iter().filter(|r| *r != role).collect();
        let why = if needs.is_empty() {
            limit.clone()
        } else {
            let names: Vec<&str> = needs.iter().map(|s| s.as_str()).collect();
            format!("needs {}, which was dropped: {limit}", names.join(", "))
        };
        if !sel.dropped.iter().any(|(d, _)| d == role) {
            sel.dropped.push((role.clone(), why));
        }
        for n in needs {
            if !wanted.contains(n) && !sel.dropped.iter().any(|(d, _)| d == n) {
                sel.dropped
                    .push((n.clone(), format!("{limit} (needed by {role})")));
            }
        }
    }
    Ok(sel)
}

/// A few lines for the user: the team, what was added and what was dropped.
pub fn explain(s: &Selection) -> String {
    let mut out = format!("team ({}): {}\n", s.roles.len(), s.roles.join(", "));
    for r in &s.added_for_dependencies {
        out.push_str(&format!("added {r}: another role on the team needs it\n"));
    }
    for (r, why) in &s.dropped {
        out.push_str(&format!("dropped {r}: {why}\n"));
    }
    out
}
