//! Issue 27, finding 2: what strangers with throwaway names can fill. Names cost
//! (so many per address per hour); a user's invitations and direct queue keep room for
//! what people they know send; an invitation's Welcome is always delivered, and one
//! that never got through (its invitation expired) is sent again by inviting again;
//! one member cannot fill the server's disk (a storage quota per user).

use std::time::Duration;

use rusqlite::Connection;
use smc::net::Limits;
use smc::proto::Request;
use smc::Refusal;

use super::raw::Raw;
use super::{drain, pair, start, still_chatting, texts, WAIT};
use crate::support::{client, tempdir};

fn count(data: &std::path::Path, sql: &str) -> i64 {
    let db = Connection::open(data.join("smc.db")).unwrap();
    db.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn new_names_from_one_address_are_limited_per_hour() {
    let dir = tempdir("adv_strangers_names");
    let limits = Limits {
        registrations_per_address_per_hour: 5,
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let key = smc::identity::StaticKeypair::generate().unwrap();
    drop(Raw::hello_with(server.address(), "first", &key).unwrap());
    for i in 1..5 {
        drop(Raw::hello(server.address(), &format!("throwaway{i}")).unwrap());
    }
    // The sixth new name in the hour, from the same address, is refused...
    match Raw::hello(server.address(), "throwaway5") {
        Err(Refusal::RegistrationRefused { reason }) => {
            assert!(reason.contains("last hour"), "{reason}")
        }
        other => panic!("a sixth name was not refused: {:?}", other.map(|_| ())),
    }
    // ...and nothing of it is kept; a name registered before still connects.
    match Raw::hello(server.address(), "throwaway5") {
        Err(Refusal::RegistrationRefused { .. }) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
    drop(Raw::hello_with(server.address(), "first", &key).unwrap());
}

#[test]
fn twenty_names_filling_someones_queue_do_not_stop_an_invitation() {
    let dir = tempdir("adv_strangers_queue");
    let data = dir.join("server");
    let limits = Limits {
        registrations_per_address_per_hour: 0,
        direct_queue_count: 100,
        direct_per_sender: 5,
        directs_per_minute: 10_000,
        ..Limits::default()
    };
    let server = start(&data, limits);
    let address = server.address().to_string();
    let (mut alice, bob) = pair(&dir, &server, "r");
    drop(bob);
    // While bob is away, twenty names fill his queue, five deliveries each.
    for i in 0..20 {
        let mut name = Raw::hello(server.address(), &format!("junk{i}")).unwrap();
        for _ in 0..5 {
            name.request(Request::SendDirect {
                user: "bob".into(),
                payload: vec![0x42; 64],
            })
            .unwrap();
        }
    }
    let mut late = Raw::hello(server.address(), "junk20").unwrap();
    assert!(
        matches!(
            late.request(Request::SendDirect {
                user: "bob".into(),
                payload: vec![1],
            }),
            Err(Refusal::QuotaExceeded { .. })
        ),
        "the queue is full"
    );
    // alice invites him to a new room all the same: its Welcome is queued.
    alice.create_room("r2").unwrap();
    alice.invite("r2", "bob").unwrap();
    let mut bob = client(&dir.join("bob"), "bob", &address);
    drain(&mut bob);
    assert!(
        bob.joined_rooms().unwrap().contains(&"r2".to_string()),
        "bob joined r2"
    );
    alice.send("r2", "in r2").unwrap();
    assert_eq!(texts(&drain(&mut bob)), ["in r2"]);
    still_chatting(&mut alice, &mut bob, "r2", "a full queue");
}

#[test]
fn strangers_cannot_take_the_invitation_places_of_people_one_knows() {
    let dir = tempdir("adv_strangers_invitations");
    let limits = Limits {
        registrations_per_address_per_hour: 0,
        max_pending_invitations: 8,
        invitations_per_stranger: 2,
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let (mut alice, mut bob) = pair(&dir, &server, "r");
    let invite = |raw: &mut Raw, room: &str| {
        raw.request(Request::CreateRoom {
            room: room.into(),
            group_info: None,
        })
        .unwrap();
        raw.request(Request::Invite {
            room: room.into(),
            user: "bob".into(),
        })
    };
    // One stranger: two invitations, no more.
    let mut first = Raw::hello(server.address(), "stranger0").unwrap();
    invite(&mut first, "s0a").unwrap();
    invite(&mut first, "s0b").unwrap();
    assert!(matches!(
        invite(&mut first, "s0c"),
        Err(Refusal::QuotaExceeded { .. })
    ));
    // Strangers together: half of bob's places (4), no more.
    let mut second = Raw::hello(server.address(), "stranger1").unwrap();
    invite(&mut second, "s1a").unwrap();
    invite(&mut second, "s1b").unwrap();
    let mut third = Raw::hello(server.address(), "stranger2").unwrap();
    assert!(
        matches!(
            invite(&mut third, "s2a"),
            Err(Refusal::QuotaExceeded { .. })
        ),
        "a third stranger found room"
    );
    // alice, who shares a room with bob, still invites him, and he joins.
    alice.create_room("r2").unwrap();
    alice.invite("r2", "bob").unwrap();
    drain(&mut bob);
    assert!(bob.joined_rooms().unwrap().contains(&"r2".to_string()));
    still_chatting(&mut alice, &mut bob, "r2", "strangers' invitations");
}

#[test]
fn an_expired_invitation_is_withdrawn_and_inviting_again_sends_a_new_welcome() {
    let dir = tempdir("adv_strangers_expiry");
    let data = dir.join("server");
    let limits = Limits {
        invitation_lifetime: Duration::from_secs(2),
        ..Limits::default()
    };
    let server = start(&data, limits);
    let address = server.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    drop(client(&dir.join("bob"), "bob", &address));
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    assert_eq!(count(&data, "SELECT count(*) FROM invitations"), 1);
    assert_eq!(
        count(&data, "SELECT count(*) FROM directs"),
        1,
        "the Welcome"
    );
    // bob stays away past the invitation's lifetime: it is withdrawn, its Welcome too.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while count(&data, "SELECT count(*) FROM invitations") > 0 {
        assert!(std::time::Instant::now() < deadline, "never expired");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(count(&data, "SELECT count(*) FROM directs"), 0);
    // alice invites him again. He is still in her group (the first add), so only a
    // new leaf and a new Welcome can bring him in: he joins and reads the room.
    alice.invite("r", "bob").unwrap();
    let mut bob = client(&dir.join("bob"), "bob", &address);
    drain(&mut bob);
    assert!(
        bob.joined_rooms().unwrap().contains(&"r".to_string()),
        "bob never joined: the second invitation sent no Welcome"
    );
    alice.send("r", "welcome back").unwrap();
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "welcome back");
    still_chatting(&mut alice, &mut bob, "r", "an expired invitation");
    assert_eq!(
        alice.members("r").unwrap(),
        ["alice", "bob"],
        "one leaf for bob"
    );
}

#[test]
fn one_member_cannot_store_more_than_their_quota() {
    let dir = tempdir("adv_strangers_quota");
    let limits = Limits {
        max_stored_bytes_per_user: 600 * 1024,
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let (mut alice, mut bob) = pair(&dir, &server, "r");
    let big = "x".repeat(100 * 1024);
    let mut stored = 0;
    let refusal = loop {
        match alice.send("r", &big) {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 20, "never refused");
    };
    assert!(
        matches!(
            refusal,
            smc::ClientError::Refused(Refusal::QuotaExceeded { .. })
        ),
        "{refusal:?}"
    );
    assert!((4..=6).contains(&stored), "{stored} stored");
    assert_eq!(texts(&drain(&mut bob)).len(), stored);
    // bob's own allowance is untouched, and alice can still change the group.
    bob.send("r", "bob still talks").unwrap();
    assert_eq!(alice.recv(WAIT).unwrap().unwrap().text, "bob still talks");
    let address = server.address().to_string();
    let mut carol = client(&dir.join("carol"), "carol", &address);
    alice.invite("r", "carol").unwrap();
    drain(&mut carol);
    assert!(carol.joined_rooms().unwrap().contains(&"r".to_string()));
}
