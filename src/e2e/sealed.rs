//! What travels inside MLS: the plaintext of an application message, bound to its
//! context, and the box that carries a Welcome through the invitee's queue.

use serde::{Deserialize, Serialize};

/// The plaintext of an application message. The room and sender are repeated inside
/// the encryption and checked on receipt, so that a server cannot present a message as
/// said elsewhere or by someone else; the counter (per sender and room) reveals dropped
/// messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sealed {
    /// Version 1.
    V1 {
        /// The room it was written for.
        room: String,
        /// Who wrote it.
        sender: String,
        /// 1, 2, 3... per sender and room.
        counter: u64,
        /// The text.
        text: String,
    },
    /// The word that `sender` joined the room (accepted their invitation): their first
    /// message there, which the other members take as their acceptance.
    Joined {
        /// The room it was written for.
        room: String,
        /// Who joined.
        sender: String,
        /// 1, 2, 3... per sender and room (shared with their texts).
        counter: u64,
    },
    /// A file: where its sealed chunks are on the server and what opens them.
    File {
        /// The room it was written for.
        room: String,
        /// Who sent it.
        sender: String,
        /// 1, 2, 3... per sender and room (shared with their texts).
        counter: u64,
        /// The file.
        file: FileRef,
    },
}

/// What a room's members need to fetch, open and check a file, and nobody else sees:
/// it travels only inside MLS. The server knows the blob and its size, nothing more.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, zeroize::ZeroizeOnDrop)]
pub struct FileRef {
    /// The blob's id on the server.
    #[zeroize(skip)]
    pub blob: [u8; 16],
    /// The file's key ([`crate::e2e::attachment`]), wiped on drop.
    pub key: [u8; 32],
    /// The file's size, bytes.
    #[zeroize(skip)]
    pub size: u64,
    /// The SHA-256 of its content.
    #[zeroize(skip)]
    pub sha256: [u8; 32],
    /// Its name, as the sender gave it (a receiver sanitises it before saving under it).
    #[zeroize(skip)]
    pub name: String,
    /// Its media type, as the sender gave it (`application/octet-stream` if unknown).
    #[zeroize(skip)]
    pub mime: String,
}

impl std::fmt::Debug for FileRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRef")
            .field("name", &self.name)
            .field("size", &self.size)
            .field("mime", &self.mime)
            .finish_non_exhaustive()
    }
}

/// An MLS Welcome addressed to an invitee, with the room it is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WelcomeBox {
    /// The room (also bound inside the group id, see [`crate::e2e::group::group_id`]).
    pub room: String,
    /// The serialized MLS Welcome message.
    pub welcome: Vec<u8>,
}

impl Sealed {
    /// Encodes for encryption.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes a decrypted plaintext (`None` if it is not one).
    pub fn decode(bytes: &[u8]) -> Option<Sealed> {
        postcard::from_bytes(bytes).ok()
    }
}

impl WelcomeBox {
    /// Encodes for the direct queue.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes a direct delivery (`None` if it is not one).
    pub fn decode(bytes: &[u8]) -> Option<WelcomeBox> {
        postcard::from_bytes(bytes).ok()
    }
}
