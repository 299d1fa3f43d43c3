//! Backup and restore of a SQLite store (`smc admin backup`, `smc admin restore`).
//!
//! A backup is a complete data directory: `smc.db`, a consistent copy taken with
//! SQLite's online backup API while the server runs (one read transaction: every
//! message committed before it began, none after); `blobs/`, the files of the blobs
//! that copy knows of (a complete blob's file does not change; an upload in progress
//! is copied as far as it went, and its uploader goes on from there after a restore);
//! and `server.key`, the server's identity that clients pin. Files are created 0600 in
//! directories created 0700.
//! `smc server --data-dir BACKUP` would serve it as it is; a restore copies it into a
//! data directory that holds no store yet, and never overwrites one.
//!
//! The copy is *fenced*, when the backup is taken and again at every restore: its
//! rooms' sequence counters and its message and direct-queue ids jump to at least
//! [`FENCE_PER_MS`] times the current Unix time in milliseconds. Clients keep a cursor
//! per room (the last seq they read) and per direct queue; the live server, or an
//! earlier restore of the same backup, may have gone past the copy before it was
//! lost, so without the jump a restored server would number new messages with seqs
//! its clients already hold and they would skip them as read. A fence taken from the
//! clock is above whatever any earlier server numbered, however often and however
//! late a backup is restored, as long as no room and no counter received more than
//! [`FENCE_PER_MS`] messages per millisecond since the previous fence (a million a
//! second, far beyond what one store takes) and the clock does not go back.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use zeroize::Zeroizing;

use super::sqlite::{corrupt, integrity, private_files};
use crate::error::StoreError;
use crate::proto::{sealed_size, BlobId};
use crate::server::DataDir;

/// A fence sets every counter (room seqs, message and direct ids) to at least this
/// many times the Unix time in milliseconds: more than a room or a store can number
/// in a millisecond. (Now: ~1.8e15, far from i64's 9.2e18.)
pub const FENCE_PER_MS: i64 = 1_000;

/// The fence now: [`FENCE_PER_MS`] times the Unix time in milliseconds.
fn fence_now() -> i64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    ms.saturating_mul(FENCE_PER_MS)
}

/// What a backup or a restore copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Rooms in the copy.
    pub rooms: u64,
    /// Room messages in the copy.
    pub messages: u64,
    /// Size of the copied database, bytes.
    pub bytes: u64,
    /// Files (blobs) in the copy.
    pub files: u64,
    /// Their bytes.
    pub file_bytes: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_owned();
    move |source| StoreError::Io { path, source }
}

fn refuse(path: &Path, why: &str) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, why.to_owned()),
    }
}

/// Copies the store and the key of the data directory `from` into `dest`, a new (or
/// empty) directory: a backup taken while the server runs.
pub fn backup(from: &Path, dest: &Path) -> Result<Copied, StoreError> {
    let source = DataDir::new(from);
    if !source.holds_data() {
        return Err(missing(&source.database()));
    }
    if std::fs::read_dir(dest).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(refuse(
            dest,
            "not empty: a backup goes into a new or empty directory",
        ));
    }
    // 0700, also when it existed (an empty 0777 directory is tightened).
    crate::private_fs::private_dir(dest).map_err(io(dest))?;
    let target = DataDir::new(dest);
    copy_store(&source.database(), &target.database(), true)?;
    fence(&target.database())?;
    let files = copy_blobs(&source.blobs(), &target)?;
    copy_key(&source.server_key(), &target.server_key())?;
    summarize(&target.database(), files)
}

/// Copies into `to`'s `blobs/` the file of every blob its database (a copy just
/// taken) knows of, from `from`: a complete blob's file up to its sealed size, an
/// incomplete one as far as it is. A complete blob whose file is gone or short (it
/// was collected after the database was copied) leaves the copy with its row. The
/// files copied and their bytes.
fn copy_blobs(from: &Path, to: &DataDir) -> Result<(u64, u64), StoreError> {
    let dir = to.blobs();
    crate::private_fs::private_dir(&dir).map_err(io(&dir))?;
    let conn = Connection::open(to.database())?;
    let rows: Vec<(Vec<u8>, i64, bool)> = conn
        .prepare("SELECT id, size, held = chunks FROM blobs")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let (mut files, mut bytes) = (0, 0);
    for (id, size, complete) in rows {
        let Ok(raw) = <[u8; 16]>::try_from(id.as_slice()) else {
            continue;
        };
        let name = BlobId(raw).to_string();
        let want = if complete {
            sealed_size(size.max(0) as u64)
        } else {
            None
        };
        let copied = match std::fs::File::open(from.join(&name)) {
            Ok(src) => copy_file(src, &dir.join(&name), want)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&from.join(&name))(e)),
        };
        match copied {
            Some(n) => {
                files += 1;
                bytes += n;
            }
            None if complete => {
                let _ = std::fs::remove_file(dir.join(&name));
                conn.execute("DELETE FROM blobs WHERE id = ?1", [&id])?;
            }
            None => {}
        }
    }
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io(&dir))?;
    Ok((files, bytes))
}

/// Copies `src` into the new file `to` (0600), synced: `want` bytes exactly (`None`
/// if `src` holds fewer), or all of it.
fn copy_file(src: std::fs::File, to: &Path, want: Option<u64>) -> Result<Option<u64>, StoreError> {
    use std::io::Read;
    let mut dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(io(to))?;
    let mut src = src.take(want.unwrap_or(u64::MAX));
    let n = std::io::copy(&mut src, &mut dst).map_err(io(to))?;
    if want.is_some_and(|w| w != n) {
        return Ok(None);
    }
    dst.sync_all().map_err(io(to))?;
    Ok(Some(n))
}

/// Moves the copy's counters [`FENCE`] ahead (see the module's documentation), in one
/// transaction.
fn fence(path: &Path) -> Result<(), StoreError> {
    let floor = fence_now();
    let mut conn = Connection::open(path)?;
    let tx = conn.transaction()?;
    tx.execute("UPDATE rooms SET last_seq = max(last_seq, ?1)", [floor])?;
    for table in ["messages", "directs"] {
        // AUTOINCREMENT's counter: absent until the table's first row.
        let moved = tx.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1",
            rusqlite::params![table, floor],
        )?;
        if moved == 0 {
            tx.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                rusqlite::params![table, floor],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Copies a backup (`from`, as [`backup`] wrote it) into the data directory `into`,
/// which must not hold a store or a key yet. The backup is checked first (SQLite's
/// integrity check): a damaged one is refused and nothing is written.
pub fn restore(from: &Path, into: &Path) -> Result<Copied, StoreError> {
    let source = DataDir::new(from);
    let target = DataDir::new(into);
    if !source.holds_data() {
        return Err(missing(&source.database()));
    }
    if !source.server_key().exists() {
        return Err(missing(&source.server_key()));
    }
    let checked = {
        let path = source.database();
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| corrupt(&path, e.into()))?;
        integrity(&conn, "integrity_check").map_err(|e| corrupt(&path, e))?
    };
    if let Some(first) = checked.first() {
        return Err(StoreError::Corrupt {
            path: source.database(),
            detail: format!("{first} ({} problems)", checked.len()),
        });
    }
    // The data files SQLite would keep beside a store, or a key: any of them means
    // the directory is in use.
    let taken = target
        .database_files()
        .into_iter()
        .chain([target.server_key()])
        .find(|p| p.exists());
    if let Some(path) = taken {
        return Err(refuse(
            &path,
            "exists: a restore never overwrites a server's data (restore into a new \
             directory, or move this one aside)",
        ));
    }
    if std::fs::read_dir(target.blobs()).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(refuse(
            &target.blobs(),
            "holds files: a restore never overwrites a server's data (restore into a \
             new directory, or move this one aside)",
        ));
    }
    private_files(into)?;
    copy_store(&source.database(), &target.database(), false)?;
    // Fenced again: this backup may have been restored before, and that server may
    // have numbered messages past the backup's own fence.
    fence(&target.database())?;
    let files = copy_blobs(&source.blobs(), &target)?;
    copy_key(&source.server_key(), &target.server_key())?;
    summarize(&target.database(), files)
}

fn missing(path: &Path) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
    }
}

/// Copies the database `from` into `to` with SQLite's online backup API, in one step
/// (one read transaction on `from`: a consistent copy even while a server writes).
/// `create`: `to` is created here, 0600 (else it exists already, made private).
fn copy_store(from: &Path, to: &Path, create: bool) -> Result<(), StoreError> {
    if create {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(to)
            .map_err(io(to))?;
    }
    let src = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| corrupt(from, e.into()))?;
    src.busy_timeout(Duration::from_secs(5))?;
    let mut dst = Connection::open(to)?;
    let copy = Backup::new(&src, &mut dst)?;
    // -1: every page in one step. Busy or locked (a checkpoint at that moment): the
    // step is tried again, for up to ~10 s.
    for _ in 0..1000 {
        match copy.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More | StepResult::Busy | StepResult::Locked => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    Err(StoreError::Io {
        path: from.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the database stayed busy: no consistent copy could be taken",
        ),
    })
}

/// Copies the server's key file, created 0600 (never over an existing file).
fn copy_key(from: &Path, to: &Path) -> Result<(), StoreError> {
    let key = Zeroizing::new(std::fs::read(from).map_err(io(from))?);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(io(to))?;
    file.write_all(&key).map_err(io(to))?;
    file.sync_all().map_err(io(to))
}

/// Counts what the copy at `path` holds, with its `files` (count, bytes).
fn summarize(path: &PathBuf, files: (u64, u64)) -> Result<Copied, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let count = |table: &str| -> Result<u64, StoreError> {
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    };
    Ok(Copied {
        rooms: count("rooms")?,
        messages: count("messages")?,
        bytes: std::fs::metadata(path).map_err(io(path))?.len(),
        files: files.0,
        file_bytes: files.1,
    })
}
