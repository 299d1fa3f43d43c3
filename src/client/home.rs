//! The layout of a client's home directory: the one place that names its files.
//!
//! A home holds one user's identity and everything the client keeps for it:
//!
//! | file | what |
//! | --- | --- |
//! | `identity.key` | the transport (Noise) key, 0600; absent when the state is encrypted, which then holds it |
//! | `state.db` | the client's state (SQLite, SQLCipher with a passphrase), 0600 |
//! | `state.salt` | the Argon2id salt of the passphrase, 0600 |
//! | `known_servers` | the pinned server keys |
//! | `lock` | held (flock) by the one client using the home |
//! | `chat.log` | the full-screen console client's log |

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::ClientError;

/// How long [`Home::lock`] waits for a lock held by someone else before it reports
/// [`ClientError::HomeInUse`].
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(500);

/// A client's home directory and the names of its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// The home in `dir` (nothing is created until a client opens it).
    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }

    /// The default home of `user`: `$XDG_DATA_HOME/smc/USER`, else
    /// `~/.local/share/smc/USER`, else `./smc/USER`.
    pub fn default_for(user: &str) -> Home {
        let base = std::env::var_os("XDG_DATA_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        Home::new(base.join("smc").join(user))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The transport key file (used when the state is not encrypted).
    pub(crate) fn identity_key(&self) -> PathBuf {
        self.dir.join("identity.key")
    }

    /// The state database.
    pub(crate) fn state_db(&self) -> PathBuf {
        self.dir.join("state.db")
    }

    /// The salt of the passphrase's key derivation.
    pub(crate) fn state_salt(&self) -> PathBuf {
        self.dir.join("state.salt")
    }

    /// The pinned server keys.
    pub fn known_servers(&self) -> PathBuf {
        self.dir.join("known_servers")
    }

    /// The file whose lock marks the home as in use.
    pub(crate) fn lock_file(&self) -> PathBuf {
        self.dir.join("lock")
    }

    /// The full-screen console client's log.
    pub fn chat_log(&self) -> PathBuf {
        self.dir.join("chat.log")
    }

    /// Whether no identity was created here yet (no state database).
    pub fn is_new(&self) -> bool {
        !self.state_db().exists()
    }

    /// Creates the directory if needed, private (0700): it holds the keys, the pins and
    /// what was received. A directory that already exists is tightened to 0700.
    pub(crate) fn create(&self) -> Result<(), ClientError> {
        crate::private_fs::private_dir(&self.dir).map_err(|source| ClientError::Home {
            path: self.dir.clone(),
            source,
        })
    }

    /// Takes the home's exclusive lock, held as long as the returned file is open (also
    /// released when the process dies); [`ClientError::HomeInUse`] if another client
    /// holds it for longer than half a second.
    pub(crate) fn lock(&self) -> Result<File, ClientError> {
        let path = self.lock_file();
        let io = |source| ClientError::Home {
            path: path.clone(),
            source,
        };
        let file = std::os::unix::fs::OpenOptionsExt::mode(
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true),
            0o600,
        )
        .open(&path)
        .map_err(io)?;
        // A lock held for a moment (a process forking to run a program holds its
        // parent's descriptors until the exec closes them) is waited out, briefly.
        let deadline = std::time::Instant::now() + LOCK_PATIENCE;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(ClientError::HomeInUse {
                        home: self.dir.clone(),
                    })
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Home;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_home_is_created_private_and_locked_once() {
        let dir = std::env::temp_dir().join(format!("smc-home-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let home = Home::new(dir.join("alice"));
        assert!(home.is_new());
        home.create().unwrap();
        let mode = std::fs::metadata(home.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let held = home.lock().unwrap();
        assert!(matches!(
            home.lock(),
            Err(crate::ClientError::HomeInUse { .. })
        ));
        drop(held);
        home.lock().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
