//! # smc — Security Message Communication
//!
//! The Rust core of smc, used three ways: as this crate, from C through `libsmc`
//! (`include/smc.h`, see [`ffi`]), and from Python through the `smc` package.
//!
//! It holds the messenger — [`Server`] and [`Client`]: a Noise transport ([`net`]),
//! rooms as MLS groups with end-to-end encryption ([`e2e`], [`client`]), a server that
//! relays and stores only ciphertext and verifies group changes ([`server`]) — and the
//! *legacy* system of the original student project ([`legacy`]), kept byte-exact for
//! compatibility. The legacy affine cipher **provides no security at all**; it exists
//! only so that old scripts and old peers keep working. docs/ARCHITECTURE.md maps the
//! modules; README.md's "Security model" says what smc protects and against whom.

mod cli;
pub mod client;
pub mod e2e;
pub mod error;
pub mod ffi;
pub mod identity;
pub mod legacy;
pub mod net;
pub mod proto;
pub mod server;

#[doc(hidden)]
pub mod fuzzing;

/// Runs the `smc` command-line program with these arguments (the first is the
/// program's name) and returns its exit code: 0 success, 1 error, 2 usage. The `smc`
/// binary and `python -m smc` both run this.
pub fn run_cli<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    cli::main(args)
}

pub use client::{Client, Message};
pub use error::{
    CipherError, Classified, ClientError, E2eError, ErrorKind, KeyError, LegacyError, NetError,
    ServerError, StoreError,
};
pub use proto::Refusal;
pub use server::{Server, ServerConfig};
