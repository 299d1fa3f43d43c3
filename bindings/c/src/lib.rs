//! The C ABI of smc: libsmc (`include/smc.h`, generated from this crate by cbindgen).
//!
//! Conventions, as rustls-ffi:
//! - every function returns an [`SmcStatus`] (`smc_status`), `SMC_OK == 0`;
//! - results go to out-parameters, written only on success;
//! - NULL pointers and invalid UTF-8 give an error status, never a crash;
//! - every entry point runs inside one panic boundary (`boundary::guard`): no panic
//!   crosses into C;
//! - strings returned to C are owned by the caller and freed with `smc_string_free`;
//! - after a failure, `smc_last_error_message` gives a detail message for this thread.
//!
//! This module only converts and calls the core; it holds no logic of its own.

pub mod boundary;
pub mod cipher;
pub mod client;
pub mod devices;
pub mod event;
pub mod files;
pub mod invitations;
pub mod legacy;
pub mod message;
pub mod server;
pub mod status;
pub mod string_list;
pub mod trust;
pub mod version;

pub use status::SmcStatus;
