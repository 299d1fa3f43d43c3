//! The library's version at run time (the header's `SMC_VERSION_*` macros give it at
//! compile time).

use std::ffi::c_char;

/// The version of this libsmc, "MAJOR.MINOR.PATCH". Static: never freed.
#[no_mangle]
pub extern "C" fn smc_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
