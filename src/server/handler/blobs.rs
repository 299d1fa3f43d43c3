//! Requests about files: begin an upload, store a chunk, ask where an upload stands,
//! fetch a chunk. The server sees sealed chunks under a random id and the size of the
//! file, nothing else: the key, the name and the digest travel in the room's MLS
//! message that announces the file.

use super::{bad, blocking, name, now_ms};
use crate::proto::{
    blob_chunks, sealed_size, BlobId, Refusal, Reply, BLOB_BATCH, BLOB_CHUNK, BLOB_TAG,
};
use crate::server::bus::Limit;
use crate::server::rate::limited;
use crate::server::store::{Began, NewBlob, Put};
use crate::server::Shared;

impl Shared {
    /// [`crate::proto::Request::BeginUpload`]: `me`, a member of `room`, begins the
    /// upload of a file of `size` bytes, within the size limit and their quota.
    pub(super) async fn begin_upload(
        &self,
        me: &str,
        room: String,
        size: u64,
    ) -> Result<Reply, Refusal> {
        name(&room)?;
        let max = self.limits.max_file_size;
        let too_large = || Refusal::QuotaExceeded {
            reason: format!("a file is at most {max} bytes on this server ({size} given)"),
        };
        if size > max {
            return Err(too_large());
        }
        let (chunks, sealed) = blob_chunks(size)
            .zip(sealed_size(size))
            .ok_or_else(too_large)?;
        // Counted as one full chunk at least: the quota also bounds how many uploads
        // (rows) one user can hold, however small their files.
        let sealed = sealed.max((BLOB_CHUNK + BLOB_TAG) as u64);
        self.require_member(&room, me, false).await?;
        let id = BlobId::random().ok_or(Refusal::Internal)?;
        let quota = self.limits.max_file_bytes_per_user;
        let blob = NewBlob {
            id,
            room: room.clone(),
            owner: me.to_owned(),
            size,
            chunks,
            sealed,
            now_ms: now_ms(),
            quota,
        };
        match blocking(&self.store, move |s| s.begin_blob(&blob)).await? {
            Began::Started => {
                tracing::debug!(user = me, room, blob = %id, size, "upload began");
                Ok(Reply::Upload { blob: id })
            }
            Began::NotAMember => Err(Refusal::NotAMember { room }),
            Began::OverQuota => Err(Refusal::QuotaExceeded {
                reason: format!(
                    "your files on this server may take {quota} bytes in all; this one \
                     ({sealed} bytes sealed) does not fit"
                ),
            }),
        }
    }

    /// [`crate::proto::Request::PutChunks`] (and [`crate::proto::Request::PutChunk`],
    /// a batch of one): the chunks of `me`'s upload `blob` from `index` on, in order,
    /// within the upload rate (each chunk a unit of it).
    pub(super) async fn put_chunks(
        &self,
        me: &str,
        blob: BlobId,
        index: u32,
        bytes: Vec<u8>,
    ) -> Result<Reply, Refusal> {
        // The chunks these bytes can be (checked against the blob's sizes below): more
        // than a batch is refused before it costs anything.
        let units = bytes.len().div_ceil(BLOB_CHUNK + BLOB_TAG).max(1);
        if units > BLOB_BATCH as usize {
            return Err(bad(format!(
                "{} bytes of chunks at once: at most {BLOB_BATCH} chunks may be",
                bytes.len()
            )));
        }
        self.spend_units(Limit::Chunks, me, u32::try_from(units).unwrap_or(u32::MAX))
            .map_err(limited)?;
        let owner = me.to_owned();
        let put = blocking(&self.store, move |s| {
            s.put_chunks(&blob, &owner, index, &bytes)
        })
        .await?;
        match put {
            Put::Held(held) => Ok(Reply::Stored { held }),
            Put::Ahead { held } => Err(bad(format!(
                "chunk {index} of file {blob}, but the next one is chunk {held}"
            ))),
            Put::WrongLength { expected: 0 } => {
                Err(bad(format!("file {blob} has no chunk {index}")))
            }
            Put::WrongLength { expected } => Err(bad(format!(
                "the chunks from {index} of file {blob} are not 1 to {BLOB_BATCH} whole \
                 sealed chunks (chunk {index} is {expected} bytes sealed)"
            ))),
            Put::Unknown => Err(Refusal::UnknownBlob),
        }
    }

    /// [`crate::proto::Request::UploadState`]: how many chunks of `me`'s upload `blob`
    /// the server holds.
    pub(super) async fn upload_state(&self, me: &str, blob: BlobId) -> Result<Reply, Refusal> {
        let owner = me.to_owned();
        match blocking(&self.store, move |s| s.blob_held(&blob, &owner)).await? {
            Some(held) => Ok(Reply::Stored { held }),
            None => Err(Refusal::UnknownBlob),
        }
    }

    /// [`crate::proto::Request::FetchChunks`] (and
    /// [`crate::proto::Request::FetchChunk`], a batch of one): `count` chunks of the
    /// complete blob `blob` from `index` on, for a member of its room (one read at a
    /// time per user, as history).
    pub(super) async fn fetch_chunks(
        &self,
        me: &str,
        blob: BlobId,
        index: u32,
        count: u32,
    ) -> Result<Reply, Refusal> {
        if !(1..=BLOB_BATCH).contains(&count) {
            return Err(bad(format!(
                "{count} chunks asked at once: 1 to {BLOB_BATCH} may be"
            )));
        }
        let _turn = self.reads.turn(me).await;
        let reader = me.to_owned();
        match blocking(&self.store, move |s| {
            s.fetch_chunks(&blob, index, count, &reader)
        })
        .await?
        {
            Some(bytes) => Ok(Reply::Chunk(bytes)),
            None => Err(Refusal::UnknownBlob),
        }
    }
}
