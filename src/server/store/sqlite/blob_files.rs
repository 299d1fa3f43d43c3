//! The chunks of blobs on one node: one file per blob in `blobs/` under the data
//! directory (0700, its files 0600), named by the blob's id. `smc.db` keeps each
//! blob's row (room, owner, size, and whether it is complete); the chunks stay out of
//! it, so that storing one is a write into the page cache rather than a database
//! transaction, a chat message's commit neither waits for chunks nor syncs them, and
//! the database stays small (it is checked page by page when the server starts).
//!
//! Chunk `i` lies at `i` times a full sealed chunk, so an incomplete blob's file says
//! by its length how many chunks it holds: one source of truth, also after a crash,
//! which can only shorten it (a partial chunk at the end is not counted, and is
//! overwritten by the uploader's next try). The last chunk is synced with the file
//! (with [`Durability::Full`]) before the row says complete: a complete blob is on
//! disk before anyone can fetch it.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::StoreError;
use crate::proto::{BlobId, BLOB_CHUNK, BLOB_TAG};
use crate::server::store::Durability;

/// The bytes of a sealed chunk other than the last.
const SEALED_CHUNK: u64 = (BLOB_CHUNK + BLOB_TAG) as u64;

/// Locks taken per blob (by its id's first byte): one writer per blob at a time.
const SHARDS: usize = 32;

/// Where chunk `index` starts in its blob's file.
fn offset(index: u32) -> u64 {
    u64::from(index) * SEALED_CHUNK
}

/// The blob files of a data directory.
#[derive(Debug)]
pub(super) struct BlobFiles {
    dir: PathBuf,
    durable: bool,
    shards: [Mutex<()>; SHARDS],
}

impl BlobFiles {
    /// The blob files in `dir` (created 0700, or tightened to it).
    pub(super) fn open(dir: &Path, durability: Durability) -> Result<Self, StoreError> {
        crate::private_fs::private_dir(dir).map_err(io(dir))?;
        Ok(BlobFiles {
            dir: dir.to_owned(),
            durable: durability == Durability::Full,
            shards: std::array::from_fn(|_| Mutex::new(())),
        })
    }

    /// The file of blob `id`.
    pub(super) fn path(&self, id: &BlobId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// Held while a chunk of blob `id` is checked and written.
    pub(super) fn lock(&self, id: &BlobId) -> MutexGuard<'_, ()> {
        let shard = &self.shards[usize::from(id.0[0]) % SHARDS];
        shard.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many whole chunks the file of the incomplete blob `id`, of `chunks` chunks,
    /// holds from the first (fewer than `chunks`: its last one is held once the row
    /// says complete).
    pub(super) fn held(&self, id: &BlobId, chunks: u32) -> Result<u32, StoreError> {
        let path = self.path(id);
        let len = match std::fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == ErrorKind::NotFound => 0,
            Err(e) => return Err(io(&path)(e)),
        };
        let whole = u32::try_from(len / SEALED_CHUNK).unwrap_or(u32::MAX);
        Ok(whole.min(chunks.saturating_sub(1)))
    }

    /// Writes chunk `index` of blob `id` at its place, dropping whatever lay past
    /// it; `last`: the blob's last chunk, synced with the whole file.
    pub(super) fn write(
        &self,
        id: &BlobId,
        index: u32,
        bytes: &[u8],
        last: bool,
    ) -> Result<(), StoreError> {
        let path = self.path(id);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        let at = offset(index);
        if file.metadata().map_err(io(&path))?.len() != at {
            file.set_len(at).map_err(io(&path))?;
        }
        file.write_all_at(bytes, at).map_err(io(&path))?;
        if last {
            self.sync(&file, &path)?;
        }
        Ok(())
    }

    /// Syncs `file` (at `path`) and the directory that names it (with
    /// [`Durability::Full`]).
    fn sync(&self, file: &File, path: &Path) -> Result<(), StoreError> {
        if self.durable {
            file.sync_all().map_err(io(path))?;
            // The file's name, made on its first chunk, is durable once its
            // directory is synced.
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(io(&self.dir))?;
        }
        Ok(())
    }

    /// Chunk `index` of blob `id`, `len` bytes (`None` if the file is missing or
    /// shorter: removed meanwhile).
    pub(super) fn read(
        &self,
        id: &BlobId,
        index: u32,
        len: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(id);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let mut bytes = vec![0; len];
        match file.read_exact_at(&mut bytes, offset(index)) {
            Ok(()) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Removes the file of blob `id` (none is fine).
    pub(super) fn remove(&self, id: &BlobId) -> Result<(), StoreError> {
        let path = self.path(id);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io(&path)(e)),
            _ => Ok(()),
        }
    }

    /// The blobs that have a file here (names that are not a blob id are left alone).
    pub(super) fn ids(&self) -> Result<Vec<BlobId>, StoreError> {
        let entries = std::fs::read_dir(&self.dir).map_err(io(&self.dir))?;
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(&self.dir))?;
            if let Some(id) = entry.file_name().to_str().and_then(parse_id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }
}

/// Schema 10 kept the chunks in `smc.db` (`blob_chunks`): this copies them into the
/// blobs' files before migration 11 drops that table. Nothing to do at any other
/// version; run again after a crash in the middle, it writes the same files.
pub(super) fn export_chunks(conn: &Connection, files: &BlobFiles) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version != 10 {
        return Ok(());
    }
    let mut stmt = conn.prepare("SELECT blob, idx, bytes FROM blob_chunks ORDER BY blob, idx")?;
    let mut rows = stmt.query([])?;
    let mut ids = Vec::new();
    while let Some(row) = rows.next()? {
        let Ok(id) = <[u8; 16]>::try_from(row.get::<_, Vec<u8>>(0)?.as_slice()) else {
            continue;
        };
        let id = BlobId(id);
        files.write(&id, row.get(1)?, &row.get::<_, Vec<u8>>(2)?, false)?;
        if ids.last() != Some(&id) {
            ids.push(id);
        }
    }
    for id in &ids {
        let path = files.path(id);
        let file = File::open(&path).map_err(io(&path))?;
        files.sync(&file, &path)?;
    }
    Ok(())
}

/// A blob id from its file's name (32 lowercase hex digits).
pub(super) fn parse_id(name: &str) -> Option<BlobId> {
    if name.len() != 32 {
        return None;
    }
    let bytes = data_encoding::HEXLOWER.decode(name.as_bytes()).ok()?;
    Some(BlobId(bytes.try_into().ok()?))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_owned();
    move |source| StoreError::Io { path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incomplete_blob_holds_its_whole_chunks_and_a_torn_one_is_overwritten() {
        let dir = std::env::temp_dir().join(format!("smc_blob_files_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = BlobFiles::open(&dir, Durability::Full).unwrap();
        let id = BlobId([0xab; 16]);
        assert_eq!(files.held(&id, 3).unwrap(), 0);
        let chunk = vec![1u8; SEALED_CHUNK as usize];
        files.write(&id, 0, &chunk, false).unwrap();
        assert_eq!(files.held(&id, 3).unwrap(), 1);
        // A crash in the middle of chunk 1: half of it on disk.
        OpenOptions::new()
            .append(true)
            .open(files.path(&id))
            .unwrap()
            .write_all_at(&chunk[..100], SEALED_CHUNK)
            .unwrap();
        assert_eq!(files.held(&id, 3).unwrap(), 1);
        let second = vec![2u8; SEALED_CHUNK as usize];
        files.write(&id, 1, &second, false).unwrap();
        assert_eq!(files.held(&id, 3).unwrap(), 2);
        assert_eq!(files.read(&id, 1, second.len()).unwrap(), Some(second));
        // The last chunk, written whole, still counts as not held until the row says
        // complete.
        files.write(&id, 2, &[3u8; 40], true).unwrap();
        assert_eq!(files.held(&id, 3).unwrap(), 2);
        assert_eq!(files.ids().unwrap(), vec![id]);
        assert_eq!(parse_id(&id.to_string()), Some(id));
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&files.path(&id)), 0o600);
        files.remove(&id).unwrap();
        assert_eq!(files.read(&id, 0, 10).unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
