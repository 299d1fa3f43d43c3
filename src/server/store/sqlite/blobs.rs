//! [`BlobStore`] on SQLite: blobs in `smc.db`, written through the one writer (a chunk
//! is one short transaction, so a message waits at most for one chunk's commit), read
//! through the reader.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{lock, SqliteStore};
use crate::error::StoreError;
use crate::proto::BlobId;
use crate::server::store::blobs::chunk_answer;
use crate::server::store::{Began, BlobStore, NewBlob, Put, Retention};

/// A count or size as SQLite's signed integers hold it.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl BlobStore for SqliteStore {
    fn begin_blob(&self, blob: &NewBlob) -> Result<Began, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let member = tx
            .query_row(
                "SELECT 1 FROM members WHERE room = ?1 AND user = ?2",
                params![blob.room, blob.owner],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !member {
            return Ok(Began::NotAMember);
        }
        let used: i64 = tx.query_row(
            "SELECT coalesce(sum(sealed), 0) FROM blobs WHERE owner = ?1",
            [&blob.owner],
            |r| r.get(0),
        )?;
        if (used as u64).saturating_add(blob.sealed) > blob.quota {
            return Ok(Began::OverQuota);
        }
        tx.execute(
            "INSERT INTO blobs (id, room, owner, size, chunks, sealed, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                &blob.id.0[..],
                blob.room,
                blob.owner,
                int(blob.size),
                blob.chunks,
                int(blob.sealed),
                blob.now_ms
            ],
        )?;
        tx.commit()?;
        Ok(Began::Started)
    }

    fn put_chunk(
        &self,
        id: &BlobId,
        owner: &str,
        index: u32,
        bytes: &[u8],
    ) -> Result<Put, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some((size, chunks, held)) = tx
            .query_row(
                "SELECT size, chunks, held FROM blobs WHERE id = ?1 AND owner = ?2",
                params![&id.0[..], owner],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, u32>(1)?,
                        r.get::<_, u32>(2)?,
                    ))
                },
            )
            .optional()?
        else {
            return Ok(Put::Unknown);
        };
        if let Some(answer) = chunk_answer(size as u64, chunks, held, index, bytes.len()) {
            return Ok(answer);
        }
        tx.execute(
            "INSERT INTO blob_chunks (blob, idx, bytes) VALUES (?1, ?2, ?3)",
            params![&id.0[..], index, bytes],
        )?;
        tx.execute(
            "UPDATE blobs SET held = held + 1 WHERE id = ?1",
            [&id.0[..]],
        )?;
        tx.commit()?;
        Ok(Put::Held(held + 1))
    }

    fn blob_held(&self, id: &BlobId, owner: &str) -> Result<Option<u32>, StoreError> {
        let conn = lock(&self.reader);
        Ok(conn
            .query_row(
                "SELECT held FROM blobs WHERE id = ?1 AND owner = ?2",
                params![&id.0[..], owner],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn fetch_chunk(
        &self,
        id: &BlobId,
        index: u32,
        reader: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = lock(&self.reader);
        Ok(conn
            .query_row(
                "SELECT c.bytes FROM blobs b
                 JOIN members m ON m.room = b.room AND m.user = ?3
                 JOIN blob_chunks c ON c.blob = b.id AND c.idx = ?2
                 WHERE b.id = ?1 AND b.held = b.chunks",
                params![&id.0[..], index, reader],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn collect_blobs(&self, retention: &Retention) -> Result<u64, StoreError> {
        let conn = lock(&self.writer);
        let deleted = conn.execute(
            "DELETE FROM blobs WHERE created_ms < ?1
                OR (held < chunks AND created_ms < ?2)
                OR NOT EXISTS (SELECT 1 FROM members m WHERE m.room = blobs.room)",
            params![retention.created_before_ms, retention.abandoned_before_ms],
        )?;
        Ok(deleted as u64)
    }

    fn blob_usage(&self, owner: &str) -> Result<u64, StoreError> {
        let conn = lock(&self.reader);
        let used: i64 = conn.query_row(
            "SELECT coalesce(sum(sealed), 0) FROM blobs WHERE owner = ?1",
            [owner],
            |r| r.get(0),
        )?;
        Ok(used as u64)
    }
}
