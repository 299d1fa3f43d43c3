//! The client's `known_servers` file: one pinned server key per address.
//!
//! Format: one line per server, `<address> <public key in hex>`; `#` starts a comment.
//! The first connection to an address pins the key it presents; later connections
//! must present the same key (checked before the client sends its own identity).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use data_encoding::HEXLOWER;

use crate::error::KeyError;

/// The outcome of checking a server key against the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// The address had no key yet; this one is now pinned.
    New,
    /// The key matches the pinned one.
    Matches,
    /// Another key is pinned for the address (its public key).
    Mismatch(Vec<u8>),
}

/// A `known_servers` file.
#[derive(Debug, Clone)]
pub struct KnownServers {
    path: PathBuf,
}

impl KnownServers {
    /// The file at `path` (created on the first pin).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        KnownServers { path: path.into() }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key pinned for `address`, if any.
    pub fn pinned(&self, address: &str) -> Result<Option<Vec<u8>>, KeyError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(KeyError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            if parts.next() == Some(address) {
                let hex = parts.next().unwrap_or("");
                let key = HEXLOWER
                    .decode(hex.as_bytes())
                    .map_err(|_| KeyError::Malformed {
                        path: self.path.clone(),
                        reason: format!("the key for {address} is not hexadecimal"),
                    })?;
                return Ok(Some(key));
            }
        }
        Ok(None)
    }

    /// Checks `key` for `address`, pinning it when the address is new.
    pub fn check_or_pin(&self, address: &str, key: &[u8]) -> Result<Pin, KeyError> {
        match self.pinned(address)? {
            Some(pinned) if pinned == key => Ok(Pin::Matches),
            Some(pinned) => Ok(Pin::Mismatch(pinned)),
            None => {
                let io = |source| KeyError::Io {
                    path: self.path.clone(),
                    source,
                };
                if let Some(dir) = self.path.parent() {
                    fs::create_dir_all(dir).map_err(io)?;
                }
                let mut file = fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .map_err(io)?;
                writeln!(file, "{address} {}", HEXLOWER.encode(key)).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(Pin::New)
            }
        }
    }
}
