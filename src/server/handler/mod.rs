//! What the server does for each request of an identified user: [`Shared::handle`]
//! dispatches each request to one function, grouped by family in the files beside
//! this one (`rooms.rs`, `invitations.rs`, `messages.rs`, `key_packages.rs`,
//! `directs.rs`, `blobs.rs`); what they share is here.

mod blobs;
mod devices;
mod directs;
mod invitations;
mod key_packages;
mod messages;
mod rooms;

use std::sync::Arc;

use crate::error::StoreError;
use crate::net::Limits;
use crate::proto::{check_name, Refusal, Reply, Request};
use crate::server::bus::{BusEvent, Limit};
use crate::server::store::{InvitationQuota, Store};
use crate::server::Shared;

/// The largest key package, and GroupInfo.
const MAX_KEY_PACKAGE: usize = 64 * 1024;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What `limits` allow one invitee at `now_ms`.
pub(crate) fn invitation_quota(limits: &Limits, now_ms: i64) -> InvitationQuota {
    let lifetime = i64::try_from(limits.invitation_lifetime.as_millis()).unwrap_or(i64::MAX);
    InvitationQuota {
        max_pending: limits.max_pending_invitations,
        per_stranger: limits.invitations_per_stranger,
        from_strangers: limits.max_pending_invitations / 2,
        expired_before_ms: now_ms.saturating_sub(lifetime),
    }
}

fn bad(reason: impl Into<String>) -> Refusal {
    Refusal::BadRequest {
        reason: reason.into(),
    }
}

fn name(name: &str) -> Result<(), Refusal> {
    check_name(name).map_err(|reason| bad(format!("{name:?}: {reason}")))
}

/// Runs a store call on the blocking pool; a store failure is logged and becomes
/// [`Refusal::Internal`], or [`Refusal::StorageFull`] when the disk is full (nothing
/// half-done: each call is one transaction).
pub(crate) async fn blocking<T, F>(store: &Arc<dyn Store>, f: F) -> Result<T, Refusal>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = store.clone();
    match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "store error");
            Err(e.refusal())
        }
        Err(e) => {
            tracing::error!(error = %e, "store call panicked");
            Err(Refusal::Internal)
        }
    }
}

impl Shared {
    /// Handles one request of `me` (already identified), on their device whose
    /// transport key is `key`.
    pub(crate) async fn handle(
        &self,
        me: &str,
        key: &[u8; 32],
        request: Request,
    ) -> Result<Reply, Refusal> {
        match request {
            Request::Hello { .. } | Request::LinkJoin { .. } => {
                Err(bad("hello was already done on this connection"))
            }
            Request::LinkAnswer { .. } => Err(bad("no link offer was asked on this connection")),
            Request::OfferLink {
                slot,
                message,
                lifetime_s,
            } => self.offer_link(me, key, slot, message, lifetime_s).await,
            Request::GrantLink {
                slot,
                certificate,
                sealed,
            } => self.grant_link(me, key, slot, certificate, sealed).await,
            Request::Devices => self.devices(me).await,
            Request::RevokeDevice { device } => self.revoke_device(me, key, device).await,
            Request::Ping => Ok(Reply::Pong),
            Request::CreateRoom { room, group_info } => {
                self.create_room(me, room, group_info).await
            }
            Request::Leave { room } => self.leave(me, room).await,
            Request::ListRooms => self.list_rooms(me).await,
            Request::Members { room } => self.members(me, room).await,
            Request::GroupState { room, epoch } => self.group_state(me, room, epoch).await,
            Request::Invite { room, user } => self.invite(me, room, user).await,
            Request::Uninvite { room, user } => self.uninvite(me, room, user).await,
            Request::Invitations => self.invitations(me).await,
            Request::Accept { room } => self.accept(me, room).await,
            Request::Decline { room, farewell } => self.decline(me, room, farewell).await,
            Request::Send {
                room,
                payload,
                commit_epoch,
            } => self.send(me, room, payload, commit_epoch).await,
            Request::History {
                room,
                before,
                limit,
            } => self.history(me, room, before, limit).await,
            Request::PublishKeyPackages {
                packages,
                last_resort,
            } => self.publish_key_packages(me, packages, last_resort).await,
            Request::FetchKeyPackage { user } => self.fetch_key_package(me, user).await,
            Request::KeyPackageCount => self.key_package_count(me).await,
            Request::SendDirect { user, payload } => {
                self.send_direct(me, user, payload, None).await
            }
            Request::SendWelcome {
                room,
                user,
                payload,
            } => self.send_direct(me, user, payload, Some(room)).await,
            Request::AckDirect { ids } => self.ack_directs(me, ids).await,
            Request::BeginUpload { room, size } => self.begin_upload(me, room, size).await,
            Request::PutChunk { blob, index, bytes }
            | Request::PutChunks { blob, index, bytes } => {
                self.put_chunks(me, blob, index, bytes).await
            }
            Request::UploadState { blob } => self.upload_state(me, blob).await,
            Request::FetchChunk { blob, index } => self.fetch_chunks(me, blob, index, 1).await,
            Request::FetchChunks { blob, index, count } => {
                self.fetch_chunks(me, blob, index, count).await
            }
        }
    }

    /// Whether `user` is a member of `room`. The routing table answers at once for a
    /// single node; with several nodes it may lag behind a change made through another
    /// node, so the store decides (except for a send: the store checks it again in
    /// the transaction that stores it). A member the table missed is added to it.
    async fn require_member(&self, room: &str, user: &str, sending: bool) -> Result<(), Refusal> {
        let routed = self.hub.is_member(room, user);
        if routed && (self.bus.is_none() || sending) {
            return Ok(());
        }
        let (r, u) = (room.to_owned(), user.to_owned());
        let member = blocking(&self.store, move |s| s.is_member(&r, &u)).await?;
        match (member, routed) {
            (true, false) => self.hub.join(room, user),
            (false, true) => self.hub.leave(room, user),
            _ => {}
        }
        if member {
            return Ok(());
        }
        let r = room.to_owned();
        if blocking(&self.store, move |s| s.room_exists(&r)).await? {
            Err(Refusal::NotAMember { room: room.into() })
        } else {
            Err(Refusal::UnknownRoom { room: room.into() })
        }
    }

    /// `user` is a registered name, or [`Refusal::UnknownUser`].
    async fn require_user(&self, user: &str) -> Result<(), Refusal> {
        let u = user.to_owned();
        if blocking(&self.store, move |s| s.user_exists(&u)).await? {
            Ok(())
        } else {
            Err(Refusal::UnknownUser { user: user.into() })
        }
    }

    /// Records locally and tells the other nodes that `user` joined `room`.
    fn joined(&self, room: &str, user: &str) {
        self.hub.join(room, user);
        self.publish(BusEvent::Joined {
            room: room.to_owned(),
            user: user.to_owned(),
        });
    }

    /// Takes one unit of a per-user rate, on every node.
    fn spend(&self, limit: Limit, user: &str) -> Result<(), std::time::Duration> {
        self.spend_units(limit, user, 1)
    }

    /// [`Shared::spend`] of `units` at once.
    fn spend_units(&self, limit: Limit, user: &str, units: u32) -> Result<(), std::time::Duration> {
        let spent = self.rates.get(limit).take_n_or_wait(user, units)?;
        self.publish(BusEvent::Spending {
            limit,
            live: true,
            spends: vec![spent],
        });
        Ok(())
    }
}
