//! C entry points of end-to-end encryption: opening an encrypted client state, safety
//! numbers and key verification.

use std::ffi::c_char;

use super::boundary::{
    guard, handle_mut, into_c_string, into_handle, out_arg, str_arg, write_out, Failure,
};
use super::client::{with_name, SmcClient};
use super::status::SmcStatus;
use smc::client::{Background, Client};

/// Like `smc_client_open`, with the client's state (MLS keys, groups, decrypted
/// history) encrypted at rest under a key derived from `passphrase` (Argon2id, then
/// SQLCipher). The same passphrase must be given every time.
///
/// Ownership: strings are borrowed (libsmc keeps no copy of the passphrase once the
/// state is open). On `SMC_OK`, `*out_client` receives a new handle owned by the
/// caller, released with `smc_client_free`.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_INVALID_ARGUMENT` (bad user
/// name), `SMC_WRONG_PASSPHRASE`, `SMC_IO_ERROR`.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `out_client` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_open_encrypted(
    home: *const c_char,
    user: *const c_char,
    passphrase: *const c_char,
    out_client: *mut *mut SmcClient,
) -> SmcStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let home = unsafe { str_arg(home, "home") }?;
        // SAFETY: per this function's contract.
        let user = unsafe { str_arg(user, "user") }?;
        // SAFETY: per this function's contract.
        let passphrase = unsafe { str_arg(passphrase, "passphrase") }?;
        let out = out_arg(out_client, "out_client")?;
        let client = Client::open_with_passphrase(home, user, passphrase)?;
        write_out(out, into_handle(SmcClient(Background::start(client)?)));
        Ok(())
    })
}

/// The safety number of this client's user and `user`: 60 digits in 12 groups of 5,
/// the same on both sides when each holds the other's real key. Compare it out of band,
/// then call `smc_client_verify`.
///
/// Ownership: strings borrowed. On `SMC_OK`, `*out_number` receives a new string owned
/// by the caller, released with `smc_string_free`.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_UNKNOWN_USER` (no key seen for
/// `user` yet: share a room first), `SMC_CONNECTION_CLOSED` (never connected).
///
/// # Safety
/// `client` is NULL or live; `user` is NULL or NUL-terminated; `out_number` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_safety_number(
    client: *mut SmcClient,
    user: *const c_char,
    out_number: *mut *mut c_char,
) -> SmcStatus {
    with_name(client, user, "user", |c, user| {
        let out = out_arg(out_number, "out_number")?;
        let number = c.safety_number(user)?;
        write_out(out, into_c_string(number)?);
        Ok(())
    })
}

/// Marks `user`'s current key as verified (the safety numbers were compared); also
/// acknowledges a key change.
///
/// Ownership: both borrowed.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_UNKNOWN_USER`.
///
/// # Safety
/// `client` is NULL or live; `user` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn smc_client_verify(
    client: *mut SmcClient,
    user: *const c_char,
) -> SmcStatus {
    with_name(client, user, "user", |c, user| Ok(c.verify(user)?))
}

/// Acknowledges that `user`'s key changed (`SMC_KEY_CHANGED` from a send), without
/// verifying the new one: sending to rooms they are in works again.
///
/// Ownership: both borrowed.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_UNKNOWN_USER`.
///
/// # Safety
/// `client` is NULL or live; `user` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn smc_client_acknowledge_key_change(
    client: *mut SmcClient,
    user: *const c_char,
) -> SmcStatus {
    with_name(client, user, "user", |c, user| {
        Ok(c.acknowledge_key_change(user)?)
    })
}

/// Writes to `*out_verified` whether `user`'s current key was verified.
///
/// Ownership: all borrowed.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`.
///
/// # Safety
/// `client` is NULL or live; `user` is NULL or NUL-terminated; `out_verified` is NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_is_verified(
    client: *mut SmcClient,
    user: *const c_char,
    out_verified: *mut bool,
) -> SmcStatus {
    with_name(client, user, "user", |c, user| {
        let out = out_arg(out_verified, "out_verified")?;
        let verified = c.is_verified(user)?;
        write_out(out, verified);
        Ok(())
    })
}

/// Runs `call` with the client, a server address and a fingerprint, all checked.
///
/// # Safety
/// `client` is NULL or live; `address` and `fingerprint` are NULL or NUL-terminated.
unsafe fn with_server(
    client: *mut SmcClient,
    address: *const c_char,
    fingerprint: *const c_char,
    call: impl FnOnce(&SmcClient, &str, &str) -> Result<(), Failure>,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        // SAFETY: per the caller's contract.
        let address = unsafe { str_arg(address, "address") }?;
        // SAFETY: per the caller's contract.
        let fingerprint = unsafe { str_arg(fingerprint, "fingerprint") }?;
        call(client, address, fingerprint)
    })
}

/// Like `smc_client_connect`, but the server's key must have the fingerprint
/// `fingerprint` (given by the server's operator; case, spaces and colons do not
/// matter), checked during the handshake before anything about the user is sent.
/// Without this call, `smc_client_connect` trusts the key met first (and pins it).
///
/// Ownership: all borrowed.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_SERVER_KEY_CHANGED` (the key
/// is not the expected one, or not the one pinned before; nothing is pinned),
/// `SMC_IO_ERROR` (cannot connect), `SMC_NAME_TAKEN`.
///
/// # Safety
/// `client` is NULL or live and not used by another thread meanwhile; strings are NULL
/// or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn smc_client_connect_expecting(
    client: *mut SmcClient,
    address: *const c_char,
    fingerprint: *const c_char,
) -> SmcStatus {
    // SAFETY: per this function's contract.
    unsafe {
        with_server(client, address, fingerprint, |c, address, fingerprint| {
            c.connect(&[address], Some(fingerprint)).map(drop)
        })
    }
}

/// Pins the key of the server at `address` if its fingerprint is `fingerprint`, so
/// that the next `smc_client_connect` accepts it.
///
/// Ownership: all borrowed.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_SERVER_KEY_CHANGED` (another
/// fingerprint, or another key pinned), `SMC_IO_ERROR` (cannot connect).
///
/// # Safety
/// `client` is NULL or live; strings are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn smc_client_trust_server(
    client: *mut SmcClient,
    address: *const c_char,
    fingerprint: *const c_char,
) -> SmcStatus {
    // SAFETY: per this function's contract.
    unsafe {
        with_server(client, address, fingerprint, |c, a, f| {
            c.run(|c| Ok(Client::trust_server(c, a, f)?))
        })
    }
}

/// The fingerprint of the key the server at `address` presents, learnt without
/// revealing any identity and without pinning anything: show it, compare it with the
/// operator's, then `smc_client_connect_expecting`.
///
/// Ownership: `address` borrowed. On `SMC_OK`, `*out_fingerprint` receives a new
/// string owned by the caller, released with `smc_string_free`.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_IO_ERROR` (cannot connect),
/// `SMC_PROTOCOL_ERROR`.
///
/// # Safety
/// `address` is NULL or NUL-terminated; `out_fingerprint` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_probe_server(
    address: *const c_char,
    out_fingerprint: *mut *mut c_char,
) -> SmcStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let address = unsafe { str_arg(address, "address") }?;
        let out = out_arg(out_fingerprint, "out_fingerprint")?;
        let fingerprint = smc::client::probe_server(address)?;
        write_out(out, into_c_string(fingerprint)?);
        Ok(())
    })
}

/// Sets the one-time registration token (from the server's operator, `smc admin
/// issue-token`) presented at the next `smc_client_connect`: needed once, to register
/// the user's name on a server that registers by invitation. NULL clears it.
///
/// Ownership: all borrowed (the token is copied).
///
/// Errors: `SMC_NULL_POINTER` (`client`), `SMC_INVALID_UTF8`.
///
/// # Safety
/// `client` is NULL or live; `token` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn smc_client_set_registration_token(
    client: *mut SmcClient,
    token: *const c_char,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        let token = if token.is_null() {
            None
        } else {
            // SAFETY: per this function's contract.
            Some(unsafe { str_arg(token, "token") }?.to_owned())
        };
        client.run(|c| {
            c.set_registration_token(token);
            Ok(())
        })
    })
}

/// The most addresses `smc_client_connect_any` takes.
const MAX_ADDRESSES: usize = 64;

/// Connects to the first of `count` addresses ("host:port" each) that answers, tried in
/// order: the addresses of one service (the nodes of a cluster, a standby), which all
/// present one server key. An address that cannot be reached is passed over; any other
/// failure stops at once. When one of the addresses has a pinned key, every address
/// must present that key (so reaching a new address never means trusting a new key);
/// with `fingerprint` (may be NULL) the key must also have that fingerprint. The client
/// then keeps itself connected to this list (see `smc_client_connect`).
///
/// Ownership: all borrowed. On `SMC_OK`, if `out_address` is not NULL, it receives the
/// address connected to, a string owned by the caller (free with `smc_string_free`).
///
/// Errors: `SMC_NULL_POINTER` (`client`, `addresses` or one of its `count` entries),
/// `SMC_INVALID_UTF8`, `SMC_INVALID_ARGUMENT` (`count` is 0 or above 64),
/// `SMC_SERVER_KEY_CHANGED` (a key other than the pinned or expected one; nothing is
/// pinned), `SMC_IO_ERROR` (no address answered: the last one's error),
/// `SMC_NAME_TAKEN`.
///
/// # Safety
/// `client` is NULL or live and not used by another thread meanwhile; `addresses` is
/// NULL or points to `count` pointers, each NULL or NUL-terminated; `fingerprint` is
/// NULL or NUL-terminated; `out_address` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_connect_any(
    client: *mut SmcClient,
    addresses: *const *const c_char,
    count: usize,
    fingerprint: *const c_char,
    out_address: *mut *mut c_char,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        if addresses.is_null() {
            return Err(Failure::new(
                SmcStatus::SMC_NULL_POINTER,
                "addresses is NULL",
            ));
        }
        if count == 0 || count > MAX_ADDRESSES {
            return Err(Failure::new(
                SmcStatus::SMC_INVALID_ARGUMENT,
                format!("count must be 1 to {MAX_ADDRESSES}, not {count}"),
            ));
        }
        // SAFETY: `addresses` points to `count` pointers, per this function's contract.
        let entries = unsafe { std::slice::from_raw_parts(addresses, count) };
        let list = entries
            .iter()
            .enumerate()
            // SAFETY: each entry is NULL or NUL-terminated, per this function's contract.
            .map(|(i, &p)| unsafe { str_arg(p, &format!("addresses[{i}]")) })
            .collect::<Result<Vec<&str>, Failure>>()?;
        let expected = if fingerprint.is_null() {
            None
        } else {
            // SAFETY: non-NULL and NUL-terminated, per this function's contract.
            Some(unsafe { str_arg(fingerprint, "fingerprint") }?)
        };
        let used = client.connect(&list, expected)?;
        if !out_address.is_null() {
            write_out(out_address, into_c_string(used)?);
        }
        Ok(())
    })
}
