//! MLS group settings and the small conversions around openmls types.

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;

/// X25519 + ChaCha20-Poly1305 + SHA-256 + Ed25519: constant-time in pure Rust, no AES
/// hardware needed.
pub const CIPHERSUITE: Ciphersuite =
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;

/// How many past epochs keep their message secrets: an application message sent just
/// before a commit is ordered after it by the server and still decrypts.
pub const MAX_PAST_EPOCHS: usize = 8;

/// One-use key packages kept on the server; topped up when fewer than [`KEY_PACKAGES_LOW`].
pub(crate) const KEY_PACKAGES_TARGET: usize = 10;
/// See [`KEY_PACKAGES_TARGET`].
pub(crate) const KEY_PACKAGES_LOW: u64 = 4;
/// How often the last-resort key package is replaced (it is handed out to everyone
/// once the one-use ones are gone, so its key must not live for long).
pub(crate) const LAST_RESORT_ROTATION: std::time::Duration =
    std::time::Duration::from_secs(7 * 24 * 3600);

fn sender_ratchet() -> SenderRatchetConfiguration {
    // Tolerates 100 messages out of order and gaps of up to 10,000 dropped ones.
    SenderRatchetConfiguration::new(100, 10_000)
}

/// What this client's leaves support: the defaults, plus the last-resort key-package
/// extension (a key package carrying an extension its leaf does not list is invalid).
pub fn capabilities() -> Capabilities {
    Capabilities::new(None, None, Some(&[ExtensionType::LastResort]), None, None)
}

/// How rooms are created: application messages as MLS ciphertext, group changes
/// (commits, proposals) as signed PublicMessages the server verifies against the
/// group's public state (RFC 9420's delivery service), the ratchet tree inside the
/// Welcome.
pub fn create_config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(CIPHERSUITE)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .sender_ratchet_configuration(sender_ratchet())
        .build()
}

/// How rooms are joined from a Welcome: the policy of [`create_config`] for a room
/// whose group the server tracks (`tracked`); for a room created before the server
/// tracked groups, every message as ciphertext, as its members send and expect them.
pub fn join_config(tracked: bool) -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(if tracked {
            MIXED_PLAINTEXT_WIRE_FORMAT_POLICY
        } else {
            PURE_CIPHERTEXT_WIRE_FORMAT_POLICY
        })
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .sender_ratchet_configuration(sender_ratchet())
        .build()
}

/// The group id of a room: `room NUL random`. The room's name is bound into every
/// message of the group (the group id is part of the group context), so a Welcome
/// presented for another room is refused.
pub fn group_id(room: &str, random: &[u8; 16]) -> GroupId {
    let mut id = room.as_bytes().to_vec();
    id.push(0);
    id.extend_from_slice(random);
    GroupId::from_slice(&id)
}

/// The room a group id names (see [`group_id`]).
pub(crate) fn room_of(id: &GroupId) -> Option<&str> {
    let bytes = id.as_slice();
    let nul = bytes.iter().position(|b| *b == 0)?;
    std::str::from_utf8(&bytes[..nul]).ok()
}

/// The user name in a basic credential.
pub fn identity(credential: &Credential) -> Option<String> {
    let basic = BasicCredential::try_from(credential.clone()).ok()?;
    String::from_utf8(basic.identity().to_vec()).ok()
}

/// The user name in a member's credential, checked like any user name
/// ([`crate::proto::check_name`]): a credential that is not a valid name (not UTF-8,
/// control or invisible characters...) is refused, so no member can hide from a roster
/// or smuggle control characters into a screen or a C string.
pub(crate) fn member_name(credential: &Credential) -> Result<String, String> {
    let name = identity(credential).ok_or("a member's credential is not a user name")?;
    crate::proto::check_name(&name).map_err(|why| format!("a member's name {name:?}: {why}"))?;
    Ok(name)
}

/// The members of a group: (name, public signature key), in leaf order. Every member
/// is listed; groups whose roster holds an invalid name are refused when they are
/// joined or changed (`checked_roster`), so none is in the state.
pub fn roster(group: &MlsGroup) -> Vec<(String, Vec<u8>)> {
    group
        .members()
        .map(|m| {
            let name = member_name(&m.credential)
                .unwrap_or_else(|_| format!("(invalid name, leaf {})", m.index.u32()));
            (name, m.signature_key.clone())
        })
        .collect()
}

/// The members of a group, or why the roster is unacceptable (a member whose name is
/// not valid).
pub(crate) fn checked_roster(group: &MlsGroup) -> Result<Vec<(String, Vec<u8>)>, String> {
    group
        .members()
        .map(|m| Ok((member_name(&m.credential)?, m.signature_key.clone())))
        .collect()
}

/// The SHA-256 of a group context: what the server records for each epoch of a room's
/// group, and what an invitee compares its Welcome's group with.
pub(crate) fn context_hash(context: &GroupContext) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::digest(context.tls_serialize_detached().unwrap_or_default()).to_vec()
}

/// Serializes an outgoing MLS message.
pub fn to_bytes(message: &MlsMessageOut) -> Result<Vec<u8>, String> {
    message.tls_serialize_detached().map_err(|e| e.to_string())
}

/// Parses an incoming MLS message.
pub fn from_bytes(bytes: &[u8]) -> Result<MlsMessageIn, String> {
    MlsMessageIn::tls_deserialize_exact(bytes).map_err(|e| e.to_string())
}
