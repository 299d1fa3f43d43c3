//! Finding 1: a Welcome can neither replace the group of a room its recipient is in,
//! nor come from someone the server does not route in that room, nor smuggle in a
//! member whose name is invalid or hidden.

use smc::proto::{Reply, Request};

use crate::raw::Raw;
use crate::support::mls::Actor;
use crate::support::tempdir;
use crate::{drain, pair, start, still_chatting, unreadable};

fn key_package_of(raw: &mut Raw, user: &str) -> Vec<u8> {
    match raw.request(Request::FetchKeyPackage { user: user.into() }) {
        Ok(Reply::KeyPackage(bytes)) => bytes,
        other => panic!("{other:?}"),
    }
}

fn send_direct(raw: &mut Raw, user: &str, payload: Vec<u8>) {
    raw.request(Request::SendDirect {
        user: user.into(),
        payload,
    })
    .unwrap();
}

#[test]
fn an_outsiders_welcome_does_not_replace_the_group_of_a_room_and_cannot_read_it() {
    let dir = tempdir("adv_welcome_replace");
    let server = start(&dir.join("server"), Default::default());
    let (mut alice, mut bob) = pair(&dir, &server, "general");

    // mallory, an ordinary registered user outside the room, builds his own group
    // named after the room, with bob in it, and queues its Welcome for bob.
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    let actor = Actor::new(b"mallory");
    let mut fake = actor.group("general");
    let package = key_package_of(&mut mallory, "bob");
    let (welcome, _) = actor.add(&mut fake, "general", &[package]);
    send_direct(&mut mallory, "bob", welcome);

    let events = drain(&mut bob);
    let refused = unreadable(&events);
    assert!(
        refused
            .iter()
            .any(|r| r.contains("invitation") && r.contains("already in room")),
        "{events:?}"
    );
    assert_eq!(bob.members("general").unwrap(), ["alice", "bob"]);

    // bob's next message, as the server stores it, means nothing to mallory's group.
    still_chatting(&mut alice, &mut bob, "general", "the fake Welcome");
    let stored = alice.history_envelopes("general", None, 10).unwrap();
    let from_bob = stored.iter().rev().find(|e| e.sender == "bob").unwrap();
    assert_eq!(actor.read(&mut fake, &from_bob.payload), None);
}

#[test]
fn a_welcome_for_a_room_the_server_does_not_route_to_the_user_is_refused() {
    let dir = tempdir("adv_welcome_unrouted");
    let server = start(&dir.join("server"), Default::default());
    let (mut alice, mut bob) = pair(&dir, &server, "general");
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    mallory
        .request(Request::CreateRoom {
            room: "prizes".into(),
            group_info: None,
        })
        .unwrap();
    let actor = Actor::new(b"mallory");
    let mut group = actor.group("prizes");
    let package = key_package_of(&mut mallory, "bob");
    let (welcome, _) = actor.add(&mut group, "prizes", &[package]);
    send_direct(&mut mallory, "bob", welcome);

    let events = drain(&mut bob);
    assert!(
        unreadable(&events)
            .iter()
            .any(|r| r.contains("no invitation to room \"prizes\"")),
        "{events:?}"
    );
    assert!(!bob.joined_rooms().unwrap().contains(&"prizes".to_string()));
    still_chatting(&mut alice, &mut bob, "general", "the unrouted Welcome");
}

#[test]
fn a_welcome_hiding_a_member_or_signed_by_someone_else_is_refused() {
    let dir = tempdir("adv_welcome_roster");
    let server = start(&dir.join("server"), Default::default());
    let (mut alice, mut bob) = pair(&dir, &server, "general");
    // mallory creates rooms of his own and routes bob into them (as an inviter may).
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    let invite = |mallory: &mut Raw, room: &str| {
        mallory
            .request(Request::CreateRoom {
                room: room.into(),
                group_info: None,
            })
            .unwrap();
        mallory
            .request(Request::Invite {
                room: room.into(),
                user: "bob".into(),
            })
            .unwrap();
    };
    let actor = Actor::new(b"mallory");
    for (room, hidden) in [
        ("den1", b"\xff\xfeeve".as_slice()), // not UTF-8: used to vanish from the roster
        ("den2", b"eve\n\x1b[2J".as_slice()), // control characters
        ("den3", "eve\u{200b}".as_bytes()),  // invisible
    ] {
        invite(&mut mallory, room);
        let eve = Actor::new(hidden);
        let mut group = actor.group(room);
        let bob_package = key_package_of(&mut mallory, "bob");
        let (welcome, _) = actor.add(&mut group, room, &[eve.key_package(), bob_package]);
        send_direct(&mut mallory, "bob", welcome);
        let events = drain(&mut bob);
        assert!(
            unreadable(&events).iter().any(|r| r.contains("a member's")),
            "{room}: {events:?}"
        );
        assert!(!bob.joined_rooms().unwrap().contains(&room.to_string()));
    }

    // Signed by "alice" (a credential mallory made up), queued by mallory.
    invite(&mut mallory, "den4");
    let fake_alice = Actor::new(b"alice");
    let mut group = fake_alice.group("den4");
    let bob_package = key_package_of(&mut mallory, "bob");
    let (welcome, _) = fake_alice.add(&mut group, "den4", &[bob_package]);
    send_direct(&mut mallory, "bob", welcome);
    let events = drain(&mut bob);
    assert!(
        unreadable(&events)
            .iter()
            .any(|r| r.contains("signed by \"alice\" but sent by \"mallory\"")),
        "{events:?}"
    );

    // The same rules let an honest invitation through.
    invite(&mut mallory, "den5");
    let mut group = actor.group("den5");
    let bob_package = key_package_of(&mut mallory, "bob");
    let (welcome, _) = actor.add(&mut group, "den5", &[bob_package]);
    send_direct(&mut mallory, "bob", welcome);
    drain(&mut bob);
    assert_eq!(bob.members("den5").unwrap(), ["bob", "mallory"]);
    still_chatting(&mut alice, &mut bob, "general", "the hidden members");
}
