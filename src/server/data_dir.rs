//! The layout of a server's data directory: the one place that names its files.
//!
//! | file | what |
//! | --- | --- |
//! | `server.key` | the server's static (Noise) key, 0600: what clients pin |
//! | `smc.db` (+ `-wal`, `-shm`, `-journal`) | the store, 0600 |

use std::path::{Path, PathBuf};

/// A server's data directory and the names of its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    dir: PathBuf,
}

impl DataDir {
    /// The data directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> DataDir {
        DataDir { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's key file.
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// The store's database file.
    pub fn database(&self) -> PathBuf {
        self.dir.join("smc.db")
    }

    /// The directory of the chunks of files sent in rooms, one file per blob (on
    /// SQLite; a cluster keeps them in PostgreSQL).
    pub fn blobs(&self) -> PathBuf {
        self.dir.join("blobs")
    }

    /// Every file SQLite may keep for the store (the database, its write-ahead log,
    /// shared memory and rollback journal).
    pub(crate) fn database_files(&self) -> [PathBuf; 4] {
        ["smc.db", "smc.db-wal", "smc.db-shm", "smc.db-journal"].map(|n| self.dir.join(n))
    }

    /// Whether a store was created here.
    pub fn holds_data(&self) -> bool {
        self.database().exists()
    }
}
