//! What comes in: room messages (decrypted, checked, stored, then handed out as
//! [`ChatEvent`]s), Welcomes (joining a group), and the catch-up after connecting.
//!
//! Each message is processed all-or-nothing with its cursor: after a crash it is
//! either fully handled (and never shown again) or not at all (and delivered again by
//! the server). Messages that are already queued are handled as a run of up to
//! [`MAX_RUN`] in one state transaction (one commit instead of one per message: the
//! catch-up after an absence is mostly that), each inside its own savepoint, so that
//! one that cannot be read is undone alone and the others still commit.

use std::time::{Duration, Instant};

use openmls::framing::errors::{MessageDecryptionError, SecretTreeError};
use openmls::prelude::*;
use sha2::{Digest, Sha256};

use super::event::{next_messages, Pick};
use super::invitees;
use super::rooms::members_changed;
use super::state::{Body, Scoped};
use super::trust::{mls, observe_roster};
use super::{Attachment, ChatEvent, Client, Message};
use crate::e2e::group::{checked_roster, from_bytes, member_name, roster};
use crate::e2e::policy;
use crate::e2e::provider::Provider;
use crate::e2e::sealed::{Sealed, WelcomeBox};
use crate::error::ClientError;
use crate::proto::{check_name, DirectEnvelope, Envelope, Event};

/// Room messages handled in one state transaction, at most.
const MAX_RUN: usize = 256;

/// What reading another member's message produced.
struct Read {
    /// The events to hand out.
    events: Vec<ChatEvent>,
    /// A proposal now waits for a commit.
    proposal_waiting: bool,
}

/// What became of a room message.
enum Handled {
    /// Already handled (at or below the cursor).
    Before,
    /// Handled now.
    Done,
    /// Handled now; it left a proposal that waits for a commit.
    ProposalWaiting,
    /// Its room's Welcome has not arrived yet.
    NotJoined,
}

fn reject(envelope: &Envelope, reason: impl Into<String>) -> ClientError {
    ClientError::Undecryptable {
        room: envelope.room.clone(),
        seq: envelope.seq,
        sender: envelope.sender.clone(),
        reason: reason.into(),
    }
}

/// Why openmls refused a message, in words for the user: matched on openmls's typed
/// errors (an openmls upgrade that changes them fails to compile here, instead of
/// silently turning every reason into the generic one).
fn why<S: std::fmt::Debug + std::fmt::Display>(e: &ProcessMessageError<S>) -> String {
    use ProcessMessageError as P;
    use ValidationError as V;
    match e {
        P::ValidationError(V::UnableToDecrypt(MessageDecryptionError::SecretTreeError(
            SecretTreeError::SecretReuseError,
        ))) => "replayed: its key was already used".into(),
        P::ValidationError(V::UnableToDecrypt(MessageDecryptionError::SecretTreeError(
            SecretTreeError::TooDistantInThePast,
        ))) => "replayed or too old: its key is no longer kept".into(),
        P::ValidationError(V::WrongEpoch | V::NoPastEpochData) => {
            "from a group epoch this client does not have (a group change is missing)".into()
        }
        P::ValidationError(V::InvalidSignature | V::InvalidMembershipTag) => {
            "forged: its signature does not verify".into()
        }
        P::ValidationError(V::UnknownMember | V::NonMemberApplicationMessage) => {
            "not from a member of the group".into()
        }
        P::GroupStateError(MlsGroupStateError::UseAfterEviction) => {
            "this client is no longer in the room's group".into()
        }
        P::ValidationError(V::WrongGroupId) => {
            "it belongs to another group than this room's".into()
        }
        other => format!("cannot be decrypted ({other})"),
    }
}

impl Client {
    /// After Hello: processes the catch-up until the server says it is complete, tops
    /// up key packages, sends what the outbox holds, commits waiting proposals.
    pub(super) fn after_hello(&mut self) -> Result<(), ClientError> {
        // The wait is for the next item, not for the whole catch-up: a long absence
        // means many messages to decrypt, which may take longer than one timeout.
        while !self.synced {
            let deadline = crate::client::deadline_in(self.settings.request_timeout);
            match self.wait_incoming(deadline)? {
                Some(event) => self.on_event(event)?,
                None => return Err(ClientError::Timeout(self.settings.request_timeout)),
            }
        }
        self.settle_pending_commits()?;
        self.top_up_key_packages()?;
        self.resend_outbox()?;
        self.commit_waiting()?;
        // Back after a long absence: keys older than the policy allows are renewed.
        self.self_update_overdue()
    }

    pub(super) fn commit_waiting(&mut self) -> Result<(), ClientError> {
        while let Some(room) = self.waiting.to_commit.pop_first() {
            self.commit_proposals(&room)?;
        }
        Ok(())
    }

    /// Processes everything the connection has already received, without waiting.
    pub(super) fn process_queued(&mut self) -> Result<(), ClientError> {
        if self.conn.is_none() || self.waiting.handling {
            return Ok(());
        }
        while let Some(event) = self.wait_incoming(Some(Instant::now()))? {
            self.on_event(event)?;
        }
        Ok(())
    }

    /// Handles one received item (see [`Waiting::handling`](super::waiting::Waiting)).
    pub(super) fn on_event(&mut self, event: Event) -> Result<(), ClientError> {
        let outer = std::mem::replace(&mut self.waiting.handling, true);
        let result = self.handle_event(event);
        self.waiting.handling = outer;
        result
    }

    fn handle_event(&mut self, event: Event) -> Result<(), ClientError> {
        match event {
            // Every name that comes from the server is checked like any name: an honest
            // server never sends an invalid one (it checks them where they enter), so
            // such an item is dropped (logged with the name escaped), never shown.
            Event::Message(envelope)
                if check_name(&envelope.room).is_err() || check_name(&envelope.sender).is_err() =>
            {
                tracing::warn!(room = ?envelope.room, sender = ?envelope.sender, "message with an invalid name dropped");
                Ok(())
            }
            Event::Message(envelope) => self.on_message_run(envelope),
            Event::Direct(direct) if check_name(&direct.sender).is_err() => {
                tracing::warn!(sender = ?direct.sender, "direct delivery with an invalid sender dropped");
                self.ack_directs(&[direct.id])
            }
            Event::Direct(direct) => self.on_direct(direct),
            Event::LinkAnswered { slot, answer } => self.on_link_answered(slot, answer),
            Event::SyncDone => {
                self.synced = true;
                Ok(())
            }
            // The Welcome follows through the queue.
            Event::Invited { .. } => Ok(()),
        }
    }

    /// Waits up to `timeout` (forever with `None`) for the next event of the user's
    /// rooms: a message from someone else (decrypted and checked), a member joining or
    /// leaving, a key change, a message that cannot be read... `Ok(None)` when the time
    /// is up. Each is handed out once, across restarts.
    pub fn recv_event(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<ChatEvent>, ClientError> {
        Ok(self.recv_events(1, timeout)?.pop())
    }

    /// Like [`Client::recv_event`], for a batch: waits up to `timeout` for the next event,
    /// then hands it out with those queued behind it, up to `max` (at most
    /// [`MAX_BATCH`](crate::client::MAX_BATCH)), in order, taken in one state transaction
    /// (cheaper than one call per event when many wait, as after a time away). Empty when
    /// the time is up.
    pub fn recv_events(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<ChatEvent>, ClientError> {
        Ok(self
            .recv_with(timeout, |c| c.pop_events(max, Pick::All))?
            .unwrap_or_default())
    }

    /// Waits up to `timeout` (forever with `None`) for the next message from someone
    /// else, live or missed while away, decrypted; `Ok(None)` when the time is up. Each
    /// message is returned once, across restarts. A message that cannot be read is
    /// [`ClientError::Undecryptable`] (it is skipped; call again for the next one).
    /// Other events (members, key changes) are only in [`Client::recv_event`].
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Option<Message>, ClientError> {
        Ok(self.recv_many(1, timeout)?.pop())
    }

    /// Like [`Client::recv`], for a batch: waits up to `timeout` for the next message, then
    /// hands it out with the messages queued behind it, up to `max` (at most
    /// [`MAX_BATCH`](crate::client::MAX_BATCH)), in order, taken in one state transaction.
    /// Empty when the time is up. A batch stops before a message that cannot be read; that
    /// one is [`ClientError::Undecryptable`] at the next call (it is skipped; call again).
    pub fn recv_many(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<Message>, ClientError> {
        next_messages(timeout, |left| {
            self.recv_with(left, |c| c.pop_events(max, Pick::Messages))
        })
    }

    /// The one step of the receive path, without waiting: processes what the
    /// connection has received (messages decrypted and stored, invitations, accepted
    /// with auto-join, group changes), then the commits and upkeep that are due. What
    /// it produced waits for [`Client::recv_event`]. Whether it did any commit or
    /// upkeep. The caller drives it: [`Client::recv_with`] between its waits for the
    /// connection, [`super::Background`]'s thread at each arrival.
    pub(crate) fn pump(&mut self) -> Result<bool, ClientError> {
        self.process_queued()?;
        let mut worked = false;
        if self.synced && !self.waiting.to_commit.is_empty() {
            self.commit_waiting()?;
            worked = true;
        }
        if self.synced && Instant::now() >= self.next_upkeep {
            self.next_upkeep = Instant::now() + super::MAINTENANCE_INTERVAL;
            self.top_up_key_packages()?;
            self.self_update_overdue()?;
            worked = true;
        }
        Ok(worked)
    }

    /// Waits up to `timeout` (forever with `None`) until `take` finds processed events
    /// (it returns an empty batch when there are none), driving [`Client::pump`] as
    /// things arrive; `Ok(None)` when the time is up.
    fn recv_with(
        &mut self,
        timeout: Option<Duration>,
        take: impl Fn(&Self) -> Result<Vec<ChatEvent>, ClientError>,
    ) -> Result<Option<Vec<ChatEvent>>, ClientError> {
        let deadline = timeout.and_then(crate::client::deadline_in);
        loop {
            let events = take(self)?;
            if !events.is_empty() {
                return Ok(Some(events));
            }
            if self.pump()? {
                continue;
            }
            let events = take(self)?;
            if !events.is_empty() {
                return Ok(Some(events));
            }
            // Wakes up for the upkeep too, even when waiting for ever.
            let wake = match deadline {
                Some(d) if self.synced => Some(d.min(self.next_upkeep)),
                None if self.synced => Some(self.next_upkeep),
                other => other,
            };
            match self.wait_incoming(wake)? {
                Some(event) => self.on_event(event)?,
                None if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(None),
                None => {}
            }
        }
    }

    /// Handles `first` with the room messages already queued behind it (up to
    /// [`MAX_RUN`], without waiting for more) as one run; the item that ends the run,
    /// if any, is handled after it (and the end of the connection reported after it).
    fn on_message_run(&mut self, first: Envelope) -> Result<(), ClientError> {
        let mut run = vec![first];
        let mut next = None;
        let mut ended = None;
        while run.len() < MAX_RUN {
            match self.wait_incoming(Some(Instant::now())) {
                Ok(Some(Event::Message(e)))
                    if check_name(&e.room).is_ok() && check_name(&e.sender).is_ok() =>
                {
                    run.push(e)
                }
                Ok(Some(other)) => {
                    next = Some(other);
                    break;
                }
                Ok(None) => break,
                Err(e) => {
                    ended = Some(e);
                    break;
                }
            }
        }
        self.on_envelopes(run)?;
        if let Some(e) = ended {
            return Err(e);
        }
        match next {
            Some(event) => self.on_event(event),
            None => Ok(()),
        }
    }

    /// Handles room messages (once each: those at or below their room's cursor are
    /// skipped) in runs of up to [`MAX_RUN`], one state transaction per run.
    pub(super) fn on_envelopes(&mut self, envelopes: Vec<Envelope>) -> Result<(), ClientError> {
        let mut envelopes = envelopes.into_iter().peekable();
        while envelopes.peek().is_some() {
            self.on_run(envelopes.by_ref().take(MAX_RUN).collect())?;
        }
        Ok(())
    }

    /// Handles one run of room messages in one state transaction. Each message is
    /// all-or-nothing inside it (a savepoint): one that cannot be read is undone alone,
    /// then its cursor moves past it and it is reported as
    /// [`ChatEvent::Undecryptable`], in the same transaction; the others commit. Any
    /// other failure stops the run at that message: it is undone, the messages before it
    /// commit (as they would have one by one), and the error is returned; the server
    /// sends the rest again.
    fn on_run(&mut self, run: Vec<Envelope>) -> Result<(), ClientError> {
        let me = self.user.clone();
        let (outcome, failed) = self.transaction(|tx| {
            let mut outcome = Vec::with_capacity(run.len());
            let mut failed = None;
            for envelope in run {
                let handled = match tx.atomically(|| Self::handle_envelope(tx, &me, &envelope)) {
                    Ok(handled) => handled,
                    Err(ClientError::Undecryptable {
                        room,
                        seq,
                        sender,
                        reason,
                    }) => {
                        tracing::warn!(%room, seq, %sender, %reason, "message cannot be read");
                        tx.advance(&room, seq)?;
                        tx.push_events(&[ChatEvent::Undecryptable {
                            room,
                            seq,
                            sender,
                            reason,
                        }])?;
                        Handled::Done
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                outcome.push((envelope, handled));
            }
            Ok((outcome, failed))
        })?;
        for (envelope, handled) in outcome {
            match handled {
                Handled::Before | Handled::Done => {}
                Handled::ProposalWaiting => {
                    self.waiting.to_commit.insert(envelope.room);
                }
                Handled::NotJoined => self.wait_for_welcome(envelope),
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Keeps a message of a room not joined yet until the room's Welcome arrives (the
    /// cursor stays before it). Bounded ([`Waiting::stash`](super::waiting::Waiting)):
    /// what does not fit is not lost, since the room is caught up from the server once
    /// joined (and at the next connect otherwise).
    fn wait_for_welcome(&mut self, envelope: Envelope) {
        self.waiting.stash(envelope);
    }

    /// One room message, inside the run's transaction: the check, the decryption, the
    /// history, the cursor, the events.
    fn handle_envelope(
        tx: &Scoped<'_, '_>,
        me: &str,
        envelope: &Envelope,
    ) -> Result<Handled, ClientError> {
        let room = envelope.room.as_str();
        if tx.cursor(room)? >= envelope.seq {
            return Ok(Handled::Before);
        }
        let Some(row) = tx.room(room)? else {
            return Ok(Handled::NotJoined);
        };
        if !row.active {
            return Err(reject(
                envelope,
                "this client is no longer in the room's group",
            ));
        }
        if envelope.sender == me {
            Self::own_envelope(tx, envelope, &row.group_id)?;
            return Ok(Handled::Done);
        }
        let to_commit = Self::others_envelope(tx, envelope, &row.group_id, row.joined_epoch)?;
        Ok(if to_commit {
            Handled::ProposalWaiting
        } else {
            Handled::Done
        })
    }

    /// This user's own message coming back: its own commit (merged when it was
    /// accepted; merged now if the client crashed in between) or an application message
    /// (moved from the outbox to the history if the acknowledgement was lost).
    fn own_envelope(
        tx: &Scoped<'_, '_>,
        envelope: &Envelope,
        group_id: &[u8],
    ) -> Result<(), ClientError> {
        let me = tx.user();
        {
            if let Some(epoch) = envelope.commit_epoch {
                let mut group = tx.group(group_id)?;
                if group.pending_commit().is_some() && group.epoch().as_u64() == epoch {
                    group
                        .merge_pending_commit(&tx.provider())
                        .map_err(mls("merging the commit"))?;
                    tx.pending_commit_taken(&envelope.room)?;
                }
            } else {
                let digest = Sha256::digest(&envelope.payload).to_vec();
                let kept = tx
                    .take_outbox(&envelope.room, &digest)?
                    .and_then(Body::kept);
                if let Some((text, attachment)) = kept {
                    tx.add_history(&Message {
                        id: envelope.id,
                        room: envelope.room.clone(),
                        seq: envelope.seq,
                        sender: me.to_owned(),
                        text,
                        timestamp: super::message::timestamp(envelope.timestamp_ms),
                        attachment,
                    })?;
                }
            }
            tx.advance(&envelope.room, envelope.seq)
        }
    }

    /// Someone else's message: decrypt and authenticate with the group, check its
    /// framing against what the server says (marking, sender), then the handler of its
    /// content; the cursor advances and the events are queued in the same transaction.
    /// Returns whether proposals now wait for a commit.
    fn others_envelope(
        tx: &Scoped<'_, '_>,
        envelope: &Envelope,
        group_id: &[u8],
        joined_epoch: u64,
    ) -> Result<bool, ClientError> {
        let message = from_bytes(&envelope.payload)
            .map_err(|e| reject(envelope, format!("not an MLS message ({e})")))?;
        let protocol = message
            .try_into_protocol_message()
            .map_err(|_| reject(envelope, "not an MLS group message"))?;
        let room = envelope.room.as_str();
        if protocol.epoch().as_u64() < joined_epoch {
            // From before this user joined (the commit that added them, for one).
            tx.advance(room, envelope.seq)?;
            return Ok(false);
        }
        // A group-state change must travel as one (marked with the epoch it changes,
        // which the server accepts once); anything else must not be marked.
        if let Some(marked) = envelope.commit_epoch {
            if marked != protocol.epoch().as_u64() {
                return Err(reject(
                    envelope,
                    format!(
                        "marked as the change of epoch {marked}, but from epoch {}",
                        protocol.epoch().as_u64()
                    ),
                ));
            }
        }
        let provider = tx.provider();
        let mut group = tx.group(group_id)?;
        let sent_epoch = protocol.epoch();
        let processed = group
            .process_message(&provider, protocol)
            .map_err(|e| reject(envelope, why(&e)))?;
        let is_commit = matches!(
            processed.content(),
            ProcessedMessageContent::StagedCommitMessage(_)
        );
        if is_commit != envelope.commit_epoch.is_some() {
            return Err(reject(
                envelope,
                if is_commit {
                    "a group change that was not sent as one (the server did not order it)"
                } else {
                    "marked as a group change, but it is not one"
                },
            ));
        }
        let signer = member_name(processed.credential()).map_err(|why| reject(envelope, why))?;
        if signer != envelope.sender {
            return Err(reject(
                envelope,
                format!("signed by {signer:?}, not by the sender the server names"),
            ));
        }
        // A proposal is not a word that the sender joined: declining posts one.
        let spoke = !matches!(
            processed.content(),
            ProcessedMessageContent::ProposalMessage(_)
        );
        let mut read = match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(app) => {
                Self::application(tx, envelope, &group, sent_epoch, app)?
            }
            ProcessedMessageContent::ProposalMessage(proposal) => {
                Self::proposal(envelope, &mut group, &provider, *proposal)?
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                Self::group_change(tx, envelope, &mut group, &provider, *staged)?
            }
            ProcessedMessageContent::OwnPendingCommit
            | ProcessedMessageContent::OwnPrivateMessage => {
                return Err(reject(envelope, "a copy of this client's own message"));
            }
            ProcessedMessageContent::ExternalJoinProposalMessage(_) => {
                return Err(reject(envelope, "external proposals are not accepted"));
            }
        };
        invitees::note(
            tx,
            room,
            spoke.then_some(envelope.sender.as_str()),
            &mut read.events,
        )?;
        tx.advance(room, envelope.seq)?;
        tx.keep(group);
        tx.push_events(&read.events)?;
        Ok(read.proposal_waiting)
    }

    /// An application message, authenticated: what the plaintext binds (room, sender,
    /// counter) must match the envelope; stored in the history.
    fn application(
        tx: &Scoped<'_, '_>,
        envelope: &Envelope,
        group: &MlsGroup,
        sent_epoch: GroupEpoch,
        app: ApplicationMessage,
    ) -> Result<Read, ClientError> {
        let room = envelope.room.as_str();
        // Keys of past epochs are kept so that a message sent just before a commit
        // still reads; they must not let someone removed since then go on talking in
        // the room.
        if sent_epoch < group.epoch()
            && !roster(group)
                .iter()
                .any(|(name, _)| *name == envelope.sender)
        {
            return Err(reject(
                envelope,
                format!(
                    "from {:?}, who is no longer a member (sent for epoch {})",
                    envelope.sender,
                    sent_epoch.as_u64()
                ),
            ));
        }
        let (bound_room, sender, counter, shown) = match Sealed::decode(&app.into_bytes()) {
            Some(Sealed::V1 {
                room,
                sender,
                counter,
                text,
            }) => (room, sender, counter, Some((text, None))),
            // Nothing to show: the sender's acceptance (see `invitees.rs`).
            Some(Sealed::Joined {
                room,
                sender,
                counter,
            }) => (room, sender, counter, None),
            Some(Sealed::File {
                room,
                sender,
                counter,
                mut file,
            }) => {
                // What another member announced is bounded like what this client sends.
                use super::transfer::{cut, MAX_FILE_NAME};
                file.name = cut(&file.name, MAX_FILE_NAME);
                file.mime = cut(&file.mime, MAX_FILE_NAME);
                (
                    room,
                    sender,
                    counter,
                    Some((String::new(), Some(Attachment(file)))),
                )
            }
            None => return Err(reject(envelope, "not an smc message")),
        };
        if bound_room != room || sender != envelope.sender {
            return Err(reject(
                envelope,
                format!("written by {sender:?} for room {bound_room:?}, not here"),
            ));
        }
        let mut events = Vec::new();
        let last = tx.see_counter(room, &sender, counter)?;
        if counter > last + 1 {
            events.push(ChatEvent::Missing {
                room: room.to_owned(),
                sender: sender.clone(),
                count: counter - last - 1,
            });
        }
        if let Some((text, attachment)) = shown {
            let message = Message {
                id: envelope.id,
                room: room.to_owned(),
                seq: envelope.seq,
                sender,
                text,
                timestamp: super::message::timestamp(envelope.timestamp_ms),
                attachment,
            };
            tx.add_history(&message)?;
            events.push(ChatEvent::Message(message));
        }
        Ok(Read {
            events,
            proposal_waiting: false,
        })
    }

    /// A proposal (a member leaving): checked against the policy and kept until a
    /// member commits it.
    fn proposal(
        envelope: &Envelope,
        group: &mut MlsGroup,
        provider: &Provider<'_>,
        proposal: QueuedProposal,
    ) -> Result<Read, ClientError> {
        policy::check_proposal(&proposal).map_err(|why| reject(envelope, why))?;
        group
            .store_pending_proposal(provider.storage(), proposal)
            .map_err(mls("storing a proposal"))?;
        Ok(Read {
            events: Vec::new(),
            proposal_waiting: true,
        })
    }

    /// Another member's group change: checked against the policy and merged; the
    /// roster before and after gives the events (members changed, keys changed, this
    /// user removed).
    fn group_change(
        tx: &Scoped<'_, '_>,
        envelope: &Envelope,
        group: &mut MlsGroup,
        provider: &Provider<'_>,
        staged: StagedCommit,
    ) -> Result<Read, ClientError> {
        let room = envelope.room.as_str();
        policy::check_commit(&staged, |leaf| {
            group
                .member_at(leaf)
                .and_then(|m| crate::e2e::group::member_name(&m.credential).ok())
        })
        .map_err(|why| reject(envelope, why))?;
        let before = roster(group);
        let self_removed = staged.self_removed();
        group
            .merge_staged_commit(provider, staged)
            .map_err(mls("merging a commit"))?;
        // Rolled back with the transaction if a new member's name is invalid.
        checked_roster(group).map_err(|why| reject(envelope, why))?;
        let mut events = Vec::new();
        if self_removed {
            tx.deactivate_room(room)?;
            events.push(ChatEvent::Removed {
                room: room.to_owned(),
            });
        } else {
            let after = roster(group);
            for user in observe_roster(tx, &after)? {
                events.push(ChatEvent::KeyChanged { user });
            }
            events.extend(members_changed(room, &before, &after));
        }
        Ok(Read {
            events,
            proposal_waiting: false,
        })
    }

    /// A direct delivery: a Welcome is an invitation ([`Client::on_welcome`]); anything
    /// else is kept for [`Client::take_direct`].
    fn on_direct(&mut self, direct: DirectEnvelope) -> Result<(), ClientError> {
        let Some(boxed) = WelcomeBox::decode(&direct.payload) else {
            // Not for the encryption layer: discarded on the server at once (nothing
            // unrecognised is queued and sent again forever), kept in memory for
            // `take_direct` (bounded: the oldest go first).
            self.ack_directs(&[direct.id])?;
            self.waiting.push_direct(direct);
            return Ok(());
        };
        self.on_welcome(direct, boxed)
    }
}
