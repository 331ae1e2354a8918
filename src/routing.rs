//! Hub-and-spoke routing policy: who may message whom directly, what happens
//! to a message outside the policy, and which messages the hub gets a copy of.
//! Pure: the orchestrator applies the decision and journals it.

use serde::{Deserialize, Serialize};

/// What to do with a message the policy does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outside {
    /// Deliver it to the hub instead, with a header naming both ends.
    Reroute,
    /// Refuse it.
    Reject,
    /// Deliver it anyway (still logged as a violation).
    Allow,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// The hub's role.
    pub hub: String,
    pub outside: Outside,
    /// Pairs of roles that may talk directly, both ways (`*` is any role).
    pub allow: Vec<(String, String)>,
    /// Roles that may talk to anyone in their own project.
    pub team_leads: Vec<String>,
    /// Words that get the hub a copy of a message (whole words, any case).
    pub critical: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            hub: "orchestrator".into(),
            outside: Outside::Reroute,
            allow: vec![
                ("orchestrator".into(), "*".into()),
                ("developer".into(), "tester".into()),
            ],
            team_leads: vec!["project_manager".into()],
            critical: ["complete", "done", "deploy", "fail", "error", "blocked"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// The sender name on the messages orc writes itself; no agent may take it.
pub const SYSTEM_SENDER: &str = "orc";

/// One end of a message, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End<'a> {
    pub name: &'a str,
    pub role: Option<&'a str>,
    pub project: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Deliver,
    /// Outside the policy: deliver to this hub agent instead.
    Reroute {
        hub: String,
    },
    Reject(String),
    /// Outside the policy but allowed by config.
    DeliverViolation,
}

impl Policy {
    fn pair_allowed(&self, a: &str, b: &str) -> bool {
        let m = |p: &str, r: &str| p == "*" || p == r;
        self.allow
            .iter()
            .any(|(x, y)| (m(x, a) && m(y, b)) || (m(x, b) && m(y, a)))
    }

    /// May `from` message `to` directly? People and scripts (no role) may
    /// message anyone; so may anyone message them.
    pub fn allowed(&self, from: &End, to: &End) -> bool {
        let (Some(fr), Some(tr)) = (from.role, to.role) else {
            return true;
        };
        if fr == self.hub || tr == self.hub || self.pair_allowed(fr, tr) {
            return true;
        }
        let same_project = from.project == to.project;
        same_project
            && (self.team_leads.iter().any(|l| l == fr) || self.team_leads.iter().any(|l| l == tr))
    }

    /// Decide; `hubs` are the agents with the hub role, `(name, project)`.
    pub fn decide(&self, from: &End, to: &End, hubs: &[(&str, Option<&str>)]) -> Decision {
        if self.allowed(from, to) {
            return Decision::Deliver;
        }
        match self.outside {
            Outside::Allow => Decision::DeliverViolation,
            Outside::Reject => Decision::Reject(format!(
                "the routing policy does not let {} ({}) message {} ({}) directly; send it to the {}",
                from.name,
                from.role.unwrap_or("-"),
                to.name,
                to.role.unwrap_or("-"),
                self.hub
            )),
            Outside::Reroute => match pick_hub(hubs, from.project) {
                Some(h) => Decision::Reroute { hub: h.to_string() },
                None => Decision::DeliverViolation,
            },
        }
    }

    /// The hub to copy this message to, if it carries a critical word and
    /// neither end is a hub already. What orc itself writes (briefings,
    /// check-ins, reminders) is not team traffic and is never copied.
    pub fn copy_to<'h>(
        &self,
        from: &End,
        to: &End,
        text: &str,
        hubs: &[(&'h str, Option<&str>)],
    ) -> Option<&'h str> {
        if from.role == Some(self.hub.as_str()) || to.role == Some(self.hub.as_str()) {
            return None;
        }
        if from.name == SYSTEM_SENDER && from.role.is_none() {
            return None;
        }
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).collect();
        let hit = self.critical.iter().any(|k| {
            let k = k.to_lowercase();
            words
                .iter()
                .any(|w| *w == k || (w.starts_with(&k) && w.len() <= k.len() + 3))
        });
        if !hit {
            return None;
        }
        pick_hub(hubs, to.project.or(from.project))
    }
}

/// A hub in the same project if there is one, else any.
fn pick_hub<'h>(hubs: &[(&'h str, Option<&str>)], project: Option<&str>) -> Option<&'h str> {
    hubs.iter()
        .find(|(_, p)| *p == project)
        .or_else(|| hubs.first())
        .map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e<'a>(name: &'a str, role: &'a str) -> End<'a> {
        End {
            name,
            role: Some(role),
            project: Some("p"),
        }
    }

    #[test]
    fn default_policy() {
        let p = Policy::default();
        let hubs = [("boss", Some("p"))];
        assert_eq!(
            p.decide(&e("d", "developer"), &e("o", "orchestrator"), &hubs),
            Decision::Deliver
        );
        assert_eq!(
            p.decide(&e("o", "orchestrator"), &e("x", "devops"), &hubs),
            Decision::Deliver
        );
        assert_eq!(
            p.decide(&e("m", "project_manager"), &e("x", "devops"), &hubs),
            Decision::Deliver
        );
        assert_eq!(
            p.decide(&e("d", "developer"), &e("t", "tester"), &hubs),
            Decision::Deliver
        );
        assert_eq!(
            p.decide(&e("t", "tester"), &e("d", "developer"), &hubs),
            Decision::Deliver
        );
        assert_eq!(
            p.decide(&e("d", "developer"), &e("x", "devops"), &hubs),
            Decision::Reroute { hub: "boss".into() }
        );
        // a project manager leads only its own project
        let other = End {
            name: "x",
            role: Some("devops"),
            project: Some("q"),
        };
        assert_eq!(
            p.decide(&e("m", "project_manager"), &other, &hubs),
            Decision::Reroute { hub: "boss".into() }
        );
        // people and scripts may message anyone
        let user = End {
            name: "user",
            role: None,
            project: None,
        };
        assert_eq!(p.decide(&user, &e("x", "devops"), &hubs), Decision::Deliver);
        // no hub to reroute to: delivered, as a violation
        assert_eq!(
            p.decide(&e("d", "developer"), &e("x", "devops"), &[]),
            Decision::DeliverViolation
        );
        let reject = Policy {
            outside: Outside::Reject,
            ..Policy::default()
        };
        assert!(matches!(
            reject.decide(&e("d", "developer"), &e("x", "devops"), &hubs),
            Decision::Reject(_)
        ));
    }

    #[test]
    fn critical_words_copy_to_the_hub() {
        let p = Policy::default();
        let hubs = [("boss", Some("p"))];
        let (x, m) = (e("x", "devops"), e("m", "project_manager"));
        assert_eq!(
            p.copy_to(&x, &m, "Deployment complete.", &hubs),
            Some("boss")
        );
        assert_eq!(
            p.copy_to(&x, &m, "tests FAILED on main", &hubs),
            Some("boss")
        );
        assert_eq!(
            p.copy_to(&x, &m, "I'm blocked on review", &hubs),
            Some("boss")
        );
        let system = End {
            name: SYSTEM_SENDER,
            role: None,
            project: None,
        };
        assert_eq!(
            p.copy_to(&system, &m, "Report when done; say if blocked.", &hubs),
            None,
            "orc's own briefings are not team traffic"
        );
        assert_eq!(
            p.copy_to(&x, &m, "looking at the donut shop", &hubs),
            None,
            "whole words, not substrings"
        );
        assert_eq!(
            p.copy_to(&x, &e("o", "orchestrator"), "done", &hubs),
            None,
            "the hub has it already"
        );
    }
}
