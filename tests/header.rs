//! include/smc.h must be exactly what cbindgen generates from the C ABI today.
//!
//! Regenerate with `SMC_UPDATE_HEADER=1 cargo test --test header`.

use std::path::Path;

#[test]
fn header_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let path = root.join("include/smc.h");
    if std::env::var_os("SMC_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/smc.h");
    }
    let checked_in = std::fs::read(&path).expect("include/smc.h exists");
    assert!(
        checked_in == generated,
        "include/smc.h is stale: regenerate it with `SMC_UPDATE_HEADER=1 cargo test --test header` \
         (or `cbindgen --config cbindgen.toml --crate smc --output include/smc.h`) and commit it"
    );
}

#[test]
fn header_has_guard_and_cpp_linkage() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/smc.h"))
        .expect("include/smc.h");
    assert!(text.contains("#ifndef SMC_H") && text.contains("#define SMC_H"));
    assert!(text.contains("extern \"C\""));
    for line in text.lines() {
        // Every exported name carries the smc_ / SMC_ prefix.
        if let Some(rest) = line.strip_prefix("enum smc_status ") {
            assert!(rest.starts_with("smc_"), "unprefixed function: {line}");
        }
    }
}
