//! Replays every input checked in under `fuzz/corpus/<target>/` (what the fuzzer found
//! interesting: `scripts/fuzz.sh` runs it) and `fuzz/regressions/<target>/` (every
//! input that ever crashed a target, kept after the fix) through the same target
//! bodies that the fuzzer runs, on the stable toolchain.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

fn replay(target: &str, run: fn(&[u8])) {
    let root = crate::support::root().join("fuzz");
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        let dir = root.join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.expect("entry").path()).collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).expect("read input");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{} fails {target}", path.display());
            count += 1;
        }
    }
    assert!(
        count > 0,
        "no checked-in input for the fuzz target {target}"
    );
    eprintln!("{target}: {count} inputs replayed");
}

#[test]
fn transport() {
    replay("transport", targets::transport);
}

#[test]
fn channel() {
    replay("channel", targets::channel);
}

#[test]
fn client_frame() {
    replay("client_frame", targets::client_frame);
}

#[test]
fn server_frame() {
    replay("server_frame", targets::server_frame);
}

#[test]
fn envelopes() {
    replay("envelopes", targets::envelopes);
}

#[test]
fn legacy_wire() {
    replay("legacy_wire", targets::legacy_wire);
}

#[test]
fn legacy_session() {
    replay("legacy_session", targets::legacy_session);
}

#[test]
fn config() {
    replay("config", targets::config);
}

#[test]
fn c_abi() {
    replay("c_abi", targets::c_abi);
}

#[test]
fn server_requests() {
    replay("server_requests", targets::server_requests);
}
