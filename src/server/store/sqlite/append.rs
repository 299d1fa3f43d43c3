//! [`AppendTx`] on SQLite: plain statements inside the one writer's transaction (which
//! already orders every append), a tracked group's change applied inside a savepoint.

use openmls::prelude::ProtocolMessage;
use rusqlite::{params, OptionalExtension, Transaction};

use crate::error::StoreError;
use crate::proto::Refusal;
use crate::server::public_group::{self, Applied};
use crate::server::store::append::{AppendTx, RoomHead, StoredCopy};
use crate::server::store::NewMessage;

/// The savepoint a group change is applied in until it is settled.
const GROUP_CHANGE: &str = "group_change";

/// The writer's transaction, appending.
pub(super) struct Appending<'a, 'conn> {
    tx: &'a Transaction<'conn>,
    /// Whether a group change waits in its savepoint to be settled.
    pending: bool,
}

impl<'a, 'conn> Appending<'a, 'conn> {
    /// Appends in `tx`.
    pub(super) fn new(tx: &'a Transaction<'conn>) -> Self {
        Appending { tx, pending: false }
    }
}

impl AppendTx for Appending<'_, '_> {
    fn room(
        &mut self,
        m: &NewMessage,
        digest: &[u8],
    ) -> Result<Option<(RoomHead, Option<StoredCopy>)>, StoreError> {
        let head = self
            .tx
            .prepare_cached(
                "SELECT last_seq, commit_epoch, group_id,
                        EXISTS (SELECT 1 FROM members WHERE room = ?1 AND user = ?2),
                        EXISTS (SELECT 1 FROM invitations WHERE room = ?1 AND user = ?2)
                 FROM rooms WHERE name = ?1",
            )?
            .query_row(params![m.room, m.sender], |r| {
                Ok(RoomHead {
                    last_seq: r.get(0)?,
                    epoch: r.get(1)?,
                    group_id: r.get(2)?,
                    member: r.get(3)?,
                    invited: r.get(4)?,
                })
            })
            .optional()?;
        let Some(head) = head else {
            return Ok(None);
        };
        let stored = self
            .tx
            .prepare_cached(
                "SELECT id, seq, sender, ts_ms, commit_epoch FROM messages
                 WHERE room = ?1 AND digest = ?2",
            )?
            .query_row(params![m.room, digest], |r| {
                Ok(StoredCopy {
                    id: r.get(0)?,
                    seq: r.get(1)?,
                    sender: r.get(2)?,
                    ts_ms: r.get(3)?,
                    commit_epoch: r.get(4)?,
                })
            })
            .optional()?;
        Ok(Some((head, stored)))
    }

    fn stored_bytes(&mut self, user: &str) -> Result<u64, StoreError> {
        let bytes: i64 = self
            .tx
            .prepare_cached("SELECT coalesce(max(bytes), 0) FROM user_usage WHERE user = ?1")?
            .query_row([user], |r| r.get(0))?;
        Ok(bytes.max(0) as u64)
    }

    fn apply_to_group(
        &mut self,
        m: &NewMessage,
        group_id: &[u8],
        protocol: ProtocolMessage,
    ) -> Result<Result<Applied, Refusal>, StoreError> {
        self.tx
            .execute_batch(&format!("SAVEPOINT {GROUP_CHANGE}"))?;
        self.pending = true;
        let applied = public_group::apply_handshake(
            self.tx,
            &m.room,
            group_id,
            &m.sender,
            protocol,
            m.commit_epoch,
        );
        if applied.is_err() {
            self.settle_group_change(&m.room, false)?;
        }
        Ok(applied)
    }

    fn settle_group_change(&mut self, _room: &str, keep: bool) -> Result<(), StoreError> {
        if !std::mem::take(&mut self.pending) {
            return Ok(());
        }
        if !keep {
            self.tx
                .execute_batch(&format!("ROLLBACK TO {GROUP_CHANGE}"))?;
        }
        self.tx.execute_batch(&format!("RELEASE {GROUP_CHANGE}"))?;
        Ok(())
    }

    fn is_member(&mut self, room: &str, user: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT 1 FROM members WHERE room = ?1 AND user = ?2")?
            .query_row(params![room, user], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn remove_member(&mut self, room: &str, user: &str) -> Result<(), StoreError> {
        self.tx
            .prepare_cached("DELETE FROM members WHERE room = ?1 AND user = ?2")?
            .execute(params![room, user])?;
        Ok(())
    }

    fn insert(
        &mut self,
        m: &NewMessage,
        digest: &[u8],
        seq: i64,
        epoch: u64,
    ) -> Result<i64, StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO messages (room, seq, sender, ts_ms, payload, commit_epoch, digest)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                m.room,
                seq,
                m.sender,
                m.timestamp_ms,
                m.payload,
                m.commit_epoch.map(|e| e as i64),
                digest
            ])?;
        let id = self.tx.last_insert_rowid();
        self.tx
            .prepare_cached("UPDATE rooms SET last_seq = ?2, commit_epoch = ?3 WHERE name = ?1")?
            .execute(params![m.room, seq, epoch as i64])?;
        self.tx
            .prepare_cached(
                "INSERT INTO user_usage (user, bytes) VALUES (?1, ?2)
                 ON CONFLICT (user) DO UPDATE SET bytes = bytes + excluded.bytes",
            )?
            .execute(params![m.sender, m.payload.len() as i64])?;
        Ok(id)
    }
}
