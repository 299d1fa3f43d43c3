//! Connections that have not proven who they are yet (Noise handshake and Hello).
//!
//! They are capped separately from sessions ([`crate::net::Limits::max_unauthenticated`]):
//! when the cap is reached, the *oldest* of them is closed to make room. A client that
//! completes its handshake promptly gets in even while someone keeps opening sockets
//! that never speak; such sockets are also closed at the handshake deadline.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The connections still in their handshake (or, for the admin listener, still
/// served), oldest first.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    waiting: Mutex<VecDeque<(u64, watch::Sender<bool>)>>,
    next: AtomicU64,
    /// What the connections are, for the log ("" for clients in their handshake).
    what: &'static str,
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

    /// Records a new connection; evicts the oldest ones beyond `max`.
    pub(crate) fn admit(self: &Arc<Self>, max: usize) -> Unauthenticated {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(false);
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        while waiting.len() >= max.max(1) {
            if let Some((old, evict)) = waiting.pop_front() {
                if self.what.is_empty() {
                    tracing::warn!(
                        connection = old,
                        "too many connections in their handshake: closing the oldest"
                    );
                } else {
                    tracing::warn!(
                        connection = old,
                        what = self.what,
                        "too many connections: closing the oldest"
                    );
                }
                evict.send_replace(true);
            }
        }
        waiting.push_back((id, tx));
        Unauthenticated {
            admission: self.clone(),
            id,
            evicted: rx,
        }
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
        waiting.retain(|(id, _)| *id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_is_evicted_and_a_finished_one_frees_its_place() {
        let admission = Arc::new(Admission::default());
        let first = admission.admit(2);
        let second = admission.admit(2);
        assert!(!*first.evicted.borrow());
        let third = admission.admit(2);
        assert!(*first.evicted.borrow(), "the oldest makes room");
        assert!(!*second.evicted.borrow() && !*third.evicted.borrow());
        drop(second);
        assert_eq!(admission.len(), 1);
        let fourth = admission.admit(2);
        assert!(!*third.evicted.borrow() && !*fourth.evicted.borrow());
    }
}
