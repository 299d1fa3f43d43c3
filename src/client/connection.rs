//! One live connection of a client: a reader task (replies and events) and a writer
//! task (requests and keep-alives) on the shared client runtime.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

use super::server_trust::same_fingerprint;
use crate::error::{ClientError, NetError};
use crate::identity::{fingerprint, KnownServers, Pin, StaticKeypair};
use crate::net::{client_handshake, Opener, Sealer};
use crate::proto::{decode, encode, ClientFrame, Event, Refusal, Reply, Request, ServerFrame};

/// A keep-alive is sent after this long without a request (by default); a server
/// from which nothing arrives for [`dead_after`] of it is taken for gone.
pub(super) const KEEPALIVE: Duration = Duration::from_secs(30);

/// How long a connection may stay silent, with keep-alives every `keepalive`, before
/// the server is taken for gone: two keep-alives unanswered, plus slack.
pub(crate) fn dead_after(keepalive: Duration) -> Duration {
    keepalive * 2 + keepalive / 2
}
/// A frame from the server must complete within this.
const FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// The whole handshake must complete within this; the TCP connection too (a host
/// that is gone drops the connection's first packets, and the system would wait about
/// two minutes before giving up on it: the next address of a list is tried instead).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of pushed events the reader has passed on and the client has not taken yet,
/// at most: past it the reader stops reading until the client takes some, and the
/// server waits (a catch-up is paced by its writes) or drops a session that lets too
/// much pile up in its queue (the client then catches up from its cursor). A program
/// that does not call into its client, or a catch-up read faster than it is
/// decrypted, cannot grow the client's memory past it.
const MAX_BACKLOG: usize = 64 << 20;
/// While a request waits for its reply (which comes after the events before it),
/// reading goes on past [`MAX_BACKLOG`] by up to this much; a server that sends more
/// before answering is dropped.
const BACKLOG_SLACK: usize = 64 << 20;
/// How often a paused reader looks again whether a request now waits for its reply.
const BACKLOG_RECHECK: Duration = Duration::from_millis(20);

/// What the reader passed on and the client has not taken yet.
#[derive(Debug, Default)]
struct Backlog {
    bytes: AtomicUsize,
    taken: tokio::sync::Notify,
}

/// The pushed events of a connection, as its reader passes them on: taking one lets
/// the reader read further ([`MAX_BACKLOG`]).
#[derive(Debug)]
pub(crate) struct Events {
    rx: mpsc::UnboundedReceiver<(Incoming, usize)>,
    backlog: Arc<Backlog>,
}

impl Events {
    /// The next one, waiting for it (`None`: the reader is gone).
    pub(crate) async fn recv(&mut self) -> Option<Incoming> {
        let (incoming, size) = self.rx.recv().await?;
        self.took(size);
        Some(incoming)
    }

    /// The next one if it is there.
    pub(crate) fn try_recv(&mut self) -> Result<Incoming, mpsc::error::TryRecvError> {
        let (incoming, size) = self.rx.try_recv()?;
        self.took(size);
        Ok(incoming)
    }

    fn took(&self, size: usize) {
        self.backlog.bytes.fetch_sub(size, Ordering::AcqRel);
        self.backlog.taken.notify_one();
    }
}

type Pending = Arc<Mutex<Waiters>>;

/// The requests waiting for their replies. Once the reader has seen the end of the
/// connection it marks them `closed` under the same lock, so that a request submitted
/// at that moment fails at once instead of waiting for a reply that cannot come.
#[derive(Debug, Default)]
struct Waiters {
    closed: bool,
    by_id: HashMap<u64, oneshot::Sender<Result<Reply, Refusal>>>,
}

/// What the reader task passes on to the application side.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A pushed event.
    Event(Event),
    /// The connection ended (why).
    Closed(String),
}

/// The runtime every client of the process shares (two worker threads), started by
/// the first client that needs it; an error if the system refuses the threads.
pub(crate) fn runtime() -> Result<&'static Runtime, NetError> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("smc-client")
        .enable_all()
        .build()?;
    // Two first callers at once: one runtime is kept, the other dropped here.
    let _ = RUNTIME.set(built);
    // Always set by now (by this call or the other); no panic path either way.
    RUNTIME.get().ok_or(NetError::Closed)
}

/// A live connection.
#[derive(Debug)]
pub(crate) struct Connection {
    /// The server's static public key (hex): the key of the client's cursors.
    pub server_id: String,
    out: mpsc::UnboundedSender<Vec<u8>>,
    pending: Pending,
    next_id: AtomicU64,
    pub events: Events,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Opens the TCP connection to `address`, within [`HANDSHAKE_TIMEOUT`].
async fn dial(address: &str) -> Result<TcpStream, ClientError> {
    let failed = |source| ClientError::Connect {
        address: address.to_owned(),
        source,
    };
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(address)).await {
        Ok(connected) => connected.map_err(failed)?,
        Err(_) => {
            return Err(failed(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", HANDSHAKE_TIMEOUT.as_secs()),
            )))
        }
    };
    if connected_to_itself(&stream) {
        return Err(failed(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "nothing listens there (the connection reached its own end)",
        )));
    }
    Ok(stream)
}

/// Whether `stream` is a TCP self-connection: dialing a local port nothing listens on,
/// the kernel may give the client that very port as its own end, and the connection
/// then "succeeds" to itself (simultaneous open). Such a connection is dropped at once:
/// kept, it would wait out the handshake on its own echo and hold the port that the
/// server, being restarted there, needs.
fn connected_to_itself(stream: &TcpStream) -> bool {
    matches!((stream.local_addr(), stream.peer_addr()), (Ok(l), Ok(p)) if l == p)
}

/// The check of a server's key in the handshake, before anything about the user is
/// sent: the fingerprint `expected` (when given) and the key pinned for `address` (or
/// pinned now, trust on first use).
fn verifier<'a>(
    address: &'a str,
    known: &'a KnownServers,
    expected: Option<&'a str>,
) -> impl FnOnce(&[u8; 32]) -> Result<(), ClientError> + 'a {
    move |server_key: &[u8; 32]| {
        if let Some(expected) = expected {
            let presented = fingerprint(server_key);
            if !same_fingerprint(&presented, expected) {
                return Err(ClientError::ServerNotTrusted {
                    address: address.to_owned(),
                    expected: expected.to_owned(),
                    presented,
                });
            }
        }
        match known.check_or_pin(address, server_key)? {
            Pin::New | Pin::Matches => Ok(()),
            Pin::Mismatch(pinned) => Err(ClientError::ServerKeyChanged {
                address: address.to_owned(),
                pinned: fingerprint(&pinned),
                presented: fingerprint(server_key),
                known_servers: known.path().to_owned(),
            }),
        }
    }
}

/// The new device's side of linking, on a connection of its own: `LinkJoin` for
/// `user`'s offer at `slot`, then the answer `answer` computes from the offer, then
/// the grant sealed for it (the server relays what it cannot open). The server's key
/// is checked as for any connection.
pub(super) async fn link_exchange(
    address: &str,
    key: &StaticKeypair,
    known: &KnownServers,
    expected: Option<&str>,
    (user, slot, wait): (&str, &str, Duration),
    answer: impl FnOnce(&[u8]) -> Result<Vec<u8>, ClientError>,
) -> Result<Vec<u8>, ClientError> {
    let mut stream = dial(address).await?;
    let _ = stream.set_nodelay(true);
    let verify = verifier(address, known, expected);
    let established = client_handshake(&mut stream, key, HANDSHAKE_TIMEOUT, verify).await??;
    let (mut sealer, mut opener) = (established.sealer, established.opener);
    let (mut rd, mut wr) = stream.into_split();
    let mut out = Vec::new();
    let mut ask = |id: u64, request: Request, out: &mut Vec<u8>| -> Result<(), ClientError> {
        out.clear();
        sealer.seal(&encode(&ClientFrame { id, request }), out)?;
        Ok(())
    };
    ask(
        1,
        Request::LinkJoin {
            version: crate::proto::VERSION,
            user: user.to_owned(),
            slot: slot.to_owned(),
        },
        &mut out,
    )?;
    wr.write_all(&out).await.map_err(NetError::Io)?;
    let offer = match one_reply(&mut opener, &mut rd, HANDSHAKE_TIMEOUT).await? {
        Reply::LinkOffer(offer) => offer,
        other => return Err(ClientError::Protocol(format!("{other:?}"))),
    };
    ask(
        2,
        Request::LinkAnswer {
            answer: answer(&offer)?,
        },
        &mut out,
    )?;
    wr.write_all(&out).await.map_err(NetError::Io)?;
    match one_reply(&mut opener, &mut rd, wait).await? {
        Reply::LinkGrant(sealed) => Ok(sealed),
        other => Err(ClientError::Protocol(format!("{other:?}"))),
    }
}

/// The next reply on a connection without a reader task (linking), within `wait`.
async fn one_reply(
    opener: &mut Opener,
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wait: Duration,
) -> Result<Reply, ClientError> {
    let bytes = opener.open(rd, Some(wait), FRAME_TIMEOUT).await?;
    match decode::<ServerFrame>(&bytes)? {
        ServerFrame::Reply { result, .. } => Ok(result?),
        ServerFrame::Event(_) => Err(ClientError::Protocol(
            "an event on a linking connection".into(),
        )),
    }
}

impl Connection {
    /// Connects, runs the handshake (checking the server key against `known` before
    /// revealing the client's identity) and starts the tasks.
    /// With `expected` (a fingerprint the user was given), the server's key must have
    /// it ([`ClientError::ServerNotTrusted`] otherwise, nothing pinned); without, the
    /// key is trusted on first use.
    pub(super) async fn open(
        address: &str,
        key: &StaticKeypair,
        known: &KnownServers,
        keepalive: Duration,
        expected: Option<&str>,
        arrivals: Option<Arc<Arrivals>>,
    ) -> Result<Self, ClientError> {
        let mut stream = dial(address).await?;
        let _ = stream.set_nodelay(true);
        let verify = verifier(address, known, expected);
        let established = client_handshake(&mut stream, key, HANDSHAKE_TIMEOUT, verify).await??;
        let server_id = data_encoding::HEXLOWER.encode(&established.peer_key);
        let (rd, wr) = stream.into_split();
        let pending: Pending = Arc::default();
        let (out, out_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog::default());
        tokio::spawn(write_loop(wr, established.sealer, out_rx, keepalive));
        let reader = tokio::spawn(read_loop(
            rd,
            established.opener,
            pending.clone(),
            (events_tx, backlog.clone()),
            dead_after(keepalive),
            arrivals,
        ));
        Ok(Connection {
            server_id,
            out,
            pending,
            next_id: AtomicU64::new(1),
            events: Events {
                rx: events,
                backlog,
            },
            reader,
        })
    }

    /// Runs the handshake only as far as the server's key, then hangs up before the
    /// client's own identity is sent: the server's static public key.
    pub(super) async fn probe(address: &str, key: &StaticKeypair) -> Result<[u8; 32], ClientError> {
        let mut stream = dial(address).await?;
        let mut seen = None;
        // Refusing the key stops the handshake before the third message.
        let _ = client_handshake(&mut stream, key, HANDSHAKE_TIMEOUT, |server_key| {
            seen = Some(*server_key);
            Err(())
        })
        .await?;
        let _ = stream.shutdown().await;
        seen.ok_or_else(|| NetError::Handshake("the server sent no static key".into()).into())
    }

    /// Sends a request; the returned receiver gets its outcome.
    pub(super) fn submit(
        &self,
        request: &Request,
    ) -> Result<(u64, oneshot::Receiver<Result<Reply, Refusal>>), ClientError> {
        /// A [`ClientFrame`] that borrows its request (the same encoding): a request
        /// can be sent again (rate limited) without a copy of its payload.
        #[derive(serde::Serialize)]
        struct Frame<'r> {
            id: u64,
            request: &'r Request,
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let bytes = encode(&Frame { id, request });
        if bytes.len() > crate::net::MAX_MESSAGE {
            return Err(NetError::MessageTooLarge {
                size: bytes.len(),
                limit: crate::net::MAX_MESSAGE,
            }
            .into());
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut waiters = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            // The reader has seen the end of the connection: nothing will ever answer.
            if waiters.closed {
                return Err(ClientError::ConnectionClosed);
            }
            waiters.by_id.insert(id, tx);
        }
        if self.out.send(bytes).is_err() {
            self.forget(id);
            return Err(ClientError::ConnectionClosed);
        }
        Ok((id, rx))
    }

    /// Drops the wait for request `id` (timed out).
    pub(super) fn forget(&self, id: u64) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_id
            .remove(&id);
    }
}

async fn write_loop<W: tokio::io::AsyncWrite + Unpin>(
    mut wr: W,
    mut sealer: Sealer,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    keepalive: Duration,
) {
    let mut out = Vec::new();
    let mut batch = Vec::new();
    loop {
        let n = match tokio::time::timeout(keepalive, rx.recv_many(&mut batch, 64)).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) => {
                // Keep-alive; its reply (id 0) is ignored.
                batch.push(encode(&ClientFrame {
                    id: 0,
                    request: Request::Ping,
                }));
                1
            }
        };
        debug_assert_eq!(n, batch.len());
        out.clear();
        for message in batch.drain(..) {
            if sealer.seal(&message, &mut out).is_err() {
                return;
            }
        }
        if wr.write_all(&out).await.is_err() {
            return;
        }
    }
    let _ = wr.shutdown().await;
}

async fn read_loop<R: tokio::io::AsyncRead + Unpin>(
    mut rd: R,
    mut opener: Opener,
    pending: Pending,
    (events, backlog): (mpsc::UnboundedSender<(Incoming, usize)>, Arc<Backlog>),
    silent: Duration,
    arrivals: Option<Arc<Arrivals>>,
) {
    let arrived = || {
        if let Some(a) = &arrivals {
            a.notify();
        }
    };
    let reason = loop {
        // Keep-alives are answered: a server silent for longer is gone (a crashed
        // machine, a cut network) even if no TCP reset ever comes.
        let bytes = match opener.open(&mut rd, Some(silent), FRAME_TIMEOUT).await {
            Ok(b) => b,
            Err(NetError::Closed) => break "the server closed the connection".to_owned(),
            Err(NetError::Idle(_)) => break format!("the server did not answer for {silent:?}"),
            Err(e) => break e.to_string(),
        };
        match decode::<ServerFrame>(&bytes) {
            Ok(ServerFrame::Reply { id, result }) => {
                let waiter = pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .by_id
                    .remove(&id);
                if let Some(w) = waiter {
                    let _ = w.send(result);
                }
            }
            Ok(ServerFrame::Event(event)) => {
                if let Err(reason) = room_for(&backlog, &pending, bytes.len()).await {
                    break reason;
                }
                backlog.bytes.fetch_add(bytes.len(), Ordering::AcqRel);
                if events.send((Incoming::Event(event), bytes.len())).is_err() {
                    break "closed by the client".to_owned();
                }
                arrived();
            }
            Err(e) => break e.to_string(),
        }
    };
    // Waiters see their sender dropped: ConnectionClosed; later requests fail at once.
    {
        let mut waiters = pending.lock().unwrap_or_else(|e| e.into_inner());
        waiters.closed = true;
        waiters.by_id.clear();
    }
    let _ = events.send((Incoming::Closed(reason), 0));
    arrived();
}

/// Waits until an event of `size` bytes fits the backlog ([`MAX_BACKLOG`]; with a
/// reply awaited, up to [`BACKLOG_SLACK`] more): the reason to drop the connection
/// when it cannot.
async fn room_for(backlog: &Backlog, pending: &Pending, size: usize) -> Result<(), String> {
    loop {
        let taken = backlog.taken.notified();
        let held = backlog.bytes.load(Ordering::Acquire);
        if held + size <= MAX_BACKLOG {
            return Ok(());
        }
        let awaited = !pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_id
            .is_empty();
        if awaited {
            if held + size <= MAX_BACKLOG + BACKLOG_SLACK {
                return Ok(());
            }
            return Err(format!(
                "the server sent more than {} MiB of events before answering a request",
                (MAX_BACKLOG + BACKLOG_SLACK) >> 20
            ));
        }
        let _ = tokio::time::timeout(BACKLOG_RECHECK, taken).await;
    }
}

/// Counts what a connection's reader passed on, and wakes whoever waits for it (the
/// thread of a [`super::Background`] client).
#[derive(Debug, Default)]
pub(crate) struct Arrivals {
    count: Mutex<u64>,
    changed: std::sync::Condvar,
}

impl Arrivals {
    /// Something arrived (or the connection ended).
    pub(crate) fn notify(&self) {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.changed.notify_all();
    }

    /// Waits until the count passes `seen`, at most `timeout`; returns the count.
    pub(crate) fn wait_past(&self, seen: u64, timeout: Duration) -> u64 {
        let guard = self.count.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |count| *count == seen)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// A connection whose two ends are one socket (what dialing a free local port may
    /// give) is told apart from a connection to a listener.
    #[tokio::test]
    async fn a_connection_to_itself_is_told_apart_from_one_to_a_listener() {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let own = socket.local_addr().unwrap();
        let looped = socket.connect(own).await.unwrap();
        assert!(connected_to_itself(&looped));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let normal = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        assert!(!connected_to_itself(&normal));
    }

    /// The real defaults, on a paused clock (time moves only when every task waits on
    /// a timer, straight to the next one): with nothing to send, a keep-alive goes out
    /// every 30 s, and a server from which nothing arrives is taken for gone after
    /// 75 s, not a moment sooner or later.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn keepalives_every_30_s_and_a_silent_server_is_gone_after_75_s() {
        assert_eq!(
            super::super::Client::default_keepalive(),
            KEEPALIVE,
            "a client's connections use the default"
        );
        let ((client_sealer, client_opener), (_server_sealer, mut server_opener)) =
            crate::net::test_ends();
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let (client_rd, client_wr) = tokio::io::split(client_io);
        let (mut server_rd, _server_wr) = tokio::io::split(server_io);
        let (_requests, rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog::default());
        let mut events = Events {
            rx: events,
            backlog: backlog.clone(),
        };
        let start = Instant::now();
        tokio::spawn(write_loop(client_wr, client_sealer, rx, KEEPALIVE));
        tokio::spawn(read_loop(
            client_rd,
            client_opener,
            Pending::default(),
            (events_tx, backlog),
            dead_after(KEEPALIVE),
            None,
        ));
        for n in 1..=2u32 {
            let frame = server_opener
                .open(&mut server_rd, None, Duration::from_secs(1))
                .await
                .unwrap();
            assert_eq!(
                start.elapsed(),
                Duration::from_secs(30) * n,
                "keep-alive {n}"
            );
            let ping: ClientFrame = decode(&frame).unwrap();
            assert!(matches!(ping.request, Request::Ping), "{ping:?}");
        }
        match events.recv().await {
            Some(Incoming::Closed(reason)) => {
                assert_eq!(start.elapsed(), Duration::from_secs(75), "{reason}");
                assert!(reason.contains("did not answer"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
