//! The server's durable store, behind the [`Store`] trait so that other backends can
//! follow the embedded default, [`SqliteStore`].
//!
//! Every method is blocking; the server calls them off its async threads
//! (`spawn_blocking`). Payloads are opaque bytes: the store never looks inside.

mod append;
mod backup;
mod blobs;
mod devices;
mod postgres;
mod rules;
mod schema;
mod sqlite;

pub use backup::{backup, restore, Copied, FENCE_PER_MS};
pub use blobs::{Began, BlobStore, NewBlob, Put, Retention};
pub use devices::{DeviceAdded, DeviceRow, DeviceStanding, DeviceStore};
pub use postgres::PostgresStore;
pub use sqlite::{check, SqliteStore};

use crate::error::StoreError;
use crate::proto::{DirectEnvelope, Envelope, Invitation, Refusal};

/// When an acknowledged write is safe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// On disk (fsync) before the write is acknowledged: survives a power loss.
    #[default]
    Full,
    /// In the operating system before the write is acknowledged: survives a crash of
    /// the server, not of the machine; saves one fsync per commit.
    Normal,
}

/// Who may register a new name on a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegistrationPolicy {
    /// Anyone (trust on first use): the default, for a local or private server.
    #[default]
    Open,
    /// Only with a one-time token issued by the operator (`smc admin issue-token`).
    Token,
    /// Nobody new; the registered users go on.
    Closed,
}

/// Outcome of binding a name to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// The name was free and is now bound to the key.
    Registered,
    /// The name had been released by the operator and is now bound to the key: what
    /// the previous holder had (rooms, invitations, queues) is gone.
    Reclaimed,
    /// The policy refuses a new name (why).
    Refused(&'static str),
    /// The name was already bound to this key, or the key is a device linked to it.
    Known,
    /// The key is a device of the user's that was revoked: refused.
    Revoked,
    /// The name is bound to another key.
    Taken,
    /// The name is free but looks like a registered one (same confusable skeleton,
    /// `proto::skeleton`): refused.
    Lookalike,
    /// The address registered as many new names as it may in the last hour
    /// ([`Newcomer::per_hour`]): refused, nothing recorded.
    TooManyFromAddress,
}

/// Where a new name comes from, and how many new names one address may register per
/// hour: counted in the store (every node of a cluster shares the count), in the
/// registering transaction. A name registered with a one-time token is not counted
/// (the operator vouched for it).
#[derive(Debug, Clone)]
pub struct Newcomer {
    /// The address, as counted (`server::admission`: an IPv6 /64 is one).
    pub address: String,
    /// New names per address per hour (0: no limit).
    pub per_hour: u32,
    /// Now, ms since the Unix epoch.
    pub now_ms: i64,
}

impl Newcomer {
    /// Registrations from before this instant no longer count.
    pub(crate) fn window_start(&self) -> i64 {
        self.now_ms.saturating_sub(3_600_000)
    }
}

/// How many invitations one user may have pending, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct InvitationQuota {
    /// Pending invitations in all.
    pub max_pending: usize,
    /// Pending invitations from one inviter who shares no room with the invitee (a
    /// stranger; one who does is bounded by `max_pending` only).
    pub per_stranger: usize,
    /// Invitations from inviters who share no room with the invitee, at most (a share
    /// of `max_pending`): strangers cannot take the places of people the invitee knows.
    pub from_strangers: usize,
    /// Invitations made before this instant (ms) have expired: they are not counted,
    /// and are deleted.
    pub expired_before_ms: i64,
}

/// Outcome of an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invited {
    /// Recorded (or pending already); whether a Welcome was queued for it.
    Pending {
        /// A Welcome was queued for it ([`Store::push_direct`]'s `welcome_for`).
        welcome_sent: bool,
    },
    /// The user is a member already.
    AlreadyMember,
    /// The user has too many pending invitations (in all, from this inviter, or from
    /// strangers).
    TooMany,
    /// The user has a pending invitation to the room from someone else (who).
    ByOther(String),
}

/// A registered user, as `smc admin users` lists them.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// The name.
    pub name: String,
    /// When it was registered (ms since the Unix epoch).
    pub created_ms: i64,
    /// The Noise static key it is bound to.
    pub key: Vec<u8>,
    /// Whether the operator released it.
    pub released: bool,
}

/// Outcome of creating a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Creation {
    /// Created, with its creator as its only member.
    Created,
    /// A room of that name exists.
    Exists,
    /// The creator has created too many rooms.
    TooMany,
    /// The group it came with is not acceptable (why).
    BadGroup(Refusal),
    /// The name looks like an existing room's (same confusable skeleton): refused.
    Lookalike,
}

/// A key package as stored: its bytes and when it expires (checked by the server when
/// it was published).
#[derive(Debug, Clone)]
pub struct KeyPackageRow {
    /// The serialized MLS key package.
    pub bytes: Vec<u8>,
    /// End of its lifetime, ms since the Unix epoch.
    pub not_after_ms: i64,
}

/// How much may wait in one recipient's direct queue.
#[derive(Debug, Clone, Copy)]
pub struct DirectQuota {
    /// Deliveries in all.
    pub count: usize,
    /// Bytes in all.
    pub bytes: usize,
    /// Deliveries from one sender.
    pub per_sender: usize,
}

/// A message appended to a room, and who its group change removed from the room's
/// routing.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The stored message.
    pub envelope: Envelope,
    /// Members removed from the group by it (no longer routed).
    pub unrouted: Vec<String>,
    /// The same sender had already stored these very bytes in this room (a send
    /// repeated after a lost answer): `envelope` is that stored message, nothing new
    /// was stored, and nothing is to be delivered again.
    pub duplicate: bool,
}

/// A message to append to a room.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The room (must exist).
    pub room: String,
    /// The sender.
    pub sender: String,
    /// Opaque bytes.
    pub payload: Vec<u8>,
    /// Group-state change for this epoch, if it is one.
    pub commit_epoch: Option<u64>,
    /// For any other MLS message of the room's group, the epoch its framing names: one
    /// older than the members still keep keys for
    /// ([`crate::e2e::group::MAX_PAST_EPOCHS`]) is refused as [`Refusal::Stale`], since
    /// nobody could read it (its sender encrypts it again in the current epoch).
    pub mls_epoch: Option<u64>,
    /// Server time, ms since the Unix epoch.
    pub timestamp_ms: i64,
    /// Posted by a user who declines an invitation to the room (a farewell proposal),
    /// not by a member: the store requires the invitation instead of the membership.
    pub farewell: bool,
    /// The payload bytes its sender may have stored in all rooms, this one included
    /// (their storage quota; `u64::MAX`: none). Past it the message is refused as
    /// [`Refusal::QuotaExceeded`], except a group-state change or a farewell, which
    /// keep the group working and are stored (and counted) all the same.
    pub max_stored: u64,
}

/// A durable store of users, rooms, members, messages, key packages, direct queues
/// and blobs.
pub trait Store: BlobStore + DeviceStore + Send + Sync + 'static {
    /// Whether the store can take writes now (a write transaction begins, reads, and is
    /// rolled back): what the admin listener's `/healthz` asks.
    fn ping(&self) -> Result<(), StoreError>;
    /// Binds `user` to `key` if the name is free (trust on first use) and `policy`
    /// allows it (`token`: the one-time token presented, used up on success).
    /// A new name without a token counts against its address's hourly allowance
    /// (`from`).
    fn register(
        &self,
        user: &str,
        key: &[u8],
        policy: RegistrationPolicy,
        token: Option<&str>,
        from: &Newcomer,
    ) -> Result<Registration, StoreError>;
    /// Records a new one-time registration token (only its SHA-256 is stored).
    fn issue_token(&self, token: &str, now_ms: i64) -> Result<(), StoreError>;
    /// The registered users: name, registration time (ms), key, released.
    fn users(&self) -> Result<Vec<UserRow>, StoreError>;
    /// Releases `user`'s name: the next key that says Hello with it takes it over,
    /// without the previous holder's rooms. `false` if no such user.
    fn release(&self, user: &str) -> Result<bool, StoreError>;
    /// Whether `user` is registered.
    fn user_exists(&self, user: &str) -> Result<bool, StoreError>;
    /// Creates `room` with `creator` as its only member, unless the name (or a
    /// lookalike of it) is taken.
    /// `group_info`: the signed MLS GroupInfo (with its ratchet tree) of the room's
    /// group, whose public state the server then tracks and checks every group change
    /// against; without it the room is opaque (its group changes are only ordered).
    fn create_room(
        &self,
        room: &str,
        creator: &str,
        now_ms: i64,
        max_per_creator: usize,
        group_info: Option<&[u8]>,
    ) -> Result<Creation, StoreError>;
    /// Whether `room` exists.
    fn room_exists(&self, room: &str) -> Result<bool, StoreError>;
    /// Records `by`'s invitation of `user` to `room` (who will see the messages after
    /// the room's current last one once they accept), within `quota`. Asking again
    /// keeps the invitation as it was: its start point and its age (so it still
    /// expires when the first one would have). `user`'s expired invitations are
    /// deleted on the way.
    fn invite(
        &self,
        room: &str,
        user: &str,
        by: &str,
        now_ms: i64,
        quota: &InvitationQuota,
    ) -> Result<Invited, StoreError>;
    /// Withdraws `user`'s invitation to `room` (only `by`'s, when given: an inviter
    /// withdraws their own; the invitee declines any); `false` if there was none. Its
    /// Welcome, if still queued, goes with it.
    fn uninvite(&self, room: &str, user: &str, by: Option<&str>) -> Result<bool, StoreError>;
    /// Deletes every invitation made before `before_ms`, with its queued Welcome: the
    /// (room, user) of each.
    fn expire_invitations(&self, before_ms: i64) -> Result<Vec<(String, String)>, StoreError>;
    /// `user`'s pending invitations, oldest first.
    fn invitations_of(&self, user: &str) -> Result<Vec<Invitation>, StoreError>;
    /// Turns `user`'s invitation to `room` into membership; the sequence number after
    /// which the room is theirs, or `None` without an invitation.
    fn accept(&self, room: &str, user: &str) -> Result<Option<u64>, StoreError>;
    /// Removes `user` from `room`; `false` if not a member.
    fn remove_member(&self, room: &str, user: &str) -> Result<bool, StoreError>;
    /// Rooms of `user`, by name.
    fn rooms_of(&self, user: &str) -> Result<Vec<String>, StoreError>;
    /// Members of `room`, by name.
    fn members(&self, room: &str) -> Result<Vec<String>, StoreError>;
    /// Every (room, user) membership: the server's in-memory routing table at start.
    fn memberships(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// The (room, user) memberships of `users`: a node checks its routing of the users
    /// it serves against them (a membership event lost on the bus).
    fn memberships_of(&self, users: &[String]) -> Result<Vec<(String, String)>, StoreError>;
    /// Whether `user` is a member of `room` now (the authority; a node's routing table
    /// is a cache of it).
    fn is_member(&self, room: &str, user: &str) -> Result<bool, StoreError>;
    /// The newest sequence number of each of `rooms` that exists (0: no message yet).
    fn room_heads(&self, rooms: &[String]) -> Result<Vec<(String, u64)>, StoreError>;
    /// The last sequence number of `room` when `user` joined (None if not a member).
    fn joined_seq(&self, room: &str, user: &str) -> Result<Option<u64>, StoreError>;
    /// Appends messages in one transaction, committed durably before returning. Each
    /// gets the next sequence number of its room, or a refusal (a stale group-state
    /// change; a sender who is not a member, or for a farewell not invited) that
    /// stores nothing for it.
    fn append(&self, batch: &[NewMessage]) -> Result<Vec<Result<Appended, Refusal>>, StoreError>;
    /// The hash of the context of `room`'s tracked group at `epoch` (`None` for an
    /// opaque room or an unknown epoch).
    fn group_context_hash(&self, room: &str, epoch: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// Whether `user` has a pending invitation to `room`.
    fn is_invited(&self, room: &str, user: &str) -> Result<bool, StoreError>;
    /// Up to `limit` messages of `room` with a sequence number above `after`, in order,
    /// and no more than fit in `max_bytes` of payload (always the first one): a page,
    /// read no further than it holds.
    fn messages_after(
        &self,
        room: &str,
        after: u64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Envelope>, StoreError>;
    /// Up to `limit` messages of `room` before `before` (or the latest), oldest first:
    /// the newest ones that fit in `max_bytes` of payload (always the newest one).
    fn history(
        &self,
        room: &str,
        before: Option<u64>,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<Envelope>, StoreError>;
    /// Adds one-use key packages for `user` and replaces the last-resort one when given,
    /// if `user` then holds at most `max_one_use` unexpired one-use packages at
    /// `now_ms` (counted in the same transaction: concurrent sessions or nodes cannot
    /// go past it); false, with nothing stored, otherwise.
    fn publish_key_packages(
        &self,
        user: &str,
        packages: &[KeyPackageRow],
        last_resort: Option<&KeyPackageRow>,
        max_one_use: u64,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Takes one of `user`'s unexpired one-use key packages (removed atomically, so each
    /// is handed out exactly once) when `one_use` is allowed, or else a copy of the
    /// last-resort one (if unexpired). Expired packages are deleted on the way.
    fn take_key_package(
        &self,
        user: &str,
        one_use: bool,
        now_ms: i64,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Unexpired one-use key packages `user` has left.
    fn key_package_count(&self, user: &str, now_ms: i64) -> Result<u64, StoreError>;
    /// Queues `payload` for `recipient`, durably, unless that would pass `quota`
    /// (`None`: nothing queued).
    ///
    /// `welcome_for`: the payload is the Welcome of `sender`'s pending invitation of
    /// `recipient` to that room. If there is such an invitation, the Welcome is queued
    /// whatever the quota (one per invitation: it replaces the invitation's previous
    /// one), so that what an invitation needs never competes with what others sent;
    /// without one it is an ordinary delivery.
    fn push_direct(
        &self,
        recipient: &str,
        sender: &str,
        payload: &[u8],
        now_ms: i64,
        quota: &DirectQuota,
        welcome_for: Option<&str>,
    ) -> Result<Option<DirectEnvelope>, StoreError>;
    /// The newest queued delivery's id of each of `users` that has one.
    fn direct_heads(&self, users: &[String]) -> Result<Vec<(String, u64)>, StoreError>;
    /// Up to `limit` queued deliveries for `user` with an id above `after`, in order,
    /// and no more than fit in `max_bytes` of payload (always the first one).
    fn directs_after(
        &self,
        user: &str,
        after: u64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<DirectEnvelope>, StoreError>;
    /// Deletes `user`'s deliveries with these ids (and only those).
    fn ack_directs(&self, user: &str, ids: &[u64]) -> Result<(), StoreError>;
}
