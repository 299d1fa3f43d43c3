//! What the server does for each request of an identified user.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::error::StoreError;
use crate::net::{Limits, MAX_PAYLOAD};
use crate::proto::{check_name, encode, Event, Refusal, Reply, Request, ServerFrame};
use crate::server::bus::{BusEvent, Limit};
use crate::server::committer::Pending;
use crate::server::group_change;
use crate::server::hub::{Dedup, Outbound};
use crate::server::key_package;
use crate::server::rate::limited;
use crate::server::store::{Creation, DirectQuota, InvitationQuota, Invited, NewMessage, Store};
use crate::server::Shared;

/// Most messages returned by one history request.
const MAX_HISTORY: u32 = 1000;
/// Payload bytes returned by one history request (the reply must fit one message).
const HISTORY_BYTES: usize = MAX_PAYLOAD / 2;
/// Most key packages published in one request, and the largest one.
const MAX_KEY_PACKAGES: usize = 100;
const MAX_KEY_PACKAGE: usize = 64 * 1024;
/// One-use key packages one user may have stored.
const MAX_STORED_KEY_PACKAGES: usize = 100;
/// Ids in one acknowledgement of direct deliveries.
const MAX_ACKS: usize = 1000;

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

    /// Tells `user`'s sessions, here and on the other nodes, that direct delivery `id`
    /// waits in the store.
    fn notify_direct(&self, user: &str, id: u64) {
        self.hub.notify_direct(user, id);
        self.publish(BusEvent::Direct {
            user: user.to_owned(),
            id,
        });
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
        let spent = self.rates.get(limit).take_or_wait(user)?;
        self.publish(BusEvent::Spending {
            limit,
            live: true,
            spends: vec![spent],
        });
        Ok(())
    }

    async fn require_user(&self, user: &str) -> Result<(), Refusal> {
        let u = user.to_owned();
        if blocking(&self.store, move |s| s.user_exists(&u)).await? {
            Ok(())
        } else {
            Err(Refusal::UnknownUser { user: user.into() })
        }
    }

    /// Queues `payload` for `user` ([`Request::SendDirect`], or with `welcome_for`
    /// [`Request::SendWelcome`]) and tells their sessions.
    async fn send_direct(
        &self,
        me: &str,
        user: String,
        payload: Vec<u8>,
        welcome_for: Option<String>,
    ) -> Result<Reply, Refusal> {
        if payload.len() > MAX_PAYLOAD {
            return Err(bad(format!("a delivery is at most {MAX_PAYLOAD} bytes")));
        }
        self.spend(Limit::Directs, me).map_err(limited)?;
        self.require_user(&user).await?;
        if let Some(room) = &welcome_for {
            name(room)?;
        }
        let (u, sender) = (user.clone(), me.to_owned());
        let quota = DirectQuota {
            count: self.limits.direct_queue_count,
            bytes: self.limits.direct_queue_bytes,
            per_sender: self.limits.direct_per_sender,
        };
        let direct = blocking(&self.store, move |s| {
            s.push_direct(
                &u,
                &sender,
                &payload,
                now_ms(),
                &quota,
                welcome_for.as_deref(),
            )
        })
        .await?
        .ok_or_else(|| Refusal::QuotaExceeded {
            reason: format!("{user:?}'s queue of direct deliveries is full"),
        })?;
        self.notify_direct(&user, direct.id);
        Ok(Reply::Queued { id: direct.id })
    }

    /// Appends a message through the committer; returns it once durably stored.
    async fn append(&self, message: NewMessage) -> Result<crate::proto::Envelope, Refusal> {
        let (done, result) = oneshot::channel();
        self.commits
            .send(Pending { message, done })
            .await
            .map_err(|_| Refusal::Internal)?;
        result.await.map_err(|_| Refusal::Internal)?
    }

    /// Handles one request of `me` (already identified).
    pub(crate) async fn handle(&self, me: &str, request: Request) -> Result<Reply, Refusal> {
        let store = &self.store;
        let me_owned = me.to_owned();
        match request {
            Request::Hello { .. } => Err(bad("hello was already done on this connection")),
            Request::Ping => Ok(Reply::Pong),
            Request::CreateRoom { room, group_info } => {
                name(&room)?;
                if group_info
                    .as_ref()
                    .is_some_and(|g| g.len() > MAX_KEY_PACKAGE)
                {
                    return Err(bad("a GroupInfo is at most 64 KiB"));
                }
                let r = room.clone();
                let max = self.limits.max_rooms_per_user;
                match blocking(store, move |s| {
                    s.create_room(&r, &me_owned, now_ms(), max, group_info.as_deref())
                })
                .await?
                {
                    Creation::BadGroup(refusal) => return Err(refusal),
                    Creation::Created => {}
                    Creation::TooMany => {
                        return Err(Refusal::QuotaExceeded {
                            reason: format!("at most {max} rooms created per user"),
                        })
                    }
                    Creation::Exists => return Err(Refusal::RoomExists { room }),
                    Creation::Lookalike => {
                        return Err(bad(format!(
                            "{room:?} looks like the name of an existing room"
                        )))
                    }
                }
                self.joined(&room, me);
                tracing::info!(user = me, room, "room created");
                Ok(Reply::Done)
            }
            Request::Invite { room, user } => {
                self.require_member(&room, me, false).await?;
                self.require_user(&user).await?;
                let (r, u, by) = (room.clone(), user.clone(), me_owned.clone());
                let now = now_ms();
                let quota = invitation_quota(&self.limits, now);
                match blocking(store, move |s| s.invite(&r, &u, &by, now, &quota)).await? {
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
                        // Asked again, and the Welcome is on its way or taken: nothing
                        // new to announce.
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
                let item = Outbound {
                    bytes: encode(&event).into(),
                    dedup: Dedup::None,
                };
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
            Request::Uninvite { room, user } => {
                self.require_member(&room, me, false).await?;
                blocking(store, move |s| s.uninvite(&room, &user, Some(&me_owned))).await?;
                Ok(Reply::Done)
            }
            Request::GroupState { room, epoch } => {
                if !self.hub.is_member(&room, me) {
                    let (r, u) = (room.clone(), me_owned.clone());
                    if !blocking(store, move |s| s.is_invited(&r, &u)).await? {
                        return Err(Refusal::NotAMember { room });
                    }
                }
                Ok(Reply::GroupState(
                    blocking(store, move |s| s.group_context_hash(&room, epoch)).await?,
                ))
            }
            Request::Invitations => Ok(Reply::Invitations(
                blocking(store, move |s| s.invitations_of(&me_owned)).await?,
            )),
            Request::Accept { room } => {
                let r = room.clone();
                match blocking(store, move |s| s.accept(&r, &me_owned)).await? {
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
            Request::Decline { room, farewell } => {
                let (r, u) = (room.clone(), me_owned.clone());
                if !blocking(store, move |s| s.is_invited(&r, &u)).await? {
                    return Err(Refusal::NotInvited { room });
                }
                if farewell.as_ref().is_some_and(|f| f.len() > MAX_PAYLOAD) {
                    return Err(bad(format!("a farewell is at most {MAX_PAYLOAD} bytes")));
                }
                if let Some(farewell) = farewell {
                    // Posted for the members to commit: it must be an MLS proposal of
                    // this room's group, nothing else.
                    let epoch = group_change::check_proposal(&room, &farewell)?;
                    let posted = self
                        .append(NewMessage {
                            room: room.clone(),
                            sender: me_owned.clone(),
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
                blocking(store, move |s| s.uninvite(&room, &me_owned, None)).await?;
                Ok(Reply::Done)
            }
            Request::Leave { room } => {
                self.require_member(&room, me, false).await?;
                let r = room.clone();
                blocking(store, move |s| s.remove_member(&r, &me_owned)).await?;
                self.hub.leave(&room, me);
                self.publish(BusEvent::Left {
                    room: room.clone(),
                    user: me.to_owned(),
                });
                Ok(Reply::Done)
            }
            Request::ListRooms => Ok(Reply::Names(
                blocking(store, move |s| s.rooms_of(&me_owned)).await?,
            )),
            Request::Members { room } => {
                self.require_member(&room, me, false).await?;
                Ok(Reply::Names(
                    blocking(store, move |s| s.members(&room)).await?,
                ))
            }
            Request::Send {
                room,
                payload,
                commit_epoch,
            } => {
                if payload.len() > MAX_PAYLOAD {
                    return Err(bad(format!(
                        "a message is at most {MAX_PAYLOAD} bytes ({} given)",
                        payload.len()
                    )));
                }
                self.require_member(&room, me, true).await?;
                let mls_epoch = group_change::check(&room, &payload, commit_epoch)?;
                let envelope = self
                    .append(NewMessage {
                        room,
                        sender: me_owned,
                        payload,
                        commit_epoch,
                        mls_epoch,
                        timestamp_ms: now_ms(),
                        farewell: false,
                        max_stored: self.limits.max_stored_bytes_per_user,
                    })
                    .await?;
                Ok(Reply::Sent {
                    id: envelope.id,
                    seq: envelope.seq,
                    timestamp_ms: envelope.timestamp_ms,
                })
            }
            Request::History {
                room,
                before,
                limit,
            } => {
                self.require_member(&room, me, false).await?;
                let limit = limit.min(MAX_HISTORY);
                // The newest messages that fit in one reply, and always one (a message
                // may be up to MAX_PAYLOAD alone, which a reply holds), so that paging
                // back never stalls on a large message. The store reads no further
                // than that: a request's memory and work are the reply's, whatever
                // `limit` asked for.
                let _turn = self.reads.turn(me).await;
                let messages = blocking(store, move |s| {
                    s.history(&room, before, limit, HISTORY_BYTES)
                })
                .await?;
                Ok(Reply::Messages(messages))
            }
            Request::PublishKeyPackages {
                packages,
                last_resort,
            } => {
                if packages.len() > MAX_KEY_PACKAGES
                    || packages
                        .iter()
                        .chain(last_resort.iter())
                        .any(|p| p.len() > MAX_KEY_PACKAGE || p.is_empty())
                {
                    return Err(bad(format!(
                        "at most {MAX_KEY_PACKAGES} key packages of 1 to {MAX_KEY_PACKAGE} bytes"
                    )));
                }
                let now = now_ms();
                let packages = packages
                    .into_iter()
                    .map(|p| key_package::check(&p, me, false, now))
                    .collect::<Result<Vec<_>, _>>()?;
                let last_resort = last_resort
                    .map(|p| key_package::check(&p, me, true, now))
                    .transpose()?;
                // Counted and stored in one transaction: concurrent sessions (or nodes)
                // of one user cannot go past the quota together.
                let stored = blocking(store, move |s| {
                    s.publish_key_packages(
                        &me_owned,
                        &packages,
                        last_resort.as_ref(),
                        MAX_STORED_KEY_PACKAGES as u64,
                        now,
                    )
                })
                .await?;
                if !stored {
                    return Err(Refusal::QuotaExceeded {
                        reason: format!("at most {MAX_STORED_KEY_PACKAGES} key packages stored"),
                    });
                }
                Ok(Reply::Done)
            }
            Request::FetchKeyPackage { user } => {
                self.spend(Limit::Fetches, me).map_err(limited)?;
                self.require_user(&user).await?;
                // One-use packages are handed out at a bounded rate per owner and per
                // (owner, requester); past either, the last-resort one: nobody can drain
                // someone's packages, and one requester cannot take the owner's whole
                // share of the hour.
                let one_use = user == me
                    || (self.limits.one_use_packages_per_hour > 0
                        && self.limits.one_use_packages_per_requester > 0
                        && self
                            .spend(Limit::OneUsePair, &format!("{user}\u{0}{me}"))
                            .is_ok()
                        && self.spend(Limit::OneUse, &user).is_ok());
                let u = user.clone();
                match blocking(store, move |s| s.take_key_package(&u, one_use, now_ms())).await? {
                    Some(p) => Ok(Reply::KeyPackage(p)),
                    None => Err(Refusal::NoKeyPackage { user }),
                }
            }
            Request::KeyPackageCount => Ok(Reply::Count(
                blocking(store, move |s| s.key_package_count(&me_owned, now_ms())).await?,
            )),
            Request::SendDirect { user, payload } => {
                self.send_direct(me, user, payload, None).await
            }
            Request::SendWelcome {
                room,
                user,
                payload,
            } => self.send_direct(me, user, payload, Some(room)).await,
            Request::AckDirect { ids } => {
                if ids.len() > MAX_ACKS {
                    return Err(bad(format!("at most {MAX_ACKS} ids per acknowledgement")));
                }
                blocking(store, move |s| s.ack_directs(&me_owned, &ids)).await?;
                Ok(Reply::Done)
            }
        }
    }
}
