//! C entry points of the messenger's server: the opaque handle `smc_server`.

use std::ffi::c_char;

use super::boundary::{
    free_handle, guard, handle, into_c_string, into_handle, out_arg, str_arg, write_out,
};
use super::status::SmcStatus;
use smc::server::{Server, ServerConfig};

/// A running server (opaque). Created by `smc_server_start`, released by `smc_server_free`.
pub struct SmcServer(Server);

/// Starts a server with its key and store in `data_dir` (created if missing; the key
/// file is 0600), listening on `listen` ("host:port"; port 0 picks a free one). It
/// serves on background threads until freed.
///
/// Ownership: strings are borrowed. On `SMC_OK`, `*out_server` receives a new handle
/// owned by the caller, released with `smc_server_free`.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_IO_ERROR` (address in use,
/// unreadable key, store error; details in `smc_last_error_message`).
///
/// # Safety
/// Strings are NULL or NUL-terminated; `out_server` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_server_start(
    data_dir: *const c_char,
    listen: *const c_char,
    out_server: *mut *mut SmcServer,
) -> SmcStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let data_dir = unsafe { str_arg(data_dir, "data_dir") }?;
        // SAFETY: per this function's contract.
        let listen = unsafe { str_arg(listen, "listen") }?;
        let out = out_arg(out_server, "out_server")?;
        let server = Server::start(ServerConfig::new(data_dir, listen))?;
        write_out(out, into_handle(SmcServer(server)));
        Ok(())
    })
}

/// The server's address ("host:port").
///
/// Ownership: `server` is borrowed. On `SMC_OK`, `*out_address` receives a string
/// owned by the caller (free with `smc_string_free`).
///
/// # Safety
/// `server` is NULL or live; `out_address` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_server_address(
    server: *const SmcServer,
    out_address: *mut *mut c_char,
) -> SmcStatus {
    guard(|| {
        let server = handle(server, "server")?;
        let out = out_arg(out_address, "out_address")?;
        write_out(out, into_c_string(server.0.address().to_string())?);
        Ok(())
    })
}

/// The fingerprint of the server's key (what clients pin), e.g. "K7QX 2MPA ...".
///
/// Ownership: `server` is borrowed. On `SMC_OK`, `*out_fingerprint` receives a string
/// owned by the caller (free with `smc_string_free`).
///
/// # Safety
/// `server` is NULL or live; `out_fingerprint` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_server_fingerprint(
    server: *const SmcServer,
    out_fingerprint: *mut *mut c_char,
) -> SmcStatus {
    guard(|| {
        let server = handle(server, "server")?;
        let out = out_arg(out_fingerprint, "out_fingerprint")?;
        write_out(out, into_c_string(server.0.fingerprint())?);
        Ok(())
    })
}

/// Stops the server (connections finish what they were doing, everything accepted is
/// committed) and frees it.
///
/// Ownership: takes back `server`; it must not be used afterwards. NULL is a no-op.
/// Never fails; `smc_last_error_message` is left as it is.
///
/// # Safety
/// `server` is NULL or a live handle from `smc_server_start`, freed once.
#[no_mangle]
pub unsafe extern "C" fn smc_server_free(server: *mut SmcServer) {
    // SAFETY: NULL or a handle from into_handle, freed once per the contract.
    unsafe { free_handle(server) }
}
