//! The legacy server and client for Python: `LegacyServer`, `LegacyClient`, and the
//! file and parsing functions behind the drop-in `smc.server` / `smc.client` modules.
//! Every call that can block releases the GIL.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use smc::legacy::{log, wire, LegacyClient, LegacyServer, LegacyServerConfig, Received};

use crate::errors::legacy_error;

/// A legacy SMC server running on background threads.
#[pyclass(module = "smc._smc", name = "LegacyServer")]
pub struct PyLegacyServer {
    config: LegacyServerConfig,
    server: Arc<Mutex<Option<LegacyServer>>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[pymethods]
impl PyLegacyServer {
    #[new]
    #[pyo3(signature = (host="127.0.0.1", port=50100, log_dir=None, verbose=false))]
    fn new(host: &str, port: u16, log_dir: Option<PathBuf>, verbose: bool) -> Self {
        PyLegacyServer {
            config: LegacyServerConfig {
                host: host.to_owned(),
                port,
                log_dir: log_dir.unwrap_or_else(|| PathBuf::from(".")),
                verbose,
                ..LegacyServerConfig::default()
            },
            server: Arc::new(Mutex::new(None)),
        }
    }

    /// Opens the log files and starts listening. Raises SmcIOError on failure.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let config = self.config.clone();
        let server = py
            .detach(|| LegacyServer::start(config))
            .map_err(legacy_error)?;
        let mut slot = locked(&self.server);
        if let Some(mut old) = slot.replace(server) {
            py.detach(|| old.stop());
        }
        Ok(())
    }

    /// Stops the server, closes its connections, releases the port. Idempotent.
    fn stop(&self, py: Python<'_>) {
        let server = Arc::clone(&self.server);
        py.detach(move || {
            if let Some(mut s) = locked(&server).take() {
                s.stop();
            }
        });
    }

    /// Waits up to `timeout` seconds (forever if None) for the server to stop.
    /// Returns True if it is stopped. Releases the GIL while waiting.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let step = Duration::from_millis(100);
        // The same rule as every wait of the module (NaN and negatives refused, a wait
        // too long for the clock is a wait without end).
        let deadline = crate::chat::deadline(timeout)?;
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let slice = left.map_or(step, |l| l.min(step));
            let server = Arc::clone(&self.server);
            let stopped = py.detach(move || match locked(&server).as_ref() {
                None => true,
                Some(s) => s.wait_timeout(slice),
            });
            if stopped {
                return Ok(true);
            }
            // Let Ctrl-C interrupt a long wait.
            py.check_signals()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    /// The port listened on (the real one when 0 was asked), or None when stopped.
    #[getter]
    fn port(&self) -> Option<u16> {
        locked(&self.server).as_ref().map(|s| s.local_addr().port())
    }

    /// "host:port" listened on, or None when stopped.
    #[getter]
    fn address(&self) -> Option<String> {
        locked(&self.server)
            .as_ref()
            .map(|s| s.local_addr().to_string())
    }

    /// Whether the server is serving.
    #[getter]
    fn running(&self) -> bool {
        locked(&self.server)
            .as_ref()
            .is_some_and(LegacyServer::is_running)
    }

    fn __enter__(slf: PyRef<'_, Self>, py: Python<'_>) -> PyResult<Py<Self>> {
        slf.start(py)?;
        Ok(slf.into())
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.stop(py);
        false
    }
}

/// A connection to a legacy SMC server.
#[pyclass(module = "smc._smc", name = "LegacyClient")]
pub struct PyLegacyClient {
    client: Arc<Mutex<LegacyClient>>,
    tag: String,
}

#[pymethods]
impl PyLegacyClient {
    #[new]
    #[pyo3(signature = (host="127.0.0.1", port=50100, client_id=smc::legacy::client::DEFAULT_CLIENT_ID))]
    fn new(py: Python<'_>, host: &str, port: u16, client_id: &str) -> PyResult<Self> {
        let client = py
            .detach(|| LegacyClient::connect(host, port, client_id))
            .map_err(legacy_error)?;
        Ok(PyLegacyClient {
            tag: client.tag().to_owned(),
            client: Arc::new(Mutex::new(client)),
        })
    }

    /// `<client id>[CLIENT ip:port]`: how this client names itself on the wire.
    #[getter]
    fn tag(&self) -> &str {
        &self.tag
    }

    /// The message the original client would send for `text` now.
    fn message_for(&self, text: &str) -> PyResult<String> {
        locked(&self.client).message_for(text).map_err(legacy_error)
    }

    /// Sends a raw message, returns the raw reply (GIL released while waiting).
    fn exchange(&self, py: Python<'_>, message: &str) -> PyResult<String> {
        let client = Arc::clone(&self.client);
        py.detach(move || locked(&client).exchange(message))
            .map_err(legacy_error)
    }

    /// Encrypts and sends `text`; returns the other client's decrypted message, or
    /// None when the reply carried one's own message.
    fn send(&self, py: Python<'_>, text: &str) -> PyResult<Option<String>> {
        let client = Arc::clone(&self.client);
        match py
            .detach(move || locked(&client).send(text))
            .map_err(legacy_error)?
        {
            Received::Own => Ok(None),
            Received::Message { text, .. } => Ok(Some(text)),
        }
    }

    /// Sends `/stop` and closes the connection. Idempotent.
    fn close(&self, py: Python<'_>) {
        let client = Arc::clone(&self.client);
        py.detach(move || locked(&client).close());
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close(py);
        false
    }
}

/// Appends `data` + "\n" to log.txt in `log_dir` (the originals' `log`).
#[pyfunction]
fn log_append(py: Python<'_>, log_dir: PathBuf, data: &str) -> PyResult<()> {
    py.detach(|| log::append_line(&log_dir, data))
        .map_err(legacy_error)
}

/// Appends a connection line to log_connection.txt in `log_dir`.
#[pyfunction]
fn log_connection(py: Python<'_>, log_dir: PathBuf, description: &str) -> PyResult<()> {
    py.detach(|| log::ConnectionLog::open(&log_dir)?.record(description))
        .map_err(legacy_error)
}

/// The lines of log.txt in `log_dir`, split on "@" (the originals' `list_log`).
#[pyfunction]
fn list_log(py: Python<'_>, log_dir: PathBuf) -> PyResult<Vec<Vec<String>>> {
    py.detach(|| log::read_list_log(&log_dir))
        .map_err(legacy_error)
}

/// The originals' `str_log(data)`.
#[pyfunction]
fn str_log(data: Vec<Vec<String>>) -> String {
    wire::str_log(&data)
}

/// The originals' `process_response`: (text to print or None, new counter).
#[pyfunction]
fn process_response(data: &str, data2: &str, messager: i64) -> (Option<String>, i64) {
    wire::process_response(data, data2, messager)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLegacyServer>()?;
    m.add_class::<PyLegacyClient>()?;
    m.add_function(wrap_pyfunction!(log_append, m)?)?;
    m.add_function(wrap_pyfunction!(log_connection, m)?)?;
    m.add_function(wrap_pyfunction!(list_log, m)?)?;
    m.add_function(wrap_pyfunction!(str_log, m)?)?;
    m.add_function(wrap_pyfunction!(process_response, m)?)?;
    Ok(())
}
