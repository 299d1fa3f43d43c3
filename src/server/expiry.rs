//! Withdraws invitations older than [`crate::net::Limits::invitation_lifetime`], with
//! their queued Welcomes: once a minute (or twice per lifetime, if that is shorter),
//! on every node (deleting is idempotent).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::server::handler::{blocking, invitation_quota};
use crate::server::Shared;

/// How often expired invitations are looked for, at most.
const EVERY: Duration = Duration::from_secs(60);

/// Runs until `shutdown` turns true.
pub(crate) async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let every = (shared.limits.invitation_lifetime / 2).clamp(Duration::from_millis(100), EVERY);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let now = chrono::Utc::now().timestamp_millis();
        let before = invitation_quota(&shared.limits, now).expired_before_ms;
        match blocking(&shared.store, move |s| s.expire_invitations(before)).await {
            Ok(expired) => {
                for (room, user) in expired {
                    tracing::info!(room, user, "invitation expired");
                }
            }
            Err(refusal) => tracing::warn!(%refusal, "expiring invitations failed"),
        }
    }
}
