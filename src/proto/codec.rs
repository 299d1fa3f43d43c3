//! Encoding of protocol values (postcard).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::NetError;

/// Encodes a protocol value.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Measured first, then written into a vector of that size: a file's chunk (64 KiB)
    // is not copied again each time a growing vector would move. Serializing these
    // plain data types cannot fail.
    let size = postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())
        .unwrap_or_default();
    postcard::to_extend(value, Vec::with_capacity(size)).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Envelope;

    /// An [`Envelope`] as it was declared before its payload was encoded as bytes
    /// (`serde_bytes`): element by element.
    #[derive(Serialize)]
    struct PlainEnvelope {
        id: u64,
        room: String,
        seq: u64,
        sender: String,
        timestamp_ms: i64,
        payload: Vec<u8>,
        commit_epoch: Option<u64>,
    }

    #[test]
    fn byte_fields_keep_their_wire_format() {
        let plain = PlainEnvelope {
            id: 7,
            room: "r".into(),
            seq: 3,
            sender: "alice".into(),
            timestamp_ms: 1_700_000_000_000,
            payload: (0..=255u8).chain(0..=255u8).collect(),
            commit_epoch: Some(2),
        };
        let before = encode(&plain);
        let now: Envelope = decode(&before).unwrap();
        assert_eq!(now.payload, plain.payload);
        assert_eq!(encode(&now), before);
    }
}
