//! The client's `known_servers` file: one pinned server key per address.
//!
//! Format: one line per server, `<address> <public key in hex>`; `#` starts a comment.
//! The first connection to an address pins the key it presents; later connections
//! must present the same key (checked before the client sends its own identity).
//! Addresses are compared without regard to case, and an address met for the first
//! time that reaches the same socket address as a pinned one (`localhost:1` and
//! `127.0.0.1:1`) inherits that pin: another spelling is not a new first use.

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

    /// The `(address, key)` lines of the file.
    fn entries(&self) -> Result<Vec<(String, Vec<u8>)>, KeyError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(KeyError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let mut out = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let address = parts.next().unwrap_or("");
            let hex = parts.next().unwrap_or("");
            let key = HEXLOWER
                .decode(hex.as_bytes())
                .map_err(|_| KeyError::Malformed {
                    path: self.path.clone(),
                    reason: format!("the key for {address} is not hexadecimal"),
                })?;
            out.push((address.to_owned(), key));
        }
        Ok(out)
    }

    /// The key pinned for `address`, if any: under that address (any case), or under
    /// another address that reaches the same socket address.
    pub fn pinned(&self, address: &str) -> Result<Option<Vec<u8>>, KeyError> {
        Ok(self.lookup(address)?.map(|(key, _)| key))
    }

    /// The pinned key and whether it was found under this very address.
    fn lookup(&self, address: &str) -> Result<Option<(Vec<u8>, bool)>, KeyError> {
        let entries = self.entries()?;
        let wanted = normalize(address);
        if let Some((_, key)) = entries.iter().find(|(a, _)| normalize(a) == wanted) {
            return Ok(Some((key.clone(), true)));
        }
        let here = resolve(address);
        if here.is_empty() {
            return Ok(None);
        }
        Ok(entries
            .into_iter()
            .find(|(a, _)| resolve(a).iter().any(|s| here.contains(s)))
            .map(|(_, key)| (key, false)))
    }

    /// Checks `key` for `address`, pinning it when the address is new.
    pub fn check_or_pin(&self, address: &str, key: &[u8]) -> Result<Pin, KeyError> {
        match self.lookup(address)? {
            Some((pinned, _)) if pinned != key => Ok(Pin::Mismatch(pinned)),
            Some((_, true)) => Ok(Pin::Matches),
            found => {
                let io = |source| KeyError::Io {
                    path: self.path.clone(),
                    source,
                };
                if let Some(dir) = self.path.parent() {
                    crate::private_fs::private_dir(dir).map_err(io)?;
                }
                // 0600: which servers this user talks to is nobody else's business.
                let mut file = crate::private_fs::append_private(&self.path).map_err(io)?;
                writeln!(file, "{} {}", normalize(address), HEXLOWER.encode(key)).map_err(io)?;
                file.sync_all().map_err(io)?;
                // Another spelling of a pinned server: recorded, but no new trust.
                Ok(if found.is_some() {
                    Pin::Matches
                } else {
                    Pin::New
                })
            }
        }
    }
}

/// An address as compared: trimmed, lower case (host names are case-insensitive).
fn normalize(address: &str) -> String {
    address.trim().to_lowercase()
}

/// The socket addresses `address` reaches (none if it does not resolve).
fn resolve(address: &str) -> Vec<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    address
        .to_socket_addrs()
        .map(|a| a.collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_spelling_of_a_pinned_server_inherits_its_pin() {
        let dir = std::env::temp_dir().join(format!("smc_known_{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let known = KnownServers::new(dir.join("known_servers"));
        assert_eq!(
            known.check_or_pin("127.0.0.1:5999", &[1; 32]).unwrap(),
            Pin::New
        );
        assert_eq!(
            known.check_or_pin("localhost:5999", &[2; 32]).unwrap(),
            Pin::Mismatch(vec![1; 32]),
            "a new spelling is not a new first use"
        );
        assert_eq!(
            known.check_or_pin("LocalHost:5999", &[1; 32]).unwrap(),
            Pin::Matches
        );
        assert_eq!(known.pinned("LOCALHOST:5999").unwrap(), Some(vec![1; 32]));
        assert_eq!(
            known.check_or_pin("127.0.0.1:6000", &[3; 32]).unwrap(),
            Pin::New
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
