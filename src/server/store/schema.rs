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
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`SCHEMA_VERSION`], one transaction per migration.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
