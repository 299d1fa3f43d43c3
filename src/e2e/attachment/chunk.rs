//! One chunk sealed or opened: ChaCha20-Poly1305 under STREAM (big-endian 32-bit
//! position, last-chunk flag), with the file's own key and an all-zero nonce prefix.
//! The key is never used for another file, so the position and the flag alone make
//! every nonce unique, as in age.

use chacha20poly1305::aead::stream::{NewStream, StreamBE32, StreamPrimitive};
use chacha20poly1305::aead::Buffer;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};

use super::{FileKey, TAG_SIZE};

/// Seals and opens the chunks of one file.
pub(super) struct ChunkCipher(StreamBE32<ChaCha20Poly1305>);

impl ChunkCipher {
    /// The cipher of the file sealed under `key`.
    pub(super) fn new(key: &FileKey) -> Self {
        let aead = ChaCha20Poly1305::new(key.as_bytes().into());
        ChunkCipher(StreamBE32::from_aead(aead, &Default::default()))
    }

    /// Seals chunk `index` (the last one of its file if `last`) in place: `region`
    /// holds its plaintext then [`TAG_SIZE`] bytes of room, and ends up holding it
    /// sealed (the ciphertext, then the tag). `None` if `index` is past what STREAM
    /// can number, or `region` is shorter than a tag.
    pub(super) fn seal(&self, index: u32, last: bool, region: &mut [u8]) -> Option<()> {
        let len = region.len().checked_sub(TAG_SIZE)?;
        self.0
            .encrypt_in_place(index, last, &[], &mut Region { buf: region, len })
            .ok()
    }

    /// Opens `region`, a sealed chunk, in place as chunk `index` (the last one if
    /// `last`): its first bytes (all but the tag's) end up holding the plaintext, or
    /// `None` if it is not that chunk of this file (and then nothing was decrypted: the
    /// tag is checked first).
    pub(super) fn open(&self, index: u32, last: bool, region: &mut [u8]) -> Option<()> {
        let len = region.len();
        self.0
            .decrypt_in_place(index, last, &[], &mut Region { buf: region, len })
            .ok()
    }
}

/// A chunk's place inside a larger buffer, as the AEAD's in-place buffer: its first
/// `len` bytes are the message, the rest room for the tag. Several chunks are so
/// sealed or opened one after the other in one buffer, none of them copied.
struct Region<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl AsRef<[u8]> for Region<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl AsMut<[u8]> for Region<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
}

impl Buffer for Region<'_> {
    fn extend_from_slice(&mut self, other: &[u8]) -> chacha20poly1305::aead::Result<()> {
        let end = self
            .len
            .checked_add(other.len())
            .filter(|&end| end <= self.buf.len())
            .ok_or(chacha20poly1305::aead::Error)?;
        self.buf[self.len..end].copy_from_slice(other);
        self.len = end;
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}
