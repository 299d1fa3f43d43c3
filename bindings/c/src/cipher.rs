//! C entry points of the legacy affine cipher. **The legacy cipher gives no security.**

use std::ffi::c_char;

use super::boundary::{guard, into_c_string, out_arg, str_arg, write_out};
use super::status::SmcStatus;

use smc::legacy::cipher;

/// Encrypts `text` with the legacy affine cipher, key (`a`, `b`), as the original
/// `crypt`. **Insecure: compatibility only.**
///
/// Ownership: `text` is borrowed (NUL-terminated UTF-8). On `SMC_OK`, `*out_text`
/// receives a new string owned by the caller, to free with `smc_string_free`; on any
/// other status `*out_text` is left untouched.
///
/// Errors: `SMC_NULL_POINTER`, `SMC_INVALID_UTF8`, `SMC_UNSUPPORTED_CHARACTER` (the
/// detail from `smc_last_error_message` names the character and its position),
/// `SMC_NOT_COPRIME` when `a % 97 == 0`.
///
/// # Safety
/// `text` is NULL or a NUL-terminated string; `out_text` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_crypt(
    text: *const c_char,
    a: i64,
    b: i64,
    out_text: *mut *mut c_char,
) -> SmcStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let text = unsafe { str_arg(text, "text") }?;
        let out = out_arg(out_text, "out_text")?;
        let result = into_c_string(cipher::crypt(text, a, b)?)?;
        write_out(out, result);
        Ok(())
    })
}

/// Decrypts `text` with the legacy affine cipher, key (`a`, `b`), as the original
/// `decrypt` (backslash+space is read as one table entry). **Insecure.**
///
/// Ownership: as `smc_crypt`: `*out_text` is the caller's on `SMC_OK`, freed with
/// `smc_string_free`, untouched otherwise.
///
/// Errors: as `smc_crypt`.
///
/// # Safety
/// `text` is NULL or a NUL-terminated string; `out_text` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_decrypt(
    text: *const c_char,
    a: i64,
    b: i64,
    out_text: *mut *mut c_char,
) -> SmcStatus {
    guard(|| {
        // SAFETY: per this function's contract.
        let text = unsafe { str_arg(text, "text") }?;
        let out = out_arg(out_text, "out_text")?;
        let result = into_c_string(cipher::decrypt(text, a, b)?)?;
        write_out(out, result);
        Ok(())
    })
}

/// The original `pgcd(a, b)`: Euclid with floored remainders (signs follow Python's
/// `%`, so `pgcd(35, -97) == -1`).
///
/// Ownership: `*out` is written on `SMC_OK` only. Errors: `SMC_NULL_POINTER`.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_pgcd(a: i64, b: i64, out: *mut i64) -> SmcStatus {
    guard(|| {
        let out = out_arg(out, "out")?;
        write_out(out, cipher::pgcd(a, b));
        Ok(())
    })
}

/// The original `inverse(a)`: the smallest `x >= 0` with `a*x % 97 == 1`.
///
/// Ownership: `*out` is written on `SMC_OK` only.
/// Errors: `SMC_NULL_POINTER`, `SMC_NOT_COPRIME` when `a % 97 == 0`.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn smc_inverse(a: i64, out: *mut i64) -> SmcStatus {
    guard(|| {
        let out = out_arg(out, "out")?;
        let inv = cipher::inverse(a)?;
        write_out(out, inv);
        Ok(())
    })
}
