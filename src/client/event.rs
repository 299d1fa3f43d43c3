//! What [`crate::Client::recv_event`] hands out: messages and what happened around them.

use serde::{Deserialize, Serialize};

use crate::client::Message;

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
        /// Who joined.
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
}
