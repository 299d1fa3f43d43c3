//! Several server nodes on one store: the bus between them (NATS).
//!
//! A node that commits a message, queues a direct delivery or changes a membership
//! publishes it ([`Bus::publish`]); every other node applies it to its routing table
//! and pushes it to the sessions it holds ([`receive`]). The bus is only a fast path:
//! the store stays the source of truth. A session's writer sends a room's messages in
//! sequence order and reads any gap from the store; direct deliveries are pulled from
//! the store; after a reconnection to the bus (or a slow-consumer drop) a node reloads
//! the memberships and lets every session catch up from the store, and every
//! [`SWEEP`] it compares the heads of its sessions' rooms and of their users' direct
//! queues with the store's. So a
//! message lost on the bus is delivered late, never lost, and never twice.
//!
//! The subject is the cluster's own (derived from the server key every node shares),
//! and every event is authenticated with a key derived from it ([`wire`]).

mod receive;
mod summary;
mod wire;

pub(crate) use receive::receive;
pub(crate) use wire::{BusEvent, Limit, SessionKey, Spending};

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, Notify};

use crate::error::ServerError;
use crate::identity::StaticKeypair;
use crate::server::metrics::Metrics;
use wire::BusKey;

/// How often a node compares its sessions' rooms with the store (a message lost on
/// the bus without a disconnection, such as one dropped by a full publish queue, is
/// found again within this time).
pub(crate) const SWEEP: Duration = Duration::from_secs(5);

/// Events waiting to be published; past it an event is dropped (and found again from
/// the store by the other nodes' sweep).
const OUTGOING: usize = 16_384;

/// This node's end of the bus.
#[derive(Debug)]
pub(crate) struct Bus {
    node: u64,
    client: async_nats::Client,
    outgoing: mpsc::Sender<(i64, BusEvent)>,
    metrics: Arc<Metrics>,
    /// Events dropped at a full queue, said once per period.
    dropped: summary::Summary,
}

/// The receiving end, for [`receive`].
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) subscriber: async_nats::Subscriber,
    pub(crate) key: Arc<BusKey>,
    pub(crate) node: u64,
    /// Notified when the node must catch up from the store (connected again, or
    /// messages dropped by the bus).
    pub(crate) resync: Arc<Notify>,
    /// When the node connected (before it read the memberships from the store).
    pub(crate) started_ms: i64,
}

impl Bus {
    /// Connects to the NATS server at `url` (a list separated by commas is tried in
    /// turn), subscribes to the cluster's subject, and starts the publisher task on the
    /// current runtime. An unreachable server is not an error: the node starts, and
    /// connects (and `/healthz` turns ready) when it can.
    pub(crate) async fn connect(
        url: &str,
        server_key: &StaticKeypair,
        metrics: Arc<Metrics>,
    ) -> Result<(Bus, Incoming), ServerError> {
        let error = |reason: String| ServerError::Bus {
            url: without_credentials(url),
            reason,
        };
        let started_ms = chrono::Utc::now().timestamp_millis();
        let resync = Arc::new(Notify::new());
        let notify = resync.clone();
        let bus: Arc<str> = without_credentials(url).into();
        let last_error = Arc::new(AtomicI64::new(i64::MIN));
        let client = async_nats::ConnectOptions::new()
            .name("smc-server")
            .no_echo()
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(2))
            .ping_interval(Duration::from_secs(5))
            .subscription_capacity(65_536)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((attempts as u64 * 100).clamp(100, 1000))
            })
            .event_callback(move |event| {
                let (notify, bus, last_error) = (notify.clone(), bus.clone(), last_error.clone());
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            tracing::info!(%bus, "bus connected");
                            last_error.store(i64::MIN, Ordering::Relaxed);
                            notify.notify_one();
                        }
                        async_nats::Event::Disconnected => {
                            tracing::warn!(%bus, "bus disconnected: reconnecting (this node is unready meanwhile)");
                        }
                        async_nats::Event::SlowConsumer(_) => {
                            tracing::warn!("the bus dropped events for this node: catching up");
                            notify.notify_one();
                        }
                        // Failed attempts come every second while NATS cannot be
                        // reached: said once, then every 30 s.
                        async_nats::Event::ClientError(e) => {
                            let now = chrono::Utc::now().timestamp_millis();
                            let last = last_error.load(Ordering::Relaxed);
                            if now.saturating_sub(last) >= 30_000 {
                                last_error.store(now, Ordering::Relaxed);
                                tracing::warn!(
                                    %bus,
                                    error = %e,
                                    "cannot reach the bus: trying again every second (this node is unready until it connects)"
                                );
                            }
                        }
                        other => tracing::warn!(%bus, event = %other, "bus"),
                    }
                }
            })
            .connect(url)
            .await
            .map_err(|e| error(e.to_string()))?;
        let subject = subject(server_key.public());
        let subscriber = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| error(e.to_string()))?;
        let key = Arc::new(
            BusKey::derive(server_key.private())
                .ok_or_else(|| error("cannot derive the bus key".into()))?,
        );
        let mut node = [0u8; 8];
        getrandom::fill(&mut node).map_err(|e| error(format!("no random node id: {e}")))?;
        let node = u64::from_le_bytes(node);
        let (outgoing, mut rx) = mpsc::channel::<(i64, BusEvent)>(OUTGOING);
        let publisher = client.clone();
        let sealer = key.clone();
        let counts = metrics.clone();
        tokio::spawn(async move {
            // Numbered here, by the one task that publishes them in order (NATS keeps
            // one publisher's order): a receiver takes a number not above the last one
            // it saw from this node for a replay.
            let mut number = 0u64;
            while let Some((sent_ms, event)) = rx.recv().await {
                number += 1;
                let Some(bytes) = sealer.seal(node, number, sent_ms, event) else {
                    counts.bus_event("dropped");
                    tracing::warn!("no random nonce for a bus event: dropped (the store has it)");
                    continue;
                };
                // Counted as published once the client took it (async-nats writes it
                // out, or reports the failure here).
                match publisher.publish(subject.clone(), bytes.into()).await {
                    Ok(()) => counts.bus_event("published"),
                    Err(e) => {
                        counts.bus_event("dropped");
                        tracing::warn!(error = %e, "cannot publish on the bus");
                    }
                }
            }
        });
        let incoming = Incoming {
            subscriber,
            key: key.clone(),
            node,
            resync,
            started_ms,
        };
        let bus = Bus {
            node,
            client,
            outgoing,
            metrics,
            dropped: summary::Summary::default(),
        };
        Ok((bus, incoming))
    }

    /// This node's id on the bus.
    pub(crate) fn node(&self) -> u64 {
        self.node
    }

    /// Publishes `event` without waiting (callable from the committer's thread); when
    /// the queue is full it is dropped, and the other nodes find it in the store.
    pub(crate) fn publish(&self, event: BusEvent) {
        let now = chrono::Utc::now().timestamp_millis();
        if self.outgoing.try_send((now, event)).is_err() {
            self.metrics.bus_event("dropped");
            if let Some(count) = self.dropped.note(std::time::Instant::now()) {
                tracing::warn!(
                    count,
                    "bus publish queue full: events dropped (the store has them)"
                );
            }
        }
    }

    /// Whether the NATS connection is up now.
    pub(crate) fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

/// `url` (a list separated by commas) as it may be logged: a user name and password
/// (`nats://user:secret@host`) are replaced by `***`.
fn without_credentials(url: &str) -> String {
    url.split(',')
        .map(|one| match (one.find("://"), one.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}***{}", &one[..scheme + 3], &one[at..])
            }
            (None, Some(at)) => format!("***{}", &one[at..]),
            _ => one.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The cluster's subject: one per server key, so that clusters sharing a NATS server
/// never see each other's events.
fn subject(server_public: &[u8; 32]) -> String {
    let digest = Sha256::digest(server_public);
    format!(
        "smc.{}.events",
        data_encoding::HEXLOWER.encode(&digest[..8])
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_in_a_bus_url_are_never_shown() {
        use super::without_credentials as shown;
        assert_eq!(shown("nats://a:4222"), "nats://a:4222");
        assert_eq!(shown("nats://u:secret@a:4222"), "nats://***@a:4222");
        assert_eq!(
            shown("nats://u:p@a:1,tls://t@b:2,c:3"),
            "nats://***@a:1,tls://***@b:2,c:3"
        );
        assert_eq!(shown("u:p@c:3"), "***@c:3");
    }
}
