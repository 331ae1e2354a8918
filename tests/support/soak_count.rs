//! The soak harness's counting at the API stand-in (`benches/soak.rs`), pure
//! so that `cargo test` checks it (`tests/soak_count.rs`).
//!
//! Every text the harness sends carries a token (`SOAKID-m0042`; a check-in
//! job's note carries `SOAKCHK-<agent>`). Claude Code sends the whole
//! conversation with every request and joins prompts queued while it was busy
//! into one user message, so a token is counted by how often it occurs in
//! the user messages of one request: when that number first exceeds the
//! highest seen in this conversation, the difference arrived now. A resend of
//! the conversation, a retry of the same request, or a refused prompt joined
//! to the next one adds nothing; a text typed twice occurs twice. A refused
//! (429) request counts nothing: its texts count when a request carrying them
//! is accepted. A token first seen in a refused request that follows another
//! refused request was typed into an agent already limited.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

/// One agent turn as the stand-in saw it.
#[derive(Clone, Debug)]
pub struct Turn {
    /// Seconds since the start of the run.
    pub at: f64,
    /// The text of every `role: user` message of the request, in order
    /// (text blocks only; tool results and injected reminders left out).
    pub user_texts: Vec<String>,
    /// The stand-in answered it (not refused with a 429).
    pub accepted: bool,
}

/// Tokens in `text`: `SOAKID-` + a letter + digits, `SOAKCHK-` + a name.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in ["SOAKID-", "SOAKCHK-"] {
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            let tail = &rest[i + prefix.len()..];
            let n = tail
                .char_indices()
                .find(|(_, c)| !(c.is_ascii_alphanumeric()))
                .map(|(j, _)| j)
                .unwrap_or(tail.len());
            if n > 0 {
                out.push(format!("{prefix}{}", &tail[..n]));
            }
            rest = &tail[n..];
        }
    }
    out
}

#[derive(Default, Debug)]
struct AgentCount {
    /// Highest occurrence count of each token in the current conversation.
    high: BTreeMap<String, usize>,
    /// Tokens seen in any request (accepted or not).
    seen: BTreeSet<String>,
    /// The agent's last request was refused.
    refused: bool,
}

/// Arrivals per agent and token; see the module comment.
#[derive(Default, Debug)]
pub struct Counter {
    agents: BTreeMap<String, AgentCount>,
    /// (agent, token) -> the times it reached the model.
    pub arrivals: BTreeMap<(String, String), Vec<f64>>,
    /// (agent, token, at): first seen in a refused request after a refusal.
    pub typed_while_limited: Vec<(String, String, f64)>,
    /// (agent, at): a request carried none of the tokens of the conversation
    /// before it (a new conversation; counting starts again).
    pub new_conversations: Vec<(String, f64)>,
}

impl Counter {
    /// Take one turn of `agent`; returns the tokens that arrived with it.
    pub fn observe(&mut self, agent: &str, turn: &Turn) -> Vec<String> {
        let mut occ: BTreeMap<String, usize> = BTreeMap::new();
        for t in &turn.user_texts {
            for tok in tokens(t) {
                *occ.entry(tok).or_insert(0) += 1;
            }
        }
        let a = self.agents.entry(agent.to_string()).or_default();
        if !turn.accepted {
            for tok in occ.keys() {
                if a.seen.insert(tok.clone()) && a.refused {
                    self.typed_while_limited
                        .push((agent.to_string(), tok.clone(), turn.at));
                }
            }
            a.refused = true;
            return Vec::new();
        }
        a.refused = false;
        if !a.high.is_empty() && !occ.is_empty() && occ.keys().all(|t| !a.high.contains_key(t)) {
            a.high.clear();
            self.new_conversations.push((agent.to_string(), turn.at));
        }
        let mut arrived = Vec::new();
        for (tok, n) in occ {
            a.seen.insert(tok.clone());
            let h = a.high.entry(tok.clone()).or_insert(0);
            if n > *h {
                let times = self
                    .arrivals
                    .entry((agent.to_string(), tok.clone()))
                    .or_default();
                for _ in *h..n {
                    times.push(turn.at);
                }
                *h = n;
                arrived.push(tok);
            }
        }
        arrived
    }

    /// How often `token` reached `agent`'s model.
    pub fn count(&self, agent: &str, token: &str) -> usize {
        self.arrivals
            .get(&(agent.to_string(), token.to_string()))
            .map_or(0, Vec::len)
    }

    pub fn times(&self, agent: &str, token: &str) -> &[f64] {
        self.arrivals
            .get(&(agent.to_string(), token.to_string()))
            .map_or(&[], Vec::as_slice)
    }
}

/// Firings of a recurring job closer than half a period to the one before.
pub fn close_pairs(times: &[f64], period: f64) -> usize {
    let mut t = times.to_vec();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t.windows(2).filter(|w| w[1] - w[0] < period / 2.0).count()
}

/// Nearest-rank percentile (p in 0..=1).
pub fn pct(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Some(v[((v.len() as f64 - 1.0) * p).round() as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(at: f64, texts: &[&str], accepted: bool) -> Turn {
        Turn {
            at,
            user_texts: texts.iter().map(|s| s.to_string()).collect(),
            accepted,
        }
    }

    #[test]
    fn tokens_are_found_in_any_text() {
        assert_eq!(
            tokens("SOAKID-m0001 short\n\nSOAKID-r0002: ❯ x; SOAKCHK-a3 check-in"),
            vec!["SOAKID-m0001", "SOAKID-r0002", "SOAKCHK-a3"]
        );
        assert!(tokens("SOAKID- nothing").is_empty());
    }

    #[test]
    fn a_resent_conversation_counts_each_text_once() {
        let mut c = Counter::default();
        c.observe("a", &turn(1.0, &["SOAKID-m1 hi"], true));
        c.observe("a", &turn(2.0, &["SOAKID-m1 hi", "SOAKID-m2 next"], true));
        // the same request again (a retry after a dropped connection)
        c.observe("a", &turn(3.0, &["SOAKID-m1 hi", "SOAKID-m2 next"], true));
        assert_eq!(c.times("a", "SOAKID-m1"), &[1.0]);
        assert_eq!(c.times("a", "SOAKID-m2"), &[2.0]);
    }

    #[test]
    fn prompts_joined_while_busy_count_once_each() {
        let mut c = Counter::default();
        c.observe("a", &turn(1.0, &["SOAKID-m1 first"], true));
        // m2 and m3 were queued in the CLI while it was busy: one user
        // message, the earlier one with a trailing newline
        let got = c.observe(
            "a",
            &turn(
                2.0,
                &["SOAKID-m1 first", "SOAKID-m2 two\n\nSOAKID-m3 three"],
                true,
            ),
        );
        assert_eq!(got, vec!["SOAKID-m2", "SOAKID-m3"]);
        c.observe(
            "a",
            &turn(
                3.0,
                &["SOAKID-m1 first", "SOAKID-m2 two\n\nSOAKID-m3 three", "x"],
                true,
            ),
        );
        for t in ["SOAKID-m1", "SOAKID-m2", "SOAKID-m3"] {
            assert_eq!(c.count("a", t), 1, "{t}");
        }
    }

    #[test]
    fn a_refused_text_counts_when_it_is_accepted() {
        let mut c = Counter::default();
        c.observe("a", &turn(1.0, &["SOAKID-m1 ok"], true));
        // the limit: m2 refused, the CLI retries the same prompt, still refused
        c.observe(
            "a",
            &turn(2.0, &["SOAKID-m1 ok", "SOAKID-m2 refused"], false),
        );
        c.observe(
            "a",
            &turn(3.0, &["SOAKID-m1 ok", "SOAKID-m2 refused"], false),
        );
        assert_eq!(c.count("a", "SOAKID-m2"), 0, "not yet: it was refused");
        // after the reset the refused prompt goes again, joined to orc's resume
        c.observe(
            "a",
            &turn(
                9.0,
                &["SOAKID-m1 ok", "SOAKID-m2 refused\n\nresume, please"],
                true,
            ),
        );
        assert_eq!(c.times("a", "SOAKID-m2"), &[9.0]);
        assert!(
            c.typed_while_limited.is_empty(),
            "{:?}",
            c.typed_while_limited
        );
    }

    #[test]
    fn a_text_first_seen_by_a_limited_agent_was_typed_into_it() {
        let mut c = Counter::default();
        c.observe("a", &turn(1.0, &["SOAKID-m1 refused"], false));
        c.observe(
            "a",
            &turn(
                2.0,
                &["SOAKID-m1 refused\n\nSOAKID-m2 typed into the limit"],
                false,
            ),
        );
        assert_eq!(
            c.typed_while_limited,
            vec![("a".to_string(), "SOAKID-m2".to_string(), 2.0)]
        );
        c.observe(
            "a",
            &turn(
                3.0,
                &["SOAKID-m1 refused\n\nSOAKID-m2 typed into the limit"],
                true,
            ),
        );
        assert_eq!(c.count("a", "SOAKID-m1"), 1);
        assert_eq!(c.count("a", "SOAKID-m2"), 1);
    }

    #[test]
    fn a_text_typed_twice_is_a_duplicate() {
        let mut c = Counter::default();
        c.observe("a", &turn(1.0, &["SOAKID-m1 x"], true));
        c.observe("a", &turn(2.0, &["SOAKID-m1 x", "SOAKID-m1 x"], true));
        assert_eq!(c.times("a", "SOAKID-m1"), &[1.0, 2.0]);
        // twice inside one joined prompt as well
        c.observe("b", &turn(1.0, &["SOAKID-m2 y\n\nSOAKID-m2 y"], true));
        assert_eq!(c.count("b", "SOAKID-m2"), 2);
    }

    #[test]
    fn recurring_check_ins_count_per_firing() {
        let mut c = Counter::default();
        let n = "SOAKCHK-a check in";
        c.observe("a", &turn(10.0, &[n], true));
        c.observe("a", &turn(20.0, &[n, "SOAKID-m1"], true));
        c.observe("a", &turn(30.0, &[n, "SOAKID-m1", n], true));
        c.observe("a", &turn(31.0, &[n, "SOAKID-m1", n, n], true));
        assert_eq!(c.times("a", "SOAKCHK-a"), &[10.0, 30.0, 31.0]);
        assert_eq!(close_pairs(c.times("a", "SOAKCHK-a"), 20.0), 1);
    }

    #[test]
    fn a_fresh_conversation_starts_counting_again() {
        let mut c = Counter::default();
        c.observe("a", &turn(1.0, &["SOAKID-m1"], true));
        c.observe("a", &turn(2.0, &["SOAKID-m2"], true));
        assert_eq!(c.new_conversations, vec![("a".to_string(), 2.0)]);
        c.observe("a", &turn(3.0, &["SOAKID-m2", "SOAKID-m1"], true));
        assert_eq!(c.count("a", "SOAKID-m1"), 2, "typed again into the new one");
    }
}
