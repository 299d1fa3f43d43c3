//! The sending side: a file on disk, sealed one chunk at a time.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::chunk::ChunkCipher;
use super::{chunk_count, chunk_len, FileKey, CHUNK_SIZE, MAX_FILE_SIZE, TAG_SIZE};
use crate::error::AttachmentError;

/// A file being sent: its size is taken when it is opened, and each chunk is read
/// from the file and sealed when it is asked for, so that memory holds one chunk
/// whatever the file's size, and a transfer can resume from any chunk.
pub(crate) struct SealedFile {
    path: PathBuf,
    file: File,
    size: u64,
    count: u32,
    key: FileKey,
    cipher: ChunkCipher,
    /// The SHA-256 of the chunks sealed so far in order, and the next one it takes.
    hasher: Sha256,
    hashed: u32,
}

impl SealedFile {
    /// Opens the regular file at `path` to send it, under a fresh key.
    pub(crate) fn open(path: &Path) -> Result<Self, AttachmentError> {
        let io = |source| AttachmentError::Io {
            path: path.to_owned(),
            source,
        };
        // Without blocking: opening a FIFO for reading would otherwise wait for a
        // writer, maybe forever, before it could be refused below. The flag changes
        // nothing for a regular file.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(AttachmentError::Unreadable {
                path: path.to_owned(),
                reason: "is not a regular file",
            });
        }
        let size = meta.len();
        let count = chunk_count(size).ok_or(AttachmentError::TooLarge {
            size,
            max: MAX_FILE_SIZE,
        })?;
        let key = FileKey::generate()?;
        Ok(SealedFile {
            path: path.to_owned(),
            file,
            size,
            count,
            cipher: ChunkCipher::new(&key),
            key,
            hasher: Sha256::new(),
            hashed: 0,
        })
    }

    /// The file's size in bytes (when it was opened).
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// How many chunks it is sealed in.
    pub(crate) fn chunk_count(&self) -> u32 {
        self.count
    }

    /// Its key, for the message that announces it.
    pub(crate) fn key(&self) -> &FileKey {
        &self.key
    }

    /// Chunk `index`, read from the file and sealed.
    #[cfg(test)]
    pub(crate) fn chunk(&mut self, index: u32) -> Result<Vec<u8>, AttachmentError> {
        self.chunks(index, 1)
    }

    /// `count` chunks from chunk `index` on (none past the last), read from the file
    /// and sealed, one after the other in the vector returned: each chunk's plaintext
    /// is read into its place there and sealed where it lies (never copied, and
    /// overwritten by its ciphertext, or wiped).
    pub(crate) fn chunks(&mut self, index: u32, count: u32) -> Result<Vec<u8>, AttachmentError> {
        let end = index
            .checked_add(count)
            .filter(|&end| end <= self.count && count > 0);
        let Some(end) = end else {
            return Err(AttachmentError::WrongLength {
                received: index.saturating_add(count),
                expected: self.count,
            });
        };
        let total = (index..end)
            .map(|i| chunk_len(self.size, i) + TAG_SIZE)
            .sum();
        let mut buf = zeroize::Zeroizing::new(vec![0u8; total]);
        let mut at = 0;
        for i in index..end {
            let len = chunk_len(self.size, i);
            let region = &mut buf[at..at + len + TAG_SIZE];
            self.read_at(i, &mut region[..len])?;
            if i == self.hashed {
                self.hasher.update(&region[..len]);
                self.hashed += 1;
            }
            self.cipher
                .seal(i, i + 1 == self.count, region)
                .ok_or(AttachmentError::TooLarge {
                    size: self.size,
                    max: MAX_FILE_SIZE,
                })?;
            at += len + TAG_SIZE;
        }
        // Sealed: nothing in it is secret any more, so it leaves its wiping wrapper.
        Ok(std::mem::take(&mut *buf))
    }

    /// Reads the plaintext of chunk `index` into `plain` (its length).
    fn read_at(&self, index: u32, plain: &mut [u8]) -> Result<(), AttachmentError> {
        let offset = u64::from(index) * CHUNK_SIZE as u64;
        self.file
            .read_exact_at(plain, offset)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => AttachmentError::Unreadable {
                    path: self.path.clone(),
                    reason: "was cut short while it was being sent",
                },
                _ => AttachmentError::Io {
                    path: self.path.clone(),
                    source: e,
                },
            })
    }

    /// The SHA-256 of the content, once every chunk was sealed at least once, in
    /// order: what the receiver checks the opened file against.
    pub(crate) fn digest(&self) -> Option<[u8; 32]> {
        (self.hashed == self.count).then(|| self.hasher.clone().finalize().into())
    }
}
