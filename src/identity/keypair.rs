//! Static X25519 key pairs, stored in files created with mode 0600.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use data_encoding::HEXLOWER;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::KeyError;
use crate::identity::fingerprint;
use crate::net::NOISE_PARAMS;

const HEADER: &str = "smc static key v1";

/// A long-term Curve25519 key pair (the Noise static key of a server or a user).
/// The private half is wiped from memory on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StaticKeypair {
    private: [u8; 32],
    public: [u8; 32],
}

impl std::fmt::Debug for StaticKeypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticKeypair")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl StaticKeypair {
    /// A fresh key pair from the operating system's random source (through snow).
    pub fn generate() -> Result<Self, KeyError> {
        let params = NOISE_PARAMS
            .parse()
            .map_err(|e| KeyError::Generate(format!("{e:?}")))?;
        let pair = snow::Builder::new(params)
            .generate_keypair()
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let mut private = Zeroizing::new(pair.private);
        let mut key = StaticKeypair {
            private: [0; 32],
            public: [0; 32],
        };
        key.private.copy_from_slice(&private[..32]);
        key.public.copy_from_slice(&pair.public[..32]);
        private.zeroize();
        Ok(key)
    }

    /// A key pair from its two halves, as stored elsewhere (the client's encrypted
    /// state).
    pub(crate) fn from_parts(private: &[u8], public: &[u8]) -> Result<Self, KeyError> {
        if private.len() != 32 || public.len() != 32 {
            return Err(KeyError::Generate("a stored key is not 32 bytes".into()));
        }
        let mut key = StaticKeypair {
            private: [0; 32],
            public: [0; 32],
        };
        key.private.copy_from_slice(private);
        key.public.copy_from_slice(public);
        Ok(key)
    }

    /// Loads the key pair stored at `path`, or creates one there (mode 0600, written
    /// to a temporary file and renamed, so a crash never leaves half a key). A key
    /// file readable by group or others is refused, as ssh does.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        match fs::metadata(path) {
            Ok(meta) => {
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(KeyError::Malformed {
                        path: path.to_owned(),
                        reason: format!(
                            "its permissions {:o} let others read it; run chmod 600 on it",
                            meta.permissions().mode() & 0o777
                        ),
                    });
                }
                Self::load(path)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                key.save(path)?;
                Ok(key)
            }
            Err(source) => Err(KeyError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    fn load(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let bad = |reason: &str| KeyError::Malformed {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let text = Zeroizing::new(fs::read_to_string(path).map_err(io)?);
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(bad("missing header line"));
        }
        let mut key = StaticKeypair {
            private: [0; 32],
            public: [0; 32],
        };
        for (label, out) in [("private ", &mut key.private), ("public ", &mut key.public)] {
            let line = lines
                .next()
                .and_then(|l| l.strip_prefix(label))
                .ok_or_else(|| bad("missing key line"))?;
            let bytes = Zeroizing::new(
                HEXLOWER
                    .decode(line.as_bytes())
                    .map_err(|_| bad("key is not hexadecimal"))?,
            );
            if bytes.len() != 32 {
                return Err(bad("key is not 32 bytes"));
            }
            out.copy_from_slice(&bytes);
        }
        Ok(key)
    }

    fn save(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            // A home or data directory is private too (0700, tightened if it existed).
            crate::private_fs::private_dir(dir).map_err(io)?;
        }
        let text = Zeroizing::new(format!(
            "{HEADER}\nprivate {}\npublic {}\n",
            HEXLOWER.encode(&self.private),
            HEXLOWER.encode(&self.public)
        ));
        let tmp = path.with_extension("tmp");
        let _ = fs::remove_file(&tmp);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&tmp, path).map_err(io)
    }

    /// The public half (safe to share).
    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// The private half, for the Noise handshake only.
    pub(crate) fn private(&self) -> &[u8; 32] {
        &self.private
    }

    /// The public key's fingerprint.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public)
    }
}
