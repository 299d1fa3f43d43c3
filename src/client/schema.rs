//! The client's own tables in `home/state.db` and their migrations, tracked in
//! `PRAGMA user_version` (openmls's tables beside them have their own migrations).

use rusqlite::Connection;

use crate::error::StoreError;

/// Migration `i` takes the schema from version `i` to `i + 1`. Only appended to.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the first schema (`IF NOT EXISTS`: states made before the schema was
    // versioned have these tables at version 0).
    "CREATE TABLE IF NOT EXISTS cursors (
    server TEXT NOT NULL, user TEXT NOT NULL, stream TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (server, user, stream)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS me (
    user TEXT PRIMARY KEY, signature_key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS rooms (
    server TEXT NOT NULL, user TEXT NOT NULL, room TEXT NOT NULL,
    group_id BLOB NOT NULL, joined_epoch INTEGER NOT NULL,
    next_counter INTEGER NOT NULL DEFAULT 1, active INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (server, user, room));
CREATE TABLE IF NOT EXISTS history (
    server TEXT NOT NULL, user TEXT NOT NULL, room TEXT NOT NULL, seq INTEGER NOT NULL,
    id INTEGER NOT NULL, sender TEXT NOT NULL, ts_ms INTEGER NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (server, user, room, seq));
CREATE TABLE IF NOT EXISTS outbox (
    server TEXT NOT NULL, user TEXT NOT NULL, room TEXT NOT NULL, digest BLOB NOT NULL,
    payload BLOB NOT NULL, text TEXT NOT NULL, created INTEGER NOT NULL,
    PRIMARY KEY (server, user, room, digest));
CREATE TABLE IF NOT EXISTS contacts (
    server TEXT NOT NULL, user TEXT NOT NULL, signature_key BLOB NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0, changed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (server, user));
CREATE TABLE IF NOT EXISTS counters (
    server TEXT NOT NULL, user TEXT NOT NULL, room TEXT NOT NULL, sender TEXT NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (server, user, room, sender));
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, server TEXT NOT NULL, user TEXT NOT NULL,
    event BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS transport_key (
    user TEXT PRIMARY KEY, private BLOB NOT NULL, public BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS last_server (
    user TEXT PRIMARY KEY, server TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS published (
    server TEXT NOT NULL, user TEXT NOT NULL, PRIMARY KEY (server, user));
CREATE TABLE IF NOT EXISTS self_updates (
    server TEXT NOT NULL, user TEXT NOT NULL, room TEXT NOT NULL,
    sent INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    PRIMARY KEY (server, user, room));
CREATE TABLE IF NOT EXISTS held_welcomes (
    server TEXT NOT NULL, user TEXT NOT NULL, room TEXT NOT NULL, by_user TEXT NOT NULL,
    welcome BLOB NOT NULL, tracked INTEGER NOT NULL,
    PRIMARY KEY (server, user, room));
CREATE TABLE IF NOT EXISTS last_resort (
    server TEXT NOT NULL, user TEXT NOT NULL, published_ms INTEGER NOT NULL,
    PRIMARY KEY (server, user));",
    // 1 -> 2: the counter of an outgoing message (kept so that a message encrypted in
    // an epoch nobody can read any more is encrypted again under the same counter), and
    // this client's group change still waiting for its answer (sent again, byte for
    // byte, after a reconnection: the server's answer says whether it was taken).
    "ALTER TABLE outbox ADD COLUMN counter INTEGER;
     CREATE TABLE pending_commits (
         server TEXT NOT NULL, user TEXT NOT NULL, room TEXT NOT NULL,
         epoch INTEGER NOT NULL, payload BLOB NOT NULL,
         invitee TEXT, welcome BLOB, taken INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY (server, user, room));",
    // 2 -> 3: how far each group's sending ratchet may have gone (see
    // `send_reservation.rs`: a message key is never used twice, even after a power loss).
    "CREATE TABLE send_reservations (
         group_id BLOB PRIMARY KEY, epoch INTEGER NOT NULL,
         used INTEGER NOT NULL, reserved INTEGER NOT NULL) WITHOUT ROWID;",
    // 3 -> 4: the groups' message secrets in openmls's tables may be in binary
    // (`e2e/storage_codec.rs`): recorded here, so that an older smc refuses this state
    // (schema too new) instead of failing to read them.
    "CREATE TABLE storage_codec (name TEXT NOT NULL, version INTEGER NOT NULL);
     INSERT INTO storage_codec (name, version) VALUES ('message-secrets-postcard', 1);",
    // 4 -> 5: the rooms this user said yes to (`Client::accept`) whose Welcome has not
    // joined yet: a Welcome joins at once only for a room recorded here (or with
    // auto-join on), whatever the server says of the room's members.
    "CREATE TABLE consents (
         server TEXT NOT NULL, user TEXT NOT NULL, room TEXT NOT NULL,
         PRIMARY KEY (server, user, room)) WITHOUT ROWID;",
    // 5 -> 6: the members of each room who were invited and have not joined yet (see
    // `invitees.rs`); states from before know of none: every member counts as joined.
    // An outgoing message may be the word that this user joined (no text).
    "ALTER TABLE outbox ADD COLUMN joined INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE invitees (
         server TEXT NOT NULL, user TEXT NOT NULL, room TEXT NOT NULL, member TEXT NOT NULL,
         PRIMARY KEY (server, user, room, member)) WITHOUT ROWID;",
    // 6 -> 7: fewer pages written per message (each is a WAL frame, and the WAL's size
    // sets how often a checkpoint flushes it): the history and the outbox become
    // clustered on their keys (one b-tree each instead of a table and its key's index),
    // and the event queue drops AUTOINCREMENT (which rewrote `sqlite_sequence` with
    // every event; ids still grow, as each is above every id still queued).
    "CREATE TABLE history_7 (
         server TEXT NOT NULL, user TEXT NOT NULL, room TEXT NOT NULL, seq INTEGER NOT NULL,
         id INTEGER NOT NULL, sender TEXT NOT NULL, ts_ms INTEGER NOT NULL, text TEXT NOT NULL,
         PRIMARY KEY (server, user, room, seq)) WITHOUT ROWID;
     INSERT INTO history_7 (server, user, room, seq, id, sender, ts_ms, text)
         SELECT server, user, room, seq, id, sender, ts_ms, text FROM history;
     DROP TABLE history;
     ALTER TABLE history_7 RENAME TO history;
     CREATE TABLE outbox_7 (
         server TEXT NOT NULL, user TEXT NOT NULL, room TEXT NOT NULL, digest BLOB NOT NULL,
         payload BLOB NOT NULL, text TEXT NOT NULL, created INTEGER NOT NULL,
         counter INTEGER, joined INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY (server, user, room, digest)) WITHOUT ROWID;
     INSERT INTO outbox_7 (server, user, room, digest, payload, text, created, counter, joined)
         SELECT server, user, room, digest, payload, text, created, counter, joined FROM outbox;
     DROP TABLE outbox;
     ALTER TABLE outbox_7 RENAME TO outbox;
     CREATE TABLE inbox_7 (
         id INTEGER PRIMARY KEY, server TEXT NOT NULL, user TEXT NOT NULL,
         event BLOB NOT NULL);
     INSERT INTO inbox_7 (id, server, user, event) SELECT id, server, user, event FROM inbox;
     DROP TABLE inbox;
     ALTER TABLE inbox_7 RENAME TO inbox;
     DELETE FROM sqlite_sequence WHERE name = 'inbox';",
    // 7 -> 8: files. The outbox keeps a file message's reference (`file`, postcard),
    // the history a received or sent file (`attachment`); queued messages gain their
    // (empty) attachment (`reencode_queued_messages`).
    "ALTER TABLE outbox ADD COLUMN file BLOB;
     ALTER TABLE history ADD COLUMN attachment BLOB;",
    // 8 -> 9: a linked device's certificate (`identity::device`), signed by its
    // user's identity key; a first device (every home before) has none.
    "CREATE TABLE device (
         user TEXT PRIMARY KEY, certificate BLOB NOT NULL) WITHOUT ROWID;",
];

/// The version whose migration gives messages their attachment.
const FILES: i64 = 8;

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the state to [`SCHEMA_VERSION`], one transaction per migration; a state
/// written by a newer smc is refused ([`StoreError::SchemaTooNew`]).
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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
        if version as i64 + 1 == FILES {
            reencode_queued_messages(&tx)?;
        }
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Queued events are postcard-encoded [`crate::client::ChatEvent`]s. A `Message` queued before
/// [`FILES`] ends where its attachment now follows: it is given its `None` (one zero
/// byte), so that it reads again. Other events are unchanged.
fn reencode_queued_messages(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let rows: Vec<(i64, Vec<u8>)> = {
        let mut stmt = tx.prepare("SELECT id, event FROM inbox")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, mut bytes) in rows {
        if postcard::from_bytes::<crate::client::ChatEvent>(&bytes).is_ok() {
            continue;
        }
        bytes.push(0);
        if let Ok(crate::client::ChatEvent::Message(_)) = postcard::from_bytes(&bytes) {
            tx.execute(
                "UPDATE inbox SET event = ?2 WHERE id = ?1",
                rusqlite::params![id, bytes],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_made_before_versioning_is_migrated_and_a_newer_one_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        // A state as the first versions wrote it: the tables, user_version 0.
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "INSERT INTO outbox (server, user, room, digest, payload, text, created)
                 VALUES ('s', 'u', 'r', x'01', x'02', 'hi', 1);
             INSERT INTO history (server, user, room, seq, id, sender, ts_ms, text)
                 VALUES ('s', 'u', 'r', 7, 70, 'bob', 5, 'old');
             INSERT INTO inbox (server, user, event) VALUES ('s', 'u', x'00');
             INSERT INTO inbox (server, user, event) VALUES ('s', 'u', x'01');
             DELETE FROM inbox WHERE event = x'00';",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let (text, counter): (String, Option<i64>) = conn
            .query_row("SELECT text, counter FROM outbox", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((text.as_str(), counter), ("hi", None));
        // Migration 6 -> 7 rebuilt the history, the outbox and the event queue: their
        // rows are kept, and a new event's id still comes after the ones queued.
        let old: String = conn
            .query_row("SELECT text FROM history WHERE seq = 7", [], |r| r.get(0))
            .unwrap();
        assert_eq!(old, "old");
        conn.execute(
            "INSERT INTO inbox (server, user, event) VALUES ('s', 'u', x'02')",
            [],
        )
        .unwrap();
        let ids: Vec<i64> = conn
            .prepare("SELECT id FROM inbox ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ids, vec![2, 3]);
        // Idempotent.
        migrate(&mut conn).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(StoreError::SchemaTooNew { .. })
        ));
    }

    #[test]
    fn messages_queued_before_files_read_again_after_the_migration() {
        use crate::client::{ChatEvent, Message};
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..(FILES - 1) as usize] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", FILES - 1).unwrap();
        let message = Message {
            id: 70,
            room: "r".into(),
            seq: 7,
            sender: "bob".into(),
            text: "queued before files".into(),
            timestamp: crate::client::message::timestamp(5),
            attachment: None,
        };
        // As the version before wrote it: the same bytes without the attachment.
        let mut old = postcard::to_stdvec(&ChatEvent::Message(message.clone())).unwrap();
        assert_eq!(old.pop(), Some(0));
        let other = postcard::to_stdvec(&ChatEvent::Removed { room: "r".into() }).unwrap();
        for event in [&old, &other] {
            conn.execute(
                "INSERT INTO inbox (server, user, event) VALUES ('s', 'u', ?1)",
                [event],
            )
            .unwrap();
        }
        assert!(postcard::from_bytes::<ChatEvent>(&old).is_err());
        migrate(&mut conn).unwrap();
        let events: Vec<ChatEvent> = conn
            .prepare("SELECT event FROM inbox ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(|b| postcard::from_bytes(&b.unwrap()).unwrap())
            .collect();
        assert_eq!(
            events,
            [
                ChatEvent::Message(message),
                ChatEvent::Removed { room: "r".into() }
            ]
        );
    }
}
