//! Rust errors to Python exceptions. The classes live in `smc/exceptions.py`, so that
//! they can inherit from both `smc.SmcError` and the builtin they refine (ValueError...).

use pyo3::prelude::*;
use smc::{CipherError, ClientError, E2eError, LegacyError, NetError, Refusal, ServerError};

pyo3::import_exception!(smc.exceptions, UnsupportedCharacter);
pyo3::import_exception!(smc.exceptions, NotCoprime);
pyo3::import_exception!(smc.exceptions, NotATableEntry);
pyo3::import_exception!(smc.exceptions, SmcIOError);
pyo3::import_exception!(smc.exceptions, ConnectionClosed);
pyo3::import_exception!(smc.exceptions, MessageTooLong);
pyo3::import_exception!(smc.exceptions, ProtocolError);
pyo3::import_exception!(smc.exceptions, SmcError);
pyo3::import_exception!(smc.exceptions, ServerKeyChanged);
pyo3::import_exception!(smc.exceptions, NotAMember);
pyo3::import_exception!(smc.exceptions, NotInvited);
pyo3::import_exception!(smc.exceptions, RegistrationRefused);
pyo3::import_exception!(smc.exceptions, UnknownUser);
pyo3::import_exception!(smc.exceptions, UnknownRoom);
pyo3::import_exception!(smc.exceptions, RoomExists);
pyo3::import_exception!(smc.exceptions, NameTaken);
pyo3::import_exception!(smc.exceptions, StaleEpoch);
pyo3::import_exception!(smc.exceptions, QuotaExceeded);
pyo3::import_exception!(smc.exceptions, NoKeyPackage);
pyo3::import_exception!(smc.exceptions, RateLimited);
pyo3::import_exception!(smc.exceptions, InvalidRequest);
pyo3::import_exception!(smc.exceptions, ServerFailure);
pyo3::import_exception!(smc.exceptions, StorageFull);
pyo3::import_exception!(smc.exceptions, RequestTimeout);
pyo3::import_exception!(smc.exceptions, NotText);
pyo3::import_exception!(smc.exceptions, EncryptionError);
pyo3::import_exception!(smc.exceptions, KeyChanged);
pyo3::import_exception!(smc.exceptions, Undecryptable);
pyo3::import_exception!(smc.exceptions, WrongPassphrase);

/// The Python exception for a cipher error.
pub(crate) fn cipher_error(e: CipherError) -> PyErr {
    let message = e.to_string();
    match e {
        CipherError::UnsupportedCharacter {
            character,
            position,
        } => UnsupportedCharacter::new_err((message, character.to_string(), position)),
        CipherError::NotCoprime { a } => NotCoprime::new_err((message, a)),
        CipherError::NotAnEntry(entry) => NotATableEntry::new_err((message, entry)),
    }
}

/// The Python exception for a legacy server/client error.
pub(crate) fn legacy_error(e: LegacyError) -> PyErr {
    let message = e.to_string();
    match e {
        LegacyError::Cipher(c) => cipher_error(c),
        LegacyError::ConnectionClosed | LegacyError::ClosedMidMessage { .. } => {
            ConnectionClosed::new_err(message)
        }
        LegacyError::MessageTooLong { .. } => MessageTooLong::new_err(message),
        LegacyError::NotUtf8 { .. } | LegacyError::BadReply(_) => ProtocolError::new_err(message),
        LegacyError::LogFile { .. }
        | LegacyError::Bind { .. }
        | LegacyError::Connect { .. }
        | LegacyError::Io(_)
        | LegacyError::NotRunning => SmcIOError::new_err(message),
    }
}

/// `SmcError` with a message, for a use of an object in the wrong state.
pub(crate) fn not_running(message: &str) -> PyErr {
    SmcError::new_err(message.to_owned())
}

/// The Python exception for a server start-up error.
pub(crate) fn server_error(e: ServerError) -> PyErr {
    SmcIOError::new_err(e.to_string())
}

/// The Python exception for a refusal by the server.
fn refusal_error(r: Refusal) -> PyErr {
    let message = r.to_string();
    match r {
        Refusal::NotAMember { room } => NotAMember::new_err((message, room)),
        Refusal::NotInvited { room } => NotInvited::new_err((message, room)),
        Refusal::UnknownUser { user } => UnknownUser::new_err((message, user)),
        Refusal::UnknownRoom { room } => UnknownRoom::new_err((message, room)),
        Refusal::RoomExists { room } => RoomExists::new_err((message, room)),
        Refusal::NameTaken { user } => NameTaken::new_err((message, user)),
        Refusal::RegistrationRefused { .. } => RegistrationRefused::new_err(message),
        Refusal::Stale { current } => StaleEpoch::new_err((message, current)),
        Refusal::NoKeyPackage { user } => NoKeyPackage::new_err((message, user)),
        Refusal::RateLimited => RateLimited::new_err(message),
        Refusal::QuotaExceeded { .. } => QuotaExceeded::new_err(message),
        Refusal::BadRequest { .. } | Refusal::VersionMismatch { .. } => {
            InvalidRequest::new_err(message)
        }
        Refusal::Internal => ServerFailure::new_err(message),
        Refusal::StorageFull => StorageFull::new_err(message),
    }
}

/// The Python exception for a client error.
pub(crate) fn client_error(e: ClientError) -> PyErr {
    let message = e.to_string();
    match e {
        ClientError::ServerKeyChanged {
            pinned, presented, ..
        } => ServerKeyChanged::new_err((message, pinned, presented)),
        ClientError::ServerNotTrusted {
            expected,
            presented,
            ..
        } => ServerKeyChanged::new_err((message, expected, presented)),
        ClientError::Refused(r) => refusal_error(r),
        ClientError::ConnectionClosed | ClientError::Net(NetError::Closed) => {
            ConnectionClosed::new_err(message)
        }
        ClientError::Net(NetError::MessageTooLarge { .. }) => MessageTooLong::new_err(message),
        ClientError::Net(_) | ClientError::Protocol(_) => ProtocolError::new_err(message),
        ClientError::Timeout(_) => RequestTimeout::new_err(message),
        ClientError::InvalidName { .. } => InvalidRequest::new_err(message),
        ClientError::NotText { .. } => NotText::new_err(message),
        ClientError::Connect { .. }
        | ClientError::Key(_)
        | ClientError::Store(_)
        | ClientError::HomeInUse { .. } => SmcIOError::new_err(message),
        ClientError::Undecryptable {
            room,
            seq,
            sender,
            reason,
        } => Undecryptable::new_err((message, room, seq, sender, reason)),
        ClientError::E2e(e) => match e {
            E2eError::KeyChanged { user } => KeyChanged::new_err((message, user)),
            E2eError::WrongPassphrase { .. } => WrongPassphrase::new_err(message),
            E2eError::NoGroup { room } => NotAMember::new_err((message, room)),
            E2eError::UnknownKey { user } => UnknownUser::new_err((message, user)),
            E2eError::Mls { .. } | E2eError::BadKeyPackage { .. } | E2eError::Busy { .. } => {
                EncryptionError::new_err(message)
            }
        },
    }
}
