//! One classification of every error of the crate, for the front ends: the C ABI maps
//! each [`ErrorKind`] to an `smc_status`, the Python package to an exception class, the
//! console client decides from it whether to reconnect. Each error enum has a `kind()`
//! and every front end matches `ErrorKind` exhaustively, so that a new kind cannot be
//! forgotten by one of them and the front ends cannot disagree on what an error is.

use super::{AttachmentError, DeviceError, LinkError, ServerError, StoreError};
use super::{CipherError, ClientError, E2eError, KeyError, LegacyError, NetError};
use crate::proto::Refusal;

/// What kind of failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A character the legacy cipher table does not have.
    UnsupportedCharacter,
    /// The legacy key's `a` is not coprime with 97.
    NotCoprime,
    /// A string that is not one entry of the legacy cipher table.
    NotATableEntry,
    /// An argument outside its domain (a name the protocol does not allow...).
    InvalidArgument,
    /// Bytes that are not UTF-8 text where text is expected.
    NotText,
    /// A local file or directory could not be used (keys, state, logs, a port to listen on).
    Io,
    /// The server could not be reached, or the network failed under a connection.
    Unreachable,
    /// Another client has this home open.
    HomeInUse,
    /// The peer closed the connection.
    ConnectionClosed,
    /// The peer did not answer in time.
    Timeout,
    /// A message larger than the protocol allows.
    MessageTooLong,
    /// The peer does not follow the protocol.
    Protocol,
    /// The server's key differs from the one pinned for its address.
    ServerKeyChanged,
    /// The server's key is not the one the user said to trust.
    ServerNotTrusted,
    /// Not a member of the room.
    NotAMember,
    /// No pending invitation to the room.
    NotInvited,
    /// No such user.
    UnknownUser,
    /// No such room.
    UnknownRoom,
    /// A room of that name exists already.
    RoomExists,
    /// The name is registered to another key.
    NameTaken,
    /// The server registers this name by token only, or nobody new.
    RegistrationRefused,
    /// A group change (or a message) for an epoch the group has left.
    StaleEpoch,
    /// The user has published no key package.
    NoKeyPackage,
    /// Too many requests.
    RateLimited,
    /// A server quota is full.
    QuotaExceeded,
    /// A request the protocol does not allow.
    InvalidRequest,
    /// Client and server speak different protocol versions.
    VersionMismatch,
    /// The server failed to carry out the request; nothing was stored.
    ServerFailure,
    /// The server's disk is full; nothing was stored.
    StorageFull,
    /// A member's key changed and is not acknowledged yet.
    KeyChanged,
    /// A message that cannot be read.
    Undecryptable,
    /// The passphrase does not open the state.
    WrongPassphrase,
    /// End-to-end encryption failed otherwise.
    Encryption,
    /// A file is not on the server: unknown, its upload not complete, not the caller's
    /// to read, or deleted after the server's retention.
    FileUnavailable,
    /// The program stopped the transfer (its progress callback said so).
    Cancelled,
    /// This device was revoked by its user.
    DeviceRevoked,
    /// Linking a device failed (no such code, expired, used, or not matching).
    LinkRefused,
}

impl ErrorKind {
    /// Every kind, once.
    pub const ALL: [ErrorKind; 37] = [
        ErrorKind::UnsupportedCharacter,
        ErrorKind::NotCoprime,
        ErrorKind::NotATableEntry,
        ErrorKind::InvalidArgument,
        ErrorKind::NotText,
        ErrorKind::Io,
        ErrorKind::Unreachable,
        ErrorKind::HomeInUse,
        ErrorKind::ConnectionClosed,
        ErrorKind::Timeout,
        ErrorKind::MessageTooLong,
        ErrorKind::Protocol,
        ErrorKind::ServerKeyChanged,
        ErrorKind::ServerNotTrusted,
        ErrorKind::NotAMember,
        ErrorKind::NotInvited,
        ErrorKind::UnknownUser,
        ErrorKind::UnknownRoom,
        ErrorKind::RoomExists,
        ErrorKind::NameTaken,
        ErrorKind::RegistrationRefused,
        ErrorKind::StaleEpoch,
        ErrorKind::NoKeyPackage,
        ErrorKind::RateLimited,
        ErrorKind::QuotaExceeded,
        ErrorKind::InvalidRequest,
        ErrorKind::VersionMismatch,
        ErrorKind::ServerFailure,
        ErrorKind::StorageFull,
        ErrorKind::KeyChanged,
        ErrorKind::Undecryptable,
        ErrorKind::WrongPassphrase,
        ErrorKind::Encryption,
        ErrorKind::FileUnavailable,
        ErrorKind::Cancelled,
        ErrorKind::DeviceRevoked,
        ErrorKind::LinkRefused,
    ];

    /// The connection is gone (or never came): reconnecting may help.
    pub fn is_disconnect(self) -> bool {
        matches!(
            self,
            ErrorKind::ConnectionClosed
                | ErrorKind::Timeout
                | ErrorKind::Unreachable
                | ErrorKind::Protocol
        )
    }

    /// Trying again cannot help: the user has to act (a changed server key, a name
    /// held by someone else, another protocol version, a wrong passphrase).
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            ErrorKind::ServerKeyChanged
                | ErrorKind::ServerNotTrusted
                | ErrorKind::NameTaken
                | ErrorKind::VersionMismatch
                | ErrorKind::WrongPassphrase
                | ErrorKind::DeviceRevoked
        )
    }
}

/// An error of this crate: it says what kind of failure it is. Lets a front end turn
/// any of them into its own form in one place (the C ABI's `Failure`).
pub trait Classified: std::error::Error {
    /// What kind of failure this is.
    fn kind(&self) -> ErrorKind;
}

macro_rules! classified {
    ($($t:ty),*) => {$(
        impl Classified for $t {
            fn kind(&self) -> ErrorKind {
                <$t>::kind(self)
            }
        }
    )*};
}

classified!(
    CipherError,
    LegacyError,
    NetError,
    StoreError,
    KeyError,
    ServerError,
    ClientError,
    E2eError,
    AttachmentError,
    DeviceError,
    LinkError,
    Refusal
);

impl DeviceError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DeviceError::BadName { .. } | DeviceError::BadId(_) => ErrorKind::InvalidArgument,
            DeviceError::Signing(_) | DeviceError::Random(_) => ErrorKind::Encryption,
            DeviceError::WrongUser { .. }
            | DeviceError::WrongIdentity
            | DeviceError::BadSignature
            | DeviceError::BadKey
            | DeviceError::Malformed(_) => ErrorKind::Protocol,
        }
    }
}

impl LinkError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LinkError::BadCode(_) => ErrorKind::InvalidArgument,
            LinkError::WrongCode
            | LinkError::Expired
            | LinkError::Mismatch
            | LinkError::NotFirstDevice => ErrorKind::LinkRefused,
            LinkError::HomeInUse => ErrorKind::InvalidArgument,
            LinkError::Malformed(_) => ErrorKind::Protocol,
            LinkError::Device(e) => e.kind(),
            LinkError::Random(_) => ErrorKind::Encryption,
        }
    }
}

impl CipherError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CipherError::UnsupportedCharacter { .. } => ErrorKind::UnsupportedCharacter,
            CipherError::NotCoprime { .. } => ErrorKind::NotCoprime,
            CipherError::NotAnEntry(_) => ErrorKind::NotATableEntry,
        }
    }
}

impl LegacyError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LegacyError::Cipher(c) => c.kind(),
            LegacyError::LogFile { .. } | LegacyError::Bind { .. } | LegacyError::NotRunning => {
                ErrorKind::Io
            }
            LegacyError::Connect { .. } | LegacyError::Io(_) => ErrorKind::Unreachable,
            LegacyError::ConnectionClosed | LegacyError::ClosedMidMessage { .. } => {
                ErrorKind::ConnectionClosed
            }
            LegacyError::MessageTooLong { .. } => ErrorKind::MessageTooLong,
            LegacyError::NotUtf8 { .. } => ErrorKind::NotText,
            LegacyError::BadReply(_) => ErrorKind::Protocol,
        }
    }
}

impl NetError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            NetError::Io(_) => ErrorKind::Unreachable,
            NetError::Closed => ErrorKind::ConnectionClosed,
            NetError::HandshakeTimeout(_) | NetError::FrameTimeout(_) | NetError::Idle(_) => {
                ErrorKind::Timeout
            }
            NetError::Handshake(_)
            | NetError::Decrypt
            | NetError::BadFrame(_)
            | NetError::Malformed(_)
            | NetError::Ended(_) => ErrorKind::Protocol,
            NetError::MessageTooLarge { .. } => ErrorKind::MessageTooLong,
        }
    }
}

impl StoreError {
    /// What kind of failure this is (a local store: always [`ErrorKind::Io`]).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Io
    }
}

impl KeyError {
    /// What kind of failure this is (a key file: always [`ErrorKind::Io`]).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Io
    }
}

impl ServerError {
    /// What kind of failure this is (starting a server: always [`ErrorKind::Io`]).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Io
    }
}

impl Refusal {
    /// What kind of failure this refusal is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Refusal::NotAMember { .. } => ErrorKind::NotAMember,
            Refusal::NotInvited { .. } => ErrorKind::NotInvited,
            Refusal::UnknownUser { .. } => ErrorKind::UnknownUser,
            Refusal::UnknownRoom { .. } => ErrorKind::UnknownRoom,
            Refusal::RoomExists { .. } => ErrorKind::RoomExists,
            Refusal::NameTaken { .. } => ErrorKind::NameTaken,
            Refusal::RegistrationRefused { .. } => ErrorKind::RegistrationRefused,
            Refusal::Stale { .. } => ErrorKind::StaleEpoch,
            Refusal::NoKeyPackage { .. } => ErrorKind::NoKeyPackage,
            Refusal::RateLimited { .. } => ErrorKind::RateLimited,
            Refusal::QuotaExceeded { .. } => ErrorKind::QuotaExceeded,
            Refusal::BadRequest { .. } => ErrorKind::InvalidRequest,
            Refusal::VersionMismatch { .. } => ErrorKind::VersionMismatch,
            Refusal::Internal => ErrorKind::ServerFailure,
            Refusal::StorageFull => ErrorKind::StorageFull,
            Refusal::UnknownBlob => ErrorKind::FileUnavailable,
            Refusal::DeviceRevoked => ErrorKind::DeviceRevoked,
            Refusal::LinkRefused { .. } => ErrorKind::LinkRefused,
        }
    }
}

impl AttachmentError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AttachmentError::Io { .. } | AttachmentError::Unreadable { .. } => ErrorKind::Io,
            AttachmentError::TooLarge { .. } => ErrorKind::MessageTooLong,
            AttachmentError::Tampered { .. }
            | AttachmentError::WrongLength { .. }
            | AttachmentError::DigestMismatch => ErrorKind::Undecryptable,
            AttachmentError::Cancelled => ErrorKind::Cancelled,
        }
    }
}

impl E2eError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            E2eError::Mls { .. } | E2eError::BadKeyPackage { .. } | E2eError::Busy { .. } => {
                ErrorKind::Encryption
            }
            E2eError::WrongPassphrase { .. } => ErrorKind::WrongPassphrase,
            E2eError::KeyChanged { .. } => ErrorKind::KeyChanged,
            E2eError::UnknownKey { .. } => ErrorKind::UnknownUser,
            E2eError::NoGroup { .. } => ErrorKind::NotAMember,
        }
    }
}

impl ClientError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Net(e) => e.kind(),
            ClientError::ServerKeyChanged { .. } => ErrorKind::ServerKeyChanged,
            ClientError::ServerNotTrusted { .. } => ErrorKind::ServerNotTrusted,
            ClientError::Refused(r) => r.kind(),
            ClientError::Connect { .. } => ErrorKind::Unreachable,
            ClientError::ConnectionClosed => ErrorKind::ConnectionClosed,
            ClientError::Home { .. } => ErrorKind::Io,
            ClientError::Timeout(_) => ErrorKind::Timeout,
            ClientError::InvalidName { .. } => ErrorKind::InvalidArgument,
            ClientError::Key(e) => e.kind(),
            ClientError::Store(e) => e.kind(),
            ClientError::NotText { .. } => ErrorKind::NotText,
            ClientError::Protocol(_) => ErrorKind::Protocol,
            ClientError::E2e(e) => e.kind(),
            ClientError::HomeInUse { .. } => ErrorKind::HomeInUse,
            ClientError::Undecryptable { .. } => ErrorKind::Undecryptable,
            ClientError::File(e) => e.kind(),
            ClientError::Link(e) => e.kind(),
            ClientError::Device(e) => e.kind(),
        }
    }

    /// The room this error is about, if it names one.
    pub fn room(&self) -> Option<&str> {
        match self {
            ClientError::Refused(
                Refusal::NotAMember { room }
                | Refusal::NotInvited { room }
                | Refusal::UnknownRoom { room }
                | Refusal::RoomExists { room },
            )
            | ClientError::E2e(E2eError::NoGroup { room } | E2eError::Busy { room })
            | ClientError::Undecryptable { room, .. } => Some(room),
            _ => None,
        }
    }

    /// The user this error is about, if it names one.
    pub fn user(&self) -> Option<&str> {
        match self {
            ClientError::Refused(
                Refusal::UnknownUser { user }
                | Refusal::NameTaken { user }
                | Refusal::NoKeyPackage { user },
            )
            | ClientError::E2e(
                E2eError::KeyChanged { user }
                | E2eError::UnknownKey { user }
                | E2eError::BadKeyPackage { user, .. },
            )
            | ClientError::Undecryptable { sender: user, .. } => Some(user),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_kind_once() {
        let set: std::collections::HashSet<_> = ErrorKind::ALL.iter().collect();
        assert_eq!(set.len(), ErrorKind::ALL.len());
    }

    #[test]
    fn a_lost_connection_is_a_disconnect_and_a_changed_server_key_is_fatal() {
        let closed = ClientError::from(NetError::Closed);
        assert!(matches!(closed, ClientError::ConnectionClosed));
        assert!(closed.kind().is_disconnect() && !closed.kind().is_fatal());
        let too_long = ClientError::Net(NetError::MessageTooLarge { size: 2, limit: 1 });
        assert!(
            !too_long.kind().is_disconnect(),
            "a long text is not a reason to reconnect"
        );
        let refused = ClientError::Refused(Refusal::NameTaken { user: "a".into() });
        assert!(refused.kind().is_fatal());
        let e = ClientError::E2e(E2eError::KeyChanged { user: "bob".into() });
        assert_eq!((e.kind(), e.user()), (ErrorKind::KeyChanged, Some("bob")));
    }
}
