//! The committer: the single task that appends messages to the store, in batches, and
//! then fans them out. One writer gives every room a strict order, and batching many
//! sends into one durable transaction (group commit) keeps throughput high with
//! `synchronous = FULL`.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::proto::{encode, Envelope, Event, Refusal, ServerFrame};
use crate::server::bus::{Bus, BusEvent};
use crate::server::hub::{Hub, Outbound};
use crate::server::metrics::Metrics;
use crate::server::store::{NewMessage, Store};

/// Largest batch committed in one transaction.
const MAX_BATCH: usize = 512;

/// A message waiting to be committed, and where to say how it went.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The message.
    pub message: NewMessage,
    /// Receives the stored envelope or the refusal.
    pub done: oneshot::Sender<Result<Envelope, Refusal>>,
}

/// Runs until every sender of `rx` is gone (then all accepted work is committed). A
/// blocking loop, on a thread of its own for the server's life (`spawn_blocking`): the
/// store is called from here directly, without a hand-off to the blocking pool per
/// batch (two thread wake-ups fewer on every message's path).
pub(crate) fn run(
    mut rx: mpsc::Receiver<Pending>,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    bus: Option<Arc<Bus>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let pending = std::mem::take(&mut batch);
        let messages: Vec<NewMessage> = pending.iter().map(|p| p.message.clone()).collect();
        let started = Instant::now();
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.append(&messages)));
        metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.commit_batch.observe(pending.len() as f64);
        let results = match outcome {
            Ok(Ok(results)) => results,
            Ok(Err(e)) => {
                tracing::error!(error = %e, count = pending.len(), "cannot commit messages");
                vec![Err(e.refusal()); pending.len()]
            }
            Err(_) => {
                tracing::error!("the store panicked while committing");
                vec![Err(Refusal::Internal); pending.len()]
            }
        };
        for (p, result) in pending.into_iter().zip(results) {
            let result = result.map(|appended| {
                let envelope = appended.envelope;
                if appended.duplicate {
                    // Stored and delivered the first time: only its sender hears of it.
                    return envelope;
                }
                let item = Outbound::Room {
                    room: envelope.room.as_str().into(),
                    seq: envelope.seq,
                    bytes: encode(&ServerFrame::Event(Event::Message(envelope.clone()))).into(),
                };
                metrics.committed.inc();
                // Delivered first: a member this commit removes learns it from the commit.
                let queued = hub.deliver_to_room(&envelope.room, &item);
                metrics.delivered.inc_by(queued as u64);
                for user in &appended.unrouted {
                    hub.leave(&envelope.room, user);
                }
                if let Some(bus) = &bus {
                    bus.publish(BusEvent::Message {
                        envelope: envelope.clone(),
                        left: appended.unrouted,
                    });
                }
                envelope
            });
            let _ = p.done.send(result);
        }
    }
}
