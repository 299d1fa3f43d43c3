//! Entry points for the fuzz targets (`fuzz/`) into checks that are otherwise internal
//! to the server. Not part of the API: hidden from the documentation, and may change
//! at any time.

/// The server's check of a key package published by `user` (what `PublishKeyPackages`
/// runs on each package): `true` when it would be stored.
pub fn check_key_package(bytes: &[u8], user: &str) -> bool {
    let now_ms = chrono::Utc::now().timestamp_millis();
    crate::server::key_package::check(bytes, user, false, now_ms).is_ok()
}
