//! The original SMC system, kept byte-compatible.
//!
//! **Insecure by design.** The affine cipher below is a 2020 student exercise: 97 × 97
//! keys, no integrity, no randomness. It is kept only so that the original `client.py`
//! / `server.py` scripts and their peers keep working. Never use it to protect anything.
//!
//! - [`cipher`]: the affine cipher;
//! - [`wire`]: the message format, the reply rule, reply parsing;
//! - [`log`]: `log.txt` and `log_connection.txt`;
//! - [`server`]: the TCP server (many clients, no polling delays);
//! - [`client`]: the TCP client.

pub mod cipher;
pub mod client;
pub mod log;
pub mod server;
pub mod wire;

pub use cipher::{
    crypt, decrypt, decrypt_entry, encrypt_entry, inverse, pgcd, Key, CRYPT_NOT_COPRIME,
    DECRYPT_NOT_COPRIME, MODULUS, TABLE,
};
pub use client::{LegacyClient, Received};
pub use server::{LegacyServer, LegacyServerConfig};
