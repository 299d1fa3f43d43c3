//! The client's state database, encrypted at rest.
//!
//! With a passphrase, `state.db` is an SQLCipher database (every page AES-256
//! encrypted and authenticated) whose raw key is derived from the passphrase by
//! Argon2id with a random salt kept in `state.salt`. Without one, it is a plain SQLite
//! file readable by its owner only (0600). Either way it holds the MLS keys and
//! groups, the decrypted history and the cursors.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rusqlite::Connection;
use zeroize::Zeroizing;

use crate::error::{E2eError, StoreError};

/// Argon2id cost: 19 MiB, 2 passes, 1 lane (OWASP's recommended minimum).
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_PASSES: u32 = 2;
const SALT_LEN: usize = 16;

fn io(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates `path` empty with mode 0600 if it does not exist; tightens it to 0600 if it
/// does (the v2 state file was created with the process umask).
fn private_file(path: &Path) -> Result<(), StoreError> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| io(path, e))
        }
        Err(e) => Err(io(path, e)),
    }
}

fn salt(path: &Path) -> Result<[u8; SALT_LEN], StoreError> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() == SALT_LEN => {
            let mut salt = [0u8; SALT_LEN];
            salt.copy_from_slice(&bytes);
            Ok(salt)
        }
        Ok(_) => Err(io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, "salt file is damaged"),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut salt = [0u8; SALT_LEN];
            getrandom::fill(&mut salt).map_err(|e| io(path, std::io::Error::other(e)))?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| io(path, e))?;
            f.write_all(&salt)
                .and_then(|_| f.sync_all())
                .map_err(|e| io(path, e))?;
            Ok(salt)
        }
        Err(e) => Err(io(path, e)),
    }
}

/// Derives the 32-byte database key from `passphrase` (Argon2id).
fn derive_key(passphrase: &str, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, E2eError> {
    let params =
        argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, Some(32)).map_err(|e| {
            E2eError::Mls {
                operation: "key derivation",
                detail: e.to_string(),
            }
        })?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|e| E2eError::Mls {
            operation: "key derivation",
            detail: e.to_string(),
        })?;
    Ok(key)
}

/// Pages written to the WAL between two automatic checkpoints (see [`open`]).
const WAL_AUTOCHECKPOINT: i64 = 100;

/// Opens (creating if needed) the state database at `path` (a home's `state.db`), with
/// SQLCipher when a passphrase is given, its key derived with the salt kept in
/// `salt_file` (created on first use). A wrong passphrase (or a passphrase missing for
/// an encrypted file) is [`E2eError::WrongPassphrase`]. Paths, not the client's
/// `Home`: this module does not depend on the client.
pub(crate) fn open(
    path: &Path,
    salt_file: &Path,
    passphrase: Option<&str>,
) -> Result<Connection, crate::ClientError> {
    let path = path.to_path_buf();
    private_file(&path)?;
    let conn = Connection::open(&path).map_err(StoreError::from)?;
    if let Some(passphrase) = passphrase {
        // A wrong key is reported as an error value, not logged to stderr by SQLCipher.
        let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
        let key = derive_key(passphrase, &salt(salt_file)?)?;
        let pragma = Zeroizing::new(format!(
            "PRAGMA key = \"x'{}'\";",
            data_encoding::HEXLOWER.encode(key.as_ref())
        ));
        conn.execute_batch(&pragma).map_err(StoreError::from)?;
    }
    // The first read decrypts page 1: this is where a wrong key shows.
    if conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .is_err()
    {
        return Err(E2eError::WrongPassphrase { path }.into());
    }
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(StoreError::from)?;
    // Deleted rows (spent keys, old group states, taken outbox entries) are overwritten
    // with zeros, not left in free pages of the file.
    conn.pragma_update(None, "secure_delete", "ON")
        .map_err(StoreError::from)?;
    // One client opens a home at a time (its lock file), and this is its only
    // connection: the database is locked once for the connection's life instead of
    // at every transaction (fcntl locks, and no shared-memory index: the WAL's index
    // lives in this process's heap).
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(StoreError::from)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(StoreError::from)?;
    // NORMAL in WAL mode: a committed transaction survives a crash of the process; the
    // transaction that steps the sending ratchet is made durable (FULL) by the client.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(StoreError::from)?;
    // With `synchronous=NORMAL` the WAL reaches the disk only at a checkpoint (or at the
    // durable commit that reserves message keys), and whatever was written since the
    // last one is flushed then, on the thread that happens to commit: SQLite's default
    // of 1,000 pages (~60 messages) made that a stall of 2-4 ms for one message in 60,
    // the p99 of the one-way latency. Checkpoints every 100 pages cost the same disk
    // work in smaller steps, each short enough to stay out of the tail (BENCHMARKS.md,
    // "The tail: checkpoints").
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT)
        .map_err(StoreError::from)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    #[test]
    fn deleted_rows_are_overwritten() {
        let home = std::env::temp_dir().join(format!("smc_vault_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        let conn = super::open(&home.join("state.db"), &home.join("state.salt"), None).unwrap();
        let on: i64 = conn
            .pragma_query_value(None, "secure_delete", |r| r.get(0))
            .unwrap();
        assert_eq!(on, 1);
        drop(conn);
        let _ = std::fs::remove_dir_all(&home);
    }
}
