//! Entry points for the fuzz targets (`fuzz/`) into checks that are otherwise internal
//! to the program. Not part of the API: hidden from the documentation, and may change
//! at any time.

/// Parses `text` as the `smc` config file (what `smc --config FILE` reads): `true` when
/// it is accepted.
pub fn parse_config(text: &str) -> bool {
    crate::config::Config::parse(text, std::path::Path::new("fuzz.toml")).is_ok()
}
