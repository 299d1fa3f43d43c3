//! C entry points of the messenger's client: the opaque handle `smc_client`.
//!
//! A client handle must not be used from two threads at once (wrap it in a lock).
//! Names (users, rooms) never contain control characters, so lists of names are
//! returned as one string with one name per line.

use std::ffi::c_char;

use super::boundary::{
    free_handle, guard, handle, handle_mut, into_c_string, into_handle, out_arg, str_arg,
    write_out, Failure,
};
use super::message::{SmcMessage, SmcMessageList};
use super::status::SmcStatus;
use smc::client::{Background, Client};

/// A user's client (opaque). Created by `smc_client_open`, released by `smc_client_free`.
/// What arrives is processed by a thread of the client's own as it arrives (see
/// `smc_client_fd`).
pub struct SmcClient(pub(crate) Background);

impl SmcClient {
    /// Runs `body` on the client (under its lock), turning both a closed client and
    /// `body`'s own error into a failure.
    pub(crate) fn run<T>(
        &self,
        body: impl FnOnce(&mut Client) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut out = None;
        self.0.with(|c| {
            out = Some(body(c));
            Ok(())
        })?;
        out.unwrap_or_else(|| Err(smc::ClientError::ConnectionClosed.into()))
    }

    /// Connects to the first of `addresses` that answers (with `expected`, the server's
    /// fingerprint) and keeps the client connected to them from then on.
    pub(crate) fn connect(
        &self,
        addresses: &[&str],
        expected: Option<&str>,
    ) -> Result<String, Failure> {
        Ok(self.0.connect(addresses, expected)?)
    }
}

/// Opens the client of `user` living in directory `home` (created if missing): its
/// key (`identity.key`, 0600, created on first use), pinned server keys
/// (`known_servers`) and read cursors. Does not connect.
///
/// Ownership: strings are borrowed. On `SMC_OK`, `*out_client` receives a new handle
/// owned by the caller, released with `smc_client_free`.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_INVALID_ARGUMENT` (bad user
/// name), `SMC_IO_ERROR`.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `out_client` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_open(
    home: *const c_char,
    user: *const c_char,
    out_client: *mut *mut SmcClient,
) -> SmcStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let home = unsafe { str_arg(home, "home") }?;
        // SAFETY: per this function's contract.
        let user = unsafe { str_arg(user, "user") }?;
        let out = out_arg(out_client, "out_client")?;
        let client = Background::start(Client::open(home, user)?)?;
        write_out(out, into_handle(SmcClient(client)));
        Ok(())
    })
}

/// Connects to the server at `address` ("host:port"): handshake (the server's key is
/// pinned on first use; `SMC_SERVER_KEY_CHANGED` if it differs later), then
/// identification (`SMC_NAME_TAKEN` if the name belongs to another key). From then on
/// the client keeps itself connected: a lost connection is reconnected by its thread,
/// with backoff (`SMC_EVENT_DISCONNECTED`, then `SMC_EVENT_CONNECTED`), and calls made
/// meanwhile wait for it; `smc_client_set_reconnect` turns that off.
///
/// Ownership: both borrowed.
///
/// # Safety
/// `client` is NULL or live and not used by another thread meanwhile; `address` is
/// NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn smc_client_connect(
    client: *mut SmcClient,
    address: *const c_char,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        // SAFETY: per this function's contract.
        let address = unsafe { str_arg(address, "address") }?;
        client.connect(&[address], None).map(drop)
    })
}

/// Whether a lost connection is reconnected by the client itself (`on` non-zero, the
/// default) or left to the program (`on` zero: the loss is still said with
/// `SMC_EVENT_DISCONNECTED`, and the program calls `smc_client_connect` again).
///
/// Ownership: `client` borrowed.
///
/// Errors: `SMC_NULL_POINTER`.
///
/// # Safety
/// `client` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_client_set_reconnect(client: *mut SmcClient, on: i32) -> SmcStatus {
    guard(|| {
        handle_mut(client, "client")?.0.set_reconnect(on != 0);
        Ok(())
    })
}

/// The fingerprint of the user's key.
///
/// Ownership: `client` is borrowed. On `SMC_OK`, `*out_fingerprint` receives a string
/// owned by the caller (free with `smc_string_free`).
///
/// # Safety
/// `client` is NULL or live; `out_fingerprint` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_fingerprint(
    client: *const SmcClient,
    out_fingerprint: *mut *mut c_char,
) -> SmcStatus {
    guard(|| {
        let client = handle(client, "client")?;
        let out = out_arg(out_fingerprint, "out_fingerprint")?;
        let fingerprint = client.run(|c| Ok(c.fingerprint()))?;
        write_out(out, into_c_string(fingerprint)?);
        Ok(())
    })
}

/// Runs `body` as an entry point on a client and one string argument (a room or a
/// user name, called `what` in the error messages).
pub(crate) fn with_name(
    client: *mut SmcClient,
    name: *const c_char,
    what: &str,
    body: impl FnOnce(&mut Client, &str) -> Result<(), Failure>,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        // SAFETY: the callers' contracts make `name` NULL or NUL-terminated.
        let name = unsafe { str_arg(name, what) }?;
        client.run(|c| body(c, name))
    })
}

/// Creates room `room` with this user as its only member (`SMC_ROOM_EXISTS` if taken).
///
/// Ownership: both borrowed.
///
/// # Safety
/// `client` is NULL or live; `room` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn smc_client_create_room(
    client: *mut SmcClient,
    room: *const c_char,
) -> SmcStatus {
    with_name(client, room, "room", |c, room| Ok(c.create_room(room)?))
}

/// Adds `user` to `room` (`SMC_NOT_A_MEMBER`, `SMC_UNKNOWN_USER`, `SMC_UNKNOWN_ROOM`).
///
/// Ownership: all borrowed.
///
/// # Safety
/// `client` is NULL or live; strings are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn smc_client_invite(
    client: *mut SmcClient,
    room: *const c_char,
    user: *const c_char,
) -> SmcStatus {
    with_name(client, room, "room", |c, room| {
        // SAFETY: per this function's contract.
        let user = unsafe { str_arg(user, "user") }?;
        Ok(c.invite(room, user)?)
    })
}

/// Leaves `room`.
///
/// Ownership: both borrowed.
///
/// # Safety
/// `client` is NULL or live; `room` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn smc_client_leave(
    client: *mut SmcClient,
    room: *const c_char,
) -> SmcStatus {
    with_name(client, room, "room", |c, room| Ok(c.leave(room)?))
}

/// This user's rooms, one name per line ("" if none).
///
/// Ownership: `client` is borrowed. On `SMC_OK`, `*out_names` receives a string owned
/// by the caller (free with `smc_string_free`).
///
/// # Safety
/// `client` is NULL or live; `out_names` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_rooms(
    client: *mut SmcClient,
    out_names: *mut *mut c_char,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        let out = out_arg(out_names, "out_names")?;
        let names = client.run(|c| Ok(c.rooms()?))?;
        write_out(out, into_c_string(names.join("\n"))?);
        Ok(())
    })
}

/// Members of `room` who joined, one name per line (see `smc_client_invitees_list`
/// for those only invited).
///
/// Ownership: `client` and `room` are borrowed. On `SMC_OK`, `*out_names` receives a
/// string owned by the caller (free with `smc_string_free`).
///
/// # Safety
/// `client` is NULL or live; `room` is NULL or NUL-terminated; `out_names` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_members(
    client: *mut SmcClient,
    room: *const c_char,
    out_names: *mut *mut c_char,
) -> SmcStatus {
    with_name(client, room, "room", |c, room| {
        let out = out_arg(out_names, "out_names")?;
        let names = c.members(room)?;
        write_out(out, into_c_string(names.join("\n"))?);
        Ok(())
    })
}

/// Encrypts `text` for `room`'s group and sends it; returns once the server has stored
/// it durably. `SMC_KEY_CHANGED` while a member's changed key is not acknowledged.
///
/// Ownership: all borrowed. On `SMC_OK`, the message's id is written to `*out_id`
/// unless `out_id` is NULL.
///
/// Errors: `SMC_NOT_A_MEMBER`, `SMC_UNKNOWN_ROOM`, `SMC_MESSAGE_TOO_LONG` (over 1 MiB - 8 KiB),
/// `SMC_CONNECTION_CLOSED`, `SMC_TIMEOUT`...
///
/// # Safety
/// `client` is NULL or live; strings are NULL or NUL-terminated; `out_id` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_send(
    client: *mut SmcClient,
    room: *const c_char,
    text: *const c_char,
    out_id: *mut u64,
) -> SmcStatus {
    with_name(client, room, "room", |c, room| {
        // SAFETY: per this function's contract.
        let text = unsafe { str_arg(text, "text") }?;
        let sent = c.send(room, text)?;
        if !out_id.is_null() {
            write_out(out_id, sent.id);
        }
        Ok(())
    })
}

/// Waits up to `timeout_ms` milliseconds (forever if negative) for the next message
/// from someone else, live or missed while away, decrypted and authenticated. Each
/// message is returned once, across restarts.
///
/// Ownership: `client` is borrowed. On `SMC_OK`, `*out_message` receives a new message
/// owned by the caller (free with `smc_message_free`), or NULL if the time ran out.
///
/// Errors: `SMC_CONNECTION_CLOSED`; `SMC_UNDECRYPTABLE` for a message that cannot be
/// read (replayed, forged, not from a member...: room, sender and reason in
/// `smc_last_error_message`); it is skipped, and the next call goes on.
///
/// # Safety
/// `client` is NULL or live; `out_message` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_recv(
    client: *mut SmcClient,
    timeout_ms: i64,
    out_message: *mut *mut SmcMessage,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        let out = out_arg(out_message, "out_message")?;
        let timeout = u64::try_from(timeout_ms)
            .ok()
            .map(std::time::Duration::from_millis);
        let message = client.0.recv(timeout)?;
        let ptr = message.map_or(std::ptr::null_mut(), |m| into_handle(SmcMessage::from(m)));
        write_out(out, ptr);
        Ok(())
    })
}

/// Like `smc_client_recv`, for a batch: waits up to `timeout_ms` milliseconds (forever
/// if negative) for the next message, then takes it with the messages waiting behind
/// it, up to `max` (at most 1024), in order, at once (cheaper than one call each when
/// many wait, as after a time away). Each message is returned once, across restarts.
/// A batch stops before a message that cannot be read: the next call reports it.
///
/// Ownership: `client` is borrowed. On `SMC_OK`, `*out_list` receives a list owned by
/// the caller (free with `smc_message_list_free`), empty if the time ran out.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_ARGUMENT` (`max` is 0),
/// `SMC_CONNECTION_CLOSED`, `SMC_UNDECRYPTABLE` (as `smc_client_recv`).
///
/// # Safety
/// `client` is NULL or live; `out_list` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_recv_many(
    client: *mut SmcClient,
    max: usize,
    timeout_ms: i64,
    out_list: *mut *mut SmcMessageList,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        let out = out_arg(out_list, "out_list")?;
        if max == 0 {
            return Err(Failure::new(
                SmcStatus::SMC_INVALID_ARGUMENT,
                "max must be at least 1",
            ));
        }
        let timeout = u64::try_from(timeout_ms)
            .ok()
            .map(std::time::Duration::from_millis);
        let messages = client.0.recv_many(max, timeout)?;
        let list = SmcMessageList(messages.into_iter().map(SmcMessage::from).collect());
        write_out(out, into_handle(list));
        Ok(())
    })
}

/// The last `limit` messages of `room`, oldest first.
///
/// Ownership: `client` and `room` are borrowed. On `SMC_OK`, `*out_list` receives a
/// list owned by the caller (free with `smc_message_list_free`).
///
/// # Safety
/// `client` is NULL or live; `room` is NULL or NUL-terminated; `out_list` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_history(
    client: *mut SmcClient,
    room: *const c_char,
    limit: u32,
    out_list: *mut *mut SmcMessageList,
) -> SmcStatus {
    with_name(client, room, "room", |c, room| {
        let out = out_arg(out_list, "out_list")?;
        let messages = c.history(room, limit)?;
        let list = SmcMessageList(messages.into_iter().map(SmcMessage::from).collect());
        write_out(out, into_handle(list));
        Ok(())
    })
}

/// Closes the client's connection (it can connect again).
///
/// # Safety
/// `client` is NULL (no-op) or live.
#[no_mangle]
pub unsafe extern "C" fn smc_client_close(client: *mut SmcClient) {
    guard(|| {
        if let Ok(client) = handle_mut(client, "client") {
            let _ = client.run(|c| {
                c.close();
                Ok(())
            });
        }
        Ok(())
    });
}

/// Closes the connection and frees the client.
///
/// Ownership: takes back `client`; it must not be used afterwards. NULL is a no-op.
/// Never fails; `smc_last_error_message` is left as it is.
///
/// # Safety
/// `client` is NULL or a live handle from `smc_client_open`, freed once.
#[no_mangle]
pub unsafe extern "C" fn smc_client_free(client: *mut SmcClient) {
    // SAFETY: NULL or a handle from into_handle, freed once per the contract.
    unsafe { free_handle(client) }
}
