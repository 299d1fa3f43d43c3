//! Finding 1: a Welcome can neither replace the group of a room its recipient is in,
//! nor come from someone the server does not route in that room, nor smuggle in a
//! member whose name is invalid or hidden.

use smc::client::hazmat::RawAccess;
use smc::client::ChatEvent;
use smc::proto::{Reply, Request};

use super::raw::Raw;
use super::{drain, pair, start, still_chatting, unreadable};
use crate::support::mls::Actor;
use crate::support::tempdir;

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
    let invite = room_inviting_bob;
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

#[test]
fn a_member_cannot_hand_out_a_group_of_his_own_making() {
    let dir = tempdir("adv_welcome_fake_group");
    let server = start(&dir.join("server"), Default::default());
    let address = server.address().to_string();
    let mut alice = crate::support::client(&dir.join("alice"), "alice", &address);
    let mut bob = crate::support::client(&dir.join("bob"), "bob", &address);
    alice.create_room("r").unwrap();
    // mallory is a real member of r.
    let (mut mallory, actor) = super::mallory_in(&server, &mut alice, "r");
    // He invites bob, but to a group he made with the room's group id: bob would talk
    // to mallory alone while believing he is in r.
    let stored = match mallory.request(Request::History {
        room: "r".into(),
        before: None,
        limit: 10,
    }) {
        Ok(Reply::Messages(m)) => m,
        other => panic!("{other:?}"),
    };
    let commit = smc::e2e::group::from_bytes(&stored[0].payload).unwrap();
    let group_id = commit
        .try_into_protocol_message()
        .unwrap()
        .group_id()
        .as_slice()
        .to_vec();
    mallory
        .request(Request::Invite {
            room: "r".into(),
            user: "bob".into(),
        })
        .unwrap();
    let mut fake = actor.group_with_id(&group_id);
    let package = key_package_of(&mut mallory, "bob");
    let (welcome, _) = actor.add(&mut fake, "r", &[package]);
    send_direct(&mut mallory, "bob", welcome);

    let events = drain(&mut bob);
    assert!(
        unreadable(&events)
            .iter()
            .any(|r| r.contains("not room \"r\"'s group as the server tracks it")),
        "{events:?}"
    );
    assert!(!bob.joined_rooms().unwrap().contains(&"r".to_string()));
    // A real invitation to the real group still works.
    alice.invite("r", "bob").unwrap();
    alice.send("r", "the real r").unwrap();
    assert_eq!(super::texts(&drain(&mut bob)), ["the real r"]);
}

/// A server that lets mallory invite bob without end (as a hostile server can: it signs
/// Welcomes as a user of its own, to bob's last-resort key package), mallory with a raw
/// client and hand-built Welcomes.
fn flood_server(dir: &std::path::Path) -> smc::Server {
    start(
        &dir.join("server"),
        smc::net::Limits {
            max_pending_invitations: 2_000,
            invitations_per_stranger: 1_000,
            direct_per_sender: 1_000,
            directs_per_minute: 10_000,
            key_package_fetches_per_minute: 10_000,
            ..Default::default()
        },
    )
}

/// mallory creates `room` (opaque) and records an invitation of bob to it.
fn room_inviting_bob(mallory: &mut Raw, room: &str) {
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
}

/// mallory creates `room` (opaque) and invites bob to it with a real Welcome.
fn invite_bob(mallory: &mut Raw, actor: &Actor, room: &str) {
    room_inviting_bob(mallory, room);
    let mut group = actor.group(room);
    let package = key_package_of(mallory, "bob");
    let (welcome, _) = actor.add(&mut group, room, &[package]);
    send_direct(mallory, "bob", welcome);
}

fn invited(events: &[ChatEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, ChatEvent::Invited { .. }))
        .count()
}

/// The client holds at most 256 undecided invitations, refuses the next ones with a
/// reason (declined on the server), and holds new ones again once the server no longer
/// holds an older one.
#[test]
fn a_flood_of_invitations_is_held_only_up_to_a_bound() {
    const HELD: usize = 256;
    let dir = tempdir("adv_welcome_flood");
    let server = flood_server(&dir);
    // bob decides for himself (no auto-join): the invitations wait in his state.
    let mut bob = smc::Client::open(dir.join("bob"), "bob").unwrap();
    bob.connect(&server.address().to_string()).unwrap();
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    let actor = Actor::new(b"mallory");
    for i in 0..=HELD {
        invite_bob(&mut mallory, &actor, &format!("flood{i}"));
    }
    let events = drain(&mut bob);
    assert_eq!(invited(&events), HELD, "held past the bound");
    assert!(
        unreadable(&events)
            .iter()
            .any(|r| r.contains("invitations") && r.contains("already wait")),
        "{:?}",
        unreadable(&events)
    );
    // The one past the bound was declined on the server, not left pending.
    assert_eq!(bob.invitations().unwrap().len(), HELD);

    // Once the server no longer holds one of them (withdrawn here), a new invitation
    // is held again: the bound counts what still waits, not what ever came.
    mallory
        .request(Request::Uninvite {
            room: "flood0".into(),
            user: "bob".into(),
        })
        .unwrap();
    invite_bob(&mut mallory, &actor, "after");
    let events = drain(&mut bob);
    assert!(
        events.contains(&ChatEvent::Invited {
            room: "after".into(),
            by: "mallory".into()
        }),
        "{events:?}"
    );
}

/// With auto-join, each queued invitation is accepted in turn, not one call deeper
/// than the one before: 300 queued invitations used to overflow the client's stack
/// (an abort, across the C and Python boundaries too).
#[test]
fn auto_join_takes_a_flood_of_queued_invitations_in_turn() {
    const ROOMS: usize = 300;
    let dir = tempdir("adv_welcome_flood_auto");
    let server = flood_server(&dir);
    let mut bob = smc::Client::open(dir.join("bob"), "bob").unwrap();
    bob.set_auto_join(true);
    bob.connect(&server.address().to_string()).unwrap();
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    let actor = Actor::new(b"mallory");
    for i in 0..ROOMS {
        invite_bob(&mut mallory, &actor, &format!("flood{i}"));
    }
    let events = drain(&mut bob);
    let joined = events
        .iter()
        .filter(|e| matches!(e, ChatEvent::Joined { .. }))
        .count();
    assert_eq!(
        (invited(&events), joined),
        (ROOMS, ROOMS),
        "{:?}",
        unreadable(&events)
    );
    assert_eq!(bob.rooms().unwrap().len(), ROOMS);
}
