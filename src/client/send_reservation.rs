//! Message keys are never used twice, with one fsync per block of messages instead of
//! one per message.
//!
//! An MLS sender takes each message key from its sending ratchet: generation 0, 1,
//! 2... of the epoch. The step of the ratchet is stored with the message in the
//! client's state, in a commit that survives a crash of the process but, like every
//! commit made with `synchronous=NORMAL`, not necessarily a power loss: after one, the
//! state may be back at an earlier generation, and the next message would reuse a key
//! that already encrypted another one.
//!
//! So the client first records durably (with an fsync) that it may use generations up
//! to `reserved` in this epoch, then uses them with ordinary commits, counting `used`
//! with each step of the ratchet. When a client opens its home, nothing tells whether
//! a power loss took back some of those commits: before its first message in a group,
//! it steps its ratchet past every generation reserved so far in the epoch (encrypting
//! and discarding one message per step: openmls has no other way to advance it), then
//! reserves a new block.
//!
//! Why no generation is ever used twice: a generation is used only inside a
//! reservation that is already on disk (its fsync comes first); SQLite's WAL keeps
//! commits in order, so whatever survives a power loss holds a reservation at least as
//! high as any generation used before it; and after every opening, every generation
//! below that reservation is skipped before anything is sent. A new epoch starts a new
//! ratchet (and a new reservation: the row is keyed by group and records its epoch).
//!
//! Receivers see a gap in the sender's generations, which MLS tolerates within the
//! group's forward distance ([`crate::e2e::group`]: 10,000), and no gap in smc's own
//! counter (the skipped generations carry no message), so no
//! [`super::ChatEvent::Missing`] fires for them. What a power loss can still take back
//! is this client's own copy of a message sent just before it (its outbox entry): the
//! message itself is on the server and reaches the others.

use rusqlite::{params, OptionalExtension};

use super::state::Tx;
use crate::error::ClientError;

/// Generations reserved by one fsync. Larger: fewer fsyncs; smaller: fewer messages
/// encrypted for nothing (up to this many per group, once per opening of the home, and
/// as long a gap for receivers to step over).
pub(super) const BLOCK: u64 = 32;

/// Where the sending ratchet of a group stands, as far as this client knows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Reservation {
    /// The epoch the counts are for.
    pub epoch: u64,
    /// Generations used in that epoch.
    pub used: u64,
    /// Generations that may be used before the next fsync (on disk).
    pub reserved: u64,
}

impl Reservation {
    /// Where a group's ratchet stands for a message in `epoch`: from what is cached in
    /// this process (`cached`, trusted: nothing was lost since it was read), or else
    /// from the state, with every generation reserved so far to be skipped (returned
    /// as the count to skip).
    pub(super) fn for_epoch(
        stored: Option<Reservation>,
        cached: bool,
        epoch: u64,
    ) -> (Reservation, u64) {
        match stored {
            Some(r) if r.epoch == epoch && cached => (r, 0),
            Some(r) if r.epoch == epoch => (
                Reservation {
                    used: r.reserved,
                    ..r
                },
                r.reserved.saturating_sub(r.used),
            ),
            _ => (
                Reservation {
                    epoch,
                    used: 0,
                    reserved: 0,
                },
                0,
            ),
        }
    }

    /// Whether the next generation needs a new reservation (an fsync) first.
    pub(super) fn exhausted(&self) -> bool {
        self.used >= self.reserved
    }

    /// A new block, starting at the next generation.
    pub(super) fn extended(self) -> Reservation {
        Reservation {
            reserved: self.used + BLOCK,
            ..self
        }
    }
}

impl Tx<'_> {
    /// The stored reservation of the group `group_id`.
    pub(super) fn reservation(&self, group_id: &[u8]) -> Result<Option<Reservation>, ClientError> {
        self.cached_query_row(
            "SELECT epoch, used, reserved FROM send_reservations WHERE group_id = ?1",
            [group_id],
            |r| {
                Ok(Reservation {
                    epoch: r.get::<_, i64>(0)? as u64,
                    used: r.get::<_, i64>(1)? as u64,
                    reserved: r.get::<_, i64>(2)? as u64,
                })
            },
        )
        .optional()
        .map_err(|e| ClientError::Store(e.into()))
    }

    /// Stores the reservation of the group `group_id`.
    pub(super) fn set_reservation(
        &self,
        group_id: &[u8],
        r: Reservation,
    ) -> Result<(), ClientError> {
        self.cached_execute(
            "INSERT OR REPLACE INTO send_reservations (group_id, epoch, used, reserved)
                 VALUES (?1, ?2, ?3, ?4)",
            params![group_id, r.epoch as i64, r.used as i64, r.reserved as i64],
        )
        .map(drop)
        .map_err(|e| ClientError::Store(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_an_opening_everything_reserved_is_skipped_and_a_new_epoch_starts_at_zero() {
        let stored = Reservation {
            epoch: 3,
            used: 5,
            reserved: 32,
        };
        // Read from the state: what was used may be more than the 5 stored.
        let (r, skip) = Reservation::for_epoch(Some(stored), false, 3);
        assert_eq!((r.used, skip), (32, 27));
        assert!(r.exhausted());
        assert_eq!(r.extended().reserved, 32 + BLOCK);
        // Cached in this process: trusted as it stands.
        assert_eq!(Reservation::for_epoch(Some(stored), true, 3), (stored, 0));
        // Another epoch: a new ratchet, nothing reserved.
        let (r, skip) = Reservation::for_epoch(Some(stored), false, 4);
        assert_eq!((r.epoch, r.used, r.reserved, skip), (4, 0, 0, 0));
        assert_eq!(Reservation::for_epoch(None, false, 0).1, 0);
    }
}
