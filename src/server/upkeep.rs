//! The loop of the server's upkeep tasks (invitation expiry, file retention): a job
//! run at a steady pace until shutdown, on every node (each job is idempotent).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// How often a job that enforces a lifetime of `span` runs: twice per `span`, between
/// every 100 ms and once a minute.
pub(crate) fn twice_per(span: Duration) -> Duration {
    (span / 2).clamp(Duration::from_millis(100), Duration::from_secs(60))
}

/// Runs `job` every `period` (the first time at once) until `shutdown` turns true; a
/// late run delays the next ones rather than bunching them.
pub(crate) async fn every<F, Fut>(period: Duration, mut shutdown: watch::Receiver<bool>, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        job().await;
    }
}
