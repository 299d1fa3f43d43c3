//! Connections that have not proven who they are yet (Noise handshake and Hello).
//!
//! They are capped separately from sessions ([`crate::net::Limits::max_unauthenticated`]):
//! when the cap is reached, the *oldest* of them is closed to make room. They also make
//! room when the server is full ([`crate::net::Limits::max_connections`]) or when their
//! address holds its share ([`crate::net::Limits::max_connections_per_address`]): a
//! new connection closes the oldest unauthenticated one (of that address, for the
//! latter). A client that completes its handshake promptly gets in even while someone
//! keeps opening sockets that never speak; such sockets are also closed at the
//! handshake deadline.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The address a connection is counted under for
/// [`crate::net::Limits::max_connections_per_address`]: an IPv4 address as it is (an
/// IPv4-mapped IPv6 address as its IPv4 one), an IPv6 address by its /64 prefix, the
/// smallest block one host is given, so that a host cannot take a new share per
/// address of its subnet.
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

/// The connections still in their handshake (or, for the admin listener, still
/// served), oldest first.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    waiting: Mutex<VecDeque<Waiting>>,
    next: AtomicU64,
    /// What the connections are, for the log ("" for clients in their handshake).
    what: &'static str,
}

/// One connection in its handshake, as the queue holds it.
#[derive(Debug)]
struct Waiting {
    id: u64,
    from: Option<IpAddr>,
    evict: watch::Sender<bool>,
}

/// One connection in its handshake; dropping it (handshake done or failed) frees its
/// place.
#[derive(Debug)]
pub(crate) struct Unauthenticated {
    admission: Arc<Admission>,
    id: u64,
    /// Turns `true` when this connection is evicted to make room for a newer one.
    pub evicted: watch::Receiver<bool>,
}

impl Admission {
    /// Places for connections of another kind (`what`, for the log): the admin
    /// listener's, where the oldest makes room too.
    pub(crate) fn of(what: &'static str) -> Admission {
        Admission {
            what,
            ..Admission::default()
        }
    }

    /// Records a new connection (from `from`, when known); evicts the oldest ones
    /// beyond `max`.
    pub(crate) fn admit(self: &Arc<Self>, max: usize, from: Option<IpAddr>) -> Unauthenticated {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(false);
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        while waiting.len() >= max.max(1) {
            if let Some(old) = waiting.pop_front() {
                self.evict(old, "too many connections in their handshake");
            }
        }
        waiting.push_back(Waiting {
            id,
            from,
            evict: tx,
        });
        Unauthenticated {
            admission: self.clone(),
            id,
            evicted: rx,
        }
    }

    /// Closes the oldest connection still in its handshake (from `from` only, when
    /// given) to make room; false when there is none.
    pub(crate) fn evict_oldest(&self, from: Option<IpAddr>, why: &'static str) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let found = waiting
            .iter()
            .position(|w| from.is_none() || w.from == from);
        match found.and_then(|i| waiting.remove(i)) {
            Some(old) => {
                self.evict(old, why);
                true
            }
            None => false,
        }
    }

    fn evict(&self, old: Waiting, why: &'static str) {
        if self.what.is_empty() {
            tracing::warn!(
                connection = old.id,
                "{why}: closing the oldest in its handshake"
            );
        } else {
            tracing::warn!(
                connection = old.id,
                what = self.what,
                "too many connections: closing the oldest"
            );
        }
        old.evict.send_replace(true);
    }

    /// How many connections are in their handshake.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for Unauthenticated {
    fn drop(&mut self) {
        let mut waiting = self
            .admission
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        waiting.retain(|w| w.id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_is_evicted_and_a_finished_one_frees_its_place() {
        let admission = Arc::new(Admission::default());
        let first = admission.admit(2, None);
        let second = admission.admit(2, None);
        assert!(!*first.evicted.borrow());
        let third = admission.admit(2, None);
        assert!(*first.evicted.borrow(), "the oldest makes room");
        assert!(!*second.evicted.borrow() && !*third.evicted.borrow());
        drop(second);
        assert_eq!(admission.len(), 1);
        let fourth = admission.admit(2, None);
        assert!(!*third.evicted.borrow() && !*fourth.evicted.borrow());
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_64_prefix() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), IpAddr::from([192, 0, 2, 7]));
        assert_eq!(
            address_key([10, 0, 0, 1].into()),
            IpAddr::from([10, 0, 0, 1])
        );
    }

    #[test]
    fn the_oldest_of_an_address_makes_room() {
        let admission = Arc::new(Admission::default());
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let from_a = admission.admit(10, Some(a));
        let from_b = admission.admit(10, Some(b));
        assert!(admission.evict_oldest(Some(b), "test"));
        assert!(*from_b.evicted.borrow() && !*from_a.evicted.borrow());
        assert!(!admission.evict_oldest(Some(b), "test"), "none left from b");
        assert!(admission.evict_oldest(None, "test"));
        assert!(*from_a.evicted.borrow());
    }
}
