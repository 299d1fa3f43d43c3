//! Post-compromise security: this client replaces its leaf key in each room's group
//! from time to time, so that a copy of its state taken by an attacker stops reading
//! the room once the next self-update is merged.
//!
//! A self-update (an MLS commit with a new leaf key and path) is sent after this user
//! has sent [`SelfUpdatePolicy::messages`] messages in the room since the last one, or
//! when [`SelfUpdatePolicy::interval`] has passed since it (checked after each send, at
//! connection, so also when coming back after a long absence, and by the periodic
//! upkeep while connected).

use std::time::Duration;

use openmls::prelude::LeafNodeParameters;

use super::state::SinceRenewal;
use super::trust::mls;
use super::Client;
use crate::error::ClientError;

/// When a client renews its leaf key in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelfUpdatePolicy {
    /// After this many messages sent in the room since the last update (default 100).
    pub messages: u64,
    /// After this long since the last update, or since joining (default 7 days).
    pub interval: Duration,
}

impl Default for SelfUpdatePolicy {
    fn default() -> Self {
        SelfUpdatePolicy {
            messages: 100,
            interval: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Client {
    /// Sets when this client renews its leaf key in each room (see
    /// [`SelfUpdatePolicy`]).
    pub fn set_self_update_policy(&mut self, policy: SelfUpdatePolicy) {
        self.settings.self_update = policy;
    }

    /// Renews this user's leaf key in `room` now: after it, a copy of this client's
    /// earlier state cannot read what is sent in the room.
    pub fn self_update(&mut self, room: &str) -> Result<(), ClientError> {
        self.process_queued()?;
        let group_id = self.require_group(room)?;
        self.commit(room, &group_id, None, |group, provider, signer| {
            let bundle = group
                .self_update(provider, signer, LeafNodeParameters::default())
                .map_err(mls("self-update"))?;
            let (commit, _, _) = bundle.into_contents();
            Ok(Some((commit, None)))
        })?;
        self.transaction(|tx| tx.set_self_updated(room, now_ms()))
    }

    /// Renews the leaf key in `room` when the policy says so, `since` being what
    /// [`Tx::count_sent`](super::state::Tx) returned for the message just sent (counted
    /// in the transaction that stored it).
    pub(super) fn after_sent(
        &mut self,
        room: &str,
        since: SinceRenewal,
    ) -> Result<(), ClientError> {
        if since.sent >= self.settings.self_update.messages || self.overdue(since.renewed_ms) {
            self.self_update(room)?;
        }
        Ok(())
    }

    /// Renews the leaf key in every room where the interval has passed.
    pub(super) fn self_update_overdue(&mut self) -> Result<(), ClientError> {
        let rooms = self.transaction(|tx| {
            let mut due = Vec::new();
            for room in tx.active_rooms()? {
                let since = tx.self_updated(&room, now_ms())?;
                due.push((room, since));
            }
            Ok(due)
        })?;
        for (room, since) in rooms {
            if self.overdue(since) {
                self.self_update(&room)?;
            }
        }
        Ok(())
    }

    fn overdue(&self, since_ms: i64) -> bool {
        now_ms().saturating_sub(since_ms) >= self.settings.self_update.interval.as_millis() as i64
    }
}
