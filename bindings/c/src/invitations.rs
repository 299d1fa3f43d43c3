//! C entry points of invitations: a room reaches a user only once they accept.

use std::ffi::c_char;

use super::boundary::{guard, handle_mut, into_c_string, out_arg, write_out};
use super::client::{with_name, SmcClient};
use super::status::SmcStatus;

/// Whether invitations are accepted as soon as their Welcome is checked (`on` non-zero)
/// or wait for `smc_client_accept` / `smc_client_decline` (`on` zero, the default).
///
/// Ownership: `client` borrowed.
///
/// Errors: `SMC_NULL_POINTER`.
///
/// # Safety
/// `client` is NULL or live and not used by another thread meanwhile.
#[no_mangle]
pub unsafe extern "C" fn smc_client_set_auto_join(client: *mut SmcClient, on: i32) -> SmcStatus {
    guard(|| {
        handle_mut(client, "client")?.run(|c| {
            c.set_auto_join(on != 0);
            Ok(())
        })
    })
}

/// The pending invitations, one per line: the room, a tab, who invited. Names never
/// hold a tab, a line break or any control character (they are checked wherever they
/// enter).
///
/// Ownership: `client` borrowed. On `SMC_OK`, `*out_invitations` receives a string
/// owned by the caller (free with `smc_string_free`); empty when there is none.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_CONNECTION_CLOSED`, `SMC_TIMEOUT`.
///
/// # Safety
/// `client` is NULL or live; `out_invitations` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_invitations(
    client: *mut SmcClient,
    out_invitations: *mut *mut c_char,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        let out = out_arg(out_invitations, "out_invitations")?;
        let lines: Vec<String> = client
            .run(|c| Ok(c.invitations()?))?
            .into_iter()
            .map(|i| format!("{}\t{}", i.room, i.by))
            .collect();
        write_out(out, into_c_string(lines.join("\n"))?);
        Ok(())
    })
}

/// Accepts the invitation to `room`: it is routed here from now on (with the messages
/// since the invitation) and its group is joined.
///
/// Ownership: all borrowed.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_REFUSED` (no invitation to
/// that room), `SMC_CONNECTION_CLOSED`.
///
/// # Safety
/// `client` is NULL or live; `room` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn smc_client_accept(
    client: *mut SmcClient,
    room: *const c_char,
) -> SmcStatus {
    with_name(client, room, "room", |c, room| Ok(c.accept(room)?))
}

/// Declines the invitation to `room` (the members then remove this user from its
/// group).
///
/// Ownership: all borrowed.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_REFUSED` (no invitation to
/// that room), `SMC_CONNECTION_CLOSED`.
///
/// # Safety
/// `client` is NULL or live; `room` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn smc_client_decline(
    client: *mut SmcClient,
    room: *const c_char,
) -> SmcStatus {
    with_name(client, room, "room", |c, room| Ok(c.decline(room)?))
}
