//! `python -m smc`: the `smc` program itself ([`smc_cli::run_cli`]), run in-process.

use pyo3::prelude::*;

/// Runs the `smc` program with `argv` (`argv[0]` is the program's name) and returns
/// its exit code. The GIL is released while it runs (the server and the chat client
/// block); a panic becomes exit code 101 instead of crossing into Python.
#[pyfunction]
fn run_cli(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(move || {
        std::panic::catch_unwind(move || smc_cli::run_cli(argv)).unwrap_or_else(|_| {
            eprintln!("smc: internal error (a bug): please report it");
            101
        })
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run_cli, m)?)
}
