//! One client connection: handshake, Hello, then a reader loop (requests) and a writer
//! task (replies, the catch-up sync, live events).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::error::NetError;
use crate::net::{server_handshake, Opener, Sealer};
use crate::proto::{
    check_name, decode, encode, ClientFrame, Event, Refusal, Reply, Request, ServerFrame, VERSION,
};
use crate::server::admission::{address_key, Unauthenticated};
use crate::server::bus::{BusEvent, SessionKey};
use crate::server::handler::blocking;
use crate::server::hub::{until_closed, Outbound, SessionHandle};
use crate::server::metrics::Metrics;
use crate::server::rate::TokenBucket;
use crate::server::store::{DeviceStanding, Newcomer, Registration};
use crate::server::Shared;

/// Messages read from the store per step of the catch-up sync.
const SYNC_CHUNK: u32 = 512;

/// The payload bytes one catch-up read takes from the store at most (and always one
/// message): a session catching up holds about this much (plus what its socket holds),
/// however large the room, and the next page is read only once this one is written.
const SYNC_BYTES: usize = 2 << 20;

/// Queued frames written with one system call at most.
const WRITE_BATCH: usize = 64;

/// What the writer sends before going live.
struct SyncPlan {
    rooms: Vec<(String, u64)>,
    direct_after: u64,
}

/// Serves one accepted connection to its end. Never panics on peer input; every
/// failure ends only this connection.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    unauthenticated: Unauthenticated,
) {
    let _ = stream.set_nodelay(true);
    match run(stream, peer, &shared, unauthenticated).await {
        Ok(user) => tracing::info!(%peer, user, "connection closed"),
        Err(e) => tracing::info!(%peer, error = %e, "connection ended"),
    }
}

/// Writes one frame before the session's writer runs (Hello's reply), within
/// `limit`.
pub(crate) async fn write_direct(
    wr: &mut OwnedWriteHalf,
    sealer: &mut Sealer,
    frame: &ServerFrame,
    limit: Duration,
) -> Result<(), NetError> {
    let mut out = Vec::new();
    sealer.seal(&encode(frame), &mut out)?;
    tokio::time::timeout(limit, wr.write_all(&out))
        .await
        .map_err(|_| NetError::Ended("the peer stopped reading (write timeout)".into()))??;
    Ok(())
}

/// Answers Hello (request `id`) with `refusal`; the connection then ends with the
/// returned error.
async fn refuse_hello(
    metrics: &Metrics,
    wr: &mut OwnedWriteHalf,
    sealer: &mut Sealer,
    id: u64,
    refusal: Refusal,
    limit: Duration,
) -> NetError {
    metrics.refused(refusal.label());
    let reply = ServerFrame::Reply {
        id,
        result: Err(refusal.clone()),
    };
    match write_direct(wr, sealer, &reply, limit).await {
        Ok(()) => NetError::Ended(refusal.to_string()),
        Err(e) => e,
    }
}

/// What the handshake and Hello established.
struct Authenticated {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    sealer: Sealer,
    opener: Opener,
    hello_id: u64,
    user: String,
    /// The transport key the client authenticated with (its device).
    peer_key: [u8; 32],
    cursors: Vec<(String, u64)>,
    direct_after: u64,
    registration: Registration,
}

async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    mut unauthenticated: Unauthenticated,
) -> Result<String, NetError> {
    // Until Hello is done the connection holds a place among the unauthenticated ones,
    // which it loses to a newer connection when they are too many.
    let auth = tokio::select! {
        auth = authenticate(stream, peer, shared) => auth?,
        _ = until_closed(&mut unauthenticated.evicted) => {
            return Err(NetError::Ended(
                "evicted: too many connections in their handshake".into(),
            ))
        }
    };
    drop(unauthenticated);
    live(auth, shared).await
}

async fn authenticate(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) -> Result<Authenticated, NetError> {
    let limits = &shared.limits;
    let wt = limits.write_timeout;
    let mut stream = stream;
    let established = server_handshake(&mut stream, &shared.key, limits.handshake_timeout).await?;
    let (mut rd, mut wr) = stream.into_split();
    let (mut sealer, mut opener) = (established.sealer, established.opener);

    // The first message must be Hello, within the handshake deadline.
    let bytes = opener
        .open(
            &mut rd,
            Some(limits.handshake_timeout),
            limits.frame_timeout,
        )
        .await?;
    let frame: ClientFrame = decode(&bytes)?;
    let (user, cursors, direct_after, token) = match frame.request {
        Request::Hello {
            version,
            user,
            cursors,
            direct_after,
            token,
        } => {
            let refusal = if version != VERSION {
                Some(Refusal::VersionMismatch { server: VERSION })
            } else if let Err(reason) = check_name(&user) {
                Some(Refusal::BadRequest {
                    reason: format!("{user:?}: {reason}"),
                })
            } else {
                None
            };
            if let Some(refusal) = refusal {
                return Err(refuse_hello(
                    &shared.metrics,
                    &mut wr,
                    &mut sealer,
                    frame.id,
                    refusal,
                    wt,
                )
                .await);
            }
            (user, cursors, direct_after, token)
        }
        Request::LinkJoin {
            version,
            user,
            slot,
        } => {
            let joining = crate::server::linking::Joining {
                rd,
                wr,
                sealer,
                opener,
                peer_key: established.peer_key,
                peer,
                shared,
            };
            return Err(joining.serve(frame.id, version, user, slot).await);
        }
        _ => {
            let refusal = Refusal::BadRequest {
                reason: "the first request must be Hello".into(),
            };
            return Err(
                refuse_hello(&shared.metrics, &mut wr, &mut sealer, frame.id, refusal, wt).await,
            );
        }
    };

    let (u, key, policy) = (user.clone(), established.peer_key, shared.registration);
    let from = Newcomer {
        address: address_key(peer.ip()).to_string(),
        per_hour: limits.registrations_per_address_per_hour,
        now_ms: chrono::Utc::now().timestamp_millis(),
    };
    let registered = blocking(&shared.store, move |s| {
        s.register(&u, &key, policy, token.as_deref(), &from)
    })
    .await;
    let registration = match registered {
        Ok(registration) => registration,
        Err(refusal) => {
            return Err(
                refuse_hello(&shared.metrics, &mut wr, &mut sealer, frame.id, refusal, wt).await,
            )
        }
    };
    let refusal = match registration {
        Registration::Refused(reason) => Some(Refusal::RegistrationRefused {
            reason: reason.into(),
        }),
        Registration::Lookalike => Some(Refusal::BadRequest {
            reason: format!("{user:?} looks like the name of a registered user"),
        }),
        Registration::Taken => Some(Refusal::NameTaken { user: user.clone() }),
        Registration::TooManyFromAddress => Some(Refusal::RegistrationRefused {
            reason: format!(
                "this address registered {} new names in the last hour; try again later",
                limits.registrations_per_address_per_hour
            ),
        }),
        Registration::Revoked => Some(Refusal::DeviceRevoked),
        Registration::Registered | Registration::Reclaimed | Registration::Known => None,
    };
    if let Some(refusal) = refusal {
        tracing::warn!(user, %refusal, "hello refused");
        return Err(
            refuse_hello(&shared.metrics, &mut wr, &mut sealer, frame.id, refusal, wt).await,
        );
    }
    if registration == Registration::Reclaimed {
        // The previous holder's rooms are gone from the store: from the routing too.
        shared.hub.forget(&user);
        shared.publish(BusEvent::Forget { user: user.clone() });
    }

    Ok(Authenticated {
        rd,
        wr,
        sealer,
        opener,
        hello_id: frame.id,
        user,
        peer_key: established.peer_key,
        cursors,
        direct_after,
        registration,
    })
}

async fn live(auth: Authenticated, shared: &Arc<Shared>) -> Result<String, NetError> {
    let limits = &shared.limits;
    let Authenticated {
        mut rd,
        mut wr,
        mut sealer,
        mut opener,
        hello_id,
        user,
        peer_key,
        cursors,
        direct_after,
        registration,
    } = auth;
    // Go live before reading the backlog: whatever is committed from now on is queued,
    // whatever was committed before is in the store; the writer drops the overlap.
    let (tx, rx) = mpsc::channel(limits.outbound_queue);
    let (close, closed) = watch::channel(false);
    let id = shared.next_session.fetch_add(1, Ordering::Relaxed);
    let key = SessionKey {
        opened_ms: chrono::Utc::now().timestamp_millis(),
        node: shared.node(),
        id,
    };
    let handle = SessionHandle {
        id,
        key,
        tx: tx.clone(),
        queued: Arc::new(AtomicUsize::new(0)),
        max_bytes: limits.outbound_bytes,
        close: Arc::new(close),
        transport_key: peer_key,
    };
    shared
        .hub
        .register(&user, handle.clone(), limits.max_sessions_per_user);
    // A device revoked between its Hello's check and now was not among the sessions
    // the revocation closed: it is refused here.
    let u = user.clone();
    let standing = blocking(&shared.store, move |s| s.device_standing(&u, &peer_key)).await;
    if matches!(standing, Ok(DeviceStanding::Revoked(_))) {
        shared.hub.unregister(&user, id);
        return Err(refuse_hello(
            &shared.metrics,
            &mut wr,
            &mut sealer,
            hello_id,
            Refusal::DeviceRevoked,
            limits.write_timeout,
        )
        .await);
    }
    shared.publish(BusEvent::SessionOpened {
        user: user.clone(),
        key,
    });
    // Said to the other nodes when the session ends, however it ends.
    let _closed = {
        let (shared, user) = (shared.clone(), user.clone());
        OnDrop(move || {
            shared.publish(BusEvent::SessionClosed {
                user: user.clone(),
                key,
            })
        })
    };
    tracing::info!(
        user,
        new = matches!(
            registration,
            Registration::Registered | Registration::Reclaimed
        ),
        "user connected"
    );

    let u = user.clone();
    let version = shared.hub.version();
    let plan = blocking(&shared.store, move |s| {
        let cursors: HashMap<String, u64> = cursors.into_iter().collect();
        let mut plan = Vec::new();
        for room in s.rooms_of(&u)? {
            let joined = s.joined_seq(&room, &u)?.unwrap_or(0);
            let after = cursors.get(&room).copied().unwrap_or(0).max(joined);
            plan.push((room, after));
        }
        Ok(plan)
    })
    .await;
    let rooms = match plan {
        Ok(rooms) => {
            // This user's routing follows the store from the start, whatever events a
            // node of a cluster missed (a membership joined, left or forgotten).
            let memberships = rooms
                .iter()
                .map(|(r, _)| (r.clone(), user.clone()))
                .collect();
            shared
                .hub
                .replace_memberships_of(std::slice::from_ref(&user), memberships, version);
            rooms
        }
        Err(refusal) => {
            // The store failed: say so and close, rather than skip the catch-up.
            shared.hub.unregister(&user, handle.id);
            let wt = limits.write_timeout;
            return Err(
                refuse_hello(&shared.metrics, &mut wr, &mut sealer, hello_id, refusal, wt).await,
            );
        }
    };
    let welcome = ServerFrame::Reply {
        id: hello_id,
        result: Ok(Reply::Welcome {
            user: user.clone(),
            registered: matches!(
                registration,
                Registration::Registered | Registration::Reclaimed
            ),
        }),
    };
    write_direct(&mut wr, &mut sealer, &welcome, limits.write_timeout).await?;

    let plan = SyncPlan {
        rooms,
        direct_after,
    };
    let writer = tokio::spawn(write_loop(
        wr,
        sealer,
        rx,
        plan,
        shared.clone(),
        user.clone(),
        handle.clone(),
    ));
    let result = read_loop(&mut rd, &mut opener, shared, &user, &handle, closed).await;
    shared.hub.unregister(&user, handle.id);
    handle.close.send_replace(true);
    drop(tx);
    if result.is_err() {
        // A peer cut off (replies left unread past the byte bound, a flood, a bad
        // frame): what is left is not written to it, and its connection closes now,
        // not once a write blocked on it times out.
        writer.abort();
    }
    let _ = writer.await;
    result.map(|()| user)
}

async fn read_loop(
    rd: &mut OwnedReadHalf,
    opener: &mut Opener,
    shared: &Arc<Shared>,
    user: &str,
    session: &SessionHandle,
    mut closed: watch::Receiver<bool>,
) -> Result<(), NetError> {
    let limits = &shared.limits;
    let mut bucket = TokenBucket::new(limits.requests_per_second, limits.request_burst);
    let mut refused_in_a_row = 0u32;
    loop {
        let bytes = tokio::select! {
            _ = until_closed(&mut closed) => return Ok(()),
            read = opener.open(rd, Some(limits.idle_timeout), limits.frame_timeout) => match read {
                Ok(bytes) => bytes,
                Err(NetError::Closed) => return Ok(()),
                Err(e) => {
                    tracing::warn!(user, error = %e, "closing connection");
                    return Err(e);
                }
            },
        };
        let frame: ClientFrame = match decode(&bytes) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(user, error = %e, "malformed request: closing connection");
                return Err(e);
            }
        };
        let result = match bucket.take_or_wait() {
            Ok(()) => {
                refused_in_a_row = 0;
                shared
                    .handle(user, &session.transport_key, frame.request)
                    .await
            }
            Err(wait) => {
                refused_in_a_row += 1;
                if refused_in_a_row > limits.request_burst.max(100) {
                    tracing::warn!(user, "flooding past its rate limit: disconnecting");
                    return Err(NetError::Ended("request flood past the rate limit".into()));
                }
                Err(super::rate::limited(wait))
            }
        };
        if let Err(refusal) = &result {
            shared.metrics.refused(refusal.label());
        }
        let reply = ServerFrame::Reply {
            id: frame.id,
            result,
        };
        let item = Outbound::Frame(encode(&reply).into());
        // Replies wait for the writer (bounded in items); a peer that lets too many
        // bytes of replies pile up without reading them is cut off.
        let size = item.bytes().len();
        if !session.reserve(size) {
            tracing::warn!(user, "not reading its replies: closing connection");
            return Err(NetError::Ended(
                "too many unread replies (outbound byte limit)".into(),
            ));
        }
        if session.tx.send(item).await.is_err() {
            session.taken(size);
            return Ok(());
        }
    }
}

struct Writer {
    wr: OwnedWriteHalf,
    sealer: Sealer,
    write_timeout: Duration,
    out: Vec<u8>,
    /// Per room, the newest message sent (every earlier one the user may read is sent).
    last_room_seq: HashMap<Arc<str>, u64>,
    /// The newest direct delivery sent.
    last_direct: u64,
    shared: Arc<Shared>,
    user: String,
}

/// A store read made by the writer, on the blocking pool; a failure ends the session
/// (the client catches up when it reconnects).
/// In `user`'s turn ([`crate::server::read_share`]).
async fn read<T, F>(shared: &Arc<Shared>, user: &str, f: F) -> Result<T, NetError>
where
    T: Send + 'static,
    F: FnOnce(&dyn crate::server::store::Store) -> Result<T, crate::error::StoreError>
        + Send
        + 'static,
{
    let _turn = shared.reads.turn(user).await;
    blocking(&shared.store, f)
        .await
        .map_err(|e| NetError::Ended(format!("catch-up: {e}")))
}

impl Writer {
    /// Seals `item` into the output unless it was sent already.
    fn queue(&mut self, item: &Outbound) -> Result<(), NetError> {
        match item {
            Outbound::Frame(_) => {}
            Outbound::Room { room, seq, .. } => {
                // Never one of a room whose start is unknown (not a member, as far as
                // the store knows); [`Writer::deliver`] has read any gap before it.
                match self.last_room_seq.get_mut(room) {
                    Some(last) if *seq > *last => *last = *seq,
                    _ => return Ok(()),
                }
            }
            Outbound::Direct { id, .. } => {
                if *id <= self.last_direct {
                    return Ok(());
                }
                self.last_direct = *id;
            }
            Outbound::RoomHead { .. } | Outbound::DirectPull => return Ok(()),
        }
        self.sealer.seal(item.bytes(), &mut self.out)
    }

    /// Whether `item` can be sent without reading the store first (no gap before it;
    /// used when closing, when the store is not read any more: a message past a gap is
    /// left for the next session's catch-up, or the client's cursor would pass the
    /// missing ones).
    fn is_in_order(&self, item: &Outbound) -> bool {
        match item {
            Outbound::Room { room, seq, .. } => self
                .last_room_seq
                .get(room)
                .is_some_and(|last| *seq <= last.saturating_add(1)),
            _ => true,
        }
    }

    /// Sends `item`, after whatever must precede it: a room's missing messages, or the
    /// direct deliveries waiting in the store.
    async fn deliver(&mut self, item: &Outbound) -> Result<(), NetError> {
        match item {
            Outbound::Room { room, seq, .. } => self.fill_room(room, seq.saturating_sub(1)).await?,
            Outbound::RoomHead { room, seq } => self.fill_room(room, *seq).await?,
            Outbound::DirectPull => self.pull_directs().await?,
            Outbound::Frame(_) | Outbound::Direct { .. } => {}
        }
        self.queue(item)
    }

    /// Sends the messages of `room` after the last one sent, up to `upto`, read from
    /// the store; never one from before the user joined (a member who left and came
    /// back does not get what was said in between).
    async fn fill_room(&mut self, room: &Arc<str>, upto: u64) -> Result<(), NetError> {
        if self
            .last_room_seq
            .get(room)
            .is_some_and(|last| *last >= upto)
        {
            return Ok(());
        }
        let (r, u) = (room.to_string(), self.user.clone());
        let Some(joined) = read(&self.shared, &self.user, move |s| s.joined_seq(&r, &u)).await?
        else {
            return Ok(());
        };
        let after = self
            .last_room_seq
            .get(room)
            .copied()
            .unwrap_or(0)
            .max(joined);
        self.send_room_from(room, after, upto).await
    }

    /// Sends the messages of `room` after `after` (where the user may start reading)
    /// up to `upto`, read from the store.
    async fn send_room_from(
        &mut self,
        room: &Arc<str>,
        mut after: u64,
        upto: u64,
    ) -> Result<(), NetError> {
        let last = self.last_room_seq.entry(room.clone()).or_insert(0);
        *last = (*last).max(after);
        after = *last;
        while after < upto {
            let r = room.to_string();
            let batch = read(&self.shared, &self.user, move |s| {
                s.messages_after(&r, after, SYNC_CHUNK, SYNC_BYTES)
            })
            .await?;
            match batch.last() {
                Some(last) if last.seq > after => after = last.seq,
                _ => break,
            }
            for envelope in batch.into_iter().take_while(|e| e.seq <= upto) {
                let item = Outbound::Room {
                    room: room.clone(),
                    seq: envelope.seq,
                    bytes: encode(&ServerFrame::Event(Event::Message(envelope))).into(),
                };
                self.queue(&item)?;
            }
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends the direct deliveries waiting in the store after the last one sent.
    async fn pull_directs(&mut self) -> Result<(), NetError> {
        let mut after = self.last_direct;
        loop {
            let u = self.user.clone();
            let batch = read(&self.shared, &self.user, move |s| {
                s.directs_after(&u, after, SYNC_CHUNK, SYNC_BYTES)
            })
            .await?;
            match batch.last() {
                Some(last) if last.id > after => after = last.id,
                _ => return Ok(()),
            }
            for direct in batch {
                let item = Outbound::Direct {
                    id: direct.id,
                    bytes: encode(&ServerFrame::Event(Event::Direct(direct))).into(),
                };
                self.queue(&item)?;
            }
            self.flush().await?;
        }
    }

    async fn flush(&mut self) -> Result<(), NetError> {
        if !self.out.is_empty() {
            // A peer that does not read cannot hold the session (and its memory).
            tokio::time::timeout(self.write_timeout, self.wr.write_all(&self.out))
                .await
                .map_err(|_| {
                    NetError::Ended("the peer stopped reading (write timeout)".into())
                })??;
            self.out.clear();
            if self.out.capacity() > 256 * 1024 {
                self.out = Vec::new();
            }
        }
        Ok(())
    }

    /// The catch-up after Hello: every room from the client's cursor (or where the
    /// user joined), then the direct deliveries, then `SyncDone`.
    async fn sync(&mut self, plan: SyncPlan) -> Result<(), NetError> {
        for (room, after) in plan.rooms {
            // The plan's start is already past where the user joined.
            self.send_room_from(&room.as_str().into(), after, u64::MAX)
                .await?;
        }
        self.last_direct = self.last_direct.max(plan.direct_after);
        self.pull_directs().await?;
        let done = Outbound::Frame(encode(&ServerFrame::Event(Event::SyncDone)).into());
        self.queue(&done)?;
        self.flush().await
    }
}

async fn write_loop(
    wr: OwnedWriteHalf,
    sealer: Sealer,
    mut rx: mpsc::Receiver<Outbound>,
    plan: SyncPlan,
    shared: Arc<Shared>,
    user: String,
    session: SessionHandle,
) {
    let close = session.close.clone();
    let mut writer = Writer {
        wr,
        sealer,
        write_timeout: shared.limits.write_timeout,
        out: Vec::new(),
        last_room_seq: HashMap::new(),
        last_direct: 0,
        shared: shared.clone(),
        user: user.clone(),
    };
    let mut closed = close.subscribe();
    let result: Result<(), NetError> = async {
        writer.sync(plan).await?;
        let mut items = Vec::with_capacity(WRITE_BATCH);
        loop {
            tokio::select! {
                biased;
                n = rx.recv_many(&mut items, WRITE_BATCH) => {
                    if n == 0 {
                        return Ok(());
                    }
                    for item in items.drain(..) {
                        session.taken(item.bytes().len());
                        writer.deliver(&item).await?;
                    }
                    writer.flush().await?;
                }
                _ = until_closed(&mut closed) => {
                    // Flush what is already queued (replies to finished requests), then stop.
                    while let Ok(item) = rx.try_recv() {
                        session.taken(item.bytes().len());
                        if writer.is_in_order(&item) {
                            writer.queue(&item)?;
                        }
                    }
                    return writer.flush().await;
                }
            }
        }
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(user, error = %e, "writer stopped");
    }
    close.send_replace(true);
    let _ = writer.wr.shutdown().await;
}

/// Runs a closure when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// Counts a connection for [`crate::net::Limits::max_connections`] and
/// [`crate::net::Limits::max_connections_per_address`] while it lives.
pub(crate) struct ConnectionSlot {
    shared: Arc<Shared>,
    from: std::net::IpAddr,
}

impl ConnectionSlot {
    /// Counts a new connection from `from`: the slot, then how many connections the
    /// server and that address now hold (this one included).
    pub(crate) fn take(shared: &Arc<Shared>, from: std::net::IpAddr) -> (Self, usize, usize) {
        let count = shared.connections.fetch_add(1, Ordering::AcqRel) + 1;
        let from_here = {
            let mut map = shared.per_address.lock().unwrap_or_else(|e| e.into_inner());
            let n = map.entry(from).or_insert(0);
            *n += 1;
            *n
        };
        let slot = ConnectionSlot {
            shared: shared.clone(),
            from,
        };
        (slot, count, from_here)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        {
            let mut map = self
                .shared
                .per_address
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = map.get_mut(&self.from) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&self.from);
                }
            }
        }
        self.shared.connections.fetch_sub(1, Ordering::AcqRel);
        self.shared.ended.notify_waiters();
    }
}
