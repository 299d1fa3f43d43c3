//! The v2 messenger for Python: `Server`, `Client`, `Message`. Every blocking call
//! releases the GIL; a waiting `recv` wakes every 100 ms to let Ctrl-C through.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use smc::client::{Background, ChatEvent};
use smc::identity::StaticKeypair;
use smc::{Client, Message, Server, ServerConfig};

use crate::errors::{client_error, not_running, server_error};

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An smc server (Noise transport, rooms, SQLite store in `data_dir`).
#[pyclass(module = "smc._smc", name = "Server")]
pub struct PyServer {
    config: ServerConfig,
    server: Arc<Mutex<Option<Server>>>,
}

#[pymethods]
impl PyServer {
    #[new]
    #[pyo3(signature = (data_dir, host="127.0.0.1", port=0, admin_listen=None, store=None, bus=None))]
    fn new(
        data_dir: PathBuf,
        host: &str,
        port: u16,
        admin_listen: Option<String>,
        store: Option<String>,
        bus: Option<String>,
    ) -> Self {
        let listen = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut config = ServerConfig::new(data_dir, listen);
        config.admin_listen = admin_listen;
        config.store = store;
        config.bus = bus;
        PyServer {
            config,
            server: Arc::new(Mutex::new(None)),
        }
    }

    /// "host:port" of the admin listener (GET /metrics, GET /healthz), or None without
    /// one (the `admin_listen` argument); raises SmcError if not started.
    #[getter]
    fn admin_address(&self) -> PyResult<Option<String>> {
        locked(&self.server)
            .as_ref()
            .map(|s| s.admin_address().map(|a| a.to_string()))
            .ok_or_else(|| not_running("the server is not started"))
    }

    /// Opens the data directory and starts serving. Raises SmcIOError on failure.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let config = self.config.clone();
        let server = py.detach(|| Server::start(config)).map_err(server_error)?;
        let old = locked(&self.server).replace(server);
        if let Some(old) = old {
            py.detach(|| old.stop());
        }
        Ok(())
    }

    /// Stops the server after letting connections finish (idempotent).
    fn stop(&self, py: Python<'_>) {
        let server = Arc::clone(&self.server);
        py.detach(move || {
            let taken = locked(&server).take();
            if let Some(s) = taken {
                s.stop();
            }
        });
    }

    /// Whether it is serving.
    #[getter]
    fn running(&self) -> bool {
        locked(&self.server)
            .as_ref()
            .is_some_and(Server::is_running)
    }

    /// "host:port" it listens on (raises SmcError if not started).
    #[getter]
    fn address(&self) -> PyResult<String> {
        locked(&self.server)
            .as_ref()
            .map(|s| s.address().to_string())
            .ok_or_else(|| not_running("the server is not started"))
    }

    /// Fingerprint of the server's key (what clients pin). Before the first start, the
    /// key is created in `data_dir` (as `start` would) so that it can be shown.
    #[getter]
    fn fingerprint(&self, py: Python<'_>) -> PyResult<String> {
        if let Some(s) = locked(&self.server).as_ref() {
            return Ok(s.fingerprint());
        }
        let path = smc::server::DataDir::new(&self.config.data_dir).server_key();
        py.detach(|| StaticKeypair::load_or_create(&path))
            .map(|k| k.fingerprint())
            .map_err(|e| server_error(e.into()))
    }

    fn __enter__(slf: PyRef<'_, Self>, py: Python<'_>) -> PyResult<Py<Self>> {
        slf.start(py)?;
        Ok(slf.into())
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
        self.stop(py);
        false
    }

    fn __repr__(&self) -> String {
        match locked(&self.server).as_ref() {
            Some(s) => format!("<smc.Server {} running>", s.address()),
            None => format!("<smc.Server {} stopped>", self.config.listen),
        }
    }
}

/// The end of a wait of `timeout` seconds (`None`: forever, as is a wait too long for
/// the clock to hold, `math.inf` included). NaN and negative numbers are refused.
pub(crate) fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    match timeout {
        Some(t) if t.is_nan() || t < 0.0 => Err(pyo3::exceptions::PyValueError::new_err(
            "timeout must be a non-negative number of seconds, or None",
        )),
        Some(t) => Ok(Duration::try_from_secs_f64(t)
            .ok()
            .and_then(|d| Instant::now().checked_add(d))),
        None => Ok(None),
    }
}

/// The next slice of a wait: at most 100 ms, so that Ctrl-C is noticed.
fn slice(deadline: Option<Instant>) -> Duration {
    let step = Duration::from_millis(100);
    match deadline {
        Some(d) => d.saturating_duration_since(Instant::now()).min(step),
        None => step,
    }
}

/// `connect`'s address: one "host:port", or a list of them (a `str` is one address,
/// never a sequence of characters).
#[derive(FromPyObject)]
enum Addresses {
    One(String),
    Many(Vec<String>),
}

impl Addresses {
    /// The addresses as a list (an empty list is refused).
    fn into_list(self) -> PyResult<Vec<String>> {
        match self {
            Addresses::One(a) => Ok(vec![a]),
            Addresses::Many(list) if list.is_empty() => {
                Err(pyo3::exceptions::PyValueError::new_err(
                    "address: an empty list (give at least one \"host:port\")",
                ))
            }
            Addresses::Many(list) => Ok(list),
        }
    }
}

/// How a client's home is opened (again, after `close`).
struct Opener {
    home: PathBuf,
    user: String,
    /// Wiped when the Python object goes.
    passphrase: Option<zeroize::Zeroizing<String>>,
    auto_join: bool,
    /// Whether a lost connection is reconnected by the client itself.
    reconnect: bool,
}

impl Opener {
    /// The client, processed by its own thread from now on.
    fn open(&self) -> Result<Background, smc::ClientError> {
        let mut client = Client::open_with(
            &self.home,
            &self.user,
            self.passphrase.as_deref().map(|p| p.as_str()),
        )?;
        client.set_auto_join(self.auto_join);
        let background = Background::start(client)?;
        background.set_reconnect(self.reconnect);
        Ok(background)
    }
}

/// A user's client, living in `home` (its key, pinned servers, read cursors).
#[pyclass(module = "smc._smc", name = "Client")]
pub struct PyClient {
    /// `None` once closed: closing drops the client, which releases its home (the lock,
    /// the state database, the connection). What arrives is processed by the
    /// background client's own thread, as it arrives.
    client: Arc<Mutex<Option<Arc<Background>>>>,
    user: String,
    fingerprint: String,
    opener: Arc<Opener>,
}

/// The client's background client, its home opened again if the client was closed
/// (`connect` and `link` reopen a closed client).
fn open_again(
    client: &Mutex<Option<Arc<Background>>>,
    opener: &Opener,
) -> Result<Arc<Background>, smc::ClientError> {
    let mut slot = locked(client);
    match slot.as_ref() {
        Some(b) => Ok(Arc::clone(b)),
        None => {
            let b = Arc::new(opener.open()?);
            *slot = Some(Arc::clone(&b));
            Ok(b)
        }
    }
}

impl PyClient {
    fn call<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Client) -> Result<T, smc::ClientError> + Send,
    ) -> PyResult<T> {
        let background = self.background()?;
        py.detach(move || background.with(f)).map_err(client_error)
    }

    /// Like `call`, for what needs no network: it does not wait for a reconnection.
    fn call_local<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Client) -> Result<T, smc::ClientError> + Send,
    ) -> PyResult<T> {
        let background = self.background()?;
        py.detach(move || background.with_local(f))
            .map_err(client_error)
    }

    /// The background client (`ConnectionClosed` once closed).
    fn background(&self) -> PyResult<Arc<Background>> {
        locked(&self.client)
            .clone()
            .ok_or_else(|| client_error(smc::ClientError::ConnectionClosed))
    }
}

#[pymethods]
impl PyClient {
    #[new]
    #[pyo3(signature = (home, user, passphrase=None, auto_join=false, reconnect=true))]
    fn new(
        py: Python<'_>,
        home: PathBuf,
        user: String,
        passphrase: Option<String>,
        auto_join: bool,
        reconnect: bool,
    ) -> PyResult<Self> {
        let opener = Opener {
            home,
            user: user.clone(),
            passphrase: passphrase.map(zeroize::Zeroizing::new),
            auto_join,
            reconnect,
        };
        let client = py.detach(|| opener.open()).map_err(client_error)?;
        let fingerprint = client.with(|c| Ok(c.fingerprint())).map_err(client_error)?;
        Ok(PyClient {
            fingerprint,
            client: Arc::new(Mutex::new(Some(Arc::new(client)))),
            user,
            opener: Arc::new(opener),
        })
    }

    /// The user's name.
    #[getter]
    fn user(&self) -> &str {
        &self.user
    }

    /// Fingerprint of the user's key.
    #[getter]
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether a connection is open.
    #[getter]
    fn connected(&self) -> bool {
        let Some(background) = locked(&self.client).clone() else {
            return false;
        };
        background
            .with_local(|c| Ok(c.is_connected()))
            .unwrap_or(false)
    }

    /// Connects to "host:port", or to the first of a list of addresses of one service
    /// that answers (tried in order), and stays connected: a lost connection is
    /// reconnected with backoff, on the same addresses with the same trust checks
    /// (unless the client was made with `reconnect=False`); an Event "disconnected"
    /// and then "connected" say so, and calls made meanwhile wait for it. With `fingerprint`
    /// (given by the server's operator) the server's key must have it
    /// (ServerNotTrusted otherwise, nothing pinned); without, the key met first is
    /// pinned (trust on first use), and in a list every address must present the key
    /// pinned for any of them. A key different from the pinned one raises
    /// ServerKeyChanged. Returns the address connected to.
    /// `token`: a one-time registration token from the server's operator, needed once
    /// to register the name on a server that registers by invitation.
    #[pyo3(signature = (address, fingerprint=None, token=None))]
    fn connect(
        &self,
        py: Python<'_>,
        address: Addresses,
        fingerprint: Option<String>,
        token: Option<String>,
    ) -> PyResult<String> {
        let list = address.into_list()?;
        // A closed client opens its home again.
        let (client, opener) = (Arc::clone(&self.client), Arc::clone(&self.opener));
        py.detach(move || {
            let background = open_again(&client, &opener)?;
            if token.is_some() {
                background.with_local(|c| {
                    c.set_registration_token(token);
                    Ok(())
                })?;
            }
            background.connect(&list, fingerprint.as_deref())
        })
        .map_err(client_error)
    }

    /// Pins the key of the server at `address` if its fingerprint is `fingerprint`
    /// (ServerNotTrusted if not, ServerKeyChanged if another key is pinned).
    fn trust_server(&self, py: Python<'_>, address: String, fingerprint: String) -> PyResult<()> {
        self.call_local(py, move |c| c.trust_server(&address, &fingerprint))
    }

    /// The fingerprint pinned for `address`, or None (no network).
    fn pinned_server(&self, py: Python<'_>, address: String) -> PyResult<Option<String>> {
        self.call_local(py, move |c| c.pinned_server(&address))
    }

    /// This device's id (16 hex digits).
    #[getter]
    fn device_id(&self, py: Python<'_>) -> PyResult<String> {
        self.call_local(py, |c| c.device_id())
    }

    /// Offers to link a new device of this user for `timeout` seconds (at most 600):
    /// the one-time code to type on it (`Client.link`). Only the user's first device
    /// links (LinkRefused otherwise). The new device's answer is handled as it arrives;
    /// an Event "device_linked" says when it is linked. A wrong code spends the offer.
    #[pyo3(signature = (timeout=600.0))]
    fn link_code(&self, py: Python<'_>, timeout: f64) -> PyResult<String> {
        if timeout.is_nan() || timeout <= 0.0 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "timeout must be a positive number of seconds",
            ));
        }
        let lifetime = Duration::try_from_secs_f64(timeout).unwrap_or(Duration::MAX);
        self.call(py, move |c| c.link_code(lifetime))
    }

    /// Links this client's new home (one that never connected) to its user's first
    /// device with the `code` shown there, through the server at `address` (or the
    /// first of a list that answers), waiting up to `timeout` seconds for the first
    /// device to grant (None: forever); then stays connected as after `connect`.
    /// `name` names this device (default: the host name). LinkRefused for a wrong,
    /// used or expired code. `history`: whether to ask for the rooms' history (linked
    /// devices do not take part in rooms yet, so none is sent for now).
    #[pyo3(signature = (address, code, timeout=60.0, name=None, history=true, fingerprint=None))]
    #[allow(clippy::too_many_arguments)]
    fn link(
        &self,
        py: Python<'_>,
        address: Addresses,
        code: String,
        timeout: Option<f64>,
        name: Option<String>,
        history: bool,
        fingerprint: Option<String>,
    ) -> PyResult<String> {
        let _ = history;
        let list = address.into_list()?;
        let wait = match deadline(timeout)? {
            Some(end) => end.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(365 * 24 * 3600),
        };
        // A closed client opens its home again, as `connect` does.
        let (client, opener) = (Arc::clone(&self.client), Arc::clone(&self.opener));
        py.detach(move || {
            let background = open_again(&client, &opener)?;
            background.link(&list, &code, name.as_deref(), fingerprint.as_deref(), wait)
        })
        .map_err(client_error)
    }

    /// The user's devices (smc.Device): the first, then each linked one not revoked,
    /// every one checked against the user's identity key.
    fn devices(&self, py: Python<'_>) -> PyResult<Vec<PyDevice>> {
        let devices = self.call(py, |c| c.devices())?;
        Ok(devices.into_iter().map(PyDevice::from).collect())
    }

    /// Revokes the linked device `device_id` (see `devices`): the server closes its
    /// connections and refuses it from then on. Only the first device revokes.
    fn revoke_device(&self, py: Python<'_>, device_id: String) -> PyResult<()> {
        self.call(py, move |c| c.revoke_device(&device_id))
    }

    /// Closes the client: the connection, the state and the home's lock are released
    /// at once (another `Client` may open the same home right after). Later calls raise
    /// `ConnectionClosed`, except `connect`, which opens the home again. Leaving a
    /// `with` block closes it too.
    fn close(&self, py: Python<'_>) {
        let client = Arc::clone(&self.client);
        py.detach(move || {
            if let Some(background) = locked(&client).take() {
                // Released now even if another thread still holds the Arc for a call
                // in progress (that call then ends with ConnectionClosed).
                background.close();
            }
        });
    }

    /// The pending invitations: a list of (room, inviter).
    fn invitations(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        self.call(py, |c| {
            Ok(c.invitations()?
                .into_iter()
                .map(|i| (i.room, i.by))
                .collect())
        })
    }

    /// Accepts the invitation to `room` (NotInvited without one).
    fn accept(&self, py: Python<'_>, room: String) -> PyResult<()> {
        self.call(py, move |c| c.accept(&room))
    }

    /// Declines the invitation to `room` (NotInvited without one).
    fn decline(&self, py: Python<'_>, room: String) -> PyResult<()> {
        self.call(py, move |c| c.decline(&room))
    }

    fn create_room(&self, py: Python<'_>, name: String) -> PyResult<()> {
        self.call(py, move |c| c.create_room(&name))
    }

    fn invite(&self, py: Python<'_>, room: String, user: String) -> PyResult<()> {
        self.call(py, move |c| c.invite(&room, &user))
    }

    fn leave(&self, py: Python<'_>, room: String) -> PyResult<()> {
        self.call(py, move |c| c.leave(&room))
    }

    fn rooms(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.call_local(py, |c| c.rooms())
    }

    fn members(&self, py: Python<'_>, room: String) -> PyResult<Vec<String>> {
        self.call_local(py, move |c| c.members(&room))
    }

    fn invitees(&self, py: Python<'_>, room: String) -> PyResult<Vec<String>> {
        self.call_local(py, move |c| c.invitees(&room))
    }

    /// Sends text; returns the message id once the server has stored it.
    fn send(&self, py: Python<'_>, room: String, text: String) -> PyResult<String> {
        self.call(py, move |c| c.send(&room, &text))
            .map(|m| m.id.to_string())
    }

    /// Sends the file at `path` to `room`, end-to-end encrypted (the server sees only
    /// sealed chunks and the size); `name` (the file's own name by default) and `mime`
    /// travel inside the encryption. `progress(done_bytes, total_bytes)` is called as
    /// the upload proceeds; an exception it raises (or Ctrl-C) stops the upload and is
    /// raised here. Returns the message id once the server has stored it.
    #[pyo3(signature = (room, path, name=None, mime=None, progress=None))]
    fn send_file(
        &self,
        py: Python<'_>,
        room: String,
        path: PathBuf,
        name: Option<String>,
        mime: Option<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let background = self.background()?;
        let mut report = Progress::new(progress);
        let sent = py.detach(|| {
            background.send_file(&room, &path, name.as_deref(), mime.as_deref(), |d, t| {
                report.call(d, t)
            })
        });
        report.result(sent.map(|m| m.id.to_string()))
    }

    /// Downloads `attachment` (a received `Message.attachment`) into `path`: every
    /// chunk opened and checked, then the whole file's SHA-256; `path` appears only
    /// then. A tampered file raises Undecryptable and leaves nothing at `path`; a file
    /// the server no longer has raises FileUnavailable. `progress` as for `send_file`.
    #[pyo3(signature = (attachment, path, progress=None))]
    fn download(
        &self,
        py: Python<'_>,
        attachment: PyRef<'_, PyAttachment>,
        path: PathBuf,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let background = self.background()?;
        let attachment = attachment.inner.clone();
        let mut report = Progress::new(progress);
        let done = py.detach(|| background.download(&attachment, &path, |d, t| report.call(d, t)));
        report.result(done.map(drop))
    }

    /// The next message from someone else, or None after `timeout` seconds (None: wait
    /// forever; Ctrl-C interrupts).
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<PyMessage>> {
        let deadline = deadline(timeout)?;
        loop {
            let slice = slice(deadline);
            let background = self.background()?;
            let got = py.detach(move || background.recv(Some(slice)));
            if let Some(m) = got.map_err(client_error)? {
                return Ok(Some(PyMessage::from(m)));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            py.check_signals()?;
        }
    }

    /// The next message and those waiting behind it, up to `max` (at most 1024), in
    /// order, taken at once (cheaper than one `recv` each when many wait, as after a
    /// time away); an empty list after `timeout` seconds. A batch stops before a
    /// message that cannot be read: the next call raises `Undecryptable` for it.
    #[pyo3(signature = (max=256, timeout=None))]
    fn recv_many(
        &self,
        py: Python<'_>,
        max: i64,
        timeout: Option<f64>,
    ) -> PyResult<Vec<PyMessage>> {
        let max = usize::try_from(max)
            .ok()
            .filter(|&m| m >= 1)
            .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("max must be at least 1"))?;
        let deadline = deadline(timeout)?;
        loop {
            let slice = slice(deadline);
            let background = self.background()?;
            let got = py.detach(move || background.recv_many(max, Some(slice)));
            let messages = got.map_err(client_error)?;
            if !messages.is_empty() {
                return Ok(messages.into_iter().map(PyMessage::from).collect());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Vec::new());
            }
            py.check_signals()?;
        }
    }

    /// The next event: a Message, or an Event (member joined or left, key changed,
    /// message missing or unreadable); None after `timeout` seconds.
    #[pyo3(signature = (timeout=None))]
    fn recv_event(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyAny>>> {
        let deadline = deadline(timeout)?;
        loop {
            let slice = slice(deadline);
            let background = self.background()?;
            let got = py.detach(move || background.recv_event(Some(slice)));
            if let Some(e) = got.map_err(client_error)? {
                return Ok(Some(match e {
                    ChatEvent::Message(m) => Py::new(py, PyMessage::from(m))?.into_any(),
                    other => Py::new(py, PyEvent::from(other))?.into_any(),
                }));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            py.check_signals()?;
        }
    }

    /// A descriptor that is readable exactly while an event waits for `recv_event`
    /// (for `select`/`poll`, or asyncio's `loop.add_reader`). Valid until `close`;
    /// only wait on it, never read or write it.
    fn fileno(&self) -> PyResult<i32> {
        Ok(self.background()?.readiness())
    }

    /// The safety number shared with `user` (60 digits): compare it out of band.
    fn safety_number(&self, py: Python<'_>, user: String) -> PyResult<String> {
        self.call_local(py, move |c| c.safety_number(&user))
    }

    /// Marks `user`'s key as verified (also acknowledges a key change).
    fn verify(&self, py: Python<'_>, user: String) -> PyResult<()> {
        self.call_local(py, move |c| c.verify(&user))
    }

    /// Acknowledges that `user`'s key changed, without verifying it.
    fn acknowledge_key_change(&self, py: Python<'_>, user: String) -> PyResult<()> {
        self.call_local(py, move |c| c.acknowledge_key_change(&user))
    }

    /// Whether `user`'s current key was verified.
    fn is_verified(&self, py: Python<'_>, user: String) -> PyResult<bool> {
        self.call_local(py, move |c| c.is_verified(&user))
    }

    /// The last `limit` messages of a room, oldest first; with `before` (a message's
    /// `seq`), those placed before it: pass the oldest `seq` of a page for the page
    /// before it.
    #[pyo3(signature = (room, limit=100, before=None))]
    fn history(
        &self,
        py: Python<'_>,
        room: String,
        limit: u32,
        before: Option<u64>,
    ) -> PyResult<Vec<PyMessage>> {
        let messages = self.call(py, move |c| c.history_before(&room, limit, before))?;
        Ok(messages.into_iter().map(PyMessage::from).collect())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        format!("<smc.Client user={:?}>", self.user)
    }
}

/// A chat message. Two messages are equal when they are the same message (same
/// server-wide id), and hash by it.
#[pyclass(module = "smc._smc", name = "Message", frozen, eq, hash)]
pub struct PyMessage {
    /// Server-wide id.
    #[pyo3(get)]
    id: String,
    /// The room.
    #[pyo3(get)]
    room: String,
    /// Place in the room (1, 2, 3...).
    #[pyo3(get)]
    seq: u64,
    /// Who sent it.
    #[pyo3(get)]
    sender: String,
    /// The text ("" for a file).
    #[pyo3(get)]
    text: String,
    timestamp_ms: i64,
    /// The file it carries, or None for a text.
    #[pyo3(get)]
    attachment: Option<PyAttachment>,
}

impl PartialEq for PyMessage {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl std::hash::Hash for PyMessage {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl From<Message> for PyMessage {
    fn from(m: Message) -> Self {
        PyMessage {
            id: m.id.to_string(),
            room: m.room,
            seq: m.seq,
            sender: m.sender,
            text: m.text,
            timestamp_ms: m.timestamp.timestamp_millis(),
            attachment: m.attachment.map(|inner| PyAttachment { inner }),
        }
    }
}

#[pymethods]
impl PyMessage {
    /// When the server stored it (timezone-aware, UTC).
    #[getter]
    fn timestamp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let datetime = py.import("datetime")?;
        let utc = datetime.getattr("timezone")?.getattr("utc")?;
        datetime
            .getattr("datetime")?
            .call_method1("fromtimestamp", (self.timestamp_ms as f64 / 1000.0, utc))
    }

    fn __repr__(&self) -> String {
        format!(
            "<smc.Message id={} room={:?} sender={:?} text={:?}>",
            self.id, self.room, self.sender, self.text
        )
    }
}

/// One of the user's devices (`Client.devices`).
#[pyclass(module = "smc._smc", name = "Device", frozen, eq)]
#[derive(PartialEq)]
pub struct PyDevice {
    /// Its id (16 hex digits).
    #[pyo3(get)]
    id: String,
    /// Its name ("first device" for the one that registered the name).
    #[pyo3(get)]
    name: String,
    /// Whether it is this client's device.
    #[pyo3(get)]
    current: bool,
    linked_at_ms: Option<i64>,
}

impl From<smc::client::Device> for PyDevice {
    fn from(d: smc::client::Device) -> Self {
        PyDevice {
            id: d.id,
            name: d.name,
            current: d.current,
            linked_at_ms: d.linked_at.map(|t| t.timestamp_millis()),
        }
    }
}

#[pymethods]
impl PyDevice {
    /// When it was linked (timezone-aware, UTC), or None for the first device.
    #[getter]
    fn linked_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(ms) = self.linked_at_ms else {
            return Ok(None);
        };
        let datetime = py.import("datetime")?;
        let utc = datetime.getattr("timezone")?.getattr("utc")?;
        datetime
            .getattr("datetime")?
            .call_method1("fromtimestamp", (ms as f64 / 1000.0, utc))
            .map(Some)
    }

    fn __repr__(&self) -> String {
        format!(
            "<smc.Device id={} name={:?} current={}>",
            self.id, self.name, self.current
        )
    }
}

/// A file a message carries: its name, size, media type and SHA-256, as its sender
/// announced them inside the encryption (pass it to `Client.download`).
#[pyclass(module = "smc._smc", name = "Attachment", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct PyAttachment {
    inner: smc::client::Attachment,
}

#[pymethods]
impl PyAttachment {
    /// The name its sender gave it (anything: `safe_name` is what to save it under).
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// The name made safe to save under in a directory (no separators, no "..", no
    /// control characters, not hidden).
    #[getter]
    fn safe_name(&self) -> String {
        self.inner.safe_name()
    }

    /// Its size in bytes.
    #[getter]
    fn size(&self) -> u64 {
        self.inner.size()
    }

    /// Its media type.
    #[getter]
    fn mime(&self) -> &str {
        self.inner.mime()
    }

    /// The SHA-256 of its content, in hex.
    #[getter]
    fn sha256(&self) -> String {
        self.inner.sha256_hex()
    }

    fn __repr__(&self) -> String {
        format!(
            "<smc.Attachment name={:?} size={} mime={:?}>",
            self.inner.name(),
            self.inner.size(),
            self.inner.mime()
        )
    }
}

/// A Python progress callback, called with the GIL from a transfer's thread: the
/// first exception it raises (or a signal, Ctrl-C) stops the transfer and is what the
/// call raises.
struct Progress {
    callback: Option<Py<PyAny>>,
    error: Option<PyErr>,
}

impl Progress {
    fn new(callback: Option<Py<PyAny>>) -> Self {
        Progress {
            callback,
            error: None,
        }
    }

    /// Reports `done` of `total` bytes; whether to go on.
    fn call(&mut self, done: u64, total: u64) -> bool {
        let outcome = Python::attach(|py| {
            py.check_signals()?;
            match &self.callback {
                Some(callback) => callback.call1(py, (done, total)).map(drop),
                None => Ok(()),
            }
        });
        match outcome {
            Ok(()) => true,
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }

    /// The transfer's outcome: the callback's exception if it stopped it.
    fn result<T>(self, outcome: Result<T, smc::ClientError>) -> PyResult<T> {
        match (outcome, self.error) {
            (Err(_), Some(e)) => Err(e),
            (outcome, _) => outcome.map_err(client_error),
        }
    }
}

/// Something that happened in a room, other than a message (from `recv_event`).
#[pyclass(module = "smc._smc", name = "Event", frozen, eq)]
#[derive(PartialEq)]
pub struct PyEvent {
    /// "invited", "joined", "members_changed", "member_joined", "removed",
    /// "key_changed", "missing", "undecryptable", "disconnected", "connected",
    /// "device_linked" or "device_revoked".
    #[pyo3(get)]
    kind: &'static str,
    /// The room ("" for "key_changed").
    #[pyo3(get)]
    room: String,
    /// Who: the inviter (joined), who joined (member_joined), the user (key_changed),
    /// the sender (missing, undecryptable); "" otherwise.
    #[pyo3(get)]
    user: String,
    /// Who was added (members_changed): invited, they join when they accept
    /// (member_joined).
    #[pyo3(get)]
    added: Vec<String>,
    /// Who left (members_changed).
    #[pyo3(get)]
    removed: Vec<String>,
    /// How many messages are missing (missing).
    #[pyo3(get)]
    count: u64,
    /// The message's place in the room (undecryptable).
    #[pyo3(get)]
    seq: u64,
    /// Why the message cannot be read (undecryptable), why the connection was lost
    /// (disconnected).
    #[pyo3(get)]
    reason: String,
    /// Whether the client reconnects by itself (disconnected).
    #[pyo3(get)]
    retrying: bool,
    /// The address connected to (connected).
    #[pyo3(get)]
    address: String,
    /// The device's id (device_linked).
    #[pyo3(get)]
    device: String,
    /// The device's name (device_linked).
    #[pyo3(get)]
    device_name: String,
}

impl From<ChatEvent> for PyEvent {
    fn from(e: ChatEvent) -> Self {
        let mut out = PyEvent {
            kind: "",
            room: String::new(),
            user: String::new(),
            added: Vec::new(),
            removed: Vec::new(),
            count: 0,
            seq: 0,
            reason: String::new(),
            retrying: false,
            address: String::new(),
            device: String::new(),
            device_name: String::new(),
        };
        match e {
            ChatEvent::Message(m) => {
                out.kind = "message";
                out.room = m.room;
                out.user = m.sender;
                out.seq = m.seq;
            }
            ChatEvent::Invited { room, by } => {
                (out.kind, out.room, out.user) = ("invited", room, by);
            }
            ChatEvent::Joined { room, by } => {
                (out.kind, out.room, out.user) = ("joined", room, by);
            }
            ChatEvent::MembersChanged {
                room,
                added,
                removed,
            } => {
                (out.kind, out.room, out.added, out.removed) =
                    ("members_changed", room, added, removed);
            }
            ChatEvent::Removed { room } => (out.kind, out.room) = ("removed", room),
            ChatEvent::KeyChanged { user } => (out.kind, out.user) = ("key_changed", user),
            ChatEvent::Missing {
                room,
                sender,
                count,
            } => (out.kind, out.room, out.user, out.count) = ("missing", room, sender, count),
            ChatEvent::Undecryptable {
                room,
                seq,
                sender,
                reason,
            } => {
                (out.kind, out.room, out.seq, out.user, out.reason) =
                    ("undecryptable", room, seq, sender, reason);
            }
            ChatEvent::Disconnected { reason, retrying } => {
                (out.kind, out.reason, out.retrying) = ("disconnected", reason, retrying);
            }
            ChatEvent::Connected { address } => (out.kind, out.address) = ("connected", address),
            ChatEvent::MemberJoined { room, user } => {
                (out.kind, out.room, out.user) = ("member_joined", room, user);
            }
            ChatEvent::DeviceRevoked => out.kind = "device_revoked",
            ChatEvent::DeviceLinked { device, name } => {
                (out.kind, out.device, out.device_name) = ("device_linked", device, name);
            }
        }
        out
    }
}

#[pymethods]
impl PyEvent {
    fn __repr__(&self) -> String {
        match self.kind {
            "members_changed" => format!(
                "<smc.Event members_changed room={:?} added={:?} removed={:?}>",
                self.room, self.added, self.removed
            ),
            "undecryptable" => format!(
                "<smc.Event undecryptable room={:?} seq={} sender={:?} reason={:?}>",
                self.room, self.seq, self.user, self.reason
            ),
            kind => format!(
                "<smc.Event {kind} room={:?} user={:?} count={}>",
                self.room, self.user, self.count
            ),
        }
    }
}

/// The fingerprint of the key the server at `address` presents, learnt without
/// revealing any identity and without pinning anything (compare it with what the
/// operator gave, then `Client.connect(address, fingerprint=...)`).
#[pyfunction]
fn probe_server(py: Python<'_>, address: String) -> PyResult<String> {
    py.detach(move || smc::client::probe_server(&address))
        .map_err(client_error)
}

/// Adds the classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(probe_server, m)?)?;
    m.add_class::<PyServer>()?;
    m.add_class::<PyClient>()?;
    m.add_class::<PyMessage>()?;
    m.add_class::<PyAttachment>()?;
    m.add_class::<PyEvent>()?;
    m.add_class::<PyDevice>()?;
    Ok(())
}
