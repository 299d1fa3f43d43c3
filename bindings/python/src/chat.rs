//! The v2 messenger for Python: `Server`, `Client`, `Message`. Every blocking call
//! releases the GIL; a waiting `recv` wakes every 100 ms to let Ctrl-C through.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyTuple;
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
    #[pyo3(signature = (data_dir, host="127.0.0.1", port=0))]
    fn new(data_dir: PathBuf, host: &str, port: u16) -> Self {
        let listen = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        PyServer {
            config: ServerConfig::new(data_dir, listen),
            server: Arc::new(Mutex::new(None)),
        }
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
        let path = self.config.data_dir.join("server.key");
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

/// A user's client, living in `home` (its key, pinned servers, read cursors).
#[pyclass(module = "smc._smc", name = "Client")]
pub struct PyClient {
    client: Arc<Mutex<Client>>,
    user: String,
    fingerprint: String,
}

impl PyClient {
    fn call<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Client) -> Result<T, smc::ClientError> + Send,
    ) -> PyResult<T> {
        let client = Arc::clone(&self.client);
        py.detach(move || f(&mut locked(&client)))
            .map_err(client_error)
    }
}

#[pymethods]
impl PyClient {
    #[new]
    fn new(py: Python<'_>, home: PathBuf, user: String) -> PyResult<Self> {
        let u = user.clone();
        let client = py
            .detach(move || Client::open(home, &u))
            .map_err(client_error)?;
        Ok(PyClient {
            fingerprint: client.fingerprint(),
            client: Arc::new(Mutex::new(client)),
            user,
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
        locked(&self.client).is_connected()
    }

    /// Connects to "host:port" (pins the server key on first use; raises
    /// ServerKeyChanged if it differs later).
    fn connect(&self, py: Python<'_>, address: String) -> PyResult<()> {
        self.call(py, move |c| c.connect(&address))
    }

    /// Closes the connection.
    fn close(&self, py: Python<'_>) {
        let client = Arc::clone(&self.client);
        py.detach(move || locked(&client).close());
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
        self.call(py, |c| c.rooms())
    }

    fn members(&self, py: Python<'_>, room: String) -> PyResult<Vec<String>> {
        self.call(py, move |c| c.members(&room))
    }

    /// Sends text; returns the message id once the server has stored it.
    fn send(&self, py: Python<'_>, room: String, text: String) -> PyResult<String> {
        self.call(py, move |c| c.send(&room, &text))
            .map(|m| m.id.to_string())
    }

    /// The next message from someone else, or None after `timeout` seconds (None: wait
    /// forever; Ctrl-C interrupts).
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<PyMessage>> {
        let step = Duration::from_millis(100);
        let deadline = match timeout {
            Some(t) if !t.is_finite() || t < 0.0 => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "timeout must be a non-negative number of seconds, or None",
                ))
            }
            Some(t) => Some(Instant::now() + Duration::from_secs_f64(t)),
            None => None,
        };
        loop {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(step),
                None => step,
            };
            if let Some(m) = self.call(py, move |c| c.recv(Some(slice)))? {
                return Ok(Some(PyMessage::from(m)));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            py.check_signals()?;
        }
    }

    /// The last `limit` messages of a room, oldest first.
    #[pyo3(signature = (room, limit=100))]
    fn history(&self, py: Python<'_>, room: String, limit: u32) -> PyResult<Vec<PyMessage>> {
        let messages = self.call(py, move |c| c.history(&room, limit))?;
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

/// A chat message.
#[pyclass(module = "smc._smc", name = "Message", frozen, eq)]
#[derive(PartialEq)]
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
    /// The text.
    #[pyo3(get)]
    text: String,
    timestamp_ms: i64,
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

/// Adds the classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyServer>()?;
    m.add_class::<PyClient>()?;
    m.add_class::<PyMessage>()?;
    Ok(())
}
