//! Stored messages as the server hands them out.

use serde::{Deserialize, Serialize};

/// A message of a room, as stored by the server. The payload is opaque to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Server-wide unique id.
    pub id: u64,
    /// The room.
    pub room: String,
    /// Position in the room: 1, 2, 3... with no gaps.
    pub seq: u64,
    /// Who sent it.
    pub sender: String,
    /// When the server stored it, in milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: i64,
    /// The bytes the sender sent (text today, MLS ciphertext with end-to-end encryption).
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// For a group-state change (an MLS commit): the epoch it applies to.
    pub commit_epoch: Option<u64>,
}

/// A direct delivery to one user (for example an MLS Welcome), from their queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectEnvelope {
    /// Position in the recipient's queue (increasing).
    pub id: u64,
    /// Who sent it.
    pub sender: String,
    /// When the server stored it (ms since the Unix epoch, UTC).
    pub timestamp_ms: i64,
    /// Opaque bytes.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}
