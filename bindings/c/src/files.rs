//! C entry points of files: `smc_client_send_file`, `smc_client_download`, and the
//! attachment a received message carries (`smc_message_attachment`, the opaque
//! `smc_attachment` and its accessors).

use std::ffi::{c_char, c_int, c_void, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::boundary::{guard, handle, handle_mut, str_arg, write_out, Failure};
use super::client::SmcClient;
use super::message::nul_terminated;
use super::status::SmcStatus;
use smc::client::Attachment;

/// A transfer's progress callback: `done` bytes of `total` so far, and the
/// `user_data` given with it. Called on the thread that called the transfer, between
/// steps of a few chunks. Return 0 to go on, anything else to stop the transfer (it
/// then fails with `SMC_CANCELLED`).
pub type SmcProgressFn =
    Option<unsafe extern "C" fn(done: u64, total: u64, user_data: *mut c_void) -> c_int>;

/// A file a received message carries (opaque), borrowed from its message
/// (`smc_message_attachment`): valid while the message lives. Its strings too.
pub struct SmcAttachment {
    pub(crate) attachment: Attachment,
    name: Vec<u8>,
    safe_name: Vec<u8>,
    mime: Vec<u8>,
    sha256: Vec<u8>,
}

impl From<Attachment> for SmcAttachment {
    fn from(attachment: Attachment) -> Self {
        SmcAttachment {
            name: nul_terminated(attachment.name()),
            safe_name: nul_terminated(&attachment.safe_name()),
            mime: nul_terminated(attachment.mime()),
            sha256: nul_terminated(&attachment.sha256_hex()),
            attachment,
        }
    }
}

/// A file path argument named `name`: any bytes but NUL (a path need not be UTF-8).
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string valid for the call.
unsafe fn path_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a Path, Failure> {
    if ptr.is_null() {
        return Err(Failure::new(
            SmcStatus::SMC_NULL_POINTER,
            format!("{name} is NULL"),
        ));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    if bytes.is_empty() {
        return Err(Failure::new(
            SmcStatus::SMC_INVALID_ARGUMENT,
            format!("{name} is empty"),
        ));
    }
    Ok(Path::new(OsStr::from_bytes(bytes)))
}

/// An optional string argument: NULL is `None`.
///
/// # Safety
/// As [`str_arg`].
unsafe fn optional_str<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>, Failure> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: per this function's contract.
        unsafe { str_arg(ptr, name) }.map(Some)
    }
}

/// The Rust progress closure of a C callback: whether to go on.
fn on_progress(callback: SmcProgressFn, user_data: *mut c_void) -> impl FnMut(u64, u64) -> bool {
    move |done, total| match callback {
        // SAFETY: the caller gave a function of this signature, and `user_data` is
        // what it expects (the C caller's contract).
        Some(f) => (unsafe { f(done, total, user_data) }) == 0,
        None => true,
    }
}

/// Sends the file at `path` to `room`, end-to-end encrypted: its chunks are sealed
/// under a fresh key and uploaded (the server sees only sealed chunks and the size),
/// then a message announces it to the members with its key, size, SHA-256, `name`
/// (NULL: the file's own name) and `mime` (NULL: `application/octet-stream`). A
/// connection lost meanwhile is restored and the upload goes on where the server
/// stopped. `progress` (may be NULL) is called with `user_data` as it proceeds.
///
/// Ownership: all borrowed. On `SMC_OK`, the message's id is written to `*out_id`
/// unless `out_id` is NULL.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_IO_ERROR` (the file cannot be
/// read), `SMC_UNKNOWN_ROOM`, `SMC_NOT_A_MEMBER`, `SMC_REFUSED` (past the server's
/// file size limit or your file quota: `QuotaExceeded` in `smc_last_error_message`),
/// `SMC_CANCELLED` (the callback stopped it), `SMC_CONNECTION_CLOSED`, `SMC_TIMEOUT`.
///
/// # Safety
/// `client` is NULL or live; strings are NULL or NUL-terminated; `progress` is NULL
/// or a function of that signature, which may be called with `user_data`; `out_id`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_client_send_file(
    client: *mut SmcClient,
    room: *const c_char,
    path: *const c_char,
    name: *const c_char,
    mime: *const c_char,
    progress: SmcProgressFn,
    user_data: *mut c_void,
    out_id: *mut u64,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        // SAFETY: per this function's contract.
        let (room, path, name, mime) = unsafe {
            (
                str_arg(room, "room")?,
                path_arg(path, "path")?,
                optional_str(name, "name")?,
                optional_str(mime, "mime")?,
            )
        };
        let sent = client
            .0
            .send_file(room, path, name, mime, on_progress(progress, user_data))?;
        if !out_id.is_null() {
            write_out(out_id, sent.id);
        }
        Ok(())
    })
}

/// Downloads the file of `attachment` into `path`: every chunk fetched, opened and
/// checked, then the SHA-256 of the whole; only then is `path` created (or replaced).
/// `progress` (may be NULL) as for `smc_client_send_file`.
///
/// Ownership: all borrowed.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_UNDECRYPTABLE` (tampered with, truncated or
/// reordered: nothing is left at `path`), `SMC_FILE_UNAVAILABLE` (not on the server,
/// or not yours to read), `SMC_IO_ERROR` (`path` cannot be written), `SMC_CANCELLED`,
/// `SMC_CONNECTION_CLOSED`, `SMC_TIMEOUT`.
///
/// # Safety
/// `client` is NULL or live; `attachment` is NULL or borrowed from a live message;
/// `path` is NULL or NUL-terminated; `progress` as for `smc_client_send_file`.
#[no_mangle]
pub unsafe extern "C" fn smc_client_download(
    client: *mut SmcClient,
    attachment: *const SmcAttachment,
    path: *const c_char,
    progress: SmcProgressFn,
    user_data: *mut c_void,
) -> SmcStatus {
    guard(|| {
        let client = handle_mut(client, "client")?;
        let attachment = handle(attachment, "attachment")?;
        // SAFETY: per this function's contract.
        let path = unsafe { path_arg(path, "path") }?;
        client.0.download(
            &attachment.attachment,
            path,
            on_progress(progress, user_data),
        )?;
        Ok(())
    })
}

fn borrow<'a>(a: *const SmcAttachment) -> Option<&'a SmcAttachment> {
    // SAFETY: NULL or borrowed from a live message, per the accessors' contracts.
    unsafe { a.as_ref() }
}

/// The name its sender gave the file (UTF-8; anything: save under
/// `smc_attachment_safe_name`). Borrowed; NULL if `attachment` is NULL.
///
/// # Safety
/// `attachment` is NULL or borrowed from a live message.
#[no_mangle]
pub unsafe extern "C" fn smc_attachment_name(attachment: *const SmcAttachment) -> *const c_char {
    borrow(attachment).map_or(std::ptr::null(), |a| a.name.as_ptr().cast())
}

/// The name made safe to save under in a directory: no separators, no "..", no
/// control or invisible characters, not hidden. Borrowed; NULL if `attachment` is NULL.
///
/// # Safety
/// `attachment` is NULL or borrowed from a live message.
#[no_mangle]
pub unsafe extern "C" fn smc_attachment_safe_name(
    attachment: *const SmcAttachment,
) -> *const c_char {
    borrow(attachment).map_or(std::ptr::null(), |a| a.safe_name.as_ptr().cast())
}

/// The file's media type. Borrowed; NULL if `attachment` is NULL.
///
/// # Safety
/// `attachment` is NULL or borrowed from a live message.
#[no_mangle]
pub unsafe extern "C" fn smc_attachment_mime(attachment: *const SmcAttachment) -> *const c_char {
    borrow(attachment).map_or(std::ptr::null(), |a| a.mime.as_ptr().cast())
}

/// The SHA-256 of the file's content, 64 lower-case hex digits. Borrowed; NULL if
/// `attachment` is NULL.
///
/// # Safety
/// `attachment` is NULL or borrowed from a live message.
#[no_mangle]
pub unsafe extern "C" fn smc_attachment_sha256(attachment: *const SmcAttachment) -> *const c_char {
    borrow(attachment).map_or(std::ptr::null(), |a| a.sha256.as_ptr().cast())
}

/// The file's size in bytes (0 if `attachment` is NULL).
///
/// # Safety
/// `attachment` is NULL or borrowed from a live message.
#[no_mangle]
pub unsafe extern "C" fn smc_attachment_size(attachment: *const SmcAttachment) -> u64 {
    borrow(attachment).map_or(0, |a| a.attachment.size())
}
