//! `smc server` as a real process: listens, logs, serves, drains on SIGTERM.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use smc::Client;
use support::tempdir;

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

    let mut alice = Client::open(dir.join("alice"), "alice").unwrap();
    alice.set_auto_join(true);
    alice.connect(&address).unwrap();
    let mut bob = Client::open(dir.join("bob"), "bob").unwrap();
    bob.set_auto_join(true);
    bob.connect(&address).unwrap();
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
    use smc::{Server, ServerConfig};
    let dir = tempdir("cli_safety");
    let server = Server::start(ServerConfig::new(dir.join("server"), "127.0.0.1:0")).unwrap();
    let address = server.address().to_string();
    {
        let mut alice = Client::open(dir.join("alice"), "alice").unwrap();
        alice.set_auto_join(true);
        alice.connect(&address).unwrap();
        let mut bob = Client::open(dir.join("bob"), "bob").unwrap();
        bob.set_auto_join(true);
        bob.connect(&address).unwrap();
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
