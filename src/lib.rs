//! # smc — Security Message Communication
//!
//! The Rust core of smc, used three ways: as this crate, from C through `libsmc`
//! (`include/smc.h`, the `smc-ffi` crate in bindings/c), and from Python through the
//! `smc` package (bindings/python). The `smc` program is the `smc-cli` crate
//! (bindings/cli).
//!
//! It holds the messenger — [`Server`] and [`Client`]: a Noise transport ([`net`]),
//! rooms as MLS groups with end-to-end encryption ([`e2e`], [`client`]), a server that
//! relays and stores only ciphertext and verifies group changes ([`server`]) — and the
//! *legacy* system of the original student project ([`legacy`]), kept byte-exact for
//! compatibility. The legacy affine cipher **provides no security at all**; it exists
//! only so that old scripts and old peers keep working. docs/ARCHITECTURE.md maps the
//! modules; README.md's "Security model" says what smc protects and against whom.

pub mod client;
pub mod e2e;
pub mod error;
pub mod identity;
pub mod legacy;
pub mod net;
pub mod proto;
pub mod server;

mod private_fs;

/// Entry points of the fuzz targets into internal checks: only with the `fuzzing`
/// feature (the fuzz crate and the tests that replay its inputs), never part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use client::{Client, Message};
pub use error::{
    CipherError, Classified, ClientError, E2eError, ErrorKind, KeyError, LegacyError, NetError,
    ServerError, StoreError,
};
pub use proto::Refusal;
pub use server::{Server, ServerConfig};
