//! What [`crate::Client::recv_event`] hands out: messages and what happened around them.

use serde::{Deserialize, Serialize};

use std::time::{Duration, Instant};

use crate::client::Message;
use crate::error::ClientError;

/// Something that happened in the user's rooms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatEvent {
    /// A decrypted, authenticated message from someone else.
    Message(Message),
    /// This user is invited to a room by `by` (a member there, whose Welcome was
    /// checked): [`crate::Client::accept`] or [`crate::Client::decline`] it. Nothing
    /// of the room reaches this user before it is accepted.
    Invited {
        /// The room.
        room: String,
        /// Who invited.
        by: String,
    },
    /// This user joined a room (from a Welcome), added by `by`.
    Joined {
        /// The room.
        room: String,
        /// Who added this user (the member who signed the Welcome's group info).
        by: String,
    },
    /// The room's members changed (a commit was applied).
    MembersChanged {
        /// The room.
        room: String,
        /// Who was added: invited, they can read the room from now on, and count as
        /// joined once they accept ([`ChatEvent::MemberJoined`]).
        added: Vec<String>,
        /// Who left or was removed.
        removed: Vec<String>,
    },
    /// This user is no longer in the room's group.
    Removed {
        /// The room.
        room: String,
    },
    /// A user's key is not the one remembered: their safety number changed. Sending to
    /// rooms they are in waits until [`crate::Client::acknowledge_key_change`] or
    /// [`crate::Client::verify`].
    KeyChanged {
        /// The user.
        user: String,
    },
    /// A sender's counter jumped: `count` of their messages in the room did not arrive
    /// (the server dropped them, or they come later, out of order).
    Missing {
        /// The room.
        room: String,
        /// The sender.
        sender: String,
        /// How many.
        count: u64,
    },
    /// A message that cannot be shown: not decryptable, replayed, forged, not from a
    /// member, or not bound to this room and sender.
    Undecryptable {
        /// The room.
        room: String,
        /// Its place in the room.
        seq: u64,
        /// Who the server says sent it.
        sender: String,
        /// Why it cannot be shown.
        reason: String,
    },
    /// The connection was lost, said by a client that keeps itself connected
    /// ([`crate::client::Background`]). With `retrying`, it reconnects by itself, with
    /// backoff and jitter, to the addresses it was connected with (its calls wait for
    /// it, up to their timeout); without, it stopped: reconnection is off, or trying
    /// again cannot help (a changed server key, a refused name), and calls fail until
    /// the program connects again. Never stored: handed out by this process only.
    Disconnected {
        /// Why (the connection's end, or the last attempt's error).
        reason: String,
        /// Whether it reconnects by itself.
        retrying: bool,
    },
    /// Connected again, to `address`, after [`ChatEvent::Disconnected`]: the outbox was
    /// sent, and what was missed meanwhile follows, in order, once.
    Connected {
        /// The address it is connected to.
        address: String,
    },
    /// A member who was invited to the room accepted: `user` joined. Known from their
    /// first group change or message since they were added (accepting renews their
    /// key), so it is their own word, authenticated by their key, not the server's.
    MemberJoined {
        /// The room.
        room: String,
        /// Who joined.
        user: String,
    },
    /// This device was revoked by its user (from their first device): the server
    /// refuses it from then on, and the client stopped reconnecting (a
    /// [`ChatEvent::Disconnected`] follows). Never stored.
    DeviceRevoked,
    /// A new device of this user was linked with the code this client showed
    /// ([`crate::Client::link_code`]).
    DeviceLinked {
        /// Its id.
        device: String,
        /// Its name.
        name: String,
    },
}

/// The most events one batch call ([`crate::Client::recv_events`],
/// [`crate::Client::recv_many`]) hands out; a larger `max` is lowered to it.
pub const MAX_BATCH: usize = 1024;

/// Which of the oldest queued events one call takes (all of them in order, up to its
/// `max`): a call that hands out messages only must not take an unreadable message
/// that follows messages it returns, since it could not report both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// Every event.
    All,
    /// For [`crate::Client::recv_many`]: messages and the events passed over between
    /// them, up to the first unreadable message: that one is taken only when no message
    /// comes before it (and then last), to be reported on its own.
    Messages,
}

impl Pick {
    /// How many of `queued` (the oldest events, in order; `None`: an event this version
    /// cannot read, passed over) this call takes.
    pub(crate) fn count(self, queued: &[Option<ChatEvent>]) -> usize {
        if self == Pick::All {
            return queued.len();
        }
        let mut messages = false;
        for (i, event) in queued.iter().enumerate() {
            match event {
                Some(ChatEvent::Message(_)) => messages = true,
                Some(ChatEvent::Undecryptable { .. }) if messages => return i,
                Some(ChatEvent::Undecryptable { .. }) => return i + 1,
                _ => {}
            }
        }
        queued.len()
    }
}

/// The next batch of messages: `wait(left)` waits up to `left` for events taken with
/// [`Pick::Messages`] (`None` when the time is up); a batch of events passed over
/// (no message in it) is waited past, until `timeout`. What `recv_many` of
/// [`crate::Client`] and [`crate::client::Background`] share.
pub(crate) fn next_messages(
    timeout: Option<Duration>,
    mut wait: impl FnMut(Option<Duration>) -> Result<Option<Vec<ChatEvent>>, ClientError>,
) -> Result<Vec<Message>, ClientError> {
    let deadline = timeout.and_then(crate::client::deadline_in);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let Some(events) = wait(left)? else {
            return Ok(Vec::new());
        };
        let messages = messages_of(events)?;
        if !messages.is_empty() {
            return Ok(messages);
        }
    }
}

/// The messages among `events` (taken with [`Pick::Messages`]); the other events are
/// passed over, and an unreadable message (taken alone, see [`Pick::Messages`]) is
/// [`ClientError::Undecryptable`].
fn messages_of(events: Vec<ChatEvent>) -> Result<Vec<Message>, ClientError> {
    let mut messages = Vec::with_capacity(events.len());
    for event in events {
        match event {
            ChatEvent::Message(m) => messages.push(m),
            ChatEvent::Undecryptable {
                room,
                seq,
                sender,
                reason,
            } => {
                return Err(ClientError::Undecryptable {
                    room,
                    seq,
                    sender,
                    reason,
                })
            }
            _ => {}
        }
    }
    Ok(messages)
}
