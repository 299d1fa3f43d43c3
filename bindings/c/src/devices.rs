//! C entry points of linked devices: this device's id, linking a new device with a
//! one-time code, the user's devices as a list, revoking one.

use std::ffi::{c_char, CString};
use std::time::Duration;

use super::boundary::{
    free_handle, guard, handle_mut, into_c_string, into_handle, out_arg, str_arg, write_out,
    Failure,
};
use super::client::{with_name, SmcClient};
use super::status::SmcStatus;

/// One device of a list, its strings NUL-terminated.
struct Entry {
    id: CString,
    name: CString,
    current: bool,
    linked_at_ms: i64,
}

/// The user's devices (opaque), from `smc_client_devices`, released by
/// `smc_device_list_free`.
pub struct SmcDeviceList(Vec<Entry>);

/// This device's id (16 hex digits).
///
/// Ownership: `client` borrowed. On `SMC_OK`, `*out_id` receives a new string owned by
/// the caller, released with `smc_string_free`.
///
/// Errors: `SMC_NULL_POINTER`.
///
/// # Safety
/// `client` is NULL or live; `out_id` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_device_id(
    client: *mut SmcClient,
    out_id: *mut *mut c_char,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        let out = out_arg(out_id, "out_id")?;
        let id = client.0.with_local(|c| c.device_id())?;
        write_out(out, into_c_string(id)?);
        Ok(())
    })
}

/// Offers to link a new device of this user for `timeout_ms` milliseconds (at most 10
/// minutes): the one-time code to type on it (`smc_client_link`). Only the user's first
/// device links. The new device's answer is handled by the client's thread as it
/// arrives; `SMC_EVENT_DEVICE_LINKED` says when it is linked. A wrong code spends the
/// offer.
///
/// Ownership: `client` borrowed. On `SMC_OK`, `*out_code` receives a new string owned
/// by the caller, released with `smc_string_free`.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_LINK_REFUSED` (not the first device),
/// `SMC_CONNECTION_CLOSED`, `SMC_TIMEOUT`.
///
/// # Safety
/// `client` is NULL or live; `out_code` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_link_code(
    client: *mut SmcClient,
    timeout_ms: u64,
    out_code: *mut *mut c_char,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        let out = out_arg(out_code, "out_code")?;
        let code = client.run(|c| Ok(c.link_code(Duration::from_millis(timeout_ms))?))?;
        write_out(out, into_c_string(code)?);
        Ok(())
    })
}

/// Links this client's new home (one that never connected) to its user's first device
/// with `code` (shown there by `smc_client_link_code`), through the server at `address`
/// ("host:port"), waiting up to `timeout_ms` milliseconds for the first device to
/// grant; then keeps the client connected there as `smc_client_connect` does. `name`
/// names this device (NULL: the host name).
///
/// Ownership: all borrowed.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_INVALID_ARGUMENT` (a used home,
/// a code or name that is not one), `SMC_LINK_REFUSED` (a wrong, used or expired code),
/// `SMC_IO_ERROR` (unreachable), `SMC_SERVER_KEY_CHANGED`, `SMC_TIMEOUT`.
///
/// # Safety
/// `client` is NULL or live; the strings are NULL (`name` only: the default) or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn smc_client_link(
    client: *mut SmcClient,
    address: *const c_char,
    code: *const c_char,
    name: *const c_char,
    timeout_ms: u64,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        // SAFETY: per this function's contract.
        let address = unsafe { str_arg(address, "address") }?;
        // SAFETY: per this function's contract.
        let code = unsafe { str_arg(code, "code") }?;
        let name = if name.is_null() {
            None
        } else {
            // SAFETY: per this function's contract.
            Some(unsafe { str_arg(name, "name") }?)
        };
        let wait = Duration::from_millis(timeout_ms);
        client.0.link(&[address], code, name, None, wait)?;
        Ok(())
    })
}

/// The user's devices: the first, then each linked one not revoked, every one checked
/// against the user's identity key (the server cannot add one).
///
/// Ownership: `client` borrowed. On `SMC_OK`, `*out_list` receives a list owned by the
/// caller, released with `smc_device_list_free`.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_CONNECTION_CLOSED`, `SMC_TIMEOUT`.
///
/// # Safety
/// `client` is NULL or live; `out_list` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_devices(
    client: *mut SmcClient,
    out_list: *mut *mut SmcDeviceList,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        let out = out_arg(out_list, "out_list")?;
        let devices = client.run(|c| Ok(c.devices()?))?;
        let text = |s: String| {
            CString::new(s)
                .map_err(|_| Failure::new(SmcStatus::SMC_PROTOCOL_ERROR, "a name holds a NUL byte"))
        };
        let entries = devices
            .into_iter()
            .map(|d| {
                Ok(Entry {
                    id: text(d.id)?,
                    name: text(d.name)?,
                    current: d.current,
                    linked_at_ms: d.linked_at.map_or(0, |t| t.timestamp_millis()),
                })
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        write_out(out, into_handle(SmcDeviceList(entries)));
        Ok(())
    })
}

/// Revokes the linked device `device_id` (see `smc_client_devices`): the server closes
/// its connections and refuses it from then on (`SMC_DEVICE_REVOKED` there). Only the
/// first device revokes.
///
/// Ownership: all borrowed.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_INVALID_ARGUMENT` (not a device
/// id), `SMC_LINK_REFUSED` (not the first device), `SMC_REFUSED` (no such device).
///
/// # Safety
/// `client` is NULL or live; `device_id` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn smc_client_revoke_device(
    client: *mut SmcClient,
    device_id: *const c_char,
) -> SmcStatus {
    with_name(client, device_id, "device_id", |c, id| {
        Ok(c.revoke_device(id)?)
    })
}

/// Entry `index` of `list`, borrowed for as long as the caller keeps the list.
///
/// # Safety
/// `list` is NULL or live, and outlives what is returned.
unsafe fn entry<'a>(list: *const SmcDeviceList, index: usize) -> Option<&'a Entry> {
    // SAFETY: NULL or live per the contract.
    unsafe { list.as_ref() }.and_then(|l| l.0.get(index))
}

/// How many devices a list holds (0 if `list` is NULL).
///
/// # Safety
/// `list` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_device_list_len(list: *const SmcDeviceList) -> usize {
    // SAFETY: NULL or live per the contract.
    unsafe { list.as_ref() }.map_or(0, |l| l.0.len())
}

/// The id of device `index`, borrowed from the list (valid until
/// `smc_device_list_free`); NULL if `list` is NULL or `index` is out of range.
///
/// # Safety
/// `list` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_device_list_id(
    list: *const SmcDeviceList,
    index: usize,
) -> *const c_char {
    // SAFETY: per this function's contract.
    unsafe { entry(list, index) }.map_or(std::ptr::null(), |e| e.id.as_ptr())
}

/// The name of device `index` ("first device" for the one that registered the name),
/// borrowed from the list; NULL if `list` is NULL or `index` is out of range.
///
/// # Safety
/// `list` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_device_list_name(
    list: *const SmcDeviceList,
    index: usize,
) -> *const c_char {
    // SAFETY: per this function's contract.
    unsafe { entry(list, index) }.map_or(std::ptr::null(), |e| e.name.as_ptr())
}

/// Whether device `index` is this client's (1 or 0; 0 if out of range or NULL).
///
/// # Safety
/// `list` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_device_list_current(list: *const SmcDeviceList, index: usize) -> i32 {
    // SAFETY: per this function's contract.
    unsafe { entry(list, index) }.map_or(0, |e| i32::from(e.current))
}

/// When device `index` was linked (ms since the Unix epoch; 0 for the first device, or
/// if out of range or NULL).
///
/// # Safety
/// `list` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_device_list_linked_at_ms(
    list: *const SmcDeviceList,
    index: usize,
) -> i64 {
    // SAFETY: per this function's contract.
    unsafe { entry(list, index) }.map_or(0, |e| e.linked_at_ms)
}

/// Releases a list.
///
/// Ownership: takes back `list`. NULL is a no-op.
/// Never fails; `smc_last_error_message` is left as it is.
///
/// # Safety
/// `list` is NULL or a live list from libsmc, freed once.
#[no_mangle]
pub unsafe extern "C" fn smc_device_list_free(list: *mut SmcDeviceList) {
    // SAFETY: per the contract.
    unsafe { free_handle(list) }
}
