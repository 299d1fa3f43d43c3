//! The public state of a room's tracked MLS group on PostgreSQL (what the SQLite store
//! keeps in openmls's tables beside its own): openmls's tables in an in-memory SQLite
//! database, serialized into `rooms.public_state`, and the context hash of each of its
//! epochs in `group_epochs`. It is verified and changed by the same code as on SQLite
//! ([`crate::server::public_group`]).

use crate::error::StoreError;
use crate::proto::Refusal;

use super::pool::Tx;

/// A group's public state as a change left it, to be stored with its room.
pub(super) struct PublicState {
    /// The context hash of each epoch the change recorded.
    epochs: Vec<(i64, Vec<u8>)>,
    /// openmls's tables, serialized.
    snapshot: Vec<u8>,
}

impl PublicState {
    /// Stores it as `room`'s, in the transaction that stores what changed it.
    pub(super) fn store(self, tx: &mut Tx<'_>, room: &str) -> Result<(), StoreError> {
        for (epoch, hash) in &self.epochs {
            tx.execute(
                "INSERT INTO group_epochs (room, epoch, context_hash) VALUES ($1, $2, $3)
                 ON CONFLICT (room, epoch) DO UPDATE SET context_hash = EXCLUDED.context_hash",
                &[&room, epoch, hash],
            )?;
        }
        tx.execute(
            "UPDATE rooms SET public_state = $2 WHERE name = $1",
            &[&room, &self.snapshot],
        )?;
        Ok(())
    }
}

/// Runs `f` on a group's public state, loaded from `snapshot` (a new, empty state
/// without one) into an in-memory SQLite database holding openmls's tables and
/// `group_epochs`: what `f` returned and the state it left, or `f`'s refusal. Nothing
/// is stored here.
pub(super) fn with_public_state<T>(
    snapshot: Option<&[u8]>,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, Refusal>,
) -> Result<Result<(T, PublicState), Refusal>, StoreError> {
    let mut mem = rusqlite::Connection::open_in_memory()?;
    match snapshot {
        Some(bytes) => mem.deserialize_read_exact(rusqlite::MAIN_DB, bytes, bytes.len(), false)?,
        None => {
            crate::e2e::provider::migrate(&mut mem).map_err(StoreError::Mls)?;
            mem.execute_batch(
                "CREATE TABLE group_epochs (
                     room TEXT NOT NULL,
                     epoch INTEGER NOT NULL,
                     context_hash BLOB NOT NULL,
                     PRIMARY KEY (room, epoch)
                 )",
            )?;
        }
    }
    let value = match f(&mem) {
        Ok(v) => v,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let epochs: Vec<(i64, Vec<u8>)> = mem
        .prepare("SELECT epoch, context_hash FROM group_epochs")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    mem.execute("DELETE FROM group_epochs", [])?;
    let snapshot = mem.serialize(rusqlite::MAIN_DB)?.to_vec();
    Ok(Ok((value, PublicState { epochs, snapshot })))
}
