//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod events;
pub mod evil;
pub mod mls;
pub mod tmux;

use std::path::{Path, PathBuf};

/// A fresh, empty directory under Cargo's test temp dir.
pub fn tempdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies a directory tree (files and subdirectories).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The client of `user` in `home`, connected to `address`, accepting invitations at
/// once (the tests of invitations themselves open their clients without it).
pub fn client(home: &Path, user: &str, address: &str) -> smc::Client {
    let mut c = smc::Client::open(home, user).unwrap();
    c.set_auto_join(true);
    c.connect(address).unwrap();
    c
}

/// Reads the line a started `smc server` prints first ("smc server listening on ADDR
/// (key fingerprint FP)"): its address and key fingerprint.
pub fn server_banner(child: &mut std::process::Child) -> (String, String) {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout piped"))
        .read_line(&mut line)
        .unwrap();
    let rest = line
        .strip_prefix("smc server listening on ")
        .unwrap_or_else(|| panic!("not the server's first line: {line:?}"));
    let (address, fingerprint) = rest.split_once(" (key fingerprint ").unwrap();
    (
        address.to_owned(),
        fingerprint.trim_end().trim_end_matches(')').to_owned(),
    )
}
