//! Requests about direct deliveries: send one (a Welcome, or opaque bytes), acknowledge.

use super::{bad, blocking, name, now_ms};
use crate::net::MAX_PAYLOAD;
use crate::proto::{Refusal, Reply};
use crate::server::bus::{BusEvent, Limit};
use crate::server::rate::limited;
use crate::server::store::DirectQuota;
use crate::server::Shared;

/// Ids in one acknowledgement of direct deliveries.
const MAX_ACKS: usize = 1000;

impl Shared {
    /// [`crate::proto::Request::SendDirect`], or with `welcome_for`
    /// [`crate::proto::Request::SendWelcome`]: queues `payload` for `user` and tells
    /// their sessions.
    pub(super) async fn send_direct(
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

    /// [`crate::proto::Request::AckDirect`]: `me` has what `ids` hold; the store
    /// forgets them.
    pub(super) async fn ack_directs(&self, me: &str, ids: Vec<u64>) -> Result<Reply, Refusal> {
        if ids.len() > MAX_ACKS {
            return Err(bad(format!("at most {MAX_ACKS} ids per acknowledgement")));
        }
        let me = me.to_owned();
        blocking(&self.store, move |s| s.ack_directs(&me, &ids)).await?;
        Ok(Reply::Done)
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
}
