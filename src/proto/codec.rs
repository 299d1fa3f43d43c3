//! Encoding of protocol values (postcard).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::NetError;

/// Encodes a protocol value.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain data types into a Vec cannot fail.
    postcard::to_stdvec(value).unwrap_or_default()
}

/// Decodes a protocol value; malformed bytes are [`NetError::Malformed`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, NetError> {
    postcard::from_bytes(bytes).map_err(|e| NetError::Malformed(e.to_string()))
}
