//! Requests, replies and events.

use serde::{Deserialize, Serialize};

use crate::proto::{BlobId, DirectEnvelope, Envelope, Refusal};

/// The longest SPAKE2 message of an offer, and the longest answer or grant relayed
/// between two devices being linked.
pub const MAX_LINK_MESSAGE: usize = 64;
/// See [`MAX_LINK_MESSAGE`].
pub const MAX_LINK_SEALED: usize = 8 * 1024;

/// A request and the id its reply will carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFrame {
    /// Chosen by the client; echoed in the reply.
    pub id: u64,
    /// What is asked.
    pub request: Request,
}

/// What a client can ask. The first request of a connection must be [`Request::Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Identify as `user` (registered to the handshake's key on first use) and get, as
    /// events, every message after the given per-room cursors (rooms not listed: from
    /// when the user joined), then direct deliveries after `direct_after`.
    Hello {
        /// Protocol version ([`crate::proto::VERSION`]).
        version: u16,
        /// The user's name.
        user: String,
        /// Last sequence number seen, per room.
        cursors: Vec<(String, u64)>,
        /// Last direct delivery seen.
        direct_after: u64,
        /// A one-time registration token, for a new name on a server that registers
        /// by invitation only.
        token: Option<String>,
    },
    /// Create a room with the caller as its only member.
    CreateRoom {
        /// Its name.
        room: String,
        /// The signed MLS GroupInfo (with its ratchet tree) of the room's new group:
        /// the server then verifies every group change against the group's public
        /// state. Without it the room is opaque: its changes are only ordered.
        #[serde(with = "serde_bytes")]
        group_info: Option<Vec<u8>>,
    },
    /// Invite a user to a room the caller is a member of: the room is routed to them
    /// only once they accept ([`Request::Accept`]); they see the room's messages from
    /// the moment of the invitation.
    Invite {
        /// The room.
        room: String,
        /// The user.
        user: String,
    },
    /// Withdraw an invitation to a room the caller is a member of (the group change
    /// that went with it failed).
    Uninvite {
        /// The room.
        room: String,
        /// The user.
        user: String,
    },
    /// The caller's pending invitations.
    Invitations,
    /// The hash of the context of a room's group at an epoch, as the server tracks it
    /// (for a member or an invitee: a Welcome must be for the room's real group).
    GroupState {
        /// The room.
        room: String,
        /// The epoch.
        epoch: u64,
    },
    /// Accept the caller's invitation to a room: it is routed to the caller from now
    /// on ([`Reply::Joined`]).
    Accept {
        /// The room.
        room: String,
    },
    /// Decline the caller's invitation to a room; `farewell` (an MLS proposal removing
    /// the caller from the group it was added to) is posted to the room for a member
    /// to commit.
    Decline {
        /// The room.
        room: String,
        /// The caller's self-removal proposal, if it joined the group to make one.
        #[serde(with = "serde_bytes")]
        farewell: Option<Vec<u8>>,
    },
    /// Leave a room.
    Leave {
        /// The room.
        room: String,
    },
    /// The caller's rooms.
    ListRooms,
    /// Members of a room the caller is in.
    Members {
        /// The room.
        room: String,
    },
    /// Store a message in a room and deliver it to the members.
    Send {
        /// The room.
        room: String,
        /// Opaque bytes (at most [`crate::net::MAX_PAYLOAD`]).
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
        /// Marks a group-state change for this epoch: accepted only if it is the first
        /// for its epoch ([`Refusal::Stale`] otherwise).
        commit_epoch: Option<u64>,
    },
    /// Up to `limit` messages of a room before `before` (the latest when `None`), oldest first.
    History {
        /// The room.
        room: String,
        /// Exclusive upper bound on the sequence number.
        before: Option<u64>,
        /// At most this many (capped by the server).
        limit: u32,
    },
    /// Publish one-use key packages and optionally replace the last-resort one.
    PublishKeyPackages {
        /// Each handed out at most once.
        packages: Vec<Vec<u8>>,
        /// Handed out when no one-use package is left; never consumed.
        #[serde(with = "serde_bytes")]
        last_resort: Option<Vec<u8>>,
    },
    /// Take one of a user's key packages (one-use first, else the last-resort one).
    FetchKeyPackage {
        /// The user.
        user: String,
    },
    /// How many one-use key packages the caller has left.
    KeyPackageCount,
    /// Queue opaque bytes for one user (delivered at once if connected).
    SendDirect {
        /// The recipient.
        user: String,
        /// Opaque bytes.
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
    /// Forget these direct deliveries of the caller (handled or discarded), and only
    /// these (at most 1,000 ids).
    AckDirect {
        /// Their ids.
        ids: Vec<u64>,
    },
    /// Keep-alive.
    Ping,
    /// Queue the Welcome of the caller's pending invitation of `user` to `room` (as
    /// [`Request::SendDirect`]). It is queued however full `user`'s queue is, one per
    /// invitation (a new one replaces the last): what an invitation needs does not
    /// compete with what others sent. Without such an invitation it is an ordinary
    /// direct delivery.
    SendWelcome {
        /// The room of the invitation.
        room: String,
        /// The invitee.
        user: String,
        /// Opaque bytes (the sealed Welcome).
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
    /// Begin the upload of a sealed file of `size` plaintext bytes to `room`, of which
    /// the caller is a member ([`Reply::Upload`]): within the server's size limit and
    /// the caller's quota of stored file bytes, which the whole sealed size counts
    /// against from now on.
    BeginUpload {
        /// The room whose members may fetch it.
        room: String,
        /// The file's size in bytes (its chunks' lengths follow from it:
        /// [`crate::proto::blob_chunk_len`], plus the tag).
        size: u64,
    },
    /// Store chunk `index` of a blob the caller is uploading ([`Reply::Stored`]). The
    /// chunks go in order; a chunk the server holds already is answered without being
    /// stored again (an upload resumed after a lost answer), and the blob is complete,
    /// and can be fetched, once its last chunk is stored.
    PutChunk {
        /// The blob.
        blob: BlobId,
        /// The chunk's position.
        index: u32,
        /// The sealed chunk: exactly its plaintext length plus [`crate::proto::BLOB_TAG`].
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// How many chunks of a blob the caller is uploading the server holds
    /// ([`Reply::Stored`]): where a resumed upload goes on.
    UploadState {
        /// The blob.
        blob: BlobId,
    },
    /// One chunk of a complete blob posted to a room the caller is a member of
    /// ([`Reply::Chunk`]).
    FetchChunk {
        /// The blob.
        blob: BlobId,
        /// The chunk's position.
        index: u32,
    },
    /// [`Request::PutChunk`] for up to [`crate::proto::BLOB_BATCH`] consecutive chunks
    /// at once, from chunk `index` on ([`Reply::Stored`]): what clients send. Chunks
    /// the server holds already are skipped, the others stored in order.
    PutChunks {
        /// The blob.
        blob: BlobId,
        /// The first chunk's position.
        index: u32,
        /// The sealed chunks, one after the other: exactly
        /// [`crate::proto::blob_batch_len`] bytes for some count of chunks.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// [`Request::FetchChunk`] for `count` consecutive chunks (at most
    /// [`crate::proto::BLOB_BATCH`], none past the last) from chunk `index` on
    /// ([`Reply::Chunk`]: the sealed chunks one after the other).
    FetchChunks {
        /// The blob.
        blob: BlobId,
        /// The first chunk's position.
        index: u32,
        /// How many chunks.
        count: u32,
    },
    /// The first request of a device being linked, instead of Hello: the offer that
    /// `user`'s first device made at `slot` ([`Reply::LinkOffer`]). The connection then
    /// sends [`Request::LinkAnswer`], gets [`Reply::LinkGrant`] and ends.
    LinkJoin {
        /// Protocol version ([`crate::proto::VERSION`]).
        version: u16,
        /// The user whose device offers.
        user: String,
        /// The code's slot.
        slot: String,
    },
    /// The new device's answer to the offer (at most [`MAX_LINK_SEALED`] bytes),
    /// relayed to the offering device ([`Event::LinkAnswered`]).
    LinkAnswer {
        /// The answer (a SPAKE2 message and what is sealed with its key).
        #[serde(with = "serde_bytes")]
        answer: Vec<u8>,
    },
    /// From a user's first device: offer to link a device at `slot` for `lifetime_s`
    /// seconds (at most 600), replacing its earlier offer.
    OfferLink {
        /// The code's slot.
        slot: String,
        /// Its SPAKE2 message (at most [`MAX_LINK_MESSAGE`] bytes).
        #[serde(with = "serde_bytes")]
        message: Vec<u8>,
        /// How long the offer stands, seconds.
        lifetime_s: u32,
    },
    /// From a user's first device: the certificate of the device that answered at
    /// `slot` (checked, and recorded with the identity key that signs it), and the
    /// grant sealed for that device, relayed to it.
    GrantLink {
        /// The code's slot.
        slot: String,
        /// The certificate ([`crate::identity::device::DeviceCertificate::to_bytes`]).
        #[serde(with = "serde_bytes")]
        certificate: Vec<u8>,
        /// The grant, sealed for the new device (at most [`MAX_LINK_SEALED`] bytes).
        #[serde(with = "serde_bytes")]
        sealed: Vec<u8>,
    },
    /// The caller's linked devices ([`Reply::Devices`]).
    Devices,
    /// From a user's first device: revoke a linked device. Its connections are closed
    /// and refused from then on.
    RevokeDevice {
        /// The device's id.
        device: [u8; 8],
    },
}

/// The answer to a successful request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Hello accepted.
    Welcome {
        /// The user, now bound to this connection.
        user: String,
        /// Whether this connection registered the name.
        registered: bool,
    },
    /// Done, nothing to return.
    Done,
    /// Names (rooms or members).
    Names(Vec<String>),
    /// The message is stored durably.
    Sent {
        /// Its server-wide id.
        id: u64,
        /// Its place in the room.
        seq: u64,
        /// The server's timestamp (ms since the Unix epoch).
        timestamp_ms: i64,
    },
    /// Messages, oldest first.
    Messages(Vec<Envelope>),
    /// One key package.
    KeyPackage(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A count.
    Count(u64),
    /// A direct delivery is queued.
    Queued {
        /// Its id in the recipient's queue.
        id: u64,
    },
    /// Answer to [`Request::Ping`].
    Pong,
    /// Pending invitations.
    Invitations(Vec<Invitation>),
    /// The SHA-256 of a group context (`None`: the room's group is not tracked, or the
    /// epoch is unknown).
    GroupState(#[serde(with = "serde_bytes")] Option<Vec<u8>>),
    /// An invitation was accepted: the room's messages after `after` are the caller's.
    Joined {
        /// The room's last sequence number when the caller was invited.
        after: u64,
    },
    /// The answer to [`Request::Invite`] when the user is not a member yet: the
    /// invitation is pending.
    Invitation {
        /// Whether a Welcome was queued for it ([`Request::SendWelcome`]): if not, the
        /// inviter has one to send (a new invitation, or one whose Welcome never got
        /// through).
        welcome_sent: bool,
    },
    /// An upload began ([`Request::BeginUpload`]).
    Upload {
        /// The blob's id: its chunks go there, and its readers fetch them from there.
        blob: BlobId,
    },
    /// The chunks of a blob the server holds, from the first: the next one to send.
    Stored {
        /// How many.
        held: u32,
    },
    /// A sealed chunk ([`Request::FetchChunk`]), or consecutive ones
    /// ([`Request::FetchChunks`]).
    Chunk(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The offer's SPAKE2 message ([`Request::LinkJoin`]).
    LinkOffer(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The grant sealed for the new device ([`Request::LinkAnswer`]).
    LinkGrant(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The caller's linked devices, in the order they were linked.
    Devices(Vec<DeviceInfo>),
}

/// A linked device, as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Its id.
    pub id: [u8; 8],
    /// Its certificate (its name, keys and when it was linked, signed by the user's
    /// identity key: check it before trusting any of it).
    #[serde(with = "serde_bytes")]
    pub certificate: Vec<u8>,
    /// When the server recorded it (ms since the Unix epoch).
    pub linked_ms: i64,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<i64>,
}

/// A pending invitation to a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// The room.
    pub room: String,
    /// Who invited.
    pub by: String,
    /// When (ms since the Unix epoch).
    pub timestamp_ms: i64,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerFrame {
    /// The answer to request `id`.
    Reply {
        /// The request's id.
        id: u64,
        /// Its outcome.
        result: Result<Reply, Refusal>,
    },
    /// Something the server pushes.
    Event(Event),
}

/// Pushed by the server without being asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A message in one of the user's rooms (live or from the sync after Hello).
    Message(Envelope),
    /// A direct delivery.
    Direct(DirectEnvelope),
    /// The user was invited to a room (accept or decline it).
    Invited {
        /// The room.
        room: String,
        /// By whom.
        by: String,
    },
    /// The sync that follows Hello is complete; what follows is live.
    SyncDone,
    /// A new device answered this user's offer at `slot` ([`Request::OfferLink`]).
    LinkAnswered {
        /// The slot.
        slot: String,
        /// Its answer.
        #[serde(with = "serde_bytes")]
        answer: Vec<u8>,
    },
}
