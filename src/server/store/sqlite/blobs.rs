//! [`BlobStore`] on SQLite: blobs in `smc.db`, written through the one writer (a chunk
//! is one short transaction, so a message waits at most for one chunk's commit), read
//! through the reader.
//!
//! A chunk other than the last is committed without syncing the WAL (`synchronous =
//! NORMAL` for that transaction): a crash of the machine may take it back, with the
//! count of chunks held in the same transaction, and the uploader, who asks where the
//! server stands after a lost connection (`blob_held`), sends it again. The last
//! chunk's commit syncs (with [`Durability::Full`]), and so every chunk before it:
//! a blob is durable before anyone can fetch it or be told of it.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{lock, SqliteStore};
use crate::error::StoreError;
use crate::proto::BlobId;
use crate::server::store::blobs::chunk_answer;
use crate::server::store::{Began, BlobStore, Durability, NewBlob, Put, Retention};

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
        // Only this connection writes blobs, under this lock: what it reads here is
        // what the transaction below reads again.
        let chunks: Option<u32> = conn
            .query_row("SELECT chunks FROM blobs WHERE id = ?1", [&id.0[..]], |r| {
                r.get(0)
            })
            .optional()?;
        let lazy = self.durability == Durability::Full && chunks.is_some_and(|c| index + 1 < c);
        if lazy {
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        let put = store_chunk(&mut conn, id, owner, index, bytes);
        if lazy {
            // Setting a connection flag does no I/O; the messages committed next
            // through this connection sync again.
            conn.pragma_update(None, "synchronous", "FULL")?;
        }
        put
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

/// Stores chunk `index` of `owner`'s blob `id` in one transaction, if it is the next.
fn store_chunk(
    conn: &mut rusqlite::Connection,
    id: &BlobId,
    owner: &str,
    index: u32,
    bytes: &[u8],
) -> Result<Put, StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{blob_chunk_len, sealed_size, BLOB_TAG};
    use crate::server::store::{Newcomer, RegistrationPolicy, Store};

    /// What the writer connection syncs with (2: FULL, 1: NORMAL).
    fn synchronous(store: &SqliteStore) -> i64 {
        lock(&store.writer)
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn messages_sync_again_after_a_chunk_committed_without_syncing() {
        let dir = std::env::temp_dir().join(format!("smc_lazy_chunk_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SqliteStore::open(&dir, Durability::Full).unwrap();
        let anyone = Newcomer {
            address: "192.0.2.1".into(),
            per_hour: 0,
            now_ms: 1,
        };
        store
            .register("u", &[1; 32], RegistrationPolicy::Open, None, &anyone)
            .unwrap();
        store.create_room("r", "u", 1, 10, None).unwrap();
        let size = 3 * crate::proto::BLOB_CHUNK as u64;
        let blob = NewBlob {
            id: BlobId([7; 16]),
            room: "r".into(),
            owner: "u".into(),
            size,
            chunks: 3,
            sealed: sealed_size(size).unwrap(),
            now_ms: 1,
            quota: u64::MAX,
        };
        assert_eq!(store.begin_blob(&blob).unwrap(), Began::Started);
        assert_eq!(synchronous(&store), 2);
        for index in 0..3 {
            let chunk = vec![0u8; blob_chunk_len(size, index).unwrap() + BLOB_TAG];
            assert_eq!(
                store.put_chunk(&blob.id, "u", index, &chunk).unwrap(),
                Put::Held(index + 1)
            );
            assert_eq!(synchronous(&store), 2, "after chunk {index}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
