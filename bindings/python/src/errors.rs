//! Rust errors to Python exceptions. The classes live in `smc/exceptions.py`, so that
//! they can inherit from both `smc.SmcError` and the builtin they refine (ValueError...).
//!
//! The class follows the error's [`ErrorKind`] (the classification the C status codes
//! follow too), matched exhaustively in [`exception`]; the attributes come from the
//! error's data ([`Fields`]).

use pyo3::prelude::*;
use pyo3::types::PyList;
use smc::{CipherError, ClientError, ErrorKind, LegacyError, Refusal, ServerError};
use smc_ffi::SmcStatus;

pyo3::import_exception!(smc.exceptions, UnsupportedCharacter);
pyo3::import_exception!(smc.exceptions, NotCoprime);
pyo3::import_exception!(smc.exceptions, NotATableEntry);
pyo3::import_exception!(smc.exceptions, SmcIOError);
pyo3::import_exception!(smc.exceptions, ConnectionClosed);
pyo3::import_exception!(smc.exceptions, MessageTooLong);
pyo3::import_exception!(smc.exceptions, ProtocolError);
pyo3::import_exception!(smc.exceptions, SmcError);
pyo3::import_exception!(smc.exceptions, ServerKeyChanged);
pyo3::import_exception!(smc.exceptions, ServerNotTrusted);
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
pyo3::import_exception!(smc.exceptions, FileUnavailable);
pyo3::import_exception!(smc.exceptions, Cancelled);
pyo3::import_exception!(smc.exceptions, DeviceRevoked);
pyo3::import_exception!(smc.exceptions, LinkRefused);

/// What an exception carries besides its message (each class takes its own).
#[derive(Debug, Default)]
struct Fields {
    room: String,
    user: String,
    seq: u64,
    reason: String,
    current: u64,
    /// The pinned or expected fingerprint, and the one presented.
    wanted: String,
    presented: String,
    character: String,
    position: usize,
    a: i64,
    entry: String,
    /// Seconds until a rate-limited request is accepted again.
    retry_after: f64,
}

/// The exception of `kind` with `message` and `fields`.
fn exception(kind: ErrorKind, message: String, f: Fields) -> PyErr {
    match kind {
        ErrorKind::UnsupportedCharacter => {
            UnsupportedCharacter::new_err((message, f.character, f.position))
        }
        ErrorKind::NotCoprime => NotCoprime::new_err((message, f.a)),
        ErrorKind::NotATableEntry => NotATableEntry::new_err((message, f.entry)),
        ErrorKind::InvalidArgument | ErrorKind::InvalidRequest | ErrorKind::VersionMismatch => {
            InvalidRequest::new_err(message)
        }
        ErrorKind::NotText => NotText::new_err(message),
        ErrorKind::Io | ErrorKind::Unreachable | ErrorKind::HomeInUse => {
            SmcIOError::new_err(message)
        }
        ErrorKind::ConnectionClosed => ConnectionClosed::new_err(message),
        ErrorKind::Timeout => RequestTimeout::new_err(message),
        ErrorKind::MessageTooLong => MessageTooLong::new_err(message),
        ErrorKind::Protocol => ProtocolError::new_err(message),
        ErrorKind::ServerKeyChanged => ServerKeyChanged::new_err((message, f.wanted, f.presented)),
        ErrorKind::ServerNotTrusted => ServerNotTrusted::new_err((message, f.wanted, f.presented)),
        ErrorKind::NotAMember => NotAMember::new_err((message, f.room)),
        ErrorKind::NotInvited => NotInvited::new_err((message, f.room)),
        ErrorKind::UnknownUser => UnknownUser::new_err((message, f.user)),
        ErrorKind::UnknownRoom => UnknownRoom::new_err((message, f.room)),
        ErrorKind::RoomExists => RoomExists::new_err((message, f.room)),
        ErrorKind::NameTaken => NameTaken::new_err((message, f.user)),
        ErrorKind::RegistrationRefused => RegistrationRefused::new_err(message),
        ErrorKind::StaleEpoch => StaleEpoch::new_err((message, f.current)),
        ErrorKind::NoKeyPackage => NoKeyPackage::new_err((message, f.user)),
        ErrorKind::RateLimited => RateLimited::new_err((message, f.retry_after)),
        ErrorKind::QuotaExceeded => QuotaExceeded::new_err(message),
        ErrorKind::ServerFailure => ServerFailure::new_err(message),
        ErrorKind::StorageFull => StorageFull::new_err(message),
        ErrorKind::KeyChanged => KeyChanged::new_err((message, f.user)),
        ErrorKind::Undecryptable => {
            Undecryptable::new_err((message, f.room, f.seq, f.user, f.reason))
        }
        ErrorKind::WrongPassphrase => WrongPassphrase::new_err(message),
        ErrorKind::Encryption => EncryptionError::new_err(message),
        ErrorKind::FileUnavailable => FileUnavailable::new_err(message),
        ErrorKind::Cancelled => Cancelled::new_err(message),
        ErrorKind::DeviceRevoked => DeviceRevoked::new_err(message),
        ErrorKind::LinkRefused => LinkRefused::new_err(message),
    }
}

fn cipher_fields(e: &CipherError) -> Fields {
    match e {
        CipherError::UnsupportedCharacter {
            character,
            position,
        } => Fields {
            character: character.to_string(),
            position: *position,
            ..Fields::default()
        },
        CipherError::NotCoprime { a } => Fields {
            a: *a,
            ..Fields::default()
        },
        CipherError::NotAnEntry(entry) => Fields {
            entry: entry.clone(),
            ..Fields::default()
        },
    }
}

/// The Python exception for a cipher error.
pub(crate) fn cipher_error(e: CipherError) -> PyErr {
    exception(e.kind(), e.to_string(), cipher_fields(&e))
}

/// The Python exception for a legacy server/client error.
pub(crate) fn legacy_error(e: LegacyError) -> PyErr {
    let fields = match &e {
        LegacyError::Cipher(c) => cipher_fields(c),
        _ => Fields::default(),
    };
    exception(e.kind(), e.to_string(), fields)
}

/// `SmcError` with a message, for a use of an object in the wrong state.
pub(crate) fn not_running(message: &str) -> PyErr {
    SmcError::new_err(message.to_owned())
}

/// The Python exception for a server start-up error.
pub(crate) fn server_error(e: ServerError) -> PyErr {
    exception(e.kind(), e.to_string(), Fields::default())
}

/// The Python exception for a client error.
pub(crate) fn client_error(e: ClientError) -> PyErr {
    let mut fields = Fields {
        room: e.room().unwrap_or_default().to_owned(),
        user: e.user().unwrap_or_default().to_owned(),
        ..Fields::default()
    };
    match &e {
        ClientError::ServerKeyChanged {
            pinned, presented, ..
        } => {
            fields.wanted = pinned.clone();
            fields.presented = presented.clone();
        }
        ClientError::ServerNotTrusted {
            expected,
            presented,
            ..
        } => {
            fields.wanted = expected.clone();
            fields.presented = presented.clone();
        }
        ClientError::Refused(Refusal::Stale { current }) => fields.current = *current,
        ClientError::Refused(Refusal::RateLimited { retry_after_ms }) => {
            fields.retry_after = *retry_after_ms as f64 / 1000.0
        }
        ClientError::Undecryptable { seq, reason, .. } => {
            fields.seq = *seq;
            fields.reason = reason.clone();
        }
        _ => {}
    }
    exception(e.kind(), e.to_string(), fields)
}

/// For the tests: every error kind with the C status it maps to and the Python
/// exception it raises, `[(kind, status, exception), ...]`: the two front ends must
/// agree (tests/python/test_errors.py).
#[pyfunction]
fn _error_kinds(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let rows = ErrorKind::ALL.iter().map(|&kind| {
        let status = format!("{:?}", SmcStatus::from(kind));
        let error = exception(kind, format!("{kind:?}"), Fields::default());
        (format!("{kind:?}"), status, error.into_value(py))
    });
    PyList::new(py, rows)
}

/// Registers the test helper.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_error_kinds, m)?)
}
