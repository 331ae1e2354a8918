//! The durable scheduler: check-ins that fire through the message queue.
//!
//! Jobs live in `<state>/schedule.json` (rewritten atomically on every
//! change); what happened to them goes to `<state>/schedule.jsonl`. Due times
//! are wall-clock instants, read from a [`Clock`], and the actor never sleeps
//! longer than [`MAX_NAP`] so that a clock moved forward or back is noticed.
//!
//! Exactly once: each firing carries a key `sched:<job>:<n>`; the agent's queue
//! refuses a key it has seen and a second pending message of the same job, so
//! a crash between queueing and saving the job, or a recurring job whose last
//! check-in is still waiting, never gives two.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
#[cfg(test)]
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};

pub use crate::proto::Job;
use crate::state::{append_jsonl, write_atomic};

/// The longest the actor sleeps before it looks at the clock again.
pub const MAX_NAP: Duration = Duration::from_secs(30);
/// The longest interval or delay a job may have.
pub const MAX_SECS: u64 = 30 * 24 * 3600;
/// After a failed firing (the hub did not answer), try again this much later.
pub const RETRY: Duration = Duration::from_secs(30);

/// Where "now" comes from. Tests drive a clock tied to tokio's paused time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A wall clock that follows tokio's (possibly paused) time from a fixed
/// start, and can be moved by hand to imitate a system clock jump.
#[cfg(test)]
pub struct TokioClock {
    start: DateTime<Utc>,
    origin: tokio::time::Instant,
    jump: Mutex<chrono::Duration>,
}

#[cfg(test)]
impl TokioClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            start,
            origin: tokio::time::Instant::now(),
            jump: Mutex::new(chrono::Duration::zero()),
        }
    }
    /// Move the wall clock by `by` (negative: back) without time passing.
    pub fn jump(&self, by: chrono::Duration) {
        *self.jump.lock().unwrap() += by;
    }
}

#[cfg(test)]
impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let passed = chrono::Duration::from_std(self.origin.elapsed()).unwrap_or_default();
        self.start + passed + *self.jump.lock().unwrap()
    }
}

/// A request for a new job, checked by [`Schedule::add`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobSpec {
    pub to: String,
    pub from: String,
    pub note: String,
    /// First firing.
    pub at: DateTime<Utc>,
    pub every: Option<u64>,
    pub origin: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    next_id: u64,
    jobs: Vec<Job>,
}

/// The job table and its rules, without any I/O of time or tmux.
#[derive(Debug, Default)]
pub struct Schedule {
    next_id: u64,
    pub jobs: Vec<Job>,
}

impl Schedule {
    pub fn add(&mut self, spec: JobSpec, now: DateTime<Utc>) -> Result<Job, String> {
        if spec.note.trim().is_empty() {
            return Err("the note is empty: say what the check-in should tell the agent".into());
        }
        if let Some(e) = spec.every {
            if e == 0 || e > MAX_SECS {
                return Err(format!(
                    "the interval must be more than 0 and at most 30 days (43200 minutes); got {} minutes",
                    e as f64 / 60.0
                ));
            }
        }
        if spec.at > now + chrono::Duration::seconds(MAX_SECS as i64) {
            return Err(format!(
                "{} is more than 30 days away; schedule something nearer",
                spec.at.to_rfc3339()
            ));
        }
        if let Some(origin) = &spec.origin {
            if let Some(j) = self.jobs.iter().find(|j| j.origin.as_ref() == Some(origin)) {
                return Ok(j.clone());
            }
        }
        self.next_id += 1;
        let job = Job {
            id: format!("s{}", self.next_id),
            to: spec.to,
            from: spec.from,
            note: spec.note,
            every: spec.every,
            next: spec.at,
            deferred_until: None,
            deferred_why: None,
            created: now,
            fired: 0,
            last_fired: None,
            origin: spec.origin,
        };
        self.jobs.push(job.clone());
        Ok(job)
    }

    pub fn cancel(&mut self, id: &str) -> Option<Job> {
        let i = self.jobs.iter().position(|j| j.id == id)?;
        Some(self.jobs.remove(i))
    }

    /// Jobs due at `now`, oldest first.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut due: Vec<&Job> = self.jobs.iter().filter(|j| j.due_at() <= now).collect();
        due.sort_by_key(|j| j.due_at());
        due.into_iter().map(|j| j.id.clone()).collect()
    }

    /// The job fired at `now`: a one-shot is done; a recurring one moves to
    /// its first period boundary after `now`, however many it missed.
    pub fn fired(&mut self, id: &str, now: DateTime<Utc>) -> Option<Job> {
        let i = self.jobs.iter().position(|j| j.id == id)?;
        let j = &mut self.jobs[i];
        j.fired += 1;
        j.last_fired = Some(now);
        j.deferred_until = None;
        j.deferred_why = None;
        match j.every {
            None => Some(self.jobs.remove(i)),
            Some(every) => {
                let step = chrono::Duration::seconds(every as i64);
                if j.next <= now {
                    let behind = (now - j.next).num_seconds().max(0) / every as i64 + 1;
                    j.next += step * behind as i32;
                }
                // A late firing (held for a limit, or after downtime) counts
                // as the period it lands in: the next boundary is skipped
                // when it is less than half a period away, so a deferred
                // check-in is not followed seconds later by the regular one.
                if j.next - now < step / 2 {
                    j.next += step;
                }
                Some(j.clone())
            }
        }
    }

    pub fn defer(&mut self, id: &str, until: DateTime<Utc>, why: String) {
        if let Some(j) = self.jobs.iter_mut().find(|j| j.id == id) {
            j.deferred_until = Some(until);
            j.deferred_why = Some(why);
        }
    }

    /// After the wall clock moved back: a recurring job never waits more than
    /// one period, a deferral never more than [`MAX_SECS`].
    pub fn normalize(&mut self, now: DateTime<Utc>) -> Vec<String> {
        let mut moved = Vec::new();
        for j in &mut self.jobs {
            if let Some(every) = j.every {
                let step = chrono::Duration::seconds(every as i64);
                if j.next > now + step {
                    j.next = now + step;
                    moved.push(j.id.clone());
                }
            }
        }
        moved
    }

    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.jobs.iter().map(|j| j.due_at()).min()
    }

    /// Read the job file. A file that does not parse is moved aside (its new
    /// name is returned in the note) and the schedule starts empty; a job
    /// that does not parse is dropped and named, the rest kept.
    pub fn load(path: &std::path::Path) -> (Schedule, Vec<String>) {
        let mut notes = Vec::new();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (Schedule::default(), notes)
            }
            Err(e) => {
                notes.push(format!(
                    "cannot read {}: {e}; starting with no jobs",
                    path.display()
                ));
                return (Schedule::default(), notes);
            }
        };
        let aside = |notes: &mut Vec<String>, why: String| {
            let bad = path.with_extension(format!(
                "json.corrupt-{}",
                Utc::now().format("%Y%m%dT%H%M%S")
            ));
            let _ = std::fs::rename(path, &bad);
            notes.push(format!(
                "schedule file {} {why}; moved it to {} and kept what could be read",
                path.display(),
                bad.display()
            ));
        };
        let v: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                aside(&mut notes, format!("is not valid JSON ({e})"));
                return (Schedule::default(), notes);
            }
        };
        let mut s = Schedule {
            next_id: v.get("next_id").and_then(|n| n.as_u64()).unwrap_or(0),
            jobs: Vec::new(),
        };
        let mut dropped = Vec::new();
        for j in v
            .get("jobs")
            .and_then(|j| j.as_array())
            .cloned()
            .unwrap_or_default()
        {
            match serde_json::from_value::<Job>(j.clone()) {
                Ok(job) => s.jobs.push(job),
                Err(e) => dropped.push(format!(
                    "{} ({e})",
                    j.get("id").and_then(|i| i.as_str()).unwrap_or("?")
                )),
            }
        }
        if !dropped.is_empty() {
            aside(
                &mut notes,
                format!("had jobs that do not parse: {}", dropped.join(", ")),
            );
        }
        // Never hand out an id twice.
        for j in &s.jobs {
            if let Some(n) = j.id.strip_prefix('s').and_then(|n| n.parse::<u64>().ok()) {
                s.next_id = s.next_id.max(n);
            }
        }
        (s, notes)
    }

    pub fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        let f = File {
            next_id: self.next_id,
            jobs: self.jobs.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&f).map_err(std::io::Error::other)?;
        write_atomic(path, &bytes)
    }
}

/// What the hub did with a firing.
#[derive(Debug, Clone, PartialEq)]
pub enum FireOutcome {
    /// Queued for the agent as message `id`.
    Queued { id: String },
    /// The agent already has this check-in (same key, or the job's previous
    /// one still waiting): nothing new was queued.
    Duplicate { id: String },
    /// The agent is out of credits (or shares an account that is): try then.
    Deferred { until: DateTime<Utc>, why: String },
    /// The agent no longer exists: the job is dropped.
    Gone { why: String },
    /// Something failed on the way (the hub did not answer): retry later.
    Failed { why: String },
}

#[derive(Debug, Clone)]
pub struct Firing {
    pub job: String,
    pub to: String,
    pub from: String,
    pub note: String,
    pub key: String,
}

pub type FireFn =
    Arc<dyn Fn(Firing) -> Pin<Box<dyn Future<Output = FireOutcome> + Send>> + Send + Sync>;

pub enum SchedMsg {
    Add(JobSpec, RpcReplyPort<Result<Job, String>>),
    /// The jobs, and what loading the file had to say.
    List(RpcReplyPort<(Vec<Job>, Vec<String>)>),
    Cancel(String, RpcReplyPort<Result<Job, String>>),
    /// Drop every job aimed at an agent (it was killed).
    Forget(String),
    /// Look at the clock and fire what is due.
    Wake(u64),
}

pub struct SchedArgs {
    pub file: PathBuf,
    pub journal: PathBuf,
    pub clock: Arc<dyn Clock>,
    pub fire: FireFn,
}

pub struct SchedState {
    schedule: Schedule,
    file: PathBuf,
    journal: PathBuf,
    clock: Arc<dyn Clock>,
    fire: FireFn,
    /// Only the newest Wake timer counts.
    generation: u64,
    pub notes: Vec<String>,
}

#[derive(Serialize)]
struct Event<'a> {
    at: DateTime<Utc>,
    event: &'a str,
    job: &'a str,
    to: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl SchedState {
    fn log(&self, event: &str, job: &Job, detail: Option<String>) {
        let e = Event {
            at: self.clock.now(),
            event,
            job: &job.id,
            to: &job.to,
            detail,
        };
        if let Err(err) = append_jsonl(&self.journal, &e) {
            tracing::warn!(error = %err, "cannot write the schedule journal");
        }
    }

    fn save(&self) {
        if let Err(e) = self.schedule.save(&self.file) {
            tracing::error!(error = %e, file = %self.file.display(), "cannot save the schedule");
        }
    }

    fn arm(&mut self, myself: &ActorRef<SchedMsg>) {
        self.generation += 1;
        let Some(wake) = self.schedule.next_wake() else {
            return;
        };
        let now = self.clock.now();
        let wait = (wake - now).to_std().unwrap_or(Duration::ZERO).min(MAX_NAP);
        let g = self.generation;
        myself.send_after(wait, move || SchedMsg::Wake(g));
    }

    async fn run_due(&mut self) {
        let now = self.clock.now();
        for id in self.schedule.normalize(now) {
            if let Some(j) = self.schedule.jobs.iter().find(|j| j.id == id).cloned() {
                self.log(
                    "clock-moved-back",
                    &j,
                    Some(format!("next at {}", j.next.to_rfc3339())),
                );
            }
        }
        for id in self.schedule.due(now) {
            let Some(job) = self.schedule.jobs.iter().find(|j| j.id == id).cloned() else {
                continue;
            };
            let firing = Firing {
                job: job.id.clone(),
                to: job.to.clone(),
                from: job.from.clone(),
                note: job.note.clone(),
                key: job.key(),
            };
            let outcome = (self.fire)(firing).await;
            let now = self.clock.now();
            match outcome {
                FireOutcome::Queued { id } => {
                    self.schedule.fired(&job.id, now);
                    self.log("fired", &job, Some(id));
                }
                FireOutcome::Duplicate { id } => {
                    self.schedule.fired(&job.id, now);
                    self.log("skipped", &job, Some(format!("the agent still has {id}")));
                }
                FireOutcome::Deferred { until, why } => {
                    self.schedule.defer(&job.id, until, why.clone());
                    self.log(
                        "deferred",
                        &job,
                        Some(format!("until {}: {why}", until.to_rfc3339())),
                    );
                }
                FireOutcome::Gone { why } => {
                    self.schedule.cancel(&job.id);
                    self.log("dropped", &job, Some(why));
                }
                FireOutcome::Failed { why } => {
                    let until = now + chrono::Duration::from_std(RETRY).unwrap_or_default();
                    self.schedule.defer(&job.id, until, why.clone());
                    self.log("retry", &job, Some(why));
                }
            }
            self.save();
        }
    }
}

pub struct Scheduler;

impl Actor for Scheduler {
    type Msg = SchedMsg;
    type State = SchedState;
    type Arguments = SchedArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SchedMsg>,
        args: SchedArgs,
    ) -> Result<SchedState, ActorProcessingErr> {
        let (schedule, notes) = Schedule::load(&args.file);
        for n in &notes {
            tracing::error!("{n}");
        }
        let mut st = SchedState {
            schedule,
            file: args.file,
            journal: args.journal,
            clock: args.clock,
            fire: args.fire,
            generation: 0,
            notes,
        };
        // Jobs missed while the supervisor was down are due now: one firing
        // each, at the first wake.
        st.arm(&myself);
        Ok(st)
    }

    async fn handle(
        &self,
        myself: ActorRef<SchedMsg>,
        msg: SchedMsg,
        st: &mut SchedState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SchedMsg::Add(spec, reply) => st.add(&myself, spec, reply),
            SchedMsg::List(reply) => st.list(reply),
            SchedMsg::Cancel(id, reply) => st.cancel(&myself, &id, reply),
            SchedMsg::Forget(agent) => st.forget(&myself, &agent),
            SchedMsg::Wake(g) if g == st.generation => {
                st.run_due().await;
                st.arm(&myself);
            }
            SchedMsg::Wake(_) => {} // an older timer
        }
        Ok(())
    }
}

impl SchedState {
    /// `orc schedule`: a new job, saved and armed.
    fn add(
        &mut self,
        myself: &ActorRef<SchedMsg>,
        spec: JobSpec,
        reply: RpcReplyPort<Result<Job, String>>,
    ) {
        let now = self.clock.now();
        let r = self.schedule.add(spec, now);
        if let Ok(j) = &r {
            self.save();
            self.log("scheduled", j, Some(j.next.to_rfc3339()));
            self.arm(myself);
        }
        let _ = reply.send(r);
    }

    /// `orc schedule list`: the jobs, soonest first, with the notes.
    fn list(&self, reply: RpcReplyPort<(Vec<Job>, Vec<String>)>) {
        let mut jobs = self.schedule.jobs.clone();
        jobs.sort_by_key(|j| j.due_at());
        let _ = reply.send((jobs, self.notes.clone()));
    }

    /// `orc schedule cancel ID`.
    fn cancel(
        &mut self,
        myself: &ActorRef<SchedMsg>,
        id: &str,
        reply: RpcReplyPort<Result<Job, String>>,
    ) {
        let r = match self.schedule.cancel(id) {
            Some(j) => {
                self.save();
                self.log("cancelled", &j, None);
                self.arm(myself);
                Ok(j)
            }
            None => Err(format!(
                "no scheduled job with id `{id}` (it may have fired or been cancelled); `orc schedule list` shows the current ones"
            )),
        };
        let _ = reply.send(r);
    }

    /// An agent was removed: its jobs go with it.
    fn forget(&mut self, myself: &ActorRef<SchedMsg>, agent: &str) {
        let gone: Vec<Job> = self
            .schedule
            .jobs
            .iter()
            .filter(|j| j.to == agent)
            .cloned()
            .collect();
        for j in gone {
            self.schedule.cancel(&j.id);
            self.log("dropped", &j, Some(format!("agent {agent} was removed")));
        }
        self.save();
        self.arm(myself);
    }
}

#[cfg(test)]
mod tests;
