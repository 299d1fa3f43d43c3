//! The legacy TCP server: the originals' wire format and files, without their defects.
//!
//! Kept from `server.py`: each message is appended to `log.txt` (written before the
//! reply is sent) and answered with the line logged before it, `@` made `,`; each
//! accepted connection is recorded in `log_connection.txt`. Fixed: any number of
//! concurrent clients (tokio tasks); `/stop` ends only that client's session; a
//! disconnect ends the session (no empty lines); messages up to 64 KiB; no polling
//! delays; a message that is not UTF-8 or too long is reported on stderr and ends only
//! that connection; the port is reusable at once after a stop. Hardened: at most
//! [`LegacyServerConfig::max_connections`] at once (more are closed at accept), a
//! connection silent for [`LegacyServerConfig::idle_timeout`] is closed, and a message
//! holding a CR or LF (which the original client cannot send, and which would become
//! several lines of `log.txt` and forge the reply to the next client) is refused and
//! ends that connection.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::error::LegacyError;
use crate::legacy::log::MessageLog;
use crate::legacy::log::{socket_description, ConnectionLog};
use crate::legacy::wire::{MAX_MESSAGE, STOP};

/// Where and how a [`LegacyServer`] runs.
#[derive(Debug, Clone)]
pub struct LegacyServerConfig {
    /// Address to listen on (the originals: `127.0.0.1`).
    pub host: String,
    /// Port (the originals: 50100; 0 picks a free one).
    pub port: u16,
    /// Directory of `log.txt` and `log_connection.txt` (the originals: the working
    /// directory).
    pub log_dir: PathBuf,
    /// Print connections and messages on stdout, as the originals did.
    pub verbose: bool,
    /// Connections served at once; more are closed at accept (default 256).
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed (default 15 min: the
    /// original client waits for its user to type).
    pub idle_timeout: Duration,
}

impl Default for LegacyServerConfig {
    fn default() -> Self {
        LegacyServerConfig {
            host: "127.0.0.1".to_owned(),
            port: 50100,
            log_dir: PathBuf::from("."),
            verbose: false,
            max_connections: 256,
            idle_timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// A running legacy server. Stops when [`LegacyServer::stop`] is called or it is dropped.
#[derive(Debug)]
pub struct LegacyServer {
    address: SocketAddr,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl LegacyServer {
    /// Opens the log files, binds the address and starts serving on a background thread.
    ///
    /// # Errors
    /// [`LegacyError::LogFile`] when the log directory is not usable,
    /// [`LegacyError::Bind`] when the address cannot be listened on.
    pub fn start(config: LegacyServerConfig) -> Result<LegacyServer, LegacyError> {
        let messages = MessageLog::open(&config.log_dir)?;
        let connections = ConnectionLog::open(&config.log_dir)?;
        let address = format!("{}:{}", config.host, config.port);
        let bind_err = |source| LegacyError::Bind {
            address: address.clone(),
            source,
        };
        // std's listener sets SO_REUSEADDR on Unix: the port is free again at once.
        let listener = std::net::TcpListener::bind(&address).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let local = listener.local_addr().map_err(bind_err)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("smc-legacy-server")
            .enable_all()
            .build()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = Arc::new(Shared {
            messages: Mutex::new(messages),
            connections: Mutex::new(connections),
            verbose: config.verbose,
            host: config.host.clone(),
            port: local.port(),
            max_connections: config.max_connections,
            idle_timeout: config.idle_timeout,
            open: AtomicUsize::new(0),
        });
        let thread = std::thread::Builder::new()
            .name("smc-legacy-server".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => serve(listener, state, shutdown_rx).await,
                        Err(e) => eprintln!("smc legacy server: cannot start: {e}"),
                    }
                });
                // Dropping the runtime cancels every connection task and closes sockets.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(LegacyServer {
            address: local,
            shutdown,
            thread: Some(thread),
        })
    }

    /// The address the server listens on (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Whether the server is still serving.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Waits until the server stops or `timeout` passes; true if it has stopped.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        // A timeout past what the clock holds waits without end.
        let deadline = std::time::Instant::now().checked_add(timeout);
        while self.is_running() {
            let now = std::time::Instant::now();
            let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(now));
            if left.is_zero() {
                return false;
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
        true
    }

    /// Stops accepting, closes every connection and releases the port. Idempotent.
    pub fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LegacyServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// State shared by the connection tasks.
struct Shared {
    messages: Mutex<MessageLog>,
    connections: Mutex<ConnectionLog>,
    verbose: bool,
    host: String,
    port: u16,
    max_connections: usize,
    idle_timeout: Duration,
    /// Connections being served.
    open: AtomicUsize,
}

/// Counts a connection while it is served.
struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn serve(listener: TcpListener, state: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let slot = Slot(Arc::clone(&state));
                    if state.open.fetch_add(1, Ordering::AcqRel) >= state.max_connections {
                        eprintln!("smc legacy server: too many connections; {peer} refused");
                        drop((stream, slot));
                        continue;
                    }
                    let state = Arc::clone(&state);
                    tokio::spawn(async move {
                        let _slot = slot;
                        connection(stream, peer, state).await
                    });
                }
                // Out of file descriptors and the like: report, back off, keep serving.
                Err(e) => {
                    eprintln!("smc legacy server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}

#[cfg(unix)]
fn fd_of(stream: &TcpStream) -> i64 {
    use std::os::fd::AsRawFd;
    i64::from(stream.as_raw_fd())
}

#[cfg(not(unix))]
fn fd_of(_: &TcpStream) -> i64 {
    -1
}

async fn connection(mut stream: TcpStream, peer: SocketAddr, state: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().unwrap_or(peer);
    let description = socket_description(fd_of(&stream), local, peer);
    if state.verbose {
        println!("{description}");
    }
    let logged = state
        .connections
        .lock()
        .map_err(|_| ())
        .and_then(|mut log| {
            log.record(&description)
                .map_err(|e| eprintln!("smc legacy server: {e}"))
        });
    if logged.is_err() {
        return;
    }
    let logged_message = || {
        if state.verbose {
            println!(
                "[ SERVER@ {} -p {} ]: Client send a message. Go to ./log.txt to see more.",
                state.host, state.port
            );
        }
    };
    match serve_stream(&mut stream, &state.messages, state.idle_timeout, logged_message).await {
        SessionEnd::Stopped | SessionEnd::Disconnected => {}
        SessionEnd::Idle => eprintln!(
            "smc legacy server: client {peer} idle for {:?}; connection closed",
            state.idle_timeout
        ),
        SessionEnd::Refused(LegacyError::ClosedMidMessage { received }) => eprintln!(
            "smc legacy server: client {peer} left in the middle of a message ({received} bytes dropped)"
        ),
        SessionEnd::Refused(e @ LegacyError::NotUtf8 { .. }) => {
            eprintln!("smc legacy server: client {peer}: {e}; message dropped, connection closed")
        }
        SessionEnd::LineBreak => eprintln!(
            "smc legacy server: client {peer}: a message with a line break (the original \
             client cannot send one); message dropped, connection closed"
        ),
        SessionEnd::Refused(e @ LegacyError::LogFile { .. }) => {
            eprintln!("smc legacy server: {e}; connection closed")
        }
        SessionEnd::Refused(e) => {
            eprintln!("smc legacy server: client {peer}: {e}; connection closed")
        }
    }
    let _ = stream.shutdown().await;
}

/// How [`serve_stream`] ended.
#[derive(Debug)]
pub enum SessionEnd {
    /// The client sent `/stop`.
    Stopped,
    /// The stream ended between messages.
    Disconnected,
    /// Nothing arrived for the idle timeout.
    Idle,
    /// A message held a CR or LF (dropped, not logged).
    LineBreak,
    /// A message was refused or could not be logged (not UTF-8, too long, the client
    /// left in its middle, the log or the stream failed); nothing of it was logged.
    Refused(LegacyError),
}

/// Serves one legacy connection on any byte stream: reads each message (one read plus
/// whatever else already arrived), checks it, appends it to `log` and writes the reply,
/// until the client stops, leaves, idles for `idle_timeout` or sends something refused.
/// `logged` is called after each message is logged. The TCP server runs this for each
/// accepted socket; it is public so that the fuzz targets and tests can drive the
/// per-connection reader on an in-memory stream.
pub async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    log: &Mutex<MessageLog>,
    idle_timeout: Duration,
    logged: impl Fn(),
) -> SessionEnd {
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
    loop {
        let read = tokio::time::timeout(idle_timeout, read_message(stream, &mut buf));
        let Ok(read) = read.await else {
            return SessionEnd::Idle;
        };
        let message = match read {
            Ok(Some(n)) => &buf[..n],
            Ok(None) => return SessionEnd::Disconnected,
            Err(e) => return SessionEnd::Refused(e),
        };
        if message == STOP.as_bytes() {
            return SessionEnd::Stopped;
        }
        if let Err(e) = std::str::from_utf8(message) {
            return SessionEnd::Refused(LegacyError::NotUtf8 {
                valid_up_to: e.valid_up_to(),
            });
        }
        if message.iter().any(|b| *b == b'\r' || *b == b'\n') {
            return SessionEnd::LineBreak;
        }
        let reply = match log.lock() {
            Ok(mut log) => log.append(message),
            Err(_) => return SessionEnd::Disconnected,
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => return SessionEnd::Refused(e),
        };
        logged();
        if let Err(e) = stream.write_all(&reply).await {
            return SessionEnd::Refused(e.into());
        }
    }
}

/// Reads one message: one read, plus whatever else already arrived (a client sends one
/// message and waits, so it all belongs to that message). `None` at end of stream.
async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
) -> Result<Option<usize>, LegacyError> {
    let mut len = stream.read(buf).await?;
    if len == 0 {
        return Ok(None);
    }
    while len < buf.len() {
        // What is already there, without waiting: the read polled exactly once. Not a
        // zero `timeout`, whose timer fires only at the runtime's next 1 ms tick when
        // nothing is there: every reply waited for it (19 us -> 1,160 us round trips).
        let more = read_ready(stream, &mut buf[len..]).await;
        match more {
            // The client left right after these bytes: unless they are `/stop`, it
            // cannot read a reply, so the message is unfinished: reported, not logged.
            Some(Ok(0)) if &buf[..len] == STOP.as_bytes() => break,
            Some(Ok(0)) => return Err(LegacyError::ClosedMidMessage { received: len }),
            Some(Ok(n)) => len += n,
            None => break,
            Some(Err(e)) => return Err(e.into()),
        }
    }
    if len > MAX_MESSAGE {
        return Err(LegacyError::MessageTooLong {
            size: len,
            limit: MAX_MESSAGE,
        });
    }
    Ok(Some(len))
}

/// One read polled once: `None` when nothing has arrived yet (the stream's waker stays
/// registered for the next real read, which replaces it).
async fn read_ready<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
) -> Option<std::io::Result<usize>> {
    std::future::poll_fn(|cx| {
        let mut read = tokio::io::ReadBuf::new(buf);
        match std::pin::Pin::new(&mut *stream).poll_read(cx, &mut read) {
            std::task::Poll::Ready(Ok(())) => std::task::Poll::Ready(Some(Ok(read.filled().len()))),
            std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Some(Err(e))),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        }
    })
    .await
}
