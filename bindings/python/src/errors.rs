//! Rust errors to Python exceptions. The classes live in `smc/exceptions.py`, so that
//! they can inherit from both `smc.SmcError` and the builtin they refine (ValueError...).

use pyo3::prelude::*;
use smc::{CipherError, LegacyError};

pyo3::import_exception!(smc.exceptions, UnsupportedCharacter);
pyo3::import_exception!(smc.exceptions, NotCoprime);
pyo3::import_exception!(smc.exceptions, NotATableEntry);
pyo3::import_exception!(smc.exceptions, SmcIOError);
pyo3::import_exception!(smc.exceptions, ConnectionClosed);
pyo3::import_exception!(smc.exceptions, MessageTooLong);
pyo3::import_exception!(smc.exceptions, ProtocolError);

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
