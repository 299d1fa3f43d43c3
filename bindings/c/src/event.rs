//! C entry points of events and of waiting for them in a program's own event loop:
//! `smc_client_fd` (a descriptor for poll/epoll/select/libuv), `smc_client_recv_event`
//! and the opaque handle `smc_event` (messages are events too).

use std::ffi::c_char;
use std::os::raw::c_int;

use super::boundary::{free_handle, guard, handle, handle_mut, into_handle, out_arg, write_out};
use super::client::SmcClient;
use super::message::{nul_terminated, SmcMessage};
use super::status::SmcStatus;
use smc::client::ChatEvent;

/// What an `smc_event` is.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum SmcEventKind {
    /// A message from someone else: `smc_event_message`.
    SMC_EVENT_MESSAGE = 0,
    /// `user` invites this user to `room` (accept with `smc_client_accept`).
    SMC_EVENT_INVITED = 1,
    /// This user joined `room` (added by `user`).
    SMC_EVENT_JOINED = 2,
    /// Members of `room` changed: `smc_event_added_*` were added (invited: they join
    /// when they accept, `SMC_EVENT_MEMBER_JOINED`), `smc_event_removed_*` left.
    SMC_EVENT_MEMBERS_CHANGED = 3,
    /// This user is no longer in `room`.
    SMC_EVENT_REMOVED = 4,
    /// `user`'s key changed: sending to rooms with them is refused until acknowledged.
    SMC_EVENT_KEY_CHANGED = 5,
    /// `count` messages of `user` in `room` never arrived.
    SMC_EVENT_MISSING = 6,
    /// Message `seq` of `room` (from `user`) cannot be read: `reason`.
    SMC_EVENT_UNDECRYPTABLE = 7,
    /// The connection was lost: `reason`. With `smc_event_retrying` non-zero the
    /// client reconnects by itself (calls wait for it); zero: it stopped (reconnection
    /// off, or trying again cannot help: a changed server key, a refused name).
    SMC_EVENT_DISCONNECTED = 8,
    /// Connected again, to `smc_event_address`: the outbox was sent, and what was
    /// missed meanwhile follows, in order, once.
    SMC_EVENT_CONNECTED = 9,
    /// `user`, invited to `room`, accepted: they joined (their own word, authenticated
    /// by their key).
    SMC_EVENT_MEMBER_JOINED = 10,
    /// A new device of this user was linked with the code this client showed
    /// (`smc_event_device`, `smc_event_device_name`).
    SMC_EVENT_DEVICE_LINKED = 11,
    /// This device was revoked by its user: the server refuses it from then on, and
    /// the client stopped reconnecting (an `SMC_EVENT_DISCONNECTED` follows).
    SMC_EVENT_DEVICE_REVOKED = 12,
}

/// An event (opaque). Created by `smc_client_recv_event`, released by `smc_event_free`.
/// Its strings stay valid while it lives.
pub struct SmcEvent {
    kind: SmcEventKind,
    room: Vec<u8>,
    user: Vec<u8>,
    reason: Vec<u8>,
    address: Vec<u8>,
    device: Vec<u8>,
    device_name: Vec<u8>,
    retrying: bool,
    seq: u64,
    count: u64,
    added: Vec<Vec<u8>>,
    removed: Vec<Vec<u8>>,
    message: Option<SmcMessage>,
}

impl From<ChatEvent> for SmcEvent {
    fn from(event: ChatEvent) -> Self {
        let mut out = SmcEvent {
            kind: SmcEventKind::SMC_EVENT_MESSAGE,
            room: nul_terminated(""),
            user: nul_terminated(""),
            reason: nul_terminated(""),
            address: nul_terminated(""),
            device: nul_terminated(""),
            device_name: nul_terminated(""),
            retrying: false,
            seq: 0,
            count: 0,
            added: Vec::new(),
            removed: Vec::new(),
            message: None,
        };
        let names = |v: Vec<String>| v.iter().map(|n| nul_terminated(n)).collect();
        match event {
            ChatEvent::Message(m) => {
                out.room = nul_terminated(&m.room);
                out.user = nul_terminated(&m.sender);
                out.seq = m.seq;
                out.message = Some(SmcMessage::from(m));
            }
            ChatEvent::Invited { room, by } => {
                out.kind = SmcEventKind::SMC_EVENT_INVITED;
                (out.room, out.user) = (nul_terminated(&room), nul_terminated(&by));
            }
            ChatEvent::Joined { room, by } => {
                out.kind = SmcEventKind::SMC_EVENT_JOINED;
                (out.room, out.user) = (nul_terminated(&room), nul_terminated(&by));
            }
            ChatEvent::MembersChanged {
                room,
                added,
                removed,
            } => {
                out.kind = SmcEventKind::SMC_EVENT_MEMBERS_CHANGED;
                out.room = nul_terminated(&room);
                (out.added, out.removed) = (names(added), names(removed));
            }
            ChatEvent::Removed { room } => {
                out.kind = SmcEventKind::SMC_EVENT_REMOVED;
                out.room = nul_terminated(&room);
            }
            ChatEvent::KeyChanged { user } => {
                out.kind = SmcEventKind::SMC_EVENT_KEY_CHANGED;
                out.user = nul_terminated(&user);
            }
            ChatEvent::Missing {
                room,
                sender,
                count,
            } => {
                out.kind = SmcEventKind::SMC_EVENT_MISSING;
                (out.room, out.user, out.count) =
                    (nul_terminated(&room), nul_terminated(&sender), count);
            }
            ChatEvent::Undecryptable {
                room,
                seq,
                sender,
                reason,
            } => {
                out.kind = SmcEventKind::SMC_EVENT_UNDECRYPTABLE;
                out.room = nul_terminated(&room);
                out.user = nul_terminated(&sender);
                out.reason = nul_terminated(&reason);
                out.seq = seq;
            }
            ChatEvent::Disconnected { reason, retrying } => {
                out.kind = SmcEventKind::SMC_EVENT_DISCONNECTED;
                (out.reason, out.retrying) = (nul_terminated(&reason), retrying);
            }
            ChatEvent::Connected { address } => {
                out.kind = SmcEventKind::SMC_EVENT_CONNECTED;
                out.address = nul_terminated(&address);
            }
            ChatEvent::MemberJoined { room, user } => {
                out.kind = SmcEventKind::SMC_EVENT_MEMBER_JOINED;
                (out.room, out.user) = (nul_terminated(&room), nul_terminated(&user));
            }
            ChatEvent::DeviceRevoked => out.kind = SmcEventKind::SMC_EVENT_DEVICE_REVOKED,
            ChatEvent::DeviceLinked { device, name } => {
                out.kind = SmcEventKind::SMC_EVENT_DEVICE_LINKED;
                (out.device, out.device_name) = (nul_terminated(&device), nul_terminated(&name));
            }
        }
        out
    }
}

fn borrow<'a>(event: *const SmcEvent) -> Option<&'a SmcEvent> {
    // SAFETY: NULL or a live event, per the accessors' contracts.
    unsafe { event.as_ref() }
}

/// Writes to `*out_fd` a descriptor that is readable exactly while an event waits for
/// `smc_client_recv_event` (level-triggered: an eventfd on Linux). Wait on it with
/// poll/epoll/select or an event library, then call `smc_client_recv_event` with a
/// timeout of 0 until it gives no event.
///
/// Ownership: the descriptor belongs to the client: valid until `smc_client_free`;
/// never read, write or close it.
///
/// Errors: `SMC_NULL_POINTER`.
///
/// # Safety
/// `client` is NULL or live; `out_fd` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_fd(client: *const SmcClient, out_fd: *mut c_int) -> SmcStatus {
    guard(|| {
        let client = handle(client, "client")?;
        let out = out_arg(out_fd, "out_fd")?;
        write_out(out, client.0.readiness());
        Ok(())
    })
}

/// Waits up to `timeout_ms` milliseconds (0: do not wait; negative: forever) for the
/// next event: a message from someone else, an invitation, a join, members joining or
/// leaving, a key change, messages missing, a message that cannot be read. Each event
/// is returned once, across restarts. What arrives is processed by the client's own
/// thread as it arrives; this only hands it out.
///
/// Ownership: `client` is borrowed. On `SMC_OK`, `*out_event` receives a new event
/// owned by the caller (free with `smc_event_free`), or NULL if the time ran out.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_CONNECTION_CLOSED` (nothing waits and there is no
/// connection).
///
/// # Safety
/// `client` is NULL or live; `out_event` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_recv_event(
    client: *mut SmcClient,
    timeout_ms: i64,
    out_event: *mut *mut SmcEvent,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        let out = out_arg(out_event, "out_event")?;
        let timeout = u64::try_from(timeout_ms)
            .ok()
            .map(std::time::Duration::from_millis);
        let event = client.0.recv_event(timeout)?;
        let ptr = event.map_or(std::ptr::null_mut(), |e| into_handle(SmcEvent::from(e)));
        write_out(out, ptr);
        Ok(())
    })
}

/// The event's kind (`SMC_EVENT_MESSAGE` if `event` is NULL).
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_kind(event: *const SmcEvent) -> SmcEventKind {
    borrow(event).map_or(SmcEventKind::SMC_EVENT_MESSAGE, |e| e.kind)
}

/// The room it is about ("" for a key change). Borrowed from the event: valid until
/// `smc_event_free`; NULL if `event` is NULL.
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_room(event: *const SmcEvent) -> *const c_char {
    borrow(event).map_or(std::ptr::null(), |e| e.room.as_ptr().cast())
}

/// The user it is about: the sender (message, missing, undecryptable), who invited or
/// added (invited, joined), who joined (member joined), whose key changed; ""
/// otherwise. Borrowed from the event: valid until `smc_event_free`; NULL if `event`
/// is NULL.
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_user(event: *const SmcEvent) -> *const c_char {
    borrow(event).map_or(std::ptr::null(), |e| e.user.as_ptr().cast())
}

/// Why a message cannot be read (undecryptable), why the connection was lost
/// (disconnected); "" otherwise. Borrowed from the event: valid until
/// `smc_event_free`; NULL if `event` is NULL.
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_reason(event: *const SmcEvent) -> *const c_char {
    borrow(event).map_or(std::ptr::null(), |e| e.reason.as_ptr().cast())
}

/// The address connected to (connected; "" otherwise). Borrowed from the event: valid
/// until `smc_event_free`; NULL if `event` is NULL.
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_address(event: *const SmcEvent) -> *const c_char {
    borrow(event).map_or(std::ptr::null(), |e| e.address.as_ptr().cast())
}

/// The device's id (device_linked; "" otherwise). Borrowed from the event: valid until
/// `smc_event_free`; NULL if `event` is NULL.
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_device(event: *const SmcEvent) -> *const c_char {
    borrow(event).map_or(std::ptr::null(), |e| e.device.as_ptr().cast())
}

/// The device's name (device_linked; "" otherwise). Borrowed from the event: valid
/// until `smc_event_free`; NULL if `event` is NULL.
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_device_name(event: *const SmcEvent) -> *const c_char {
    borrow(event).map_or(std::ptr::null(), |e| e.device_name.as_ptr().cast())
}

/// Whether the client reconnects by itself (disconnected: 1 or 0; 0 otherwise or if
/// NULL).
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_retrying(event: *const SmcEvent) -> c_int {
    borrow(event).map_or(0, |e| c_int::from(e.retrying))
}

/// The message's place in its room (message, undecryptable; 0 otherwise or if NULL).
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_seq(event: *const SmcEvent) -> u64 {
    borrow(event).map_or(0, |e| e.seq)
}

/// How many messages never arrived (missing; 0 otherwise or if NULL).
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_count(event: *const SmcEvent) -> u64 {
    borrow(event).map_or(0, |e| e.count)
}

/// The message of a `SMC_EVENT_MESSAGE` event (read it with the `smc_message_*`
/// accessors); NULL for other kinds or if `event` is NULL. Borrowed from the event:
/// valid until `smc_event_free`, never freed with `smc_message_free`.
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_message(event: *const SmcEvent) -> *const SmcMessage {
    borrow(event)
        .and_then(|e| e.message.as_ref())
        .map_or(std::ptr::null(), |m| m as *const SmcMessage)
}

/// How many members joined (members changed; 0 otherwise or if NULL).
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_added_count(event: *const SmcEvent) -> usize {
    borrow(event).map_or(0, |e| e.added.len())
}

/// The name of the `index`-th member who joined; NULL if out of range or `event` is
/// NULL. Borrowed from the event: valid until `smc_event_free`.
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_added(event: *const SmcEvent, index: usize) -> *const c_char {
    borrow(event)
        .and_then(|e| e.added.get(index))
        .map_or(std::ptr::null(), |n| n.as_ptr().cast())
}

/// How many members left (members changed; 0 otherwise or if NULL).
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_removed_count(event: *const SmcEvent) -> usize {
    borrow(event).map_or(0, |e| e.removed.len())
}

/// The name of the `index`-th member who left; NULL if out of range or `event` is
/// NULL. Borrowed from the event: valid until `smc_event_free`.
///
/// # Safety
/// `event` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_event_removed(event: *const SmcEvent, index: usize) -> *const c_char {
    borrow(event)
        .and_then(|e| e.removed.get(index))
        .map_or(std::ptr::null(), |n| n.as_ptr().cast())
}

/// Frees an event (and the message inside a `SMC_EVENT_MESSAGE` event).
///
/// Ownership: takes back `event`, which must come from `smc_client_recv_event`. NULL is
/// a no-op. Never fails; `smc_last_error_message` is left as it is.
///
/// # Safety
/// `event` is NULL or a live event from `smc_client_recv_event`, freed once.
#[no_mangle]
pub unsafe extern "C" fn smc_event_free(event: *mut SmcEvent) {
    // SAFETY: NULL or a handle from into_handle, freed once per the contract.
    unsafe { free_handle(event) }
}
