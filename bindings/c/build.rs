//! Gives libsmc.so its SONAME, `libsmc.so.MAJOR`: programs linked against one release
//! keep loading any later one with the same major version (the install tree of
//! scripts/install-c.sh names the file `libsmc.so.MAJOR.MINOR.PATCH`, with links).
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsmc.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
