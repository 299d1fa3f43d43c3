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
