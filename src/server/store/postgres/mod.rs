//! [`Store`] on PostgreSQL: the shared store of several server nodes.
//!
//! The public state of a room's tracked MLS group (what the SQLite store keeps in
//! openmls's tables beside its own) is kept per room as a snapshot: openmls's tables in
//! an in-memory SQLite database, serialized into `rooms.public_state`. A group change
//! loads it, is verified and applied by the same code as on SQLite
//! ([`crate::server::public_group`]), and stores it back in the transaction that
//! stores the message; application messages never touch it.
//!
//! Every write runs in a SERIALIZABLE transaction, tried again when PostgreSQL reports
//! a serialization failure, a deadlock or a unique-key race: the same all-or-nothing,
//! one-at-a-time semantics as SQLite's single writer, across nodes. The exception is
//! the hot path, appending messages: READ COMMITTED with the room's row locked first,
//! which orders a room's writers as SERIALIZABLE would but without failing all but one
//! of them when several nodes write to one room at once. Statements are prepared once
//! per connection ([`pool`]). A commit returns
//! once PostgreSQL has it durably (`synchronous_commit` as the server is configured:
//! on by default). Connections come from a pool of at most 16; a broken one is
//! dropped and replaced when needed.

mod append;
mod blobs;
mod devices;
mod password;
mod pool;
mod public_state;

use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, Row};
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::proto::{skeletons, DirectEnvelope, Envelope, Invitation, Refusal};
use crate::server::public_group;
use crate::server::store::append::append_one;
use crate::server::store::rules::{
    admission, direct_fits, invitation_fits, name_standing, position, registration_allowed,
    TOKEN_REFUSED,
};
use crate::server::store::{
    Appended, Creation, DirectQuota, InvitationQuota, Invited, KeyPackageRow, NewMessage, Newcomer,
    Registration, RegistrationPolicy, Store, UserRow,
};
use append::Appending;
use pool::{Pool, Pooled, Tx};
use public_state::with_public_state;

/// Migration `i` takes the schema from version `i` to `i + 1` (tracked in
/// `smc_schema`). The same tables as the SQLite store's, at its version 12.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        key BYTEA NOT NULL,
        created_ms BIGINT NOT NULL,
        released BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE TABLE rooms (
        name TEXT PRIMARY KEY,
        creator TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        last_seq BIGINT NOT NULL DEFAULT 0,
        commit_epoch BIGINT NOT NULL DEFAULT 0,
        group_id BYTEA
    );
    CREATE INDEX rooms_by_creator ON rooms (creator);
    CREATE TABLE members (
        room TEXT NOT NULL REFERENCES rooms (name),
        user_name TEXT NOT NULL,
        joined_seq BIGINT NOT NULL,
        PRIMARY KEY (room, user_name)
    );
    CREATE INDEX members_by_user ON members (user_name);
    CREATE TABLE messages (
        id BIGSERIAL PRIMARY KEY,
        room TEXT NOT NULL REFERENCES rooms (name),
        seq BIGINT NOT NULL,
        sender TEXT NOT NULL,
        ts_ms BIGINT NOT NULL,
        payload BYTEA NOT NULL,
        commit_epoch BIGINT,
        digest BYTEA NOT NULL,
        UNIQUE (room, seq),
        UNIQUE (room, digest)
    );
    CREATE TABLE key_packages (
        id BIGSERIAL PRIMARY KEY,
        user_name TEXT NOT NULL,
        package BYTEA NOT NULL,
        last_resort BOOLEAN NOT NULL,
        not_after_ms BIGINT
    );
    CREATE INDEX key_packages_by_user ON key_packages (user_name, last_resort);
    CREATE TABLE directs (
        id BIGSERIAL PRIMARY KEY,
        recipient TEXT NOT NULL,
        sender TEXT NOT NULL,
        ts_ms BIGINT NOT NULL,
        payload BYTEA NOT NULL
    );
    CREATE INDEX directs_by_recipient ON directs (recipient, id);
    CREATE INDEX directs_by_sender ON directs (recipient, sender);
    CREATE TABLE skeletons (
        kind TEXT NOT NULL,
        skeleton TEXT NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (kind, skeleton)
    );
    CREATE TABLE invitations (
        room TEXT NOT NULL REFERENCES rooms (name),
        user_name TEXT NOT NULL,
        by_user TEXT NOT NULL,
        joined_seq BIGINT NOT NULL,
        created_ms BIGINT NOT NULL,
        PRIMARY KEY (room, user_name)
    );
    CREATE INDEX invitations_by_user ON invitations (user_name);
    CREATE TABLE tokens (
        digest BYTEA PRIMARY KEY,
        created_ms BIGINT NOT NULL,
        used_by TEXT
    );
    CREATE TABLE group_epochs (
        room TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        context_hash BYTEA NOT NULL,
        PRIMARY KEY (room, epoch)
    );
",
    "
    ALTER TABLE rooms ADD COLUMN public_state BYTEA;
",
    // What strangers could fill (as the SQLite store's version 9): new names per
    // address for an hour, each invitation's queued Welcome, invitations by age, the
    // bytes each user has stored in rooms.
    "
    CREATE TABLE registrations (
        address TEXT NOT NULL,
        at_ms BIGINT NOT NULL
    );
    CREATE INDEX registrations_by_address ON registrations (address, at_ms);
    ALTER TABLE invitations ADD COLUMN welcome_id BIGINT;
    CREATE INDEX invitations_by_age ON invitations (created_ms);
    CREATE TABLE user_usage (
        user_name TEXT PRIMARY KEY,
        bytes BIGINT NOT NULL
    );
    INSERT INTO user_usage (user_name, bytes)
        SELECT sender, sum(octet_length(payload)) FROM messages GROUP BY sender;
",
    // Blobs (as the SQLite store's version 10): the sealed chunks of files sent in
    // rooms, here so that every node serves every blob.
    "
    CREATE TABLE blobs (
        id BYTEA PRIMARY KEY,
        room TEXT NOT NULL,
        owner TEXT NOT NULL,
        size BIGINT NOT NULL,
        chunks BIGINT NOT NULL,
        held BIGINT NOT NULL DEFAULT 0,
        sealed BIGINT NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE INDEX blobs_by_owner ON blobs (owner);
    CREATE INDEX blobs_by_room ON blobs (room);
    CREATE INDEX blobs_by_age ON blobs (created_ms);
    CREATE TABLE blob_chunks (
        blob BYTEA NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
        idx BIGINT NOT NULL,
        bytes BYTEA NOT NULL,
        PRIMARY KEY (blob, idx)
    );
",
    // Linked devices (as the SQLite store's version 12): each with its certificate,
    // and the identity key that signs them.
    "
    CREATE TABLE devices (
        user_name TEXT NOT NULL,
        id BYTEA NOT NULL,
        name TEXT NOT NULL,
        transport_key BYTEA NOT NULL UNIQUE,
        certificate BYTEA NOT NULL,
        linked_ms BIGINT NOT NULL,
        revoked_ms BIGINT,
        PRIMARY KEY (user_name, id)
    );
    ALTER TABLE users ADD COLUMN identity_key BYTEA;
",
];

/// How many times a write is tried when PostgreSQL asks for a retry.
const ATTEMPTS: usize = 50;
/// The PostgreSQL store.
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: not printed.
        f.write_str("PostgresStore { .. }")
    }
}

/// Whether PostgreSQL asks for the transaction to be tried again.
fn retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Postgres(e) if matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::UNIQUE_VIOLATION
    ))
}

fn envelope(row: &Row) -> Envelope {
    Envelope {
        id: row.get::<_, i64>(0) as u64,
        room: row.get(1),
        seq: row.get::<_, i64>(2) as u64,
        sender: row.get(3),
        timestamp_ms: row.get(4),
        payload: row.get(5),
        commit_epoch: row.get::<_, Option<i64>>(6).map(|e| e as u64),
    }
}

/// How many unexpired one-use key packages a user holds (`?1`/`$1` the user,
/// `?2`/`$2` now in ms): the quota's count and `key_package_count`.
const ONE_USE_COUNT: &str =
    "SELECT count(*) FROM key_packages WHERE user_name = $1 AND NOT last_resort AND (not_after_ms IS NULL OR not_after_ms >= $2)";

const ENVELOPE_COLUMNS: &str = "id, room, seq, sender, ts_ms, payload, commit_epoch";

/// A page's byte budget as PostgreSQL compares it (a `bigint`).
fn budget(max_bytes: usize) -> i64 {
    i64::try_from(max_bytes).unwrap_or(i64::MAX)
}

/// Records that `name` holds its skeletons among the names of `kind`; `false`
/// (nothing recorded) if another name holds one of them.
fn claim_skeletons(tx: &mut Tx<'_>, kind: &str, name: &str) -> Result<bool, StoreError> {
    let skeletons = skeletons(name);
    for skeleton in &skeletons {
        let holder = tx.query_opt(
            "SELECT name FROM skeletons WHERE kind = $1 AND skeleton = $2",
            &[&kind, skeleton],
        )?;
        if holder.is_some_and(|r| r.get::<_, String>(0) != name) {
            return Ok(false);
        }
    }
    for skeleton in &skeletons {
        tx.execute(
            "INSERT INTO skeletons (kind, skeleton, name) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&kind, skeleton, &name],
        )?;
    }
    Ok(true)
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) and brings
    /// its schema up to date (one node at a time: an advisory lock).
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let store = PostgresStore {
            pool: Pool::new(url)?,
        };
        {
            let mut pooled = store.client()?;
            let client = pooled.client();
            client.batch_execute(
                "SELECT pg_advisory_lock(7311);
                 CREATE TABLE IF NOT EXISTS smc_schema (version INTEGER NOT NULL);",
            )?;
            let result = Self::migrate(client);
            client.batch_execute("SELECT pg_advisory_unlock(7311)")?;
            result?;
        }
        Ok(store)
    }

    fn migrate(client: &mut Client) -> Result<(), StoreError> {
        let found: i64 = client
            .query_opt("SELECT version FROM smc_schema", &[])?
            .map_or(0, |r| i64::from(r.get::<_, i32>(0)));
        let supported = MIGRATIONS.len() as i64;
        if found > supported {
            return Err(StoreError::SchemaTooNew { found, supported });
        }
        for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let mut tx = client.transaction()?;
            tx.batch_execute(sql)?;
            tx.execute("DELETE FROM smc_schema", &[])?;
            tx.execute(
                "INSERT INTO smc_schema (version) VALUES ($1)",
                &[&(version as i32 + 1)],
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    fn client(&self) -> Result<Pooled<'_>, StoreError> {
        self.pool.get()
    }

    /// Runs `f` in a SERIALIZABLE transaction, committed when it returns `Ok` (rolled
    /// back otherwise), tried again when PostgreSQL asks for it.
    fn write<T>(
        &self,
        f: impl FnMut(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.write_at(IsolationLevel::Serializable, f)
    }

    /// Runs `f` in a transaction at `level`, committed when it returns `Ok` (rolled
    /// back otherwise), tried again when PostgreSQL asks for it.
    fn write_at<T>(
        &self,
        level: IsolationLevel,
        mut f: impl FnMut(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut client = self.client()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = (|| {
                let mut tx = client.transaction(level)?;
                let value = f(&mut tx)?;
                tx.commit()?;
                Ok(value)
            })();
            match result {
                Err(e) if retryable(&e) && attempt < ATTEMPTS => {
                    std::thread::sleep(std::time::Duration::from_millis(attempt as u64));
                }
                other => return other,
            }
        }
    }
}

impl Store for PostgresStore {
    fn ping(&self) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.query_opt("SELECT 1 FROM rooms LIMIT 1", &[])?;
            Ok(())
        })
    }

    fn register(
        &self,
        user: &str,
        key: &[u8],
        policy: RegistrationPolicy,
        token: Option<&str>,
        from: &Newcomer,
    ) -> Result<Registration, StoreError> {
        let digest = token.map(|t| Sha256::digest(t.as_bytes()).to_vec());
        self.write(|tx| {
            let existing = tx
                .query_opt("SELECT key, released FROM users WHERE name = $1", &[&user])?
                .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, bool>(1)));
            if existing
                .as_ref()
                .is_some_and(|(k, released)| k != key && !released)
            {
                // Another key for a held name: one of the user's linked devices, maybe.
                let device = tx.query_opt(
                    "SELECT revoked_ms FROM devices WHERE user_name = $1 AND transport_key = $2",
                    &[&user, &key],
                )?;
                match device.map(|r| r.get::<_, Option<i64>>(0)) {
                    Some(None) => return Ok(Registration::Known),
                    Some(Some(_)) => return Ok(Registration::Revoked),
                    None => {}
                }
            }
            let reclaimed = match name_standing(existing.map(|(k, released)| (k == key, released)))
            {
                Ok(reclaimed) => reclaimed,
                Err(answer) => return Ok(answer),
            };
            match admission(policy, digest.as_deref()) {
                Err(refusal) => return Ok(refusal),
                Ok(None) if from.per_hour == 0 => {}
                Ok(None) => {
                    // Names are not free: so many per address per hour, on every node.
                    // Registrations from one address are serialized by an advisory
                    // lock on it (the count and the insert cannot interleave).
                    tx.execute(
                        "SELECT pg_advisory_xact_lock(hashtext('smc-registration:' || $1))",
                        &[&from.address],
                    )?;
                    tx.execute(
                        "DELETE FROM registrations WHERE address = $1 AND at_ms < $2",
                        &[&from.address, &from.window_start()],
                    )?;
                    let recent: i64 = tx
                        .query_one(
                            "SELECT count(*) FROM registrations WHERE address = $1",
                            &[&from.address],
                        )?
                        .get(0);
                    if !registration_allowed(from, recent) {
                        return Ok(Registration::TooManyFromAddress);
                    }
                    tx.execute(
                        "INSERT INTO registrations (address, at_ms) VALUES ($1, $2)",
                        &[&from.address, &from.now_ms],
                    )?;
                }
                Ok(Some(digest)) => {
                    let used = tx.execute(
                        "UPDATE tokens SET used_by = $2 WHERE digest = $1 AND used_by IS NULL",
                        &[&digest, &user],
                    )?;
                    if used == 0 {
                        return Ok(TOKEN_REFUSED);
                    }
                }
            }
            if reclaimed {
                for sql in [
                    "DELETE FROM members WHERE user_name = $1",
                    "DELETE FROM invitations WHERE user_name = $1",
                    "DELETE FROM key_packages WHERE user_name = $1",
                    "DELETE FROM directs WHERE recipient = $1",
                    "DELETE FROM user_usage WHERE user_name = $1",
                    "DELETE FROM devices WHERE user_name = $1",
                    "DELETE FROM skeletons WHERE kind = 'user' AND name = $1",
                    "DELETE FROM users WHERE name = $1",
                ] {
                    tx.execute(sql, &[&user])?;
                }
            }
            if !claim_skeletons(tx, "user", user)? {
                return Ok(Registration::Lookalike);
            }
            tx.execute(
                "INSERT INTO users (name, key, created_ms) VALUES ($1, $2, $3)",
                &[&user, &key, &chrono::Utc::now().timestamp_millis()],
            )?;
            Ok(if reclaimed {
                Registration::Reclaimed
            } else {
                Registration::Registered
            })
        })
    }

    fn issue_token(&self, token: &str, now_ms: i64) -> Result<(), StoreError> {
        let digest = Sha256::digest(token.as_bytes()).to_vec();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO tokens (digest, created_ms) VALUES ($1, $2)",
                &[&digest, &now_ms],
            )?;
            Ok(())
        })
    }

    fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let rows = self.client()?.query(
            "SELECT name, created_ms, key, released FROM users ORDER BY name",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| UserRow {
                name: r.get(0),
                created_ms: r.get(1),
                key: r.get(2),
                released: r.get(3),
            })
            .collect())
    }

    fn release(&self, user: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            Ok(tx.execute("UPDATE users SET released = TRUE WHERE name = $1", &[&user])? == 1)
        })
    }

    fn user_exists(&self, user: &str) -> Result<bool, StoreError> {
        Ok(self
            .client()?
            .query_opt("SELECT 1 FROM users WHERE name = $1", &[&user])?
            .is_some())
    }

    fn create_room(
        &self,
        room: &str,
        creator: &str,
        now_ms: i64,
        max_per_creator: usize,
        group_info: Option<&[u8]>,
    ) -> Result<Creation, StoreError> {
        self.write(|tx| {
            let created: i64 = tx
                .query_one("SELECT count(*) FROM rooms WHERE creator = $1", &[&creator])?
                .get(0);
            if created as usize >= max_per_creator {
                return Ok(Creation::TooMany);
            }
            if tx
                .query_opt("SELECT 1 FROM rooms WHERE name = $1", &[&room])?
                .is_some()
            {
                return Ok(Creation::Exists);
            }
            if !claim_skeletons(tx, "room", room)? {
                return Ok(Creation::Lookalike);
            }
            let (group_id, public_state) = match group_info {
                Some(info) => {
                    match with_public_state(None, |c| public_group::create(c, room, creator, info))?
                    {
                        Ok((id, state)) => (Some(id), Some(state)),
                        Err(refusal) => return Ok(Creation::BadGroup(refusal)),
                    }
                }
                None => (None, None),
            };
            tx.execute(
                "INSERT INTO rooms (name, creator, created_ms, group_id) VALUES ($1, $2, $3, $4)",
                &[&room, &creator, &now_ms, &group_id],
            )?;
            if let Some(state) = public_state {
                state.store(tx, room)?;
            }
            tx.execute(
                "INSERT INTO members (room, user_name, joined_seq) VALUES ($1, $2, 0)",
                &[&room, &creator],
            )?;
            Ok(Creation::Created)
        })
    }

    fn room_exists(&self, room: &str) -> Result<bool, StoreError> {
        Ok(self
            .client()?
            .query_opt("SELECT 1 FROM rooms WHERE name = $1", &[&room])?
            .is_some())
    }

    fn invite(
        &self,
        room: &str,
        user: &str,
        by: &str,
        now_ms: i64,
        quota: &InvitationQuota,
    ) -> Result<Invited, StoreError> {
        self.write(|tx| {
            if tx
                .query_opt(
                    "SELECT 1 FROM members WHERE room = $1 AND user_name = $2",
                    &[&room, &user],
                )?
                .is_some()
            {
                return Ok(Invited::AlreadyMember);
            }
            for sql in [
                "DELETE FROM directs WHERE id IN (SELECT welcome_id FROM invitations
                     WHERE user_name = $1 AND created_ms < $2 AND welcome_id IS NOT NULL)",
                "DELETE FROM invitations WHERE user_name = $1 AND created_ms < $2",
            ] {
                tx.execute(sql, &[&user, &quota.expired_before_ms])?;
            }
            if let Some(row) = tx.query_opt(
                "SELECT by_user, welcome_id IS NOT NULL FROM invitations
                 WHERE room = $1 AND user_name = $2",
                &[&room, &user],
            )? {
                let inviter: String = row.get(0);
                // Asked again: the invitation stays as it was (start point and age);
                // another inviter's cannot be taken over.
                return Ok(if inviter == by {
                    Invited::Pending {
                        welcome_sent: row.get(1),
                    }
                } else {
                    Invited::ByOther(inviter)
                });
            }
            let row = tx.query_one(
                "SELECT count(*), count(*) FILTER (WHERE i.by_user = $2),
                        count(*) FILTER (WHERE NOT EXISTS (
                            SELECT 1 FROM members a JOIN members b ON a.room = b.room
                            WHERE a.user_name = i.by_user AND b.user_name = $1)),
                        NOT EXISTS (SELECT 1 FROM members a JOIN members b ON a.room = b.room
                                    WHERE a.user_name = $2 AND b.user_name = $1)
                 FROM invitations i WHERE i.user_name = $1",
                &[&user, &by],
            )?;
            let (pending, from_inviter, from_strangers, stranger): (i64, i64, i64, bool) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            if !invitation_fits(quota, pending, from_inviter, from_strangers, stranger) {
                return Ok(Invited::TooMany);
            }
            // Two inviters at once: the primary key lets one in; the other retries
            // (a unique violation is retried) and finds it.
            tx.execute(
                "INSERT INTO invitations (room, user_name, by_user, joined_seq, created_ms)
                 SELECT name, $2, $3, last_seq, $4 FROM rooms WHERE name = $1",
                &[&room, &user, &by, &now_ms],
            )?;
            Ok(Invited::Pending {
                welcome_sent: false,
            })
        })
    }

    fn uninvite(&self, room: &str, user: &str, by: Option<&str>) -> Result<bool, StoreError> {
        self.write(|tx| {
            let gone = tx.query_opt(
                "DELETE FROM invitations WHERE room = $1 AND user_name = $2
                 AND ($3::TEXT IS NULL OR by_user = $3) RETURNING welcome_id",
                &[&room, &user, &by],
            )?;
            let Some(gone) = gone else {
                return Ok(false);
            };
            if let Some(welcome) = gone.get::<_, Option<i64>>(0) {
                tx.execute("DELETE FROM directs WHERE id = $1", &[&welcome])?;
            }
            Ok(true)
        })
    }

    fn expire_invitations(&self, before_ms: i64) -> Result<Vec<(String, String)>, StoreError> {
        self.write(|tx| {
            let rows = tx.query(
                "DELETE FROM invitations WHERE created_ms < $1
                 RETURNING room, user_name, welcome_id",
                &[&before_ms],
            )?;
            let welcomes: Vec<i64> = rows
                .iter()
                .filter_map(|r| r.get::<_, Option<i64>>(2))
                .collect();
            tx.execute("DELETE FROM directs WHERE id = ANY($1)", &[&welcomes])?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn invitations_of(&self, user: &str) -> Result<Vec<Invitation>, StoreError> {
        let rows = self.client()?.query(
            "SELECT room, by_user, created_ms FROM invitations WHERE user_name = $1
             ORDER BY created_ms, room",
            &[&user],
        )?;
        Ok(rows
            .iter()
            .map(|r| Invitation {
                room: r.get(0),
                by: r.get(1),
                timestamp_ms: r.get(2),
            })
            .collect())
    }

    fn accept(&self, room: &str, user: &str) -> Result<Option<u64>, StoreError> {
        self.write(|tx| {
            let Some(joined) = tx.query_opt(
                "SELECT joined_seq FROM invitations WHERE room = $1 AND user_name = $2",
                &[&room, &user],
            )?
            else {
                return Ok(None);
            };
            let joined: i64 = joined.get(0);
            tx.execute(
                "INSERT INTO members (room, user_name, joined_seq) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&room, &user, &joined],
            )?;
            tx.execute(
                "DELETE FROM invitations WHERE room = $1 AND user_name = $2",
                &[&room, &user],
            )?;
            Ok(Some(joined as u64))
        })
    }

    fn remove_member(&self, room: &str, user: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM members WHERE room = $1 AND user_name = $2",
                &[&room, &user],
            )? == 1)
        })
    }

    fn memberships_of(&self, users: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self.client()?.query(
            "SELECT room, user_name FROM members WHERE user_name = ANY($1)",
            &[&users],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn rooms_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        let rows = self.client()?.query(
            "SELECT room FROM members WHERE user_name = $1 ORDER BY room",
            &[&user],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn members(&self, room: &str) -> Result<Vec<String>, StoreError> {
        let rows = self.client()?.query(
            "SELECT user_name FROM members WHERE room = $1 ORDER BY user_name",
            &[&room],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn memberships(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self
            .client()?
            .query("SELECT room, user_name FROM members", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn is_member(&self, room: &str, user: &str) -> Result<bool, StoreError> {
        Ok(self
            .client()?
            .query_opt(
                "SELECT 1 FROM members WHERE room = $1 AND user_name = $2",
                &[&room, &user],
            )?
            .is_some())
    }

    fn room_heads(&self, rooms: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = self.client()?.query(
            "SELECT name, last_seq FROM rooms WHERE name = ANY($1)",
            &[&rooms],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
            .collect())
    }

    fn joined_seq(&self, room: &str, user: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .client()?
            .query_opt(
                "SELECT joined_seq FROM members WHERE room = $1 AND user_name = $2",
                &[&room, &user],
            )?
            .map(|r| r.get::<_, i64>(0) as u64))
    }

    fn append(&self, batch: &[NewMessage]) -> Result<Vec<Result<Appended, Refusal>>, StoreError> {
        // READ COMMITTED, not SERIALIZABLE: every decision below rests on the room's
        // row, locked first (`FOR UPDATE`; a transaction that waited for the lock reads
        // the row as its holder committed it), and on unique keys ((room, seq), (room,
        // digest)). Under SERIALIZABLE, nodes appending to one busy room at once would
        // mostly fail with serialization errors and retry after the lock's holder
        // commits; here they simply queue on the lock.
        self.write_at(IsolationLevel::ReadCommitted, |tx| {
            let mut appending = Appending::new(tx);
            batch
                .iter()
                .map(|m| append_one(&mut appending, m))
                .collect()
        })
    }

    fn group_context_hash(&self, room: &str, epoch: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .client()?
            .query_opt(
                "SELECT context_hash FROM group_epochs WHERE room = $1 AND epoch = $2",
                &[&room, &(epoch as i64)],
            )?
            .map(|r| r.get(0)))
    }

    fn is_invited(&self, room: &str, user: &str) -> Result<bool, StoreError> {
        Ok(self
            .client()?
            .query_opt(
                "SELECT 1 FROM invitations WHERE room = $1 AND user_name = $2",
                &[&room, &user],
            )?
            .is_some())
    }

    fn messages_after(
        &self,
        room: &str,
        after: u64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        // The page is cut in PostgreSQL (a running sum of the payloads' sizes, which
        // it knows without reading them): what does not fit never crosses the wire.
        let rows = self.client()?.query(
            &format!(
                "SELECT {ENVELOPE_COLUMNS} FROM (
                     SELECT {ENVELOPE_COLUMNS}, sum(octet_length(payload)) OVER (ORDER BY seq
                         ROWS UNBOUNDED PRECEDING) - octet_length(payload) AS ahead
                     FROM (SELECT {ENVELOPE_COLUMNS} FROM messages WHERE room = $1 AND seq > $2
                           ORDER BY seq LIMIT $3) limited
                 ) paged WHERE ahead = 0 OR ahead + octet_length(payload) <= $4 ORDER BY seq"
            ),
            &[
                &room,
                &position(after),
                &i64::from(limit),
                &budget(max_bytes),
            ],
        )?;
        Ok(rows.iter().map(envelope).collect())
    }

    fn history(
        &self,
        room: &str,
        before: Option<u64>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        let before = before.map_or(i64::MAX, |b| b as i64);
        let rows = self.client()?.query(
            &format!(
                "SELECT {ENVELOPE_COLUMNS} FROM (
                     SELECT {ENVELOPE_COLUMNS}, sum(octet_length(payload)) OVER (ORDER BY seq DESC
                         ROWS UNBOUNDED PRECEDING) - octet_length(payload) AS ahead
                     FROM (SELECT {ENVELOPE_COLUMNS} FROM messages WHERE room = $1 AND seq < $2
                           ORDER BY seq DESC LIMIT $3) limited
                 ) paged WHERE ahead = 0 OR ahead + octet_length(payload) <= $4
                 ORDER BY seq DESC"
            ),
            &[&room, &before, &i64::from(limit), &budget(max_bytes)],
        )?;
        let mut out: Vec<Envelope> = rows.iter().map(envelope).collect();
        out.reverse();
        Ok(out)
    }

    fn publish_key_packages(
        &self,
        user: &str,
        packages: &[KeyPackageRow],
        last_resort: Option<&KeyPackageRow>,
        max_one_use: u64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        // SERIALIZABLE: two sessions (or nodes) counting and inserting at once conflict,
        // and the one tried again sees the other's packages.
        self.write(|tx| {
            let stored: i64 = tx.query_one(ONE_USE_COUNT, &[&user, &now_ms])?.get(0);
            if stored.max(0) as u64 + packages.len() as u64 > max_one_use {
                return Ok(false);
            }
            for p in packages {
                tx.execute(
                    "INSERT INTO key_packages (user_name, package, last_resort, not_after_ms)
                     VALUES ($1, $2, FALSE, $3)",
                    &[&user, &p.bytes, &p.not_after_ms],
                )?;
            }
            if let Some(p) = last_resort {
                tx.execute(
                    "DELETE FROM key_packages WHERE user_name = $1 AND last_resort",
                    &[&user],
                )?;
                tx.execute(
                    "INSERT INTO key_packages (user_name, package, last_resort, not_after_ms)
                     VALUES ($1, $2, TRUE, $3)",
                    &[&user, &p.bytes, &p.not_after_ms],
                )?;
            }
            Ok(true)
        })
    }

    fn take_key_package(
        &self,
        user: &str,
        one_use: bool,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM key_packages WHERE user_name = $1 AND NOT last_resort
                 AND not_after_ms < $2",
                &[&user, &now_ms],
            )?;
            if one_use {
                // Removed in the statement that reads it: handed out once.
                let taken = tx.query_opt(
                    "DELETE FROM key_packages WHERE id = (
                         SELECT id FROM key_packages WHERE user_name = $1 AND NOT last_resort
                         ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING package",
                    &[&user],
                )?;
                if let Some(row) = taken {
                    return Ok(Some(row.get(0)));
                }
            }
            Ok(tx
                .query_opt(
                    "SELECT package FROM key_packages WHERE user_name = $1 AND last_resort
                     AND (not_after_ms IS NULL OR not_after_ms >= $2)",
                    &[&user, &now_ms],
                )?
                .map(|r| r.get(0)))
        })
    }

    fn key_package_count(&self, user: &str, now_ms: i64) -> Result<u64, StoreError> {
        let n: i64 = self
            .client()?
            .query_one(ONE_USE_COUNT, &[&user, &now_ms])?
            .get(0);
        Ok(n as u64)
    }

    fn push_direct(
        &self,
        recipient: &str,
        sender: &str,
        payload: &[u8],
        now_ms: i64,
        quota: &DirectQuota,
        welcome_for: Option<&str>,
    ) -> Result<Option<DirectEnvelope>, StoreError> {
        self.write(|tx| {
            // Deliveries to one recipient are serialized by its row: their ids grow in
            // commit order, so a reader that sees id n also sees every id before it
            // (a node pulls a recipient's queue after the last id it delivered).
            tx.query_opt(
                "SELECT 1 FROM users WHERE name = $1 FOR UPDATE",
                &[&recipient],
            )?;
            // The Welcome of a pending invitation: queued whatever the quota, in place
            // of the invitation's previous one.
            let invitation = match welcome_for {
                Some(room) => tx
                    .query_opt(
                        "SELECT welcome_id FROM invitations
                         WHERE room = $1 AND user_name = $2 AND by_user = $3 FOR UPDATE",
                        &[&room, &recipient, &sender],
                    )?
                    .map(|r| r.get::<_, Option<i64>>(0)),
                None => None,
            };
            match invitation {
                Some(previous) => {
                    if let Some(previous) = previous {
                        tx.execute("DELETE FROM directs WHERE id = $1", &[&previous])?;
                    }
                }
                None => {
                    let row = tx.query_one(
                        "SELECT count(*), coalesce(sum(length(payload)), 0)::BIGINT,
                                count(*) FILTER (WHERE sender = $2)
                         FROM directs WHERE recipient = $1",
                        &[&recipient, &sender],
                    )?;
                    let (count, bytes, from_sender): (i64, i64, i64) =
                        (row.get(0), row.get(1), row.get(2));
                    if !direct_fits(
                        quota,
                        count as u64,
                        bytes as u64,
                        from_sender as u64,
                        payload.len(),
                    ) {
                        return Ok(None);
                    }
                }
            }
            let id: i64 = tx
                .query_one(
                    "INSERT INTO directs (recipient, sender, ts_ms, payload)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                    &[&recipient, &sender, &now_ms, &payload],
                )?
                .get(0);
            if let (Some(room), Some(_)) = (welcome_for, invitation) {
                tx.execute(
                    "UPDATE invitations SET welcome_id = $3 WHERE room = $1 AND user_name = $2",
                    &[&room, &recipient, &id],
                )?;
            }
            Ok(Some(DirectEnvelope {
                id: id as u64,
                sender: sender.to_owned(),
                timestamp_ms: now_ms,
                payload: payload.to_vec(),
            }))
        })
    }

    fn direct_heads(&self, users: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = self.client()?.query(
            "SELECT recipient, max(id) FROM directs WHERE recipient = ANY($1)
             GROUP BY recipient",
            &[&users],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
            .collect())
    }

    fn directs_after(
        &self,
        user: &str,
        after: u64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<DirectEnvelope>, StoreError> {
        let rows = self.client()?.query(
            "SELECT id, sender, ts_ms, payload FROM (
                 SELECT id, sender, ts_ms, payload, sum(octet_length(payload)) OVER (ORDER BY id
                     ROWS UNBOUNDED PRECEDING) - octet_length(payload) AS ahead
                 FROM (SELECT id, sender, ts_ms, payload FROM directs
                       WHERE recipient = $1 AND id > $2 ORDER BY id LIMIT $3) limited
             ) paged WHERE ahead = 0 OR ahead + octet_length(payload) <= $4 ORDER BY id",
            &[
                &user,
                &position(after),
                &i64::from(limit),
                &budget(max_bytes),
            ],
        )?;
        Ok(rows
            .iter()
            .map(|r| DirectEnvelope {
                id: r.get::<_, i64>(0) as u64,
                sender: r.get(1),
                timestamp_ms: r.get(2),
                payload: r.get(3),
            })
            .collect())
    }

    fn ack_directs(&self, user: &str, ids: &[u64]) -> Result<(), StoreError> {
        let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        self.write(|tx| {
            tx.execute(
                "DELETE FROM directs WHERE recipient = $1 AND id = ANY($2)",
                &[&user, &ids],
            )?;
            Ok(())
        })
    }
}
