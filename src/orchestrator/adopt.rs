//! What the hub does when it starts: load the agent table, read its side
//! files (commit rule, roles, credit ledger), find the panes tagged for
//! agents, adopt each agent's pane or put it in the restart line, note tagged
//! panes it does not know, and start the scheduler.

use std::collections::{BTreeMap, VecDeque};

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::{Entry, OrchArgs, OrchMsg, OrchState, CALL};
use crate::state::{self, AgentRecord};
use crate::tmux::session::{SessionMsg, TmuxHandle};

/// Panes carrying an agent tag: (pane, dead) by agent name.
pub(super) type Tagged = BTreeMap<String, Vec<(String, bool)>>;

/// The saved agent table; a corrupt one is reported and starts empty.
pub(super) fn load_table(
    paths: &crate::paths::Paths,
) -> Result<Vec<AgentRecord>, ActorProcessingErr> {
    match state::load(&paths.agents_file()) {
        Ok(s) => Ok(s.agents),
        Err(e @ state::StateError::Corrupt { .. }) => {
            tracing::error!("{e}");
            eprintln!("orc: {e}");
            Ok(Vec::new())
        }
        Err(e) => Err(e.into()),
    }
}

impl OrchState {
    /// The hub's state before any agent is adopted.
    pub(super) fn new(args: OrchArgs, session: ActorRef<SessionMsg>, handle: TmuxHandle) -> Self {
        OrchState {
            paths: args.paths,
            config: args.config,
            policy: args.policy,
            handle,
            session,
            agents: BTreeMap::new(),
            notes: Vec::new(),
            ledger: Default::default(),
            scheduler: None,
            sessions: BTreeMap::new(),
            roles: crate::team::roles::RoleSet::builtin(),
            git_rule: Default::default(),
            git_last: BTreeMap::new(),
            fleet: Default::default(),
        }
    }

    /// The commit rule's memory (and its timer), the role files, the ledger.
    pub(super) fn read_side_files(&mut self, myself: &ActorRef<OrchMsg>) {
        if let Ok(b) = std::fs::read(self.paths.state.join("gitmon.json")) {
            self.git_rule = serde_json::from_slice(&b).unwrap_or_default();
        }
        if !self.config.git.interval.is_zero() {
            myself.send_after(self.config.git.interval, || OrchMsg::GitTick);
        }
        let user_roles = self.paths.config_file.parent().map(|p| p.join("roles"));
        match crate::team::roles::RoleSet::load(user_roles.as_deref()) {
            Ok(r) => self.roles = r,
            Err(e) => {
                tracing::error!("{e}");
                self.notes.push(format!("role files: {e}"));
            }
        }
        let (ledger, note) = crate::credits::Ledger::load(&self.paths.state.join("credits.json"));
        self.ledger = ledger;
        if let Some(n) = note {
            tracing::error!("{n}");
            self.notes.push(n);
        }
    }

    /// Which panes carry an agent tag right now?
    pub(super) async fn tagged_panes(&self) -> Result<Tagged, ActorProcessingErr> {
        let mut tagged: Tagged = BTreeMap::new();
        for p in self.handle.tagged_panes().await? {
            tagged.entry(p.agent).or_default().push((p.pane, p.dead));
        }
        Ok(tagged)
    }

    /// Every agent of the table adopted (or in the restart line); tagged
    /// panes of agents orc does not know left alone, with a note.
    pub(super) async fn adopt_all(
        &mut self,
        myself: &ActorRef<OrchMsg>,
        loaded: Vec<AgentRecord>,
        mut tagged: Tagged,
    ) {
        for record in loaded {
            let mine = tagged.remove(&record.name).unwrap_or_default();
            self.adopt(myself, record, &mine).await;
        }
        for (name, panes) in tagged {
            for (pane, _) in panes {
                let note = format!(
                    "pane {pane} is tagged for agent `{name}`, which orc does not know; left alone"
                );
                tracing::warn!("{note}");
                self.notes.push(note);
            }
        }
        self.persist();
        self.pump_fleet(myself);
    }

    /// One agent of the table: its pane adopted, or a fresh start in line.
    async fn adopt(
        &mut self,
        myself: &ActorRef<OrchMsg>,
        mut record: AgentRecord,
        mine: &[(String, bool)],
    ) {
        let name = record.name.clone();
        // Prefer the pane the table names; else any live pane with the tag.
        let pane = mine
            .iter()
            .find(|(p, _)| Some(p) == record.pane.as_ref())
            .or_else(|| mine.iter().find(|(_, dead)| !dead))
            .map(|(p, _)| p.clone());
        let fresh = pane.is_none();
        record.pane = pane;
        let hold = fresh && !record.failed;
        if hold {
            // Not all at once (a tmux server death takes every pane):
            // the fleet line starts them one at a time.
            tracing::info!(agent = %name, "its pane is gone; it joins the restart line");
            self.fleet.ready(&name);
        }
        let actor = match self.start_agent(myself, record.clone(), hold, hold).await {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::error!(agent = %name, error = %e, "cannot start agent actor");
                None
            }
        };
        self.agents.insert(
            name,
            Entry {
                record,
                actor,
                history: VecDeque::new(),
                generation: 0,
            },
        );
    }

    /// The scheduler, and the check-ins the config gives the agents' roles.
    pub(super) async fn start_scheduler(
        &mut self,
        myself: &ActorRef<OrchMsg>,
    ) -> Result<(), ActorProcessingErr> {
        // The scheduler fires through this actor, which knows the agents'
        // credits and queues.
        let me = myself.clone();
        let fire: crate::scheduler::FireFn = std::sync::Arc::new(move |f| {
            let me = me.clone();
            Box::pin(async move {
                match me.call(|p| OrchMsg::Fire(f, p), Some(CALL * 2)).await {
                    Ok(ractor::rpc::CallResult::Success(o)) => o,
                    _ => crate::scheduler::FireOutcome::Failed {
                        why: "the orchestrator did not answer".into(),
                    },
                }
            })
        });
        let args = crate::scheduler::SchedArgs {
            file: self.paths.state.join("schedule.json"),
            journal: self.paths.state.join("schedule.jsonl"),
            clock: std::sync::Arc::new(crate::scheduler::SystemClock),
            fire,
        };
        let (sched, _) =
            Actor::spawn_linked(None, crate::scheduler::Scheduler, args, myself.get_cell()).await?;
        self.scheduler = Some(sched);
        for e in self.agents.values() {
            self.ensure_checkin(&e.record);
        }
        Ok(())
    }
}
