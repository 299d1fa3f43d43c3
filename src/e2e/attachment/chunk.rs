//! One chunk sealed or opened: ChaCha20-Poly1305 under STREAM (big-endian 32-bit
//! position, last-chunk flag), with the file's own key and an all-zero nonce prefix.
//! The key is never used for another file, so the position and the flag alone make
//! every nonce unique, as in age.

use chacha20poly1305::aead::stream::{NewStream, StreamBE32, StreamPrimitive};
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

    /// Seals chunk `index` (the last one of its file if `last`) in place: `buf` holds
    /// its plaintext and ends up holding it sealed (the ciphertext, then the tag).
    /// `None` if `index` is past what STREAM can number.
    pub(super) fn seal(&self, index: u32, last: bool, buf: &mut Vec<u8>) -> Option<()> {
        buf.reserve_exact(TAG_SIZE);
        self.0.encrypt_in_place(index, last, &[], buf).ok()
    }

    /// Opens `buf` in place as chunk `index` (the last one if `last`): `buf` ends up
    /// holding the plaintext, or `None` if it is not that chunk of this file (and then
    /// `buf` is left as it came: the tag is checked before anything is decrypted).
    pub(super) fn open(&self, index: u32, last: bool, buf: &mut Vec<u8>) -> Option<()> {
        self.0.decrypt_in_place(index, last, &[], buf).ok()
    }
}
