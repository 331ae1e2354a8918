//! The scheduler on a paused tokio clock: time moves only when every task
//! waits, so hours pass in milliseconds and firings are exact.

use super::*;
use chrono::TimeZone;
use std::sync::Mutex as StdMutex;

type Log = Arc<StdMutex<Vec<(DateTime<Utc>, Firing)>>>;

/// What the fake hub answers, per target.
#[derive(Clone, Default)]
struct Hub {
    log: Log,
    /// target -> deferred until
    limited: Arc<StdMutex<std::collections::HashMap<String, DateTime<Utc>>>>,
    /// keys seen and a pending job, as the agent's queue keeps them
    seen: Arc<StdMutex<std::collections::HashSet<String>>>,
    pending_jobs: Arc<StdMutex<std::collections::HashSet<String>>>,
}

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

impl Hub {
    fn fire_fn(&self, clock: Arc<TokioClock>) -> FireFn {
        let hub = self.clone();
        Arc::new(move |f: Firing| {
            let hub = hub.clone();
            let clock = clock.clone();
            Box::pin(async move {
                let now = clock.now();
                if let Some(until) = hub.limited.lock().unwrap().get(&f.to) {
                    if *until > now {
                        return FireOutcome::Deferred {
                            until: *until,
                            why: "limited".into(),
                        };
                    }
                }
                if f.to == "gone" {
                    return FireOutcome::Gone {
                        why: "no such agent".into(),
                    };
                }
                if !hub.seen.lock().unwrap().insert(f.key.clone())
                    || !hub.pending_jobs.lock().unwrap().insert(f.job.clone())
                {
                    return FireOutcome::Duplicate { id: f.key.clone() };
                }
                hub.log.lock().unwrap().push((now, f.clone()));
                FireOutcome::Queued { id: f.key.clone() }
            })
        })
    }
    /// The agent took its pending check-ins.
    fn deliver_all(&self) {
        self.pending_jobs.lock().unwrap().clear();
    }
    fn fired(&self) -> Vec<(i64, String)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(at, f)| ((*at - start_time()).num_seconds(), f.job.clone()))
            .collect()
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    clock: Arc<TokioClock>,
    hub: Hub,
    actor: ActorRef<SchedMsg>,
}

async fn start(dir: tempfile::TempDir, clock: Arc<TokioClock>, hub: Hub) -> Fixture {
    let args = SchedArgs {
        file: dir.path().join("schedule.json"),
        journal: dir.path().join("schedule.jsonl"),
        clock: clock.clone(),
        fire: hub.fire_fn(clock.clone()),
    };
    let (actor, _) = Actor::spawn(None, Scheduler, args).await.unwrap();
    Fixture {
        dir,
        clock,
        hub,
        actor,
    }
}

async fn fixture() -> Fixture {
    start(
        tempfile::tempdir().unwrap(),
        Arc::new(TokioClock::new(start_time())),
        Hub::default(),
    )
    .await
}

impl Fixture {
    async fn add(&self, to: &str, in_secs: i64, every: Option<u64>) -> Job {
        let spec = JobSpec {
            to: to.into(),
            from: "user".into(),
            note: format!("check in, {to}"),
            at: self.clock.now() + chrono::Duration::seconds(in_secs),
            every,
            origin: None,
        };
        self.actor
            .call(|p| SchedMsg::Add(spec, p), None)
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    }
    async fn list(&self) -> Vec<Job> {
        self.actor
            .call(SchedMsg::List, None)
            .await
            .unwrap()
            .unwrap()
            .0
    }
    /// Stop the actor (a supervisor crash loses nothing that was saved) and
    /// start a new one on the same files.
    async fn restart(self) -> Fixture {
        self.actor.stop(None);
        tokio::time::sleep(Duration::from_millis(1)).await;
        start(self.dir, self.clock, self.hub).await
    }
}

async fn pass(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn one_shot_fires_once_at_its_time() {
    let f = fixture().await;
    let j = f.add("dev", 600, None).await;
    pass(599).await;
    assert!(f.hub.fired().is_empty(), "fired early: {:?}", f.hub.fired());
    pass(2).await;
    assert_eq!(f.hub.fired(), vec![(600, j.id.clone())]);
    pass(3600).await;
    assert_eq!(f.hub.fired().len(), 1);
    assert!(f.list().await.is_empty(), "a fired one-shot is gone");
}

#[tokio::test(start_paused = true)]
async fn recurring_fires_each_period_without_two_pending() {
    let f = fixture().await;
    let j = f.add("pm", 1500, Some(1500)).await;
    pass(1).await;
    for _ in 0..3 {
        pass(1500).await;
        f.hub.deliver_all();
    }
    let times: Vec<i64> = f.hub.fired().iter().map(|(t, _)| *t).collect();
    assert_eq!(times, vec![1500, 3000, 4500]);
    // The agent stops taking messages: the next firings find the last
    // check-in still pending and add nothing.
    pass(1500 * 3).await;
    assert_eq!(f.hub.fired().len(), 4, "{:?}", f.hub.fired());
    let job = f.list().await.into_iter().find(|x| x.id == j.id).unwrap();
    assert_eq!(job.fired, 6, "skipped firings still count as periods");
    assert_eq!((job.next - start_time()).num_seconds(), 10500);
}

#[tokio::test(start_paused = true)]
async fn restart_mid_interval_keeps_the_due_time() {
    let f = fixture().await;
    f.add("dev", 1800, Some(1800)).await;
    pass(1000).await;
    let f = f.restart().await;
    pass(799).await;
    assert!(f.hub.fired().is_empty());
    pass(2).await;
    assert_eq!(f.hub.fired().len(), 1);
    assert_eq!(f.hub.fired()[0].0, 1800);
}

#[tokio::test(start_paused = true)]
async fn missed_periods_collapse_into_one_firing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TokioClock::new(start_time()));
    let f = start(dir, clock, Hub::default()).await;
    f.add("dev", 600, Some(600)).await;
    // The supervisor is down for over an hour: six periods pass unseen.
    f.actor.stop(None);
    pass(3700).await;
    let f = start(f.dir, f.clock, f.hub).await;
    pass(1).await;
    assert_eq!(f.hub.fired().len(), 1, "{:?}", f.hub.fired());
    assert_eq!(f.hub.fired()[0].0, 3700);
    let job = &f.list().await[0];
    assert_eq!(
        (job.next - start_time()).num_seconds(),
        4200,
        "next period boundary after now"
    );
}

#[tokio::test(start_paused = true)]
async fn a_firing_lost_to_a_crash_is_not_repeated() {
    // The hub queued the check-in, then the supervisor died before the job
    // file was saved: the same key comes again and the queue refuses it.
    let f = fixture().await;
    let j = f.add("dev", 60, None).await;
    f.hub.seen.lock().unwrap().insert(j.key());
    pass(61).await;
    assert!(f.hub.fired().is_empty());
    assert!(f.list().await.is_empty(), "the one-shot counts as done");
}

#[tokio::test(start_paused = true)]
async fn check_in_for_a_limited_agent_waits_for_the_reset() {
    let f = fixture().await;
    let reset = start_time() + chrono::Duration::seconds(7200);
    f.hub.limited.lock().unwrap().insert("dev".into(), reset);
    f.add("dev", 600, None).await;
    pass(3600).await;
    assert!(f.hub.fired().is_empty());
    let job = &f.list().await[0];
    assert_eq!(job.deferred_until, Some(reset));
    pass(3601).await;
    assert_eq!(f.hub.fired().len(), 1);
    assert_eq!(f.hub.fired()[0].0, 7200);
}

#[tokio::test(start_paused = true)]
async fn clock_jumps_neither_double_fire_nor_lose_jobs() {
    let f = fixture().await;
    f.add("dev", 600, Some(600)).await;
    f.add("qa", 900, None).await;
    pass(601).await;
    f.hub.deliver_all();
    assert_eq!(f.hub.fired().len(), 1);
    // Back one hour: the recurring job must not wait an extra hour, nor fire again now.
    f.clock.jump(chrono::Duration::seconds(-3600));
    pass(30).await;
    assert_eq!(f.hub.fired().len(), 1);
    pass(600).await;
    f.hub.deliver_all();
    let n = f.hub.fired().len();
    assert!(
        n >= 2,
        "the recurring job fired within one period of the jump: {:?}",
        f.hub.fired()
    );
    // Forward three hours: each due job fires once.
    let before = f.hub.fired().len();
    f.clock.jump(chrono::Duration::seconds(3 * 3600));
    pass(31).await;
    let after = f.hub.fired();
    let new: Vec<&String> = after[before..].iter().map(|(_, j)| j).collect();
    assert_eq!(
        new.iter().filter(|j| j.as_str() == "s1").count(),
        1,
        "{after:?}"
    );
    assert_eq!(
        new.iter().filter(|j| j.as_str() == "s2").count(),
        1,
        "{after:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_for_a_removed_agent_is_dropped() {
    let f = fixture().await;
    f.add("gone", 10, Some(60)).await;
    pass(11).await;
    assert!(f.list().await.is_empty());
    let journal = std::fs::read_to_string(f.dir.path().join("schedule.jsonl")).unwrap();
    assert!(journal.contains("\"dropped\""), "{journal}");
}

#[test]
fn bad_specs_are_refused_with_reasons() {
    let mut s = Schedule::default();
    let now = start_time();
    let spec = |at: i64, every: Option<u64>, note: &str| JobSpec {
        to: "dev".into(),
        from: "user".into(),
        note: note.into(),
        at: now + chrono::Duration::seconds(at),
        every,
        origin: None,
    };
    assert!(s
        .add(spec(60, Some(0), "x"), now)
        .unwrap_err()
        .contains("interval"));
    assert!(s
        .add(spec(60, Some(MAX_SECS + 1), "x"), now)
        .unwrap_err()
        .contains("30 days"));
    assert!(s
        .add(spec(MAX_SECS as i64 + 60, None, "x"), now)
        .unwrap_err()
        .contains("30 days"));
    assert!(s
        .add(spec(60, None, "  "), now)
        .unwrap_err()
        .contains("note"));
    assert!(s.jobs.is_empty());
    // A config check-in is created once per origin.
    let mut a = spec(60, Some(600), "x");
    a.origin = Some("checkin:dev".into());
    let j1 = s.add(a.clone(), now).unwrap();
    let j2 = s.add(a, now).unwrap();
    assert_eq!(j1.id, j2.id);
    assert_eq!(s.jobs.len(), 1);
}

#[test]
fn corrupt_schedule_file_is_moved_aside_keeping_good_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("schedule.json");
    let mut s = Schedule::default();
    let now = start_time();
    s.add(
        JobSpec {
            to: "dev".into(),
            from: "user".into(),
            note: "hi".into(),
            at: now,
            every: None,
            origin: None,
        },
        now,
    )
    .unwrap();
    s.save(&p).unwrap();
    // Break one job by hand, keep the other.
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["jobs"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"id": "s9", "to": 5}));
    std::fs::write(&p, v.to_string()).unwrap();
    let (s2, notes) = Schedule::load(&p);
    assert_eq!(s2.jobs.len(), 1);
    assert!(notes[0].contains("s9"), "{notes:?}");
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
        .collect();
    assert_eq!(aside.len(), 1);
    // Ids continue after the highest one seen, including the broken one's counter.
    let mut s2 = s2;
    let j = s2
        .add(
            JobSpec {
                to: "dev".into(),
                from: "u".into(),
                note: "x".into(),
                at: now,
                every: None,
                origin: None,
            },
            now,
        )
        .unwrap();
    assert_ne!(j.id, "s1");
    // Not JSON at all.
    std::fs::write(&p, b"{{{").unwrap();
    let (s3, notes) = Schedule::load(&p);
    assert!(s3.jobs.is_empty());
    assert!(notes[0].contains("not valid JSON"), "{notes:?}");
}

#[tokio::test(start_paused = true)]
async fn a_check_in_held_for_a_limit_is_not_followed_at_once_by_the_next() {
    // The soak's duplicate: every 50 s, held for a limit, fired at the
    // resume and again 7 s later at the period boundary.
    let f = fixture().await;
    let reset = start_time() + chrono::Duration::seconds(643);
    f.hub.limited.lock().unwrap().insert("dev".into(), reset);
    f.add("dev", 50, Some(50)).await;
    pass(644).await;
    assert_eq!(f.hub.fired().len(), 1, "{:?}", f.hub.fired());
    assert_eq!(f.hub.fired()[0].0, 643, "at the resume");
    for _ in 0..4 {
        f.hub.deliver_all();
        pass(30).await;
    }
    let times: Vec<i64> = f.hub.fired().iter().map(|(t, _)| *t).collect();
    assert!(
        times.windows(2).all(|w| w[1] - w[0] >= 25),
        "no two within half a period: {times:?}"
    );
    // 650 is skipped (7 s after the held one); 700 and then every 50 s.
    assert_eq!(times, vec![643, 700, 750], "{times:?}");
}
