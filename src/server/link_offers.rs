//! The link offers a server holds: one per user at most, made by the user's first
//! device ([`crate::proto::Request::OfferLink`]), found by a new device through the
//! code's slot, answered once, then granted or dropped. In memory: an offer lives for
//! minutes, and a node that restarts forgets them (the person asks for a new code).
//! In a cluster both devices must reach the same node; the new device tries the
//! addresses in the order the person gave them, as the first device does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How long an offer stands at most.
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(600);

/// One user's offer.
#[derive(Debug)]
struct Offer {
    slot: String,
    message: Vec<u8>,
    expires: Instant,
    /// The transport key of the device that offers: its answer goes to it alone.
    by: [u8; 32],
    /// Set once a new device answered: its transport key, and where its grant goes.
    answered: Option<Answered>,
}

#[derive(Debug)]
struct Answered {
    transport_key: [u8; 32],
    grant: oneshot::Sender<Vec<u8>>,
}

/// Why a new device's step found no offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoOffer {
    /// None at that slot (never, expired, or replaced).
    Missing,
    /// Another device answered it already: a code is used once.
    Used,
}

/// Every user's standing offer.
#[derive(Debug, Default)]
pub(crate) struct LinkOffers {
    offers: Mutex<HashMap<String, Offer>>,
}

impl LinkOffers {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Offer>) -> T) -> T {
        let mut offers = self.offers.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        offers.retain(|_, o| o.expires > now);
        f(&mut offers)
    }

    /// `user`'s offer at `slot` by their device `by`, standing for `lifetime` (at most
    /// [`MAX_LIFETIME`]), in place of any earlier one.
    pub(crate) fn offer(
        &self,
        user: &str,
        slot: &str,
        message: Vec<u8>,
        lifetime: Duration,
        by: [u8; 32],
    ) {
        let offer = Offer {
            slot: slot.to_owned(),
            message,
            expires: Instant::now() + lifetime.min(MAX_LIFETIME),
            by,
            answered: None,
        };
        self.with(|offers| offers.insert(user.to_owned(), offer));
    }

    /// The message of `user`'s offer at `slot`, for a new device to answer.
    pub(crate) fn message(&self, user: &str, slot: &str) -> Result<Vec<u8>, NoOffer> {
        self.with(|offers| match offers.get(user) {
            Some(o) if o.slot == slot && o.answered.is_none() => Ok(o.message.clone()),
            Some(o) if o.slot == slot => Err(NoOffer::Used),
            _ => Err(NoOffer::Missing),
        })
    }

    /// Records that the device with `transport_key` answered `user`'s offer at `slot`:
    /// nobody else may from then on. The grant arrives on the receiver; the answer
    /// goes to the offering device (its transport key).
    pub(crate) fn answer(
        &self,
        user: &str,
        slot: &str,
        transport_key: [u8; 32],
    ) -> Result<(oneshot::Receiver<Vec<u8>>, [u8; 32]), NoOffer> {
        self.with(|offers| match offers.get_mut(user) {
            Some(o) if o.slot == slot && o.answered.is_none() => {
                let (grant, receiver) = oneshot::channel();
                o.answered = Some(Answered {
                    transport_key,
                    grant,
                });
                Ok((receiver, o.by))
            }
            Some(o) if o.slot == slot => Err(NoOffer::Used),
            _ => Err(NoOffer::Missing),
        })
    }

    /// Ends `user`'s answered offer at `slot`: the answering device's transport key and
    /// where its grant goes. The offer is gone whatever follows.
    pub(crate) fn take_answered(
        &self,
        user: &str,
        slot: &str,
    ) -> Option<([u8; 32], oneshot::Sender<Vec<u8>>)> {
        self.with(|offers| {
            let standing = offers.get(user)?;
            if standing.slot != slot || standing.answered.is_none() {
                return None;
            }
            let answered = offers.remove(user)?.answered?;
            Some((answered.transport_key, answered.grant))
        })
    }

    /// Drops `user`'s offer, if any (the first device withdrew it).
    pub(crate) fn withdraw(&self, user: &str) {
        self.with(|offers| offers.remove(user));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_is_answered_once_and_granted_once() {
        let offers = LinkOffers::default();
        offers.offer("alice", "7KQ2", b"m".to_vec(), MAX_LIFETIME, [9; 32]);
        assert_eq!(offers.message("alice", "AAAA"), Err(NoOffer::Missing));
        assert_eq!(offers.message("bob", "7KQ2"), Err(NoOffer::Missing));
        assert_eq!(offers.message("alice", "7KQ2").unwrap(), b"m");
        let (mut grant, by) = offers.answer("alice", "7KQ2", [1; 32]).unwrap();
        assert_eq!(by, [9; 32]);
        assert_eq!(offers.message("alice", "7KQ2"), Err(NoOffer::Used));
        assert!(matches!(
            offers.answer("alice", "7KQ2", [2; 32]),
            Err(NoOffer::Used)
        ));
        assert!(offers.take_answered("alice", "AAAA").is_none());
        let (key, tx) = offers.take_answered("alice", "7KQ2").unwrap();
        assert_eq!(key, [1; 32]);
        tx.send(b"g".to_vec()).unwrap();
        assert_eq!(grant.try_recv().unwrap(), b"g");
        assert!(offers.take_answered("alice", "7KQ2").is_none());
        assert_eq!(offers.message("alice", "7KQ2"), Err(NoOffer::Missing));
    }

    #[test]
    fn an_offer_expires_and_a_new_one_replaces_the_old() {
        let offers = LinkOffers::default();
        offers.offer("alice", "AAAA", b"1".to_vec(), Duration::ZERO, [9; 32]);
        assert_eq!(offers.message("alice", "AAAA"), Err(NoOffer::Missing));
        offers.offer("alice", "BBBB", b"2".to_vec(), MAX_LIFETIME, [9; 32]);
        offers.offer("alice", "CCCC", b"3".to_vec(), MAX_LIFETIME * 10, [9; 32]);
        assert_eq!(offers.message("alice", "BBBB"), Err(NoOffer::Missing));
        assert_eq!(offers.message("alice", "CCCC").unwrap(), b"3");
        offers.withdraw("alice");
        assert_eq!(offers.message("alice", "CCCC"), Err(NoOffer::Missing));
    }
}
