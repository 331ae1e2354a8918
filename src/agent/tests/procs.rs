//! The pane's process family: ended with the pane on a restart or a kill,
//! and at adoption when the pane is dead or gone; a fresh marker per launch.

use std::sync::Mutex;

use super::{start, Setup, H};
use crate::agent::AgentMsg;
use crate::procs::{Ended, Family, ProcFuture, ProcOps};

/// Records every family it is asked to end; says it ended one process.
#[derive(Default)]
pub(super) struct RecProcs {
    pub ended: Mutex<Vec<Family>>,
    /// Say a process was spared (shared with another).
    pub spare: Mutex<bool>,
}

impl ProcOps for RecProcs {
    fn end<'a>(&'a self, fam: &'a Family) -> ProcFuture<'a> {
        self.ended.lock().unwrap().push(fam.clone());
        let spare = *self.spare.lock().unwrap();
        Box::pin(async move {
            Ended {
                termed: vec![4242],
                spared: if spare { vec![4343] } else { Vec::new() },
                ..Default::default()
            }
        })
    }
}

impl H {
    fn ended(&self) -> Vec<Family> {
        self.procs.ended.lock().unwrap().clone()
    }
    fn launch(&self) -> Option<String> {
        self.last_update_with(|r| r.launch)
    }
}

#[tokio::test(start_paused = true)]
async fn a_restart_ends_the_old_launchs_family_and_marks_the_new_one_afresh() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    // A new agent had no launch before: nothing to end.
    assert!(h.ended().is_empty(), "{:?}", h.ended());
    let first = h.launch().expect("the launch's marker is in the record");
    assert_eq!(first.len(), 32);
    h.actor.cast(AgentMsg::Respawn { manual: true }).unwrap();
    h.wait(3.0).await;
    assert_eq!(
        h.ended(),
        vec![Family {
            nonce: first.clone(),
            leader: Some(1001),
            ..Default::default()
        }]
    );
    let second = h.launch().unwrap();
    assert_ne!(second, first, "each launch has its own marker");
    assert!(h.log().contains(&"processes-ended".into()), "{:?}", h.log());
}

#[tokio::test(start_paused = true)]
async fn kill_ends_the_family_too() {
    let h = start(Setup::default()).await;
    h.wait(3.0).await;
    let nonce = h.launch().unwrap();
    h.actor.call(AgentMsg::Kill, None).await.unwrap().unwrap();
    assert_eq!(h.ended().len(), 1);
    assert_eq!(h.ended()[0].nonce, nonce);
}

#[tokio::test(start_paused = true)]
async fn adoption_ends_the_orphans_of_a_pane_that_is_gone_or_dead() {
    let gone = start(Setup {
        record: Box::new(|r| {
            r.pane = Some("%9".into());
            r.pid = Some(777);
            r.launch = Some("0f".repeat(16));
        }),
        ..Default::default()
    })
    .await;
    gone.wait(1.0).await;
    assert_eq!(
        gone.ended().first(),
        Some(&Family {
            nonce: "0f".repeat(16),
            leader: Some(777),
            ..Default::default()
        })
    );
    assert!(
        gone.log().contains(&"orphans-ended".into()),
        "{:?}",
        gone.log()
    );

    let dead = start(Setup {
        existing: Some(true),
        record: Box::new(|r| r.launch = Some("1e".repeat(16))),
        ..Default::default()
    })
    .await;
    dead.wait(1.0).await;
    assert_eq!(
        dead.ended().first().map(|f| f.nonce.clone()),
        Some("1e".repeat(16))
    );

    // A live pane is adopted as it is: nothing ended.
    let live = start(Setup {
        existing: Some(false),
        record: Box::new(|r| r.launch = Some("2d".repeat(16))),
        ..Default::default()
    })
    .await;
    live.wait(1.0).await;
    assert!(live.ended().is_empty(), "{:?}", live.ended());
}

#[tokio::test(start_paused = true)]
async fn a_spared_launch_is_looked_for_again_by_the_next_end() {
    let home = tempfile::tempdir().unwrap();
    let h2 = home.path().display().to_string();
    let h = start(Setup {
        record: Box::new(move |r| {
            r.detector = "codex".into();
            r.env.insert("CODEX_HOME".into(), h2);
        }),
        ..Default::default()
    })
    .await;
    h.wait(2.0).await;
    let first = h.launch().unwrap();
    *h.procs.spare.lock().unwrap() = true;
    h.actor.cast(AgentMsg::Respawn { manual: true }).unwrap();
    h.wait(2.0).await;
    let shared = Some(format!("CODEX_HOME={}", home.path().display()));
    assert_eq!(
        h.ended()[0].shared,
        shared,
        "a Codex agent's home is what its daemon serves"
    );
    let kept = h.last_update_with(|r| Some(r.spared_launches)).unwrap();
    assert_eq!(kept, vec![first.clone()]);
    *h.procs.spare.lock().unwrap() = false;
    h.actor.call(AgentMsg::Kill, None).await.unwrap().unwrap();
    assert_eq!(
        h.ended()[1].older,
        vec![first],
        "the spared launch is looked for again"
    );
}
