//! The client's end-to-end state on disk: a client killed (SIGKILL) in the middle of a
//! conversation loses, repeats and reuses nothing; the state is encrypted at rest with
//! a passphrase, and private (0600) without one.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use smc::client::ChatEvent;
use smc::{Client, ClientError, E2eError};

use crate::support::{self, client, contains, tempdir};

const WAIT: Option<Duration> = Some(Duration::from_secs(20));
const TOTAL: u64 = 40;

/// Run by `a_client_killed_mid_conversation_loses_repeats_and_reuses_nothing` as a child
/// process (this test binary, `--ignored --exact client_state::crash_child`): alice sends "msg N" up to
/// TOTAL, continuing after the last message in her local history, and prints
/// "acked N" after each acknowledgement.
#[test]
#[ignore = "run as a child process by the crash test"]
fn crash_child() {
    // Run by hand without them, this test fails rather than pass doing nothing.
    let home = std::env::var("SMC_CRASH_HOME").expect("SMC_CRASH_HOME (set by the crash test)");
    let address =
        std::env::var("SMC_CRASH_ADDRESS").expect("SMC_CRASH_ADDRESS (set by the crash test)");
    let mut alice = client(Path::new(&home), "alice", &address);
    let next = alice
        .history("r", 1)
        .unwrap()
        .last()
        .map(|m| m.text.strip_prefix("msg ").unwrap().parse::<u64>().unwrap() + 1)
        .unwrap_or(0);
    for i in next..TOTAL {
        alice.send("r", &format!("msg {i}")).unwrap();
        println!("acked {i}");
    }
    println!("finished");
}

#[test]
fn a_client_killed_mid_conversation_loses_repeats_and_reuses_nothing() {
    let dir = tempdir("e2e_crash");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let mut bob = client(&dir.join("bob"), "bob", &address);
    {
        let mut alice = client(&dir.join("alice"), "alice", &address);
        alice.create_room("r").unwrap();
        alice.invite("r", "bob").unwrap();
    }
    let run_child = |kill_after: Option<u64>| {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "client_state::crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SMC_CRASH_HOME", dir.join("alice"))
            .env("SMC_CRASH_ADDRESS", &address)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for line in lines {
            let line = line.unwrap();
            if let (Some(k), Some(n)) = (kill_after, line.strip_prefix("acked ")) {
                if n.parse::<u64>().unwrap() >= k {
                    // Mid-way through the next send (encrypting, saving or sending).
                    std::thread::sleep(Duration::from_micros(300 * (k % 5)));
                    child.kill().unwrap(); // SIGKILL
                    break;
                }
            }
        }
        child.wait().unwrap()
    };
    let mut events = Vec::new();
    let mut collect = |bob: &mut Client, upto: usize| {
        while events
            .iter()
            .filter(|e| matches!(e, ChatEvent::Message(_)))
            .count()
            < upto
        {
            match bob.recv_event(WAIT).unwrap() {
                Some(e) => events.push(e),
                None => panic!("waited for message {upto}; got {events:?}"),
            }
        }
    };
    for kill_after in [3, 9, 17, 26] {
        assert!(!run_child(Some(kill_after)).success(), "killed");
    }
    // bob restarts too, in the middle.
    collect(&mut bob, 10);
    drop(bob);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    assert!(run_child(None).success());
    collect(&mut bob, TOTAL as usize);
    while let Some(e) = bob.recv_event(Some(Duration::from_millis(500))).unwrap() {
        events.push(e);
    }
    let texts: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Message(m) => Some(m.text.clone()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (0..TOTAL).map(|i| format!("msg {i}")).collect();
    assert_eq!(texts, expected, "every message once, in order");
    // A reused key would make a message undecryptable; a lost one would show as a gap.
    assert!(
        !events.iter().any(|e| matches!(
            e,
            ChatEvent::Undecryptable { .. } | ChatEvent::Missing { .. }
        )),
        "{events:?}"
    );
    let alice = Client::open(dir.join("alice"), "alice").unwrap();
    drop(alice);
}

#[test]
fn the_state_is_encrypted_with_a_passphrase_and_private_without() {
    let dir = tempdir("e2e_rest");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let home = dir.join("alice");
    let passphrase = "correct horse battery staple";
    let mut alice = Client::open_with_passphrase(&home, "alice", passphrase).unwrap();
    alice.set_auto_join(true);
    alice.connect(&address).unwrap();
    let fingerprint = alice.fingerprint();
    // The transport key is inside the encrypted state, not in a file of its own.
    assert!(!home.join("identity.key").exists());
    let debug = format!("{alice:?}");
    assert!(!debug.contains(passphrase), "{debug}");
    let mut bob = client(&dir.join("bob"), "bob", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "the sensitive words").unwrap();
    bob.send("r", "a sensitive reply").unwrap_or_else(|_| {
        // bob may not have processed the Welcome yet: receive first.
        bob.recv(WAIT).unwrap();
        bob.send("r", "a sensitive reply").unwrap()
    });
    assert_eq!(alice.recv(WAIT).unwrap().unwrap().text, "a sensitive reply");
    drop(alice);

    for f in ["state.db", "state.salt"] {
        let mode = std::fs::metadata(home.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let mut on_disk = Vec::new();
    for f in std::fs::read_dir(&home).unwrap() {
        on_disk.extend(std::fs::read(f.unwrap().path()).unwrap());
    }
    for text in ["the sensitive words", "a sensitive reply"] {
        assert!(!contains(&on_disk, text.as_bytes()), "{text:?} on disk");
    }
    let db = std::fs::read(home.join("state.db")).unwrap();
    assert!(
        !db.starts_with(b"SQLite format 3"),
        "not a plain SQLite file"
    );

    for wrong in [Some("Correct horse battery staple"), None] {
        let err = match wrong {
            Some(p) => Client::open_with_passphrase(&home, "alice", p),
            None => Client::open(&home, "alice"),
        }
        .unwrap_err();
        assert!(
            matches!(err, ClientError::E2e(E2eError::WrongPassphrase { .. })),
            "{err:?}"
        );
    }
    let mut alice = Client::open_with_passphrase(&home, "alice", passphrase).unwrap();
    alice.set_auto_join(true);
    assert_eq!(alice.fingerprint(), fingerprint, "same transport key");
    // The history and safety numbers are there before connecting (offline).
    assert!(!alice.safety_number("bob").unwrap().is_empty());
    let offline: Vec<String> = support::history_texts(&alice, "r", 10);
    assert_eq!(offline, ["the sensitive words", "a sensitive reply"]);
    alice.connect(&address).unwrap();
    let history: Vec<String> = support::history_texts(&alice, "r", 10);
    assert_eq!(history, ["the sensitive words", "a sensitive reply"]);
    alice.send("r", "after reopening").unwrap();
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "the sensitive words");
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "after reopening");

    // Without a passphrase: readable by the owner only.
    let mode = std::fs::metadata(dir.join("bob/state.db"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_home_is_used_by_one_client_at_a_time() {
    let dir = tempdir("e2e_one_home");
    let first = Client::open(dir.join("alice"), "alice").unwrap();
    // A second client on the same home would share its MLS state and outbox.
    let err = Client::open(dir.join("alice"), "alice").unwrap_err();
    assert!(matches!(err, ClientError::HomeInUse { .. }), "{err:?}");
    assert!(err.to_string().contains("in use"), "{err}");
    drop(first);
    Client::open(dir.join("alice"), "alice").unwrap();
    // Held by another process: refused too; released when that process dies.
    // (`flock -o`: the lock stays with flock itself, not with its `sleep` child.)
    let mut child = Command::new("flock")
        .arg("-o")
        .arg(dir.join("alice/lock"))
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    // Wait until flock holds the lock (checked, not guessed with a fixed sleep).
    let lock = std::fs::File::open(dir.join("alice/lock")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lock.try_lock_shared().is_ok() {
        lock.unlock().unwrap();
        assert!(
            std::time::Instant::now() < deadline,
            "flock never took the lock"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let err = Client::open(dir.join("alice"), "alice").unwrap_err();
    assert!(matches!(err, ClientError::HomeInUse { .. }), "{err:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    // flock's child shares the locked file until it has closed it (`-o`), which a
    // loaded machine may delay a moment after flock itself is gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match Client::open(dir.join("alice"), "alice") {
            Ok(_) => break,
            Err(ClientError::HomeInUse { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("the home is not released when its holder dies: {e}"),
        }
    }
}

#[test]
fn the_message_secrets_are_stored_in_binary_and_the_rest_of_the_mls_state_in_json() {
    // What openmls rewrites after every message is in the compact form of
    // `e2e/storage_codec.rs`; the other values and every key stay JSON.
    let dir = tempdir("storage_codec");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "hello").unwrap();
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "hello");
    drop(alice);
    drop(bob);
    for user in ["alice", "bob"] {
        let db = rusqlite::Connection::open(dir.join(user).join("state.db")).unwrap();
        let rows: Vec<(String, Vec<u8>, Vec<u8>)> = db
            .prepare("SELECT data_type, group_id, group_data FROM openmls_group_data")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let secrets: Vec<_> = rows.iter().filter(|r| r.0 == "message_secrets").collect();
        assert_eq!(secrets.len(), 1, "{user}: one group");
        assert_eq!(
            &secrets[0].2[..2],
            &[0x00, 0x01],
            "{user}: binary, version 1"
        );
        for (kind, key, value) in &rows {
            assert!(
                key.starts_with(b"{") || key.starts_with(b"["),
                "{user}: key of {kind}"
            );
            if kind != "message_secrets" {
                assert!(
                    serde_json::from_slice::<serde_json::Value>(value).is_ok(),
                    "{user}: {kind}"
                );
            }
        }
    }
}
