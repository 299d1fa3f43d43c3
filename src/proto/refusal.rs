//! Why the server refused a request.

use serde::{Deserialize, Serialize};

/// The server's refusal of a request. Each variant maps to one Python exception and one
/// C status code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// The user is not a member of the room.
    #[error("you are not a member of room {room:?}")]
    NotAMember {
        /// The room.
        room: String,
    },
    /// The user has no pending invitation to the room.
    #[error("you have no invitation to room {room:?}")]
    NotInvited {
        /// The room.
        room: String,
    },
    /// No such user is registered.
    #[error("unknown user {user:?}")]
    UnknownUser {
        /// The user.
        user: String,
    },
    /// No such room.
    #[error("unknown room {room:?}")]
    UnknownRoom {
        /// The room.
        room: String,
    },
    /// A room of that name exists already.
    #[error("room {room:?} already exists")]
    RoomExists {
        /// The room.
        room: String,
    },
    /// The server does not register this name: it registers by token only and none
    /// (or an invalid one) was given, or it registers nobody new.
    #[error("registration refused: {reason}")]
    RegistrationRefused {
        /// Why.
        reason: String,
    },
    /// The name is registered to another key.
    #[error("the name {user:?} is registered to another key")]
    NameTaken {
        /// The name.
        user: String,
    },
    /// A group-state change for an epoch that already has one: fetch and retry.
    #[error("stale group-state change: the room is at epoch {current}; sync and retry")]
    Stale {
        /// The first epoch that can still take a change.
        current: u64,
    },
    /// The user has published no key package.
    #[error("user {user:?} has no key package")]
    NoKeyPackage {
        /// The user.
        user: String,
    },
    /// Too many requests: nothing was done; the same request is accepted again after
    /// `retry_after_ms` milliseconds (smc's client waits and retries by itself within
    /// its request timeout).
    #[error("too many requests; retry in {retry_after_ms} ms")]
    RateLimited {
        /// When a token is free again, in milliseconds.
        retry_after_ms: u64,
    },
    /// A quota is full (a recipient's queue, stored key packages, rooms created...);
    /// nothing was stored.
    #[error("quota exceeded: {reason}")]
    QuotaExceeded {
        /// Which quota.
        reason: String,
    },
    /// A request that breaks the protocol's rules (bad name, too large, out of order).
    #[error("bad request: {reason}")]
    BadRequest {
        /// What is wrong.
        reason: String,
    },
    /// The client speaks another protocol version.
    #[error("protocol version mismatch: the server speaks version {server}")]
    VersionMismatch {
        /// The server's version.
        server: u16,
    },
    /// The server failed (its log says why); nothing was stored.
    #[error("internal server error; nothing was stored")]
    Internal,
    /// The server's disk is full: nothing was stored; reads still work. Retry later.
    #[error("the server's storage is full; nothing was stored (retry later)")]
    StorageFull,
    /// No such file on the server, or none the caller may have: the id is unknown, its
    /// upload is not complete (or is not the caller's), the caller is not a member of
    /// its room, or it was deleted (retention). One refusal for all, so that it tells
    /// nothing of other people's files.
    #[error("no such file on the server (unknown, incomplete, not yours to read, or expired)")]
    UnknownBlob,
    /// This device was revoked by its user: the server refuses it from then on.
    #[error("this device was revoked by its user; link it again to use it")]
    DeviceRevoked,
    /// Linking a device failed: no offer at that code (none, expired or used), a code
    /// that does not match, or a device that may not link or be linked.
    #[error("linking refused: {reason}")]
    LinkRefused {
        /// Why.
        reason: String,
    },
}

impl Refusal {
    /// A short, stable name of this refusal (`"rate_limited"`, `"not_a_member"`...),
    /// without the details it carries: the label of the server's refusal counter.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::NotAMember { .. } => "not_a_member",
            Refusal::NotInvited { .. } => "not_invited",
            Refusal::UnknownUser { .. } => "unknown_user",
            Refusal::UnknownRoom { .. } => "unknown_room",
            Refusal::RoomExists { .. } => "room_exists",
            Refusal::RegistrationRefused { .. } => "registration_refused",
            Refusal::NameTaken { .. } => "name_taken",
            Refusal::Stale { .. } => "stale",
            Refusal::NoKeyPackage { .. } => "no_key_package",
            Refusal::RateLimited { .. } => "rate_limited",
            Refusal::QuotaExceeded { .. } => "quota_exceeded",
            Refusal::BadRequest { .. } => "bad_request",
            Refusal::VersionMismatch { .. } => "version_mismatch",
            Refusal::Internal => "internal",
            Refusal::StorageFull => "storage_full",
            Refusal::UnknownBlob => "unknown_blob",
            Refusal::DeviceRevoked => "device_revoked",
            Refusal::LinkRefused { .. } => "link_refused",
        }
    }
}
