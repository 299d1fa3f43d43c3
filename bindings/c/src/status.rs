//! Status codes returned by every C entry point, and their static messages.

use std::ffi::c_char;

use smc::error::ErrorKind;

/// The result of every libsmc call. Numbers are stable: new codes are only appended.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum SmcStatus {
    /// Success.
    SMC_OK = 0,
    /// A required pointer argument was NULL.
    SMC_NULL_POINTER = 1,
    /// A string argument was not valid UTF-8.
    SMC_INVALID_UTF8 = 2,
    /// The text holds a character the legacy cipher table does not have.
    SMC_UNSUPPORTED_CHARACTER = 3,
    /// The legacy cipher's `a` is not coprime with 97 (`a % 97 == 0`).
    SMC_NOT_COPRIME = 4,
    /// An argument is outside its domain (for instance: not a table entry).
    SMC_INVALID_ARGUMENT = 5,
    /// A bug inside libsmc was caught at the boundary (a Rust panic). Please report it.
    SMC_INTERNAL_ERROR = 6,
    /// A file or network operation failed (details in `smc_last_error_message`).
    SMC_IO_ERROR = 7,
    /// The peer closed the connection.
    SMC_CONNECTION_CLOSED = 8,
    /// A message is larger than the protocol allows.
    SMC_MESSAGE_TOO_LONG = 9,
    /// The peer sent something that does not follow the protocol.
    SMC_PROTOCOL_ERROR = 10,
    /// The server presented a key other than the one pinned in `known_servers`, or
    /// than the fingerprint the caller expected (both fingerprints in
    /// `smc_last_error_message`).
    SMC_SERVER_KEY_CHANGED = 11,
    /// The user is not a member of the room.
    SMC_NOT_A_MEMBER = 12,
    /// No such user is registered.
    SMC_UNKNOWN_USER = 13,
    /// No such room.
    SMC_UNKNOWN_ROOM = 14,
    /// The user name is registered to another key.
    SMC_NAME_TAKEN = 15,
    /// A room of that name exists already.
    SMC_ROOM_EXISTS = 16,
    /// The server refused the request for another reason (rate limit, stale epoch,
    /// bad request...; details in `smc_last_error_message`).
    SMC_REFUSED = 17,
    /// The server did not answer in time.
    SMC_TIMEOUT = 18,
    /// A member's key changed: compare the new safety number, then verify or acknowledge
    /// it before sending to rooms they are in (the user in `smc_last_error_message`).
    SMC_KEY_CHANGED = 19,
    /// A message could not be decrypted or authenticated (replayed, forged, from a
    /// non-member...); it was skipped, the reason is in `smc_last_error_message`.
    SMC_UNDECRYPTABLE = 20,
    /// The passphrase does not open the client's state.
    SMC_WRONG_PASSPHRASE = 21,
    /// End-to-end encryption failed otherwise (details in `smc_last_error_message`).
    SMC_ENCRYPTION_ERROR = 22,
    /// The server's disk is full: nothing was stored (reads still work); retry later.
    SMC_STORAGE_FULL = 23,
    /// The file is not on the server: unknown, its upload not complete, not yours to
    /// read, or deleted after the server's retention.
    SMC_FILE_UNAVAILABLE = 24,
    /// The transfer was stopped by its progress callback.
    SMC_CANCELLED = 25,
    /// This device was revoked by its user: the server refuses it from then on.
    SMC_DEVICE_REVOKED = 26,
    /// Linking a device failed: no such code, expired, already used, or not matching.
    SMC_LINK_REFUSED = 27,
}

impl SmcStatus {
    /// Every status, in the order of their codes (`ALL[n]` has code `n`).
    pub const ALL: [SmcStatus; 28] = [
        SmcStatus::SMC_OK,
        SmcStatus::SMC_NULL_POINTER,
        SmcStatus::SMC_INVALID_UTF8,
        SmcStatus::SMC_UNSUPPORTED_CHARACTER,
        SmcStatus::SMC_NOT_COPRIME,
        SmcStatus::SMC_INVALID_ARGUMENT,
        SmcStatus::SMC_INTERNAL_ERROR,
        SmcStatus::SMC_IO_ERROR,
        SmcStatus::SMC_CONNECTION_CLOSED,
        SmcStatus::SMC_MESSAGE_TOO_LONG,
        SmcStatus::SMC_PROTOCOL_ERROR,
        SmcStatus::SMC_SERVER_KEY_CHANGED,
        SmcStatus::SMC_NOT_A_MEMBER,
        SmcStatus::SMC_UNKNOWN_USER,
        SmcStatus::SMC_UNKNOWN_ROOM,
        SmcStatus::SMC_NAME_TAKEN,
        SmcStatus::SMC_ROOM_EXISTS,
        SmcStatus::SMC_REFUSED,
        SmcStatus::SMC_TIMEOUT,
        SmcStatus::SMC_KEY_CHANGED,
        SmcStatus::SMC_UNDECRYPTABLE,
        SmcStatus::SMC_WRONG_PASSPHRASE,
        SmcStatus::SMC_ENCRYPTION_ERROR,
        SmcStatus::SMC_STORAGE_FULL,
        SmcStatus::SMC_FILE_UNAVAILABLE,
        SmcStatus::SMC_CANCELLED,
        SmcStatus::SMC_DEVICE_REVOKED,
        SmcStatus::SMC_LINK_REFUSED,
    ];

    /// The status whose code is `code`, if there is one.
    pub fn from_code(code: i32) -> Option<SmcStatus> {
        let status = *SmcStatus::ALL.get(usize::try_from(code).ok()?)?;
        debug_assert_eq!(status as i32, code);
        Some(status)
    }

    /// A static, NUL-terminated English description of the status.
    pub(crate) fn message(self) -> &'static [u8] {
        match self {
            SmcStatus::SMC_OK => b"success\0",
            SmcStatus::SMC_NULL_POINTER => b"a required pointer argument was NULL\0",
            SmcStatus::SMC_INVALID_UTF8 => b"a string argument is not valid UTF-8\0",
            SmcStatus::SMC_UNSUPPORTED_CHARACTER => {
                b"the text holds a character the legacy cipher table does not have\0"
            }
            SmcStatus::SMC_NOT_COPRIME => b"the legacy key's a is not coprime with 97\0",
            SmcStatus::SMC_INVALID_ARGUMENT => b"an argument is outside its domain\0",
            SmcStatus::SMC_INTERNAL_ERROR => {
                b"internal error in libsmc (a bug; please report it)\0"
            }
            SmcStatus::SMC_IO_ERROR => b"a file or network operation failed\0",
            SmcStatus::SMC_CONNECTION_CLOSED => b"the peer closed the connection\0",
            SmcStatus::SMC_MESSAGE_TOO_LONG => b"the message is larger than the protocol allows\0",
            SmcStatus::SMC_PROTOCOL_ERROR => b"the peer does not follow the protocol\0",
            SmcStatus::SMC_SERVER_KEY_CHANGED => {
                b"the server's key differs from the one pinned in known_servers\0"
            }
            SmcStatus::SMC_NOT_A_MEMBER => b"not a member of the room\0",
            SmcStatus::SMC_UNKNOWN_USER => b"unknown user\0",
            SmcStatus::SMC_UNKNOWN_ROOM => b"unknown room\0",
            SmcStatus::SMC_NAME_TAKEN => b"the name is registered to another key\0",
            SmcStatus::SMC_ROOM_EXISTS => b"the room exists already\0",
            SmcStatus::SMC_REFUSED => b"the server refused the request\0",
            SmcStatus::SMC_TIMEOUT => b"the server did not answer in time\0",
            SmcStatus::SMC_KEY_CHANGED => b"a member's key changed; verify or acknowledge it\0",
            SmcStatus::SMC_UNDECRYPTABLE => b"a message could not be decrypted or authenticated\0",
            SmcStatus::SMC_WRONG_PASSPHRASE => b"the passphrase does not open the client's state\0",
            SmcStatus::SMC_ENCRYPTION_ERROR => b"end-to-end encryption failed\0",
            SmcStatus::SMC_STORAGE_FULL => {
                b"the server's storage is full; nothing was stored (retry later)\0"
            }
            SmcStatus::SMC_FILE_UNAVAILABLE => {
                b"the file is not on the server (unknown, incomplete, not yours, or expired)\0"
            }
            SmcStatus::SMC_CANCELLED => b"the transfer was stopped by its progress callback\0",
            SmcStatus::SMC_DEVICE_REVOKED => b"this device was revoked by its user\0",
            SmcStatus::SMC_LINK_REFUSED => {
                b"linking refused (no such code, expired, used, or not matching)\0"
            }
        }
    }
}

impl From<ErrorKind> for SmcStatus {
    /// The status of each kind of error (the Python exceptions follow the same
    /// [`ErrorKind`]; tests/python/test_errors.py checks that both agree).
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::UnsupportedCharacter => SmcStatus::SMC_UNSUPPORTED_CHARACTER,
            ErrorKind::NotCoprime => SmcStatus::SMC_NOT_COPRIME,
            ErrorKind::NotATableEntry | ErrorKind::InvalidArgument => {
                SmcStatus::SMC_INVALID_ARGUMENT
            }
            ErrorKind::NotText => SmcStatus::SMC_INVALID_UTF8,
            ErrorKind::Io | ErrorKind::Unreachable | ErrorKind::HomeInUse => {
                SmcStatus::SMC_IO_ERROR
            }
            ErrorKind::ConnectionClosed => SmcStatus::SMC_CONNECTION_CLOSED,
            ErrorKind::Timeout => SmcStatus::SMC_TIMEOUT,
            ErrorKind::MessageTooLong => SmcStatus::SMC_MESSAGE_TOO_LONG,
            ErrorKind::Protocol => SmcStatus::SMC_PROTOCOL_ERROR,
            ErrorKind::ServerKeyChanged | ErrorKind::ServerNotTrusted => {
                SmcStatus::SMC_SERVER_KEY_CHANGED
            }
            ErrorKind::NotAMember => SmcStatus::SMC_NOT_A_MEMBER,
            ErrorKind::UnknownUser => SmcStatus::SMC_UNKNOWN_USER,
            ErrorKind::UnknownRoom => SmcStatus::SMC_UNKNOWN_ROOM,
            ErrorKind::RoomExists => SmcStatus::SMC_ROOM_EXISTS,
            ErrorKind::NameTaken => SmcStatus::SMC_NAME_TAKEN,
            ErrorKind::StorageFull => SmcStatus::SMC_STORAGE_FULL,
            ErrorKind::FileUnavailable => SmcStatus::SMC_FILE_UNAVAILABLE,
            ErrorKind::Cancelled => SmcStatus::SMC_CANCELLED,
            ErrorKind::DeviceRevoked => SmcStatus::SMC_DEVICE_REVOKED,
            ErrorKind::LinkRefused => SmcStatus::SMC_LINK_REFUSED,
            ErrorKind::NotInvited
            | ErrorKind::RegistrationRefused
            | ErrorKind::StaleEpoch
            | ErrorKind::NoKeyPackage
            | ErrorKind::RateLimited
            | ErrorKind::QuotaExceeded
            | ErrorKind::InvalidRequest
            | ErrorKind::VersionMismatch
            | ErrorKind::ServerFailure => SmcStatus::SMC_REFUSED,
            ErrorKind::KeyChanged => SmcStatus::SMC_KEY_CHANGED,
            ErrorKind::Undecryptable => SmcStatus::SMC_UNDECRYPTABLE,
            ErrorKind::WrongPassphrase => SmcStatus::SMC_WRONG_PASSPHRASE,
            ErrorKind::Encryption => SmcStatus::SMC_ENCRYPTION_ERROR,
        }
    }
}

/// A static description of `status` (an `smc_status` value; it is taken as an integer so
/// that any number, even one no `smc_status` has, is safe to pass: those read "unknown
/// status code").
///
/// Ownership: the returned string is static; never free it. Never NULL.
#[no_mangle]
pub extern "C" fn smc_status_message(status: i32) -> *const c_char {
    match SmcStatus::from_code(status) {
        Some(status) => status.message().as_ptr().cast(),
        None => c"unknown status code".as_ptr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_back_and_any_integer_is_described() {
        for (n, status) in SmcStatus::ALL.iter().enumerate() {
            assert_eq!(*status as usize, n);
            assert_eq!(SmcStatus::from_code(n as i32), Some(*status));
        }
        for code in [-1, SmcStatus::ALL.len() as i32, 1000, i32::MIN, i32::MAX] {
            assert_eq!(SmcStatus::from_code(code), None);
            let text = unsafe { std::ffi::CStr::from_ptr(smc_status_message(code)) };
            assert_eq!(text.to_str().unwrap(), "unknown status code");
        }
    }
}
