//! Logs through `tracing`: `RUST_LOG` filters them; text (coloured only on a terminal
//! and without `NO_COLOR`) or JSON lines.

use std::path::Path;

use tracing_subscriber::EnvFilter;

/// Whether colours may be used: `NO_COLOR` (any non-empty value) turns them off
/// (<https://no-color.org>).
pub(super) fn colors_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// Logs to stderr, at `default` level unless `RUST_LOG` says otherwise; `json` gives
/// one JSON object per line.
pub(super) fn to_stderr(default: &str, json: bool) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(default))
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && colors_allowed())
            .try_init()
    };
}

/// Logs to the file `path` (appended; the full-screen client cannot write to the
/// terminal it draws on), at `default` level unless `RUST_LOG` says otherwise.
pub(super) fn to_file(default: &str, path: &Path) {
    let file = std::os::unix::fs::OpenOptionsExt::mode(
        std::fs::OpenOptions::new().create(true).append(true),
        0o600,
    )
    .open(path);
    if let Ok(file) = file {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter(default))
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .try_init();
    }
}
