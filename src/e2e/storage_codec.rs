//! The codec of the MLS storage (openmls's tables in `state.db` and `smc.db`).
//!
//! Keys and most values are JSON, as openmls's own SQLite tests use (every openmls type
//! round-trips through it). One value is different: a group's *message secrets*
//! (openmls's `MessageSecretsStore`: the secret trees of the current and past epochs),
//! which openmls writes again after every message sent or read. As JSON (byte vectors
//! as arrays of numbers) its serialisation was the largest cost of reading a message
//! (~30% of the receiving thread in a `perf` profile of a catch-up). It is written in
//! postcard (compact binary) behind a two-byte header: `BINARY` (a byte no JSON text
//! starts with) and the format's version, [`VERSION`].
//!
//! Values written by an older smc (JSON) still read, and are rewritten in binary the
//! next time openmls stores them; keys never change form (rows are looked up by them).
//! A home written by this version is marked in its schema (client migration 3 -> 4),
//! so an older smc refuses it instead of failing to read the binary values.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// First byte of a binary value (JSON text never starts with it).
pub(crate) const BINARY: u8 = 0x00;
/// Version of the binary form (postcard, as of postcard 1.x).
pub const VERSION: u8 = 1;

/// Why a stored MLS value cannot be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum StorageCodecError {
    /// JSON (keys, most values).
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The binary form.
    #[error("binary value: {0}")]
    Binary(#[from] postcard::Error),
    /// A binary value of a later version of this format.
    #[error("binary value of format version {0}, this smc reads version {VERSION}")]
    UnknownVersion(u8),
}

/// The codec: see the module documentation.
#[derive(Debug, Default)]
pub struct StorageCodec;

/// Whether values of type `T` are written in binary: the message secrets only (never a
/// key: keys keep their form, since rows are found by them).
fn binary<T: ?Sized>() -> bool {
    std::any::type_name::<T>().ends_with("::MessageSecretsStore")
}

impl openmls_sqlite_storage::Codec for StorageCodec {
    type Error = StorageCodecError;

    fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, Self::Error> {
        // (The storage passes `&Entity`, whose type name ends the same.)
        if binary::<T>() {
            let mut out = vec![BINARY, VERSION];
            out = postcard::to_extend(value, out)?;
            Ok(out)
        } else {
            Ok(serde_json::to_vec(value)?)
        }
    }

    fn from_slice<T: DeserializeOwned>(slice: &[u8]) -> Result<T, Self::Error> {
        match slice {
            [BINARY, VERSION, rest @ ..] => Ok(postcard::from_bytes(rest)?),
            [BINARY, version, ..] => Err(StorageCodecError::UnknownVersion(*version)),
            json => Ok(serde_json::from_slice(json)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openmls_sqlite_storage::Codec;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct MessageSecretsStore {
        secrets: Vec<Vec<u8>>,
        epoch: u64,
    }

    #[test]
    fn message_secrets_are_binary_other_values_json_and_both_forms_read() {
        let value = MessageSecretsStore {
            secrets: vec![vec![7; 32], vec![255; 32]],
            epoch: 3,
        };
        let binary = StorageCodec::to_vec(&value).unwrap();
        assert_eq!(&binary[..2], &[BINARY, VERSION]);
        let json = serde_json::to_vec(&value).unwrap();
        assert!(
            binary.len() * 2 < json.len(),
            "{} vs {}",
            binary.len(),
            json.len()
        );
        // Through a reference, as the storage passes it.
        assert_eq!(StorageCodec::to_vec(&&value).unwrap(), binary);
        // Both forms read: the new one, and what an older smc wrote.
        let from_binary: MessageSecretsStore = StorageCodec::from_slice(&binary).unwrap();
        let from_json: MessageSecretsStore = StorageCodec::from_slice(&json).unwrap();
        assert_eq!(from_binary, value);
        assert_eq!(from_json, value);
        // Anything else stays JSON (keys among them).
        assert_eq!(StorageCodec::to_vec(&vec![1u8, 2]).unwrap(), b"[1,2]");
        // A later format is refused by name, not misread.
        let mut later = binary.clone();
        later[1] = VERSION + 1;
        assert!(matches!(
            StorageCodec::from_slice::<MessageSecretsStore>(&later),
            Err(StorageCodecError::UnknownVersion(v)) if v == VERSION + 1
        ));
    }
}
