//! A client given several addresses of one service (`Client::connect_any`): addresses
//! that do not answer are passed over, trust holds across the list (a new address
//! must present the key already pinned for another), and a standby restored from a
//! backup of the server takes over under the same key.

use std::net::TcpListener;

use smc::server::store;
use smc::{Client, ClientError};

use crate::support::{self, tempdir, WAIT};

/// An address where nothing listens (a port just freed).
fn dead_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[test]
fn addresses_that_do_not_answer_are_passed_over_in_order() {
    let dir = tempdir("failover_order");
    let server = support::server(&dir.join("server"));
    let live = server.address().to_string();
    let mut alice = Client::open(dir.join("alice"), "alice").unwrap();
    let dead = dead_address();
    let used = alice.connect_any(&[dead.as_str(), &live]).unwrap();
    assert_eq!(used, live);
    assert!(alice.is_connected());
    // The address that answered is pinned; the dead one is not.
    assert_eq!(
        alice.pinned_server(&live).unwrap().unwrap(),
        server.fingerprint()
    );
    assert!(alice.pinned_server(&dead).unwrap().is_none());
    // Nothing answering at all: the last address's error, a disconnect kind.
    let err = alice
        .connect_any(&[dead_address(), dead_address()])
        .unwrap_err();
    assert!(err.kind().is_disconnect(), "{err:?}");
    let none: [&str; 0] = [];
    assert!(alice.connect_any(&none).is_err());
}

/// An address whose host is gone: a listener whose queue is full and that never
/// accepts, so that the system drops new connections' first packets unanswered (as a
/// dead host does). Kept alive by the returned runtime and listener.
fn silent_address() -> (tokio::runtime::Runtime, tokio::net::TcpListener, String) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        socket.listen(0).unwrap()
    });
    let address = listener.local_addr().unwrap();
    // Fill the queue (its first connections complete; those after are left hanging).
    let _fill: Vec<_> = (0..3)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_millis(300))
                .ok()
        })
        .collect();
    std::mem::forget(_fill);
    (runtime, listener, address.to_string())
}

#[test]
fn an_address_whose_host_is_gone_is_given_up_after_the_handshake_timeout() {
    let dir = tempdir("failover_silent");
    let server = support::server(&dir.join("server"));
    let live = server.address().to_string();
    let (_runtime, _listener, silent) = silent_address();
    let mut alice = Client::open(dir.join("alice"), "alice").unwrap();
    // Without a bound on the TCP connection itself, the system gives up on a host
    // that does not answer only after about two minutes.
    let (tx, rx) = std::sync::mpsc::channel();
    let list = [silent.clone(), live.clone()];
    std::thread::spawn(move || {
        let _ = tx.send(alice.connect_any(&list).map_err(|e| e.to_string()));
    });
    let used = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the silent address held the connection for a minute")
        .unwrap();
    assert_eq!(used, live);
}

#[test]
fn a_new_address_must_present_the_key_pinned_for_the_others() {
    let dir = tempdir("failover_trust");
    let genuine = support::server(&dir.join("genuine"));
    let impostor = support::server(&dir.join("impostor"));
    let (a, b) = (
        genuine.address().to_string(),
        impostor.address().to_string(),
    );
    let mut alice = Client::open(dir.join("alice"), "alice").unwrap();
    alice.connect(&a).unwrap();
    alice.close();
    drop(genuine);
    // The genuine server is down; the other address answers with another key: refused,
    // and that key is not pinned.
    match alice.connect_any(&[&a, &b]) {
        Err(ClientError::ServerNotTrusted {
            address, presented, ..
        }) => {
            assert_eq!(address, b);
            assert_eq!(presented, impostor.fingerprint());
        }
        other => panic!("not refused: {other:?}"),
    }
    assert!(alice.pinned_server(&b).unwrap().is_none());
    // So is an operator's fingerprint that contradicts a pin.
    let err = alice
        .connect_any_expecting(&[&a, &b], &impostor.fingerprint())
        .unwrap_err();
    assert!(
        matches!(err, ClientError::ServerNotTrusted { .. }),
        "{err:?}"
    );
}

#[test]
fn a_standby_restored_from_a_backup_takes_over_under_the_same_key() {
    // The backup is older than the last messages: bob has read past it. The standby's
    // fenced counters keep what is sent to it above bob's cursor, so nothing new is
    // skipped as already read.
    let dir = tempdir("failover_standby");
    let primary = support::server(&dir.join("primary"));
    let first = primary.address().to_string();
    let mut alice = support::client(&dir.join("alice"), "alice", &first);
    let mut bob = support::client(&dir.join("bob"), "bob", &first);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "before").unwrap();
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "before");
    let fence = now_ms() * store::FENCE_PER_MS;
    store::backup(&dir.join("primary"), &dir.join("standby")).unwrap();
    for text in ["after the backup 1", "after the backup 2"] {
        alice.send("r", text).unwrap();
        assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, text);
    }
    drop(primary);
    let standby = support::server(&dir.join("standby"));
    let second = standby.address().to_string();
    assert_ne!(first, second);
    // Both reconnect with the list: the primary is gone, the standby has its key.
    let addresses = [first.as_str(), second.as_str()];
    assert_eq!(alice.connect_any(&addresses).unwrap(), second);
    assert_eq!(bob.connect_any(&addresses).unwrap(), second);
    assert_eq!(
        alice.pinned_server(&second).unwrap().unwrap(),
        standby.fingerprint()
    );
    let sent = alice.send("r", "after the failover").unwrap();
    assert!(sent.seq > fence as u64, "seq {}", sent.seq);
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "after the failover");
    // Bob's own history keeps what the primary delivered after the backup.
    assert_eq!(
        support::history_texts(&bob, "r", 10),
        [
            "before",
            "after the backup 1",
            "after the backup 2",
            "after the failover"
        ]
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One backup restored twice: the first restored server numbers messages past the
/// backup and bob reads them; it is lost, and the same backup is restored again. What
/// is sent to the second restore must still reach bob (a fence taken only when the
/// backup was made gave both restores the same seqs, and bob skipped them as read).
#[test]
fn a_backup_restored_twice_never_reuses_a_number_a_client_holds() {
    let dir = tempdir("failover_restore_twice");
    let primary = support::server(&dir.join("primary"));
    let first = primary.address().to_string();
    let mut alice = support::client(&dir.join("alice"), "alice", &first);
    let mut bob = support::client(&dir.join("bob"), "bob", &first);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "before the backup").unwrap();
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "before the backup");
    store::backup(&dir.join("primary"), &dir.join("backup")).unwrap();
    drop(primary);

    let mut texts = vec!["before the backup".to_owned()];
    for round in 1..=2 {
        let data = dir.join(format!("restored{round}"));
        store::restore(&dir.join("backup"), &data).unwrap();
        let server = support::server(&data);
        let address = server.address().to_string();
        alice.connect(&address).unwrap();
        bob.connect(&address).unwrap();
        // Directs too: an invitation's Welcome travels there.
        for i in 0..3 {
            let text = format!("restore {round}, message {i}");
            alice.send("r", &text).unwrap();
            let got = bob.recv(WAIT).unwrap();
            assert_eq!(
                got.as_ref().map(|m| m.text.as_str()),
                Some(text.as_str()),
                "bob missed what the restore {round} stored"
            );
            texts.push(text);
        }
        drop(server);
    }
    assert_eq!(support::history_texts(&bob, "r", 20), texts);
}
