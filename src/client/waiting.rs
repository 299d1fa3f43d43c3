//! What a client received and has not handled yet, in memory: raw direct deliveries
//! for [`Client::take_direct`](super::Client), room messages that came before their
//! room's Welcome, and the rooms whose proposals wait for a commit. One concern of the
//! client's fields, apart from its identity, its settings and its connection.
//!
//! Everything here came from the server, which may be hostile: each kind is bounded in
//! count and in bytes, every byte of an envelope counted (its room and sender names
//! too, which the server writes), so that no sequence of deliveries grows a client's
//! memory past [`MAX_STASHED_BYTES`] + [`MAX_DIRECT_BYTES`] (plus a fixed cost per
//! entry).

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::proto::{DirectEnvelope, Envelope};

/// How many messages of one room wait in memory for that room's Welcome, at most.
/// Those beyond are not lost: the cursor stays before them, and once the Welcome is
/// processed the room is caught up from the server, which sends them again; so the
/// bound only limits memory (a server could route a room's messages without ever
/// sending its Welcome).
pub(super) const MAX_STASHED_PER_ROOM: usize = 1_000;
/// How many messages wait for their rooms' Welcomes, all rooms together.
pub(super) const MAX_STASHED: usize = 10_000;
/// How many bytes of messages wait for their rooms' Welcomes, all rooms together
/// (beyond: as above, fetched again after the join).
pub(super) const MAX_STASHED_BYTES: usize = 16 << 20;
/// Raw direct deliveries kept in memory for `take_direct`, at most (the oldest go
/// first).
pub(super) const MAX_DIRECTS: usize = 1_000;
/// Bytes of raw direct deliveries kept in memory, at most (the oldest go first).
pub(super) const MAX_DIRECT_BYTES: usize = 16 << 20;

/// What an entry is counted for besides the bytes it carries.
const PER_ENTRY: usize = 64;

fn envelope_size(e: &Envelope) -> usize {
    // The room's name counts twice: in the envelope and as its stash's key.
    e.payload.len() + 2 * e.room.len() + e.sender.len() + PER_ENTRY
}

fn direct_size(d: &DirectEnvelope) -> usize {
    d.payload.len() + d.sender.len() + PER_ENTRY
}

/// What waits in memory.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    /// Raw direct deliveries not meant for the encryption layer.
    directs: VecDeque<DirectEnvelope>,
    /// Bytes counted for `directs`.
    direct_bytes: usize,
    /// Room messages that arrived before the Welcome of their room.
    stash: HashMap<String, Vec<Envelope>>,
    /// Messages in `stash`.
    stashed: usize,
    /// Bytes counted for `stash`.
    stash_bytes: usize,
    /// Rooms with proposals (a member leaving) waiting for a commit.
    pub to_commit: BTreeSet<String>,
    /// An item is being handled: what the handling calls (an auto-join's accept, say)
    /// does not start handling the items queued behind it. Without this, every queued
    /// invitation accepted by auto-join handled the next one one call deeper, and a
    /// flood of them overflowed the stack.
    pub handling: bool,
}

impl Waiting {
    /// Keeps `envelope` until its room's Welcome, if it fits the bounds (one that does
    /// not is dropped: it is fetched again after the join). Whether it was kept.
    pub(super) fn stash(&mut self, envelope: Envelope) -> bool {
        let size = envelope_size(&envelope);
        let in_room = self.stash.get(&envelope.room).map_or(0, Vec::len);
        if in_room >= MAX_STASHED_PER_ROOM
            || self.stashed >= MAX_STASHED
            || self.stash_bytes + size > MAX_STASHED_BYTES
        {
            return false;
        }
        self.stashed += 1;
        self.stash_bytes += size;
        self.stash
            .entry(envelope.room.clone())
            .or_default()
            .push(envelope);
        true
    }

    /// Takes what waited for `room`'s Welcome, in arrival order.
    pub(super) fn take_stashed(&mut self, room: &str) -> Vec<Envelope> {
        let taken = self.stash.remove(room).unwrap_or_default();
        self.stashed -= taken.len();
        self.stash_bytes -= taken.iter().map(envelope_size).sum::<usize>();
        taken
    }

    /// Forgets every stashed message (a new connection sends them again).
    pub(super) fn clear_stash(&mut self) {
        self.stash.clear();
        self.stashed = 0;
        self.stash_bytes = 0;
    }

    /// Keeps a raw direct delivery for `take_direct`; the oldest go when the bounds
    /// are reached.
    pub(super) fn push_direct(&mut self, direct: DirectEnvelope) {
        let size = direct_size(&direct);
        if size > MAX_DIRECT_BYTES {
            return;
        }
        while self.directs.len() >= MAX_DIRECTS || self.direct_bytes + size > MAX_DIRECT_BYTES {
            let Some(old) = self.directs.pop_front() else {
                break;
            };
            self.direct_bytes -= direct_size(&old);
        }
        self.direct_bytes += size;
        self.directs.push_back(direct);
    }

    /// Takes the oldest raw direct delivery.
    pub(super) fn pop_direct(&mut self) -> Option<DirectEnvelope> {
        let d = self.directs.pop_front()?;
        self.direct_bytes -= direct_size(&d);
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(room: String, payload: usize) -> Envelope {
        Envelope {
            id: 1,
            room,
            seq: 1,
            sender: "mallory".into(),
            timestamp_ms: 0,
            payload: vec![0; payload],
            commit_epoch: None,
        }
    }

    #[test]
    fn empty_messages_of_rooms_with_huge_names_are_counted_by_their_names() {
        // Before: only payloads counted, so empty messages in ever new rooms whose
        // names are 64 KiB each were kept without end (here 5,000: 320 MiB).
        let mut w = Waiting::default();
        let mut kept = 0;
        for i in 0..5_000 {
            let name = format!("{i:065535}");
            if w.stash(envelope(name, 0)) {
                kept += 1;
            }
        }
        let held: usize = w
            .stash
            .iter()
            .map(|(k, v)| k.len() + v.iter().map(|e| e.room.len()).sum::<usize>())
            .sum();
        assert!(held <= MAX_STASHED_BYTES, "{held} bytes held");
        assert!(kept > 0 && kept < 200, "{kept} kept");
    }

    #[test]
    fn tiny_messages_are_bounded_in_count_and_taking_a_room_frees_its_share() {
        let mut w = Waiting::default();
        for i in 0..50_000 {
            w.stash(envelope(format!("r{}", i % 100), 0));
        }
        assert_eq!(w.stashed, MAX_STASHED);
        assert_eq!(w.stash.values().map(Vec::len).sum::<usize>(), MAX_STASHED);
        let taken = w.take_stashed("r7");
        assert_eq!(taken.len(), MAX_STASHED / 100);
        assert_eq!(w.stashed, MAX_STASHED - taken.len());
        // One room alone holds at most its share.
        let mut w = Waiting::default();
        for _ in 0..5_000 {
            w.stash(envelope("r".into(), 0));
        }
        assert_eq!(w.take_stashed("r").len(), MAX_STASHED_PER_ROOM);
        assert_eq!((w.stashed, w.stash_bytes), (0, 0));
    }

    #[test]
    fn raw_directs_are_bounded_in_bytes_the_oldest_going_first() {
        let mut w = Waiting::default();
        for id in 0..1_000u64 {
            w.push_direct(DirectEnvelope {
                id,
                sender: "mallory".into(),
                timestamp_ms: 0,
                payload: vec![0; 1 << 20],
            });
        }
        let held: usize = w.directs.iter().map(|d| d.payload.len()).sum();
        assert!(held <= MAX_DIRECT_BYTES, "{held} bytes held");
        assert_eq!(w.directs.back().map(|d| d.id), Some(999));
        let mut last = None;
        while let Some(d) = w.pop_direct() {
            assert!(last < Some(d.id));
            last = Some(d.id);
        }
        assert_eq!(w.direct_bytes, 0);
    }
}
