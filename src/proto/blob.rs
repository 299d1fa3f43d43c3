//! Blobs: the sealed chunks of a file sent in a room, as the server stores them under
//! an id nobody can guess, and the sizes both sides derive from a file's size.
//!
//! A file of `size` bytes is sealed in [`blob_chunks`]`(size)` chunks: every chunk but
//! the last holds [`BLOB_CHUNK`] bytes of the file, the last the rest (an empty file is
//! one empty chunk), and each sealed chunk is its plaintext plus a [`BLOB_TAG`]-byte
//! tag. The server checks every chunk's length against the size announced when the
//! upload began, so that what it stores for a blob is bounded by that size.

use serde::{Deserialize, Serialize};

/// The plaintext bytes of every chunk of a file but the last (64 KiB, as age).
pub const BLOB_CHUNK: usize = 64 * 1024;

/// The bytes sealing adds to a chunk (the Poly1305 tag).
pub const BLOB_TAG: usize = 16;

/// The largest file the format can carry: 2^32 - 1 chunks (the STREAM counter is 32
/// bits). Servers set a far lower limit.
pub const MAX_BLOB_SIZE: u64 = (u32::MAX as u64) * BLOB_CHUNK as u64;

/// How many chunks a file of `size` bytes is sealed in: one at least (an empty file is
/// one empty last chunk), `None` past [`MAX_BLOB_SIZE`].
pub fn blob_chunks(size: u64) -> Option<u32> {
    if size > MAX_BLOB_SIZE {
        return None;
    }
    u32::try_from(size.div_ceil(BLOB_CHUNK as u64).max(1)).ok()
}

/// The plaintext length of chunk `index` of a file of `size` bytes, `None` for an
/// index past its last chunk (or a size past [`MAX_BLOB_SIZE`]).
pub fn blob_chunk_len(size: u64, index: u32) -> Option<usize> {
    let count = blob_chunks(size)?;
    if index >= count {
        return None;
    }
    if index + 1 < count {
        return Some(BLOB_CHUNK);
    }
    // The last chunk holds the rest: at most BLOB_CHUNK, so it fits a usize.
    Some((size - u64::from(index) * BLOB_CHUNK as u64) as usize)
}

/// The most chunks one request moves ([`crate::proto::Request::PutChunks`],
/// [`crate::proto::Request::FetchChunks`]): 256 KiB of a file, so that each request's
/// fixed costs (its answer, its turn on both sides, the store's look-up) are paid once
/// for four chunks, while a chat message sent beside a transfer waits behind at most
/// this much of it.
pub const BLOB_BATCH: u32 = 4;

/// The sealed bytes of `count` chunks of a file of `size` bytes from chunk `index` on:
/// `None` if `count` is 0 or above [`BLOB_BATCH`], or a chunk past the last is asked.
pub fn blob_batch_len(size: u64, index: u32, count: u32) -> Option<usize> {
    if count == 0 || count > BLOB_BATCH {
        return None;
    }
    (index..index.checked_add(count)?)
        .map(|i| blob_chunk_len(size, i).map(|len| len + BLOB_TAG))
        .sum()
}

/// The bytes the server stores for a file of `size` bytes: every chunk sealed.
pub fn sealed_size(size: u64) -> Option<u64> {
    let chunks = blob_chunks(size)?;
    size.checked_add(u64::from(chunks) * BLOB_TAG as u64)
}

/// The id of a blob: 128 random bits the server draws when an upload begins, so that
/// nobody finds a blob they were not told of.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobId(pub [u8; 16]);

impl BlobId {
    /// A fresh id from the operating system's random source (`None` if it failed).
    pub fn random() -> Option<Self> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).ok()?;
        Some(BlobId(id))
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_lengths_add_up_to_the_size() {
        for size in [0, 1, 65_535, 65_536, 65_537, 3 * 65_536 + 5] {
            let count = blob_chunks(size).unwrap();
            let total: u64 = (0..count)
                .map(|i| blob_chunk_len(size, i).unwrap() as u64)
                .sum();
            assert_eq!(total, size, "size {size}");
            assert_eq!(blob_chunk_len(size, count), None);
            assert_eq!(
                sealed_size(size).unwrap(),
                size + u64::from(count) * BLOB_TAG as u64
            );
        }
        assert_eq!(blob_chunks(0), Some(1));
        assert_eq!(blob_chunks(MAX_BLOB_SIZE + 1), None);
        assert_eq!(blob_chunk_len(u64::MAX, 0), None);
    }

    #[test]
    fn ids_are_random_and_print_as_hex() {
        let (a, b) = (BlobId::random().unwrap(), BlobId::random().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.to_string().len(), 32);
    }
}
