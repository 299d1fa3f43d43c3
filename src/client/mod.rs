//! The v2 client library: a blocking [`Client`] over an async connection.
//!
//! A client lives in a *home* directory: `identity.key` (its static key, 0600),
//! `known_servers` (pinned server keys) and `state.db` (what it has already handed out).
//! Calls block the calling thread and must not be made from inside an async runtime;
//! the network work runs on a shared background runtime.

mod connection;
mod message;
mod state;

pub use message::Message;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::error::{ClientError, NetError};
use crate::identity::{KnownServers, StaticKeypair};
use crate::net::MAX_PAYLOAD;
use crate::proto::{check_name, DirectEnvelope, Envelope, Event, Reply, Request, VERSION};
use connection::{runtime, Connection, Incoming};
use state::{ClientState, DIRECT_STREAM};

/// How long a request waits for its reply by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What [`Client::send_payload`] returns: where the message was stored.
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
    home: PathBuf,
    user: String,
    key: StaticKeypair,
    known: KnownServers,
    state: ClientState,
    conn: Option<Connection>,
    directs: VecDeque<DirectEnvelope>,
    /// The saved cursors of the current connection's server, kept in memory.
    cursors: HashMap<String, u64>,
    synced: bool,
    request_timeout: Duration,
}

fn name(n: &str) -> Result<(), ClientError> {
    check_name(n).map_err(|reason| ClientError::InvalidName {
        name: n.to_owned(),
        reason,
    })
}

impl Client {
    /// Opens (creating if needed) the home directory of `user`: its key, pins and state.
    pub fn open(home: impl AsRef<Path>, user: &str) -> Result<Client, ClientError> {
        name(user)?;
        let home = home.as_ref().to_owned();
        // A new home is private (0700): it holds the key, pins and what was received.
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(&home)
            .map_err(|source| crate::error::KeyError::Io {
                path: home.clone(),
                source,
            })?;
        let key = StaticKeypair::load_or_create(&home.join("identity.key"))?;
        let state = ClientState::open(&home)?;
        Ok(Client {
            known: KnownServers::new(home.join("known_servers")),
            home,
            user: user.to_owned(),
            key,
            state,
            conn: None,
            directs: VecDeque::new(),
            cursors: HashMap::new(),
            synced: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        })
    }

    /// The user's name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The fingerprint of the user's key.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint()
    }

    /// Changes how long requests wait for their reply.
    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.request_timeout = timeout;
    }

    /// Whether a connection is open (it may still have been closed by the server).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Connects to `address` (`host:port`): Noise handshake (the server's key is pinned
    /// on first use and must match afterwards: [`ClientError::ServerKeyChanged`]), then
    /// Hello, which registers the name on first use. Messages missed while away then
    /// arrive through [`Client::recv`].
    pub fn connect(&mut self, address: &str) -> Result<(), ClientError> {
        self.close();
        let conn = runtime().block_on(Connection::open(address, &self.key, &self.known))?;
        let cursors = self.state.cursors(&conn.server_id, &self.user)?;
        let direct_after = cursors.get(DIRECT_STREAM).copied().unwrap_or(0);
        let rooms = cursors
            .iter()
            .filter(|(k, _)| *k != DIRECT_STREAM)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        self.cursors = cursors;
        self.conn = Some(conn);
        self.synced = false;
        let hello = Request::Hello {
            version: VERSION,
            user: self.user.clone(),
            cursors: rooms,
            direct_after,
        };
        match self.request(hello) {
            Ok(Reply::Welcome { .. }) => Ok(()),
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

    fn conn(&self) -> Result<&Connection, ClientError> {
        self.conn.as_ref().ok_or(ClientError::ConnectionClosed)
    }

    /// Sends one request and waits for its reply.
    pub fn request(&self, request: Request) -> Result<Reply, ClientError> {
        let conn = self.conn()?;
        let (id, rx) = conn.submit(request)?;
        let limit = self.request_timeout;
        match runtime().block_on(async move { tokio::time::timeout(limit, rx).await }) {
            Err(_) => {
                conn.forget(id);
                Err(ClientError::Timeout(self.request_timeout))
            }
            Ok(Err(_)) => Err(ClientError::ConnectionClosed),
            Ok(Ok(result)) => Ok(result?),
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

    /// Creates a room with this user as its only member.
    pub fn create_room(&self, room: &str) -> Result<(), ClientError> {
        name(room)?;
        self.expect_done(Request::CreateRoom { room: room.into() })
    }

    /// Adds `user` to `room` (this user must be a member).
    pub fn invite(&self, room: &str, user: &str) -> Result<(), ClientError> {
        self.expect_done(Request::Invite {
            room: room.into(),
            user: user.into(),
        })
    }

    /// Leaves `room`.
    pub fn leave(&self, room: &str) -> Result<(), ClientError> {
        self.expect_done(Request::Leave { room: room.into() })
    }

    /// This user's rooms, by name.
    pub fn rooms(&self) -> Result<Vec<String>, ClientError> {
        self.expect_names(Request::ListRooms)
    }

    /// Members of `room`, by name.
    pub fn members(&self, room: &str) -> Result<Vec<String>, ClientError> {
        self.expect_names(Request::Members { room: room.into() })
    }

    /// Sends `text` to `room`; returns once the server has stored it durably.
    pub fn send(&self, room: &str, text: &str) -> Result<Message, ClientError> {
        let sent = self.send_payload(room, text.as_bytes().to_vec(), None)?;
        Ok(Message {
            id: sent.id,
            room: room.to_owned(),
            seq: sent.seq,
            sender: self.user.clone(),
            text: text.to_owned(),
            timestamp: sent.timestamp,
        })
    }

    /// Sends opaque bytes to `room` (at most 1 MiB), optionally marked as the group-state
    /// change for `commit_epoch` (refused with [`crate::Refusal::Stale`] if that epoch
    /// already has one).
    pub fn send_payload(
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

    /// The last `limit` messages of `room`, oldest first (text messages only).
    pub fn history(&self, room: &str, limit: u32) -> Result<Vec<Message>, ClientError> {
        self.history_envelopes(room, None, limit)?
            .into_iter()
            .filter(|e| e.commit_epoch.is_none())
            .map(Message::try_from)
            .collect()
    }

    /// Up to `limit` stored messages of `room` before `before` (or the latest), as the
    /// server stores them.
    pub fn history_envelopes(
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

    /// Waits up to `timeout` (forever with `None`) for the next message from someone
    /// else, live or missed while away; `Ok(None)` when the time is up. Each message is
    /// returned once, across restarts: the cursor is saved in the home. The user's own
    /// messages and group-state changes advance the cursor without being returned.
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Option<Message>, ClientError> {
        loop {
            match self.next_envelope(timeout)? {
                None => return Ok(None),
                Some(e) if e.sender == self.user || e.commit_epoch.is_some() => continue,
                Some(e) => return Message::try_from(e).map(Some),
            }
        }
    }

    /// Like [`Client::recv`] but returns every new envelope of the user's rooms (own
    /// messages and group-state changes too), as stored.
    pub fn next_envelope(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<Envelope>, ClientError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let conn = self.conn.as_mut().ok_or(ClientError::ConnectionClosed)?;
            let server = conn.server_id.clone();
            let wait = conn.events.recv();
            let incoming = match deadline {
                None => runtime().block_on(wait),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    match runtime().block_on(async move { tokio::time::timeout(left, wait).await })
                    {
                        Ok(i) => i,
                        Err(_) => return Ok(None),
                    }
                }
            };
            match incoming {
                None | Some(Incoming::Closed(_)) => {
                    if let Some(Incoming::Closed(reason)) = &incoming {
                        tracing::debug!(reason, "connection closed");
                    }
                    self.conn = None;
                    return Err(ClientError::ConnectionClosed);
                }
                Some(Incoming::Event(Event::Message(envelope))) => {
                    let cursors = self.state.cursors(&server, &self.user)?;
                    if cursors
                        .get(&envelope.room)
                        .is_some_and(|c| envelope.seq <= *c)
                    {
                        continue;
                    }
                    self.state
                        .advance(&server, &self.user, &envelope.room, envelope.seq)?;
                    return Ok(Some(envelope));
                }
                Some(Incoming::Event(Event::Direct(d))) => self.directs.push_back(d),
                Some(Incoming::Event(Event::SyncDone)) => self.synced = true,
                Some(Incoming::Event(Event::Invited { .. })) => {}
            }
        }
    }

    /// Whether the catch-up after connecting is complete (every missed message has
    /// arrived; what follows is live).
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Direct deliveries received so far (they arrive while [`Client::recv`] or
    /// [`Client::next_envelope`] waits). Taking one moves the saved cursor past it;
    /// [`Client::ack_directs`] lets the server delete them.
    pub fn take_direct(&mut self) -> Result<Option<DirectEnvelope>, ClientError> {
        let Some(d) = self.directs.pop_front() else {
            return Ok(None);
        };
        if let Some(conn) = &self.conn {
            self.state
                .advance(&conn.server_id, &self.user, DIRECT_STREAM, d.id)?;
        }
        Ok(Some(d))
    }

    /// Queues opaque bytes for `user` (delivered at once if connected); returns its id.
    pub fn send_direct(&self, user: &str, payload: Vec<u8>) -> Result<u64, ClientError> {
        match self.request(Request::SendDirect {
            user: user.into(),
            payload,
        })? {
            Reply::Queued { id } => Ok(id),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// Lets the server delete this user's direct deliveries up to `up_to`.
    pub fn ack_directs(&self, up_to: u64) -> Result<(), ClientError> {
        self.expect_done(Request::AckDirect { up_to })
    }

    /// Publishes one-use key packages (and optionally a last-resort one).
    pub fn publish_key_packages(
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
    pub fn fetch_key_package(&self, user: &str) -> Result<Vec<u8>, ClientError> {
        match self.request(Request::FetchKeyPackage { user: user.into() })? {
            Reply::KeyPackage(p) => Ok(p),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// How many one-use key packages this user has left on the server.
    pub fn key_package_count(&self) -> Result<u64, ClientError> {
        match self.request(Request::KeyPackageCount)? {
            Reply::Count(n) => Ok(n),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }
}
