//! The SQLite schema and its migrations, tracked in `PRAGMA user_version`.

use rusqlite::Connection;

use crate::error::StoreError;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the first schema.
    "CREATE TABLE users (
         name TEXT PRIMARY KEY,
         key BLOB NOT NULL,
         created_ms INTEGER NOT NULL
     );
     CREATE TABLE rooms (
         name TEXT PRIMARY KEY,
         creator TEXT NOT NULL,
         created_ms INTEGER NOT NULL,
         last_seq INTEGER NOT NULL DEFAULT 0,
         commit_epoch INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE members (
         room TEXT NOT NULL REFERENCES rooms(name),
         user TEXT NOT NULL,
         joined_seq INTEGER NOT NULL,
         PRIMARY KEY (room, user)
     ) WITHOUT ROWID;
     CREATE INDEX members_by_user ON members(user);
     CREATE TABLE messages (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         room TEXT NOT NULL REFERENCES rooms(name),
         seq INTEGER NOT NULL,
         sender TEXT NOT NULL,
         ts_ms INTEGER NOT NULL,
         payload BLOB NOT NULL,
         commit_epoch INTEGER,
         UNIQUE (room, seq)
     );
     CREATE TABLE key_packages (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         user TEXT NOT NULL,
         package BLOB NOT NULL,
         last_resort INTEGER NOT NULL
     );
     CREATE INDEX key_packages_by_user ON key_packages(user, last_resort);
     CREATE TABLE directs (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         recipient TEXT NOT NULL,
         sender TEXT NOT NULL,
         ts_ms INTEGER NOT NULL,
         payload BLOB NOT NULL
     );
     CREATE INDEX directs_by_recipient ON directs(recipient, id);",
    // 1 -> 2: confusable skeletons (UTS #39) of user and room names, each held by
    // one name, so that a lookalike of an existing name is refused. Filled for
    // existing names by `fill_skeletons` (SQL cannot compute them); where two existing
    // names already collide, the first keeps the skeleton and both stay usable.
    "CREATE TABLE skeletons (
         kind TEXT NOT NULL,
         skeleton TEXT NOT NULL,
         name TEXT NOT NULL,
         PRIMARY KEY (kind, skeleton)
     ) WITHOUT ROWID;",
    // 2 -> 3: key packages carry the end of their lifetime (NULL for those published
    // before: handed out, then checked by the client); direct queues counted per sender.
    "ALTER TABLE key_packages ADD COLUMN not_after_ms INTEGER;
     CREATE INDEX directs_by_sender ON directs(recipient, sender);",
    // 3 -> 4: invitations, accepted or declined by the invitee (no routing before);
    // the invitee sees the room from `joined_seq`, the room's last message when invited.
    "CREATE TABLE invitations (
         room TEXT NOT NULL REFERENCES rooms(name),
         user TEXT NOT NULL,
         by_user TEXT NOT NULL,
         joined_seq INTEGER NOT NULL,
         created_ms INTEGER NOT NULL,
         PRIMARY KEY (room, user)
     ) WITHOUT ROWID;
     CREATE INDEX invitations_by_user ON invitations(user);",
    // 4 -> 5: registration control: one-time tokens (SHA-256 only), names released
    // by the operator, rooms counted per creator.
    "CREATE TABLE tokens (
         digest BLOB PRIMARY KEY,
         created_ms INTEGER NOT NULL,
         used_by TEXT
     );
     ALTER TABLE users ADD COLUMN released INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX rooms_by_creator ON rooms(creator);",
    // 5 -> 6: the id of the MLS group whose public state the server tracks (NULL for a
    // room created without one: its group changes are only ordered, not verified).
    "ALTER TABLE rooms ADD COLUMN group_id BLOB;",
    // 6 -> 7: the hash of the tracked group's context at each epoch, so that an invitee
    // can check that a Welcome is for the room's real group.
    "CREATE TABLE group_epochs (
         room TEXT NOT NULL,
         epoch INTEGER NOT NULL,
         context_hash BLOB NOT NULL,
         PRIMARY KEY (room, epoch)
     ) WITHOUT ROWID;",
    // 7 -> 8: the SHA-256 of each message's payload, unique per room: a client that
    // sends a message again (its first answer was lost) gets the stored one back
    // instead of a second copy (which its readers would take for a replay).
    "ALTER TABLE messages ADD COLUMN digest BLOB;
     CREATE UNIQUE INDEX messages_room_digest ON messages (room, digest);",
    // 8 -> 9: what strangers could fill. New names counted per address for an hour
    // (nothing older is kept); the Welcome queued for each invitation (queued past the
    // recipient's quota, one per invitation); invitations found by age (they expire);
    // the bytes each user has stored in rooms (their quota), filled from what is
    // stored.
    "CREATE TABLE registrations (
         address TEXT NOT NULL,
         at_ms INTEGER NOT NULL
     );
     CREATE INDEX registrations_by_address ON registrations (address, at_ms);
     ALTER TABLE invitations ADD COLUMN welcome_id INTEGER;
     CREATE INDEX invitations_by_age ON invitations (created_ms);
     CREATE TABLE user_usage (
         user TEXT PRIMARY KEY,
         bytes INTEGER NOT NULL
     ) WITHOUT ROWID;
     INSERT INTO user_usage (user, bytes)
         SELECT sender, sum(length(payload)) FROM messages GROUP BY sender;",
    // 9 -> 10: blobs, the sealed chunks of files sent in rooms: each posted to a room
    // by its owner, complete once `held` reaches `chunks`; `sealed` is what it counts
    // against its owner's quota. Chunks go with their blob.
    "CREATE TABLE blobs (
         id BLOB PRIMARY KEY,
         room TEXT NOT NULL,
         owner TEXT NOT NULL,
         size INTEGER NOT NULL,
         chunks INTEGER NOT NULL,
         held INTEGER NOT NULL DEFAULT 0,
         sealed INTEGER NOT NULL,
         created_ms INTEGER NOT NULL
     );
     CREATE INDEX blobs_by_owner ON blobs (owner);
     CREATE INDEX blobs_by_room ON blobs (room);
     CREATE INDEX blobs_by_age ON blobs (created_ms);
     CREATE TABLE blob_chunks (
         blob BLOB NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
         idx INTEGER NOT NULL,
         bytes BLOB NOT NULL,
         PRIMARY KEY (blob, idx)
     );",
    // 10 -> 11: the chunks move out of the database into a file per blob, under
    // `blobs/` (`sqlite::blob_files`; `export_chunks` has copied them there before this
    // runs). A blob's `held` is `chunks` once it is complete; until then its file's
    // length says how many chunks it holds.
    "DROP TABLE blob_chunks;",
    // 11 -> 12: linked devices, each with the certificate its user's identity key
    // signed (`identity::device`), and that identity key, recorded when the user's
    // first device links another.
    "CREATE TABLE devices (
         user TEXT NOT NULL,
         id BLOB NOT NULL,
         name TEXT NOT NULL,
         transport_key BLOB NOT NULL UNIQUE,
         certificate BLOB NOT NULL,
         linked_ms INTEGER NOT NULL,
         revoked_ms INTEGER,
         PRIMARY KEY (user, id)
     ) WITHOUT ROWID;
     ALTER TABLE users ADD COLUMN identity_key BLOB;",
];

/// The schema version this build writes.
pub(super) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`SCHEMA_VERSION`], one transaction per migration.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if version + 1 == 2 {
            fill_skeletons(&tx)?;
        }
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Records the skeletons of every user and room created before version 2.
fn fill_skeletons(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    for (kind, table) in [("user", "users"), ("room", "rooms")] {
        let names: Vec<String> = tx
            .prepare(&format!("SELECT name FROM {table} ORDER BY rowid"))?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for name in names {
            claim_skeletons(tx, kind, &name)?;
        }
    }
    Ok(())
}

/// Records that `name` holds its skeletons among the names of `kind` ("user" or
/// "room"); `false` (nothing recorded) if another name holds one of them.
pub(crate) fn claim_skeletons(
    tx: &rusqlite::Transaction<'_>,
    kind: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let skeletons = crate::proto::skeletons(name);
    for skeleton in &skeletons {
        let holder: Option<String> = rusqlite::OptionalExtension::optional(tx.query_row(
            "SELECT name FROM skeletons WHERE kind = ?1 AND skeleton = ?2",
            rusqlite::params![kind, skeleton],
            |r| r.get(0),
        ))?;
        if holder.is_some_and(|h| h != name) {
            return Ok(false);
        }
    }
    for skeleton in &skeletons {
        tx.execute(
            "INSERT OR IGNORE INTO skeletons (kind, skeleton, name) VALUES (?1, ?2, ?3)",
            rusqlite::params![kind, skeleton, name],
        )?;
    }
    Ok(true)
}
