//! A process-wide "something changed" signal for `orc top`'s watch stream:
//! actors bump it when an agent's state, queue or record changes; watchers
//! wake on it instead of polling.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::Notify;

static VERSION: AtomicU64 = AtomicU64::new(0);

fn notify() -> &'static Notify {
    static N: OnceLock<Notify> = OnceLock::new();
    N.get_or_init(Notify::new)
}

/// Something a watcher shows has changed.
pub fn bump() {
    VERSION.fetch_add(1, Ordering::SeqCst);
    notify().notify_waiters();
}

pub fn version() -> u64 {
    VERSION.load(Ordering::SeqCst)
}

/// Wait until the version moves past `seen`, or `at_most` passes. Returns the
/// version then.
pub async fn wait(seen: u64, at_most: Duration) -> u64 {
    let deadline = tokio::time::Instant::now() + at_most;
    loop {
        let n = notify().notified();
        tokio::pin!(n);
        n.as_mut().enable();
        let v = version();
        if v != seen {
            return v;
        }
        if tokio::time::timeout_at(deadline, n).await.is_err() {
            return version();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_wakes_on_a_bump_not_before() {
        let v = version();
        let t = tokio::spawn(async move { wait(v, Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The counter is global: another test running at the same time (an
        // agent actor changing state) may bump it. Waking is right then.
        if t.is_finished() {
            assert!(version() > v, "woke without a bump");
            return;
        }
        bump();
        let got = tokio::time::timeout(Duration::from_secs(2), t)
            .await
            .unwrap()
            .unwrap();
        assert!(got > v);
    }
}
