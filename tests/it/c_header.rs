//! include/smc.h must be exactly what cbindgen generates from the C ABI today.
//!
//! Regenerate with `SMC_UPDATE_HEADER=1 cargo test --test it c_header`.

#[test]
fn header_is_fresh() {
    let root = &crate::support::root();
    let crate_dir = root.join("bindings/c");
    let mut config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    // The version macros come from Cargo.toml's version (the one source of it).
    config.after_includes = Some(format!(
        "\n#define SMC_VERSION_MAJOR {}\n#define SMC_VERSION_MINOR {}\n#define SMC_VERSION_PATCH {}\n#define SMC_VERSION \"{}\"",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    ));
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
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
        "include/smc.h is stale: regenerate it with `SMC_UPDATE_HEADER=1 cargo test --test it c_header` \
         and commit it"
    );
}

#[test]
fn header_has_guard_and_cpp_linkage() {
    let text = header();
    assert!(text.contains("#ifndef SMC_H") && text.contains("#define SMC_H"));
    assert!(text.contains("extern \"C\""));
}

/// The identifier just before `at` in `code` (`smc_crypt` in `enum x smc_crypt(`).
fn name_before(code: &str, at: usize) -> &str {
    let before = code[..at].trim_end();
    let start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    &before[start..]
}

#[test]
fn every_name_the_header_declares_carries_the_smc_prefix() {
    let text = header();
    let (mut functions, mut types, mut constants) = (0, 0, 0);
    for line in text.lines() {
        let code = line.trim_end();
        if let Some(constant) = code.strip_prefix("  ").filter(|c| c.contains(" = ")) {
            // An enumerator.
            assert!(constant.starts_with("SMC_"), "unprefixed constant: {line}");
            constants += 1;
        } else if code.starts_with(|c: char| c.is_ascii_alphabetic()) && !code.starts_with("extern")
        {
            // A declaration (comments, macros and continuation lines never start at
            // column 0 with a letter).
            if let Some(pointer) = code
                .strip_prefix("typedef ")
                .and_then(|c| c.split_once("(*"))
            {
                // A function pointer type: `typedef int (*smc_name)(...);`.
                let name = pointer.1.split(')').next().unwrap_or_default();
                assert!(name.starts_with("smc_"), "unprefixed type {name:?}: {line}");
                types += 1;
            } else if let Some(open) = code.find('(') {
                let name = name_before(code, open);
                assert!(
                    name.starts_with("smc_"),
                    "unprefixed function {name:?}: {line}"
                );
                functions += 1;
            } else {
                let name = code.trim_end_matches([';', '{', ' ']);
                let name = name_before(name, name.len());
                assert!(name.starts_with("smc_"), "unprefixed type {name:?}: {line}");
                types += 1;
            }
        } else if let Some(rest) = code.strip_prefix("} ").filter(|r| !r.contains("extern")) {
            let name = rest.trim_end_matches(';');
            assert!(name.starts_with("smc_"), "unprefixed type {name:?}: {line}");
        }
    }
    // The walk saw the declarations (a header format it does not read fails here).
    assert!(
        functions > 50 && types > 5 && constants > 20,
        "{functions} functions, {types} types, {constants} constants"
    );
}

fn header() -> String {
    std::fs::read_to_string(crate::support::root().join("include/smc.h")).expect("include/smc.h")
}
