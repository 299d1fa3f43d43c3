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

    /// Seals `plaintext` as chunk `index`, the last one of its file if `last`.
    pub(super) fn seal(&self, index: u32, last: bool, plaintext: &[u8]) -> Option<Vec<u8>> {
        let mut sealed = Vec::with_capacity(plaintext.len() + TAG_SIZE);
        sealed.extend_from_slice(plaintext);
        self.0
            .encrypt_in_place(index, last, &[], &mut sealed)
            .ok()?;
        Some(sealed)
    }

    /// Opens `sealed` as chunk `index` (the last one if `last`): `None` if it is not
    /// that chunk of this file.
    pub(super) fn open(&self, index: u32, last: bool, sealed: &[u8]) -> Option<Vec<u8>> {
        let mut plain = sealed.to_vec();
        self.0.decrypt_in_place(index, last, &[], &mut plain).ok()?;
        Some(plain)
    }
}
