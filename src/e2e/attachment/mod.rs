//! Files sent in rooms, end-to-end encrypted: a file sealed chunk by chunk, and a
//! received one opened, checked and put in place.
//!
//! Each file gets a fresh random key ([`FileKey`]). Its content is cut into chunks of
//! [`CHUNK_SIZE`] bytes, each sealed with ChaCha20-Poly1305 under the STREAM
//! construction (Hoang, Reyhanitabar, Rogaway and Vizár, 2015; RustCrypto's
//! `aead::stream`), as age seals its payload: a chunk's nonce is its position and a
//! flag that marks the last chunk. So a chunk changed, moved, repeated or taken from
//! another file (sealed under another key) does not open, and neither does a file cut
//! after any chunk: its last chunk is missing, and no earlier one opens as the last.
//! The MLS message that announces a file carries its key, its size and the SHA-256 of
//! its content; the server stores only the sealed chunks.
//!
//! Neither side holds a file in memory: [`SealedFile`] reads and seals one chunk at a
//! time, any chunk (a transfer cut by a lost connection resumes where the other side
//! stopped), and [`Download`] writes each opened chunk to a private temporary file
//! beside the destination, renamed into place only once every chunk is there and the
//! size and digest match. A download that fails or is dropped leaves nothing behind.

mod chunk;
mod download;
mod upload;

pub(crate) use download::Download;
pub(crate) use upload::SealedFile;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::AttachmentError;

/// The plaintext bytes of every chunk but the last (64 KiB, as age): a sealed chunk
/// (plus its 16-byte tag) fits in one request well under the protocol's limits.
pub(crate) const CHUNK_SIZE: usize = crate::proto::BLOB_CHUNK;

/// The bytes a sealed chunk adds to its plaintext (the Poly1305 tag).
pub(crate) const TAG_SIZE: usize = crate::proto::BLOB_TAG;

/// The largest file the format can carry: 2^32 - 1 chunks (the STREAM counter is 32
/// bits). Servers set a far lower limit.
pub(crate) const MAX_FILE_SIZE: u64 = crate::proto::MAX_BLOB_SIZE;

/// The secret of one file: the ChaCha20-Poly1305 key its chunks are sealed with,
/// fresh from the operating system's random source for every file, wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct FileKey([u8; 32]);

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(..)")
    }
}

impl FileKey {
    /// A fresh random key.
    pub(crate) fn generate() -> Result<Self, AttachmentError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| AttachmentError::Io {
            path: "the system's random source".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(FileKey(key))
    }

    /// A key as carried in the message that announced its file (32 bytes).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(FileKey(bytes.try_into().ok()?))
    }

    /// The key's bytes, for the message that announces its file.
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// How many chunks a file of `size` bytes is sealed in: one at least (an empty file
/// is one empty last chunk), `None` past [`MAX_FILE_SIZE`].
pub(crate) fn chunk_count(size: u64) -> Option<u32> {
    crate::proto::blob_chunks(size)
}

/// The plaintext length of chunk `index` of a file of `size` bytes (`index` below its
/// chunk count, which the callers hold).
fn chunk_len(size: u64, index: u32) -> usize {
    crate::proto::blob_chunk_len(size, index).unwrap_or(0)
}

#[cfg(test)]
mod tests;
