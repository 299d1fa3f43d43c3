//! C entry points of received messages: the opaque handles `smc_message` and
//! `smc_message_list`.

use std::ffi::c_char;

use super::boundary::free_handle;
use super::files::SmcAttachment;
use smc::client::Message;

/// A message (opaque). Created by `smc_client_recv` or taken from a list, released by
/// `smc_message_free`. Its strings stay valid while it lives.
pub struct SmcMessage {
    message: Message,
    room: Vec<u8>,
    sender: Vec<u8>,
    text: Vec<u8>,
    attachment: Option<SmcAttachment>,
}

/// Messages (opaque), from `smc_client_history` and `smc_client_recv_many`, released by
/// `smc_message_list_free`.
pub struct SmcMessageList(pub(crate) Vec<SmcMessage>);

pub(crate) fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    v
}

impl From<Message> for SmcMessage {
    fn from(message: Message) -> Self {
        SmcMessage {
            room: nul_terminated(&message.room),
            sender: nul_terminated(&message.sender),
            text: nul_terminated(&message.text),
            attachment: message.attachment.clone().map(SmcAttachment::from),
            message,
        }
    }
}

fn borrow_message<'a>(m: *const SmcMessage) -> Option<&'a SmcMessage> {
    // SAFETY: NULL or a live message, per the accessors' contracts.
    unsafe { m.as_ref() }
}

/// The message's server-wide id (0 if `message` is NULL).
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_message_id(message: *const SmcMessage) -> u64 {
    borrow_message(message).map_or(0, |m| m.message.id)
}

/// The message's place in its room: 1, 2, 3... (0 if `message` is NULL).
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_message_seq(message: *const SmcMessage) -> u64 {
    borrow_message(message).map_or(0, |m| m.message.seq)
}

/// When the server stored it, in milliseconds since the Unix epoch, UTC (0 if NULL).
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_message_timestamp_ms(message: *const SmcMessage) -> i64 {
    borrow_message(message).map_or(0, |m| m.message.timestamp.timestamp_millis())
}

/// The room's name. Borrowed from the message: valid until `smc_message_free`; NULL if
/// `message` is NULL.
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_message_room(message: *const SmcMessage) -> *const c_char {
    borrow_message(message).map_or(std::ptr::null(), |m| m.room.as_ptr().cast())
}

/// The sender's name. Borrowed from the message: valid until `smc_message_free`; NULL
/// if `message` is NULL.
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_message_sender(message: *const SmcMessage) -> *const c_char {
    borrow_message(message).map_or(std::ptr::null(), |m| m.sender.as_ptr().cast())
}

/// The text, UTF-8, NUL-terminated (it may hold NUL bytes itself: see
/// `smc_message_text_len`). Borrowed from the message: valid until `smc_message_free`;
/// NULL if `message` is NULL.
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_message_text(message: *const SmcMessage) -> *const c_char {
    borrow_message(message).map_or(std::ptr::null(), |m| m.text.as_ptr().cast())
}

/// The text's length in bytes, without the final NUL (0 if `message` is NULL).
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_message_text_len(message: *const SmcMessage) -> usize {
    borrow_message(message).map_or(0, |m| m.text.len() - 1)
}

/// The file the message carries, or NULL for a text (or if `message` is NULL).
/// Borrowed from the message: valid until `smc_message_free`.
///
/// # Safety
/// `message` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_message_attachment(
    message: *const SmcMessage,
) -> *const SmcAttachment {
    borrow_message(message)
        .and_then(|m| m.attachment.as_ref())
        .map_or(std::ptr::null(), |a| a as *const SmcAttachment)
}

/// Frees a message.
///
/// Ownership: takes back `message`, which must come from `smc_client_recv`. NULL is a
/// no-op. Messages inside a list are freed with the list, not with this. Never fails;
/// `smc_last_error_message` is left as it is.
///
/// # Safety
/// `message` is NULL or a live message from `smc_client_recv`, freed once.
#[no_mangle]
pub unsafe extern "C" fn smc_message_free(message: *mut SmcMessage) {
    // SAFETY: NULL or a handle from into_handle, freed once per the contract.
    unsafe { free_handle(message) }
}

/// Number of messages in a list (0 if `list` is NULL).
///
/// # Safety
/// `list` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_message_list_len(list: *const SmcMessageList) -> usize {
    // SAFETY: NULL or live per the contract.
    unsafe { list.as_ref() }.map_or(0, |l| l.0.len())
}

/// Message `index` of a list, borrowed from the list (valid until
/// `smc_message_list_free`; do not free it); NULL if `list` is NULL or `index` is out
/// of range.
///
/// # Safety
/// `list` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn smc_message_list_get(
    list: *const SmcMessageList,
    index: usize,
) -> *const SmcMessage {
    // SAFETY: NULL or live per the contract.
    unsafe { list.as_ref() }
        .and_then(|l| l.0.get(index))
        .map_or(std::ptr::null(), |m| m as *const SmcMessage)
}

/// Frees a list and the messages in it.
///
/// Ownership: takes back `list`. NULL is a no-op.
/// Never fails; `smc_last_error_message` is left as it is.
///
/// # Safety
/// `list` is NULL or a live list from `smc_client_history`, freed once.
#[no_mangle]
pub unsafe extern "C" fn smc_message_list_free(list: *mut SmcMessageList) {
    // SAFETY: NULL or a handle from into_handle, freed once per the contract.
    unsafe { free_handle(list) }
}
