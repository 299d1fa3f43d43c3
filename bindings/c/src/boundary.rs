//! The panic boundary, argument checks and the thread-local last error shared by every
//! C entry point.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::status::SmcStatus;

/// A failure inside an entry point: a status plus a detail message for this thread.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: SmcStatus,
    pub(crate) detail: String,
}

impl Failure {
    pub(crate) fn new(status: SmcStatus, detail: impl Into<String>) -> Self {
        Failure {
            status,
            detail: detail.into(),
        }
    }
}

impl<E: smc::error::Classified> From<E> for Failure {
    /// Any error of the crate: the status of its kind, its message as the detail.
    fn from(e: E) -> Self {
        Failure::new(SmcStatus::from(e.kind()), e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(detail: &str) {
    // Interior NULs cannot be represented in a C string: cut there.
    let cut = detail.split('\0').next().unwrap_or_default();
    let c = CString::new(cut).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = c);
}

/// Runs `body` as a C entry point: catches panics, records the detail message of a
/// failure for [`smc_last_error_message`], and returns the status.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> SmcStatus {
    set_last_error("");
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => SmcStatus::SMC_OK,
        Ok(Err(failure)) => {
            set_last_error(&failure.detail);
            failure.status
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            set_last_error(&format!("internal error in libsmc: {what}"));
            SmcStatus::SMC_INTERNAL_ERROR
        }
    }
}

/// Reads a NUL-terminated UTF-8 string argument named `name`.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string valid for the call.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::new(
            SmcStatus::SMC_NULL_POINTER,
            format!("{name} is NULL"),
        ));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|e| {
        Failure::new(
            SmcStatus::SMC_INVALID_UTF8,
            format!("{name} is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// Borrows the object behind a handle argument named `name` (NULL is an error).
pub(crate) fn handle<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: NULL is rejected; otherwise the pointer came from the matching
    // constructor and is alive, per the caller's contract.
    unsafe { ptr.as_ref() }
        .ok_or_else(|| Failure::new(SmcStatus::SMC_NULL_POINTER, format!("{name} is NULL")))
}

/// Borrows mutably the object behind a handle argument named `name` (NULL is an error).
pub(crate) fn handle_mut<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: as `handle`, and the caller does not use the handle from two threads at once.
    unsafe { ptr.as_mut() }
        .ok_or_else(|| Failure::new(SmcStatus::SMC_NULL_POINTER, format!("{name} is NULL")))
}

/// Checks that an out-parameter named `name` is not NULL.
pub(crate) fn out_arg<T>(ptr: *mut T, name: &str) -> Result<*mut T, Failure> {
    if ptr.is_null() {
        Err(Failure::new(
            SmcStatus::SMC_NULL_POINTER,
            format!("{name} is NULL"),
        ))
    } else {
        Ok(ptr)
    }
}

/// Converts a Rust string to a C string owned by the caller (free with
/// `smc_string_free`).
pub(crate) fn into_c_string(s: String) -> Result<*mut c_char, Failure> {
    CString::new(s)
        .map(CString::into_raw)
        .map_err(|_| Failure::new(SmcStatus::SMC_INVALID_ARGUMENT, "result holds a NUL byte"))
}

/// The detail message of the last failed libsmc call on this thread, or "" if the last
/// call succeeded.
///
/// Ownership: the string belongs to libsmc; do not free it. It stays valid until the
/// next libsmc call on the same thread. Never NULL.
#[no_mangle]
pub extern "C" fn smc_last_error_message() -> *const c_char {
    LAST_ERROR.with(|slot| slot.borrow().as_ptr())
}

/// Frees a string that libsmc returned (for instance by `smc_crypt`).
///
/// Ownership: takes back ownership of `s`, which must come from libsmc and not have
/// been freed already. NULL is a no-op. Never fails; `smc_last_error_message` is left as it is.
///
/// # Safety
/// `s` is NULL or a string returned by libsmc, freed at most once.
#[no_mangle]
pub unsafe extern "C" fn smc_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: produced by CString::into_raw in into_c_string, per the contract.
        drop(unsafe { CString::from_raw(s) });
    }));
}

/// Hands `value` to C as a new handle, owned by the caller until it passes it to the
/// matching `*_free` function ([`free_handle`]).
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Takes back a handle C gives up and drops it: what every `*_free` function does. NULL
/// is a no-op; a panic while dropping is caught; the last error message is left as it
/// is (a program may free its handles before reporting the error that made it stop).
///
/// # Safety
/// `ptr` is NULL or came from [`into_handle`] with the same `T`, and is freed once.
pub(crate) unsafe fn free_handle<T>(ptr: *mut T) {
    if ptr.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: from `into_handle::<T>` (Box::into_raw), freed once per the contract.
        drop(unsafe { Box::from_raw(ptr) });
    }));
}

/// Writes an output argument already checked by [`out_arg`].
pub(crate) fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: callers pass a pointer checked by `out_arg`, writable per their contract.
    unsafe { out.write(value) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_an_entry_point_becomes_an_internal_error_with_its_message() {
        let status = guard(|| panic!("boom at the boundary"));
        assert_eq!(status, SmcStatus::SMC_INTERNAL_ERROR);
        // SAFETY: libsmc's own static/thread-local string, NUL-terminated.
        let detail = unsafe { CStr::from_ptr(smc_last_error_message()) };
        assert_eq!(
            detail.to_str().unwrap(),
            "internal error in libsmc: boom at the boundary"
        );
        assert_eq!(guard(|| Ok(())), SmcStatus::SMC_OK);
        assert_eq!(
            unsafe { CStr::from_ptr(smc_last_error_message()) }.to_bytes(),
            b""
        );
    }

    struct PanicsOnDrop;

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("drop panicked");
        }
    }

    #[test]
    fn freeing_a_handle_catches_a_panic_and_keeps_the_last_error() {
        let _ = guard(|| Err(Failure::new(SmcStatus::SMC_TIMEOUT, "the reason")));
        // SAFETY: a handle from into_handle, freed once; NULL is a no-op.
        unsafe {
            free_handle(into_handle(PanicsOnDrop));
            free_handle(std::ptr::null_mut::<PanicsOnDrop>());
        }
        let detail = unsafe { CStr::from_ptr(smc_last_error_message()) };
        assert_eq!(detail.to_bytes(), b"the reason");
    }
}
