//! A client that keeps itself up to date and connected: [`Background`] owns a
//! [`Client`] and a thread that processes what the connection receives as it arrives
//! (messages decrypted and stored, invitations accepted with auto-join, Welcomes, group
//! changes, commits and key-package upkeep), so that `rooms`, `members`, `invitations`
//! and `safety_number` agree with each other at any moment. `recv` / `recv_event` only
//! hand out what that thread already processed.
//!
//! The same thread keeps the connection: once [`Background::connect`] succeeded, a lost
//! connection is said ([`ChatEvent::Disconnected`]) and tried again with backoff and
//! jitter, on the same addresses with the same trust checks, until it is back
//! ([`ChatEvent::Connected`]: the outbox sent, what was missed following in order) or
//! until trying again cannot help. Calls made meanwhile wait for it, up to the request
//! timeout. The decisions are [`super::reconnect::Link`]'s; this file only drives it.
//!
//! Threading: one lock guards the client. The background thread takes it for each
//! round of processing (started by the connection's reader, see
//! [`super::connection::Arrivals`], or by the upkeep timer); every call of the
//! program takes it for the call's duration. Waiting for an event never holds it.
//! [`Background::readiness`] is a descriptor (an eventfd on Linux, a pipe elsewhere)
//! that is readable exactly while processed events wait: C programs `poll` it,
//! asyncio registers it with `loop.add_reader`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::connection::Arrivals;
use super::event::{next_messages, Pick};
use super::reconnect::{Link, Target};
use super::{ChatEvent, Client, Message};
use crate::error::{ClientError, NetError};

/// How long the thread sleeps when nothing arrives (the upkeep is checked then).
const IDLE: Duration = Duration::from_secs(1);

/// A [`Client`] processed by a thread of its own. Dropping it stops the thread and
/// drops the client (releasing its home).
#[derive(Debug)]
pub struct Background {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    client: Mutex<Option<Client>>,
    arrivals: Arc<Arrivals>,
    /// Bumped after each round of processing and each event taken; waiters for events
    /// wait on it.
    rounds: Mutex<u64>,
    processed: Condvar,
    stop: AtomicBool,
    readiness: Readiness,
    /// The connection's life (taken after `client` when both are held).
    link: Mutex<Link>,
    /// Notified when the link changes (calls waiting for a reconnection).
    linked: Condvar,
    /// Callers (and the thread's rounds) waiting for the client's lock: a transfer,
    /// which takes it step after step, lets them go first.
    waiting: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn bump(&self) {
        *lock(&self.rounds) += 1;
        self.processed.notify_all();
    }

    /// Sets the readiness descriptor from whether an event waits.
    fn update_readiness(&self, client: &Client) {
        let waiting = lock(&self.link).has_events() || client.has_event().unwrap_or(false);
        self.readiness.set(waiting);
    }

    /// Notices a lost connection, and makes the reconnection attempt that is due.
    fn keep_connected(&self) {
        let mut slot = lock(&self.client);
        let Some(client) = slot.as_mut() else {
            return;
        };
        let now = Instant::now();
        let (due, lost) = {
            let mut link = lock(&self.link);
            let lost = link.is_up() && !client.is_connected();
            if lost {
                let reason = client
                    .take_lost()
                    .unwrap_or_else(|| "the connection was closed".to_owned());
                tracing::info!(reason, "connection lost: reconnecting");
                link.lost(reason, now);
            }
            (link.due(now).cloned(), lost)
        };
        if !lost && due.is_none() {
            return;
        }
        if let Some(target) = due {
            let result = match &target.expected {
                Some(fingerprint) => client.connect_any_expecting(&target.addresses, fingerprint),
                None => client.connect_any(&target.addresses),
            };
            let mut link = lock(&self.link);
            match result {
                Ok(address) => {
                    tracing::info!(address, "reconnected");
                    link.reconnected(address);
                }
                Err(e) => {
                    tracing::info!(error = %e, "reconnection attempt failed");
                    link.attempt_failed(&e, Instant::now());
                }
            }
        }
        self.linked.notify_all();
        self.update_readiness(client);
        drop(slot);
        self.bump();
    }

    /// How long the thread may sleep: until the next reconnection attempt, at most
    /// [`IDLE`].
    fn idle(&self) -> Duration {
        match lock(&self.link).wake_at() {
            Some(at) => at
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(1), IDLE),
            None => IDLE,
        }
    }

    /// Waits while a reconnection is under way, up to the client's request timeout.
    fn wait_for_reconnection(&self) {
        let Some(timeout) = lock(&self.client).as_ref().map(Client::request_timeout) else {
            return;
        };
        // Without end (an hour at a time) when the clock cannot hold the deadline.
        let deadline = crate::client::deadline_in(timeout);
        let mut link = lock(&self.link);
        while link.reconnecting() {
            let left = deadline.map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return;
            }
            link = self
                .linked
                .wait_timeout(link, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The client's lock, counted in `waiting` while it is waited for.
    fn client(&self) -> MutexGuard<'_, Option<Client>> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let slot = lock(&self.client);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        slot
    }

    /// One round: everything received so far is processed.
    fn round(&self) {
        let mut slot = self.client();
        let Some(client) = slot.as_mut() else {
            return;
        };
        if client.is_connected() {
            if let Err(e) = client.pump() {
                // The program sees the same condition at its next call (a closed
                // connection, a full disk...); the thread goes on.
                tracing::debug!(error = %e, "background processing stopped for now");
            }
        }
        self.update_readiness(client);
        drop(slot);
        self.bump();
    }
}

impl Background {
    /// Starts processing `client` in the background (connected or not: what its later
    /// connections receive is processed too).
    pub fn start(mut client: Client) -> Result<Background, ClientError> {
        let arrivals = Arc::new(Arrivals::default());
        client.set_arrivals(arrivals.clone());
        let readiness = Readiness::new().map_err(NetError::from)?;
        let shared = Arc::new(Shared {
            client: Mutex::new(Some(client)),
            arrivals,
            rounds: Mutex::new(0),
            processed: Condvar::new(),
            stop: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
            readiness,
            link: Mutex::new(Link::new()),
            linked: Condvar::new(),
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("smc-client-bg".into())
            .spawn(move || {
                let mut seen = 0;
                while !worker.stop.load(Ordering::Acquire) {
                    // A bug that panics in one round must not end the processing for
                    // good (the client would silently stop receiving): it is logged,
                    // and the next arrival starts a new round.
                    let round = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        worker.round();
                        worker.keep_connected();
                    }));
                    if round.is_err() {
                        tracing::error!("a round of background processing panicked");
                    }
                    seen = worker.arrivals.wait_past(seen, worker.idle());
                }
            })
            .map_err(NetError::from)?;
        Ok(Background {
            shared,
            thread: Some(thread),
        })
    }

    /// Connects to the first of `addresses` that answers ([`Client::connect_any`], or
    /// [`Client::connect_any_expecting`] with `expected`), and from then on keeps the
    /// client connected to them (unless [`Background::set_reconnect`] turned that off).
    /// Returns the address connected to.
    pub fn connect<S: AsRef<str>>(
        &self,
        addresses: &[S],
        expected: Option<&str>,
    ) -> Result<String, ClientError> {
        let mut slot = lock(&self.shared.client);
        let client = slot.as_mut().ok_or(ClientError::ConnectionClosed)?;
        let result = match expected {
            Some(fingerprint) => client.connect_any_expecting(addresses, fingerprint),
            None => client.connect_any(addresses),
        };
        if result.is_ok() {
            self.keep(addresses, expected);
        }
        self.shared.update_readiness(client);
        result
    }

    /// Links this new home to its user's first device with `code`
    /// ([`Client::link`]) through the first of `addresses` that answers, waiting up to
    /// `wait` for the grant, then keeps it connected to them as [`Background::connect`]
    /// does. Returns the address linked through.
    pub fn link<S: AsRef<str>>(
        &self,
        addresses: &[S],
        code: &str,
        name: Option<&str>,
        expected: Option<&str>,
        wait: Duration,
    ) -> Result<String, ClientError> {
        let mut slot = lock(&self.shared.client);
        let client = slot.as_mut().ok_or(ClientError::ConnectionClosed)?;
        let mut result = Err(ClientError::InvalidName {
            name: String::new(),
            reason: "no address to link through",
        });
        for address in addresses {
            let address = address.as_ref();
            result = client
                .link_inner(address, code, name, expected, wait)
                .map(|()| address.to_owned());
            // Only an address that cannot be reached is passed over for the next.
            if !matches!(&result, Err(e) if e.kind() == crate::ErrorKind::Unreachable) {
                break;
            }
        }
        if result.is_ok() {
            self.keep(addresses, expected);
        }
        self.shared.update_readiness(client);
        result
    }

    /// Reconnects to `addresses` (with `expected`, the server's fingerprint) from now
    /// on, whenever the connection is lost.
    fn keep<S: AsRef<str>>(&self, addresses: &[S], expected: Option<&str>) {
        lock(&self.shared.link).connected(Target {
            addresses: addresses.iter().map(|a| a.as_ref().to_owned()).collect(),
            expected: expected.map(str::to_owned),
        });
        self.shared.linked.notify_all();
    }

    /// Keeps the client connected to `addresses` from now on, as
    /// [`Background::connect`] does, when it was connected already before it was handed
    /// to this [`Background`] (nothing happens otherwise).
    pub fn keep_connected_to<S: AsRef<str>>(&self, addresses: &[S], expected: Option<&str>) {
        let slot = lock(&self.shared.client);
        if slot.as_ref().is_some_and(Client::is_connected) {
            self.keep(addresses, expected);
        }
    }

    /// When the next reconnection attempt is due, while a reconnection is under way.
    pub fn next_attempt(&self) -> Option<Instant> {
        lock(&self.shared.link).wake_at()
    }

    /// Whether a lost connection is reconnected by this client (the default) or left
    /// to the program (`false`: a loss is still said, with
    /// [`ChatEvent::Disconnected`]).
    pub fn set_reconnect(&self, on: bool) {
        lock(&self.shared.link).set_enabled(on);
        self.shared.linked.notify_all();
    }

    /// Runs `f` on the client (under its lock: the background thread waits), after
    /// waiting for a reconnection under way (up to the request timeout). Once closed,
    /// [`ClientError::ConnectionClosed`].
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        self.shared.wait_for_reconnection();
        self.with_local(f)
    }

    /// Like [`Background::with`], for a transfer's step: what it does neither
    /// processes nor produces events, so the readiness the program polls is left as
    /// it is (checking it asks the local store, twice per chunk otherwise).
    pub(crate) fn with_transfer<T>(
        &self,
        wait_for_connection: bool,
        f: impl FnOnce(&mut Client) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        if wait_for_connection {
            self.shared.wait_for_reconnection();
        }
        let mut slot = self.shared.client();
        let client = slot.as_mut().ok_or(ClientError::ConnectionClosed)?;
        f(client)
    }

    /// Lets whoever waits for the client's lock (a call of the program, the thread's
    /// processing of what arrived) have it first, for up to `at_most`: a transfer
    /// calls this between its steps, so that chat goes on beside it.
    pub(crate) fn yield_to_others(&self, at_most: Duration) {
        let until = Instant::now() + at_most;
        while self.shared.waiting.load(Ordering::SeqCst) > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Whether the client keeps itself connected now (connected, or reconnecting).
    pub(crate) fn keeps_connected(&self) -> bool {
        lock(&self.shared.link).keeps_trying()
    }

    /// Like [`Background::with`], without waiting for a reconnection: for what needs
    /// no network (the local state, settings).
    pub fn with_local<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let out = {
            let mut slot = self.shared.client();
            let client = slot.as_mut().ok_or(ClientError::ConnectionClosed)?;
            let out = f(client);
            // A call may have processed or produced events (a connect, a send).
            self.shared.update_readiness(client);
            out
        };
        // What arrived during the call was counted by the reader: the thread goes on
        // as soon as the lock is free.
        out
    }

    /// Waits up to `timeout` (forever with `None`) for the next processed event;
    /// `Ok(None)` when the time is up. Without a connection, with nothing waiting and
    /// no reconnection under way, [`ClientError::ConnectionClosed`] (after the
    /// [`ChatEvent::Disconnected`] that says so). Each is handed out once, across
    /// restarts (the connection's events: once, in this process).
    pub fn recv_event(&self, timeout: Option<Duration>) -> Result<Option<ChatEvent>, ClientError> {
        Ok(self.recv_events(1, timeout)?.pop())
    }

    /// Like [`Background::recv_event`], for a batch: the next processed event and those
    /// queued behind it, up to `max` (at most [`MAX_BATCH`](crate::client::MAX_BATCH)),
    /// taken in one state transaction; empty when the time is up.
    pub fn recv_events(
        &self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<ChatEvent>, ClientError> {
        Ok(self
            .recv_with(timeout, max, |c| c.pop_events(max, Pick::All))?
            .unwrap_or_default())
    }

    /// Like [`Background::recv_event`], for messages only: other events are passed
    /// over, and a message that cannot be read is [`ClientError::Undecryptable`].
    pub fn recv(&self, timeout: Option<Duration>) -> Result<Option<Message>, ClientError> {
        Ok(self.recv_many(1, timeout)?.pop())
    }

    /// Like [`Background::recv`], for a batch: the next message and those queued behind it,
    /// up to `max` (at most [`MAX_BATCH`](crate::client::MAX_BATCH)), taken in one state
    /// transaction; empty when the time is up. A batch stops before a message that cannot
    /// be read; that one is [`ClientError::Undecryptable`] at the next call.
    pub fn recv_many(
        &self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<Message>, ClientError> {
        next_messages(timeout, |left| {
            self.recv_with(left, max, |c| c.pop_events(max, Pick::Messages))
        })
    }

    /// Waits up to `timeout` (forever with `None`) until `take` finds processed events
    /// (it returns an empty batch when there are none); `Ok(None)` when the time is up.
    /// The client's lock is held only while `take` runs, never while waiting.
    fn recv_with(
        &self,
        timeout: Option<Duration>,
        max: usize,
        take: impl Fn(&Client) -> Result<Vec<ChatEvent>, ClientError>,
    ) -> Result<Option<Vec<ChatEvent>>, ClientError> {
        let deadline = timeout.and_then(crate::client::deadline_in);
        loop {
            let round = *lock(&self.shared.rounds);
            {
                let slot = lock(&self.shared.client);
                let client = slot.as_ref().ok_or(ClientError::ConnectionClosed)?;
                // The connection's events first: they come before what follows them.
                let mut events = lock(&self.shared.link).take_events(max);
                if events.is_empty() {
                    events = take(client)?;
                }
                self.shared.update_readiness(client);
                if !events.is_empty() {
                    return Ok(Some(events));
                }
                if !client.is_connected() && !lock(&self.shared.link).keeps_trying() {
                    return Err(ClientError::ConnectionClosed);
                }
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Ok(None),
                },
                None => IDLE,
            };
            let rounds = lock(&self.shared.rounds);
            let _ = self
                .shared
                .processed
                .wait_timeout_while(rounds, left, |r| *r == round)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// A descriptor that is readable exactly while a processed event waits for
    /// [`Background::recv_event`]. Borrowed: valid as long as this client lives; never
    /// read from or write to it, only wait on it.
    pub fn readiness(&self) -> RawFd {
        self.shared.readiness.fd()
    }

    /// Stops the thread and drops the client: its connection, state and home's lock
    /// are released at once. Later calls are [`ClientError::ConnectionClosed`].
    pub fn close(&self) {
        drop(lock(&self.shared.client).take());
        lock(&self.shared.link).closed();
        self.shared.linked.notify_all();
        self.shared.readiness.set(false);
        self.shared.bump();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.arrivals.notify();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        drop(lock(&self.shared.client).take());
    }
}

/// A descriptor readable while set: an eventfd on Linux, a pipe elsewhere.
#[derive(Debug)]
struct Readiness {
    read: OwnedFd,
    #[cfg(not(target_os = "linux"))]
    write: OwnedFd,
    set: Mutex<bool>,
}

impl Readiness {
    #[cfg(target_os = "linux")]
    fn new() -> std::io::Result<Self> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor
        // that nothing else owns.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned here alone.
        let read = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Readiness {
            read,
            set: Mutex::new(false),
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn new() -> std::io::Result<Self> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both were just created and are owned here alone.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [&read, &write] {
            // SAFETY: a valid descriptor; F_SETFL with O_NONBLOCK takes no pointer.
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        }
        Ok(Readiness {
            read,
            write,
            set: Mutex::new(false),
        })
    }

    fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Makes the descriptor readable (`true`) or not.
    fn set(&self, on: bool) {
        let mut set = lock(&self.set);
        if *set == on {
            return;
        }
        if on {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to a descriptor owned here.
            #[cfg(target_os = "linux")]
            let _ = unsafe { libc::write(self.read.as_raw_fd(), (&one as *const u64).cast(), 8) };
            // SAFETY: writes 1 byte from a live u64 to a descriptor owned here.
            #[cfg(not(target_os = "linux"))]
            let _ = unsafe { libc::write(self.write.as_raw_fd(), (&one as *const u64).cast(), 1) };
        } else {
            let mut buf = [0u8; 64];
            // SAFETY: reads at most buf.len() bytes into a live buffer from a
            // non-blocking descriptor owned here (an eventfd read takes 8).
            let _ =
                unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        }
        *set = on;
    }
}
