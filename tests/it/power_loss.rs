//! "Acknowledged means fsynced", shown by a power loss instead of a crash: a SIGKILL
//! leaves the operating system's cache in place, so it cannot tell a store that syncs
//! from one that does not. Here the server runs with `tests/support/powerloss.c`
//! preloaded, which keeps each file of its data directory as it was at the file's last
//! sync; after the kill the data directory is replaced by those copies (what a machine
//! that lost its power would have), and the server starts again on it.
//!
//! With `--durability full` every acknowledged message is there. The same run with
//! `--durability normal` (no sync per commit) loses them: the harness sees what it is
//! meant to see.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use smc::Client;

use crate::support::{self, client, tempdir, Reaped, Senders, WAIT};

/// The preloadable library, compiled once per test run.
fn shim() -> &'static Path {
    static SHIM: OnceLock<PathBuf> = OnceLock::new();
    SHIM.get_or_init(|| {
        let out = tempdir("powerloss_shim").join("libpowerloss.so");
        let status = Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o"])
            .arg(&out)
            .arg(support::root().join("tests/support/powerloss.c"))
            .arg("-ldl")
            .status()
            .expect("cc");
        assert!(status.success(), "the power-loss library does not compile");
        out
    })
}

/// `smc server` on `data` with the power-loss library: the process and its address.
fn server_losing_power(data: &Path, shadow: &Path, durability: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smc"))
        .args(["server", "--listen", "127.0.0.1:0", "--admin-listen", "off"])
        .args(["--durability", durability, "--data-dir"])
        .arg(data)
        .env_remove("SMC_CONFIG")
        .env("LD_PRELOAD", shim())
        .env("POWERLOSS_DIR", data)
        .env("POWERLOSS_SHADOW", shadow)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (address, _) = support::server_banner(&mut child);
    (child, address)
}

/// Replaces `data` by what the power loss left of it: the files as last synced.
fn lose_power(data: &Path, shadow: &Path) {
    std::fs::remove_dir_all(data).unwrap();
    crate::support::copy_dir(shadow, data);
    for file in crate::support::files_under(data) {
        if file.to_string_lossy().ends_with(".powerloss-tmp") {
            std::fs::remove_file(file).unwrap();
        }
    }
}

/// alice and bob in room `r`; alice sends until the power goes, after `count` of her
/// messages were acknowledged. What was acknowledged, and what bob reads afterwards,
/// from a server started again on what the disk kept.
fn acknowledged_and_kept(name: &str, durability: &str, count: usize) -> (Vec<String>, Vec<String>) {
    let dir = tempdir(name);
    let (data, shadow) = (dir.join("server"), dir.join("shadow"));
    let (child, address) = server_losing_power(&data, &shadow, durability);
    let mut server = Reaped(child);
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "before").unwrap();
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "before");
    drop(bob);
    let senders = Senders::start(vec![alice], "r");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while senders.count() < count {
        assert!(std::time::Instant::now() < deadline, "too slow");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The power goes: the process dies, and the disk keeps only what was synced.
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    let acked = senders.acknowledged();
    lose_power(&data, &shadow);

    let (child, address) = support::server_process(&data, "127.0.0.1:0");
    let _server = Reaped(child);
    let mut bob = Client::open(dir.join("bob"), "bob").unwrap();
    bob.connect(&address).unwrap();
    let mut read = Vec::new();
    while let Some(m) = bob.recv(Some(Duration::from_secs(3))).unwrap() {
        read.push(m.text);
    }
    (acked, read)
}

#[test]
fn every_message_acknowledged_before_a_power_loss_is_kept() {
    let (acked, read) = acknowledged_and_kept("power_loss_full", "full", 150);
    assert!(acked.len() >= 150);
    let missing: Vec<&String> = acked.iter().filter(|t| !read.contains(t)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged messages lost with the power: {:?}...",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    // Each once, in the order they were sent.
    let read_acked: Vec<&String> = read.iter().filter(|t| acked.contains(t)).collect();
    assert_eq!(read_acked, acked.iter().collect::<Vec<_>>());
}

#[test]
fn without_a_sync_per_commit_a_power_loss_loses_acknowledged_messages() {
    // The control: `normal` promises to survive a crash of the server, not of the
    // machine, and the harness shows the difference.
    let (acked, read) = acknowledged_and_kept("power_loss_normal", "normal", 150);
    let lost = acked.iter().filter(|t| !read.contains(t)).count();
    assert!(
        lost > 0,
        "nothing lost without syncs: the power-loss harness cannot see a missing sync"
    );
}

/// Lines of `stream`, as they come.
fn lines(stream: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Waits for a line containing `text`.
fn wait_for(rx: &std::sync::mpsc::Receiver<String>, text: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(text) => return,
            Ok(_) => {}
            Err(_) => panic!("never printed {text:?}"),
        }
    }
}

#[test]
fn a_client_that_loses_power_never_uses_a_message_key_twice() {
    // The client's side: only the commits that reserve a block of the sending
    // ratchet's generations are synced; the messages sent after one may be lost with
    // the power, and the client, started again, must not send with their keys again.
    let dir = tempdir("power_loss_client");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let mut bob = client(&dir.join("bob"), "bob", &address);
    let home = dir.join("alice");
    let shadow = dir.join("alice_shadow");
    let mut chat = Command::new(env!("CARGO_BIN_EXE_smc"))
        .args(["chat", "--server", &address, "--user", "alice"])
        .args(["--trust-server", &server.fingerprint(), "--home"])
        .arg(&home)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("SMC_PASSPHRASE")
        .env("LD_PRELOAD", shim())
        .env("POWERLOSS_DIR", &home)
        .env("POWERLOSS_SHADOW", &shadow)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let notes = lines(chat.stderr.take().unwrap());
    let mut stdin = chat.stdin.take().unwrap();
    let mut type_line = |line: &str| {
        use std::io::Write;
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    };
    wait_for(&notes, "connected to");
    type_line("/create r");
    wait_for(&notes, "created #r");
    type_line("/invite bob");
    let mut read = Vec::new();
    while !bob.joined_rooms().unwrap().contains(&"r".to_string()) {
        if let Some(m) = bob.recv(Some(Duration::from_millis(200))).unwrap() {
            read.push(m.text);
        }
    }
    for text in ["first", "second", "third"] {
        type_line(text);
        while !read.iter().any(|t| t == text) {
            read.push(bob.recv(WAIT).unwrap().expect("bob reads alice").text);
        }
    }
    // The power goes while the client runs.
    chat.kill().unwrap();
    chat.wait().unwrap();
    lose_power(&home, &shadow);

    let mut alice = client(&home, "alice", &address);
    alice.send("r", "after the power loss").unwrap();
    alice.send("r", "and one more").unwrap();
    let mut events = Vec::new();
    while !read.iter().any(|t| t == "and one more") {
        let event = bob.recv_event(WAIT).unwrap().expect("bob's next event");
        if let smc::client::ChatEvent::Message(m) = &event {
            read.push(m.text.clone());
        }
        events.push(event);
    }
    // A key used twice would make bob refuse the message as a replay.
    assert!(
        crate::support::events::unreadable(&events).is_empty(),
        "{events:?}"
    );
    assert_eq!(
        read,
        [
            "first",
            "second",
            "third",
            "after the power loss",
            "and one more"
        ]
    );
}
