//! smc's integration tests: one test crate (built and linked once), one module per
//! component. Shared setup lives in `tests/support`.
//!
//! Run one component with `cargo test --test it <module>::`, e.g.
//! `cargo test --test it c_abi::` or `SMC_UPDATE_HEADER=1 cargo test --test it c_header`.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

#[path = "../support/mod.rs"]
mod support;

// The legacy system (the originals' cipher and wire format).
mod legacy_cipher;
mod legacy_net;

// The server and client of the secure protocol, on loopback; the store's guarantees.
mod messaging;
mod reconnection;
mod server_bad_input;
mod server_mls_support;
mod server_process;
mod store_contract;

// End-to-end encryption (MLS) and the client's state.
mod client_state;
mod e2e_groups;
mod e2e_malicious_server;

// Files: sent, received, tampered with.
mod files;

// Linked devices: linking with a one-time code, listing, revoking.
mod devices;

// Attacks, one file per finding.
mod adversary;

// Reliability: faults under load, fuzz inputs replayed, a power loss.
mod faults;
mod fuzz_replay;
mod power_loss;

// Operations: metrics, health, backup and restore, failover between addresses, the
// server on PostgreSQL, several server nodes (PostgreSQL + NATS).
mod cluster;
mod failover;
mod operations;
mod postgres_server;

// The `smc` program and its console.
mod cli_conventions;
mod console_lines;
mod console_tui;

// The C ABI: the generated header and C programs linked to libsmc.
mod c_abi;
mod c_header;
