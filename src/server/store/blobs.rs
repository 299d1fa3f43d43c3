//! Blobs in the store: the sealed chunks of files sent in rooms, kept beside the
//! messages (in `smc.db` on one node, in PostgreSQL for a cluster, so that every node
//! serves every blob, and a backup holds them with the rest). The store never looks
//! inside a chunk: it checks only lengths, order, ownership and membership.

use crate::error::StoreError;
use crate::proto::{blob_batch_len, blob_chunk_len, BlobId, BLOB_BATCH, BLOB_CHUNK, BLOB_TAG};

/// A blob whose upload begins.
#[derive(Debug, Clone)]
pub struct NewBlob {
    /// Its id (random, drawn by the server).
    pub id: BlobId,
    /// The room whose members may fetch it.
    pub room: String,
    /// The uploader (a member of the room).
    pub owner: String,
    /// The file's plaintext size, bytes.
    pub size: u64,
    /// Its chunks ([`crate::proto::blob_chunks`] of `size`).
    pub chunks: u32,
    /// The bytes its sealed chunks take ([`crate::proto::sealed_size`] of `size`).
    pub sealed: u64,
    /// Server time, ms since the Unix epoch.
    pub now_ms: i64,
    /// The sealed bytes the owner may hold in blobs in all, this one included.
    pub quota: u64,
}

/// Outcome of beginning an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Began {
    /// Recorded: its chunks may come.
    Started,
    /// The owner is not a member of the room (nothing recorded).
    NotAMember,
    /// The owner's blobs would pass their quota (nothing recorded).
    OverQuota,
}

/// Outcome of storing a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The server holds this many chunks of the blob, from the first (the chunk given
    /// was stored, or was held already).
    Held(u32),
    /// The chunk is past the next one expected (`held`): nothing stored.
    Ahead {
        /// The chunks held.
        held: u32,
    },
    /// The chunk's length is not its share of the blob's size plus the tag, or its
    /// index is past the blob's last chunk: nothing stored.
    WrongLength {
        /// The length a chunk at that place has (0 past the last chunk).
        expected: usize,
    },
    /// No such blob being uploaded by this owner.
    Unknown,
}

/// What blob retention deletes.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Blobs created before this instant (ms since the Unix epoch).
    pub created_before_ms: i64,
    /// Incomplete blobs whose upload began before this instant.
    pub abandoned_before_ms: i64,
}

/// The chunks of a [`BlobStore::put_chunks`] to store: from `from` up to `end`
/// (excluded), beginning `skip` bytes into the bytes given (those before `from` are
/// held already).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ToStore {
    pub(crate) from: u32,
    pub(crate) end: u32,
    pub(crate) skip: usize,
}

/// What to store of `len` bytes of chunks, consecutive from `index`, of a blob of
/// `size` bytes in `chunks` chunks of which `held` are stored: the chunks from the
/// next one on, or the answer when there is nothing to store. `len` must be exactly
/// the sealed length of 1 to [`BLOB_BATCH`] chunks from `index`, none past the last.
/// The same for every backend.
pub(crate) fn chunks_to_store(
    size: u64,
    chunks: u32,
    held: u32,
    index: u32,
    len: usize,
) -> Result<ToStore, Put> {
    let count = (1..=BLOB_BATCH)
        .take_while(|&n| index.checked_add(n).is_some_and(|end| end <= chunks))
        .find(|&n| blob_batch_len(size, index, n) == Some(len));
    let Some(count) = count else {
        return Err(Put::WrongLength {
            expected: blob_chunk_len(size, index)
                .filter(|_| index < chunks)
                .map_or(0, |plain| plain + BLOB_TAG),
        });
    };
    let end = index + count;
    if end <= held {
        return Err(Put::Held(held));
    }
    if index > held {
        return Err(Put::Ahead { held });
    }
    // The chunks before `held` are not the blob's last: each is a whole sealed chunk.
    Ok(ToStore {
        from: held,
        end,
        skip: (held - index) as usize * (BLOB_CHUNK + BLOB_TAG),
    })
}

/// The blobs of a store (a part of [`crate::server::store::Store`]).
pub trait BlobStore {
    /// Records a blob whose upload begins, if its owner is a member of its room and the
    /// sealed bytes of every blob the owner holds (complete or not), this one
    /// included, stay within `blob.quota`: checked in the transaction that records it.
    fn begin_blob(&self, blob: &NewBlob) -> Result<Began, StoreError>;
    /// Stores `bytes`, 1 to [`BLOB_BATCH`] sealed chunks of `owner`'s blob `id` one
    /// after the other from chunk `index` on, from the next one the store does not
    /// hold ([`chunks_to_store`]); the blob is complete once its last chunk is stored.
    fn put_chunks(
        &self,
        id: &BlobId,
        owner: &str,
        index: u32,
        bytes: &[u8],
    ) -> Result<Put, StoreError>;
    /// How many chunks of `owner`'s blob `id` are stored (`None`: no such blob of
    /// theirs).
    fn blob_held(&self, id: &BlobId, owner: &str) -> Result<Option<u32>, StoreError>;
    /// `count` chunks (1 to [`BLOB_BATCH`]) of blob `id` from chunk `index` on, one
    /// after the other, for `reader`: only when the blob is complete, has those chunks,
    /// and `reader` is a member of its room now (`None` otherwise, whichever it is).
    fn fetch_chunks(
        &self,
        id: &BlobId,
        index: u32,
        count: u32,
        reader: &str,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Deletes, with their chunks, the blobs past `retention` and those of rooms that
    /// have no member left: how many.
    fn collect_blobs(&self, retention: &Retention) -> Result<u64, StoreError>;
    /// The sealed bytes of `owner`'s blobs (their quota's count).
    fn blob_usage(&self, owner: &str) -> Result<u64, StoreError>;
}
