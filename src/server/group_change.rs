//! What the server can check of a group-state change without any group secret.
//!
//! A message marked with `commit_epoch` must be an MLS commit of the room's group for
//! exactly that epoch (its framing says so in the clear: group id, epoch, content
//! type), and an MLS commit must be marked. So a member cannot take an epoch with
//! bytes that are not a commit, and cannot slip a commit past the server's ordering
//! (which would fork the group between the clients that take it and the others).
//! Other payloads stay opaque.

use openmls::prelude::ContentType;

use crate::e2e::group::{from_bytes, room_of};
use crate::proto::Refusal;

fn bad(reason: impl Into<String>) -> Refusal {
    Refusal::BadRequest {
        reason: reason.into(),
    }
}

/// Checks `payload` sent to `room` with the `commit_epoch` marking against its MLS
/// framing. Returns the epoch an MLS message that is not a group change names (`None`
/// for a commit or opaque bytes).
pub(crate) fn check(
    room: &str,
    payload: &[u8],
    commit_epoch: Option<u64>,
) -> Result<Option<u64>, Refusal> {
    let framed = from_bytes(payload)
        .ok()
        .and_then(|m| m.try_into_protocol_message().ok());
    match (framed, commit_epoch) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(bad("a group-state change must be an MLS commit")),
        (Some(message), marked) => {
            let is_commit = message.content_type() == ContentType::Commit;
            if room_of(message.group_id()) != Some(room) {
                return Err(bad("an MLS message of another room's group"));
            }
            match marked {
                None if is_commit => Err(bad(
                    "an MLS commit must be sent as a group-state change (commit_epoch)",
                )),
                None => Ok(Some(message.epoch().as_u64())),
                Some(_) if !is_commit => Err(bad("only an MLS commit can change the group state")),
                Some(epoch) if message.epoch().as_u64() != epoch => Err(bad(format!(
                    "a commit of epoch {} marked as the change of epoch {epoch}",
                    message.epoch().as_u64()
                ))),
                Some(_) => Ok(None),
            }
        }
    }
}

/// Checks that `payload` is an MLS proposal of `room`'s group (a declined invitee's
/// self-removal, posted for the members to commit); returns its epoch.
pub(crate) fn check_proposal(room: &str, payload: &[u8]) -> Result<u64, Refusal> {
    let message = from_bytes(payload)
        .ok()
        .and_then(|m| m.try_into_protocol_message().ok())
        .ok_or_else(|| bad("a farewell must be an MLS proposal"))?;
    if room_of(message.group_id()) != Some(room) {
        return Err(bad("an MLS message of another room's group"));
    }
    if message.content_type() != ContentType::Proposal {
        return Err(bad("a farewell must be an MLS proposal"));
    }
    Ok(message.epoch().as_u64())
}
