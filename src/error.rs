//! Typed errors, one enum per area of the crate.

/// Errors of the legacy affine cipher ([`crate::legacy::cipher`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// A character that is not a one-character entry of the cipher table
    /// (for decryption, the two-character entry backslash+space is also accepted).
    #[error("unsupported character {character:?} at position {position}")]
    UnsupportedCharacter {
        /// The offending character.
        character: char,
        /// Its position in the text, counted in characters from 0.
        position: usize,
    },
    /// The multiplier `a` has no inverse modulo 97 (`a % 97 == 0`).
    #[error("a = {a} is not coprime with 97: no affine key uses it")]
    NotCoprime {
        /// The multiplier as given (before reduction modulo 97).
        a: i64,
    },
    /// The per-character functions take one table entry; this string is none.
    #[error("{0:?} is not an entry of the cipher table")]
    NotAnEntry(String),
}

/// Errors of the legacy server and client ([`crate::legacy`]).
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// A log file could not be opened or written.
    #[error("cannot use log file {path}: {source}")]
    LogFile {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The server could not listen on the address.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The client could not connect to the server.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// The server's address.
        address: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Reading from or writing to the connection failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection.
    #[error("the connection was closed by the peer")]
    ConnectionClosed,
    /// The peer closed the connection right after part of a message.
    #[error(
        "the peer closed the connection in the middle of a message ({received} bytes received)"
    )]
    ClosedMidMessage {
        /// Bytes received before the close.
        received: usize,
    },
    /// A message longer than the 64 KiB limit.
    #[error("message of {size} bytes exceeds the {limit}-byte limit")]
    MessageTooLong {
        /// Its size in bytes (at least).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Bytes that are not UTF-8 where text was expected.
    #[error("received bytes that are not valid UTF-8 (at byte {valid_up_to})")]
    NotUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// The text to send cannot be encrypted with the legacy cipher.
    #[error(transparent)]
    Cipher(#[from] CipherError),
    /// The server's reply could not be parsed.
    #[error("unparseable reply from the server: {0:?}")]
    BadReply(String),
    /// The server was already stopped.
    #[error("the server is not running")]
    NotRunning,
}
