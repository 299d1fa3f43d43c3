//! The server's view of each room's MLS group (RFC 9420's delivery service): the
//! public state only (members, their keys, the group context), never a secret.
//!
//! The room's creator uploads the group's signed GroupInfo with its ratchet tree when
//! the room is created; from then on every handshake message of the room (commits and
//! proposals) travels as a signed MLS PublicMessage, which the server verifies against
//! this state before it stores anything: a commit must be a valid commit of a member
//! for the room's current epoch, signed by the user who sends it; a proposal likewise.
//! So no member can take an epoch with a corrupt commit, and the server's routing can
//! follow the group's membership (a member removed by a commit is no longer routed).
//! Application messages stay PrivateMessages the server cannot read.
//!
//! Everything happens inside the store's transaction, with openmls's own tables in the
//! server's database (`openmls_sqlite_storage`), so the public state and the stored
//! messages change together or not at all.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_rust_crypto::RustCrypto;
use rusqlite::Connection;

use crate::e2e::group::{context_hash, member_name, room_of};
use crate::e2e::policy;
use crate::e2e::provider::Storage;
use crate::proto::Refusal;

fn bad(reason: impl Into<String>) -> Refusal {
    Refusal::BadRequest {
        reason: reason.into(),
    }
}

/// Records the hash of `group`'s context at its epoch.
fn record_epoch(conn: &Connection, room: &str, group: &PublicGroup) -> Result<(), Refusal> {
    conn.execute(
        "INSERT OR REPLACE INTO group_epochs (room, epoch, context_hash) VALUES (?1, ?2, ?3)",
        rusqlite::params![
            room,
            group.group_context().epoch().as_u64() as i64,
            context_hash(group.group_context())
        ],
    )
    .map_err(|e| {
        tracing::error!(error = %e, "cannot record a group epoch");
        Refusal::Internal
    })?;
    Ok(())
}

/// The names of a public group's members.
/// The names whose leaf `staged` removes while adding one of the same name.
fn replaced_leaves(group: &PublicGroup, staged: &StagedCommit) -> Vec<String> {
    let added: Vec<String> = staged
        .add_proposals()
        .filter_map(|a| member_name(a.add_proposal().key_package().leaf_node().credential()).ok())
        .collect();
    staged
        .remove_proposals()
        .filter_map(|r| {
            group
                .members()
                .find(|m| m.index == r.remove_proposal().removed())
                .and_then(|m| member_name(&m.credential).ok())
        })
        .filter(|name| added.contains(name))
        .collect()
}

fn names(group: &PublicGroup) -> Vec<String> {
    group
        .members()
        .filter_map(|m| member_name(&m.credential).ok())
        .collect()
}

/// Starts tracking the group of `room` from the GroupInfo its creator uploaded:
/// a valid, signed GroupInfo with its ratchet tree, of a group whose id names the room,
/// at epoch 0, whose only member is `creator`. Returns the group id.
pub(crate) fn create(
    conn: &Connection,
    room: &str,
    creator: &str,
    group_info: &[u8],
) -> Result<Vec<u8>, Refusal> {
    let message = MlsMessageIn::tls_deserialize_exact(group_info)
        .map_err(|e| bad(format!("not an MLS GroupInfo ({e})")))?;
    let MlsMessageBodyIn::GroupInfo(info) = message.extract() else {
        return Err(bad("not an MLS GroupInfo"));
    };
    if room_of(info.group_id()) != Some(room) {
        return Err(bad(format!("a group that is not room {room:?}'s")));
    }
    if info.epoch().as_u64() != 0 {
        return Err(bad("a new room's group must be at epoch 0"));
    }
    let tree = info
        .extensions()
        .ratchet_tree()
        .map(|t| t.ratchet_tree().clone())
        .ok_or_else(|| bad("the GroupInfo lacks its ratchet tree"))?;
    let group_id = info.group_id().clone();
    let storage = Storage::new(conn);
    let (group, _) = PublicGroup::from_external(
        &RustCrypto::default(),
        &storage,
        tree,
        info,
        ProposalStore::new(),
    )
    .map_err(|e| bad(format!("an invalid group ({e})")))?;
    if names(&group) != [creator] || group.members().count() != 1 {
        return Err(bad("a new room's group must hold its creator only"));
    }
    record_epoch(conn, room, &group)?;
    Ok(group_id.as_slice().to_vec())
}

/// What a verified handshake message did.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// Members no longer in the group (their routing goes).
    pub removed: Vec<String>,
    /// Members whose leaf the commit replaced by a new one (an invitation made again):
    /// the store refuses it for a member who joined the room.
    pub replaced: Vec<String>,
}

/// The handshake message (commit or proposal) in `payload`, which the group's public
/// state must verify; `None` for an application message (nothing to verify or apply).
/// Anything else of the wrong form is refused.
pub(crate) fn handshake(
    payload: &[u8],
    commit_epoch: Option<u64>,
) -> Result<Option<ProtocolMessage>, Refusal> {
    let Ok(message) = MlsMessageIn::tls_deserialize_exact(payload) else {
        return Err(bad("not an MLS message of this room's group"));
    };
    match message.extract() {
        MlsMessageBodyIn::PublicMessage(m) => Ok(Some(ProtocolMessage::from(m))),
        MlsMessageBodyIn::PrivateMessage(m) => {
            let m = ProtocolMessage::from(m);
            if m.content_type() != ContentType::Application || commit_epoch.is_some() {
                return Err(bad(
                    "group changes in this room must be signed MLS PublicMessages",
                ));
            }
            Ok(None)
        }
        _ => Err(bad("not an MLS message of this room's group")),
    }
}

/// Verifies `protocol` (a [`handshake`] message of the room whose group is
/// `group_id`, sent by `sender`; `commit_epoch` marks a commit) against the public
/// state in `conn` and applies it: a commit is merged, a proposal queued for the commit
/// that will include it. Must run in the transaction that stores the message.
pub(crate) fn apply_handshake(
    conn: &Connection,
    room: &str,
    group_id: &[u8],
    sender: &str,
    protocol: ProtocolMessage,
    commit_epoch: Option<u64>,
) -> Result<Applied, Refusal> {
    let storage = Storage::new(conn);
    let gid = GroupId::from_slice(group_id);
    let mut group = PublicGroup::load(&storage, &gid)
        .map_err(|e| bad(format!("the room's group state cannot be read ({e})")))?
        .ok_or_else(|| bad("the room's group state is missing"))?;
    let before = names(&group);
    let processed = group
        .process_message(&RustCrypto::default(), protocol)
        .map_err(|e| bad(format!("a group change that does not verify ({e})")))?;
    let signer = member_name(processed.credential()).map_err(bad)?;
    if signer != sender {
        return Err(bad(format!(
            "a group change signed by {signer:?}, sent by {sender:?}"
        )));
    }
    match processed.into_content() {
        ProcessedMessageContent::StagedCommitMessage(staged) => {
            policy::check_commit(&staged, |leaf| {
                group
                    .members()
                    .find(|m| m.index == leaf)
                    .and_then(|m| member_name(&m.credential).ok())
            })
            .map_err(bad)?;
            let replaced = replaced_leaves(&group, &staged);
            group
                .merge_commit(&storage, *staged)
                .map_err(|e| bad(format!("the commit cannot be applied ({e})")))?;
            record_epoch(conn, room, &group)?;
            let after = names(&group);
            Ok(Applied {
                removed: before.into_iter().filter(|n| !after.contains(n)).collect(),
                replaced,
            })
        }
        ProcessedMessageContent::ProposalMessage(proposal) => {
            if commit_epoch.is_some() {
                return Err(bad("a proposal marked as a group change"));
            }
            policy::check_proposal(&proposal).map_err(bad)?;
            group
                .add_proposal(&storage, *proposal)
                .map_err(|e| bad(format!("the proposal cannot be stored ({e})")))?;
            Ok(Applied {
                removed: Vec::new(),
                replaced: Vec::new(),
            })
        }
        _ => Err(bad("not a group change a member may send")),
    }
}
