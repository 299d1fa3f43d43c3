//! The client's local state in `home/state.db` (see [`crate::e2e::vault`]): the MLS
//! storage (keys, groups; openmls's own tables), and the client's tables: cursors (what
//! was already handled, per server, user and stream), rooms (room -> MLS group), the
//! decrypted history, the outbox (encrypted, not yet acknowledged by the server), the
//! keys seen for other users, and the last counter seen per sender.
//!
//! Every change goes through [`ClientState::transaction`], so that an MLS state change
//! and the rows that go with it (a decrypted message and its cursor, an outgoing
//! message and its ratchet step) are on disk together or not at all.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use openmls::group::{GroupId, MlsGroup};
use openmls_rust_crypto::RustCrypto;
use openmls_traits::OpenMlsProvider;
use rusqlite::{params, Connection, OptionalExtension};

use crate::client::event::Pick;
use crate::client::message::timestamp;
use crate::client::{Attachment, ChatEvent, Message};
use crate::e2e::provider::{migrate, Provider};
use crate::e2e::sealed::FileRef;
use crate::e2e::vault;
use crate::error::{E2eError, StoreError};
use crate::identity::StaticKeypair;
use crate::ClientError;

/// The cursor of the direct-delivery queue (room names never contain a NUL).
pub(crate) const DIRECT_STREAM: &str = "\0direct";

/// The state database and the crypto provider.
pub(crate) struct ClientState {
    inner: Mutex<Inner>,
    crypto: RustCrypto,
}

/// The connection and the groups kept in memory between transactions (loading one
/// from the storage reads a dozen rows). The cache is dropped whenever a transaction
/// rolls back and whenever another connection (another process on this home) changed
/// the database (`PRAGMA data_version`), so it never differs from what is stored.
struct Inner {
    conn: Connection,
    groups: HashMap<Vec<u8>, MlsGroup>,
    data_version: i64,
}

impl std::fmt::Debug for ClientState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientState { .. }")
    }
}

/// A room's end-to-end state.
#[derive(Debug, Clone)]
pub(crate) struct RoomRow {
    pub group_id: Vec<u8>,
    pub joined_epoch: u64,
    pub active: bool,
}

/// An encrypted message on its way out (the outbox holds it until the server
/// acknowledges it).
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub room: String,
    /// SHA-256 of `payload`: how the message is recognised when it comes back.
    pub digest: Vec<u8>,
    pub payload: Vec<u8>,
    pub body: Body,
    /// This sender's counter in the room, inside the encryption (0: not known).
    pub counter: u64,
}

/// What an outgoing message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    /// A text, kept in the history once sent.
    Text(String),
    /// That this user joined the room (see `invitees.rs`): nothing to keep.
    Joined,
    /// A file (its chunks uploaded already), kept in the history once sent.
    File(Box<FileRef>),
}

impl Body {
    /// The outbox's columns: the text, whether it is the word that this user joined,
    /// and the file.
    fn columns(&self) -> (&str, bool, Option<Vec<u8>>) {
        match self {
            Body::Text(text) => (text, false, None),
            Body::Joined => ("", true, None),
            Body::File(file) => ("", false, postcard::to_stdvec(file.as_ref()).ok()),
        }
    }

    fn from_columns(text: String, joined: bool, file: Option<Vec<u8>>) -> Body {
        if joined {
            return Body::Joined;
        }
        match file.and_then(|bytes| postcard::from_bytes(&bytes).ok()) {
            Some(file) => Body::File(Box::new(file)),
            None => Body::Text(text),
        }
    }

    /// What the history keeps of it once sent: the text and the file (nothing for the
    /// word that this user joined).
    pub(crate) fn kept(self) -> Option<(String, Option<Attachment>)> {
        match self {
            Body::Text(text) => Some((text, None)),
            Body::Joined => None,
            Body::File(file) => Some((String::new(), Some(Attachment(*file)))),
        }
    }
}

/// A group change of this client's that was sent (or about to be) and whose answer is
/// not known yet.
#[derive(Debug, Clone)]
pub(crate) struct PendingCommit {
    pub room: String,
    /// The epoch it changes.
    pub epoch: u64,
    /// The commit as sent.
    pub payload: Vec<u8>,
    /// For an invitation: who, and the Welcome to send them once the commit is taken.
    pub invitee: Option<String>,
    pub welcome: Option<Vec<u8>>,
    /// Known to be taken by the server (merged when it came back); only its Welcome
    /// is left to send.
    pub taken: bool,
}

/// What is remembered of another user's signature key.
#[derive(Debug, Clone)]
pub(crate) struct Contact {
    /// Their current key.
    pub key: Vec<u8>,
    /// Whether this key was verified (safety numbers compared).
    pub verified: bool,
    /// Whether it changed and the change was not acknowledged yet.
    pub changed: bool,
}

/// The Welcome of an invitation, held until it is accepted or declined.
#[derive(Debug, Clone)]
pub(crate) struct HeldWelcome {
    /// Who invited.
    pub by: String,
    /// The Welcome's bytes.
    pub welcome: Vec<u8>,
    /// Whether the server tracks the room's group.
    pub tracked: bool,
}

/// Messages sent in a room since this user's leaf key there was last renewed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SinceRenewal {
    /// How many.
    pub sent: u64,
    /// When the key was renewed (ms since the Unix epoch).
    pub renewed_ms: i64,
}

/// What [`Tx::observe_key`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// First time this user is seen: the key is remembered.
    New,
    /// The remembered key.
    Same,
    /// Another key than the remembered one: remembered now, marked changed.
    Changed,
}

impl ClientState {
    pub(super) fn open(home: &super::Home, passphrase: Option<&str>) -> Result<Self, ClientError> {
        let mut conn = vault::open(&home.state_db(), &home.state_salt(), passphrase)?;
        // Room for every statement the client runs (rusqlite keeps 16 by default).
        conn.set_prepared_statement_cache_capacity(128);
        super::schema::migrate(&mut conn)?;
        migrate(&mut conn).map_err(|detail| E2eError::Mls {
            operation: "storage migration",
            detail,
        })?;
        Ok(ClientState {
            inner: Mutex::new(Inner {
                conn,
                groups: HashMap::new(),
                data_version: -1,
            }),
            crypto: RustCrypto::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether an event is queued for `user` on `server`: one read, outside any
    /// transaction (cheap enough to ask after every call).
    pub(super) fn has_event(&self, server: &str, user: &str) -> Result<bool, ClientError> {
        let inner = self.lock();
        let row = inner
            .conn
            .query_row(
                "SELECT 1 FROM inbox WHERE server = ?1 AND user = ?2 LIMIT 1",
                params![server, user],
                |_| Ok(()),
            )
            .optional()
            .map_err(StoreError::from)?;
        Ok(row.is_some())
    }

    /// Like [`ClientState::transaction`], but on disk (fsync) before it returns even
    /// across a power loss: for the transaction that steps the sending ratchet, so that
    /// no message key can ever be used twice.
    pub(super) fn transaction_durable<T>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut inner = self.lock();
        inner
            .conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(StoreError::from)?;
        let out = Self::run(&mut inner, &self.crypto, f);
        let reset = inner.conn.pragma_update(None, "synchronous", "NORMAL");
        let out = out?;
        reset.map_err(StoreError::from)?;
        Ok(out)
    }

    /// Runs `f` in one transaction: committed if it returns `Ok`, rolled back otherwise.
    /// Committed transactions survive a crash of the process; after a power loss the
    /// last ones may be rolled back together (WAL, `synchronous=NORMAL`), which only
    /// makes the server deliver their messages again.
    pub(super) fn transaction<T>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut inner = self.lock();
        Self::run(&mut inner, &self.crypto, f)
    }

    /// Runs `f` in a transaction that is always rolled back: to check something with
    /// openmls (staging a Welcome) without keeping what that stores.
    pub(super) fn dry_run<T>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let inner = self.lock();
        let conn = &inner.conn;
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::from)?;
        // No group from memory: what `f` loads and changes is dropped with it.
        let groups = RefCell::new(HashMap::new());
        let out = f(&Tx {
            conn,
            crypto: &self.crypto,
            groups: &groups,
        });
        let _ = conn.execute_batch("ROLLBACK");
        out
    }

    fn run<T>(
        inner: &mut Inner,
        crypto: &RustCrypto,
        f: impl FnOnce(&Tx<'_>) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let conn = &inner.conn;
        if !conn.is_autocommit() {
            // A panic (caught at the C or Python boundary) left a transaction open.
            let _ = conn.execute_batch("ROLLBACK");
        }
        // IMMEDIATE: the write lock is taken at the start, so that two clients on one
        // home (two processes) serialize instead of failing to upgrade a read lock.
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::from)?;
        let version: i64 = conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .map_err(StoreError::from)?;
        if version != inner.data_version {
            inner.groups.clear();
            inner.data_version = version;
        }
        let groups = RefCell::new(std::mem::take(&mut inner.groups));
        let out = f(&Tx {
            conn,
            crypto,
            groups: &groups,
        });
        let out = match out {
            Ok(value) => match conn.execute_batch("COMMIT") {
                Ok(()) => Ok(value),
                Err(e) => Err(StoreError::from(e).into()),
            },
            Err(e) => Err(e),
        };
        match out {
            Ok(value) => {
                inner.groups = groups.into_inner();
                Ok(value)
            }
            Err(e) => {
                // The groups in memory may hold changes that are not stored.
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// One transaction on the state.
pub(crate) struct Tx<'a> {
    conn: &'a Connection,
    crypto: &'a RustCrypto,
    groups: &'a RefCell<HashMap<Vec<u8>, MlsGroup>>,
}

fn db<T>(r: rusqlite::Result<T>) -> Result<T, ClientError> {
    r.map_err(|e| ClientError::Store(e.into()))
}

impl<'a> Tx<'a> {
    /// The group `group_id`, from memory or the storage. Give it back with
    /// [`Tx::keep`] once done (otherwise the next use loads it again).
    pub(super) fn group(&self, group_id: &[u8]) -> Result<MlsGroup, ClientError> {
        if let Some(group) = self.groups.borrow_mut().remove(group_id) {
            return Ok(group);
        }
        MlsGroup::load(self.provider().storage(), &GroupId::from_slice(group_id))
            .map_err(|e| E2eError::Mls {
                operation: "loading the group",
                detail: e.to_string(),
            })?
            .ok_or_else(|| {
                E2eError::Mls {
                    operation: "loading the group",
                    detail: "it is missing from the state".into(),
                }
                .into()
            })
    }

    /// Runs `f` all-or-nothing inside this transaction (a savepoint): if it fails,
    /// what it wrote is undone, the groups in memory are dropped (they may hold its
    /// changes; the next use loads them as stored), and the transaction goes on.
    pub(super) fn atomically<T>(
        &self,
        f: impl FnOnce() -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        db(self.cached_execute("SAVEPOINT one_item", []))?;
        match f() {
            Ok(value) => {
                db(self.cached_execute("RELEASE one_item", []))?;
                Ok(value)
            }
            Err(e) => {
                self.groups.borrow_mut().clear();
                db(self
                    .conn
                    .execute_batch("ROLLBACK TO one_item; RELEASE one_item"))?;
                Err(e)
            }
        }
    }

    /// Keeps `group` in memory for the next transactions (dropped if this one rolls
    /// back).
    pub(super) fn keep(&self, group: MlsGroup) {
        self.groups
            .borrow_mut()
            .insert(group.group_id().as_slice().to_vec(), group);
    }

    /// `query_row` through the connection's statement cache (the statements of the
    /// message path run thousands of times: parsing each again was ~5% of a catch-up).
    pub(super) fn cached_query_row<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        self.conn.prepare_cached(sql)?.query_row(params, f)
    }

    /// `execute` through the connection's statement cache.
    pub(super) fn cached_execute<P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
    ) -> rusqlite::Result<usize> {
        self.conn.prepare_cached(sql)?.execute(params)
    }

    /// The openmls provider inside this transaction.
    pub(super) fn provider(&self) -> Provider<'a> {
        Provider::new(self.crypto, self.conn)
    }

    pub(super) fn my_key(&self, user: &str) -> Result<Option<Vec<u8>>, ClientError> {
        db(self
            .cached_query_row(
                "SELECT signature_key FROM me WHERE user = ?1",
                [user],
                |r| r.get(0),
            )
            .optional())
    }

    /// This home's device certificate, when it is a linked device of `user`.
    pub(super) fn device_certificate(&self, user: &str) -> Result<Option<Vec<u8>>, ClientError> {
        db(self
            .cached_query_row(
                "SELECT certificate FROM device WHERE user = ?1",
                [user],
                |r| r.get(0),
            )
            .optional())
    }

    /// Records this home's device certificate (it was linked).
    pub(super) fn set_device_certificate(
        &self,
        user: &str,
        certificate: &[u8],
    ) -> Result<(), ClientError> {
        db(self.cached_execute(
            "INSERT INTO device (user, certificate) VALUES (?1, ?2)",
            params![user, certificate],
        ))
        .map(drop)
    }

    pub(super) fn set_my_key(&self, user: &str, key: &[u8]) -> Result<(), ClientError> {
        db(self.cached_execute(
            "INSERT INTO me (user, signature_key) VALUES (?1, ?2)",
            params![user, key],
        ))
        .map(drop)
    }

    /// The Noise key of `user` kept in the state (homes opened with a passphrase).
    pub(super) fn transport_key(&self, user: &str) -> Result<Option<StaticKeypair>, ClientError> {
        let parts: Option<(zeroize::Zeroizing<Vec<u8>>, Vec<u8>)> = db(self
            .cached_query_row(
                "SELECT private, public FROM transport_key WHERE user = ?1",
                [user],
                |r| Ok((zeroize::Zeroizing::new(r.get(0)?), r.get(1)?)),
            )
            .optional())?;
        parts
            .map(|(private, public)| StaticKeypair::from_parts(&private, &public))
            .transpose()
            .map_err(Into::into)
    }

    pub(super) fn set_transport_key(
        &self,
        user: &str,
        key: &StaticKeypair,
    ) -> Result<(), ClientError> {
        db(self.cached_execute(
            "INSERT INTO transport_key (user, private, public) VALUES (?1, ?2, ?3)",
            params![user, &key.private()[..], &key.public()[..]],
        ))
        .map(drop)
    }

    /// The server `user` last connected to (its state is what works offline).
    pub(super) fn last_server(&self, user: &str) -> Result<Option<String>, ClientError> {
        db(self
            .cached_query_row(
                "SELECT server FROM last_server WHERE user = ?1",
                [user],
                |r| r.get(0),
            )
            .optional())
    }

    pub(super) fn set_last_server(&self, user: &str, server: &str) -> Result<(), ClientError> {
        db(self.cached_execute(
            "INSERT OR REPLACE INTO last_server (user, server) VALUES (?1, ?2)",
            params![user, server],
        ))
        .map(drop)
    }

    /// This transaction on the rows of `user` on `server` (the server's key, hex).
    pub(super) fn scoped<'t>(&'t self, server: &'t str, user: &'t str) -> Scoped<'t, 'a> {
        Scoped {
            tx: self,
            server,
            user,
        }
    }
}

/// A transaction bound to one user on one server: the rows it reads and writes are
/// theirs (cursors, rooms, history, outbox, contacts, events...). Everything a [`Tx`]
/// does is available too.
pub(crate) struct Scoped<'t, 'a> {
    tx: &'t Tx<'a>,
    server: &'t str,
    user: &'t str,
}

impl<'a> std::ops::Deref for Scoped<'_, 'a> {
    type Target = Tx<'a>;

    fn deref(&self) -> &Tx<'a> {
        self.tx
    }
}

impl Scoped<'_, '_> {
    /// The user whose rows these are.
    pub(super) fn user(&self) -> &str {
        self.user
    }

    pub(super) fn cursors(&self) -> Result<HashMap<String, u64>, ClientError> {
        let (server, user) = (self.server, self.user);
        let mut stmt = db(self.conn.prepare_cached(
            "SELECT stream, position FROM cursors WHERE server = ?1 AND user = ?2",
        ))?;
        let rows = db(stmt.query_map(params![server, user], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        }))?;
        db(rows.collect())
    }

    pub(super) fn cursor(&self, stream: &str) -> Result<u64, ClientError> {
        let (server, user) = (self.server, self.user);
        db(self
            .cached_query_row(
                "SELECT position FROM cursors WHERE server = ?1 AND user = ?2 AND stream = ?3",
                params![server, user, stream],
                |r| r.get::<_, i64>(0),
            )
            .optional())
        .map(|p| p.unwrap_or(0) as u64)
    }

    /// Moves a cursor forward (never back).
    pub(super) fn advance(&self, stream: &str, position: u64) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        let mut stmt = db(self.conn.prepare_cached(
            "INSERT INTO cursors (server, user, stream, position) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (server, user, stream) DO UPDATE SET position = max(position, excluded.position)",
        ))?;
        db(stmt.execute(params![server, user, stream, position as i64])).map(drop)
    }

    pub(super) fn room(&self, room: &str) -> Result<Option<RoomRow>, ClientError> {
        let (server, user) = (self.server, self.user);
        db(self
            .cached_query_row(
                "SELECT group_id, joined_epoch, active FROM rooms
                 WHERE server = ?1 AND user = ?2 AND room = ?3",
                params![server, user, room],
                |r| {
                    Ok(RoomRow {
                        group_id: r.get(0)?,
                        joined_epoch: r.get::<_, i64>(1)? as u64,
                        active: r.get(2)?,
                    })
                },
            )
            .optional())
    }

    pub(super) fn set_room(
        &self,
        room: &str,
        group_id: &[u8],
        joined_epoch: u64,
    ) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "INSERT INTO rooms (server, user, room, group_id, joined_epoch) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (server, user, room) DO UPDATE SET group_id = excluded.group_id,
                 joined_epoch = excluded.joined_epoch, next_counter = 1, active = 1",
            params![server, user, room, group_id, joined_epoch as i64],
        ))
        .map(drop)
    }

    /// The rooms whose group this user is in, by name.
    pub(super) fn active_rooms(&self) -> Result<Vec<String>, ClientError> {
        let (server, user) = (self.server, self.user);
        let mut statement = db(self.conn.prepare_cached(
            "SELECT room FROM rooms WHERE server = ?1 AND user = ?2 AND active = 1 ORDER BY room",
        ))?;
        let rows = db(statement.query_map(params![server, user], |r| r.get(0)))?;
        db(rows.collect())
    }

    pub(super) fn deactivate_room(&self, room: &str) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "UPDATE rooms SET active = 0 WHERE server = ?1 AND user = ?2 AND room = ?3",
            params![server, user, room],
        ))
        .map(drop)
    }

    /// Takes the next counter of this user's messages in `room`.
    pub(super) fn take_counter(&self, room: &str) -> Result<u64, ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_query_row(
            "UPDATE rooms SET next_counter = next_counter + 1
             WHERE server = ?1 AND user = ?2 AND room = ?3 RETURNING next_counter - 1",
            params![server, user, room],
            |r| r.get::<_, i64>(0),
        ))
        .map(|c| c as u64)
    }

    /// Records `counter` from `sender` in `room`; returns the previous last one.
    pub(super) fn see_counter(
        &self,
        room: &str,
        sender: &str,
        counter: u64,
    ) -> Result<u64, ClientError> {
        let (server, user) = (self.server, self.user);
        let last: Option<i64> = db(self.cached_query_row(
                "SELECT last FROM counters WHERE server = ?1 AND user = ?2 AND room = ?3 AND sender = ?4",
                params![server, user, room, sender],
                |r| r.get(0),
            )
            .optional())?;
        db(self.cached_execute(
            "INSERT INTO counters (server, user, room, sender, last) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (server, user, room, sender) DO UPDATE SET last = max(last, excluded.last)",
            params![server, user, room, sender, counter as i64],
        ))?;
        Ok(last.unwrap_or(0) as u64)
    }

    /// Adds a decrypted (or sent) message to the local history (once per seq).
    pub(super) fn add_history(&self, message: &Message) -> Result<(), ClientError> {
        let mut stmt = db(self.conn.prepare_cached(
            "INSERT OR IGNORE INTO history
                 (server, user, room, seq, id, sender, ts_ms, text, attachment)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        ))?;
        let attachment = match &message.attachment {
            Some(a) => Some(
                postcard::to_stdvec(&a.0)
                    .map_err(|e| ClientError::Store(StoreError::Encoding(e.to_string())))?,
            ),
            None => None,
        };
        db(stmt.execute(params![
            self.server,
            self.user,
            message.room,
            message.seq as i64,
            message.id as i64,
            message.sender,
            message.timestamp.timestamp_millis(),
            message.text,
            attachment
        ]))
        .map(drop)
    }

    /// The last `limit` decrypted messages of `room` placed before `before` (a seq;
    /// `None`: the newest), oldest first.
    pub(super) fn history_before(
        &self,
        room: &str,
        limit: u32,
        before: Option<u64>,
    ) -> Result<Vec<Message>, ClientError> {
        let (server, user) = (self.server, self.user);
        let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
        let mut stmt = db(self.conn.prepare_cached(
            "SELECT seq, id, sender, ts_ms, text, attachment FROM history
             WHERE server = ?1 AND user = ?2 AND room = ?3 AND seq < ?5
             ORDER BY seq DESC LIMIT ?4",
        ))?;
        let rows = db(
            stmt.query_map(params![server, user, room, limit, before], |r| {
                Ok(Message {
                    seq: r.get::<_, i64>(0)? as u64,
                    id: r.get::<_, i64>(1)? as u64,
                    room: room.to_owned(),
                    sender: r.get(2)?,
                    timestamp: timestamp(r.get(3)?),
                    text: r.get(4)?,
                    attachment: r
                        .get::<_, Option<Vec<u8>>>(5)?
                        .and_then(|b| postcard::from_bytes(&b).ok())
                        .map(Attachment),
                })
            }),
        )?;
        let mut out: Vec<_> = db(rows.collect())?;
        out.reverse();
        Ok(out)
    }

    /// Puts an encrypted message in the outbox (until the server acknowledges it).
    pub(super) fn add_outbox(&self, out: &Outgoing) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        let (text, joined, file) = out.body.columns();
        db(self.cached_execute(
            "INSERT OR REPLACE INTO outbox
                 (server, user, room, digest, payload, text, counter, joined, file, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
                 (SELECT coalesce(max(created), 0) + 1 FROM outbox))",
            params![
                server,
                user,
                out.room,
                out.digest,
                out.payload,
                text,
                out.counter as i64,
                joined,
                file
            ],
        ))
        .map(drop)
    }

    /// Replaces the outbox entry `old_digest` by `out` (the same text encrypted again),
    /// in its place in the order.
    pub(super) fn replace_outbox(
        &self,
        old_digest: &[u8],
        out: &Outgoing,
    ) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "UPDATE outbox SET digest = ?5, payload = ?6, counter = ?7
             WHERE server = ?1 AND user = ?2 AND room = ?3 AND digest = ?4",
            params![
                server,
                user,
                out.room,
                old_digest,
                out.digest,
                out.payload,
                out.counter as i64
            ],
        ))
        .map(drop)
    }

    /// Removes an outbox entry; returns what it said if it was there.
    pub(super) fn take_outbox(
        &self,
        room: &str,
        digest: &[u8],
    ) -> Result<Option<Body>, ClientError> {
        let (server, user) = (self.server, self.user);
        db(self
            .cached_query_row(
                "DELETE FROM outbox WHERE server = ?1 AND user = ?2 AND room = ?3 AND digest = ?4
                 RETURNING text, joined, file",
                params![server, user, room, digest],
                |r| Ok(Body::from_columns(r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional())
    }

    /// Every outbox entry, oldest first.
    pub(super) fn outbox(&self) -> Result<Vec<Outgoing>, ClientError> {
        let (server, user) = (self.server, self.user);
        let mut stmt = db(self.conn.prepare(
            "SELECT room, digest, payload, text, counter, joined, file FROM outbox
             WHERE server = ?1 AND user = ?2 ORDER BY created",
        ))?;
        let rows = db(stmt.query_map(params![server, user], |r| {
            Ok(Outgoing {
                room: r.get(0)?,
                digest: r.get(1)?,
                payload: r.get(2)?,
                body: Body::from_columns(r.get(3)?, r.get(5)?, r.get(6)?),
                // Entries made before counters were kept: 0, a new one is taken.
                counter: r.get::<_, Option<i64>>(4)?.unwrap_or(0) as u64,
            })
        }))?;
        db(rows.collect())
    }

    /// Remembers this client's group change for `room` until its answer is known.
    pub(super) fn set_pending_commit(&self, commit: &PendingCommit) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "INSERT OR REPLACE INTO pending_commits
                 (server, user, room, epoch, payload, invitee, welcome)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                server,
                user,
                commit.room,
                commit.epoch as i64,
                commit.payload,
                commit.invitee,
                commit.welcome
            ],
        ))
        .map(drop)
    }

    /// This client's group change for `room` whose answer is not known, if any.
    pub(super) fn pending_commit(&self, room: &str) -> Result<Option<PendingCommit>, ClientError> {
        let (server, user) = (self.server, self.user);
        db(self
            .cached_query_row(
                "SELECT epoch, payload, invitee, welcome, taken FROM pending_commits
                 WHERE server = ?1 AND user = ?2 AND room = ?3",
                params![server, user, room],
                |r| {
                    Ok(PendingCommit {
                        room: room.to_owned(),
                        epoch: r.get::<_, i64>(0)? as u64,
                        payload: r.get(1)?,
                        invitee: r.get(2)?,
                        welcome: r.get(3)?,
                        taken: r.get(4)?,
                    })
                },
            )
            .optional())
    }

    /// Marks the group change of `room` as taken by the server (merged): forgotten at
    /// once unless a Welcome is left to send.
    pub(super) fn pending_commit_taken(&self, room: &str) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "DELETE FROM pending_commits
             WHERE server = ?1 AND user = ?2 AND room = ?3 AND welcome IS NULL",
            params![server, user, room],
        ))?;
        db(self.cached_execute(
            "UPDATE pending_commits SET taken = 1 WHERE server = ?1 AND user = ?2 AND room = ?3",
            params![server, user, room],
        ))
        .map(drop)
    }

    /// Forgets the group change of `room` (its answer is known).
    pub(super) fn forget_pending_commit(&self, room: &str) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "DELETE FROM pending_commits WHERE server = ?1 AND user = ?2 AND room = ?3",
            params![server, user, room],
        ))
        .map(drop)
    }

    /// Remembers `key` for `other` (trust on first use) and says whether it changed.
    pub(super) fn observe_key(&self, other: &str, key: &[u8]) -> Result<Seen, ClientError> {
        let server = self.server;
        let known: Option<Vec<u8>> = db(self
            .cached_query_row(
                "SELECT signature_key FROM contacts WHERE server = ?1 AND user = ?2",
                params![server, other],
                |r| r.get(0),
            )
            .optional())?;
        match known {
            Some(k) if k == key => Ok(Seen::Same),
            Some(_) => {
                db(self.cached_execute(
                    "UPDATE contacts SET signature_key = ?3, verified = 0, changed = 1
                     WHERE server = ?1 AND user = ?2",
                    params![server, other, key],
                ))?;
                Ok(Seen::Changed)
            }
            None => {
                db(self.cached_execute(
                    "INSERT INTO contacts (server, user, signature_key) VALUES (?1, ?2, ?3)",
                    params![server, other, key],
                ))?;
                Ok(Seen::New)
            }
        }
    }

    /// What is remembered of `other`'s key.
    pub(super) fn contact(&self, other: &str) -> Result<Option<Contact>, ClientError> {
        let server = self.server;
        db(self.cached_query_row(
                "SELECT signature_key, verified, changed FROM contacts WHERE server = ?1 AND user = ?2",
                params![server, other],
                |r| {
                    Ok(Contact {
                        key: r.get(0)?,
                        verified: r.get(1)?,
                        changed: r.get(2)?,
                    })
                },
            )
            .optional())
    }

    /// Marks `other`'s current key as acknowledged (and verified if `verified`).
    pub(super) fn accept_key(&self, other: &str, verified: bool) -> Result<bool, ClientError> {
        let server = self.server;
        let n = db(self.cached_execute(
            "UPDATE contacts SET changed = 0, verified = max(verified, ?3)
             WHERE server = ?1 AND user = ?2",
            params![server, other, verified],
        ))?;
        Ok(n > 0)
    }

    /// Queues events for [`crate::Client::recv_event`], in this transaction (so that
    /// what produced them and their delivery are saved together).
    pub(super) fn push_events(&self, events: &[ChatEvent]) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        let mut stmt = db(self
            .conn
            .prepare_cached("INSERT INTO inbox (server, user, event) VALUES (?1, ?2, ?3)"))?;
        for e in events {
            let bytes = postcard::to_stdvec(e)
                .map_err(|e| ClientError::Store(StoreError::Encoding(e.to_string())))?;
            db(stmt.execute(params![server, user, bytes]))?;
        }
        Ok(())
    }

    /// Takes the oldest queued events, up to `max`, as many as `pick` allows: one
    /// statement reads them and one removes them, so a batch costs about what one
    /// event does.
    pub(super) fn pop_events(&self, max: usize, pick: Pick) -> Result<Vec<ChatEvent>, ClientError> {
        let (server, user) = (self.server, self.user);
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let mut stmt = db(self.conn.prepare_cached(
            "SELECT id, event FROM inbox WHERE server = ?1 AND user = ?2 ORDER BY id LIMIT ?3",
        ))?;
        let rows: Vec<(i64, Vec<u8>)> = db(stmt
            .query_map(params![server, user, limit], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect()))?;
        // An event this version cannot read (written by a newer one) is passed over.
        let mut queued: Vec<Option<ChatEvent>> = rows
            .iter()
            .map(|(_, bytes)| postcard::from_bytes(bytes).ok())
            .collect();
        let taken = pick.count(&queued);
        let Some(&(last, _)) = taken.checked_sub(1).and_then(|i| rows.get(i)) else {
            return Ok(Vec::new());
        };
        db(self.cached_execute(
            "DELETE FROM inbox WHERE server = ?1 AND user = ?2 AND id <= ?3",
            params![server, user, last],
        ))?;
        queued.truncate(taken);
        Ok(queued.into_iter().flatten().collect())
    }

    /// When the last-resort key package was last published on `server` (ms since
    /// the Unix epoch; 0 if only known to have been published, by an older smc).
    pub(super) fn last_resort_published(&self) -> Result<Option<i64>, ClientError> {
        let (server, user) = (self.server, self.user);
        let at: Option<i64> = db(self
            .cached_query_row(
                "SELECT published_ms FROM last_resort WHERE server = ?1 AND user = ?2",
                params![server, user],
                |r| r.get(0),
            )
            .optional())?;
        if at.is_some() {
            return Ok(at);
        }
        let before: bool = db(self
            .cached_query_row(
                "SELECT 1 FROM published WHERE server = ?1 AND user = ?2",
                params![server, user],
                |_| Ok(()),
            )
            .optional())?
        .is_some();
        Ok(before.then_some(0))
    }

    /// Records that the last-resort key package was published at `now_ms`.
    pub(super) fn set_last_resort_published(&self, now_ms: i64) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "INSERT OR REPLACE INTO last_resort (server, user, published_ms) VALUES (?1, ?2, ?3)",
            params![server, user, now_ms],
        ))
        .map(drop)
    }

    /// Keeps the Welcome of an invitation until it is accepted or declined
    /// (`tracked`: whether the server tracks the room's group).
    pub(super) fn hold_welcome(
        &self,
        room: &str,
        by: &str,
        welcome: &[u8],
        tracked: bool,
    ) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "INSERT OR REPLACE INTO held_welcomes (server, user, room, by_user, welcome, tracked)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![server, user, room, by, welcome, tracked],
        ))
        .map(drop)
    }

    /// The held Welcome of an invitation to `room`.
    pub(super) fn held_welcome(&self, room: &str) -> Result<Option<HeldWelcome>, ClientError> {
        let (server, user) = (self.server, self.user);
        db(self
            .cached_query_row(
                "SELECT by_user, welcome, tracked FROM held_welcomes
                 WHERE server = ?1 AND user = ?2 AND room = ?3",
                params![server, user, room],
                |r| {
                    Ok(HeldWelcome {
                        by: r.get(0)?,
                        welcome: r.get(1)?,
                        tracked: r.get(2)?,
                    })
                },
            )
            .optional())
    }

    /// How many Welcomes are held, and their bytes (room names included), besides
    /// `room`'s.
    pub(super) fn held_welcomes_besides(&self, room: &str) -> Result<(u64, u64), ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_query_row(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(welcome) + LENGTH(room)), 0)
             FROM held_welcomes WHERE server = ?1 AND user = ?2 AND room != ?3",
            params![server, user, room],
            |r| Ok((r.get(0)?, r.get(1)?)),
        ))
    }

    /// The rooms whose Welcome is held.
    pub(super) fn held_welcome_rooms(&self) -> Result<Vec<String>, ClientError> {
        let (server, user) = (self.server, self.user);
        let mut stmt = db(self
            .conn
            .prepare_cached("SELECT room FROM held_welcomes WHERE server = ?1 AND user = ?2"))?;
        let rows = db(stmt.query_map(params![server, user], |r| r.get(0)))?;
        db(rows.collect())
    }

    /// Forgets the held Welcome of `room`.
    pub(super) fn drop_held_welcome(&self, room: &str) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "DELETE FROM held_welcomes WHERE server = ?1 AND user = ?2 AND room = ?3",
            params![server, user, room],
        ))
        .map(drop)
    }

    /// Records `members` of `room` as invited, not joined yet (see `invitees.rs`).
    pub(super) fn add_invitees(&self, room: &str, members: &[String]) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        for member in members {
            db(self.cached_execute(
                "INSERT OR IGNORE INTO invitees (server, user, room, member)
                 VALUES (?1, ?2, ?3, ?4)",
                params![server, user, room, member],
            ))?;
        }
        Ok(())
    }

    /// Forgets that `member` of `room` was only invited; whether they were.
    pub(super) fn drop_invitee(&self, room: &str, member: &str) -> Result<bool, ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "DELETE FROM invitees WHERE server = ?1 AND user = ?2 AND room = ?3 AND member = ?4",
            params![server, user, room, member],
        ))
        .map(|n| n > 0)
    }

    /// Forgets every invitee of `room` (this user joins it anew).
    pub(super) fn clear_invitees(&self, room: &str) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "DELETE FROM invitees WHERE server = ?1 AND user = ?2 AND room = ?3",
            params![server, user, room],
        ))
        .map(drop)
    }

    /// The members of `room` recorded as invited, not joined yet, sorted.
    pub(super) fn invitees(&self, room: &str) -> Result<Vec<String>, ClientError> {
        let (server, user) = (self.server, self.user);
        let mut stmt = db(self.conn.prepare_cached(
            "SELECT member FROM invitees WHERE server = ?1 AND user = ?2 AND room = ?3
             ORDER BY member",
        ))?;
        let rows = db(stmt.query_map(params![server, user, room], |r| r.get(0)))?;
        db(rows.collect())
    }

    /// Records that this user accepted the invitation to `room` (see `invitations.rs`).
    pub(super) fn record_consent(&self, room: &str) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "INSERT OR IGNORE INTO consents (server, user, room) VALUES (?1, ?2, ?3)",
            params![server, user, room],
        ))
        .map(drop)
    }

    /// Whether this user accepted the invitation to `room` and its Welcome has not
    /// joined yet.
    pub(super) fn consented(&self, room: &str) -> Result<bool, ClientError> {
        let (server, user) = (self.server, self.user);
        db(self
            .cached_query_row(
                "SELECT 1 FROM consents WHERE server = ?1 AND user = ?2 AND room = ?3",
                params![server, user, room],
                |_| Ok(()),
            )
            .optional())
        .map(|found| found.is_some())
    }

    /// Forgets this user's consent to `room` (joined, or the invitation is gone).
    pub(super) fn drop_consent(&self, room: &str) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "DELETE FROM consents WHERE server = ?1 AND user = ?2 AND room = ?3",
            params![server, user, room],
        ))
        .map(drop)
    }

    /// When this user's leaf key in `room` was last renewed (first seen now, as the
    /// start of the count, when unknown).
    pub(super) fn self_updated(&self, room: &str, now_ms: i64) -> Result<i64, ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "INSERT OR IGNORE INTO self_updates (server, user, room, sent, updated_ms)
             VALUES (?1, ?2, ?3, 0, ?4)",
            params![server, user, room, now_ms],
        ))?;
        db(self.cached_query_row(
            "SELECT updated_ms FROM self_updates WHERE server = ?1 AND user = ?2 AND room = ?3",
            params![server, user, room],
            |r| r.get(0),
        ))
    }

    /// Counts one message sent in `room`.
    pub(super) fn count_sent(&self, room: &str, now_ms: i64) -> Result<SinceRenewal, ClientError> {
        let (server, user) = (self.server, self.user);
        self.self_updated(room, now_ms)?;
        db(self.cached_query_row(
            "UPDATE self_updates SET sent = sent + 1 WHERE server = ?1 AND user = ?2 AND room = ?3
             RETURNING sent, updated_ms",
            params![server, user, room],
            |r| {
                Ok(SinceRenewal {
                    sent: r.get::<_, i64>(0)? as u64,
                    renewed_ms: r.get(1)?,
                })
            },
        ))
    }

    /// Records a renewal of this user's leaf key in `room`.
    pub(super) fn set_self_updated(&self, room: &str, now_ms: i64) -> Result<(), ClientError> {
        let (server, user) = (self.server, self.user);
        db(self.cached_execute(
            "INSERT OR REPLACE INTO self_updates (server, user, room, sent, updated_ms)
             VALUES (?1, ?2, ?3, 0, ?4)",
            params![server, user, room, now_ms],
        ))
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Home;

    /// A fresh state in its own home under the system's temp directory.
    fn state(name: &str) -> ClientState {
        let dir = std::env::temp_dir().join(format!("smc-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let home = Home::new(dir);
        home.create().unwrap();
        ClientState::open(&home, None).unwrap()
    }

    fn message(room: &str, seq: u64, text: &str) -> Message {
        Message {
            id: seq * 10,
            room: room.into(),
            seq,
            sender: "bob".into(),
            text: text.into(),
            timestamp: timestamp(1_700_000_000_000 + seq as i64),
            attachment: None,
        }
    }

    #[test]
    fn cursors_only_move_forward() {
        let state = state("cursors");
        state
            .transaction(|tx| {
                let tx = tx.scoped("srv", "alice");
                assert_eq!(tx.cursor("room:r")?, 0);
                tx.advance("room:r", 5)?;
                tx.advance("room:r", 3)?;
                assert_eq!(tx.cursor("room:r")?, 5);
                tx.advance("direct", 2)?;
                let all = tx.cursors()?;
                assert_eq!(all.len(), 2);
                assert_eq!(all["direct"], 2);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn history_keeps_each_seq_once_and_returns_the_last_ones_oldest_first() {
        let state = state("history");
        state
            .transaction(|tx| {
                let tx = tx.scoped("srv", "alice");
                for (seq, text) in [(2, "two"), (1, "one"), (3, "three"), (2, "again")] {
                    tx.add_history(&message("r", seq, text))?;
                }
                tx.add_history(&message("other", 1, "elsewhere"))?;
                let texts = |limit| -> Result<Vec<String>, ClientError> {
                    Ok(tx
                        .history_before("r", limit, None)?
                        .into_iter()
                        .map(|m| m.text)
                        .collect())
                };
                assert_eq!(texts(10)?, ["one", "two", "three"]);
                assert_eq!(texts(2)?, ["two", "three"]);
                let m = &tx.history_before("r", 1, None)?[0];
                // A page further back: before seq 3.
                let page: Vec<String> = tx
                    .history_before("r", 10, Some(3))?
                    .into_iter()
                    .map(|m| m.text)
                    .collect();
                assert_eq!(page, ["one", "two"]);
                assert!(tx.history_before("r", 10, Some(1))?.is_empty());
                assert_eq!((m.id, m.sender.as_str()), (30, "bob"));
                assert_eq!(m.timestamp, timestamp(1_700_000_000_003));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn each_server_and_user_sees_only_its_own_rows() {
        let state = state("scopes");
        state
            .transaction(|tx| {
                let alice = tx.scoped("srv", "alice");
                alice.add_history(&message("r", 1, "alice's"))?;
                alice.advance("room:r", 9)?;
                alice.set_room("r", b"group", 0)?;
                alice.push_events(&[ChatEvent::Removed { room: "r".into() }])?;
                for (server, user) in [("srv", "bob"), ("other", "alice")] {
                    let other = tx.scoped(server, user);
                    assert!(other.history_before("r", 10, None)?.is_empty());
                    assert_eq!(other.cursor("room:r")?, 0);
                    assert!(other.room("r")?.is_none());
                    assert!(other.active_rooms()?.is_empty());
                    assert!(other.pop_events(1, Pick::All)?.is_empty());
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn counters_are_taken_in_order_and_restart_with_a_new_group() {
        let state = state("counters");
        state
            .transaction(|tx| {
                let tx = tx.scoped("srv", "alice");
                tx.set_room("r", b"g1", 0)?;
                assert_eq!(
                    (
                        tx.take_counter("r")?,
                        tx.take_counter("r")?,
                        tx.take_counter("r")?
                    ),
                    (1, 2, 3)
                );
                tx.set_room("r", b"g2", 4)?;
                assert_eq!(tx.take_counter("r")?, 1);
                let row = tx.room("r")?.unwrap();
                assert_eq!((row.group_id.as_slice(), row.joined_epoch), (&b"g2"[..], 4));
                // What others sent: the last counter seen, never lowered.
                assert_eq!(tx.see_counter("r", "bob", 4)?, 0);
                assert_eq!(tx.see_counter("r", "bob", 2)?, 4);
                assert_eq!(tx.see_counter("r", "bob", 5)?, 4);
                assert_eq!(tx.see_counter("r", "carol", 1)?, 0);
                tx.deactivate_room("r")?;
                assert!(tx.active_rooms()?.is_empty());
                assert!(!tx.room("r")?.unwrap().active);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_changed_key_is_remembered_unverified_until_accepted() {
        let state = state("contacts");
        state
            .transaction(|tx| {
                let tx = tx.scoped("srv", "alice");
                assert_eq!(tx.observe_key("bob", b"k1")?, Seen::New);
                assert_eq!(tx.observe_key("bob", b"k1")?, Seen::Same);
                assert!(tx.accept_key("bob", true)?);
                assert!(tx.contact("bob")?.unwrap().verified);
                assert_eq!(tx.observe_key("bob", b"k2")?, Seen::Changed);
                let c = tx.contact("bob")?.unwrap();
                assert_eq!(
                    (c.key.as_slice(), c.verified, c.changed),
                    (&b"k2"[..], false, true)
                );
                // Acknowledged without verifying: no longer changed, still not verified.
                assert!(tx.accept_key("bob", false)?);
                let c = tx.contact("bob")?.unwrap();
                assert_eq!((c.verified, c.changed), (false, false));
                assert!(!tx.accept_key("nobody", true)?);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn the_outbox_keeps_its_order_through_a_replacement() {
        let state = state("outbox");
        let out = |text: &str, digest: u8| Outgoing {
            room: "r".into(),
            digest: vec![digest],
            payload: vec![digest; 3],
            body: if text.is_empty() {
                Body::Joined
            } else {
                Body::Text(text.into())
            },
            counter: u64::from(digest),
        };
        state
            .transaction(|tx| {
                let tx = tx.scoped("srv", "alice");
                tx.add_outbox(&out("first", 1))?;
                tx.add_outbox(&out("second", 2))?;
                tx.add_outbox(&out("", 3))?;
                tx.replace_outbox(&[1], &out("first", 9))?;
                let bodies: Vec<(Body, u64)> = tx
                    .outbox()?
                    .into_iter()
                    .map(|o| (o.body, o.counter))
                    .collect();
                let text = |t: &str| Body::Text(t.into());
                assert_eq!(
                    bodies,
                    [(text("first"), 9), (text("second"), 2), (Body::Joined, 3)]
                );
                assert_eq!(tx.take_outbox("r", &[2])?, Some(text("second")));
                assert_eq!(tx.take_outbox("r", &[2])?, None);
                assert_eq!(tx.take_outbox("r", &[3])?, Some(Body::Joined));
                assert_eq!(tx.outbox()?.len(), 1);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn events_come_out_in_the_order_they_went_in_and_a_failed_transaction_keeps_nothing() {
        let state = state("inbox");
        let event = |room: &str| ChatEvent::Removed { room: room.into() };
        state
            .transaction(|tx| {
                tx.scoped("srv", "alice")
                    .push_events(&[event("a"), event("b")])
            })
            .unwrap();
        let failed: Result<(), ClientError> = state.transaction(|tx| {
            tx.scoped("srv", "alice").push_events(&[event("lost")])?;
            Err(ClientError::Store(StoreError::Encoding(
                "on purpose".into(),
            )))
        });
        assert!(failed.is_err());
        let popped = state
            .transaction(|tx| {
                let tx = tx.scoped("srv", "alice");
                tx.pop_events(10, Pick::All)
            })
            .unwrap();
        assert_eq!(popped, [event("a"), event("b")]);
    }

    #[test]
    fn a_pending_commit_with_a_welcome_left_to_send_survives_being_taken() {
        let state = state("pending");
        let commit = |room: &str, welcome: Option<Vec<u8>>| PendingCommit {
            room: room.into(),
            epoch: 7,
            payload: b"commit".to_vec(),
            invitee: welcome.as_ref().map(|_| "carol".to_owned()),
            welcome,
            taken: false,
        };
        state
            .transaction(|tx| {
                let tx = tx.scoped("srv", "alice");
                tx.set_pending_commit(&commit("plain", None))?;
                tx.set_pending_commit(&commit("invite", Some(b"welcome".to_vec())))?;
                tx.pending_commit_taken("plain")?;
                tx.pending_commit_taken("invite")?;
                assert!(tx.pending_commit("plain")?.is_none());
                let kept = tx.pending_commit("invite")?.unwrap();
                assert!(kept.taken);
                assert_eq!(kept.invitee.as_deref(), Some("carol"));
                tx.forget_pending_commit("invite")?;
                assert!(tx.pending_commit("invite")?.is_none());
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn messages_since_a_key_renewal_are_counted_from_the_renewal() {
        let state = state("renewal");
        state
            .transaction(|tx| {
                let tx = tx.scoped("srv", "alice");
                assert_eq!(tx.self_updated("r", 100)?, 100);
                assert_eq!(tx.self_updated("r", 200)?, 100, "first seen stays");
                assert_eq!(tx.count_sent("r", 300)?.sent, 1);
                let since = tx.count_sent("r", 300)?;
                assert_eq!((since.sent, since.renewed_ms), (2, 100));
                tx.set_self_updated("r", 400)?;
                let since = tx.count_sent("r", 500)?;
                assert_eq!((since.sent, since.renewed_ms), (1, 400));
                Ok(())
            })
            .unwrap();
    }
}
