//! Invitations: a Welcome is a request the invitee accepts or declines.
//!
//! When a Welcome arrives, it is checked at once (it never replaces the group of a room
//! the user is in; the server holds an invitation of this user to the room from the
//! Welcome's sender, or already routes the room here with the sender a member; the
//! group id names the room; it is signed by that sender, who is in the roster with this
//! user; every member's name is valid), then kept in the state and announced as
//! [`ChatEvent::Invited`]. Nothing of the room is routed to the user before
//! [`Client::accept`]; [`Client::decline`] posts a self-removal proposal for the members
//! to commit. With [`Client::set_auto_join`], a checked invitation is accepted at once.
//!
//! Consent is the client's own: a Welcome joins at once only for a room this user
//! accepted (recorded in the state by [`Client::accept`]) or with auto-join on. A
//! server that claims the user is already in the room, without an accepted
//! invitation, gets the same answer as an invitation: the Welcome waits for the user.

use openmls::prelude::*;

use super::state::{HeldWelcome, Tx, DIRECT_STREAM};
use super::trust::{mls, observe_roster};
use super::{name, ChatEvent, Client};
use crate::e2e::group::{
    checked_roster, context_hash, from_bytes, join_config, member_name, room_of, to_bytes,
};
use crate::e2e::sealed::WelcomeBox;
use crate::error::ClientError;
use crate::proto::{check_name, DirectEnvelope, Invitation, Refusal, Reply, Request};

/// How long `decline` waits for the invitation's Welcome.
const WELCOME_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Welcomes held for a decision, at most. A server holds 200 pending invitations per
/// user by default; a hostile one (which can sign Welcomes as a user of its own, to this
/// user's last-resort key package) could otherwise fill the disk with invitations.
const MAX_HELD_WELCOMES: u64 = 256;

/// The bytes of the held Welcomes (room names included), at most.
const MAX_HELD_WELCOME_BYTES: u64 = 64 << 20;

/// Where this user stands with a room, as the server says.
enum Standing {
    /// The room is routed here and the sender is a member: the Welcome joins at once.
    Routed,
    /// The server holds an invitation from the sender: the Welcome waits for consent.
    Invited,
    /// Neither: why.
    Refused(String),
}

/// A Welcome staged and checked: the group (not yet stored) and who added this user.
struct Staged {
    group: MlsGroup,
    by: String,
    members: Vec<(String, Vec<u8>)>,
}

impl Staged {
    /// The epoch and context hash of the staged group, to compare with the server's.
    fn state(&self) -> (u64, Vec<u8>) {
        (
            self.group.epoch().as_u64(),
            context_hash(self.group.public_group().group_context()),
        )
    }
}

/// Stages `welcome` for `room`, sent by `sender`, and checks everything it binds.
/// `Ok(Err(reason))` when it is unusable.
fn stage(
    tx: &Tx<'_>,
    me: &str,
    room: &str,
    sender: &str,
    welcome: &[u8],
    tracked: bool,
) -> Result<Result<Staged, String>, ClientError> {
    let provider = tx.provider();
    let Some(welcome) = from_bytes(welcome).ok().and_then(|m| match m.extract() {
        MlsMessageBodyIn::Welcome(w) => Some(w),
        _ => None,
    }) else {
        return Ok(Err("not an MLS Welcome".into()));
    };
    let staged =
        match StagedWelcome::new_from_welcome(&provider, &join_config(tracked), welcome, None) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e.to_string())),
        };
    if room_of(staged.group_context().group_id()) != Some(room) {
        return Ok(Err(format!("its group is not the group of room {room:?}")));
    }
    // Who added this user, as the Welcome's signed group info says: it must be the user
    // who queued it.
    let by = match staged.welcome_sender() {
        Ok(leaf) => match member_name(leaf.credential()) {
            Ok(name) => name,
            Err(reason) => return Ok(Err(reason)),
        },
        Err(e) => return Ok(Err(format!("no valid signer ({e})"))),
    };
    if by != sender {
        return Ok(Err(format!("signed by {by:?} but sent by {sender:?}")));
    }
    let group = staged
        .into_group(&provider)
        .map_err(mls("joining the group"))?;
    let members = match checked_roster(&group) {
        Ok(m) => m,
        Err(reason) => return Ok(Err(reason)),
    };
    if !members.iter().any(|(n, _)| *n == by) || !members.iter().any(|(n, _)| n == me) {
        return Ok(Err("its roster lacks its sender or this user".into()));
    }
    Ok(Ok(Staged { group, by, members }))
}

impl Client {
    /// Accept invitations as soon as their Welcome is checked (default: off, each
    /// invitation waits for [`Client::accept`] or [`Client::decline`]). For bots and
    /// scripts that join wherever they are invited.
    pub fn set_auto_join(&mut self, on: bool) {
        self.settings.auto_join = on;
    }

    /// This user's pending invitations, as the server holds them (oldest first).
    pub fn invitations(&self) -> Result<Vec<Invitation>, ClientError> {
        match self.request(Request::Invitations)? {
            Reply::Invitations(list) => Ok(list),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// Accepts the invitation to `room`: the server routes it here from now on (with
    /// the messages since the invitation), and the held Welcome joins its group
    /// ([`ChatEvent::Joined`]). [`Refusal::NotInvited`] without an invitation. A room
    /// this user is already in (auto-join accepted it first) is left as it is.
    pub fn accept(&mut self, room: &str) -> Result<(), ClientError> {
        name(room)?;
        // Already in the room's group (auto-join accepted it first, or an earlier
        // accept did): nothing is left to accept.
        self.process_queued()?;
        if self.joined_rooms()?.iter().any(|r| r == room)
            && self.transaction(|tx| tx.held_welcome(room))?.is_none()
        {
            return Ok(());
        }
        // Recorded before the server hears of it: a Welcome that comes after this
        // joins at once (see the module's documentation).
        self.transaction(|tx| tx.record_consent(room))?;
        // A server that already routes the room here (it put this user in without an
        // invitation): there is nothing to accept on the server, and the held Welcome
        // is joined now that the user said yes.
        let after = if self.routed_by_held_sender(room)? {
            None
        } else {
            match self.request(Request::Accept { room: room.into() }) {
                Ok(Reply::Joined { after }) => Some(after),
                Ok(other) => return Err(ClientError::Protocol(format!("{other:?}"))),
                Err(e) => {
                    if matches!(e, ClientError::Refused(_)) {
                        self.transaction(|tx| tx.drop_consent(room))?;
                    }
                    return Err(e);
                }
            }
        };
        // What came before the invitation is not this user's.
        let held = self.transaction(|tx| {
            if let Some(after) = after {
                tx.advance(room, after)?;
            }
            tx.held_welcome(room)
        })?;
        if let Some(HeldWelcome {
            by,
            welcome,
            tracked,
        }) = held
        {
            match self.join_welcome(room, &by, &welcome, None, tracked)? {
                Ok(()) => {}
                Err(reason) => self.refuse_welcome(room, &by, None, &reason)?,
            }
            self.transaction(|tx| {
                tx.drop_held_welcome(room)?;
                tx.drop_consent(room)
            })?;
            self.after_join(room)?;
        }
        Ok(())
    }

    /// Whether a Welcome is held for `room` and the server routes the room here with
    /// its sender a member.
    fn routed_by_held_sender(&self, room: &str) -> Result<bool, ClientError> {
        let Some(held) = self.transaction(|tx| tx.held_welcome(room))? else {
            return Ok(false);
        };
        match self.routed_members(room) {
            Ok(members) => Ok(members.contains(&held.by)),
            Err(ClientError::Refused(Refusal::NotAMember { .. } | Refusal::UnknownRoom { .. })) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Declines the invitation to `room`: the server forgets it, and a proposal
    /// removing this user from the group they were added to is posted for the members
    /// to commit. [`Refusal::NotInvited`] without an invitation.
    pub fn decline(&mut self, room: &str) -> Result<(), ClientError> {
        name(room)?;
        let me = self.user.clone();
        // The Welcome is normally on its way right behind the invitation: wait a
        // little for it, so that the members can be told to remove this user.
        self.process_queued()?;
        let held = |c: &Self| c.transaction(|tx| tx.held_welcome(room));
        let invited = held(self)?.is_some() || self.invitations()?.iter().any(|i| i.room == room);
        let deadline = std::time::Instant::now() + WELCOME_WAIT.min(self.settings.request_timeout);
        while invited && held(self)?.is_none() {
            match self.wait_incoming(Some(deadline))? {
                Some(event) => self.on_event(event)?,
                None => break,
            }
        }
        let held = held(self)?;
        let farewell = match &held {
            Some(held) => self.state.dry_run(|tx| {
                let Ok(mut staged) = stage(tx, &me, room, &held.by, &held.welcome, held.tracked)?
                else {
                    return Ok(None);
                };
                let out = staged
                    .group
                    .leave_group(&tx.provider(), &self.signer)
                    .map_err(mls("leaving"))?;
                Ok(to_bytes(&out).ok())
            })?,
            None => None,
        };
        let outcome = self.expect_done(Request::Decline {
            room: room.into(),
            farewell,
        });
        self.transaction(|tx| tx.drop_held_welcome(room))?;
        match outcome {
            Err(ClientError::Refused(Refusal::NotInvited { .. })) if held.is_some() => Ok(()),
            other => other,
        }
    }

    /// How the server stands on `room` for this user and `sender`.
    fn standing(&self, room: &str, sender: &str) -> Result<Standing, ClientError> {
        match self.routed_members(room) {
            Ok(members) if members.iter().any(|m| m == sender) => return Ok(Standing::Routed),
            Ok(_) => {
                return Ok(Standing::Refused(format!(
                    "{sender:?} is not a member of room {room:?} on the server"
                )))
            }
            Err(ClientError::Refused(Refusal::NotAMember { .. } | Refusal::UnknownRoom { .. })) => {
            }
            Err(e) => return Err(e),
        }
        let invited = self
            .invitations()?
            .iter()
            .any(|i| i.room == room && i.by == sender);
        Ok(if invited {
            Standing::Invited
        } else {
            Standing::Refused(format!(
                "this user has no invitation to room {room:?} from {sender:?}"
            ))
        })
    }

    /// A Welcome arrived in the direct queue (see the module's documentation).
    pub(super) fn on_welcome(
        &mut self,
        direct: DirectEnvelope,
        boxed: WelcomeBox,
    ) -> Result<(), ClientError> {
        let sender = direct.sender.clone();
        if check_name(&boxed.room).is_err() {
            let reason = "an invalid room name".to_owned();
            return self.refuse_welcome(
                &format!("{:?}", boxed.room),
                &sender,
                Some(direct.id),
                &reason,
            );
        }
        let room = boxed.room.clone();
        let (seen, in_room) = self.transaction(|tx| {
            Ok((
                tx.cursor(DIRECT_STREAM)? >= direct.id,
                tx.room(&room)?.is_some_and(|row| row.active),
            ))
        })?;
        if seen {
            return Ok(());
        }
        if in_room {
            let reason = format!(
                "this user is already in room {room:?}; a Welcome never replaces its group"
            );
            return self.refuse_welcome(&room, &sender, Some(direct.id), &reason);
        }
        let mut standing = self.standing(&room, &sender)?;
        if matches!(standing, Standing::Routed)
            && !self.settings.auto_join
            && !self.transaction(|tx| tx.consented(&room))?
        {
            // The server says this user is in the room, but the user never said yes:
            // asked, as any invitation is.
            tracing::warn!(%room, %sender, "the server routes a room this user did not accept");
            standing = Standing::Invited;
        }
        match standing {
            Standing::Refused(reason) => {
                self.refuse_welcome(&room, &sender, Some(direct.id), &reason)
            }
            Standing::Routed => {
                let tracked = match self.check_against_server(&room, &sender, &boxed.welcome)? {
                    Ok(tracked) => tracked,
                    Err(reason) => {
                        return self.refuse_welcome(&room, &sender, Some(direct.id), &reason)
                    }
                };
                match self.join_welcome(&room, &sender, &boxed.welcome, Some(direct.id), tracked)? {
                    Ok(()) => {
                        self.transaction(|tx| tx.drop_consent(&room))?;
                        self.ack_directs(&[direct.id])?;
                        self.after_join(&room)
                    }
                    Err(reason) => self.refuse_welcome(&room, &sender, Some(direct.id), &reason),
                }
            }
            Standing::Invited => {
                let tracked = match self.check_against_server(&room, &sender, &boxed.welcome)? {
                    Ok(tracked) => tracked,
                    Err(reason) => {
                        // An invitation whose Welcome is bogus is declined at once, so
                        // that it does not stand in the way of a real one.
                        let _ = self.expect_done(Request::Decline {
                            room: room.clone(),
                            farewell: None,
                        });
                        return self.refuse_welcome(&room, &sender, Some(direct.id), &reason);
                    }
                };
                if !self.room_to_hold(&room, boxed.welcome.len())? {
                    let _ = self.expect_done(Request::Decline {
                        room: room.clone(),
                        farewell: None,
                    });
                    let reason = format!(
                        "{MAX_HELD_WELCOMES} invitations (or {} MiB of them) already wait \
                         for an answer",
                        MAX_HELD_WELCOME_BYTES >> 20
                    );
                    return self.refuse_welcome(&room, &sender, Some(direct.id), &reason);
                }
                let event = ChatEvent::Invited {
                    room: room.clone(),
                    by: sender.clone(),
                };
                self.transaction(|tx| {
                    tx.hold_welcome(&room, &sender, &boxed.welcome, tracked)?;
                    tx.advance(DIRECT_STREAM, direct.id)?;
                    tx.push_events(&[event])
                })?;
                // Kept in the state: the server may forget it.
                self.ack_directs(&[direct.id])?;
                if self.settings.auto_join {
                    self.accept(&room)?;
                }
                Ok(())
            }
        }
    }

    /// Whether one more Welcome of `size` bytes, for `room`, fits under the bounds of
    /// the held Welcomes. Past them, the Welcomes of invitations the server no longer
    /// holds (withdrawn, expired, settled elsewhere) are forgotten first.
    fn room_to_hold(&mut self, room: &str, size: usize) -> Result<bool, ClientError> {
        let fits = |(count, bytes): (u64, u64)| {
            count < MAX_HELD_WELCOMES
                && bytes.saturating_add((size + room.len()) as u64) <= MAX_HELD_WELCOME_BYTES
        };
        if fits(self.transaction(|tx| tx.held_welcomes_besides(room))?) {
            return Ok(true);
        }
        let pending: std::collections::HashSet<String> =
            self.invitations()?.into_iter().map(|i| i.room).collect();
        let usage = self.transaction(|tx| {
            for held in tx.held_welcome_rooms()? {
                if !pending.contains(&held) {
                    tx.drop_held_welcome(&held)?;
                }
            }
            tx.held_welcomes_besides(room)
        })?;
        Ok(fits(usage))
    }

    /// Stages `welcome` without keeping anything and checks it (see [`stage`]), and
    /// that its group is the room's real group: the same context at its epoch as the
    /// server tracks (a member cannot hand out a group of their own making). `Ok(Ok(
    /// tracked))`: usable, and whether the server tracks the room's group.
    fn check_against_server(
        &self,
        room: &str,
        sender: &str,
        welcome: &[u8],
    ) -> Result<Result<bool, String>, ClientError> {
        let me = self.user.clone();
        let staged = self
            .state
            .dry_run(|tx| Ok(stage(tx, &me, room, sender, welcome, true)?.map(|s| s.state())))?;
        let (epoch, ours) = match staged {
            Ok(state) => state,
            Err(reason) => return Ok(Err(reason)),
        };
        match self.request(Request::GroupState {
            room: room.into(),
            epoch,
        })? {
            // An opaque room (its creator gave the server no group state): nothing to
            // compare with.
            Reply::GroupState(None) => Ok(Ok(false)),
            Reply::GroupState(Some(theirs)) if theirs == ours => Ok(Ok(true)),
            Reply::GroupState(Some(_)) => Ok(Err(format!(
                "its group is not room {room:?}'s group as the server tracks it"
            ))),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// Joins `room`'s group from `welcome` (sent by `sender`) and stores it, with the
    /// direct queue's cursor when it came from there. `Ok(Err(reason))`: unusable,
    /// nothing stored.
    fn join_welcome(
        &mut self,
        room: &str,
        sender: &str,
        welcome: &[u8],
        direct_id: Option<u64>,
        tracked: bool,
    ) -> Result<Result<(), String>, ClientError> {
        let me = self.user.clone();
        self.transaction(|tx| {
            let Staged { group, by, members } =
                match stage(tx, &me, room, sender, welcome, tracked)? {
                    Ok(s) => s,
                    Err(reason) => return Ok(Err(reason)),
                };
            let mut events = Vec::new();
            for user in observe_roster(tx, &members)? {
                events.push(ChatEvent::KeyChanged { user });
            }
            tx.set_room(room, group.group_id().as_slice(), group.epoch().as_u64())?;
            if let Some(id) = direct_id {
                tx.advance(DIRECT_STREAM, id)?;
            }
            events.push(ChatEvent::Joined {
                room: room.to_owned(),
                by,
            });
            tx.push_events(&events)?;
            Ok(Ok(()))
        })
    }

    /// After joining a group: one key package was used, and the room's messages that
    /// waited for the Welcome (or came since the invitation) are processed.
    fn after_join(&mut self, room: &str) -> Result<(), ClientError> {
        self.top_up_key_packages()?;
        let waiting = self.waiting.take_stashed(room);
        self.on_envelopes(waiting)?;
        // Then what did not fit in memory while waiting, and what came since.
        self.catch_up(room)?;
        self.announce_joined(room)
    }

    /// Reports an unusable Welcome as [`ChatEvent::Undecryptable`] (and lets the server
    /// forget it when it came from the direct queue).
    fn refuse_welcome(
        &mut self,
        room: &str,
        sender: &str,
        direct_id: Option<u64>,
        reason: &str,
    ) -> Result<(), ClientError> {
        tracing::warn!(%room, %sender, %reason, "unusable Welcome");
        let event = ChatEvent::Undecryptable {
            room: room.to_owned(),
            seq: 0,
            sender: sender.to_owned(),
            reason: format!("an invitation that cannot be used: {reason}"),
        };
        self.transaction(|tx| {
            if let Some(id) = direct_id {
                tx.advance(DIRECT_STREAM, id)?;
            }
            tx.push_events(&[event])
        })?;
        if let Some(id) = direct_id {
            self.ack_directs(&[id])?;
        }
        Ok(())
    }
}
