//! Routing of live traffic: who is connected, who is in which room, and fan-out.
//!
//! The hub holds, in memory, each connected user's sessions and each room's members (a
//! copy of the store's membership table, loaded at start and updated with it). Delivery
//! never waits: a session whose outbound queue is full is closed (a slow reader must not
//! stall the others) and catches up from the store when it reconnects.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

/// One encoded server frame queued for a session, with what the writer needs to drop
/// duplicates between the sync after Hello and live delivery.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    /// The encoded [`crate::proto::ServerFrame`] (shared by every recipient).
    pub bytes: Arc<[u8]>,
    /// What it delivers, for de-duplication.
    pub dedup: Dedup,
}

/// The identity of a delivered item.
#[derive(Debug, Clone)]
pub(crate) enum Dedup {
    /// A reply or an event that is never duplicated.
    None,
    /// Message `seq` of a room.
    Room(Arc<str>, u64),
    /// Direct delivery `id`.
    Direct(u64),
}

/// A live session as the hub sees it.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    /// Unique per connection.
    pub id: u64,
    /// Its outbound queue (bounded in items).
    pub tx: mpsc::Sender<Outbound>,
    /// The bytes in that queue, bounded by `max_bytes`: the writer subtracts what it
    /// takes out ([`SessionHandle::taken`]).
    pub queued: Arc<AtomicUsize>,
    /// See [`crate::net::Limits::outbound_bytes`].
    pub max_bytes: usize,
    /// Set to `true` to close the session.
    pub close: Arc<watch::Sender<bool>>,
}

impl SessionHandle {
    /// Counts `bytes` into the queue's total; `false` (nothing counted) when the total
    /// would pass the limit.
    pub(crate) fn reserve(&self, bytes: usize) -> bool {
        let mut current = self.queued.load(Ordering::Acquire);
        loop {
            if current.saturating_add(bytes) > self.max_bytes {
                return false;
            }
            match self.queued.compare_exchange_weak(
                current,
                current + bytes,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    /// The writer took `bytes` out of the queue.
    pub(crate) fn taken(&self, bytes: usize) {
        self.queued.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Queues a live event without waiting (`true` if queued); a session whose queue
    /// is full (in items or bytes) is closed: it catches up from the store when it
    /// reconnects.
    fn push(&self, item: Outbound, user: &str) -> bool {
        let size = item.bytes.len();
        if !self.reserve(size) {
            tracing::warn!(
                user,
                session = self.id,
                "outbound bytes over the limit: disconnecting a slow reader"
            );
            self.close.send_replace(true);
            return false;
        }
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.taken(size);
                tracing::warn!(
                    user,
                    session = self.id,
                    "outbound queue full: disconnecting a slow reader"
                );
                self.close.send_replace(true);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.taken(size);
                false
            }
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<String, Vec<SessionHandle>>,
    rooms: HashMap<String, HashSet<String>>,
}

/// The routing table.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    inner: Mutex<Inner>,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads the memberships read from the store.
    pub(crate) fn load(&self, memberships: Vec<(String, String)>) {
        let mut inner = self.lock();
        for (room, user) in memberships {
            inner.rooms.entry(room).or_default().insert(user);
        }
    }

    /// Adds a connected session of `user`; when the user already has `max` sessions,
    /// the oldest ones are asked to close (a user's key cannot be used to hold every
    /// connection slot, and its owner always gets in).
    pub(crate) fn register(&self, user: &str, session: SessionHandle, max: usize) {
        let mut inner = self.lock();
        let list = inner.sessions.entry(user.to_owned()).or_default();
        while list.len() >= max.max(1) {
            let oldest = list.remove(0);
            tracing::warn!(
                user,
                session = oldest.id,
                "too many sessions of one user: closing the oldest"
            );
            oldest.close.send_replace(true);
        }
        list.push(session);
    }

    /// Removes session `id` of `user`.
    pub(crate) fn unregister(&self, user: &str, id: u64) {
        let mut inner = self.lock();
        if let Some(list) = inner.sessions.get_mut(user) {
            list.retain(|s| s.id != id);
            if list.is_empty() {
                inner.sessions.remove(user);
            }
        }
    }

    /// Asks every session to close.
    pub(crate) fn close_all(&self) {
        for list in self.lock().sessions.values() {
            for s in list {
                s.close.send_replace(true);
            }
        }
    }

    /// Records that `user` is in `room`.
    pub(crate) fn join(&self, room: &str, user: &str) {
        self.lock()
            .rooms
            .entry(room.to_owned())
            .or_default()
            .insert(user.to_owned());
    }

    /// Forgets every membership of `user` (a released name taken over).
    pub(crate) fn forget(&self, user: &str) {
        for members in self.lock().rooms.values_mut() {
            members.remove(user);
        }
    }

    /// Records that `user` left `room`.
    pub(crate) fn leave(&self, room: &str, user: &str) {
        if let Some(m) = self.lock().rooms.get_mut(room) {
            m.remove(user);
        }
    }

    /// Whether `user` is in `room`.
    pub(crate) fn is_member(&self, room: &str, user: &str) -> bool {
        self.lock()
            .rooms
            .get(room)
            .is_some_and(|m| m.contains(user))
    }

    /// Queues `item` for every connected session of every member of `room`; how many
    /// sessions it was queued for.
    pub(crate) fn deliver_to_room(&self, room: &str, item: &Outbound) -> usize {
        let inner = self.lock();
        let Some(members) = inner.rooms.get(room) else {
            return 0;
        };
        let mut queued = 0;
        for user in members {
            if let Some(list) = inner.sessions.get(user) {
                for s in list {
                    queued += usize::from(s.push(item.clone(), user));
                }
            }
        }
        queued
    }

    /// Queues `item` for every connected session of `user`.
    pub(crate) fn deliver_to_user(&self, user: &str, item: &Outbound) {
        if let Some(list) = self.lock().sessions.get(user) {
            for s in list {
                s.push(item.clone(), user);
            }
        }
    }

    /// How many authenticated sessions are registered.
    pub(crate) fn session_count(&self) -> usize {
        self.lock().sessions.values().map(Vec::len).sum()
    }
}

/// Resolves once `closed` turns `true` (or its sender is gone).
pub(crate) async fn until_closed(closed: &mut watch::Receiver<bool>) {
    let _ = closed.wait_for(|c| *c).await.is_ok();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session handle with a queue of `items` items and `max_bytes` bytes, and the
    /// receiving ends a session's writer would hold.
    fn session(
        id: u64,
        items: usize,
        max_bytes: usize,
    ) -> (
        SessionHandle,
        mpsc::Receiver<Outbound>,
        watch::Receiver<bool>,
    ) {
        let (tx, rx) = mpsc::channel(items);
        let (close, closed) = watch::channel(false);
        let handle = SessionHandle {
            id,
            tx,
            queued: Arc::new(AtomicUsize::new(0)),
            max_bytes,
            close: Arc::new(close),
        };
        (handle, rx, closed)
    }

    fn item(bytes: &[u8]) -> Outbound {
        Outbound {
            bytes: bytes.into(),
            dedup: Dedup::None,
        }
    }

    #[test]
    fn a_room_delivers_to_every_session_of_its_members_and_no_one_else() {
        let hub = Hub::default();
        hub.load(vec![
            ("r".into(), "alice".into()),
            ("r".into(), "bob".into()),
        ]);
        let (bob1, mut bob1_rx, _c1) = session(1, 8, 1 << 20);
        let (bob2, mut bob2_rx, _c2) = session(2, 8, 1 << 20);
        let (eve, mut eve_rx, _c3) = session(3, 8, 1 << 20);
        hub.register("bob", bob1, 4);
        hub.register("bob", bob2, 4);
        hub.register("eve", eve, 4);
        hub.deliver_to_room("r", &item(b"hello"));
        assert_eq!(&*bob1_rx.try_recv().unwrap().bytes, b"hello");
        assert_eq!(&*bob2_rx.try_recv().unwrap().bytes, b"hello");
        assert!(eve_rx.try_recv().is_err(), "not a member");

        // Membership changes take effect at once.
        hub.join("r", "eve");
        hub.leave("r", "bob");
        hub.deliver_to_room("r", &item(b"again"));
        assert!(bob1_rx.try_recv().is_err());
        assert_eq!(&*eve_rx.try_recv().unwrap().bytes, b"again");
        assert!(hub.is_member("r", "eve") && !hub.is_member("r", "bob"));
        hub.forget("eve");
        assert!(!hub.is_member("r", "eve"));
    }

    #[test]
    fn a_user_over_the_session_limit_loses_the_oldest_session() {
        let hub = Hub::default();
        let (s1, _r1, c1) = session(1, 8, 1 << 20);
        let (s2, _r2, c2) = session(2, 8, 1 << 20);
        let (s3, mut r3, c3) = session(3, 8, 1 << 20);
        hub.register("alice", s1, 2);
        hub.register("alice", s2, 2);
        hub.register("alice", s3, 2);
        assert!(*c1.borrow(), "the oldest is closed");
        assert!(!*c2.borrow() && !*c3.borrow());
        hub.unregister("alice", 2);
        hub.deliver_to_user("alice", &item(b"direct"));
        assert_eq!(&*r3.try_recv().unwrap().bytes, b"direct");
    }

    #[test]
    fn a_slow_reader_is_disconnected_not_waited_for() {
        // In items: a queue of 2.
        let hub = Hub::default();
        hub.join("r", "slow");
        let (slow, _rx, closed) = session(1, 2, 1 << 20);
        let queued = slow.queued.clone();
        hub.register("slow", slow, 4);
        hub.deliver_to_room("r", &item(b"1"));
        hub.deliver_to_room("r", &item(b"2"));
        assert!(!*closed.borrow());
        hub.deliver_to_room("r", &item(b"3"));
        assert!(*closed.borrow(), "closed when its queue is full");
        assert_eq!(
            queued.load(Ordering::Acquire),
            2,
            "the refused item is not counted"
        );

        // In bytes: 10 bytes at most.
        let hub = Hub::default();
        let (slow, _rx, closed) = session(1, 100, 10);
        hub.register("slow", slow, 4);
        hub.deliver_to_user("slow", &item(&[0; 6]));
        assert!(!*closed.borrow());
        hub.deliver_to_user("slow", &item(&[0; 6]));
        assert!(*closed.borrow(), "closed past its byte limit");
    }

    #[test]
    fn the_byte_count_goes_down_as_the_writer_takes_items_out() {
        let (s, _rx, _closed) = session(1, 8, 10);
        assert!(s.reserve(6));
        assert!(!s.reserve(5), "11 > 10");
        s.taken(6);
        assert!(s.reserve(10));
        assert!(!s.reserve(usize::MAX), "no overflow");
    }

    #[test]
    fn close_all_reaches_every_session() {
        let hub = Hub::default();
        let (a, _ra, ca) = session(1, 1, 10);
        let (b, _rb, cb) = session(2, 1, 10);
        hub.register("a", a, 1);
        hub.register("b", b, 1);
        hub.close_all();
        assert!(*ca.borrow() && *cb.borrow());
    }
}
