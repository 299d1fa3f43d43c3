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
    // 1 -> 2: confusable skeletons (UTS #39) of user and room names, unique, so that a
    // lookalike of an existing name is refused. Filled for existing rows by
    // `fill_skeletons` (SQL cannot compute them); where two existing names already
    // collide, the later one keeps NULL and stays usable.
    "ALTER TABLE users ADD COLUMN skeleton TEXT;
     ALTER TABLE rooms ADD COLUMN skeleton TEXT;
     CREATE UNIQUE INDEX users_by_skeleton ON users(skeleton);
     CREATE UNIQUE INDEX rooms_by_skeleton ON rooms(skeleton);",
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
        if version + 1 == 2 {
            fill_skeletons(&tx)?;
        }
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Computes the skeleton of every user and room registered before version 2.
fn fill_skeletons(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    for table in ["users", "rooms"] {
        let names: Vec<String> = tx
            .prepare(&format!("SELECT name FROM {table} ORDER BY rowid"))?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for name in names {
            tx.execute(
                &format!(
                    "UPDATE OR IGNORE {table} SET skeleton = ?2 WHERE name = ?1
                     AND NOT EXISTS (SELECT 1 FROM {table} WHERE skeleton = ?2)"
                ),
                rusqlite::params![name, crate::proto::skeleton(&name)],
            )?;
        }
    }
    Ok(())
}
