//! The receiving side: sealed chunks opened in order into a private temporary file
//! beside the destination, which takes the destination's name only once the whole
//! file is there and matches what its sender announced.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::chunk::ChunkCipher;
use super::{chunk_count, chunk_len, FileKey, MAX_FILE_SIZE, TAG_SIZE};
use crate::error::AttachmentError;

/// A file being received. Chunks come in order ([`Download::next_chunk`] says which
/// one is expected: where a cut transfer resumes); [`Download::finish`] puts the file
/// in place. Dropped before that, or failed, it removes its temporary file.
pub(crate) struct Download {
    dest: PathBuf,
    temp: PathBuf,
    file: Option<File>,
    cipher: ChunkCipher,
    size: u64,
    count: u32,
    next: u32,
    hasher: Sha256,
    digest: [u8; 32],
}

impl Download {
    /// Starts receiving, into `dest`, the file of `size` bytes whose content has the
    /// SHA-256 `digest`, sealed under `key`: the three come from the message that
    /// announced it. The temporary file is created (0600) in `dest`'s directory, so
    /// that the final rename stays on one file system.
    pub(crate) fn begin(
        dest: &Path,
        key: &FileKey,
        size: u64,
        digest: [u8; 32],
    ) -> Result<Self, AttachmentError> {
        let count = chunk_count(size).ok_or(AttachmentError::TooLarge {
            size,
            max: MAX_FILE_SIZE,
        })?;
        dest.file_name().ok_or_else(|| AttachmentError::Io {
            path: dest.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the destination names no file",
            ),
        })?;
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| AttachmentError::Io {
            path: "the system's random source".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        // Hidden, and short whatever the destination's name is.
        let temp = dest.with_file_name(format!(
            ".smc-{}.part",
            data_encoding::HEXLOWER.encode(&random)
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|source| AttachmentError::Io {
                path: temp.clone(),
                source,
            })?;
        Ok(Download {
            dest: dest.to_owned(),
            temp,
            file: Some(file),
            cipher: ChunkCipher::new(key),
            size,
            count,
            next: 0,
            hasher: Sha256::new(),
            digest,
        })
    }

    /// The position of the chunk expected next (from 0).
    pub(crate) fn next_chunk(&self) -> u32 {
        self.next
    }

    /// Opens `sealed`, the next `count` chunks one after the other, in place, and
    /// appends their content to the file. Its length must be exactly theirs: it is
    /// checked before any work on them.
    pub(crate) fn push(&mut self, sealed: Vec<u8>, count: u32) -> Result<(), AttachmentError> {
        let index = self.next;
        let end = index
            .checked_add(count)
            .filter(|&end| end <= self.count && count > 0);
        let Some(end) = end else {
            return Err(AttachmentError::WrongLength {
                received: index.saturating_add(count),
                expected: self.count,
            });
        };
        let expected: usize = (index..end)
            .map(|i| chunk_len(self.size, i) + TAG_SIZE)
            .sum();
        if sealed.len() != expected {
            return Err(AttachmentError::Tampered { chunk: index });
        }
        // Opened where they lie; wiped once written.
        let mut plain = zeroize::Zeroizing::new(sealed);
        let mut at = 0;
        for i in index..end {
            let len = chunk_len(self.size, i);
            let region = &mut plain[at..at + len + TAG_SIZE];
            self.cipher
                .open(i, i + 1 == self.count, region)
                .ok_or(AttachmentError::Tampered { chunk: i })?;
            let file = self.file.as_mut().ok_or(AttachmentError::WrongLength {
                received: i,
                expected: self.count,
            })?;
            file.write_all(&region[..len])
                .map_err(|source| AttachmentError::Io {
                    path: self.temp.clone(),
                    source,
                })?;
            self.hasher.update(&region[..len]);
            self.next += 1;
            at += len + TAG_SIZE;
        }
        Ok(())
    }

    /// Checks that every chunk came and the content is the one announced, makes it
    /// durable, and renames it to the destination (replacing a file of that name).
    pub(crate) fn finish(mut self) -> Result<PathBuf, AttachmentError> {
        if self.next != self.count {
            return Err(AttachmentError::WrongLength {
                received: self.next,
                expected: self.count,
            });
        }
        let digest: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        if digest != self.digest {
            return Err(AttachmentError::DigestMismatch);
        }
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| AttachmentError::Io { path, source }
        };
        if let Some(file) = self.file.take() {
            file.sync_all().map_err(io(&self.temp))?;
        }
        std::fs::rename(&self.temp, &self.dest).map_err(io(&self.dest))?;
        // The rename itself is durable once the directory is.
        if let Some(dir) = self.dest.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io(dir))?;
        }
        // Nothing left to remove.
        self.temp = PathBuf::new();
        Ok(std::mem::take(&mut self.dest))
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}
