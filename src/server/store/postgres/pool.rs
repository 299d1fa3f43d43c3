//! The PostgreSQL store's connections: a bounded pool, and each connection's prepared
//! statements.
//!
//! A statement given as text costs two round trips in rust-postgres (prepare, then
//! execute); each connection here prepares a statement once and keeps it, so that
//! every later use is one round trip. Statements are protocol-level objects of their
//! connection: they outlive transactions (a rolled-back one included) and go with the
//! connection when it breaks.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, IsolationLevel, NoTls, Row, Statement, Transaction};

use crate::error::StoreError;

/// Connections open at most: a store call beyond them waits for one to be free (up to
/// [`POOL_WAIT`]), so that a burst of sessions never exhausts PostgreSQL's
/// `max_connections` (100 by default) for every node.
const POOL: usize = 16;
/// How long a store call waits for a free connection before it fails.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// One connection and the statements prepared on it, by text.
pub(super) struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// Prepares `sql` on `client` once per connection.
fn prepared(
    statements: &mut HashMap<String, Statement>,
    sql: &str,
    prepare: impl FnOnce(&str) -> Result<Statement, postgres::Error>,
) -> Result<Statement, postgres::Error> {
    if let Some(s) = statements.get(sql) {
        return Ok(s.clone());
    }
    let s = prepare(sql)?;
    statements.insert(sql.to_owned(), s.clone());
    Ok(s)
}

/// A bounded pool of connections to one database.
pub(super) struct Pool {
    config: postgres::Config,
    state: Mutex<PoolState>,
    freed: Condvar,
}

/// The connections: those idle, and how many are open in all (idle or in use).
#[derive(Default)]
struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

impl Pool {
    /// A pool for `url`; nothing is connected yet. Without a password in the URL, it
    /// comes from `PGPASSWORD` or the password file, as with libpq
    /// (`password.rs`).
    pub(super) fn new(url: &str) -> Result<Pool, StoreError> {
        let config: postgres::Config = url.parse()?;
        Ok(Pool {
            config: super::password::fill(config),
            state: Mutex::new(PoolState::default()),
            freed: Condvar::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection: an idle one, a new one while fewer than [`POOL`] are open, or the
    /// next one freed (up to [`POOL_WAIT`]).
    pub(super) fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let deadline = Instant::now() + POOL_WAIT;
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Pooled {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if state.open < POOL {
                state.open += 1;
                drop(state);
                return match self.config.connect(NoTls) {
                    Ok(client) => Ok(Pooled {
                        pool: self,
                        conn: Some(Conn {
                            client,
                            statements: HashMap::new(),
                        }),
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e.into())
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::Io {
                    path: "PostgreSQL".into(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("all {POOL} connections stayed busy for {POOL_WAIT:?}"),
                    ),
                });
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// A connection taken from the pool, given back when dropped (unless broken).
pub(super) struct Pooled<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
}

impl Pooled<'_> {
    fn conn(&mut self) -> &mut Conn {
        self.conn.as_mut().unwrap_or_else(|| unreachable!())
    }

    /// The client itself (statements given as text: for the rare ones).
    pub(super) fn client(&mut self) -> &mut Client {
        &mut self.conn().client
    }

    /// Runs `sql` (prepared once per connection): the rows.
    pub(super) fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let Conn { client, statements } = self.conn();
        let s = prepared(statements, sql, |q| client.prepare(q))?;
        client.query(&s, params)
    }

    /// Runs `sql` (prepared once per connection): at most one row.
    pub(super) fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        let Conn { client, statements } = self.conn();
        let s = prepared(statements, sql, |q| client.prepare(q))?;
        client.query_opt(&s, params)
    }

    /// Runs `sql` (prepared once per connection): exactly one row.
    pub(super) fn query_one(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, postgres::Error> {
        let Conn { client, statements } = self.conn();
        let s = prepared(statements, sql, |q| client.prepare(q))?;
        client.query_one(&s, params)
    }

    /// A transaction at `level` on this connection, with its prepared statements.
    pub(super) fn transaction(&mut self, level: IsolationLevel) -> Result<Tx<'_>, postgres::Error> {
        let Conn { client, statements } = self.conn();
        let tx = client.build_transaction().isolation_level(level).start()?;
        Ok(Tx { tx, statements })
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut state = self.pool.lock();
            if conn.client.is_closed() {
                // Broken (the server went away): a new one is made when needed.
                state.open -= 1;
            } else {
                state.idle.push(conn);
            }
            self.pool.freed.notify_one();
        }
    }
}

/// A transaction whose statements are prepared once per connection.
pub(super) struct Tx<'a> {
    tx: Transaction<'a>,
    statements: &'a mut HashMap<String, Statement>,
}

impl Tx<'_> {
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        let tx = &mut self.tx;
        prepared(self.statements, sql, |q| tx.prepare(q))
    }

    /// Runs `sql`: at most one row.
    pub(super) fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.tx.query_opt(&s, params)
    }

    /// Runs `sql`: every row.
    pub(super) fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.tx.query(&s, params)
    }

    /// Runs `sql`: exactly one row.
    pub(super) fn query_one(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, postgres::Error> {
        let s = self.statement(sql)?;
        self.tx.query_one(&s, params)
    }

    /// Runs `sql`: the rows it changed.
    pub(super) fn execute(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        let s = self.statement(sql)?;
        self.tx.execute(&s, params)
    }

    /// Commits.
    pub(super) fn commit(self) -> Result<(), postgres::Error> {
        self.tx.commit()
    }
}
