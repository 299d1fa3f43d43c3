//! C entry points of the legacy server and client: opaque handles.
//! **The legacy protocol gives no security**: compatibility with the original scripts.

use std::ffi::c_char;
use std::path::PathBuf;

use super::boundary::{
    free_handle, guard, handle, handle_mut, into_c_string, into_handle, out_arg, str_arg, write_out,
};
use super::status::SmcStatus;
use smc::legacy::{LegacyClient, LegacyServer, LegacyServerConfig, Received};

/// A running legacy server (opaque). Created by `smc_legacy_server_start`, released by
/// `smc_legacy_server_free`.
pub struct SmcLegacyServer(LegacyServer);

/// A connection to a legacy server (opaque). Created by `smc_legacy_client_connect`,
/// released by `smc_legacy_client_free`.
pub struct SmcLegacyClient(LegacyClient);

/// Starts a legacy server listening on `host:port` (port 0 picks a free one), writing
/// `log.txt` and `log_connection.txt` in `log_dir`. It serves on background threads
/// until freed.
///
/// Ownership: `host` and `log_dir` are borrowed. On `SMC_OK`, `*out_server` receives a
/// new handle owned by the caller, released with `smc_legacy_server_free`.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_IO_ERROR` (log directory not
/// writable, address in use...; details in `smc_last_error_message`).
///
/// # Safety
/// String arguments are NULL or NUL-terminated; `out_server` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_legacy_server_start(
    host: *const c_char,
    port: u16,
    log_dir: *const c_char,
    out_server: *mut *mut SmcLegacyServer,
) -> SmcStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let host = unsafe { str_arg(host, "host") }?;
        // SAFETY: per this function's contract.
        let log_dir = unsafe { str_arg(log_dir, "log_dir") }?;
        let out = out_arg(out_server, "out_server")?;
        let server = LegacyServer::start(LegacyServerConfig {
            host: host.to_owned(),
            port,
            log_dir: PathBuf::from(log_dir),
            verbose: false,
            ..LegacyServerConfig::default()
        })?;
        write_out(out, into_handle(SmcLegacyServer(server)));
        Ok(())
    })
}

/// The port a legacy server listens on (useful after asking for port 0).
///
/// Ownership: `server` is borrowed; `*out_port` is written on `SMC_OK` only.
/// Errors: `SMC_NULL_POINTER`.
///
/// # Safety
/// `server` is NULL or a live handle; `out_port` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_legacy_server_port(
    server: *const SmcLegacyServer,
    out_port: *mut u16,
) -> SmcStatus {
    guard(|| {
        let server = handle(server, "server")?;
        let out = out_arg(out_port, "out_port")?;
        write_out(out, server.0.local_addr().port());
        Ok(())
    })
}

/// Stops a legacy server (closing its connections and releasing its port) and frees it.
///
/// Ownership: takes back `server`; it must not be used afterwards. NULL is a no-op.
/// Never fails; `smc_last_error_message` is left as it is.
///
/// # Safety
/// `server` is NULL or a live handle from `smc_legacy_server_start`, freed once.
#[no_mangle]
pub unsafe extern "C" fn smc_legacy_server_free(server: *mut SmcLegacyServer) {
    // SAFETY: NULL or a handle from into_handle, freed once per the contract.
    unsafe { free_handle(server) }
}

/// Connects to a legacy server at `host:port`, sending as `client_id` (for instance
/// "#8hdjajcur5d9l2").
///
/// Ownership: strings are borrowed. On `SMC_OK`, `*out_client` receives a new handle
/// owned by the caller, released with `smc_legacy_client_free`.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_IO_ERROR` (cannot connect).
///
/// # Safety
/// String arguments are NULL or NUL-terminated; `out_client` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_legacy_client_connect(
    host: *const c_char,
    port: u16,
    client_id: *const c_char,
    out_client: *mut *mut SmcLegacyClient,
) -> SmcStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let host = unsafe { str_arg(host, "host") }?;
        // SAFETY: per this function's contract.
        let client_id = unsafe { str_arg(client_id, "client_id") }?;
        let out = out_arg(out_client, "out_client")?;
        let client = LegacyClient::connect(host, port, client_id)?;
        write_out(out, into_handle(SmcLegacyClient(client)));
        Ok(())
    })
}

/// Encrypts `text` with the legacy cipher, sends it as the original client does, waits
/// for the server's reply and decrypts it. Blocks until the reply arrives.
///
/// Ownership: `client` and `text` are borrowed. On `SMC_OK`, `*out_reply` receives
/// either NULL (the reply carried this client's own message: the originals show
/// nothing) or the other client's decrypted text, a new string owned by the caller,
/// freed with `smc_string_free`. Untouched on error.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_UNSUPPORTED_CHARACTER`,
/// `SMC_MESSAGE_TOO_LONG`, `SMC_CONNECTION_CLOSED`, `SMC_PROTOCOL_ERROR`, `SMC_IO_ERROR`.
///
/// # Safety
/// `client` is NULL or a live handle not used concurrently; `text` is NULL or
/// NUL-terminated; `out_reply` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_legacy_client_send(
    client: *mut SmcLegacyClient,
    text: *const c_char,
    out_reply: *mut *mut c_char,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        // SAFETY: per this function's contract.
        let text = unsafe { str_arg(text, "text") }?;
        let out = out_arg(out_reply, "out_reply")?;
        let reply = match client.0.send(text)? {
            Received::Own => std::ptr::null_mut(),
            Received::Message { text, .. } => into_c_string(text)?,
        };
        write_out(out, reply);
        Ok(())
    })
}

/// Sends `/stop`, closes the connection and frees the client.
///
/// Ownership: takes back `client`; it must not be used afterwards. NULL is a no-op.
/// Never fails; `smc_last_error_message` is left as it is.
///
/// # Safety
/// `client` is NULL or a live handle from `smc_legacy_client_connect`, freed once.
#[no_mangle]
pub unsafe extern "C" fn smc_legacy_client_free(client: *mut SmcLegacyClient) {
    // SAFETY: NULL or a handle from into_handle, freed once per the contract.
    unsafe { free_handle(client) }
}
