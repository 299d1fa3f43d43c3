//! # smc — Security Message Communication
//!
//! The Rust core of smc, used three ways: as this crate, from C through `libsmc`
//! (`include/smc.h`, see [`ffi`]), and from Python through the `smc` package.
//!
//! Today the crate holds the *legacy* system: the affine cipher of the original
//! student project (see [`legacy`]), kept byte-exact for compatibility. That cipher
//! **provides no security at all**; it exists only so that old scripts and old peers
//! keep working.
#![warn(missing_docs)]

pub mod cli;
pub mod client;
pub mod e2e;
pub mod error;
pub mod ffi;
pub mod identity;
pub mod legacy;
pub mod net;
pub mod proto;
pub mod server;

pub use client::{Client, Message};
pub use error::{
    CipherError, ClientError, E2eError, KeyError, LegacyError, NetError, ServerError, StoreError,
};
pub use proto::Refusal;
pub use server::{Server, ServerConfig};
