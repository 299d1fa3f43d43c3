//! `smc._smc`: the private extension module behind the `smc` Python package.
//!
//! It stays thin: it converts Python values to Rust ones, calls the core, maps Rust
//! errors to the exception classes of `smc.exceptions`, and releases the GIL around
//! anything that can take long. The public API is the `smc` package (`python/smc/`).

use pyo3::prelude::*;

mod chat;
mod cipher;
mod cli;
mod errors;
mod legacy;

/// The private extension module `smc._smc`.
#[pymodule]
fn _smc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    cipher::register(m)?;
    legacy::register(m)?;
    chat::register(m)?;
    cli::register(m)?;
    errors::register(m)?;
    Ok(())
}
