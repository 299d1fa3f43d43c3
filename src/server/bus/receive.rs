//! What a node does with the other nodes' events, and its catch-up from the store.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::sync::watch;

use crate::proto::{encode, Event, ServerFrame};
use crate::server::bus::wire::{BusEvent, Replays};
use crate::server::bus::{Incoming, SWEEP};
use crate::server::handler::blocking;
use crate::server::hub::{until_closed, Outbound};
use crate::server::Shared;

/// How long a message is held back for a predecessor still on the bus (past it, the
/// sessions read the gap from the store).
const HOLD: std::time::Duration = std::time::Duration::from_millis(100);

/// Applies the other nodes' events until `shutdown`; catches up from the store when
/// the bus says so, and every [`SWEEP`].
pub(crate) async fn receive(
    incoming: Incoming,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Incoming {
        mut subscriber,
        key,
        node,
        resync,
        started_ms,
    } = incoming;
    // Memberships and rooms were read from the store when the node started, after
    // this: events sent earlier are not needed, and their numbers cannot be checked.
    let mut replays = Replays::since(started_ms);
    let mut overdue = tokio::time::interval(HOLD / 2);
    overdue.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let rejected = super::summary::Summary::default();
    loop {
        tokio::select! {
            _ = until_closed(&mut shutdown) => return,
            message = subscriber.next() => {
                let Some(message) = message else {
                    tracing::error!("the bus subscription ended");
                    return;
                };
                let now = chrono::Utc::now().timestamp_millis();
                let received = key
                    .open(&message.payload, now)
                    .and_then(|r| replays.check(&r, now).map(|()| r));
                match received {
                    Ok(r) if r.node == node => {}
                    Ok(r) => {
                        shared.metrics.bus_event("applied");
                        apply(&shared, r.node, started_ms, r.event);
                    }
                    Err(e) => {
                        shared.metrics.bus_event("rejected");
                        // Anyone on NATS can send junk: a line per period, not per event.
                        if let Some(count) = rejected.note(std::time::Instant::now()) {
                            tracing::warn!(
                                error = %e,
                                count,
                                "events from the bus rejected (the latest error shown; \
                                 smc_bus_events_total{{outcome=\"rejected\"}} counts them)"
                            );
                        }
                    }
                }
            }
            _ = resync.notified() => catch_up(&shared, true).await,
            _ = sweep.tick() => {
                announce_sessions(&shared);
                announce_spending(&shared);
                let gone = shared.hub.expire_remote(SWEEP * 3);
                if gone > 0 {
                    tracing::info!(gone, "sessions of other nodes no longer said open: forgotten");
                }
                catch_up(&shared, false).await
            }
            _ = overdue.tick() => {
                let queued = shared.hub.release_overdue(HOLD);
                shared.metrics.delivered.inc_by(queued as u64);
            }
        }
    }
}

/// Applies one event of another node (`node`; this node listens since `started_ms`).
fn apply(shared: &Shared, node: u64, started_ms: i64, event: BusEvent) {
    let hub = &shared.hub;
    match event {
        BusEvent::Message { envelope, left } => {
            let room = envelope.room.clone();
            let item = Outbound::Room {
                room: room.as_str().into(),
                seq: envelope.seq,
                bytes: encode(&ServerFrame::Event(Event::Message(envelope))).into(),
            };
            let queued = hub.deliver_to_room(&room, &item);
            shared.metrics.delivered.inc_by(queued as u64);
            for user in &left {
                hub.leave(&room, user);
            }
        }
        BusEvent::Direct { user, id } => hub.notify_direct(&user, id),
        BusEvent::Invited { user, room, by } => {
            let item =
                Outbound::Frame(encode(&ServerFrame::Event(Event::Invited { room, by })).into());
            hub.deliver_to_user(&user, &item);
        }
        BusEvent::Joined { room, user } => hub.join(&room, &user),
        BusEvent::Left { room, user } => hub.leave(&room, &user),
        BusEvent::Forget { user } => hub.forget(&user),
        BusEvent::SessionOpened { user, key } => {
            hub.remote_opened(&user, key, shared.limits.max_sessions_per_user)
        }
        BusEvent::SessionClosed { user, key } => hub.remote_closed(&user, key),
        BusEvent::Sessions { open } => {
            for (user, key) in open {
                hub.remote_opened(&user, key, shared.limits.max_sessions_per_user);
            }
        }
        BusEvent::Spent { limit, user } => shared.rates.get(limit).charge_one(&user),
        BusEvent::Spending {
            limit,
            live,
            spends,
        } => {
            let limiter = shared.rates.get(limit);
            for spend in &spends {
                limiter.hear(node, spend, live, started_ms);
            }
        }
        BusEvent::DeviceRevoked {
            user,
            transport_key,
        } => {
            let closed = hub.close_device(&user, &transport_key);
            tracing::info!(user, closed, "a device revoked through another node");
        }
    }
}

/// Spendings said per event (a key is at most a few hundred bytes: far below NATS's
/// 1 MiB).
const SPENDS_PER_EVENT: usize = 1_000;

/// Tells the other nodes what this node has spent of every rate whose bucket has not
/// refilled (a lost live event is made up for within a [`SWEEP`]), and forgets what
/// it heard of episodes long over.
fn announce_spending(shared: &Shared) {
    for (limit, limiter) in shared.rates.all() {
        let spends = limiter.spending();
        for chunk in spends.chunks(SPENDS_PER_EVENT) {
            shared.publish(BusEvent::Spending {
                limit,
                live: false,
                spends: chunk.to_vec(),
            });
        }
        limiter.forget_heard(SWEEP * 3);
    }
}

/// Sessions said open per event (a bus event stays far below NATS's 1 MiB).
const SESSIONS_PER_EVENT: usize = 1_000;

/// Tells the other nodes which sessions this node holds.
fn announce_sessions(shared: &Shared) {
    let open = shared.hub.local_sessions();
    for chunk in open.chunks(SESSIONS_PER_EVENT) {
        shared.publish(BusEvent::Sessions {
            open: chunk.to_vec(),
        });
    }
}

/// Brings this node's sessions up to date with the store: the rooms of its sessions'
/// users up to their newest message, and their direct deliveries; after a
/// disconnection (`full`) also the routing table (memberships changed through other
/// nodes meanwhile), and every room and queue whatever this node was told.
async fn catch_up(shared: &Arc<Shared>, full: bool) {
    if full {
        if let Err(e) = reload_memberships(shared).await {
            tracing::warn!(error = %e, "cannot reload the memberships from the store");
        }
    } else if let Err(e) = reload_memberships_of(shared, shared.hub.connected_users()).await {
        // A joined, left or forgotten membership whose event was lost on the bus
        // without a disconnection: the routing of this node's users follows the store.
        tracing::warn!(error = %e, "cannot check the memberships against the store");
    }
    // Direct deliveries newer than what this node's sessions were told of (their
    // event lost on the bus; after a disconnection, any).
    let users = shared.hub.connected_users();
    if !users.is_empty() {
        match blocking(&shared.store, move |s| s.direct_heads(&users)).await {
            Ok(heads) => {
                for (user, id) in heads {
                    if full || id > shared.hub.direct_head(&user) {
                        shared.hub.notify_direct(&user, id);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the direct queues' heads"),
        }
    }
    let rooms = shared.hub.connected_rooms();
    if rooms.is_empty() {
        return;
    }
    let heads = match blocking(&shared.store, move |s| s.room_heads(&rooms)).await {
        Ok(heads) => heads,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the rooms' heads from the store");
            return;
        }
    };
    for (room, head) in heads {
        // Behind what this node routed: its sessions may have missed messages.
        if head > shared.hub.head(&room) || (full && head > 0) {
            let item = Outbound::RoomHead {
                room: room.as_str().into(),
                seq: head,
            };
            shared.hub.deliver_to_room(&room, &item);
        }
    }
}

/// Replaces the memberships of `users` in the routing table with the store's (tried
/// again if the table changed while the store was read).
async fn reload_memberships_of(
    shared: &Arc<Shared>,
    users: Vec<String>,
) -> Result<(), crate::proto::Refusal> {
    if users.is_empty() {
        return Ok(());
    }
    for _ in 0..5 {
        let version = shared.hub.version();
        let u = users.clone();
        let memberships = blocking(&shared.store, move |s| s.memberships_of(&u)).await?;
        if shared
            .hub
            .replace_memberships_of(&users, memberships, version)
        {
            return Ok(());
        }
    }
    Ok(())
}

/// Replaces the routing table's memberships with the store's (tried again if the
/// table changed while the store was read, so that no newer change is undone).
async fn reload_memberships(shared: &Arc<Shared>) -> Result<(), crate::proto::Refusal> {
    for _ in 0..5 {
        let version = shared.hub.version();
        let memberships = blocking(&shared.store, |s| s.memberships()).await?;
        if shared.hub.replace_memberships(memberships, version) {
            return Ok(());
        }
    }
    tracing::warn!("memberships changing too fast to reload: kept as they are");
    Ok(())
}
