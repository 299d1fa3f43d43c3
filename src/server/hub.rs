//! Routing of live traffic: who is connected, who is in which room, and fan-out.
//!
//! The hub holds, in memory, each connected user's sessions and each room's members (a
//! copy of the store's membership table, loaded at start and updated with it). A
//! room's messages are routed in sequence order: with several nodes, one committed
//! through another node may arrive (on the bus) after a later one committed here; the
//! later one is held back until it comes, or for at most a moment
//! ([`Hub::release_overdue`]), after which the sessions read the gap from the store. Delivery
//! never waits: a session whose outbound queue is full is closed (a slow reader must not
//! stall the others) and catches up from the store when it reconnects.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::server::bus::SessionKey;

/// What a session's writer is handed: an encoded server frame (the same bytes for every
/// recipient), or word to read from the store; each says what the writer needs to drop
/// duplicates between the catch-up after Hello and live delivery, and what it reads
/// from the store first.
///
/// A session receives a room's messages in sequence order without gaps: a message
/// whose predecessors it has not sent yet (they were committed through another node,
/// or lost on the bus) makes the writer read them from the store first, and the store
/// has them (a room's sequence number is taken under its lock, so every earlier one is
/// committed).
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    /// A reply or an event that is never duplicated.
    Frame(Arc<[u8]>),
    /// Message `seq` of `room`, encoded.
    Room {
        room: Arc<str>,
        seq: u64,
        bytes: Arc<[u8]>,
    },
    /// The room's newest message is `seq`: send whatever is missing up to it (a node
    /// that may have missed messages on the bus).
    RoomHead { room: Arc<str>, seq: u64 },
    /// Direct delivery `id`, encoded.
    Direct { id: u64, bytes: Arc<[u8]> },
    /// New direct deliveries wait in the store for this session's user: send them in id
    /// order. Deliveries are pulled rather than pushed because their ids are shared by
    /// every recipient: a session cannot see a gap, and a push from another node may
    /// arrive before an earlier one.
    DirectPull,
}

impl Outbound {
    /// The encoded frame it carries (empty for word to read from the store).
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Outbound::Frame(bytes)
            | Outbound::Room { bytes, .. }
            | Outbound::Direct { bytes, .. } => bytes,
            Outbound::RoomHead { .. } | Outbound::DirectPull => &[],
        }
    }
}

/// A live session as the hub sees it.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    /// Unique per connection.
    pub id: u64,
    /// When it began, and where: the order of a user's sessions across nodes.
    pub key: SessionKey,
    /// Its outbound queue (bounded in items).
    pub tx: mpsc::Sender<Outbound>,
    /// The bytes in that queue, bounded by `max_bytes`: the writer subtracts what it
    /// takes out ([`SessionHandle::taken`]).
    pub queued: Arc<AtomicUsize>,
    /// See [`crate::net::Limits::outbound_bytes`].
    pub max_bytes: usize,
    /// Set to `true` to close the session.
    pub close: Arc<watch::Sender<bool>>,
    /// The transport key it authenticated with: which of its user's devices it is.
    pub transport_key: [u8; 32],
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
        let size = item.bytes().len();
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
    /// Sessions of users held by other nodes (several nodes): at most the per-user
    /// limit each, the newest, with when their node last said they were open (a node
    /// says it of all its sessions every [`crate::server::bus::SWEEP`]; one not said
    /// for a while is gone, its end lost on the bus or its node dead).
    remote: HashMap<String, Vec<(SessionKey, Instant)>>,
    /// Per room, the newest message routed through this node (every earlier one it
    /// saw is routed).
    heads: HashMap<String, u64>,
    /// Per room, messages held back until their predecessors come, with when they
    /// arrived ([`Hub::release_overdue`]).
    held: HashMap<String, BTreeMap<u64, (Outbound, Instant)>>,
    /// How many are held, in all rooms.
    held_count: usize,
    /// Counts membership changes (a reload from the store must not undo a newer one).
    version: u64,
    /// Per connected user, the newest direct delivery its sessions were told of.
    direct_heads: HashMap<String, u64>,
}

/// Messages held back per node at most (past it, the oldest room's are released).
const MAX_HELD: usize = 16_384;

impl Inner {
    /// Queues `item` for every connected session of every member of `room`.
    fn push_to_room(&self, room: &str, item: &Outbound) -> usize {
        let Some(members) = self.rooms.get(room) else {
            return 0;
        };
        let mut queued = 0;
        for user in members {
            if let Some(list) = self.sessions.get(user) {
                for s in list {
                    queued += usize::from(s.push(item.clone(), user));
                }
            }
        }
        queued
    }

    /// Routes message `seq` of `room` in sequence order: at once when it is the next
    /// one (or the first this node sees), with whatever it unblocks; held back when an
    /// earlier one has not come yet (committed through another node, still on the
    /// bus); dropped when routed already.
    fn route_in_order(&mut self, room: &str, seq: u64, item: &Outbound) -> usize {
        match self.heads.get(room).copied() {
            Some(head) if seq <= head => 0,
            Some(head) if seq > head.saturating_add(1) => {
                self.held
                    .entry(room.to_owned())
                    .or_default()
                    .insert(seq, (item.clone(), Instant::now()));
                self.held_count += 1;
                if self.held_count > MAX_HELD {
                    // Bounded: release everything (the sessions read gaps from the store).
                    let rooms: Vec<String> = self.held.keys().cloned().collect();
                    return rooms.iter().map(|r| self.release_all(r)).sum();
                }
                0
            }
            _ => {
                let queued = self.push_to_room(room, item);
                self.heads.insert(room.to_owned(), seq);
                queued + self.release_next(room)
            }
        }
    }

    /// Routes every held message of `room`, in order, gaps or not (the sessions read
    /// the gaps from the store).
    fn release_all(&mut self, room: &str) -> usize {
        let held = self.held.remove(room).unwrap_or_default();
        self.held_count = self.held_count.saturating_sub(held.len());
        let mut queued = 0;
        for (seq, (item, _)) in held {
            queued += self.push_to_room(room, &item);
            let head = self.heads.entry(room.to_owned()).or_insert(0);
            *head = (*head).max(seq);
        }
        queued
    }

    /// Routes the held messages of `room` that follow its head without a gap (and
    /// drops those routed already).
    fn release_next(&mut self, room: &str) -> usize {
        let mut queued = 0;
        loop {
            let head = self.heads.get(room).copied().unwrap_or(0);
            let Some(held) = self.held.get_mut(room) else {
                return queued;
            };
            let Some((&seq, _)) = held.first_key_value() else {
                self.held.remove(room);
                return queued;
            };
            if seq > head.saturating_add(1) {
                return queued;
            }
            let (item, _) = held.remove(&seq).unwrap_or_else(|| unreachable!());
            self.held_count = self.held_count.saturating_sub(1);
            if seq == head + 1 {
                queued += self.push_to_room(room, &item);
                self.heads.insert(room.to_owned(), seq);
            }
        }
    }

    /// Keeps the newest `max` sessions of `user` across nodes: this node closes its
    /// own among the older ones and forgets the other nodes' (they close theirs, as
    /// every node applies the same rule to the same sessions).
    fn enforce(&mut self, user: &str, max: usize) {
        let max = max.max(1);
        let local = self.sessions.get(user).map_or(0, Vec::len);
        let remote = self.remote.get(user).map_or(0, Vec::len);
        if local + remote <= max {
            return;
        }
        let mut keys: Vec<SessionKey> = self
            .sessions
            .get(user)
            .into_iter()
            .flatten()
            .map(|s| s.key)
            .chain(self.remote.get(user).into_iter().flatten().map(|(k, _)| *k))
            .collect();
        keys.sort_unstable_by(|a, b| b.cmp(a));
        let oldest_kept = keys[max - 1];
        if let Some(list) = self.sessions.get_mut(user) {
            list.retain(|s| {
                let keep = s.key >= oldest_kept;
                if !keep {
                    tracing::warn!(
                        user,
                        session = s.id,
                        "too many sessions of one user: closing the oldest"
                    );
                    s.close.send_replace(true);
                }
                keep
            });
        }
        if let Some(list) = self.remote.get_mut(user) {
            list.retain(|(k, _)| *k >= oldest_kept);
            if list.is_empty() {
                self.remote.remove(user);
            }
        }
    }
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

    /// Adds a connected session of `user`; when the user already has `max` sessions
    /// (on any node), the oldest ones are asked to close (a user's key cannot be used
    /// to hold every connection slot, and its owner always gets in).
    pub(crate) fn register(&self, user: &str, session: SessionHandle, max: usize) {
        let mut inner = self.lock();
        inner
            .sessions
            .entry(user.to_owned())
            .or_default()
            .push(session);
        inner.enforce(user, max);
    }

    /// Another node opened a session of `user`, or says it is still open.
    pub(crate) fn remote_opened(&self, user: &str, key: SessionKey, max: usize) {
        let mut inner = self.lock();
        let now = Instant::now();
        let list = inner.remote.entry(user.to_owned()).or_default();
        match list.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = now,
            None => list.push((key, now)),
        }
        inner.enforce(user, max);
    }

    /// Another node's session of `user` ended.
    pub(crate) fn remote_closed(&self, user: &str, key: SessionKey) {
        let mut inner = self.lock();
        if let Some(list) = inner.remote.get_mut(user) {
            list.retain(|(k, _)| *k != key);
            if list.is_empty() {
                inner.remote.remove(user);
            }
        }
    }

    /// Forgets the other nodes' sessions that no node said open within `within`: how
    /// many.
    pub(crate) fn expire_remote(&self, within: std::time::Duration) -> usize {
        let mut inner = self.lock();
        let mut gone = 0;
        inner.remote.retain(|_, list| {
            let before = list.len();
            list.retain(|(_, seen)| seen.elapsed() < within);
            gone += before - list.len();
            !list.is_empty()
        });
        gone
    }

    /// This node's sessions: user and key of each.
    pub(crate) fn local_sessions(&self) -> Vec<(String, SessionKey)> {
        let inner = self.lock();
        inner
            .sessions
            .iter()
            .flat_map(|(user, list)| list.iter().map(move |s| (user.clone(), s.key)))
            .collect()
    }

    /// The users with a session on this node.
    pub(crate) fn connected_users(&self) -> Vec<String> {
        self.lock().sessions.keys().cloned().collect()
    }

    /// The rooms with a member connected to this node.
    pub(crate) fn connected_rooms(&self) -> Vec<String> {
        let inner = self.lock();
        inner
            .rooms
            .iter()
            .filter(|(_, members)| members.iter().any(|u| inner.sessions.contains_key(u)))
            .map(|(room, _)| room.clone())
            .collect()
    }

    /// The newest message of `room` routed through this node (0: none yet).
    pub(crate) fn head(&self, room: &str) -> u64 {
        self.lock().heads.get(room).copied().unwrap_or(0)
    }

    /// The number of membership changes so far (see [`Hub::replace_memberships`]).
    pub(crate) fn version(&self) -> u64 {
        self.lock().version
    }

    /// Replaces every membership with `memberships` (read from the store) unless a
    /// membership changed since [`Hub::version`] returned `version`; whether it did.
    pub(crate) fn replace_memberships(
        &self,
        memberships: Vec<(String, String)>,
        version: u64,
    ) -> bool {
        let mut inner = self.lock();
        if inner.version != version {
            return false;
        }
        inner.rooms.clear();
        for (room, user) in memberships {
            inner.rooms.entry(room).or_default().insert(user);
        }
        true
    }

    /// Replaces the memberships of `users` with `memberships` (theirs, read from the
    /// store) unless a membership changed since [`Hub::version`] returned `version`;
    /// whether it did.
    pub(crate) fn replace_memberships_of(
        &self,
        users: &[String],
        memberships: Vec<(String, String)>,
        version: u64,
    ) -> bool {
        let mut inner = self.lock();
        if inner.version != version {
            return false;
        }
        for members in inner.rooms.values_mut() {
            for user in users {
                members.remove(user);
            }
        }
        inner.rooms.retain(|_, members| !members.is_empty());
        for (room, user) in memberships {
            inner.rooms.entry(room).or_default().insert(user);
        }
        true
    }

    /// Removes session `id` of `user`.
    pub(crate) fn unregister(&self, user: &str, id: u64) {
        let mut inner = self.lock();
        if let Some(list) = inner.sessions.get_mut(user) {
            list.retain(|s| s.id != id);
            if list.is_empty() {
                inner.sessions.remove(user);
                inner.direct_heads.remove(user);
            }
        }
    }

    /// Asks the sessions of `user`'s device with `transport_key` to close (a revoked
    /// device); returns how many there were.
    pub(crate) fn close_device(&self, user: &str, transport_key: &[u8]) -> usize {
        let inner = self.lock();
        let mut closed = 0;
        for s in inner.sessions.get(user).into_iter().flatten() {
            if s.transport_key[..] == *transport_key {
                s.close.send_replace(true);
                closed += 1;
            }
        }
        closed
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
        let mut inner = self.lock();
        inner.version += 1;
        inner
            .rooms
            .entry(room.to_owned())
            .or_default()
            .insert(user.to_owned());
    }

    /// Forgets every membership of `user` (a released name taken over).
    pub(crate) fn forget(&self, user: &str) {
        let mut inner = self.lock();
        inner.version += 1;
        for members in inner.rooms.values_mut() {
            members.remove(user);
        }
    }

    /// Records that `user` left `room`.
    pub(crate) fn leave(&self, room: &str, user: &str) {
        let mut inner = self.lock();
        inner.version += 1;
        if let Some(m) = inner.rooms.get_mut(room) {
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
        let mut inner = self.lock();
        match item {
            Outbound::Room { seq, .. } => inner.route_in_order(room, *seq, item),
            Outbound::RoomHead { seq, .. } => {
                let queued = inner.push_to_room(room, item);
                let head = inner.heads.entry(room.to_owned()).or_insert(0);
                *head = (*head).max(*seq);
                queued + inner.release_next(room)
            }
            _ => inner.push_to_room(room, item),
        }
    }

    /// Routes the messages held back for longer than `age` (their predecessors never
    /// came: lost on the bus), in order; the sessions read the gap from the store.
    /// How many deliveries were queued.
    pub(crate) fn release_overdue(&self, age: Duration) -> usize {
        let mut inner = self.lock();
        let now = Instant::now();
        let overdue: Vec<String> = inner
            .held
            .iter()
            .filter(|(_, held)| held.values().next().is_some_and(|(_, at)| now - *at >= age))
            .map(|(room, _)| room.clone())
            .collect();
        overdue.iter().map(|room| inner.release_all(room)).sum()
    }

    /// Tells every connected session of `user` that direct delivery `id` (and maybe
    /// others) waits in the store: each pulls its queue in id order.
    pub(crate) fn notify_direct(&self, user: &str, id: u64) {
        let mut inner = self.lock();
        let Some(list) = inner.sessions.get(user) else {
            return;
        };
        let item = Outbound::DirectPull;
        for s in list {
            s.push(item.clone(), user);
        }
        let head = inner.direct_heads.entry(user.to_owned()).or_insert(0);
        *head = (*head).max(id);
    }

    /// The newest direct delivery the sessions of `user` were told of (0: none).
    pub(crate) fn direct_head(&self, user: &str) -> u64 {
        self.lock().direct_heads.get(user).copied().unwrap_or(0)
    }

    /// Queues `item` for every connected session of `user`.
    pub(crate) fn deliver_to_user(&self, user: &str, item: &Outbound) {
        if let Some(list) = self.lock().sessions.get(user) {
            for s in list {
                s.push(item.clone(), user);
            }
        }
    }

    /// Queues `item` for the sessions of `user`'s device with `transport_key`.
    pub(crate) fn deliver_to_device(&self, user: &str, transport_key: &[u8], item: &Outbound) {
        if let Some(list) = self.lock().sessions.get(user) {
            for s in list
                .iter()
                .filter(|s| s.transport_key[..] == *transport_key)
            {
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
            key: SessionKey {
                opened_ms: id as i64,
                node: 0,
                id,
            },
            tx,
            queued: Arc::new(AtomicUsize::new(0)),
            max_bytes,
            close: Arc::new(close),
            transport_key: [0; 32],
        };
        (handle, rx, closed)
    }

    fn item(bytes: &[u8]) -> Outbound {
        Outbound::Frame(bytes.into())
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
        assert_eq!(bob1_rx.try_recv().unwrap().bytes(), b"hello");
        assert_eq!(bob2_rx.try_recv().unwrap().bytes(), b"hello");
        assert!(eve_rx.try_recv().is_err(), "not a member");

        // Membership changes take effect at once.
        hub.join("r", "eve");
        hub.leave("r", "bob");
        hub.deliver_to_room("r", &item(b"again"));
        assert!(bob1_rx.try_recv().is_err());
        assert_eq!(eve_rx.try_recv().unwrap().bytes(), b"again");
        assert!(hub.is_member("r", "eve") && !hub.is_member("r", "bob"));
        hub.forget("eve");
        assert!(!hub.is_member("r", "eve"));
    }

    fn message(room: &str, seq: u64) -> Outbound {
        Outbound::Room {
            room: room.into(),
            seq,
            bytes: seq.to_le_bytes().to_vec().into(),
        }
    }

    fn seqs(rx: &mut mpsc::Receiver<Outbound>) -> Vec<u64> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .map(|o| u64::from_le_bytes(o.bytes()[..8].try_into().unwrap()))
            .collect()
    }

    #[test]
    fn a_rooms_messages_are_routed_in_order_and_a_lost_one_is_not_waited_for_long() {
        let hub = Hub::default();
        hub.join("r", "bob");
        let (bob, mut rx, _closed) = session(1, 64, 1 << 20);
        hub.register("bob", bob, 4);
        // 1 is the first seen; 3 and 4 wait for 2 (still on the bus); 2 releases them.
        assert_eq!(hub.deliver_to_room("r", &message("r", 1)), 1);
        assert_eq!(hub.deliver_to_room("r", &message("r", 3)), 0);
        assert_eq!(hub.deliver_to_room("r", &message("r", 4)), 0);
        assert_eq!(seqs(&mut rx), [1]);
        assert_eq!(hub.deliver_to_room("r", &message("r", 2)), 3);
        assert_eq!(seqs(&mut rx), [2, 3, 4]);
        // Routed already: not again.
        assert_eq!(hub.deliver_to_room("r", &message("r", 3)), 0);
        assert_eq!(hub.head("r"), 4);
        // 5 is lost: 6 is held for a while only, then routed (the session reads 5 from
        // the store).
        hub.deliver_to_room("r", &message("r", 6));
        assert_eq!(hub.release_overdue(Duration::from_secs(60)), 0);
        assert!(seqs(&mut rx).is_empty());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(hub.release_overdue(Duration::from_millis(1)), 1);
        assert_eq!(seqs(&mut rx), [6]);
        assert_eq!(hub.head("r"), 6);
        // A catch-up to a head releases what follows it.
        hub.deliver_to_room("r", &message("r", 8));
        hub.deliver_to_room(
            "r",
            &Outbound::RoomHead {
                room: "r".into(),
                seq: 7,
            },
        );
        let got: Vec<Outbound> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert!(matches!(got[0], Outbound::RoomHead { seq: 7, .. }));
        assert!(matches!(got[1], Outbound::Room { seq: 8, .. }));
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
        assert_eq!(r3.try_recv().unwrap().bytes(), b"direct");
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
