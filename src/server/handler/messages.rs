//! Requests about a room's messages: send, history.

use tokio::sync::oneshot;

use super::{bad, blocking, now_ms};
use crate::net::MAX_PAYLOAD;
use crate::proto::{Envelope, Refusal, Reply};
use crate::server::committer::Pending;
use crate::server::group_change;
use crate::server::store::NewMessage;
use crate::server::Shared;

/// Most messages returned by one history request.
const MAX_HISTORY: u32 = 1000;
/// Payload bytes returned by one history request (the reply must fit one message).
const HISTORY_BYTES: usize = MAX_PAYLOAD / 2;

impl Shared {
    /// [`crate::proto::Request::Send`]: `me`, a member, sends `payload` to `room`
    /// (marked as the group change of `commit_epoch`, or not); answered once it is
    /// durably stored.
    pub(super) async fn send(
        &self,
        me: &str,
        room: String,
        payload: Vec<u8>,
        commit_epoch: Option<u64>,
    ) -> Result<Reply, Refusal> {
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
                sender: me.to_owned(),
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

    /// [`crate::proto::Request::History`]: up to `limit` of `room`'s messages before
    /// `before`, newest last.
    pub(super) async fn history(
        &self,
        me: &str,
        room: String,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Reply, Refusal> {
        self.require_member(&room, me, false).await?;
        let limit = limit.min(MAX_HISTORY);
        // The newest messages that fit in one reply, and always one (a message may be
        // up to MAX_PAYLOAD alone, which a reply holds), so that paging back never
        // stalls on a large message. The store reads no further than that: a
        // request's memory and work are the reply's, whatever `limit` asked for.
        let _turn = self.reads.turn(me).await;
        let messages = blocking(&self.store, move |s| {
            s.history(&room, before, limit, HISTORY_BYTES)
        })
        .await?;
        Ok(Reply::Messages(messages))
    }

    /// Appends a message through the committer; returns it once durably stored.
    pub(super) async fn append(&self, message: NewMessage) -> Result<Envelope, Refusal> {
        let (done, result) = oneshot::channel();
        self.commits
            .send(Pending { message, done })
            .await
            .map_err(|_| Refusal::Internal)?;
        result.await.map_err(|_| Refusal::Internal)?
    }
}
