//! The legacy server's files: `log.txt` (one line per message, the source of replies)
//! and `log_connection.txt` (one line per accepted connection).
//!
//! [`MessageLog`] keeps the last two lines of `log.txt` in memory, so a reply does not
//! re-read the file, and appends each message before its reply is computed. It is
//! used under one lock: concurrent clients never interleave or lose lines.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::LegacyError;
use crate::legacy::wire::{reply_from_line, MAX_MESSAGE};

/// Name of the message log, as in the originals.
pub const LOG_FILE: &str = "log.txt";
/// Name of the connection log, as in the originals.
pub const CONNECTION_LOG_FILE: &str = "log_connection.txt";

fn open_append(path: &Path) -> Result<File, LegacyError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .map_err(|source| LegacyError::LogFile {
            path: path.to_owned(),
            source,
        })
}

/// `log.txt`, appended to, with its last two lines remembered.
#[derive(Debug)]
pub struct MessageLog {
    file: File,
    path: PathBuf,
    /// The line before the last, if the file has two lines or more.
    previous: Option<Vec<u8>>,
    /// The last line, if any.
    last: Option<Vec<u8>>,
    /// Whether the file ends with a line terminator (else the next write continues it).
    complete: bool,
}

impl MessageLog {
    /// Opens (creating if needed) `log.txt` in `dir` and reads its last lines.
    ///
    /// # Errors
    /// [`LegacyError::LogFile`] when the file cannot be opened or read.
    pub fn open(dir: &Path) -> Result<MessageLog, LegacyError> {
        let path = dir.join(LOG_FILE);
        let mut file = open_append(&path)?;
        let err = |source| LegacyError::LogFile {
            path: path.clone(),
            source,
        };
        // Two lines are at most two messages long: read only the file's tail.
        let len = file.seek(SeekFrom::End(0)).map_err(err)?;
        let start = len.saturating_sub(2 * MAX_MESSAGE as u64 + 4);
        file.seek(SeekFrom::Start(start)).map_err(err)?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).map_err(err)?;
        let mut log = MessageLog {
            file,
            path: path.clone(),
            previous: None,
            last: None,
            complete: true,
        };
        log.track(&tail);
        Ok(log)
    }

    /// The path of `log.txt`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Follows the lines of `bytes`, appended to the file, as Python's text mode reads
    /// them (`\n`, `\r\n`, `\r`).
    fn track(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let end = rest
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .unwrap_or(rest.len());
            let piece = &rest[..end];
            if self.complete {
                self.previous = self.last.take();
                self.last = Some(piece.to_vec());
            } else if let Some(last) = self.last.as_mut() {
                last.extend_from_slice(piece);
            }
            let skip = match rest.get(end) {
                Some(b'\r') if rest.get(end + 1) == Some(&b'\n') => 2,
                Some(_) => 1,
                None => 0,
            };
            // A lone '\r' at the very end may be the first half of "\r\n": treated as
            // an end of line, as Python does when it reads the whole file.
            self.complete = skip > 0;
            rest = &rest[end + skip..];
        }
    }

    /// Appends `message` and a newline to `log.txt` (written before this returns), then
    /// gives the reply: the line before the last one, or the only line, `@` made `,`.
    ///
    /// # Errors
    /// [`LegacyError::LogFile`] when the write fails; nothing is tracked then.
    pub fn append(&mut self, message: &[u8]) -> Result<Vec<u8>, LegacyError> {
        let mut line = Vec::with_capacity(message.len() + 1);
        line.extend_from_slice(message);
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|source| LegacyError::LogFile {
                path: self.path.clone(),
                source,
            })?;
        self.track(&line);
        let source = self.previous.as_ref().or(self.last.as_ref());
        Ok(source.map(|l| reply_from_line(l)).unwrap_or_default())
    }
}

/// `log_connection.txt`, appended to.
#[derive(Debug)]
pub struct ConnectionLog {
    file: File,
    path: PathBuf,
}

impl ConnectionLog {
    /// Opens (creating if needed) `log_connection.txt` in `dir`.
    ///
    /// # Errors
    /// [`LegacyError::LogFile`] when the file cannot be opened.
    pub fn open(dir: &Path) -> Result<ConnectionLog, LegacyError> {
        let path = dir.join(CONNECTION_LOG_FILE);
        Ok(ConnectionLog {
            file: open_append(&path)?,
            path,
        })
    }

    /// Appends `<isoformat now>> <description> connected on server \n`.
    ///
    /// # Errors
    /// [`LegacyError::LogFile`] when the write fails.
    pub fn record(&mut self, description: &str) -> Result<(), LegacyError> {
        let line = format!(
            "{}> {description} connected on server \n",
            crate::legacy::wire::now_isoformat()
        );
        self.file
            .write_all(line.as_bytes())
            .map_err(|source| LegacyError::LogFile {
                path: self.path.clone(),
                source,
            })
    }
}

/// The Python repr the originals logged for an accepted socket, rebuilt for smc's own
/// connections: `<socket.socket fd=N, family=2, type=1, proto=0, laddr=(...), raddr=(...)>`.
pub(crate) fn socket_description(
    fd: i64,
    local: std::net::SocketAddr,
    peer: std::net::SocketAddr,
) -> String {
    let family = if local.is_ipv4() { 2 } else { 10 };
    format!(
        "<socket.socket fd={fd}, family={family}, type=1, proto=0, laddr=('{}', {}), raddr=('{}', {})>",
        local.ip(),
        local.port(),
        peer.ip(),
        peer.port()
    )
}

/// The originals' `log(data)`: appends `data` and a newline to `log.txt` in `dir`.
///
/// # Errors
/// [`LegacyError::LogFile`].
pub fn append_line(dir: &Path, data: &str) -> Result<(), LegacyError> {
    let path = dir.join(LOG_FILE);
    let mut file = open_append(&path)?;
    file.write_all(format!("{data}\n").as_bytes())
        .map_err(|source| LegacyError::LogFile { path, source })
}

/// The originals' `list_log()`: the lines of `log.txt` in `dir`, each split on `@`.
/// Bytes that are not UTF-8 (old cp1252 logs) are read as U+FFFD.
///
/// # Errors
/// [`LegacyError::LogFile`] when the file cannot be read (the originals raised
/// FileNotFoundError when it did not exist yet).
pub fn read_list_log(dir: &Path) -> Result<Vec<Vec<String>>, LegacyError> {
    let path = dir.join(LOG_FILE);
    let bytes = std::fs::read(&path).map_err(|source| LegacyError::LogFile { path, source })?;
    Ok(crate::legacy::wire::list_log(&String::from_utf8_lossy(
        &bytes,
    )))
}
