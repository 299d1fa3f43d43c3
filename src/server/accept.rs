//! The server's connections: [`run`] accepts them until the shutdown, each admitted
//! one served by a task of its own ([`super::session::serve`]), then drains them.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::admission;
use super::session::ConnectionSlot;
use super::{hub, session, Shared, DRAIN_TIMEOUT};

/// Serves `listener` until `shutdown` says so: each connection admitted (within the
/// server's limits, see [`accept_loop`]) is served by a task of its own. Then closes
/// every session and waits for the connections to end, up to [`DRAIN_TIMEOUT`]; what
/// they had sent for storage is in the committer's queue by then.
pub(crate) async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    accept_loop(listener, shared.clone(), shutdown).await;
    shared.hub.close_all();
    // Woken by each connection that ends (no polling), up to the deadline.
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    loop {
        let ended = shared.ended.notified();
        if shared.connections.load(Ordering::Acquire) == 0 {
            break;
        }
        if tokio::time::timeout_at(deadline, ended).await.is_err() {
            break;
        }
    }
}

/// Accepts connections until `shutdown`: a full server, or an address that holds its
/// share, makes room by evicting the oldest connection still in its handshake, or
/// refuses the newcomer.
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = hub::until_closed(&mut shutdown) => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a little, never spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        shared.metrics.accepted.inc();
        let from = admission::address_key(peer.ip());
        let (slot, count, from_here) = ConnectionSlot::take(&shared, from);
        // A full server, or an address that holds its share, makes room by closing the
        // oldest connection still in its handshake (of that address, for the latter):
        // bare sockets never keep a client that can prove who it is out. Only
        // connections past their Hello are never closed for a newcomer.
        let admitted = (count <= shared.limits.max_connections
            || shared.admission.evict_oldest(None, "the server is full"))
            && (from_here <= shared.limits.max_connections_per_address
                || shared
                    .admission
                    .evict_oldest(Some(from), "too many connections from one address"));
        if !admitted {
            let why = if count > shared.limits.max_connections {
                "too_many_connections"
            } else {
                "too_many_from_address"
            };
            shared.metrics.refused(why);
            tracing::warn!(%peer, count, from_here, "too many connections: refusing");
            drop(stream);
            drop(slot);
            continue;
        }
        let unauthenticated = shared
            .admission
            .admit(shared.limits.max_unauthenticated, Some(from));
        let shared = shared.clone();
        tokio::spawn(async move {
            let _slot = slot;
            session::serve(stream, peer, shared, unauthenticated).await;
        });
    }
}
