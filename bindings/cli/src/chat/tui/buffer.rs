//! A buffer of the full-screen client: a room's conversation (or the status buffer),
//! its messages in room order, each stored message once (by seq), the copy typed here
//! replaced by the stored one.

use std::collections::HashSet;

use chrono::{DateTime, Local};

use super::super::worker::Member;
use smc::client::Message;

/// Most entries kept per buffer (older ones scroll away).
const MAX_ENTRIES: usize = 10_000;

/// What a line of a buffer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// A message (`seq` is `None` while it is not stored by the server yet).
    Message {
        /// Its place in the room.
        seq: Option<u64>,
        /// Who sent it.
        sender: String,
        /// The text.
        text: String,
    },
    /// Information from smc.
    Notice(String),
    /// Something the user must notice (a key change, an error).
    Warning(String),
}

/// One line of a buffer.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// When.
    pub time: DateTime<Local>,
    /// What.
    pub kind: EntryKind,
}

/// A room's conversation, or the status buffer.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    /// The room's name (empty for the status buffer).
    pub room: String,
    /// The lines, oldest first.
    pub entries: Vec<Entry>,
    seen: HashSet<u64>,
    /// Messages that arrived while another buffer was shown.
    pub unread: usize,
    /// The members, as last listed.
    pub members: Vec<Member>,
    /// Whether this user is in the room.
    pub joined: bool,
    /// Rows scrolled up from the bottom (0: following new messages).
    pub scroll: usize,
}

impl Buffer {
    pub(super) fn new(room: &str) -> Self {
        Buffer {
            room: room.to_owned(),
            ..Buffer::default()
        }
    }

    /// Whether this is the status buffer.
    pub(crate) fn is_status(&self) -> bool {
        self.room.is_empty()
    }

    /// Adds a line at the bottom.
    pub(super) fn push(&mut self, kind: EntryKind) {
        self.entries.push(Entry {
            time: Local::now(),
            kind,
        });
        self.trim();
    }

    fn trim(&mut self) {
        if self.entries.len() > MAX_ENTRIES {
            let extra = self.entries.len() - MAX_ENTRIES;
            self.entries.drain(..extra);
        }
    }

    /// Adds a stored message once, in room order; false if it was already there.
    pub(super) fn add_message(&mut self, m: &Message, me: &str) -> bool {
        if !self.seen.insert(m.seq) {
            return false;
        }
        if m.sender == me {
            // The pending copy typed here is now stored.
            if let Some(i) = self.entries.iter().position(|e| {
                matches!(&e.kind, EntryKind::Message { seq: None, sender, text }
                    if sender == me && *text == m.text)
            }) {
                self.entries.remove(i);
            }
        }
        let entry = Entry {
            time: m.timestamp.with_timezone(&Local),
            kind: EntryKind::Message {
                seq: Some(m.seq),
                sender: m.sender.clone(),
                text: m.text.clone(),
            },
        };
        let later = self
            .entries
            .iter()
            .position(|e| matches!(e.kind, EntryKind::Message { seq: Some(s), .. } if s > m.seq));
        match later {
            Some(i) => self.entries.insert(i, entry),
            None => self.entries.push(entry),
        }
        self.trim();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::{Buffer, EntryKind};
    use smc::client::Message;

    fn message(seq: u64, sender: &str, text: &str) -> Message {
        Message {
            id: seq,
            room: "general".into(),
            seq,
            sender: sender.into(),
            text: text.into(),
            timestamp: chrono::Utc::now(),
            attachment: None,
        }
    }

    fn seqs(b: &Buffer) -> Vec<Option<u64>> {
        b.entries
            .iter()
            .filter_map(|e| match &e.kind {
                EntryKind::Message { seq, .. } => Some(*seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn messages_are_kept_in_room_order_once() {
        let mut b = Buffer::new("general");
        assert!(b.add_message(&message(2, "bob", "two"), "alice"));
        assert!(b.add_message(&message(1, "bob", "one"), "alice"));
        assert!(b.add_message(&message(3, "bob", "three"), "alice"));
        assert!(
            !b.add_message(&message(2, "bob", "two"), "alice"),
            "added twice"
        );
        assert_eq!(seqs(&b), [Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn the_copy_typed_here_is_replaced_by_the_stored_one() {
        let mut b = Buffer::new("general");
        b.push(EntryKind::Message {
            seq: None,
            sender: "alice".into(),
            text: "hello".into(),
        });
        b.push(EntryKind::Notice("bob joined".into()));
        assert!(b.add_message(&message(7, "alice", "hello"), "alice"));
        assert_eq!(seqs(&b), [Some(7)]);
        // Someone else's message with the same text replaces nothing.
        b.push(EntryKind::Message {
            seq: None,
            sender: "alice".into(),
            text: "same".into(),
        });
        assert!(b.add_message(&message(8, "bob", "same"), "alice"));
        assert_eq!(seqs(&b), [Some(7), None, Some(8)]);
    }

    #[test]
    fn old_lines_scroll_away_beyond_the_bound() {
        let mut b = Buffer::new("");
        assert!(b.is_status());
        for i in 0..super::MAX_ENTRIES + 5 {
            b.push(EntryKind::Notice(i.to_string()));
        }
        assert_eq!(b.entries.len(), super::MAX_ENTRIES);
        assert!(matches!(&b.entries[0].kind, EntryKind::Notice(t) if t == "5"));
    }
}
