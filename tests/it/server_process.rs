//! `smc server` as a real process: listens, logs, serves, drains on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{self, tempdir};

#[test]
fn smc_server_serves_and_exits_cleanly_on_sigterm() {
    let dir = tempdir("cli_server");
    let mut child = Command::new(env!("CARGO_BIN_EXE_smc"))
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (address, _) = support::server_banner(&mut child);

    let mut alice = support::client(&dir.join("alice"), "alice", &address);
    let mut bob = support::client(&dir.join("bob"), "bob", &address);
    alice.create_room("cli").unwrap();
    alice.invite("cli", "bob").unwrap();
    alice.send("cli", "through the CLI server").unwrap();
    assert_eq!(
        bob.recv(Some(Duration::from_secs(10)))
            .unwrap()
            .unwrap()
            .text,
        "through the CLI server"
    );

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("SIGTERM: draining"), "{logs}");
    assert!(logs.contains("user connected"), "{logs}");
    assert!(logs.contains("smc server stopped"), "{logs}");
    // Connected clients see the close.
    assert!(bob.recv(Some(Duration::from_secs(10))).is_err());
}

#[test]
fn smc_safety_number_prints_the_same_number_on_both_sides_and_verifies() {
    let dir = tempdir("cli_safety");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    {
        let mut alice = support::client(&dir.join("alice"), "alice", &address);
        let mut bob = support::client(&dir.join("bob"), "bob", &address);
        alice.create_room("r").unwrap();
        alice.invite("r", "bob").unwrap();
        alice.send("r", "hi").unwrap();
        assert_eq!(
            bob.recv(Some(std::time::Duration::from_secs(10)))
                .unwrap()
                .unwrap()
                .text,
            "hi"
        );
    }
    let run = |user: &str, peer: &str, verify: bool| -> String {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_smc"));
        cmd.args([
            "safety-number",
            "--server",
            &address,
            "--user",
            user,
            "--home",
        ])
        .arg(dir.join(user))
        .arg(peer);
        if verify {
            cmd.arg("--verify");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let number = |out: &str| out.lines().nth(1).unwrap().to_owned();
    let (a, b) = (run("alice", "bob", false), run("bob", "alice", false));
    assert_eq!(number(&a), number(&b));
    assert_eq!(number(&a).split(' ').count(), 12);
    assert!(a.contains("bob's key: not verified"), "{a}");
    assert!(run("alice", "bob", true).contains("bob's key: verified"));
    assert!(run("alice", "bob", false).contains("bob's key: verified"));
    // An unknown peer: a clear error, exit code 1.
    let out = Command::new(env!("CARGO_BIN_EXE_smc"))
        .args([
            "safety-number",
            "--server",
            &address,
            "--user",
            "alice",
            "--home",
        ])
        .arg(dir.join("alice"))
        .arg("nobody")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no key known for nobody"));
}

#[test]
fn a_server_killed_under_load_loses_nothing_it_acknowledged() {
    let dir = tempdir("cli_server_kill");
    let data = dir.join("data");
    let (mut server, address) = support::server_process(&data, "127.0.0.1:0");
    let mut alice = support::client(&dir.join("alice"), "alice", &address);
    let mut bob = support::client(&dir.join("bob"), "bob", &address);
    let mut carol = support::client(&dir.join("carol"), "carol", &address);
    alice.create_room("load").unwrap();
    alice.invite("load", "bob").unwrap();
    alice.invite("load", "carol").unwrap();
    support::events::drain(&mut bob);
    support::events::drain(&mut carol);
    // carol, the witness, is away while the others send as fast as they can.
    drop(carol);
    let senders = support::Senders::start(vec![alice, bob], "load");
    std::thread::sleep(Duration::from_millis(1000));
    server.kill().unwrap(); // SIGKILL: no draining, no goodbye
    let killed = std::time::Instant::now();
    server.wait().unwrap();
    let acked = senders.acknowledged();
    eprintln!("senders stopped {:?} after the kill", killed.elapsed());
    eprintln!("{} messages acknowledged before the kill", acked.len());
    assert!(acked.len() > 20, "too little load: {}", acked.len());

    // Restarted on the same data: carol (another party) catches up on everything.
    let (mut server, _) = support::server_process(&data, &address);
    let mut carol = support::client(&dir.join("carol"), "carol", &address);
    let received = support::events::texts(&support::events::drain(&mut carol));
    let missing: Vec<&String> = acked.iter().filter(|t| !received.contains(t)).collect();
    assert!(missing.is_empty(), "acknowledged, then lost: {missing:?}");
    server.kill().unwrap();
    let _ = server.wait();
}
