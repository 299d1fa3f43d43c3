//! Requests about invitations: invite, uninvite, list, accept, decline.

use super::{bad, blocking, invitation_quota, now_ms};
use crate::net::MAX_PAYLOAD;
use crate::proto::{encode, Event, Refusal, Reply, ServerFrame};
use crate::server::bus::BusEvent;
use crate::server::group_change;
use crate::server::hub::Outbound;
use crate::server::store::{Invited, NewMessage};
use crate::server::Shared;

impl Shared {
    /// [`crate::proto::Request::Invite`]: `me`, a member, invites `user` to `room`;
    /// the invitee's sessions are told at once.
    pub(super) async fn invite(
        &self,
        me: &str,
        room: String,
        user: String,
    ) -> Result<Reply, Refusal> {
        self.require_member(&room, me, false).await?;
        self.require_user(&user).await?;
        let (r, u, by) = (room.clone(), user.clone(), me.to_owned());
        let now = now_ms();
        let quota = invitation_quota(&self.limits, now);
        match blocking(&self.store, move |s| s.invite(&r, &u, &by, now, &quota)).await? {
            Invited::AlreadyMember => return Ok(Reply::Done),
            Invited::TooMany => {
                return Err(Refusal::QuotaExceeded {
                    reason: format!("{user:?} has too many pending invitations"),
                })
            }
            Invited::ByOther(other) => {
                return Err(bad(format!(
                    "{user:?} already has an invitation to {room:?} from {other:?}"
                )))
            }
            Invited::Pending { welcome_sent: true } => {
                // Asked again, and the Welcome is on its way or taken: nothing new to
                // announce.
                return Ok(Reply::Invitation { welcome_sent: true });
            }
            Invited::Pending {
                welcome_sent: false,
            } => {}
        }
        let event = ServerFrame::Event(Event::Invited {
            room: room.clone(),
            by: me.to_owned(),
        });
        let item = Outbound::Frame(encode(&event).into());
        self.hub.deliver_to_user(&user, &item);
        self.publish(BusEvent::Invited {
            user: user.clone(),
            room: room.clone(),
            by: me.to_owned(),
        });
        tracing::info!(by = me, user, room, "user invited");
        Ok(Reply::Invitation {
            welcome_sent: false,
        })
    }

    /// [`crate::proto::Request::Uninvite`]: `me`, the inviter, withdraws `user`'s
    /// invitation to `room`.
    pub(super) async fn uninvite(
        &self,
        me: &str,
        room: String,
        user: String,
    ) -> Result<Reply, Refusal> {
        self.require_member(&room, me, false).await?;
        let by = me.to_owned();
        blocking(&self.store, move |s| s.uninvite(&room, &user, Some(&by))).await?;
        Ok(Reply::Done)
    }

    /// [`crate::proto::Request::Invitations`]: `me`'s pending invitations.
    pub(super) async fn invitations(&self, me: &str) -> Result<Reply, Refusal> {
        let me = me.to_owned();
        Ok(Reply::Invitations(
            blocking(&self.store, move |s| s.invitations_of(&me)).await?,
        ))
    }

    /// [`crate::proto::Request::Accept`]: `me` accepts the invitation to `room`, which
    /// is routed to them from the message after the invitation on.
    pub(super) async fn accept(&self, me: &str, room: String) -> Result<Reply, Refusal> {
        let (r, u) = (room.clone(), me.to_owned());
        match blocking(&self.store, move |s| s.accept(&r, &u)).await? {
            Some(after) => {
                self.joined(&room, me);
                tracing::info!(user = me, room, "invitation accepted");
                Ok(Reply::Joined { after })
            }
            None if self.hub.is_member(&room, me) => {
                Err(bad(format!("already a member of room {room:?}")))
            }
            None => Err(Refusal::NotInvited { room }),
        }
    }

    /// [`crate::proto::Request::Decline`]: `me` declines the invitation to `room`;
    /// `farewell`, their self-removal proposal made from the Welcome, is posted for the
    /// members to commit.
    pub(super) async fn decline(
        &self,
        me: &str,
        room: String,
        farewell: Option<Vec<u8>>,
    ) -> Result<Reply, Refusal> {
        let (r, u) = (room.clone(), me.to_owned());
        if !blocking(&self.store, move |s| s.is_invited(&r, &u)).await? {
            return Err(Refusal::NotInvited { room });
        }
        if farewell.as_ref().is_some_and(|f| f.len() > MAX_PAYLOAD) {
            return Err(bad(format!("a farewell is at most {MAX_PAYLOAD} bytes")));
        }
        if let Some(farewell) = farewell {
            // Posted for the members to commit: it must be an MLS proposal of this
            // room's group, nothing else.
            let epoch = group_change::check_proposal(&room, &farewell)?;
            let posted = self
                .append(NewMessage {
                    room: room.clone(),
                    sender: me.to_owned(),
                    payload: farewell,
                    commit_epoch: None,
                    mls_epoch: Some(epoch),
                    timestamp_ms: now_ms(),
                    farewell: true,
                    max_stored: self.limits.max_stored_bytes_per_user,
                })
                .await;
            // A farewell from an epoch the group has left does not verify: the
            // invitation is declined all the same.
            if let Err(refusal) = posted {
                tracing::info!(user = me, room, %refusal, "farewell not posted");
            }
        }
        let u = me.to_owned();
        blocking(&self.store, move |s| s.uninvite(&room, &u, None)).await?;
        Ok(Reply::Done)
    }
}
