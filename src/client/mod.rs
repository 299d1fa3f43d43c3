//! The v2 client library: a blocking [`Client`] over an async connection, with every
//! room end-to-end encrypted as an MLS group (see [`crate::e2e`]).
//!
//! A client lives in a *home* directory: `known_servers` (pinned server keys) and
//! `state.db` (MLS keys and groups, decrypted history, cursors; encrypted with a
//! passphrase, or 0600 without one). Its transport (Noise) key is in `state.db` too
//! with a passphrase, in `identity.key` (0600) without one.
//! Calls block the calling thread and must not be made from inside an async runtime;
//! the network work runs on a shared background runtime.

mod attachment;
mod background;
mod backoff;
mod catch_up;
mod connection;
mod devices;
mod event;
pub mod hazmat;
mod home;
mod inbox;
mod invitations;
mod invitees;
mod message;
mod reconnect;
mod rooms;
mod schema;
mod self_update;
mod send_reservation;
mod server_trust;
mod settings;
mod state;
mod transfer;
mod trust;
mod waiting;

pub use attachment::Attachment;
pub use background::Background;
pub use backoff::Backoff;
pub use devices::{Device, DEFAULT_LINK_CODE_LIFETIME, DEFAULT_LINK_WAIT};
use event::Pick;
pub use event::{ChatEvent, MAX_BATCH};
pub use home::Home;
pub use message::Message;
pub use rooms::MAX_TEXT;
pub use self_update::SelfUpdatePolicy;
pub use server_trust::{probe_server, same_fingerprint, ServerProbe, ServerTrust};

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use openmls_basic_credential::SignatureKeyPair;

use crate::error::{ClientError, NetError};
use crate::identity::{KnownServers, StaticKeypair};
use crate::net::MAX_PAYLOAD;
use crate::proto::{check_name, DirectEnvelope, Envelope, Event, Refusal, Reply, Request, VERSION};
use connection::{runtime, Arrivals, Connection, Incoming};
use state::{ClientState, Scoped, DIRECT_STREAM};
use tokio::sync::oneshot;

/// How long a request waits for its reply by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What `Client::send_payload` returns: where the message was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Server-wide id.
    pub id: u64,
    /// Place in the room.
    pub seq: u64,
    /// Server time of storage.
    pub timestamp: DateTime<Utc>,
}

/// A user's client.
#[derive(Debug)]
pub struct Client {
    home: Home,
    user: String,
    key: StaticKeypair,
    known: KnownServers,
    state: ClientState,
    /// The MLS signature key (its private half is zeroized on drop, never printed).
    signer: SignatureKeyPair,
    /// `home/lock`, locked while this client lives.
    _lock: std::fs::File,
    conn: Option<Connection>,
    /// The id (key, hex) of the server last connected to: the local state is per server.
    server: Option<String>,
    /// What was received and waits to be handled, in memory.
    waiting: waiting::Waiting,
    /// The sending ratchets' reservations as this process left them (by group id):
    /// a group missing here has not sent since the home was opened.
    reservations: HashMap<Vec<u8>, send_reservation::Reservation>,
    synced: bool,
    /// When the periodic upkeep runs next while connected ([`MAINTENANCE_INTERVAL`]).
    next_upkeep: Instant,
    /// What the program set.
    settings: settings::Settings,
    /// Told of everything a connection receives (a [`Background`] client's thread).
    arrivals: Option<Arc<Arrivals>>,
    /// Why the last connection ended, when the server or the network ended it (for a
    /// [`Background`] client's reconnection).
    lost: Option<String>,
    /// The offer to link a device this client made, until a device answers it.
    linking: Option<devices::PendingLink>,
}

/// How often a connected client checks its key packages (top-up, last-resort rotation)
/// while it waits for messages.
pub(crate) const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(600);

/// When a wait of `wait` from now ends; `None` (a wait without end, never a panic)
/// when that is past what the clock can hold, as with `Duration::MAX` or Python's
/// `recv(1e300)`.
pub(crate) fn deadline_in(wait: Duration) -> Option<Instant> {
    Instant::now().checked_add(wait)
}

fn name(n: &str) -> Result<(), ClientError> {
    check_name(n).map_err(|reason| ClientError::InvalidName {
        name: n.to_owned(),
        reason,
    })
}

impl Client {
    /// Opens (creating if needed) the home directory of `user`: its keys, pins and
    /// state, the state stored unencrypted (0600). See [`Client::open_with`].
    pub fn open(home: impl AsRef<Path>, user: &str) -> Result<Client, ClientError> {
        Client::open_with(home, user, None)
    }

    /// Like [`Client::open`], with the state encrypted at rest under a key derived from
    /// `passphrase` (Argon2id; SQLCipher). A wrong passphrase is
    /// [`crate::E2eError::WrongPassphrase`].
    pub fn open_with_passphrase(
        home: impl AsRef<Path>,
        user: &str,
        passphrase: &str,
    ) -> Result<Client, ClientError> {
        Client::open_with(home, user, Some(passphrase))
    }

    /// The one way every front end opens a client: the home directory of `user` (its
    /// layout is [`Home`]'s), created private (0700) if needed and locked for this
    /// client alone ([`ClientError::HomeInUse`] otherwise), its state encrypted at rest
    /// when a `passphrase` is given.
    pub fn open_with(
        home: impl AsRef<Path>,
        user: &str,
        passphrase: Option<&str>,
    ) -> Result<Client, ClientError> {
        name(user)?;
        let home = Home::new(home.as_ref());
        home.create()?;
        let lock = home.lock()?;
        let state = ClientState::open(&home, passphrase)?;
        let key_file = home.identity_key();
        let key = if passphrase.is_some() && !key_file.exists() {
            // With a passphrase the transport key lives in the encrypted state too.
            state.transaction(|tx| match tx.transport_key(user)? {
                Some(key) => Ok(key),
                None => {
                    let key = StaticKeypair::generate()?;
                    tx.set_transport_key(user, &key)?;
                    Ok(key)
                }
            })?
        } else {
            StaticKeypair::load_or_create(&key_file)?
        };
        let signer = trust::signature_key(&state, user)?;
        // History, safety numbers and verification work offline, on the state of the
        // server last connected to.
        let server = state.transaction(|tx| tx.last_server(user))?;
        Ok(Client {
            known: KnownServers::new(home.known_servers()),
            home,
            user: user.to_owned(),
            key,
            state,
            signer,
            _lock: lock,
            conn: None,
            server,
            waiting: waiting::Waiting::default(),
            reservations: HashMap::new(),
            synced: false,
            next_upkeep: Instant::now() + MAINTENANCE_INTERVAL,
            settings: settings::Settings::default(),
            arrivals: None,
            lost: None,
            linking: None,
        })
    }

    /// The user's name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        self.home.dir()
    }

    /// The fingerprint of the user's key.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint()
    }

    /// Changes how long requests wait for their reply.
    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.settings.request_timeout = timeout;
    }

    /// The keep-alive interval of a new client's connections (for the tests of the
    /// defaults).
    #[cfg(test)]
    pub(crate) fn default_keepalive() -> Duration {
        connection::KEEPALIVE
    }

    /// Sets the keep-alive interval of the next [`Client::connect`] (default 30 s): a
    /// keep-alive is sent after that long without a request, and a server from which
    /// nothing arrives for 2.5 times that long is taken for gone
    /// ([`ClientError::ConnectionClosed`]; the console client reconnects).
    pub fn set_keepalive(&mut self, interval: Duration) {
        self.settings.keepalive = interval.max(Duration::from_millis(10));
    }

    /// A one-time registration token (issued by the server's operator with `smc admin
    /// issue-token`), presented at the next [`Client::connect`]: needed once, to
    /// register this user's name on a server that registers by invitation only.
    pub fn set_registration_token(&mut self, token: Option<String>) {
        self.settings.registration_token = token;
    }

    /// Whether a connection is open (it may still have been closed by the server).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Connects to `address` (`host:port`): Noise handshake (the server's key is pinned
    /// on first use and must match afterwards: [`ClientError::ServerKeyChanged`]), then
    /// Hello, which registers the name on first use; then the catch-up: messages missed
    /// while away are decrypted (and then come out of [`Client::recv`]), key packages
    /// are topped up, and messages encrypted before a crash but never acknowledged are
    /// sent.
    pub fn connect(&mut self, address: &str) -> Result<(), ClientError> {
        self.connect_inner(address, None)
    }

    /// Like [`Client::connect`], but the server's key must have the fingerprint
    /// `expected` (given by the server's operator; compared ignoring case, spaces and
    /// colons), checked during the handshake before anything about this user is sent:
    /// [`ClientError::ServerNotTrusted`] if it does not, and nothing is pinned. It is
    /// pinned when it does (and must then match any key pinned before).
    pub fn connect_expecting(&mut self, address: &str, expected: &str) -> Result<(), ClientError> {
        self.connect_inner(address, Some(expected))
    }

    /// Connects to the first of `addresses` that answers, tried in order: the
    /// addresses of one service (the nodes of a cluster, a standby), which present one
    /// server key. An address that cannot be reached (or drops the connection) is passed
    /// over for the next; anything else stops the attempt with its error, above all a
    /// key that is not the expected one. Trust holds across the list: when one of the
    /// addresses has a pinned key, every address must present that key (an unpinned
    /// one is pinned to it when it does), so reaching a new address never means
    /// trusting a new key. Returns the address connected to. Call it again to
    /// reconnect: the list is tried from its start.
    pub fn connect_any<S: AsRef<str>>(&mut self, addresses: &[S]) -> Result<String, ClientError> {
        self.connect_list(addresses, None)
    }

    /// Like [`Client::connect_any`], with the server's fingerprint given by its operator
    /// (see [`Client::connect_expecting`]).
    pub fn connect_any_expecting<S: AsRef<str>>(
        &mut self,
        addresses: &[S],
        expected: &str,
    ) -> Result<String, ClientError> {
        self.connect_list(addresses, Some(expected))
    }

    fn connect_list<S: AsRef<str>>(
        &mut self,
        addresses: &[S],
        expected: Option<&str>,
    ) -> Result<String, ClientError> {
        let pinned = self.pinned_key_of(addresses)?;
        if let (Some(given), Some((address, pinned))) = (expected, &pinned) {
            if !same_fingerprint(given, pinned) {
                return Err(ClientError::ServerNotTrusted {
                    address: address.clone(),
                    expected: given.to_owned(),
                    presented: pinned.clone(),
                });
            }
        }
        let sibling = pinned.map(|(_, fp)| fp);
        let mut last = None;
        for address in addresses {
            let address = address.as_ref();
            // An address with a pin of its own is checked against it as by `connect`
            // (`ServerKeyChanged`); one without must present its siblings' key.
            let own_pin = self.known.pinned(address)?.is_some();
            let expect = match expected {
                Some(given) => Some(given),
                None if own_pin => None,
                None => sibling.as_deref(),
            };
            match self.connect_inner(address, expect) {
                Ok(()) => return Ok(address.to_owned()),
                Err(e) if e.kind().is_disconnect() => {
                    tracing::info!(address, error = %e, "server address not answering: trying the next");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Connect {
            address: String::new(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address given"),
        }))
    }

    /// The fingerprint pinned for one of `addresses` (and that address), if any; two
    /// addresses of the list pinned to different keys are not one service:
    /// [`ClientError::ServerNotTrusted`].
    fn pinned_key_of<S: AsRef<str>>(
        &self,
        addresses: &[S],
    ) -> Result<Option<(String, String)>, ClientError> {
        let mut found: Option<(String, String)> = None;
        for address in addresses {
            let address = address.as_ref();
            let Some(key) = self.known.pinned(address)? else {
                continue;
            };
            let fp = crate::identity::fingerprint(&key);
            match &found {
                Some((first, pinned)) if !same_fingerprint(pinned, &fp) => {
                    tracing::warn!(
                        first,
                        address,
                        "the addresses given are pinned to different server keys"
                    );
                    return Err(ClientError::ServerNotTrusted {
                        address: address.to_owned(),
                        expected: pinned.clone(),
                        presented: fp,
                    });
                }
                Some(_) => {}
                None => found = Some((address.to_owned(), fp)),
            }
        }
        Ok(found)
    }

    fn connect_inner(&mut self, address: &str, expected: Option<&str>) -> Result<(), ClientError> {
        self.close();
        self.lost = None;
        let conn = runtime()?.block_on(Connection::open(
            address,
            &self.key,
            &self.known,
            self.settings.keepalive,
            expected,
            self.arrivals.clone(),
        ))?;
        let server = conn.server_id.clone();
        let user = self.user.clone();
        let cursors = self.transaction_at(&server, |tx| {
            tx.set_last_server(&user, &server)?;
            tx.cursors()
        })?;
        let direct_after = cursors.get(DIRECT_STREAM).copied().unwrap_or(0);
        let rooms = cursors
            .iter()
            .filter(|(k, _)| *k != DIRECT_STREAM)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        self.conn = Some(conn);
        self.server = Some(server);
        self.synced = false;
        self.waiting.clear_stash();
        let hello = Request::Hello {
            version: VERSION,
            user: self.user.clone(),
            cursors: rooms,
            direct_after,
            token: self.settings.registration_token.clone(),
        };
        match self.request(hello) {
            Ok(Reply::Welcome { .. }) => self.after_hello(),
            Ok(other) => {
                self.close();
                Err(ClientError::Protocol(format!(
                    "{other:?} instead of Welcome"
                )))
            }
            Err(e) => {
                self.close();
                Err(e)
            }
        }
    }

    /// Closes the connection (nothing happens if none is open).
    pub fn close(&mut self) {
        self.conn = None;
    }

    /// Why the last connection ended, if the server or the network ended it (taken:
    /// said once).
    pub(crate) fn take_lost(&mut self) -> Option<String> {
        self.lost.take()
    }

    /// How long a request waits for its reply ([`Client::set_request_timeout`]).
    pub(crate) fn request_timeout(&self) -> Duration {
        self.settings.request_timeout
    }

    fn conn(&self) -> Result<&Connection, ClientError> {
        self.conn.as_ref().ok_or(ClientError::ConnectionClosed)
    }

    /// Sends one request and waits for its reply. A request refused as rate limited
    /// (nothing was done) is sent again when the server says, as long as that stays
    /// within the request timeout; only then is the refusal returned.
    pub(crate) fn request(&self, request: Request) -> Result<Reply, ClientError> {
        let start = Instant::now();
        loop {
            match self.request_once(&request) {
                Err(ClientError::Refused(Refusal::RateLimited { retry_after_ms })) => {
                    let wait = Duration::from_millis(retry_after_ms);
                    if start.elapsed() + wait > self.settings.request_timeout {
                        return Err(Refusal::RateLimited { retry_after_ms }.into());
                    }
                    tracing::debug!(retry_after_ms, "rate limited: waiting, then sending again");
                    std::thread::sleep(wait);
                }
                other => return other,
            }
        }
    }

    /// Sends one request once and waits for its reply.
    pub(crate) fn request_once(&self, request: &Request) -> Result<Reply, ClientError> {
        let conn = self.conn()?;
        let (id, rx) = conn.submit(request)?;
        let limit = self.settings.request_timeout;
        match runtime()?.block_on(async move { tokio::time::timeout(limit, rx).await }) {
            Err(_) => {
                conn.forget(id);
                Err(ClientError::Timeout(self.settings.request_timeout))
            }
            Ok(Err(_)) => Err(ClientError::ConnectionClosed),
            Ok(Ok(result)) => Ok(result?),
        }
    }

    /// Sends `request` without waiting for its reply: its id, and where the reply
    /// comes (a transfer waits for it without the client: `transfer::Pending`).
    pub(crate) fn submit(
        &self,
        request: &Request,
    ) -> Result<(u64, oneshot::Receiver<Result<Reply, Refusal>>), ClientError> {
        self.conn()?.submit(request)
    }

    /// Drops the reply of request `id` when it comes.
    pub(crate) fn forget(&self, id: u64) {
        if let Ok(conn) = self.conn() {
            conn.forget(id);
        }
    }

    fn expect_done(&self, request: Request) -> Result<(), ClientError> {
        match self.request(request)? {
            Reply::Done => Ok(()),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    fn expect_names(&self, request: Request) -> Result<Vec<String>, ClientError> {
        match self.request(request)? {
            Reply::Names(names) => Ok(names),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// This user's rooms, by name: the rooms whose group this client is in, after
    /// processing what was already received (so they agree with [`Client::members`]).
    /// Not what the server says: a server cannot make a room appear here. What the
    /// server routes is [`Client::routed_rooms`].
    pub fn rooms(&mut self) -> Result<Vec<String>, ClientError> {
        self.process_queued()?;
        if self.server.is_none() {
            return Err(ClientError::ConnectionClosed);
        }
        self.joined_rooms()
    }

    /// The rooms the server routes to this user (its membership table).
    pub fn routed_rooms(&self) -> Result<Vec<String>, ClientError> {
        self.expect_names(Request::ListRooms)
    }

    /// Members of `room` as the server routes it (the group's members, who can read
    /// the room, are [`Client::members`]).
    pub fn routed_members(&self, room: &str) -> Result<Vec<String>, ClientError> {
        self.expect_names(Request::Members { room: room.into() })
    }

    /// Raw access, bypassing end-to-end encryption: sends opaque bytes to `room` (at most 1 MiB), optionally marked as the group-state
    /// change for `commit_epoch` (refused with [`crate::Refusal::Stale`] if that epoch
    /// already has one).
    pub(crate) fn send_payload(
        &self,
        room: &str,
        payload: Vec<u8>,
        commit_epoch: Option<u64>,
    ) -> Result<Sent, ClientError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(NetError::MessageTooLarge {
                size: payload.len(),
                limit: MAX_PAYLOAD,
            }
            .into());
        }
        match self.request(Request::Send {
            room: room.into(),
            payload,
            commit_epoch,
        })? {
            Reply::Sent {
                id,
                seq,
                timestamp_ms,
            } => Ok(Sent {
                id,
                seq,
                timestamp: message::timestamp(timestamp_ms),
            }),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// Raw access: up to `limit` stored messages of `room` before `before` (or the latest), as the
    /// server stores them.
    pub(crate) fn history_envelopes(
        &self,
        room: &str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Envelope>, ClientError> {
        match self.request(Request::History {
            room: room.into(),
            before,
            limit,
        })? {
            Reply::Messages(m) => Ok(m),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// Waits for the next item from the server until `deadline` (`Ok(None)` when the
    /// time is up; [`ClientError::ConnectionClosed`] when the connection ends).
    fn wait_incoming(&mut self, deadline: Option<Instant>) -> Result<Option<Event>, ClientError> {
        let conn = self.conn.as_mut().ok_or(ClientError::ConnectionClosed)?;
        let incoming = match deadline {
            None => runtime()?.block_on(conn.events.recv()),
            Some(d) => {
                // Already queued: no need to enter the runtime's timer.
                match conn.events.try_recv() {
                    Ok(i) => Some(i),
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => None,
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                        let left = d.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return Ok(None);
                        }
                        let wait = conn.events.recv();
                        match runtime()?
                            .block_on(async move { tokio::time::timeout(left, wait).await })
                        {
                            Ok(i) => i,
                            Err(_) => return Ok(None),
                        }
                    }
                }
            }
        };
        match incoming {
            Some(Incoming::Event(event)) => Ok(Some(event)),
            None | Some(Incoming::Closed(_)) => {
                let reason = match incoming {
                    Some(Incoming::Closed(reason)) => reason,
                    _ => "the connection ended".to_owned(),
                };
                tracing::debug!(reason, "connection closed");
                self.lost = Some(reason);
                self.conn = None;
                Err(ClientError::ConnectionClosed)
            }
        }
    }

    /// Raw access, bypassing end-to-end encryption (for tests and tools; do not mix
    /// with [`Client::recv`] on one client): waits up to `timeout` for the next new
    /// envelope of the user's rooms, as stored, and moves the saved cursor past it.
    pub(crate) fn next_envelope(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<Envelope>, ClientError> {
        let deadline = timeout.and_then(deadline_in);
        loop {
            match self.wait_incoming(deadline)? {
                None => return Ok(None),
                Some(Event::Message(envelope)) => {
                    let fresh = self.transaction(|tx| {
                        if tx.cursor(&envelope.room)? >= envelope.seq {
                            return Ok(false);
                        }
                        tx.advance(&envelope.room, envelope.seq)?;
                        Ok(true)
                    })?;
                    if fresh {
                        return Ok(Some(envelope));
                    }
                }
                Some(Event::Direct(d)) => self.waiting.push_direct(d),
                Some(Event::SyncDone) => self.synced = true,
                Some(Event::Invited { .. } | Event::LinkAnswered { .. }) => {}
            }
        }
    }

    /// Takes the oldest event waiting for [`Client::recv_event`].
    /// Tells `arrivals` of everything the next connections receive.
    pub(crate) fn set_arrivals(&mut self, arrivals: Arc<Arrivals>) {
        self.arrivals = Some(arrivals);
    }

    /// Whether a processed event waits for [`Client::recv_event`].
    pub(crate) fn has_event(&self) -> Result<bool, ClientError> {
        match &self.server {
            None => Ok(false),
            Some(server) => self.state.has_event(server, &self.user),
        }
    }

    /// The oldest processed events, taken in one transaction: up to `max` (at most
    /// [`MAX_BATCH`]), as many as `pick` allows (none without a server yet).
    pub(crate) fn pop_events(&self, max: usize, pick: Pick) -> Result<Vec<ChatEvent>, ClientError> {
        if self.server.is_none() {
            return Ok(Vec::new());
        }
        let max = max.clamp(1, MAX_BATCH);
        self.transaction(|tx| tx.pop_events(max, pick))
    }

    /// The id of the server connected to (or last connected to).
    fn server_id(&self) -> Result<String, ClientError> {
        self.server.clone().ok_or(ClientError::ConnectionClosed)
    }

    /// Runs `f` in one transaction on this user's rows for `server` (committed if it
    /// returns `Ok`, rolled back otherwise).
    pub(super) fn transaction_at<T>(
        &self,
        server: &str,
        f: impl FnOnce(&Scoped<'_, '_>) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        self.state
            .transaction(|tx| f(&tx.scoped(server, &self.user)))
    }

    /// Runs `f` in one transaction on this user's rows for the server connected to (or
    /// last connected to); [`ClientError::ConnectionClosed`] if there was none.
    pub(super) fn transaction<T>(
        &self,
        f: impl FnOnce(&Scoped<'_, '_>) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let server = self.server_id()?;
        self.transaction_at(&server, f)
    }

    /// Like [`Client::transaction`], on disk before it returns even across a power loss
    /// (see [`ClientState::transaction_durable`]).
    pub(super) fn transaction_durable<T>(
        &self,
        f: impl FnOnce(&Scoped<'_, '_>) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let server = self.server_id()?;
        self.state
            .transaction_durable(|tx| f(&tx.scoped(&server, &self.user)))
    }

    /// Whether the catch-up after connecting is complete (every missed message has
    /// arrived; what follows is live).
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Raw access: direct deliveries that are not Welcomes for this client (they
    /// arrive while [`Client::recv`] or [`Client::next_envelope`] waits). Taking one
    /// moves the saved cursor past it; [`Client::ack_directs`] lets the server delete
    /// them.
    pub(crate) fn take_direct(&mut self) -> Result<Option<DirectEnvelope>, ClientError> {
        let Some(d) = self.waiting.pop_direct() else {
            return Ok(None);
        };
        if self.server.is_some() {
            self.transaction(|tx| tx.advance(DIRECT_STREAM, d.id))?;
        }
        Ok(Some(d))
    }

    /// Queues opaque bytes for `user` (delivered at once if connected); returns its id.
    pub(crate) fn send_direct(&self, user: &str, payload: Vec<u8>) -> Result<u64, ClientError> {
        match self.request(Request::SendDirect {
            user: user.into(),
            payload,
        })? {
            Reply::Queued { id } => Ok(id),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// Lets the server delete these direct deliveries of this user (and only these).
    pub(crate) fn ack_directs(&self, ids: &[u64]) -> Result<(), ClientError> {
        for chunk in ids.chunks(1000) {
            self.expect_done(Request::AckDirect {
                ids: chunk.to_vec(),
            })?;
        }
        Ok(())
    }

    /// Publishes one-use key packages (and optionally a last-resort one).
    pub(crate) fn publish_key_packages(
        &self,
        packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
    ) -> Result<(), ClientError> {
        self.expect_done(Request::PublishKeyPackages {
            packages,
            last_resort,
        })
    }

    /// Takes one key package of `user`.
    pub(crate) fn fetch_key_package(&self, user: &str) -> Result<Vec<u8>, ClientError> {
        match self.request(Request::FetchKeyPackage { user: user.into() })? {
            Reply::KeyPackage(p) => Ok(p),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// How many one-use key packages this user has left on the server.
    pub(crate) fn key_package_count(&self) -> Result<u64, ClientError> {
        match self.request(Request::KeyPackageCount)? {
            Reply::Count(n) => Ok(n),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }
}
