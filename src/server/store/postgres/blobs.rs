//! [`BlobStore`] on PostgreSQL: blobs in the cluster's database, so that a file
//! uploaded through one node downloads through any other. A chunk is one short
//! transaction that locks its blob's row (chunks of one blob are stored in order,
//! whichever node they came through). A chunk other than the last commits without
//! waiting for the WAL's flush (`synchronous_commit = off` for that transaction): a
//! crash may take it back with the count of chunks held, and the uploader sends it
//! again; the last chunk's commit waits, and PostgreSQL's WAL is flushed in order, so
//! every chunk before it is durable with it.

use postgres::IsolationLevel;

use super::PostgresStore;
use crate::error::StoreError;
use crate::proto::{blob_chunk_len, BlobId, BLOB_BATCH, BLOB_TAG};
use crate::server::store::blobs::chunks_to_store;
use crate::server::store::{Began, BlobStore, NewBlob, Put, Retention};

/// A count or size as PostgreSQL's `bigint` holds it.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl BlobStore for PostgresStore {
    fn begin_blob(&self, blob: &NewBlob) -> Result<Began, StoreError> {
        // SERIALIZABLE: two uploads of one owner through two nodes cannot both pass
        // the quota.
        self.write(|tx| {
            let member = tx.query_opt(
                "SELECT 1 FROM members WHERE room = $1 AND user_name = $2",
                &[&blob.room, &blob.owner],
            )?;
            if member.is_none() {
                return Ok(Began::NotAMember);
            }
            let used: i64 = tx
                .query_one(
                    "SELECT coalesce(sum(sealed), 0)::BIGINT FROM blobs WHERE owner = $1",
                    &[&blob.owner],
                )?
                .get(0);
            if (used as u64).saturating_add(blob.sealed) > blob.quota {
                return Ok(Began::OverQuota);
            }
            tx.execute(
                "INSERT INTO blobs (id, room, owner, size, chunks, sealed, created_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &&blob.id.0[..],
                    &blob.room,
                    &blob.owner,
                    &int(blob.size),
                    &i64::from(blob.chunks),
                    &int(blob.sealed),
                    &blob.now_ms,
                ],
            )?;
            Ok(Began::Started)
        })
    }

    fn put_chunks(
        &self,
        id: &BlobId,
        owner: &str,
        index: u32,
        bytes: &[u8],
    ) -> Result<Put, StoreError> {
        self.write_at(IsolationLevel::ReadCommitted, |tx| {
            let Some(row) = tx.query_opt(
                "SELECT size, chunks, held FROM blobs WHERE id = $1 AND owner = $2 FOR UPDATE",
                &[&&id.0[..], &owner],
            )?
            else {
                return Ok(Put::Unknown);
            };
            let (size, chunks, held) = (
                row.get::<_, i64>(0) as u64,
                row.get::<_, i64>(1) as u32,
                row.get::<_, i64>(2) as u32,
            );
            let put = match chunks_to_store(size, chunks, held, index, bytes.len()) {
                Ok(put) => put,
                Err(answer) => return Ok(answer),
            };
            if put.end < chunks {
                tx.execute("SET LOCAL synchronous_commit TO OFF", &[])?;
            }
            // One row per chunk, as a single chunk's request stores it.
            let mut at = put.skip;
            for i in put.from..put.end {
                let len = blob_chunk_len(size, i).unwrap_or(0) + BLOB_TAG;
                let chunk = bytes.get(at..at + len).unwrap_or_default();
                tx.execute(
                    "INSERT INTO blob_chunks (blob, idx, bytes) VALUES ($1, $2, $3)",
                    &[&&id.0[..], &i64::from(i), &chunk],
                )?;
                at += len;
            }
            tx.execute(
                "UPDATE blobs SET held = $2 WHERE id = $1",
                &[&&id.0[..], &i64::from(put.end)],
            )?;
            Ok(Put::Held(put.end))
        })
    }

    fn blob_held(&self, id: &BlobId, owner: &str) -> Result<Option<u32>, StoreError> {
        Ok(self
            .client()?
            .query_opt(
                "SELECT held FROM blobs WHERE id = $1 AND owner = $2",
                &[&&id.0[..], &owner],
            )?
            .map(|r| r.get::<_, i64>(0) as u32))
    }

    fn fetch_chunks(
        &self,
        id: &BlobId,
        index: u32,
        count: u32,
        reader: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(end) = index
            .checked_add(count)
            .filter(|_| (1..=BLOB_BATCH).contains(&count))
        else {
            return Ok(None);
        };
        let rows = self.client()?.query(
            "SELECT c.bytes FROM blobs b
             JOIN members m ON m.room = b.room AND m.user_name = $4
             JOIN blob_chunks c ON c.blob = b.id AND c.idx >= $2 AND c.idx < $3
             WHERE b.id = $1 AND b.held = b.chunks
             ORDER BY c.idx",
            &[&&id.0[..], &i64::from(index), &i64::from(end), &reader],
        )?;
        // All of them, or none: a range past the last chunk is not served in part.
        if rows.len() != count as usize {
            return Ok(None);
        }
        let mut out = Vec::new();
        for row in rows {
            out.extend_from_slice(row.get::<_, &[u8]>(0));
        }
        Ok(Some(out))
    }

    fn collect_blobs(&self, retention: &Retention) -> Result<u64, StoreError> {
        self.write_at(IsolationLevel::ReadCommitted, |tx| {
            Ok(tx.execute(
                "DELETE FROM blobs WHERE created_ms < $1
                    OR (held < chunks AND created_ms < $2)
                    OR NOT EXISTS (SELECT 1 FROM members m WHERE m.room = blobs.room)",
                &[&retention.created_before_ms, &retention.abandoned_before_ms],
            )?)
        })
    }

    fn blob_usage(&self, owner: &str) -> Result<u64, StoreError> {
        let used: i64 = self
            .client()?
            .query_one(
                "SELECT coalesce(sum(sealed), 0)::BIGINT FROM blobs WHERE owner = $1",
                &[&owner],
            )?
            .get(0);
        Ok(used as u64)
    }
}
