//! End-to-end encryption: every room is an MLS group (RFC 9420, through `openmls`).
//!
//! The server only relays and stores MLS ciphertext; it cannot read a message, add a
//! member (it cannot sign a commit) or replay one (each message key is used once).
//! This module holds the pieces the [`crate::client::Client`] assembles:
//!
//! - [`provider`]: the openmls provider (RustCrypto primitives + SQLite storage on the
//!   client's state database),
//! - `vault`: opening that database, encrypted at rest (SQLCipher, key from Argon2id),
//! - [`group`]: group configuration and (de)serialisation of MLS messages,
//! - [`sealed`]: what is inside an application message (room, sender, counter, text),
//! - [`safety`]: safety numbers two people compare out of band,
//! - `attachment`: files, sealed in chunks under a key of their own (ChaCha20-Poly1305
//!   under STREAM), whose key and digest travel in an MLS message.
//!
//! Nothing here invents cryptography: MLS, SQLCipher, Argon2id, SHA-512 and
//! ChaCha20-Poly1305 do the work.

pub(crate) mod attachment;
pub mod group;
pub mod policy;
pub mod provider;
pub mod safety;
pub mod sealed;
pub mod storage_codec;
pub(crate) mod vault;

pub use safety::safety_number;
