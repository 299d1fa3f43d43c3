//! What a server counts, for the `/metrics` page of its admin listener
//! ([`super::admin`]), in the Prometheus text format.
//!
//! Each server has its own registry (several servers in one process, as in the tests,
//! keep their counts apart). Counters and histograms are updated where the events
//! happen (the accept loop, the sessions, the committer); the gauges of current state
//! (connections, sessions, the committer's queue) are read when the page is asked for.

use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The label of [`Metrics::refusals`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalKind {
    /// [`crate::proto::Refusal::label`], or `too_many_connections`.
    kind: &'static str,
}

/// The label of [`Metrics::bus_events`].
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BusOutcome {
    /// `published`, `applied`, `rejected` or `dropped`.
    outcome: &'static str,
}

/// The current state the gauges show, read when `/metrics` is asked for.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Snapshot {
    /// Open TCP connections (authenticated or not).
    pub connections: usize,
    /// Authenticated sessions.
    pub sessions: usize,
    /// Messages waiting for the committer.
    pub commit_queue: usize,
}

/// A server's counters, histograms and gauges.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    connections: Gauge,
    sessions: Gauge,
    commit_queue: Gauge,
    /// Connections accepted (including those then refused).
    pub accepted: Counter,
    /// Messages stored (a repeated send, found stored already, is not counted again).
    pub committed: Counter,
    /// Live deliveries of stored messages: one per recipient session it was queued for.
    pub delivered: Counter,
    /// Messages per store transaction of the committer.
    pub commit_batch: Histogram,
    /// Seconds per store transaction of the committer (durable when it returns).
    pub commit_seconds: Histogram,
    refusals: Family<RefusalKind, Counter>,
    /// Events between the nodes of a cluster, by outcome.
    bus_events: Family<BusOutcome, Counter>,
}

impl Metrics {
    /// A registry with every metric at zero.
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("smc");
        let connections = Gauge::default();
        let sessions = Gauge::default();
        let commit_queue = Gauge::default();
        let accepted = Counter::default();
        let committed = Counter::default();
        let delivered = Counter::default();
        // 1, 2, 4 ... 512 messages (the committer's largest batch).
        let commit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        // 50 us to ~0.8 s.
        let commit_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 15));
        let refusals = Family::<RefusalKind, Counter>::default();
        let bus_events = Family::<BusOutcome, Counter>::default();
        registry.register("connections", "Open TCP connections", connections.clone());
        registry.register("sessions", "Authenticated sessions", sessions.clone());
        registry.register(
            "commit_queue",
            "Messages waiting to be committed",
            commit_queue.clone(),
        );
        registry.register(
            "connections_accepted",
            "Connections accepted",
            accepted.clone(),
        );
        registry.register(
            "messages_committed",
            "Messages stored (acknowledged to their sender)",
            committed.clone(),
        );
        registry.register(
            "messages_delivered",
            "Live deliveries of stored messages, one per recipient session",
            delivered.clone(),
        );
        registry.register(
            "commit_batch_messages",
            "Messages per store transaction",
            commit_batch.clone(),
        );
        registry.register(
            "commit_seconds",
            "Duration of a store transaction (durable when it ends)",
            commit_seconds.clone(),
        );
        registry.register(
            "refusals",
            "Requests and connections refused, by kind",
            refusals.clone(),
        );
        registry.register(
            "bus_events",
            "Events between the nodes of a cluster, by outcome: published, applied \
             (from another node), rejected (not authenticated, malformed or stale), \
             dropped (publish queue full; the store has them)",
            bus_events.clone(),
        );
        Metrics {
            registry,
            connections,
            sessions,
            commit_queue,
            accepted,
            committed,
            delivered,
            commit_batch,
            commit_seconds,
            refusals,
            bus_events,
        }
    }

    /// Counts one bus event with its outcome (`published`, `applied`, `rejected`,
    /// `dropped`).
    pub(crate) fn bus_event(&self, outcome: &'static str) {
        self.bus_events.get_or_create(&BusOutcome { outcome }).inc();
    }

    /// Counts a refusal of `kind` ([`crate::proto::Refusal::label`]).
    pub(crate) fn refused(&self, kind: &'static str) {
        self.refusals.get_or_create(&RefusalKind { kind }).inc();
    }

    /// The page: every metric in the Prometheus text format (version 0.0.4), with the
    /// gauges set from `now`.
    pub(crate) fn render(&self, now: Snapshot) -> String {
        self.connections.set(gauge_value(now.connections));
        self.sessions.set(gauge_value(now.sessions));
        self.commit_queue.set(gauge_value(now.commit_queue));
        let mut page = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut page, &self.registry);
        page
    }
}

/// The `Content-Type` of [`Metrics::render`]'s page.
pub(crate) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_shows_what_was_counted_in_the_text_format() {
        let m = Metrics::new();
        m.committed.inc_by(3);
        m.refused("rate_limited");
        m.refused("rate_limited");
        m.commit_batch.observe(3.0);
        let page = m.render(Snapshot {
            connections: 2,
            sessions: 1,
            commit_queue: 0,
        });
        for line in [
            "smc_messages_committed_total 3",
            "smc_refusals_total{kind=\"rate_limited\"} 2",
            "smc_connections 2",
            "smc_sessions 1",
            "smc_commit_batch_messages_count 1",
            "# TYPE smc_commit_seconds histogram",
        ] {
            assert!(page.lines().any(|l| l == line), "{line:?} not in:\n{page}");
        }
    }
}
