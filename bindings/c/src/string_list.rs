//! Lists of names for C as real lists: each name its own NUL-terminated string, so
//! that no separator can be forged into one (names are also checked wherever they
//! enter, and hold no control character).

use std::ffi::{c_char, CString};

use super::boundary::{free_handle, guard, handle_mut, into_handle, out_arg, write_out, Failure};
use super::client::{with_name, SmcClient};
use super::status::SmcStatus;
use smc::Client;

/// Strings (opaque), from `smc_client_rooms_list` or `smc_client_members_list`,
/// released by `smc_string_list_free`.
pub struct SmcStringList(Vec<CString>);

fn list(items: Vec<String>) -> Result<*mut SmcStringList, Failure> {
    let strings = items
        .into_iter()
        .map(|s| {
            CString::new(s)
                .map_err(|_| Failure::new(SmcStatus::SMC_PROTOCOL_ERROR, "a name holds a NUL byte"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(into_handle(SmcStringList(strings)))
}

/// This user's rooms (as the server routes them), as a list.
///
/// Ownership: `client` borrowed. On `SMC_OK`, `*out_list` receives a list owned by the
/// caller, released with `smc_string_list_free`.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_CONNECTION_CLOSED`, `SMC_TIMEOUT`.
///
/// # Safety
/// `client` is NULL or live; `out_list` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_rooms_list(
    client: *mut SmcClient,
    out_list: *mut *mut SmcStringList,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        let out = out_arg(out_list, "out_list")?;
        let rooms = client.run(|c| Ok(c.rooms()?))?;
        write_out(out, list(rooms)?);
        Ok(())
    })
}

/// The members of `room` who joined, sorted, as a list (those invited who have not
/// accepted yet are in `smc_client_invitees_list`).
///
/// Ownership: `client` and `room` borrowed. On `SMC_OK`, `*out_list` receives a list
/// owned by the caller, released with `smc_string_list_free`.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_NOT_A_MEMBER`,
/// `SMC_UNKNOWN_ROOM`, `SMC_CONNECTION_CLOSED`.
///
/// # Safety
/// `client` is NULL or live; `room` is NULL or NUL-terminated; `out_list` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_members_list(
    client: *mut SmcClient,
    room: *const c_char,
    out_list: *mut *mut SmcStringList,
) -> SmcStatus {
    room_list(client, room, out_list, |c, room| Ok(c.members(room)?))
}

/// The members of `room` who were invited and have not accepted yet, sorted, as a
/// list. They can read the room already; `SMC_EVENT_MEMBER_JOINED` says when each
/// accepts.
///
/// Ownership: `client` and `room` borrowed. On `SMC_OK`, `*out_list` receives a list
/// owned by the caller, released with `smc_string_list_free`.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_NOT_A_MEMBER`,
/// `SMC_UNKNOWN_ROOM`, `SMC_CONNECTION_CLOSED`.
///
/// # Safety
/// `client` is NULL or live; `room` is NULL or NUL-terminated; `out_list` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_invitees_list(
    client: *mut SmcClient,
    room: *const c_char,
    out_list: *mut *mut SmcStringList,
) -> SmcStatus {
    room_list(client, room, out_list, |c, room| Ok(c.invitees(room)?))
}

/// Writes the names `names` gives for `room` to `*out_list`, as a list.
///
/// # Safety
/// As the callers' contracts say of `client`, `room` and `out_list`.
unsafe fn room_list(
    client: *mut SmcClient,
    room: *const c_char,
    out_list: *mut *mut SmcStringList,
    names: impl FnOnce(&mut Client, &str) -> Result<Vec<String>, Failure>,
) -> SmcStatus {
    with_name(client, room, "room", |c, room| {
        let out = out_arg(out_list, "out_list")?;
        write_out(out, list(names(c, room)?)?);
        Ok(())
    })
}

/// How many strings a list holds (0 if `list` is NULL).
///
/// # Safety
/// `list` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_string_list_len(list: *const SmcStringList) -> usize {
    // SAFETY: NULL or live per the contract.
    unsafe { list.as_ref() }.map_or(0, |l| l.0.len())
}

/// String `index` of a list, NUL-terminated UTF-8, borrowed from the list (valid until
/// `smc_string_list_free`; do not free it); NULL if `list` is NULL or `index` is out
/// of range.
///
/// # Safety
/// `list` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_string_list_get(
    list: *const SmcStringList,
    index: usize,
) -> *const c_char {
    // SAFETY: NULL or live per the contract.
    unsafe { list.as_ref() }
        .and_then(|l| l.0.get(index))
        .map_or(std::ptr::null(), |s| s.as_ptr())
}

/// Frees a list and its strings.
///
/// Ownership: takes back `list`. NULL is a no-op.
/// Never fails; `smc_last_error_message` is left as it is.
///
/// # Safety
/// `list` is NULL or a live list from libsmc, freed once.
#[no_mangle]
pub unsafe extern "C" fn smc_string_list_free(list: *mut SmcStringList) {
    // SAFETY: NULL or a handle from into_handle, freed once per the contract.
    unsafe { free_handle(list) }
}
