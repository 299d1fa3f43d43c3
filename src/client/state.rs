//! The client's local state in its home: which messages it has already handed out,
//! per server, user and room (so that none is shown twice, across restarts).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection};

use crate::error::StoreError;

/// Cursors in `home/state.db`.
#[derive(Debug)]
pub(crate) struct ClientState {
    conn: Mutex<Connection>,
}

/// The cursor of the direct-delivery queue (room names never contain a NUL).
pub(crate) const DIRECT_STREAM: &str = "\0direct";

impl ClientState {
    pub fn open(home: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(home.join("state.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS cursors (
                 server TEXT NOT NULL,
                 user TEXT NOT NULL,
                 stream TEXT NOT NULL,
                 position INTEGER NOT NULL,
                 PRIMARY KEY (server, user, stream)
             ) WITHOUT ROWID;",
        )?;
        Ok(ClientState {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every cursor of `user` on `server`.
    pub fn cursors(&self, server: &str, user: &str) -> Result<HashMap<String, u64>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT stream, position FROM cursors WHERE server = ?1 AND user = ?2",
        )?;
        let rows = stmt.query_map(params![server, user], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Moves a cursor forward (never back).
    pub fn advance(
        &self,
        server: &str,
        user: &str,
        stream: &str,
        position: u64,
    ) -> Result<(), StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "INSERT INTO cursors (server, user, stream, position) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (server, user, stream) DO UPDATE SET position = max(position, excluded.position)",
        )?;
        stmt.execute(params![server, user, stream, position as i64])?;
        Ok(())
    }
}
