//! What can go wrong in the `smc` program, and which exit code it gives.

use smc::error::{ClientError, LegacyError, ServerError, StoreError};

/// An error of the `smc` program: [`CliError::Usage`] exits with 2, the others with 1.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The command line or the config file does not make sense.
    #[error("{0}")]
    Usage(String),
    /// A client failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A server's store failed (`smc admin`).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A legacy server or client failed.
    #[error(transparent)]
    Legacy(#[from] LegacyError),
    /// The terminal or a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The client stopped for good (the server's key changed, the name is taken...).
    #[error("{0}")]
    Fatal(String),
    /// The user declined (trusting a server, for instance).
    #[error("{0}")]
    Declined(String),
}
