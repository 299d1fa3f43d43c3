//! A client that keeps itself connected ([`smc::client::Background`], which the C and
//! Python clients are): its server stopped and started again on the same address, it
//! says so (`Disconnected`, then `Connected`), gets back by itself, sends what was
//! asked meanwhile and receives what was missed, in order and once; with reconnection
//! off, or against a server whose key changed, it stops and says so.

use std::path::Path;
use std::time::{Duration, Instant};

use smc::client::{Background, ChatEvent};
use smc::{Client, ClientError};

use crate::support::{client, server, server_at, tempdir};

const WAIT: Option<Duration> = Some(Duration::from_secs(20));

/// bob's client, kept connected by its own thread, accepting invitations at once.
fn background(home: &Path, address: &str) -> Background {
    let mut c = Client::open(home, "bob").unwrap();
    c.set_auto_join(true);
    let bob = Background::start(c).unwrap();
    assert_eq!(bob.connect(&[address], None).unwrap(), address);
    bob
}

/// bob's next event other than a room's membership.
fn next_event(bob: &Background) -> ChatEvent {
    loop {
        match bob.recv_event(WAIT).unwrap().expect("an event in time") {
            ChatEvent::MembersChanged { .. } | ChatEvent::Joined { .. } => {}
            other => return other,
        }
    }
}

/// Whether `c` stays quiet for a while.
fn quiet(c: &mut Client) -> bool {
    c.recv(Some(Duration::from_millis(500))).unwrap().is_none()
}

#[test]
fn a_client_gets_back_by_itself_and_misses_nothing() {
    let dir = tempdir("reconnection_back");
    let data = dir.join("server");
    let first = server(&data);
    let address = first.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let bob = background(&dir.join("bob"), &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "before").unwrap();
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "before");

    first.stop();
    match next_event(&bob) {
        ChatEvent::Disconnected { retrying: true, .. } => {}
        other => panic!("{other:?}"),
    }
    // A send asked while the server is away waits for the connection.
    let sending = {
        let bob = std::sync::Arc::new(bob);
        let waiting = bob.clone();
        (
            bob,
            std::thread::spawn(move || waiting.with(|c| c.send("r", "asked while away"))),
        )
    };
    let (bob, sending) = sending;
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !sending.is_finished(),
        "the send did not wait for the connection"
    );

    let _second = server_at(&data, &address);
    alice.connect(&address).unwrap();
    for text in ["missed 1", "missed 2"] {
        alice.send("r", text).unwrap();
    }
    match next_event(&bob) {
        ChatEvent::Connected { address: to } => assert_eq!(to, address),
        other => panic!("{other:?}"),
    }
    let sent = sending.join().unwrap().unwrap();
    assert_eq!(sent.text, "asked while away");
    // What alice sent while bob was away, in order, once.
    let got: Vec<String> = (0..2)
        .map(|_| bob.recv(WAIT).unwrap().unwrap().text)
        .collect();
    assert_eq!(got, ["missed 1", "missed 2"]);
    assert!(bob
        .recv(Some(Duration::from_millis(500)))
        .unwrap()
        .is_none());
    // What bob asked while away reached alice, once.
    assert_eq!(alice.recv(WAIT).unwrap().unwrap().text, "asked while away");
    assert!(quiet(&mut alice));
}

#[test]
fn with_reconnection_off_a_loss_is_said_and_the_client_stays_away() {
    let dir = tempdir("reconnection_off");
    let data = dir.join("server");
    let first = server(&data);
    let address = first.address().to_string();
    let bob = background(&dir.join("bob"), &address);
    bob.set_reconnect(false);
    first.stop();
    match next_event(&bob) {
        ChatEvent::Disconnected {
            retrying: false, ..
        } => {}
        other => panic!("{other:?}"),
    }
    let _second = server_at(&data, &address);
    std::thread::sleep(Duration::from_secs(2));
    assert!(matches!(
        bob.recv_event(Some(Duration::from_secs(1))),
        Err(ClientError::ConnectionClosed)
    ));
    assert!(!bob.with(|c| Ok(c.is_connected())).unwrap());
    // The program reconnects itself.
    bob.connect(&[address.as_str()], None).unwrap();
}

#[test]
fn a_server_whose_key_changed_stops_the_reconnection() {
    let dir = tempdir("reconnection_key");
    let first = server(&dir.join("server"));
    let address = first.address().to_string();
    let bob = background(&dir.join("bob"), &address);
    first.stop();
    match next_event(&bob) {
        ChatEvent::Disconnected { retrying: true, .. } => {}
        other => panic!("{other:?}"),
    }
    // Another server (another key) on the same address.
    let _other = server_at(&dir.join("impostor"), &address);
    let start = Instant::now();
    match next_event(&bob) {
        ChatEvent::Disconnected {
            retrying: false,
            reason,
        } => assert!(reason.contains("pinned"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Not tried again: the connection stays down.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!bob.with(|c| Ok(c.is_connected())).unwrap());
    assert!(start.elapsed() < Duration::from_secs(60));
}
