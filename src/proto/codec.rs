//! Encoding of protocol values (postcard).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::NetError;

/// Encodes a protocol value.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain data types into a Vec cannot fail.
    postcard::to_stdvec(value).unwrap_or_default()
}

/// Decodes a protocol value; malformed bytes, or bytes left over after the value, are
/// [`NetError::Malformed`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, NetError> {
    let (value, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| NetError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(NetError::Malformed(format!(
            "{} bytes after the end of the value",
            rest.len()
        )));
    }
    Ok(value)
}
