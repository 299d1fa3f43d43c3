//! Who of a room's members joined, and who is only invited.
//!
//! An invitation adds the invitee to the room's MLS group at once (the Welcome is their
//! way in), but they have not said yes: until they accept, they are an *invitee*, not a
//! member who joined. Each client keeps, per room, the members it saw added and has not
//! heard from since:
//! - a group change that adds someone makes them an invitee;
//! - their first group change or message after it makes them a member who joined
//!   ([`ChatEvent::MemberJoined`]); a client that joins sends, as its first message,
//!   the word that it joined ([`crate::e2e::sealed::Sealed::Joined`], no text), so
//!   that word comes at once, end-to-end encrypted and authenticated by their key, and
//!   through the room's log: every member hears it once, including one that was away
//!   (clients older than this one show it as a message they cannot read);
//! - a group change that removes them (they declined, or were uninvited) forgets them;
//! - a client that joins a room counts as invitees the members the server does not
//!   route the room to yet (they have not accepted on the server), and learns of the
//!   later ones as above;
//! - when asked ([`Client::members`]), a connected client also takes the server's
//!   word: an invitee the server routes the room to has accepted there (a client older
//!   than this one never says it joined), and is listed as joined; their own word
//!   is still announced when it comes. That word is the server's, as the routing
//!   of the room's messages is; who can read the room is the group's roster, invitees
//!   included.
//!
//! A proposal does not count: declining posts one.

use super::state::{Body, Scoped};
use super::{ChatEvent, Client};
use crate::e2e::group::roster;
use crate::error::ClientError;

/// Updates the invitees of `room` for what one processed message did: `sender` (when
/// it is a group change or a message from someone else) joined if they were an
/// invitee, and the members `events` say were added or removed become or stop being
/// invitees. [`ChatEvent::MemberJoined`] is put in front of `events`.
pub(super) fn note(
    tx: &Scoped<'_, '_>,
    room: &str,
    sender: Option<&str>,
    events: &mut Vec<ChatEvent>,
) -> Result<(), ClientError> {
    if let Some(sender) = sender {
        if tx.drop_invitee(room, sender)? {
            events.insert(
                0,
                ChatEvent::MemberJoined {
                    room: room.to_owned(),
                    user: sender.to_owned(),
                },
            );
        }
    }
    for event in events.iter() {
        if let ChatEvent::MembersChanged {
            room: changed,
            added,
            removed,
        } = event
        {
            for user in removed {
                tx.drop_invitee(changed, user)?;
            }
            tx.add_invitees(changed, added)?;
        }
    }
    Ok(())
}

impl Client {
    /// The members of `room` who joined, sorted: in the room's group, and there before
    /// this client, heard from since they were added, or accepted on the server. Those
    /// added by an invitation they have not accepted yet are [`Client::invitees`]; both
    /// can read what is sent to the room. Connected, it asks the server who it routes
    /// the room to, and processes what the server delivered before its answer (an
    /// acceptance, say).
    pub fn members(&mut self, room: &str) -> Result<Vec<String>, ClientError> {
        let (members, invitees) = self.membership(room)?;
        Ok(members
            .into_iter()
            .filter(|m| !invitees.contains(m))
            .collect())
    }

    /// The members of `room` who were invited and have not accepted yet, sorted (see
    /// [`Client::members`]).
    pub fn invitees(&mut self, room: &str) -> Result<Vec<String>, ClientError> {
        Ok(self.membership(room)?.1)
    }

    /// The group's roster and its invitees, both sorted.
    fn membership(&mut self, room: &str) -> Result<(Vec<String>, Vec<String>), ClientError> {
        let group_id = self.require_group(room)?;
        // What the server delivered before its answer is processed below.
        let routed = if self.is_connected() {
            match self.routed_members(room) {
                Ok(routed) => routed,
                // Not routed here (yet), or the connection just ended: the answer is
                // this client's own view.
                Err(e) => {
                    tracing::debug!(room, error = %e, "members without the server's word");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        self.process_queued()?;
        self.transaction(|tx| {
            let group = tx.group(&group_id)?;
            let mut names: Vec<String> = roster(&group).into_iter().map(|(n, _)| n).collect();
            tx.keep(group);
            names.sort();
            // One the server routes accepted there: counted as joined, but still
            // recorded, so that their own word is announced when it comes.
            let invitees = tx
                .invitees(room)?
                .into_iter()
                .filter(|i| names.contains(i) && !routed.contains(i))
                .collect();
            Ok((names, invitees))
        })
    }

    /// After joining `room`: the members the server does not route the room to yet
    /// (they have not accepted) are invitees; then this user tells the others it
    /// joined (see the module's documentation).
    pub(super) fn announce_joined(&mut self, room: &str) -> Result<(), ClientError> {
        // Not known: every member counts as joined.
        let routed = match self.routed_members(room) {
            Ok(routed) => Some(routed),
            Err(e) => {
                tracing::warn!(room, error = %e, "who joined the room is not known");
                None
            }
        };
        let group_id = self.require_group(room)?;
        let me = self.user.clone();
        self.transaction(|tx| {
            let group = tx.group(&group_id)?;
            let pending: Vec<String> = roster(&group)
                .into_iter()
                .map(|(n, _)| n)
                .filter(|n| *n != me && routed.as_ref().is_some_and(|r| !r.contains(n)))
                .collect();
            tx.keep(group);
            tx.clear_invitees(room)?;
            tx.add_invitees(room, &pending)
        })?;
        // Through the outbox, like a text: sent again after a lost connection.
        let mut out = self.seal(room, &group_id, &Body::Joined, None)?;
        match self.deliver(&mut out) {
            Ok(_) => self.transaction(|tx| tx.take_outbox(room, &out.digest).map(drop)),
            // Refused (a full disk...): the first text this user sends tells them.
            Err(e @ ClientError::Refused(_)) => {
                tracing::warn!(room, error = %e, "joined, but the others are told later");
                self.transaction(|tx| tx.take_outbox(room, &out.digest).map(drop))
            }
            Err(e) => Err(e),
        }
    }
}
