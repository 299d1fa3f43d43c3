//! [`AppendTx`] on PostgreSQL: the room's row locked first (`FOR UPDATE`), which
//! orders a room's appends across nodes; few round trips per message; a tracked
//! group's public state loaded only for a group change, and stored back only once the
//! change is kept.

use openmls::prelude::ProtocolMessage;

use crate::error::StoreError;
use crate::proto::Refusal;
use crate::server::public_group::{self, Applied};
use crate::server::store::append::{AppendTx, RoomHead, StoredCopy};
use crate::server::store::NewMessage;

use super::pool::Tx;
use super::public_state::{with_public_state, PublicState};

/// A writing transaction, appending.
pub(super) struct Appending<'a, 'conn> {
    tx: &'a mut Tx<'conn>,
    /// The public state a group change produced, waiting to be settled.
    pending: Option<PublicState>,
}

impl<'a, 'conn> Appending<'a, 'conn> {
    /// Appends in `tx`.
    pub(super) fn new(tx: &'a mut Tx<'conn>) -> Self {
        Appending { tx, pending: None }
    }
}

impl AppendTx for Appending<'_, '_> {
    fn room(
        &mut self,
        m: &NewMessage,
        digest: &[u8],
    ) -> Result<Option<(RoomHead, Option<StoredCopy>)>, StoreError> {
        // One round trip: the room's row, locked until the commit (one writer per
        // room), whether the sender may post, and the same bytes if they are stored.
        let Some(row) = self.tx.query_opt(
            "SELECT r.last_seq, r.commit_epoch, r.group_id,
                    EXISTS (SELECT 1 FROM members WHERE room = $1 AND user_name = $2),
                    EXISTS (SELECT 1 FROM invitations WHERE room = $1 AND user_name = $2),
                    m.id, m.seq, m.sender, m.ts_ms, m.commit_epoch
             FROM rooms r
             LEFT JOIN messages m ON m.room = r.name AND m.digest = $3
             WHERE r.name = $1 FOR UPDATE OF r",
            &[&m.room, &m.sender, &digest],
        )?
        else {
            return Ok(None);
        };
        let head = RoomHead {
            last_seq: row.get(0),
            epoch: row.get(1),
            group_id: row.get(2),
            member: row.get(3),
            invited: row.get(4),
        };
        let stored = row.get::<_, Option<i64>>(5).map(|id| StoredCopy {
            id,
            seq: row.get(6),
            sender: row.get(7),
            ts_ms: row.get(8),
            commit_epoch: row.get(9),
        });
        Ok(Some((head, stored)))
    }

    fn stored_bytes(&mut self, user: &str) -> Result<u64, StoreError> {
        // The row is locked until the commit: the sender's sends on other nodes wait.
        let bytes: i64 = self
            .tx
            .query_one(
                "INSERT INTO user_usage (user_name, bytes) VALUES ($1, 0)
                 ON CONFLICT (user_name) DO UPDATE SET bytes = user_usage.bytes
                 RETURNING bytes",
                &[&user],
            )?
            .get(0);
        Ok(bytes.max(0) as u64)
    }

    fn apply_to_group(
        &mut self,
        m: &NewMessage,
        group_id: &[u8],
        protocol: ProtocolMessage,
    ) -> Result<Result<Applied, Refusal>, StoreError> {
        // Loaded for a group change only (it may be tens of KiB).
        let snapshot: Option<Vec<u8>> = self
            .tx
            .query_one("SELECT public_state FROM rooms WHERE name = $1", &[&m.room])?
            .get(0);
        let applied = with_public_state(snapshot.as_deref(), |c| {
            public_group::apply_handshake(c, &m.room, group_id, &m.sender, protocol, m.commit_epoch)
        })?;
        Ok(applied.map(|(applied, state)| {
            self.pending = Some(state);
            applied
        }))
    }

    fn settle_group_change(&mut self, room: &str, keep: bool) -> Result<(), StoreError> {
        match self.pending.take() {
            Some(state) if keep => state.store(self.tx, room),
            _ => Ok(()),
        }
    }

    fn is_member(&mut self, room: &str, user: &str) -> Result<bool, StoreError> {
        Ok(self
            .tx
            .query_opt(
                "SELECT 1 FROM members WHERE room = $1 AND user_name = $2",
                &[&room, &user],
            )?
            .is_some())
    }

    fn remove_member(&mut self, room: &str, user: &str) -> Result<(), StoreError> {
        self.tx.execute(
            "DELETE FROM members WHERE room = $1 AND user_name = $2",
            &[&room, &user],
        )?;
        Ok(())
    }

    fn insert(
        &mut self,
        m: &NewMessage,
        digest: &[u8],
        seq: i64,
        epoch: u64,
    ) -> Result<i64, StoreError> {
        let commit_epoch = m.commit_epoch.map(|e| e as i64);
        // One round trip: the message, its bytes counted, and the room's new head.
        Ok(self
            .tx
            .query_one(
                "WITH stored AS (
                     INSERT INTO messages
                         (room, seq, sender, ts_ms, payload, commit_epoch, digest)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id
                 ), counted AS (
                     UPDATE user_usage SET bytes = bytes + octet_length($5)
                     WHERE user_name = $3
                 )
                 UPDATE rooms SET last_seq = $2, commit_epoch = $8 WHERE name = $1
                 RETURNING (SELECT id FROM stored)",
                &[
                    &m.room,
                    &seq,
                    &m.sender,
                    &m.timestamp_ms,
                    &m.payload,
                    &commit_epoch,
                    &digest,
                    &(epoch as i64),
                ],
            )?
            .get(0))
    }
}
