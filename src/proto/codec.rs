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
