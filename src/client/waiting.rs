//! What a client received and has not handled yet, in memory: raw direct deliveries
//! for [`Client::take_direct`](super::Client), room messages that came before their
//! room's Welcome, and the rooms whose proposals wait for a commit. One concern of the
//! client's fields, apart from its identity, its settings and its connection.

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::proto::{DirectEnvelope, Envelope};

/// What waits in memory.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    /// Raw direct deliveries not meant for the encryption layer.
    pub directs: VecDeque<DirectEnvelope>,
    /// Room messages that arrived before the Welcome of their room.
    pub stash: HashMap<String, Vec<Envelope>>,
    /// Payload bytes in `stash`.
    pub stash_bytes: usize,
    /// Rooms with proposals (a member leaving) waiting for a commit.
    pub to_commit: BTreeSet<String>,
}
