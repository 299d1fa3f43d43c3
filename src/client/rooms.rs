//! Rooms as MLS groups: create, invite (add by commit + Welcome through the invitee's
//! queue), leave (a remove proposal that another member commits), send (encrypt,
//! outbox, then the server), members and the decrypted history.
//!
//! Group changes follow the server's one-per-epoch rule: a commit refused as stale
//! is dropped, what was missed is processed, and the change is built again.

use std::time::{Duration, Instant};

use openmls::prelude::*;
use sha2::{Digest, Sha256};

use super::catch_up::{Gathered, Gathering};
use super::self_update::now_ms;
use super::send_reservation::Reservation;
use super::state::{Body, Outgoing, PendingCommit};
use super::trust::{mls, observe_roster};
use super::{name, ChatEvent, Client, Message, Sent};
use crate::e2e::group::{self, create_config, roster, to_bytes};
use crate::e2e::sealed::{Sealed, WelcomeBox};
use crate::error::{ClientError, E2eError, NetError};
use crate::net::MAX_PAYLOAD;
use crate::proto::{Refusal, Reply, Request};

/// What [`Client::seal`]'s transaction came to.
enum Prepared {
    /// Encrypted and in the outbox; where the sending ratchet now stands.
    Sealed(Outgoing, Reservation),
    /// The ratchet needs a new reservation: again, in a durable transaction.
    NeedsFsync,
    /// Proposals wait for a commit, which must come first.
    ProposalsFirst,
}

/// The longest text [`Client::send`] takes: the server's payload limit minus room for
/// the MLS framing, signature and padding.
pub const MAX_TEXT: usize = MAX_PAYLOAD - 8 * 1024;

/// How long an operation on a room waits for the room's Welcome when the server already
/// routes the room to this user.
const WELCOME_WAIT: Duration = Duration::from_secs(5);

/// How many times a group change is rebuilt after being refused as stale.
const COMMIT_ATTEMPTS: usize = 16;

/// What a group change produced: the commit, and a Welcome when members were added.
type Built = (MlsMessageOut, Option<MlsMessageOut>);

impl Client {
    /// The room's group id, if this client is in its group.
    pub(super) fn group_of(&self, room: &str) -> Result<Option<Vec<u8>>, ClientError> {
        Ok(self
            .transaction(|tx| tx.room(room))?
            .filter(|r| r.active)
            .map(|r| r.group_id))
    }

    /// The room's group id, or why there is none: the server's refusal (not a member,
    /// unknown room), or [`E2eError::NoGroup`] when the server routes the room here but
    /// its Welcome did not come within [`WELCOME_WAIT`] (invited a moment ago, the
    /// Welcome is normally on its way).
    pub(super) fn require_group(&mut self, room: &str) -> Result<Vec<u8>, ClientError> {
        if let Some(id) = self.group_of(room)? {
            return Ok(id);
        }
        self.routed_members(room)?;
        let deadline = Instant::now() + WELCOME_WAIT.min(self.settings.request_timeout);
        while let Some(event) = self.wait_incoming(Some(deadline))? {
            self.on_event(event)?;
            if let Some(id) = self.group_of(room)? {
                return Ok(id);
            }
        }
        Err(E2eError::NoGroup {
            room: room.to_owned(),
        }
        .into())
    }

    /// Creates a room with this user as its only member (and its MLS group).
    pub fn create_room(&mut self, room: &str) -> Result<(), ClientError> {
        name(room)?;
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(mls("randomness"))?;
        let id = group::group_id(room, &random);
        let credential = self.credential();
        // One transaction around the request: the group is kept only if the server
        // created the room (with the group's public state, against which it verifies
        // every later group change).
        self.transaction(|tx| {
            let provider = tx.provider();
            let group = MlsGroup::new_with_group_id(
                &provider,
                &self.signer,
                &create_config(),
                id.clone(),
                credential,
            )
            .map_err(mls("group creation"))?;
            let info = group
                .export_group_info(provider.crypto(), &self.signer, true)
                .map_err(mls("group info"))?;
            let info = to_bytes(&info).map_err(mls("encoding"))?;
            self.expect_done(Request::CreateRoom {
                room: room.into(),
                group_info: Some(info),
            })?;
            tx.set_room(room, id.as_slice(), 0)
        })
    }

    /// Invites `user` to `room`: takes one of their key packages (checked against the
    /// key remembered for them), records the invitation on the server, commits the add,
    /// and queues the Welcome for them. They join when they accept it
    /// ([`Client::accept`], or at once with [`Client::set_auto_join`]), even if they are
    /// offline now; until then nothing of the room is routed to them.
    pub fn invite(&mut self, room: &str, user: &str) -> Result<(), ClientError> {
        name(user)?;
        self.process_queued()?;
        let Some(group_id) = self.group_of(room)? else {
            // Not in the group: the server gives the precise refusal (or, if it routes
            // this user there anyway, the group is missing).
            self.record_invitation(room, user)?;
            return Err(E2eError::NoGroup { room: room.into() }.into());
        };
        let leaves = self.state.transaction(|tx| {
            let group = tx.group(&group_id)?;
            let leaves: Vec<LeafNodeIndex> = group
                .members()
                .filter(|m| group::member_name(&m.credential).is_ok_and(|n| n == user))
                .map(|m| m.index)
                .collect();
            tx.keep(group);
            Ok(leaves)
        })?;
        if !leaves.is_empty() {
            // In the group already. A member of the room, or invited with the Welcome
            // on its way: nothing to do. Invited without one (it never got through,
            // or the invitation expired and this is a new one): the invitation is
            // made again below, with a new leaf for them in place of the old one and
            // a new Welcome.
            match self.record_invitation(room, user)? {
                None | Some(true) => return Ok(()),
                Some(false) => {}
            }
        }
        let bytes = self.fetch_key_package(user)?;
        let package = self.check_key_package(user, &bytes)?;
        if leaves.is_empty() {
            self.record_invitation(room, user)?;
        }
        let welcome = self.commit(room, &group_id, Some(user), |group, provider, signer| {
            if leaves.is_empty() {
                let (commit, welcome, _) = group
                    .add_members(provider, signer, std::slice::from_ref(&package))
                    .map_err(mls("adding a member"))?;
                return Ok(Some((commit, Some(welcome))));
            }
            // Their stale leaf (leaves) out, a new one in, in one commit.
            let bundle = group
                .commit_builder()
                .propose_removals(leaves.iter().copied())
                .propose_adds([package.clone()])
                .load_psks(provider.storage())
                .map_err(mls("adding a member again"))?
                .build(provider.rand(), provider.crypto(), signer, |_| true)
                .map_err(mls("adding a member again"))?
                .stage_commit(provider)
                .map_err(mls("adding a member again"))?;
            let welcome = bundle.to_welcome_msg();
            let (commit, _, _) = bundle.into_contents();
            Ok(Some((commit, welcome)))
        });
        let welcome = match welcome {
            Ok(w) => w,
            Err(e) => {
                // The group change failed: the invitation is withdrawn (best effort),
                // so that nothing of the room goes to someone who is not in its group.
                let _ = self.expect_done(Request::Uninvite {
                    room: room.into(),
                    user: user.into(),
                });
                return Err(e);
            }
        };
        if let Some(welcome) = welcome {
            self.queue_welcome(room, user, welcome)?;
        }
        Ok(())
    }

    /// Records the invitation of `user` to `room` on the server: `None` if they are a
    /// member of the room already, else whether a Welcome was queued for it.
    fn record_invitation(&self, room: &str, user: &str) -> Result<Option<bool>, ClientError> {
        match self.request(Request::Invite {
            room: room.into(),
            user: user.into(),
        })? {
            Reply::Done => Ok(None),
            Reply::Invitation { welcome_sent } => Ok(Some(welcome_sent)),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// Leaves `room`: proposes this user's removal to the group (the next member
    /// online commits it; from then on new messages are unreadable to this user), and
    /// stops the server routing the room here. The local history stays.
    pub fn leave(&mut self, room: &str) -> Result<(), ClientError> {
        self.process_queued()?;
        let mut proposed = false;
        if let Some(group_id) = self.group_of(room)? {
            let proposal = self.state.transaction(|tx| {
                let mut group = tx.group(&group_id)?;
                let out = group
                    .leave_group(&tx.provider(), &self.signer)
                    .map_err(mls("leaving"))?;
                to_bytes(&out).map_err(mls("encoding"))
            })?;
            // Refused only if the group moved on meanwhile; leaving goes on.
            match self.send_payload(room, proposal, None) {
                Ok(_) => proposed = true,
                Err(e) => match e {
                    ClientError::Refused(Refusal::BadRequest { .. } | Refusal::Stale { .. }) => {
                        tracing::warn!(room, error = %e, "leave proposal refused")
                    }
                    e => return Err(e),
                },
            }
        }
        match self.expect_done(Request::Leave { room: room.into() }) {
            Ok(()) => {}
            // A member committed the proposal first (their client does so as soon as
            // it reads it): the server has already taken this user out.
            Err(ClientError::Refused(Refusal::NotAMember { .. })) if proposed => {}
            Err(e) => return Err(e),
        }
        self.waiting.to_commit.remove(room);
        self.transaction(|tx| tx.deactivate_room(room))
    }

    /// The last `limit` decrypted messages of `room` (this user's included), oldest
    /// first, from the local state: what this client received or sent since it joined.
    pub fn history(&self, room: &str, limit: u32) -> Result<Vec<Message>, ClientError> {
        self.history_before(room, limit, None)
    }

    /// Like [`Client::history`], a page further back: the last `limit` messages placed
    /// before message `before` (its `seq`; `None`: the newest), oldest first. Paging
    /// back: pass the `seq` of the oldest message of the previous page.
    pub fn history_before(
        &self,
        room: &str,
        limit: u32,
        before: Option<u64>,
    ) -> Result<Vec<Message>, ClientError> {
        self.transaction(|tx| tx.history_before(room, limit, before))
    }

    /// Encrypts `text` for `room`'s group and sends it; returns once the server has
    /// stored it durably. The ratchet step and the ciphertext are saved before anything
    /// leaves, so a crash never reuses a key and a message whose outcome is unknown (the
    /// connection lost before the answer) is sent again, once, at the next
    /// [`Client::connect`]. A message the server refused ([`ClientError::Refused`], e.g.
    /// `StorageFull`, `RateLimited`) is not sent later: retrying is the caller's choice.
    /// Refused with [`E2eError::KeyChanged`] while a
    /// member's changed key is not acknowledged.
    pub fn send(&mut self, room: &str, text: &str) -> Result<Message, ClientError> {
        if text.len() > MAX_TEXT {
            return Err(NetError::MessageTooLarge {
                size: text.len(),
                limit: MAX_TEXT,
            }
            .into());
        }
        self.send_body(room, Body::Text(text.to_owned()))
    }

    /// Encrypts `body` for `room` and sends it (see [`Client::send`]): the message as
    /// stored.
    pub(crate) fn send_body(&mut self, room: &str, body: Body) -> Result<Message, ClientError> {
        self.process_queued()?;
        let group_id = self.require_group(room)?;
        let me = self.user.clone();
        let mut out = self.seal(room, &group_id, &body, None)?;
        let sent = match self.deliver(&mut out) {
            Ok(sent) => sent,
            // The server answered that it stored nothing: the message is not sent, and
            // the client will not send it later either (the caller has the error and
            // decides). Any other failure (the connection lost, no answer) leaves the
            // outcome unknown: the message stays in the outbox and is sent again, once,
            // at the next connect unless the server turns out to have it.
            Err(e @ ClientError::Refused(_)) => {
                self.transaction(|tx| tx.take_outbox(room, &out.digest).map(drop))?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let (text, attachment) = body.kept().unwrap_or_default();
        let message = Message {
            id: sent.id,
            room: room.to_owned(),
            seq: sent.seq,
            sender: me,
            text,
            timestamp: sent.timestamp,
            attachment,
        };
        // Out of the outbox, into the history, counted for the self-update: one commit.
        let since = self.transaction(|tx| {
            tx.take_outbox(room, &out.digest)?;
            tx.add_history(&message)?;
            tx.count_sent(room, now_ms())
        })?;
        // The message is stored: renewing the leaf key (when due) cannot lose it.
        if let Err(e) = self.after_sent(room, since) {
            tracing::warn!(room, error = %e, "self-update postponed");
        }
        Ok(message)
    }

    /// Encrypts `text` for `room` in one transaction with everything that goes with it:
    /// the ratchet step, the sender's counter (a new one, or `again`'s when the same
    /// message is encrypted again) and the outbox entry (added, or replacing `again`'s).
    /// The transaction is durable (fsync) only when the sending ratchet needs a new
    /// reservation ([`super::send_reservation`]: a message key is never used twice,
    /// even after a power loss). Waiting proposals are committed first; refused with
    /// [`E2eError::KeyChanged`] while a member's changed key is not acknowledged.
    pub(super) fn seal(
        &mut self,
        room: &str,
        group_id: &[u8],
        body: &Body,
        again: Option<&Outgoing>,
    ) -> Result<Outgoing, ClientError> {
        let cached = self.reservations.get(group_id).copied();
        let mut durable = cached.is_none_or(|r| r.exhausted());
        let mut committed_proposals = false;
        loop {
            let prepared = if durable {
                self.transaction_durable(|tx| {
                    self.seal_in(tx, room, group_id, body, again, cached, true)
                })
            } else {
                self.transaction(|tx| self.seal_in(tx, room, group_id, body, again, cached, false))
            }?;
            match prepared {
                Prepared::Sealed(out, reservation) => {
                    self.reservations.insert(group_id.to_vec(), reservation);
                    return Ok(out);
                }
                Prepared::NeedsFsync => durable = true,
                Prepared::ProposalsFirst if !committed_proposals => {
                    // A member asked to leave: their removal is committed first.
                    self.commit_proposals(room)?;
                    committed_proposals = true;
                }
                Prepared::ProposalsFirst => return Err(E2eError::Busy { room: room.into() }.into()),
            }
        }
    }

    /// [`Client::seal`]'s transaction.
    #[allow(clippy::too_many_arguments)]
    fn seal_in(
        &self,
        tx: &super::state::Scoped<'_, '_>,
        room: &str,
        group_id: &[u8],
        body: &Body,
        again: Option<&Outgoing>,
        cached: Option<Reservation>,
        durable: bool,
    ) -> Result<Prepared, ClientError> {
        let mut group = tx.group(group_id)?;
        if group.pending_proposals().next().is_some() {
            tx.keep(group);
            return Ok(Prepared::ProposalsFirst);
        }
        for (user, _) in roster(&group) {
            if user != self.user && tx.contact(&user)?.is_some_and(|c| c.changed) {
                tx.keep(group);
                return Err(E2eError::KeyChanged { user }.into());
            }
        }
        let provider = tx.provider();
        let epoch = group.epoch().as_u64();
        let stored = match cached {
            Some(r) => Some(r),
            None => tx.reservation(group_id)?,
        };
        let (mut reservation, skip) = Reservation::for_epoch(stored, cached.is_some(), epoch);
        if reservation.exhausted() {
            if !durable {
                tx.keep(group);
                return Ok(Prepared::NeedsFsync);
            }
            // Past every generation that may have been used before this process
            // opened the home (a power loss may have taken their steps back).
            for _ in 0..skip {
                group
                    .create_message(&provider, &self.signer, &[])
                    .map_err(mls("stepping the ratchet"))?;
            }
            reservation = reservation.extended();
        }
        let counter = match again {
            Some(old) if old.counter > 0 => old.counter,
            _ => tx.take_counter(room)?,
        };
        let sealed = match body {
            Body::Text(text) => Sealed::V1 {
                room: room.to_owned(),
                sender: self.user.clone(),
                counter,
                text: text.clone(),
            },
            Body::Joined => Sealed::Joined {
                room: room.to_owned(),
                sender: self.user.clone(),
                counter,
            },
            Body::File(file) => Sealed::File {
                room: room.to_owned(),
                sender: self.user.clone(),
                counter,
                file: file.as_ref().clone(),
            },
        };
        let message = group
            .create_message(&provider, &self.signer, &sealed.encode())
            .map_err(mls("encryption"))?;
        reservation.used += 1;
        tx.set_reservation(group_id, reservation)?;
        let payload = to_bytes(&message).map_err(mls("encoding"))?;
        let out = Outgoing {
            room: room.to_owned(),
            digest: Sha256::digest(&payload).to_vec(),
            payload,
            body: body.clone(),
            counter,
        };
        match again {
            Some(old) => tx.replace_outbox(&old.digest, &out)?,
            None => tx.add_outbox(&out)?,
        }
        tx.keep(group);
        Ok(Prepared::Sealed(out, reservation))
    }

    /// Sends an outbox entry. Refused as stale, it was encrypted in an epoch older than
    /// the members still read (this client was behind, or the entry waited in the
    /// outbox while the group moved on): what was missed is processed and the same
    /// text is encrypted again, under the same counter, in the current epoch (`out`
    /// then is the entry as it now stands in the outbox).
    pub(super) fn deliver(&mut self, out: &mut Outgoing) -> Result<Sent, ClientError> {
        for _ in 0..COMMIT_ATTEMPTS {
            match self.send_payload(&out.room, out.payload.clone(), None) {
                Ok(sent) => return Ok(sent),
                Err(ClientError::Refused(Refusal::Stale { .. })) => {}
                Err(e) => return Err(e),
            }
            let room = out.room.clone();
            let again = self.group_of(&room).and_then(|group_id| {
                let group_id = group_id.ok_or_else(|| E2eError::NoGroup { room: room.clone() })?;
                self.catch_up(&room)?;
                let body = out.body.clone();
                self.seal(&room, &group_id, &body, Some(out))
            });
            match again {
                Ok(new) => {
                    tracing::info!(
                        room,
                        counter = new.counter,
                        "a message from an old epoch encrypted again"
                    );
                    *out = new;
                }
                Err(e) => return Err(e),
            }
        }
        Err(E2eError::Busy {
            room: out.room.clone(),
        }
        .into())
    }

    /// Sends what the outbox still holds (encrypted before a crash or a lost
    /// connection, never acknowledged), oldest first.
    pub(super) fn resend_outbox(&mut self) -> Result<(), ClientError> {
        let me = self.user.clone();
        let pending = self.transaction(|tx| tx.outbox())?;
        for mut out in pending {
            match self.deliver(&mut out) {
                Ok(sent) => self.transaction(|tx| {
                    let kept = tx.take_outbox(&out.room, &out.digest)?.and_then(Body::kept);
                    if let Some((text, attachment)) = kept {
                        tx.add_history(&Message {
                            id: sent.id,
                            room: out.room.clone(),
                            seq: sent.seq,
                            sender: me.clone(),
                            text,
                            timestamp: sent.timestamp,
                            attachment,
                        })?;
                    }
                    Ok(())
                })?,
                // A passing condition (a full disk, a rate limit, a server failure, a
                // member's key change to acknowledge first): kept, tried again at the
                // next connect, after the messages before it; the connection stays usable.
                Err(
                    e @ (ClientError::Refused(
                        Refusal::StorageFull | Refusal::RateLimited { .. } | Refusal::Internal,
                    )
                    | ClientError::E2e(E2eError::KeyChanged { .. } | E2eError::Busy { .. })),
                ) => {
                    tracing::warn!(room = %out.room, error = %e, "outbox kept for the next connect");
                    return Ok(());
                }
                // Refused for good (left the room meanwhile...): it can no longer go.
                Err(e @ (ClientError::Refused(_) | ClientError::E2e(E2eError::NoGroup { .. }))) => {
                    tracing::warn!(room = %out.room, error = %e, "an unsent message is dropped");
                    self.transaction(|tx| tx.take_outbox(&out.room, &out.digest).map(drop))?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Commits the proposals waiting in `room`'s group (a member leaving), if any.
    pub(super) fn commit_proposals(&mut self, room: &str) -> Result<(), ClientError> {
        self.waiting.to_commit.remove(room);
        let Some(group_id) = self.group_of(room)? else {
            return Ok(());
        };
        self.commit(room, &group_id, None, |group, provider, signer| {
            if group.pending_proposals().next().is_none() {
                return Ok(None);
            }
            let (commit, welcome, _) = group
                .commit_to_pending_proposals(provider, signer)
                .map_err(mls("committing proposals"))?;
            Ok(Some((commit, welcome)))
        })
        .map(drop)
    }

    /// Builds a group change with `build` (nothing to do if it returns `None`), sends it
    /// as the commit of the group's epoch and merges it once the server accepted it;
    /// when refused as stale, drops it, processes what was missed and builds it again.
    /// Returns the Welcome's bytes, if the change made one.
    pub(super) fn commit(
        &mut self,
        room: &str,
        group_id: &[u8],
        invitee: Option<&str>,
        build: impl Fn(
            &mut MlsGroup,
            &crate::e2e::provider::Provider<'_>,
            &openmls_basic_credential::SignatureKeyPair,
        ) -> Result<Option<Built>, ClientError>,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        for _ in 0..COMMIT_ATTEMPTS {
            // Durable: once sent, this commit's secrets must not be lost.
            let built = self.transaction_durable(|tx| {
                let mut group = tx.group(group_id)?;
                let Some((commit, welcome)) = build(&mut group, &tx.provider(), &self.signer)?
                else {
                    return Ok(None);
                };
                let pending = PendingCommit {
                    room: room.to_owned(),
                    epoch: group.epoch().as_u64(),
                    payload: to_bytes(&commit).map_err(mls("encoding"))?,
                    invitee: invitee.map(str::to_owned),
                    welcome: welcome
                        .map(|w| to_bytes(&w))
                        .transpose()
                        .map_err(mls("encoding"))?,
                    taken: false,
                };
                // Kept until its answer is known: after a lost answer it is sent again,
                // byte for byte ([`Client::settle_pending_commits`]).
                tx.set_pending_commit(&pending)?;
                Ok(Some((pending.payload, pending.welcome, pending.epoch)))
            })?;
            let Some((commit, welcome, epoch)) = built else {
                return Ok(None);
            };
            match self.send_payload(room, commit, Some(epoch)) {
                Ok(_) => {
                    self.merge_own_commit(room, group_id)?;
                    return Ok(welcome);
                }
                // Refused: the server did not take it; dropped (and built again when it
                // was only stale).
                Err(ClientError::Refused(refusal)) => {
                    self.drop_own_commit(room, group_id)?;
                    match refusal {
                        Refusal::Stale { .. } => self.catch_up(room)?,
                        refusal => return Err(ClientError::Refused(refusal)),
                    }
                }
                // No answer (the connection lost, a timeout): the server may have taken
                // it, and then every other member moves to the next epoch with it. So
                // it stays pending: merged when it comes back from the server
                // (`own_envelope`), or sent again after the next catch-up, whose answer
                // tells (`settle_pending_commits`). Dropping it here forked this client
                // from its group for good.
                Err(e) => return Err(e),
            }
        }
        Err(E2eError::Busy { room: room.into() }.into())
    }

    /// Merges this client's group change of `room`, which the server took.
    fn merge_own_commit(&mut self, room: &str, group_id: &[u8]) -> Result<(), ClientError> {
        self.transaction(|tx| {
            let mut group = tx.group(group_id)?;
            let before = roster(&group);
            group
                .merge_pending_commit(&tx.provider())
                .map_err(mls("merging the commit"))?;
            tx.forget_pending_commit(room)?;
            let after = roster(&group);
            observe_roster(tx, &after)?;
            let mut changed: Vec<ChatEvent> =
                members_changed(room, &before, &after).into_iter().collect();
            super::invitees::note(tx, room, None, &mut changed)?;
            tx.push_events(&changed)
        })
    }

    /// Drops this client's group change of `room`, which the server did not take.
    fn drop_own_commit(&mut self, room: &str, group_id: &[u8]) -> Result<(), ClientError> {
        self.transaction(|tx| {
            let mut group = tx.group(group_id)?;
            tx.forget_pending_commit(room)?;
            group
                .clear_pending_commit(tx.provider().storage())
                .map_err(mls("dropping the commit"))
        })
    }

    /// After a catch-up: a group change of this client's whose answer was lost is
    /// sent again, byte for byte. The server stores a message's bytes once, so its
    /// answer settles it: taken (now, or before: the stored one is the answer), it is
    /// merged and an invitation's Welcome goes out; refused (another change took the
    /// epoch), it is dropped. Whether the server took it is never guessed from what the
    /// catch-up holds, which a request still in flight on the old connection could
    /// follow. A change that came back meanwhile (merged) only has its Welcome to send.
    pub(super) fn settle_pending_commits(&mut self) -> Result<(), ClientError> {
        for room in self.transaction(|tx| tx.active_rooms())? {
            let Some(group_id) = self.group_of(&room)? else {
                continue;
            };
            let (stored, waiting_epoch) = self.transaction(|tx| {
                let group = tx.group(&group_id)?;
                let waiting = group.pending_commit().map(|_| group.epoch().as_u64());
                tx.keep(group);
                Ok((tx.pending_commit(&room)?, waiting))
            })?;
            match (stored, waiting_epoch) {
                (Some(commit), Some(epoch)) if commit.epoch == epoch && !commit.taken => {
                    match self.send_payload(&room, commit.payload.clone(), Some(epoch)) {
                        Ok(_) => {
                            tracing::info!(%room, epoch, "a group change whose answer was lost was taken");
                            self.merge_own_commit(&room, &group_id)?;
                            self.send_welcome(&commit)?;
                        }
                        Err(ClientError::Refused(refusal)) => {
                            tracing::info!(%room, epoch, %refusal, "a group change the server did not take is dropped");
                            self.drop_own_commit(&room, &group_id)?;
                        }
                        Err(e) => return Err(e),
                    }
                }
                (Some(commit), None) if commit.taken => {
                    self.send_welcome(&commit)?;
                    self.transaction(|tx| tx.forget_pending_commit(&room))?;
                }
                // Made before group changes were kept (or another member's change
                // replaced it): nothing to send again.
                (_, Some(_)) => self.drop_own_commit(&room, &group_id)?,
                (Some(_), None) => self.transaction(|tx| tx.forget_pending_commit(&room))?,
                (None, None) => {}
            }
        }
        Ok(())
    }

    /// Sends an invitation's Welcome, if `commit` added someone.
    fn send_welcome(&mut self, commit: &PendingCommit) -> Result<(), ClientError> {
        if let (Some(user), Some(welcome)) = (&commit.invitee, &commit.welcome) {
            self.queue_welcome(&commit.room, user, welcome.clone())?;
        }
        Ok(())
    }

    /// Queues the Welcome of this user's invitation of `user` to `room`: past a full
    /// queue, in place of the invitation's earlier Welcome ([`Request::SendWelcome`]).
    fn queue_welcome(&self, room: &str, user: &str, welcome: Vec<u8>) -> Result<(), ClientError> {
        let boxed = WelcomeBox {
            room: room.to_owned(),
            welcome,
        };
        match self.request(Request::SendWelcome {
            room: room.into(),
            user: user.into(),
            payload: boxed.encode(),
        })? {
            Reply::Queued { .. } => Ok(()),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }

    /// Fetches and processes the room's messages after the saved cursor (used when a
    /// commit was refused as stale: what made it stale may not have arrived yet, and
    /// after joining: what did not fit in memory while the Welcome was awaited). The
    /// server's pages are not trusted: see [`Gathering`].
    pub(super) fn catch_up(&mut self, room: &str) -> Result<(), ClientError> {
        let cursor = self.transaction(|tx| tx.cursor(room))?;
        let mut gathering = Gathering::new(room, cursor);
        let missed = loop {
            let page = self.history_envelopes(room, gathering.before(), 500)?;
            match gathering.page(page) {
                None => {}
                Some(Gathered::All(missed) | Gathered::Partial(missed)) => break missed,
                Some(Gathered::TooMuch) => return Ok(()),
            }
        };
        self.on_envelopes(missed)
    }
}

/// The event for a roster change (`None` if nothing changed).
pub(super) fn members_changed(
    room: &str,
    before: &[(String, Vec<u8>)],
    after: &[(String, Vec<u8>)],
) -> Option<ChatEvent> {
    let added: Vec<String> = after
        .iter()
        .filter(|m| !before.contains(m))
        .map(|m| m.0.clone())
        .collect();
    let removed: Vec<String> = before
        .iter()
        .filter(|m| !after.contains(m))
        .map(|m| m.0.clone())
        .collect();
    (!added.is_empty() || !removed.is_empty()).then(|| ChatEvent::MembersChanged {
        room: room.to_owned(),
        added,
        removed,
    })
}
