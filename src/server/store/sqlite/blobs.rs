//! [`BlobStore`] on SQLite: each blob's row in `smc.db` (its room, owner, size, and
//! `held = chunks` once complete), its chunks in a file of its own
//! ([`super::blob_files`]).
//!
//! A chunk other than the last is a write into its file and nothing else: no database
//! transaction, no sync (a crash of the machine may take it back, and the uploader,
//! who asks where the server stands after a lost connection, sends it again). The
//! last chunk is synced with the whole file (with [`Durability::Full`]), then the row
//! is marked complete in a synced commit: a blob is durable before anyone can fetch it
//! or be told of it.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{lock, SqliteStore};
use crate::error::StoreError;
use crate::proto::{blob_batch_len, BlobId};
use crate::server::store::blobs::chunks_to_store;
use crate::server::store::{Began, BlobStore, NewBlob, Put, Retention};

/// A count or size as SQLite's signed integers hold it.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A blob's row: its size, its chunks, and whether it is complete.
struct Row {
    size: u64,
    chunks: u32,
    complete: bool,
}

impl SqliteStore {
    /// The row of `owner`'s blob `id`.
    fn blob_row(&self, id: &BlobId, owner: &str) -> Result<Option<Row>, StoreError> {
        let conn = lock(&self.reader);
        // Cached: asked once per chunk.
        let mut stmt = conn.prepare_cached(
            "SELECT size, chunks, held = chunks FROM blobs WHERE id = ?1 AND owner = ?2",
        )?;
        let row = stmt
            .query_row(params![&id.0[..], owner], |r| {
                Ok(Row {
                    size: r.get::<_, i64>(0)? as u64,
                    chunks: r.get(1)?,
                    complete: r.get(2)?,
                })
            })
            .optional()?;
        Ok(row)
    }
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

    fn put_chunks(
        &self,
        id: &BlobId,
        owner: &str,
        index: u32,
        bytes: &[u8],
    ) -> Result<Put, StoreError> {
        // One writer per blob from here: the row (complete or not) and what `held`
        // says stay true until the chunk is written, so a last chunk sent twice at
        // once is written once, and a complete blob is never written again.
        let _blob = self.files.lock(id);
        let Some(row) = self.blob_row(id, owner)? else {
            return Ok(Put::Unknown);
        };
        let held = if row.complete {
            row.chunks
        } else {
            self.files.held(id, row.chunks)?
        };
        let put = match chunks_to_store(row.size, row.chunks, held, index, bytes.len()) {
            Ok(put) => put,
            Err(answer) => return Ok(answer),
        };
        // One write for the batch: its chunks lie one after the other in the file too.
        let last = put.end == row.chunks;
        self.files.write(id, put.from, &bytes[put.skip..], last)?;
        if last {
            let conn = lock(&self.writer);
            let marked = conn.execute(
                "UPDATE blobs SET held = chunks WHERE id = ?1 AND owner = ?2",
                params![&id.0[..], owner],
            )?;
            if marked == 0 {
                // Collected meanwhile: its file goes too.
                drop(conn);
                self.files.remove(id)?;
                return Ok(Put::Unknown);
            }
        }
        Ok(Put::Held(put.end))
    }

    fn blob_held(&self, id: &BlobId, owner: &str) -> Result<Option<u32>, StoreError> {
        let _blob = self.files.lock(id);
        let Some(row) = self.blob_row(id, owner)? else {
            return Ok(None);
        };
        if row.complete {
            return Ok(Some(row.chunks));
        }
        self.files.held(id, row.chunks).map(Some)
    }

    fn fetch_chunks(
        &self,
        id: &BlobId,
        index: u32,
        count: u32,
        reader: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = lock(&self.reader);
        let size: Option<i64> = conn
            .prepare_cached(
                "SELECT b.size FROM blobs b
                 JOIN members m ON m.room = b.room AND m.user = ?2
                 WHERE b.id = ?1 AND b.held = b.chunks",
            )?
            .query_row(params![&id.0[..], reader], |r| r.get(0))
            .optional()?;
        drop(conn);
        let Some(len) = size.and_then(|size| blob_batch_len(size as u64, index, count)) else {
            return Ok(None);
        };
        self.files.read(id, index, len)
    }

    fn collect_blobs(&self, retention: &Retention) -> Result<u64, StoreError> {
        let conn = lock(&self.writer);
        let deleted: Vec<Vec<u8>> = conn
            .prepare(
                "DELETE FROM blobs WHERE created_ms < ?1
                    OR (held < chunks AND created_ms < ?2)
                    OR NOT EXISTS (SELECT 1 FROM members m WHERE m.room = blobs.room)
                 RETURNING id",
            )?
            .query_map(
                params![retention.created_before_ms, retention.abandoned_before_ms],
                |r| r.get(0),
            )?
            .collect::<Result<_, _>>()?;
        for id in &deleted {
            if let Ok(id) = <[u8; 16]>::try_from(id.as_slice()) {
                self.files.remove(&BlobId(id))?;
            }
        }
        // Files left without a row (a crash between a row's deletion and its file's):
        // no upload writes a file before its row exists, and rows are made under this
        // lock.
        for id in self.files.ids()? {
            let known = conn
                .query_row("SELECT 1 FROM blobs WHERE id = ?1", [&id.0[..]], |_| Ok(()))
                .optional()?
                .is_some();
            if !known {
                self.files.remove(&id)?;
            }
        }
        Ok(deleted.len() as u64)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{sealed_size, BLOB_CHUNK, BLOB_TAG};
    use crate::server::store::{Durability, Newcomer, RegistrationPolicy, Store};

    #[test]
    fn chunks_kept_in_the_database_by_schema_10_move_into_files() {
        let dir = std::env::temp_dir().join(format!("smc_export_chunks_{}", std::process::id()));
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
        let size = BLOB_CHUNK as u64 + 5;
        let blob = NewBlob {
            id: BlobId([7; 16]),
            room: "r".into(),
            owner: "u".into(),
            size,
            chunks: 2,
            sealed: sealed_size(size).unwrap(),
            now_ms: 1,
            quota: u64::MAX,
        };
        assert_eq!(store.begin_blob(&blob).unwrap(), Began::Started);
        let chunks = [vec![1u8; BLOB_CHUNK + BLOB_TAG], vec![2u8; 5 + BLOB_TAG]];
        // The same blob as schema 10 held it: its chunks in `blob_chunks` (and none of
        // what later versions added).
        lock(&store.writer)
            .execute_batch(
                "CREATE TABLE blob_chunks (
                     blob BLOB NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
                     idx INTEGER NOT NULL,
                     bytes BLOB NOT NULL,
                     PRIMARY KEY (blob, idx)
                 );
                 UPDATE blobs SET held = 2;
                 DROP TABLE devices;
                 ALTER TABLE users DROP COLUMN identity_key;
                 PRAGMA user_version = 10;",
            )
            .unwrap();
        for (index, bytes) in chunks.iter().enumerate() {
            lock(&store.writer)
                .execute(
                    "INSERT INTO blob_chunks (blob, idx, bytes) VALUES (?1, ?2, ?3)",
                    params![&blob.id.0[..], index as u32, bytes],
                )
                .unwrap();
        }
        drop(store);
        let store = SqliteStore::open(&dir, Durability::Full).unwrap();
        for (index, bytes) in chunks.iter().enumerate() {
            assert_eq!(
                store
                    .fetch_chunks(&blob.id, index as u32, 1, "u")
                    .unwrap()
                    .as_ref(),
                Some(bytes)
            );
        }
        let left: i64 = lock(&store.reader)
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'blob_chunks'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
        assert!(super::super::check(&dir).unwrap().is_empty());
        std::fs::write(store.files.path(&blob.id), b"short").unwrap();
        assert_eq!(super::super::check(&dir).unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
