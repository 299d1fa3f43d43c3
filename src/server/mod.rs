//! The v2 server: Noise transport, identities, rooms, real-time delivery, durable store.
//!
//! [`Server::start`] opens the data directory (its static key `server.key`, created 0600,
//! and the SQLite store `smc.db`), listens, and serves on a tokio runtime of its own.
//! Each connection is a `session`: handshake, Hello (trust-on-first-use registration of
//! the user name to the handshake's static key), catch-up sync, then requests and live
//! events. Messages are committed by one `committer` in batches and fanned out through
//! the `hub`.

mod accept;
mod admin;
mod admission;
mod bus;
mod committer;
mod data_dir;
mod expiry;
mod group_change;
mod handler;
mod hub;
pub(crate) mod key_package;
mod link_offers;
mod linking;
mod metrics;
mod public_group;
mod rate;
mod read_share;
mod retention;
mod session;
pub mod store;
mod upkeep;

pub use data_dir::DataDir;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::error::ServerError;
use crate::identity::StaticKeypair;
use crate::net::Limits;
use crate::server::hub::Hub;
use crate::server::store::{Durability, PostgresStore, RegistrationPolicy, SqliteStore, Store};

/// The default listening address of `smc server`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50200";

/// The default address of `smc server`'s admin listener (`/metrics`, `/healthz`).
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:50201";

/// How long a stopping server waits for its connections to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how a [`Server`] runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Holds `server.key` (0600) and `smc.db`; created if missing.
    pub data_dir: PathBuf,
    /// `host:port` to listen on (port 0 picks a free one).
    pub listen: String,
    /// Abuse limits.
    pub limits: Limits,
    /// When a message counts as stored (default: on disk).
    pub durability: Durability,
    /// Who may register a new name (default: anyone).
    pub registration: RegistrationPolicy,
    /// `host:port` of the admin listener (`/metrics`, `/healthz`; see
    /// [`Server::admin_address`]); `None` (the default here): none. Keep it on
    /// loopback or a private network: it is plain HTTP, without authentication.
    pub admin_listen: Option<String>,
    /// The store: `None` (the default) for SQLite in `data_dir`, or a PostgreSQL URL
    /// (`postgres://user@host:port/db`) shared by several server nodes. The key stays
    /// in `data_dir` either way.
    pub store: Option<String>,
    /// The bus between the nodes of a cluster (`nats://host:port`, several separated
    /// by commas): `None` (the default) for a single node. Every node of a cluster uses
    /// the same PostgreSQL store, the same NATS and the same server key.
    pub bus: Option<String>,
}

impl ServerConfig {
    /// A configuration with the default limits.
    pub fn new(data_dir: impl Into<PathBuf>, listen: impl Into<String>) -> Self {
        ServerConfig {
            data_dir: data_dir.into(),
            listen: listen.into(),
            limits: Limits::default(),
            durability: Durability::default(),
            registration: RegistrationPolicy::default(),
            admin_listen: None,
            store: None,
            bus: None,
        }
    }
}

/// Attempts to link a device one address may make per hour (a burst of as many).
const LINK_JOINS_PER_HOUR: u32 = 20;

/// State shared by every connection of a server.
pub(crate) struct Shared {
    pub key: StaticKeypair,
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
    pub limits: Limits,
    pub registration: RegistrationPolicy,
    pub commits: mpsc::Sender<committer::Pending>,
    pub next_session: AtomicU64,
    pub connections: AtomicUsize,
    /// Connections per peer address ([`Limits::max_connections_per_address`]).
    pub per_address: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
    /// Notified each time a connection ends (the drain at stop waits on it).
    pub ended: tokio::sync::Notify,
    pub admission: Arc<admission::Admission>,
    /// Per-user rates that hold across sessions.
    pub rates: rate::UserRates,
    /// One bulk store read at a time per user ([`read_share`]).
    pub reads: read_share::ReadShare,
    /// What the admin listener's `/metrics` shows.
    pub metrics: Arc<metrics::Metrics>,
    /// The bus to the other nodes of a cluster, if any.
    pub bus: Option<Arc<bus::Bus>>,
    /// The standing offers to link a device.
    pub link_offers: link_offers::LinkOffers,
    /// Attempts to link a device, per address ([`session`]'s `LinkJoin`): each costs
    /// the guesser an offer, and these bound how many offers one address can spoil.
    pub link_joins: rate::KeyedLimiter,
}

impl Shared {
    /// Tells the other nodes, if any.
    pub(crate) fn publish(&self, event: bus::BusEvent) {
        if let Some(bus) = &self.bus {
            bus.publish(event);
        }
    }

    /// This node's id (0 without a bus).
    pub(crate) fn node(&self) -> u64 {
        self.bus.as_ref().map_or(0, |b| b.node())
    }
}

/// A running server. [`Server::stop`] (or dropping it) stops accepting, lets the
/// connections finish what they were doing (up to 5 s), commits everything accepted
/// and returns.
#[derive(Debug)]
pub struct Server {
    address: SocketAddr,
    admin_address: Option<SocketAddr>,
    key: StaticKeypair,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Opens the data directory, binds the address and starts serving on a background
    /// thread. Errors (key file, store, address) are returned before anything runs.
    pub fn start(config: ServerConfig) -> Result<Server, ServerError> {
        let key = StaticKeypair::load_or_create(&DataDir::new(&config.data_dir).server_key())?;
        let store: Arc<dyn Store> = match (&config.store, &config.bus) {
            (None, None) => Arc::new(SqliteStore::open(&config.data_dir, config.durability)?),
            (Some(url), _) => Arc::new(PostgresStore::open(url)?),
            (None, Some(bus)) => {
                return Err(ServerError::Bus {
                    url: bus.clone(),
                    reason: "the nodes of a cluster share a PostgreSQL store (--store \
                             postgres://...); an embedded SQLite store belongs to one node"
                        .into(),
                })
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("smc-server")
            .build()
            .map_err(ServerError::Runtime)?;
        let listener = runtime
            .block_on(TcpListener::bind(&config.listen))
            .map_err(|source| ServerError::Bind {
                address: config.listen.clone(),
                source,
            })?;
        let address = listener.local_addr().map_err(|source| ServerError::Bind {
            address: config.listen.clone(),
            source,
        })?;
        let admin = match &config.admin_listen {
            None => None,
            Some(admin) => {
                let bound = runtime
                    .block_on(TcpListener::bind(admin))
                    .and_then(|l| Ok((l.local_addr()?, l)));
                Some(bound.map_err(|source| ServerError::AdminBind {
                    address: admin.clone(),
                    source,
                })?)
            }
        };
        let admin_address = admin.as_ref().map(|(a, _)| *a);
        let metrics = Arc::new(metrics::Metrics::new());
        let (bus, incoming) = match &config.bus {
            None => (None, None),
            Some(url) => {
                let (bus, incoming) =
                    runtime.block_on(bus::Bus::connect(url, &key, metrics.clone()))?;
                (Some(Arc::new(bus)), Some(incoming))
            }
        };
        let hub = Arc::new(Hub::default());
        hub.load(store.memberships()?);
        let (commits, commit_rx) = mpsc::channel(4096);
        let shared = Arc::new(Shared {
            key: key.clone(),
            store: store.clone(),
            hub: hub.clone(),
            limits: config.limits.clone(),
            registration: config.registration,
            commits,
            next_session: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            per_address: Default::default(),
            ended: tokio::sync::Notify::new(),
            admission: Arc::default(),
            rates: rate::UserRates::new(&config.limits),
            reads: Default::default(),
            link_offers: Default::default(),
            link_joins: rate::KeyedLimiter::new(LINK_JOINS_PER_HOUR, 3600, LINK_JOINS_PER_HOUR),
            metrics,
            bus: bus.clone(),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        tracing::info!(%address, fingerprint = key.fingerprint(), "smc server listening");
        if let Some(admin) = admin_address {
            if admin.ip().is_loopback() {
                tracing::info!(%admin, "admin listener (/metrics, /healthz)");
            } else {
                tracing::warn!(
                    %admin,
                    "admin listener on a non-loopback address: anyone who can reach it reads \
                     /metrics and /healthz (no authentication); keep it on a private network"
                );
            }
        }
        let thread = std::thread::Builder::new()
            .name("smc-server-main".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let metrics = shared.metrics.clone();
                    let committer = tokio::task::spawn_blocking(move || {
                        committer::run(commit_rx, store, hub, metrics, bus)
                    });
                    if let Some(incoming) = incoming {
                        tokio::spawn(bus::receive(incoming, shared.clone(), shutdown_rx.clone()));
                    }
                    tokio::spawn(expiry::run(shared.clone(), shutdown_rx.clone()));
                    tokio::spawn(retention::run(shared.clone(), shutdown_rx.clone()));
                    if let Some((_, listener)) = admin {
                        tokio::spawn(admin::serve(listener, shared.clone(), shutdown_rx.clone()));
                    }
                    accept::run(listener, shared, shutdown_rx).await;
                    // Every accepted message is committed before the server stops
                    // (bounded, in case a connection refused to finish).
                    let _ = tokio::time::timeout(DRAIN_TIMEOUT, committer).await;
                    tracing::info!("smc server stopped");
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(ServerError::Runtime)?;
        Ok(Server {
            address,
            admin_address,
            key,
            shutdown,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address of its admin listener (`GET /metrics`: Prometheus text format;
    /// `GET /healthz`: 200 when it can take messages, else 503), if it has one
    /// ([`ServerConfig::admin_listen`]).
    pub fn admin_address(&self) -> Option<SocketAddr> {
        self.admin_address
    }

    /// The fingerprint of its static key (what clients pin).
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint()
    }

    /// Its static public key.
    pub fn public_key(&self) -> [u8; 32] {
        *self.key.public()
    }

    /// Whether it is still serving.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the server and waits until it has drained.
    pub fn stop(mut self) {
        self.shutdown_and_join();
    }

    fn shutdown_and_join(&mut self) {
        self.shutdown.send_replace(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown_and_join();
    }
}
