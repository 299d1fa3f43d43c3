//! A person's devices in the store: the devices linked to a user besides their first
//! (whose transport key is the user's own key), each with the certificate their
//! identity key signed, and the identity key itself, recorded the first time the
//! first device links another. A linked device connects as its user with its own
//! transport key until it is revoked; a revoked device's key is refused for good.

use crate::error::StoreError;
use crate::identity::device::DeviceId;

/// A linked device as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// Its id.
    pub id: DeviceId,
    /// Its name.
    pub name: String,
    /// The transport key it connects with.
    pub transport_key: Vec<u8>,
    /// Its certificate ([`crate::identity::device::DeviceCertificate::to_bytes`]).
    pub certificate: Vec<u8>,
    /// When it was linked (server time, ms since the Unix epoch).
    pub linked_ms: i64,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<i64>,
}

/// Outcome of linking a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceAdded {
    /// Recorded.
    Added,
    /// The user has as many devices as they may (their first included): nothing
    /// recorded.
    TooMany,
    /// The certificate is signed by another identity key than the one recorded for
    /// the user: nothing recorded.
    OtherIdentity,
    /// The transport key is already some user's or some device's: nothing recorded.
    KeyInUse,
    /// No such user.
    UnknownUser,
}

/// How a transport key stands for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStanding {
    /// The user's own key: their first device.
    First,
    /// A linked device of theirs.
    Linked(DeviceId),
    /// A device of theirs that was revoked.
    Revoked(DeviceId),
    /// Not a key of theirs.
    Stranger,
}

/// The store's part for linked devices.
pub trait DeviceStore {
    /// The identity key recorded for `user` (none until their first device links
    /// another).
    fn identity_key(&self, user: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Links `device` to `user`, vouched for by `identity_key`: recorded as the user's
    /// identity key when none is yet, refused when another is. At most `max` devices
    /// per user, counting their first and not the revoked ones.
    fn add_device(
        &self,
        user: &str,
        identity_key: &[u8],
        device: &DeviceRow,
        max: usize,
    ) -> Result<DeviceAdded, StoreError>;
    /// `user`'s linked devices, revoked ones included, in the order they were linked.
    fn devices(&self, user: &str) -> Result<Vec<DeviceRow>, StoreError>;
    /// Revokes `user`'s device `id` at `now_ms`; `false` if there is no such device
    /// or it was revoked already.
    fn revoke_device(&self, user: &str, id: &DeviceId, now_ms: i64) -> Result<bool, StoreError>;
    /// How `key` stands for `user`.
    fn device_standing(&self, user: &str, key: &[u8]) -> Result<DeviceStanding, StoreError>;
}
