//! Messages as the client library hands them to applications.

use chrono::{DateTime, TimeZone, Utc};

use super::Attachment;
use crate::error::ClientError;
use crate::proto::Envelope;

/// A chat message of a room.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// Server-wide unique id.
    pub id: u64,
    /// The room.
    pub room: String,
    /// Its place in the room (1, 2, 3...).
    pub seq: u64,
    /// Who sent it.
    pub sender: String,
    /// The text (empty for a file).
    pub text: String,
    /// When the server stored it.
    pub timestamp: DateTime<Utc>,
    /// The file it carries, or `None` for a text.
    pub attachment: Option<Attachment>,
}

pub(crate) fn timestamp(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

impl TryFrom<Envelope> for Message {
    type Error = ClientError;

    fn try_from(e: Envelope) -> Result<Self, ClientError> {
        let text = String::from_utf8(e.payload).map_err(|_| ClientError::NotText {
            id: e.id.to_string(),
        })?;
        Ok(Message {
            id: e.id,
            room: e.room,
            seq: e.seq,
            sender: e.sender,
            text,
            timestamp: timestamp(e.timestamp_ms),
            attachment: None,
        })
    }
}
