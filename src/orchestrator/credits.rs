//! The credit ledger: usage-limit events from agents, `orc credits`, and what
//! to do when an agent's context runs low.

use std::collections::BTreeMap;

use chrono::Utc;
use ractor::RpcReplyPort;

use super::OrchState;
use crate::proto::Response;

impl OrchState {
    pub(super) fn save_ledger(&self) {
        crate::changes::bump();
        if let Err(e) = self.ledger.save(&self.paths.state.join("credits.json")) {
            tracing::error!(error = %e, "cannot save the credit ledger");
        }
    }

    fn accounts(&self) -> BTreeMap<String, Option<String>> {
        self.agents
            .iter()
            .map(|(n, e)| (n.clone(), e.record.account.clone()))
            .collect()
    }

    /// From an agent: a usage-limit event.
    pub(super) fn credit(&mut self, name: &str, event: crate::proto::CreditEvent) {
        let accounts = self.accounts();
        let marked = self.ledger.apply(name, event, &accounts);
        for (other, until) in marked {
            tracing::info!(agent = %other, %until, "at risk: an agent on the same account is limited");
        }
        self.save_ledger();
    }

    /// From an agent: usage windows its CLI logged, kept like the status
    /// line's (`orc credits`).
    pub(super) fn usage(&mut self, name: &str, report: &crate::proto::StatusReport) {
        if self.agents.contains_key(name) && self.ledger.note_usage(name, report, Utc::now()) {
            self.save_ledger();
        }
    }

    /// `orc credits`.
    pub(super) fn credits(&self, reply: RpcReplyPort<Response>) {
        let now = Utc::now();
        let rows = self
            .agents
            .iter()
            .map(|(n, e)| {
                let has_rules = crate::drivers::table_for(&e.record.detector).is_some();
                self.ledger.row(n, e.record.account.clone(), has_rules, now)
            })
            .collect();
        let _ = reply.send(Response::Credits { agents: rows });
    }

    /// From an agent: its context is running low.
    pub(super) fn context_low(&self, name: &str, left: u8) {
        if !self.agents.contains_key(name) {
            return;
        }
        let key = format!("context:{name}:{}", Utc::now().timestamp());
        match self.config.context.action {
            crate::config::ContextAction::None => {}
            crate::config::ContextAction::Compact => self.enqueue_from_orc(name, "/compact", &key),
            crate::config::ContextAction::Notify => self.tell_hubs(
                name,
                &format!("orc: {name} has {left}% context left before it compacts; consider a handover note or `/compact` when its task allows."),
                &key,
            ),
        }
    }
}
