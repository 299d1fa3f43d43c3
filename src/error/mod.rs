//! Typed errors, one enum per area of the crate, and [`ErrorKind`], the one
//! classification of them that every front end maps from.

mod kind;

pub use kind::{Classified, ErrorKind};

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

/// Errors of the v2 transport ([`crate::net`]): Noise handshake and encrypted frames.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Reading from or writing to the socket failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection.
    #[error("the connection was closed by the peer")]
    Closed,
    /// The peer did not finish the Noise handshake in time.
    #[error("the handshake did not complete within {0:?}")]
    HandshakeTimeout(std::time::Duration),
    /// The handshake failed (garbage, wrong protocol, bad keys).
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// A frame did not decrypt: tampering or a confused peer. The connection is closed.
    #[error("a frame failed to decrypt; connection closed")]
    Decrypt,
    /// A frame shorter than the authentication tag.
    #[error("malformed frame of {0} bytes")]
    BadFrame(usize),
    /// The rest of a frame did not arrive in time (slow-loris protection).
    #[error("a frame was not completed within {0:?}")]
    FrameTimeout(std::time::Duration),
    /// Nothing arrived for the idle timeout.
    #[error("no traffic for {0:?}; connection closed")]
    Idle(std::time::Duration),
    /// A message larger than the limit (1 MiB of payload by default).
    #[error("message of {size} bytes exceeds the {limit}-byte limit")]
    MessageTooLarge {
        /// Its size in bytes (at least).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A decrypted message that is not a valid protocol value.
    #[error("malformed protocol message: {0}")]
    Malformed(String),
    /// The server ended the session on purpose (a refused Hello, a flood, a store
    /// failure): why.
    #[error("session ended by the server: {0}")]
    Ended(String),
}

/// Errors of the v2 server's store ([`crate::server::store`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL reported an error (or cannot be reached).
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
    /// The database was written by a newer smc.
    #[error("the store's schema version {found} is newer than this smc supports ({supported})")]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// openmls's tables (the public state of the rooms' groups) could not be set up.
    #[error("MLS storage: {0}")]
    Mls(String),
    /// The data directory could not be created or used.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A value could not be encoded for storage.
    #[error("cannot encode a value for storage: {0}")]
    Encoding(String),
    /// The database file is damaged (bytes changed, cut short) or is not an smc store.
    #[error(
        "the store {path} is damaged or not an smc database ({detail}); nothing was changed: \
         `smc admin check` reports what SQLite finds, restore the file from a backup"
    )]
    Corrupt {
        /// The database file.
        path: std::path::PathBuf,
        /// What SQLite reported.
        detail: String,
    },
}

impl StoreError {
    /// Whether the failure is a full disk (SQLite's `SQLITE_FULL`, or `ENOSPC` / a file
    /// size limit from the system): a condition that passes when space returns.
    pub(crate) fn is_storage_full(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            StoreError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::FileTooLarge
            ),
            StoreError::Postgres(e) => e.code() == Some(&postgres::error::SqlState::DISK_FULL),
            _ => false,
        }
    }

    /// The refusal a client gets for this failure: [`crate::proto::Refusal::StorageFull`] for a full
    /// disk, [`crate::proto::Refusal::Internal`] otherwise (the details stay in the server's log).
    pub fn refusal(&self) -> crate::proto::Refusal {
        if self.is_storage_full() {
            crate::proto::Refusal::StorageFull
        } else {
            crate::proto::Refusal::Internal
        }
    }
}

/// Errors reading or creating key files and the `known_servers` file ([`crate::identity`]).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key or pin file could not be read or written.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A key file with the wrong content.
    #[error("{path} is not an smc key file: {reason}")]
    Malformed {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Key generation failed.
    #[error("key generation failed: {0}")]
    Generate(String),
}

/// Errors of the v2 server ([`crate::server`]).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The server could not listen on the address.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The server could not listen on its admin address.
    #[error("cannot listen on {address} (admin listener): {source}")]
    AdminBind {
        /// The address asked for.
        address: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The server's key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The runtime could not start.
    #[error("cannot start the server: {0}")]
    Runtime(std::io::Error),

    /// The bus between server nodes (`--bus nats://...`) cannot be used: a malformed
    /// address, or a subscription refused.
    #[error("bus {url}: {reason}")]
    Bus {
        /// The address given.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// Errors of the v2 client ([`crate::client`]).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Transport failure (I/O, handshake, decryption, size). A closed connection is
    /// [`ClientError::ConnectionClosed`], never `Net(NetError::Closed)`.
    #[error(transparent)]
    Net(NetError),
    /// The server presented a key other than the one pinned for its address.
    #[error(
        "the server at {address} presented key {presented}, but {pinned} is pinned in {known_servers}; \
         refusing to continue (if the server's key really changed, remove its line from that file)"
    )]
    ServerKeyChanged {
        /// The server's address.
        address: String,
        /// Fingerprint of the pinned key.
        pinned: String,
        /// Fingerprint of the key presented now.
        presented: String,
        /// The pin file.
        known_servers: std::path::PathBuf,
    },
    /// The server's key is not the one the user said to trust.
    #[error(
        "the server at {address} presented key {presented}, not {expected} as expected; \
         refusing to trust it"
    )]
    ServerNotTrusted {
        /// The server's address.
        address: String,
        /// The fingerprint the user expected.
        expected: String,
        /// Fingerprint of the key presented.
        presented: String,
    },
    /// The server refused the request.
    #[error(transparent)]
    Refused(#[from] crate::proto::Refusal),
    /// The client could not connect to the server.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// The server's address.
        address: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The connection is closed (or was never opened).
    #[error("not connected (the connection was closed)")]
    ConnectionClosed,
    /// The client's home directory (or its lock file) cannot be used.
    #[error("cannot use the home directory {path}: {source}")]
    Home {
        /// The directory or file.
        path: std::path::PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The server did not answer in time.
    #[error("the server did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// A user or room name that the protocol does not allow.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The client's key files.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The client's local state database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A message payload that is not UTF-8 where text is expected.
    #[error("message {id} is not UTF-8 text")]
    NotText {
        /// The message id.
        id: String,
    },
    /// The server answered something that does not fit the request.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// End-to-end encryption refused or failed.
    #[error(transparent)]
    E2e(#[from] E2eError),
    /// Another client (this process or another) has this home open: one home, one
    /// client at a time (they would share one MLS state and one outbox).
    #[error("{home} is in use by another smc client")]
    HomeInUse {
        /// The home directory.
        home: std::path::PathBuf,
    },
    /// A message of a room that cannot be shown: not decryptable, replayed, forged, or
    /// not bound to its room and sender. It is reported, never shown as text.
    #[error(
        "message {seq} of room {room} (from {sender}, says the server) cannot be read: {reason}"
    )]
    Undecryptable {
        /// The room.
        room: String,
        /// Its place in the room.
        seq: u64,
        /// The sender the server claims.
        sender: String,
        /// Why.
        reason: String,
    },
    /// A file could not be sent or received: unreadable, too large, or tampered with
    /// on the way (nothing is left at the destination).
    #[error(transparent)]
    File(#[from] AttachmentError),
    /// Linking a device failed on this side (a code that does not match or is not
    /// one, a grant that does not verify).
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A device's certificate or name is not acceptable.
    #[error(transparent)]
    Device(#[from] DeviceError),
}

impl From<NetError> for ClientError {
    /// The transport's errors, a closed connection folded into
    /// [`ClientError::ConnectionClosed`] (one variant for one condition).
    fn from(e: NetError) -> Self {
        match e {
            NetError::Closed => ClientError::ConnectionClosed,
            e => ClientError::Net(e),
        }
    }
}

/// Errors sealing a file for a room or opening a received one
/// (`e2e::attachment`). What a received file fails on leaves nothing at its
/// destination.
#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    /// A file could not be read, or the received one could not be written.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The file is larger than an attachment can be.
    #[error("{size} bytes is more than an attachment can hold ({max} at most)")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The file being sent is not a regular file, or was cut short while it was read.
    #[error("{path} {reason}")]
    Unreadable {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A chunk failed to open: changed, moved, taken from another file, or marked as
    /// the last one when it is not.
    #[error(
        "chunk {chunk} of the file does not open: it was tampered with, reordered or replaced"
    )]
    Tampered {
        /// Its position (from 0).
        chunk: u32,
    },
    /// The file ended before all its chunks came, or more came than it has.
    #[error("the file has {expected} chunks, {received} came")]
    WrongLength {
        /// How many chunks were received.
        received: u32,
        /// How many the sender announced.
        expected: u32,
    },
    /// Every chunk opened, but the content's SHA-256 is not the one its sender
    /// announced.
    #[error("the file's SHA-256 differs from the one its sender announced")]
    DigestMismatch,
    /// The transfer was stopped by its progress callback (nothing is left at a
    /// download's destination; an upload's chunks are deleted by the server's retention).
    #[error("the transfer was stopped by its progress callback")]
    Cancelled,
}

/// End-to-end encryption errors (MLS through openmls, the encrypted state).
#[derive(Debug, thiserror::Error)]
pub enum E2eError {
    /// An MLS operation failed.
    #[error("MLS {operation} failed: {detail}")]
    Mls {
        /// What was being done.
        operation: &'static str,
        /// openmls's description.
        detail: String,
    },
    /// The passphrase does not open the state (or one is needed, or the file is not
    /// an smc state database).
    #[error(
        "cannot open {path}: wrong passphrase (or it needs one), or the file is damaged or not \
         an smc state file"
    )]
    WrongPassphrase {
        /// The state file.
        path: std::path::PathBuf,
    },
    /// A key package the server handed out is not valid for the user asked for.
    #[error("the key package the server gave for {user} is not valid: {reason}")]
    BadKeyPackage {
        /// The user.
        user: String,
        /// Why.
        reason: String,
    },
    /// A user's key changed since this client last saw it: sending to rooms they are in
    /// waits until the change is acknowledged or the new safety number verified.
    #[error(
        "{user}'s key changed (their safety number is new): compare it, then verify or \
         acknowledge it before sending to rooms they are in"
    )]
    KeyChanged {
        /// The user.
        user: String,
    },
    /// No key is known for this user yet (no shared room, no key package seen).
    #[error("no key known for {user} yet")]
    UnknownKey {
        /// The user.
        user: String,
    },
    /// This client has no group for the room (not invited yet, or left).
    #[error("this client is not in the encrypted group of room {room}")]
    NoGroup {
        /// The room.
        room: String,
    },
    /// Other members kept changing the group while this client tried to.
    #[error("the group of room {room} kept changing; try again")]
    Busy {
        /// The room.
        room: String,
    },
}

/// Errors of device certificates ([`crate::identity::device`]).
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The certificate is another person's.
    #[error("the device certificate is {found}'s, not {expected}'s")]
    WrongUser {
        /// The person it was checked for.
        expected: String,
        /// The person it names.
        found: String,
    },
    /// The certificate is signed by another identity key than the person's.
    #[error("the device certificate is not signed by the person's identity key")]
    WrongIdentity,
    /// The signature does not verify (a field was changed, or it was never signed).
    #[error("the device certificate's signature does not verify")]
    BadSignature,
    /// A key that is not an Ed25519 public key.
    #[error("not an Ed25519 public key")]
    BadKey,
    /// A device name that cannot be shown as it is.
    #[error("device name {name:?}: {why}")]
    BadName {
        /// The name (cut to 64 characters).
        name: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A device id that is not 16 hex digits.
    #[error("{0:?} is not a device id (16 hex digits)")]
    BadId(String),
    /// Bytes that are not a certificate.
    #[error("malformed device certificate: {0}")]
    Malformed(String),
    /// The identity key could not sign.
    #[error("signing with the identity key failed: {0}")]
    Signing(String),
    /// The system's random generator failed.
    #[error("no randomness: {0}")]
    Random(String),
}

/// Errors of linking a device: a code that does not match, has expired or is not one.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Text that is not a link code.
    #[error("not a link code: {0}")]
    BadCode(&'static str),
    /// The two devices do not hold the same code (mistyped, guessed, or not this
    /// person's); the code is spent.
    #[error("the link code does not match (mistyped, or not this user's); ask for a new one")]
    WrongCode,
    /// The code's time is over.
    #[error("the link code has expired; ask for a new one")]
    Expired,
    /// The certificate granted does not vouch for what was asked.
    #[error("the device in use vouched for other keys than this device's")]
    Mismatch,
    /// Only the user's first device (which holds the identity key) links and revokes.
    #[error("only the user's first device links and revokes devices")]
    NotFirstDevice,
    /// A device is linked on a new home only (one that never connected).
    #[error("this home has been used already: link a device on a new home")]
    HomeInUse,
    /// A message of the exchange is malformed.
    #[error("malformed link message: {0}")]
    Malformed(String),
    /// The certificate is not acceptable.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The system's random generator failed.
    #[error("no randomness: {0}")]
    Random(String),
}
