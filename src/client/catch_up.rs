//! Gathering what a room missed from the server's history: pages read backwards from
//! the newest until the saved cursor, without I/O (the client asks for each page the
//! gathering names, and hands it the answer).
//!
//! The server's answers are not trusted: each page must go further back than the last
//! (or the gathering stops with what it has), envelopes of another room are dropped,
//! and what the server sends is bounded in messages and in bytes, counting everything
//! received, kept or not. Past either bound nothing is processed: the cursor stays,
//! and the next connection's catch-up, which the server sends forward from the cursor
//! in pages, brings the messages in order.

use crate::proto::Envelope;

/// Envelopes received in one gathering, at most.
pub(super) const MAX_MESSAGES: usize = 100_000;

/// Bytes received in one gathering, at most (payloads, names and a fixed cost per
/// envelope): what the gathered messages may hold in memory before they are processed.
pub(super) const MAX_BYTES: usize = 64 << 20;

/// What an envelope is counted for besides its payload and names.
const PER_ENVELOPE: usize = 64;

/// How a gathering ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Gathered {
    /// The messages after the cursor, in seq order, each once.
    All(Vec<Envelope>),
    /// The server's pages stopped going back: what was gathered, in seq order.
    Partial(Vec<Envelope>),
    /// More than [`MAX_MESSAGES`] or [`MAX_BYTES`]: left to the next connection.
    TooMuch,
}

/// A gathering in progress.
#[derive(Debug)]
pub(super) struct Gathering {
    room: String,
    cursor: u64,
    before: Option<u64>,
    missed: Vec<Envelope>,
    received: usize,
    bytes: usize,
}

impl Gathering {
    /// Gathers what `room` holds after seq `cursor`.
    pub(super) fn new(room: &str, cursor: u64) -> Self {
        Gathering {
            room: room.to_owned(),
            cursor,
            before: None,
            missed: Vec::new(),
            received: 0,
            bytes: 0,
        }
    }

    /// Where the next page to ask for ends: before this seq (`None`: the newest).
    pub(super) fn before(&self) -> Option<u64> {
        self.before
    }

    /// Takes the server's next page: `None` while another page is needed.
    pub(super) fn page(&mut self, page: Vec<Envelope>) -> Option<Gathered> {
        let Some(oldest) = page.first().map(|e| e.seq) else {
            return Some(self.finish(true));
        };
        if self.before.is_some_and(|b| oldest >= b) {
            tracing::warn!(
                room = %self.room,
                "the server's history does not go back: catch-up stopped"
            );
            return Some(self.finish(false));
        }
        for e in page {
            self.received += 1;
            self.bytes += e.payload.len() + e.room.len() + e.sender.len() + PER_ENVELOPE;
            if self.received > MAX_MESSAGES || self.bytes > MAX_BYTES {
                tracing::warn!(
                    room = %self.room,
                    "more than {MAX_MESSAGES} messages or {MAX_BYTES} bytes to catch up: left to the next connection"
                );
                self.missed = Vec::new();
                return Some(Gathered::TooMuch);
            }
            if e.seq > self.cursor && e.room == self.room {
                self.missed.push(e);
            }
        }
        if oldest <= self.cursor.saturating_add(1) {
            return Some(self.finish(true));
        }
        self.before = Some(oldest);
        None
    }

    fn finish(&mut self, complete: bool) -> Gathered {
        let mut missed = std::mem::take(&mut self.missed);
        missed.sort_by_key(|e| e.seq);
        missed.dedup_by_key(|e| e.seq);
        if complete {
            Gathered::All(missed)
        } else {
            Gathered::Partial(missed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(room: &str, seq: u64, size: usize) -> Envelope {
        Envelope {
            id: seq,
            room: room.into(),
            seq,
            sender: "mallory".into(),
            timestamp_ms: 0,
            payload: vec![0; size],
            commit_epoch: None,
        }
    }

    /// Runs a gathering against `server` (the page ending before a seq), counting the
    /// pages asked for.
    fn gather(
        cursor: u64,
        mut server: impl FnMut(Option<u64>) -> Vec<Envelope>,
    ) -> (Gathered, usize) {
        let mut g = Gathering::new("r", cursor);
        let mut pages = 0;
        loop {
            pages += 1;
            if let Some(done) = g.page(server(g.before())) {
                return (done, pages);
            }
        }
    }

    #[test]
    fn an_honest_history_is_gathered_in_order_down_to_the_cursor() {
        // Seqs 1..=1200, pages of 500 newest first; the cursor at 150. The first page
        // also holds another room's message, which is dropped.
        let (done, pages) = gather(150, |before| {
            let end = before.unwrap_or(1201);
            let mut page: Vec<Envelope> = (end.saturating_sub(500).max(1)..end)
                .map(|s| envelope("r", s, 10))
                .collect();
            if before.is_none() {
                page.push(envelope("elsewhere", 5000, 10));
            }
            page
        });
        let Gathered::All(missed) = done else {
            panic!("{done:?}")
        };
        let seqs: Vec<u64> = missed.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (151..=1200).collect::<Vec<_>>());
        assert_eq!(pages, 3);
    }

    #[test]
    fn a_server_that_sends_big_messages_one_page_at_a_time_is_cut_off_by_bytes() {
        // Each page: one message of ~1 MiB, one seq further back, from far away: at
        // 100,000 messages that would be ~100 GiB held in memory.
        let mut asked = 0usize;
        let (done, pages) = gather(0, |before| {
            asked += 1;
            assert!(asked <= MAX_BYTES / (1 << 20) + 2, "the client kept asking");
            vec![envelope("r", before.unwrap_or(1 << 40) - 1, 1 << 20)]
        });
        assert_eq!(done, Gathered::TooMuch);
        assert_eq!(pages, MAX_BYTES / ((1 << 20) + 64 + 8) + 1);
    }

    #[test]
    fn envelopes_of_other_rooms_count_but_are_not_kept() {
        // Pages of another room's envelopes, each going back: they count against the
        // bounds (or the server could make the client ask forever).
        let (done, pages) = gather(0, |before| {
            let end = before.unwrap_or(1 << 40);
            (end - 500..end)
                .map(|s| envelope("elsewhere", s, 0))
                .collect()
        });
        assert_eq!(done, Gathered::TooMuch);
        assert_eq!(pages, MAX_MESSAGES / 500 + 1);
    }

    #[test]
    fn pages_that_stop_going_back_end_the_gathering_with_what_it_has() {
        let (done, pages) = gather(0, |_| vec![envelope("r", 7, 1)]);
        let Gathered::Partial(missed) = done else {
            panic!("{done:?}")
        };
        assert_eq!(missed.len(), 1);
        assert_eq!(pages, 2);
    }
}
