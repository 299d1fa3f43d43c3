//! [`Store`] on SQLite (rusqlite, bundled): the embedded default.
//!
//! WAL journal; with [`Durability::Full`] (the default, `synchronous = FULL`) a message
//! is on disk when `append` returns, with [`Durability::Normal`] it survives a crash of
//! the server process but not of the machine.
//! One connection writes; a second one serves the reads (sync, history), which WAL lets
//! run beside the writer.

mod append;
mod blob_files;
mod blobs;
mod devices;

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::proto::{DirectEnvelope, Envelope, Invitation, Refusal};
use crate::server::store::append::append_one;
use crate::server::store::rules::{
    admission, direct_fits, invitation_fits, name_standing, position, registration_allowed,
    TOKEN_REFUSED,
};
use crate::server::store::schema::{claim_skeletons, migrate};
use crate::server::store::{
    Appended, Creation, DirectQuota, Durability, InvitationQuota, Invited, KeyPackageRow,
    NewMessage, Newcomer, Registration, RegistrationPolicy, Store, UserRow,
};
use crate::server::{public_group, DataDir};
use append::Appending;
use blob_files::BlobFiles;

/// The SQLite store: `smc.db` in the server's data directory, and the chunks of files
/// sent in rooms beside it, in `blobs/`.
#[derive(Debug)]
pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    files: BlobFiles,
}

fn open(path: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// A damaged or foreign file, reported by SQLite as such, becomes
/// [`StoreError::Corrupt`] naming `path`; other errors are kept.
pub(super) fn corrupt(path: &Path, e: StoreError) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, detail))
            if matches!(f.code, DatabaseCorrupt | NotADatabase) =>
        {
            StoreError::Corrupt {
                path: path.to_owned(),
                detail: detail.unwrap_or_else(|| f.to_string()),
            }
        }
        other => other,
    }
}

/// Runs SQLite's `integrity_check` or `quick_check`: the problems it reports (none
/// when the file is sound).
pub(super) fn integrity(conn: &Connection, pragma: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(&format!("PRAGMA {pragma}"))?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let lines = rows.collect::<Result<Vec<_>, _>>()?;
    Ok(if lines == ["ok"] { Vec::new() } else { lines })
}

/// Checks the store in `dir` with SQLite's full `integrity_check` (every page, every
/// index against its table), without changing it: the problems found, none when the
/// file is sound. For `smc admin check`.
///
/// Then every complete blob's file: present, and of its sealed size.
pub fn check(dir: &Path) -> Result<Vec<String>, StoreError> {
    let data = DataDir::new(dir);
    let path = data.database();
    let conn = Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| corrupt(&path, e.into()))?;
    let mut problems = integrity(&conn, "integrity_check").map_err(|e| corrupt(&path, e))?;
    if !problems.is_empty() {
        return Ok(problems);
    }
    let has_blobs = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'blobs'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !has_blobs {
        return Ok(problems);
    }
    let mut stmt = conn.prepare("SELECT id, size FROM blobs WHERE held = chunks")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (id, size) = row?;
        let Ok(id) = <[u8; 16]>::try_from(id.as_slice()) else {
            problems.push("a blob with an id of the wrong length".into());
            continue;
        };
        let file = data.blobs().join(crate::proto::BlobId(id).to_string());
        let want = crate::proto::sealed_size(size.max(0) as u64).unwrap_or(0);
        match std::fs::metadata(&file) {
            Ok(meta) if meta.len() == want => {}
            Ok(meta) => problems.push(format!(
                "{}: {} bytes, {want} expected for a complete file",
                file.display(),
                meta.len()
            )),
            Err(e) => problems.push(format!("{}: {e}", file.display())),
        }
    }
    Ok(problems)
}

/// Makes the data directory and the database files private to the server's user,
/// whatever the umask and whatever existed before: the directory 0700 (created so, or
/// tightened with a warning), `smc.db` created 0600 before SQLite opens it (SQLite
/// gives its `-wal` and `-shm` files the database's mode), and existing database files
/// readable by others tightened to 0600 with a warning.
pub(super) fn private_files(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { path, source }
    };
    crate::private_fs::private_dir(dir).map_err(io(dir))?;
    let files = DataDir::new(dir).database_files();
    let db = &files[0];
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(db)
        .map_err(io(db))?;
    for file in &files {
        crate::private_fs::tighten(file, 0o600).map_err(io(file))?;
    }
    Ok(())
}

fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave SQLite half-written (transactions
    // roll back on drop), so a poisoned lock is still safe to use.
    conn.lock().unwrap_or_else(|e| e.into_inner())
}

/// How many unexpired one-use key packages a user holds (`?1`/`$1` the user,
/// `?2`/`$2` now in ms): the quota's count and `key_package_count`.
const ONE_USE_COUNT: &str =
    "SELECT count(*) FROM key_packages WHERE user = ?1 AND NOT last_resort AND (not_after_ms IS NULL OR not_after_ms >= ?2)";

const ENVELOPE_COLUMNS: &str = "id, room, seq, sender, ts_ms, payload, commit_epoch";

fn envelope(row: &rusqlite::Row<'_>) -> rusqlite::Result<Envelope> {
    Ok(Envelope {
        id: row.get::<_, i64>(0)? as u64,
        room: row.get(1)?,
        seq: row.get::<_, i64>(2)? as u64,
        sender: row.get(3)?,
        timestamp_ms: row.get(4)?,
        payload: row.get(5)?,
        commit_epoch: row.get::<_, Option<i64>>(6)?.map(|e| e as u64),
    })
}

fn direct(row: &rusqlite::Row<'_>) -> rusqlite::Result<DirectEnvelope> {
    Ok(DirectEnvelope {
        id: row.get::<_, i64>(0)? as u64,
        sender: row.get(1)?,
        timestamp_ms: row.get(2)?,
        payload: row.get(3)?,
    })
}

impl SqliteStore {
    /// Opens (or creates) `dir/smc.db` and brings its schema up to date.
    pub fn open(dir: &Path, durability: Durability) -> Result<Self, StoreError> {
        private_files(dir)?;
        let path = DataDir::new(dir).database();
        let mut writer = open(&path, durability).map_err(|e| corrupt(&path, e))?;
        // A damaged file is found here, before anything is served or written: SQLite's
        // quick check reads every page (linear in the file's size).
        let problems = integrity(&writer, "quick_check").map_err(|e| corrupt(&path, e))?;
        if let Some(first) = problems.first() {
            return Err(StoreError::Corrupt {
                path,
                detail: format!("{first} ({} problems)", problems.len()),
            });
        }
        let files = BlobFiles::open(&DataDir::new(dir).blobs(), durability)?;
        blob_files::export_chunks(&writer, &files).map_err(|e| corrupt(&path, e))?;
        migrate(&mut writer).map_err(|e| corrupt(&path, e))?;
        // openmls's tables: the public state of the rooms' groups.
        crate::e2e::provider::migrate(&mut writer).map_err(StoreError::Mls)?;
        let reader = open(&path, durability)?;
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            files,
        })
    }
}

impl Store for SqliteStore {
    fn ping(&self) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        // Takes the write lock and reads the database, then gives both back.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.query_row("SELECT count(*) FROM rooms WHERE rowid = 1", [], |_| Ok(()))?;
        tx.rollback()?;
        Ok(())
    }

    fn register(
        &self,
        user: &str,
        key: &[u8],
        policy: RegistrationPolicy,
        token: Option<&str>,
        from: &Newcomer,
    ) -> Result<Registration, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<(Vec<u8>, bool)> = tx
            .query_row(
                "SELECT key, released FROM users WHERE name = ?1",
                [user],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if existing
            .as_ref()
            .is_some_and(|(k, released)| k != key && !released)
        {
            // Another key for a held name: one of the user's linked devices, maybe.
            let revoked: Option<Option<i64>> = tx
                .query_row(
                    "SELECT revoked_ms FROM devices WHERE user = ?1 AND transport_key = ?2",
                    params![user, key],
                    |r| r.get(0),
                )
                .optional()?;
            match revoked {
                Some(None) => return Ok(Registration::Known),
                Some(Some(_)) => return Ok(Registration::Revoked),
                None => {}
            }
        }
        let reclaimed = match name_standing(existing.map(|(k, released)| (k == key, released))) {
            Ok(reclaimed) => reclaimed,
            Err(answer) => return Ok(answer),
        };
        // A new name (or one released): the policy decides.
        let digest = token.map(|t| Sha256::digest(t.as_bytes()).to_vec());
        match admission(policy, digest.as_deref()) {
            Err(refusal) => return Ok(refusal),
            Ok(None) if from.per_hour == 0 => {}
            Ok(None) => {
                // Names are not free: so many per address per hour, on every node.
                tx.execute(
                    "DELETE FROM registrations WHERE address = ?1 AND at_ms < ?2",
                    params![from.address, from.window_start()],
                )?;
                let recent: i64 = tx.query_row(
                    "SELECT count(*) FROM registrations WHERE address = ?1",
                    [&from.address],
                    |r| r.get(0),
                )?;
                if !registration_allowed(from, recent) {
                    return Ok(Registration::TooManyFromAddress);
                }
                tx.execute(
                    "INSERT INTO registrations (address, at_ms) VALUES (?1, ?2)",
                    params![from.address, from.now_ms],
                )?;
            }
            Ok(Some(digest)) => {
                let used = tx.execute(
                    "UPDATE tokens SET used_by = ?2 WHERE digest = ?1 AND used_by IS NULL",
                    params![digest, user],
                )?;
                if used == 0 {
                    return Ok(TOKEN_REFUSED);
                }
            }
        }
        if reclaimed {
            // What the previous holder had goes with the name.
            for sql in [
                "DELETE FROM members WHERE user = ?1",
                "DELETE FROM invitations WHERE user = ?1",
                "DELETE FROM key_packages WHERE user = ?1",
                "DELETE FROM directs WHERE recipient = ?1",
                "DELETE FROM user_usage WHERE user = ?1",
                "DELETE FROM devices WHERE user = ?1",
                "DELETE FROM skeletons WHERE kind = 'user' AND name = ?1",
                "DELETE FROM users WHERE name = ?1",
            ] {
                tx.execute(sql, [user])?;
            }
        }
        if !claim_skeletons(&tx, "user", user)? {
            return Ok(Registration::Lookalike);
        }
        tx.execute(
            "INSERT INTO users (name, key, created_ms) VALUES (?1, ?2, ?3)",
            params![user, key, chrono::Utc::now().timestamp_millis()],
        )?;
        tx.commit()?;
        Ok(if reclaimed {
            Registration::Reclaimed
        } else {
            Registration::Registered
        })
    }

    fn issue_token(&self, token: &str, now_ms: i64) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        conn.execute(
            "INSERT INTO tokens (digest, created_ms) VALUES (?1, ?2)",
            params![Sha256::digest(token.as_bytes()).to_vec(), now_ms],
        )?;
        Ok(())
    }

    fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt =
            conn.prepare("SELECT name, created_ms, key, released FROM users ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok(UserRow {
                name: r.get(0)?,
                created_ms: r.get(1)?,
                key: r.get(2)?,
                released: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn release(&self, user: &str) -> Result<bool, StoreError> {
        let conn = lock(&self.writer);
        let n = conn.execute("UPDATE users SET released = 1 WHERE name = ?1", [user])?;
        Ok(n == 1)
    }

    fn user_exists(&self, user: &str) -> Result<bool, StoreError> {
        let conn = lock(&self.reader);
        Ok(conn
            .query_row("SELECT 1 FROM users WHERE name = ?1", [user], |_| Ok(()))
            .optional()?
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
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let created: i64 = tx.query_row(
            "SELECT count(*) FROM rooms WHERE creator = ?1",
            [creator],
            |r| r.get(0),
        )?;
        if created as usize >= max_per_creator {
            return Ok(Creation::TooMany);
        }
        let exists = tx
            .query_row("SELECT 1 FROM rooms WHERE name = ?1", [room], |_| Ok(()))
            .optional()?
            .is_some();
        if exists {
            return Ok(Creation::Exists);
        }
        if !claim_skeletons(&tx, "room", room)? {
            return Ok(Creation::Lookalike);
        }
        let group_id = match group_info {
            Some(info) => match public_group::create(&tx, room, creator, info) {
                Ok(id) => Some(id),
                Err(refusal) => return Ok(Creation::BadGroup(refusal)),
            },
            None => None,
        };
        tx.execute(
            "INSERT INTO rooms (name, creator, created_ms, group_id) VALUES (?1, ?2, ?3, ?4)",
            params![room, creator, now_ms, group_id],
        )?;
        tx.execute(
            "INSERT INTO members (room, user, joined_seq) VALUES (?1, ?2, 0)",
            params![room, creator],
        )?;
        tx.commit()?;
        Ok(Creation::Created)
    }

    fn room_exists(&self, room: &str) -> Result<bool, StoreError> {
        let conn = lock(&self.reader);
        Ok(conn
            .query_row("SELECT 1 FROM rooms WHERE name = ?1", [room], |_| Ok(()))
            .optional()?
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
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let member = tx
            .query_row(
                "SELECT 1 FROM members WHERE room = ?1 AND user = ?2",
                params![room, user],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if member {
            return Ok(Invited::AlreadyMember);
        }
        for sql in [
            "DELETE FROM directs WHERE id IN (SELECT welcome_id FROM invitations
                 WHERE user = ?1 AND created_ms < ?2 AND welcome_id IS NOT NULL)",
            "DELETE FROM invitations WHERE user = ?1 AND created_ms < ?2",
        ] {
            tx.execute(sql, params![user, quota.expired_before_ms])?;
        }
        let existing: Option<(String, bool)> = tx
            .query_row(
                "SELECT by_user, welcome_id IS NOT NULL FROM invitations
                 WHERE room = ?1 AND user = ?2",
                params![room, user],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match existing {
            // Asked again: the invitation stays as it was (start point and age).
            Some((inviter, welcome_sent)) if inviter == by => {
                return Ok(Invited::Pending { welcome_sent })
            }
            // One invitation at a time: a second inviter cannot take it over (nor
            // make the first inviter's Welcome unusable).
            Some((other, _)) => return Ok(Invited::ByOther(other)),
            None => {}
        }
        let (pending, from_inviter, from_strangers): (i64, i64, i64) = tx.query_row(
            "SELECT count(*), coalesce(sum(i.by_user = ?2), 0),
                    coalesce(sum(NOT EXISTS (SELECT 1 FROM members a JOIN members b
                                             ON a.room = b.room
                                             WHERE a.user = i.by_user AND b.user = ?1)), 0)
             FROM invitations i WHERE i.user = ?1",
            params![user, by],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let stranger = tx
            .query_row(
                "SELECT 1 FROM members a JOIN members b ON a.room = b.room
                 WHERE a.user = ?1 AND b.user = ?2 LIMIT 1",
                params![by, user],
                |_| Ok(()),
            )
            .optional()?
            .is_none();
        if !invitation_fits(quota, pending, from_inviter, from_strangers, stranger) {
            return Ok(Invited::TooMany);
        }
        tx.execute(
            "INSERT INTO invitations (room, user, by_user, joined_seq, created_ms)
             SELECT name, ?2, ?3, last_seq, ?4 FROM rooms WHERE name = ?1",
            params![room, user, by, now_ms],
        )?;
        tx.commit()?;
        Ok(Invited::Pending {
            welcome_sent: false,
        })
    }

    fn uninvite(&self, room: &str, user: &str, by: Option<&str>) -> Result<bool, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM directs WHERE id = (SELECT welcome_id FROM invitations
                 WHERE room = ?1 AND user = ?2 AND (?3 IS NULL OR by_user = ?3))",
            params![room, user, by],
        )?;
        let n = tx.execute(
            "DELETE FROM invitations WHERE room = ?1 AND user = ?2
             AND (?3 IS NULL OR by_user = ?3)",
            params![room, user, by],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }

    fn expire_invitations(&self, before_ms: i64) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let expired: Vec<(String, String)> = tx
            .prepare("SELECT room, user FROM invitations WHERE created_ms < ?1")?
            .query_map([before_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        tx.execute(
            "DELETE FROM directs WHERE id IN (SELECT welcome_id FROM invitations
                 WHERE created_ms < ?1 AND welcome_id IS NOT NULL)",
            [before_ms],
        )?;
        tx.execute("DELETE FROM invitations WHERE created_ms < ?1", [before_ms])?;
        tx.commit()?;
        Ok(expired)
    }

    fn invitations_of(&self, user: &str) -> Result<Vec<Invitation>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT room, by_user, created_ms FROM invitations WHERE user = ?1
             ORDER BY created_ms, room",
        )?;
        let rows = stmt.query_map([user], |r| {
            Ok(Invitation {
                room: r.get(0)?,
                by: r.get(1)?,
                timestamp_ms: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn accept(&self, room: &str, user: &str) -> Result<Option<u64>, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let joined: Option<i64> = tx
            .query_row(
                "SELECT joined_seq FROM invitations WHERE room = ?1 AND user = ?2",
                params![room, user],
                |r| r.get(0),
            )
            .optional()?;
        let Some(joined) = joined else {
            return Ok(None);
        };
        tx.execute(
            "INSERT OR IGNORE INTO members (room, user, joined_seq) VALUES (?1, ?2, ?3)",
            params![room, user, joined],
        )?;
        tx.execute(
            "DELETE FROM invitations WHERE room = ?1 AND user = ?2",
            params![room, user],
        )?;
        tx.commit()?;
        Ok(Some(joined as u64))
    }

    fn remove_member(&self, room: &str, user: &str) -> Result<bool, StoreError> {
        let conn = lock(&self.writer);
        let n = conn.execute(
            "DELETE FROM members WHERE room = ?1 AND user = ?2",
            params![room, user],
        )?;
        Ok(n == 1)
    }

    fn memberships_of(&self, users: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached("SELECT room FROM members WHERE user = ?1")?;
        let mut out = Vec::new();
        for user in users {
            for room in stmt.query_map([user], |r| r.get::<_, String>(0))? {
                out.push((room?, user.clone()));
            }
        }
        Ok(out)
    }

    fn rooms_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt =
            conn.prepare_cached("SELECT room FROM members WHERE user = ?1 ORDER BY room")?;
        let rows = stmt.query_map([user], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn members(&self, room: &str) -> Result<Vec<String>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt =
            conn.prepare_cached("SELECT user FROM members WHERE room = ?1 ORDER BY user")?;
        let rows = stmt.query_map([room], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn memberships(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare("SELECT room, user FROM members")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn is_member(&self, room: &str, user: &str) -> Result<bool, StoreError> {
        Ok(self.joined_seq(room, user)?.is_some())
    }

    fn room_heads(&self, rooms: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached("SELECT last_seq FROM rooms WHERE name = ?1")?;
        let mut heads = Vec::with_capacity(rooms.len());
        for room in rooms {
            if let Some(seq) = stmt.query_row([room], |r| r.get::<_, i64>(0)).optional()? {
                heads.push((room.clone(), seq as u64));
            }
        }
        Ok(heads)
    }

    fn joined_seq(&self, room: &str, user: &str) -> Result<Option<u64>, StoreError> {
        let conn = lock(&self.reader);
        Ok(conn
            .query_row(
                "SELECT joined_seq FROM members WHERE room = ?1 AND user = ?2",
                params![room, user],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|s| s as u64))
    }

    fn append(&self, batch: &[NewMessage]) -> Result<Vec<Result<Appended, Refusal>>, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut appending = Appending::new(&tx);
        let out = batch
            .iter()
            .map(|m| append_one(&mut appending, m))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()?;
        Ok(out)
    }

    fn group_context_hash(&self, room: &str, epoch: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = lock(&self.reader);
        Ok(conn
            .query_row(
                "SELECT context_hash FROM group_epochs WHERE room = ?1 AND epoch = ?2",
                params![room, epoch as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn is_invited(&self, room: &str, user: &str) -> Result<bool, StoreError> {
        let conn = lock(&self.reader);
        Ok(conn
            .query_row(
                "SELECT 1 FROM invitations WHERE room = ?1 AND user = ?2",
                params![room, user],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn messages_after(
        &self,
        room: &str,
        after: u64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ENVELOPE_COLUMNS} FROM messages WHERE room = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![room, position(after), limit], envelope)?;
        Ok(crate::server::store::rules::page(
            rows,
            |e| e.payload.len(),
            max_bytes,
        )?)
    }

    fn history(
        &self,
        room: &str,
        before: Option<u64>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ENVELOPE_COLUMNS} FROM messages WHERE room = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
        ))?;
        let before = before.map_or(i64::MAX, |b| b as i64);
        let rows = stmt.query_map(params![room, before, limit], envelope)?;
        let mut out = crate::server::store::rules::page(rows, |e| e.payload.len(), max_bytes)?;
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
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored: i64 = tx.query_row(ONE_USE_COUNT, params![user, now_ms], |r| r.get(0))?;
        if stored.max(0) as u64 + packages.len() as u64 > max_one_use {
            return Ok(false);
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO key_packages (user, package, last_resort, not_after_ms)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for p in packages {
                insert.execute(params![user, p.bytes, false, p.not_after_ms])?;
            }
            if let Some(p) = last_resort {
                tx.execute(
                    "DELETE FROM key_packages WHERE user = ?1 AND last_resort",
                    [user],
                )?;
                insert.execute(params![user, p.bytes, true, p.not_after_ms])?;
            }
        }
        tx.commit()?;
        Ok(true)
    }

    fn take_key_package(
        &self,
        user: &str,
        one_use: bool,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM key_packages WHERE user = ?1 AND NOT last_resort AND not_after_ms < ?2",
            params![user, now_ms],
        )?;
        let taken: Option<(i64, Vec<u8>)> = if one_use {
            tx.query_row(
                "SELECT id, package FROM key_packages WHERE user = ?1 AND NOT last_resort
                 ORDER BY id LIMIT 1",
                [user],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
        } else {
            None
        };
        let package = match taken {
            Some((id, package)) => {
                tx.execute("DELETE FROM key_packages WHERE id = ?1", [id])?;
                Some(package)
            }
            None => tx
                .query_row(
                    "SELECT package FROM key_packages WHERE user = ?1 AND last_resort
                     AND (not_after_ms IS NULL OR not_after_ms >= ?2)",
                    params![user, now_ms],
                    |r| r.get(0),
                )
                .optional()?,
        };
        tx.commit()?;
        Ok(package)
    }

    fn key_package_count(&self, user: &str, now_ms: i64) -> Result<u64, StoreError> {
        let conn = lock(&self.reader);
        let n: i64 = conn.query_row(ONE_USE_COUNT, params![user, now_ms], |r| r.get(0))?;
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
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // The Welcome of a pending invitation: queued whatever the quota, in place of
        // the invitation's previous one.
        let invitation: Option<Option<i64>> = match welcome_for {
            Some(room) => tx
                .query_row(
                    "SELECT welcome_id FROM invitations
                     WHERE room = ?1 AND user = ?2 AND by_user = ?3",
                    params![room, recipient, sender],
                    |r| r.get(0),
                )
                .optional()?,
            None => None,
        };
        match invitation {
            Some(previous) => {
                if let Some(previous) = previous {
                    tx.execute("DELETE FROM directs WHERE id = ?1", [previous])?;
                }
            }
            None => {
                let (count, bytes): (i64, i64) = tx.query_row(
                    "SELECT count(*), coalesce(sum(length(payload)), 0) FROM directs
                     WHERE recipient = ?1",
                    [recipient],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                let from_sender: i64 = tx.query_row(
                    "SELECT count(*) FROM directs WHERE recipient = ?1 AND sender = ?2",
                    params![recipient, sender],
                    |r| r.get(0),
                )?;
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
        tx.execute(
            "INSERT INTO directs (recipient, sender, ts_ms, payload) VALUES (?1, ?2, ?3, ?4)",
            params![recipient, sender, now_ms, payload],
        )?;
        let id = tx.last_insert_rowid();
        if let (Some(room), Some(_)) = (welcome_for, invitation) {
            tx.execute(
                "UPDATE invitations SET welcome_id = ?3 WHERE room = ?1 AND user = ?2",
                params![room, recipient, id],
            )?;
        }
        tx.commit()?;
        Ok(Some(DirectEnvelope {
            id: id as u64,
            sender: sender.to_owned(),
            timestamp_ms: now_ms,
            payload: payload.to_vec(),
        }))
    }

    fn direct_heads(&self, users: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached("SELECT max(id) FROM directs WHERE recipient = ?1")?;
        let mut heads = Vec::new();
        for user in users {
            if let Some(id) = stmt.query_row([user], |r| r.get::<_, Option<i64>>(0))? {
                heads.push((user.clone(), id as u64));
            }
        }
        Ok(heads)
    }

    fn directs_after(
        &self,
        user: &str,
        after: u64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<DirectEnvelope>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT id, sender, ts_ms, payload FROM directs WHERE recipient = ?1 AND id > ?2
             ORDER BY id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![user, position(after), limit], direct)?;
        Ok(crate::server::store::rules::page(
            rows,
            |d| d.payload.len(),
            max_bytes,
        )?)
    }

    fn ack_directs(&self, user: &str, ids: &[u64]) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut delete =
                tx.prepare_cached("DELETE FROM directs WHERE recipient = ?1 AND id = ?2")?;
            for id in ids {
                delete.execute(params![user, *id as i64])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
