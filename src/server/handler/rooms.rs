//! Requests about rooms: create, leave, list, members, the group's state.

use super::{bad, blocking, name, now_ms, MAX_KEY_PACKAGE};
use crate::proto::{Refusal, Reply};
use crate::server::bus::BusEvent;
use crate::server::store::Creation;
use crate::server::Shared;

impl Shared {
    /// [`crate::proto::Request::CreateRoom`]: `me` creates `room` and is its first
    /// member; `group_info` is the creator's signed GroupInfo, whose public state the
    /// server tracks (none: an opaque room).
    pub(super) async fn create_room(
        &self,
        me: &str,
        room: String,
        group_info: Option<Vec<u8>>,
    ) -> Result<Reply, Refusal> {
        name(&room)?;
        if group_info
            .as_ref()
            .is_some_and(|g| g.len() > MAX_KEY_PACKAGE)
        {
            return Err(bad("a GroupInfo is at most 64 KiB"));
        }
        let (r, creator) = (room.clone(), me.to_owned());
        let max = self.limits.max_rooms_per_user;
        match blocking(&self.store, move |s| {
            s.create_room(&r, &creator, now_ms(), max, group_info.as_deref())
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

    /// [`crate::proto::Request::Leave`]: `me` is no longer routed `room`'s messages
    /// (their self-removal proposal goes as a message of its own).
    pub(super) async fn leave(&self, me: &str, room: String) -> Result<Reply, Refusal> {
        self.require_member(&room, me, false).await?;
        let (r, u) = (room.clone(), me.to_owned());
        blocking(&self.store, move |s| s.remove_member(&r, &u)).await?;
        self.hub.leave(&room, me);
        self.publish(BusEvent::Left {
            room,
            user: me.to_owned(),
        });
        Ok(Reply::Done)
    }

    /// [`crate::proto::Request::ListRooms`]: the rooms `me` is routed.
    pub(super) async fn list_rooms(&self, me: &str) -> Result<Reply, Refusal> {
        let me = me.to_owned();
        Ok(Reply::Names(
            blocking(&self.store, move |s| s.rooms_of(&me)).await?,
        ))
    }

    /// [`crate::proto::Request::Members`]: who `room` is routed to (`me` among them).
    pub(super) async fn members(&self, me: &str, room: String) -> Result<Reply, Refusal> {
        self.require_member(&room, me, false).await?;
        Ok(Reply::Names(
            blocking(&self.store, move |s| s.members(&room)).await?,
        ))
    }

    /// [`crate::proto::Request::GroupState`]: the hash of `room`'s group context at
    /// `epoch`, for a member or an invitee checking a Welcome.
    pub(super) async fn group_state(
        &self,
        me: &str,
        room: String,
        epoch: u64,
    ) -> Result<Reply, Refusal> {
        if !self.hub.is_member(&room, me) {
            let (r, u) = (room.clone(), me.to_owned());
            if !blocking(&self.store, move |s| s.is_invited(&r, &u)).await? {
                return Err(Refusal::NotAMember { room });
            }
        }
        Ok(Reply::GroupState(
            blocking(&self.store, move |s| s.group_context_hash(&room, epoch)).await?,
        ))
    }
}
