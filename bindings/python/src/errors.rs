//! Rust errors to Python exceptions. The classes live in `smc/exceptions.py`, so that
//! they can inherit from both `smc.SmcError` and the builtin they refine (ValueError...).

use pyo3::prelude::*;
use smc::CipherError;

pyo3::import_exception!(smc.exceptions, UnsupportedCharacter);
pyo3::import_exception!(smc.exceptions, NotCoprime);
pyo3::import_exception!(smc.exceptions, NotATableEntry);

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
