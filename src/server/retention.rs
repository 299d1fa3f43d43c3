//! Deletes files past [`crate::net::Limits::file_retention`], uploads abandoned for a
//! day, and files whose room has no member left: once a minute (or twice per
//! retention, if that is shorter), on every node (deleting is idempotent).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::server::handler::blocking;
use crate::server::store::Retention;
use crate::server::{upkeep, Shared};

/// An upload not complete after this long is abandoned (or after the retention, if
/// that is shorter).
const ABANDONED: Duration = Duration::from_secs(24 * 3600);

/// What is deleted at `now_ms` under a retention of `keep`.
fn retention(keep: Duration, now_ms: i64) -> Retention {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Retention {
        created_before_ms: now_ms.saturating_sub(ms(keep)),
        abandoned_before_ms: now_ms.saturating_sub(ms(keep.min(ABANDONED))),
    }
}

/// Runs until `shutdown` turns true.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: watch::Receiver<bool>) {
    let keep = shared.limits.file_retention;
    upkeep::every(upkeep::twice_per(keep), shutdown, || {
        let shared = shared.clone();
        async move {
            let due = retention(keep, chrono::Utc::now().timestamp_millis());
            match blocking(&shared.store, move |s| s.collect_blobs(&due)).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "files deleted (retention)"),
                Err(refusal) => tracing::warn!(%refusal, "deleting files past retention failed"),
            }
        }
    })
    .await
}
