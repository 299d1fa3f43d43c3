//! Withdraws invitations older than [`crate::net::Limits::invitation_lifetime`], with
//! their queued Welcomes: once a minute (or twice per lifetime, if that is shorter),
//! on every node (deleting is idempotent).

use std::sync::Arc;

use tokio::sync::watch;

use crate::server::handler::{blocking, invitation_quota};
use crate::server::{upkeep, Shared};

/// Runs until `shutdown` turns true.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: watch::Receiver<bool>) {
    let period = upkeep::twice_per(shared.limits.invitation_lifetime);
    upkeep::every(period, shutdown, || {
        let shared = shared.clone();
        async move {
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
    })
    .await
}
