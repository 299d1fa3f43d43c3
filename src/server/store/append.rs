//! The sequence of a message's append, written once for every backend. The backends
//! differ in how they read and write (a row lock and few round trips on PostgreSQL,
//! plain statements behind SQLite's one writer), never in what is checked or in which
//! order: each implements [`AppendTx`] over its writing transaction, and its
//! `Store::append` calls [`append_one`] for each message of a batch.

use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::proto::{Envelope, Refusal};
use openmls::prelude::ProtocolMessage;

use crate::server::public_group::{self, Applied};
use crate::server::store::rules::{admit, may_post, replacing_a_member, storage_allowed};
use crate::server::store::{Appended, NewMessage};

/// A room's row as a message is appended to it, and the sender's standing in it.
#[derive(Debug)]
pub(super) struct RoomHead {
    /// The room's last seq.
    pub last_seq: i64,
    /// The epoch of the room's group.
    pub epoch: i64,
    /// The group whose public state the server tracks, if any.
    pub group_id: Option<Vec<u8>>,
    /// Whether the sender is a member.
    pub member: bool,
    /// Whether the sender has a pending invitation.
    pub invited: bool,
}

/// A message already stored in the room with the same payload.
#[derive(Debug)]
pub(super) struct StoredCopy {
    /// Its id.
    pub id: i64,
    /// Its seq.
    pub seq: i64,
    /// Who sent it.
    pub sender: String,
    /// When it was stored (ms since the Unix epoch).
    pub ts_ms: i64,
    /// The epoch it changed, for a group change.
    pub commit_epoch: Option<i64>,
}

/// What an append needs of a backend, inside the transaction that stores a batch.
pub(super) trait AppendTx {
    /// The room of `m` (locked until the commit, where the backend has row locks) with
    /// the standing of `m`'s sender in it, and the message stored in it whose payload
    /// has this `digest`, if one is; `None` for a room that does not exist.
    fn room(
        &mut self,
        m: &NewMessage,
        digest: &[u8],
    ) -> Result<Option<(RoomHead, Option<StoredCopy>)>, StoreError>;

    /// The payload bytes `user` has stored (their row locked until the commit, where
    /// the backend has row locks: a quota is exact across nodes).
    fn stored_bytes(&mut self, user: &str) -> Result<u64, StoreError>;

    /// Verifies `protocol`, the group change `m` carries, against the public state of
    /// its room's group `group_id` and applies it, pending
    /// [`AppendTx::settle_group_change`]; a refusal leaves the state as it was, with
    /// nothing pending.
    fn apply_to_group(
        &mut self,
        m: &NewMessage,
        group_id: &[u8],
        protocol: ProtocolMessage,
    ) -> Result<Result<Applied, Refusal>, StoreError>;

    /// Keeps (`keep`) or undoes what the last [`AppendTx::apply_to_group`] applied to
    /// the public state of `room`'s group.
    fn settle_group_change(&mut self, room: &str, keep: bool) -> Result<(), StoreError>;

    /// Whether `user` is a member of `room`.
    fn is_member(&mut self, room: &str, user: &str) -> Result<bool, StoreError>;

    /// Removes `user` from the members of `room` (a group change removed them).
    fn remove_member(&mut self, room: &str, user: &str) -> Result<(), StoreError>;

    /// Stores `m` at `seq` with its payload's `digest`, moves the room's head to `seq`
    /// and its epoch to `epoch`, and counts the payload's bytes for its sender: the new
    /// message's id.
    fn insert(
        &mut self,
        m: &NewMessage,
        digest: &[u8],
        seq: i64,
        epoch: u64,
    ) -> Result<i64, StoreError>;
}

/// Appends `m` inside `tx`: the stored message, or the refusal (nothing of `m` kept).
///
/// In order: the same bytes from the same sender are the stored message again (its
/// sender lost the first answer); the room must exist and the sender may post in it
/// ([`may_post`]); its epoch admits the message, and someone else's bytes are refused
/// as a copy after the checks that say more ([`admit`]); the sender's storage quota
/// ([`storage_allowed`]); in a room whose group the server tracks, a group change is
/// verified and applied, and refused if it replaces the leaf of a member who joined;
/// then the message is stored at the next seq.
pub(super) fn append_one(
    tx: &mut impl AppendTx,
    m: &NewMessage,
) -> Result<Result<Appended, Refusal>, StoreError> {
    let digest = Sha256::digest(&m.payload).to_vec();
    let Some((head, stored)) = tx.room(m, &digest)? else {
        return Ok(Err(Refusal::UnknownRoom {
            room: m.room.clone(),
        }));
    };
    let copy = match stored {
        Some(s) if s.sender == m.sender => {
            return Ok(Ok(Appended {
                envelope: Envelope {
                    id: s.id as u64,
                    room: m.room.clone(),
                    seq: s.seq as u64,
                    sender: s.sender,
                    timestamp_ms: s.ts_ms,
                    payload: m.payload.clone(),
                    commit_epoch: s.commit_epoch.map(|e| e as u64),
                },
                unrouted: Vec::new(),
                duplicate: true,
            }))
        }
        Some(_) => true,
        None => false,
    };
    if let Err(refusal) = may_post(m, head.member, head.invited) {
        return Ok(Err(refusal));
    }
    let next_epoch = match admit(m, head.epoch as u64, copy) {
        Ok(next) => next,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if let Err(refusal) = storage_allowed(m, tx.stored_bytes(&m.sender)?) {
        return Ok(Err(refusal));
    }
    let mut unrouted = Vec::new();
    // A room whose group the server tracks: a group change is verified against its
    // public state and applied to it; an application message leaves it alone.
    let change = match &head.group_id {
        Some(group_id) => match public_group::handshake(&m.payload, m.commit_epoch) {
            Ok(protocol) => protocol.map(|p| (group_id, p)),
            Err(refusal) => return Ok(Err(refusal)),
        },
        None => None,
    };
    if let Some((group_id, protocol)) = change {
        let applied = match tx.apply_to_group(m, group_id, protocol)? {
            Ok(applied) => applied,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let mut replaces_a_member = false;
        for user in &applied.replaced {
            if tx.is_member(&m.room, user)? {
                replaces_a_member = true;
                break;
            }
        }
        tx.settle_group_change(&m.room, !replaces_a_member)?;
        if replaces_a_member {
            return Ok(Err(replacing_a_member()));
        }
        for user in &applied.removed {
            tx.remove_member(&m.room, user)?;
        }
        unrouted = applied.removed;
    }
    let seq = head.last_seq + 1;
    let id = tx.insert(m, &digest, seq, next_epoch)?;
    Ok(Ok(Appended {
        envelope: Envelope {
            id: id as u64,
            room: m.room.clone(),
            seq: seq as u64,
            sender: m.sender.clone(),
            timestamp_ms: m.timestamp_ms,
            payload: m.payload.clone(),
            commit_epoch: m.commit_epoch,
        },
        unrouted,
        duplicate: false,
    }))
}
