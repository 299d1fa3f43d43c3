//! Finding 5: nobody can put someone into a room. An invitation is a request the
//! invitee accepts or declines; nothing of the room is routed to them before.

use smc::client::hazmat::RawAccess;
use smc::client::ChatEvent;
use smc::proto::Request;

use super::raw::Raw;
use super::{drain, start, texts};
use crate::support::tempdir;

fn open(dir: &std::path::Path, user: &str, address: &str) -> smc::Client {
    let mut c = smc::Client::open(dir.join(user), user).unwrap();
    c.connect(address).unwrap();
    c
}

#[test]
fn an_invitation_waits_for_consent_then_brings_what_was_said_since() {
    let dir = tempdir("adv_consent_accept");
    let server = start(&dir.join("server"), Default::default());
    let address = server.address().to_string();
    let mut alice = open(&dir, "alice", &address);
    let mut bob = open(&dir, "bob", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "said after the invitation").unwrap();

    let events = drain(&mut bob);
    assert!(
        events.contains(&ChatEvent::Invited {
            room: "r".into(),
            by: "alice".into()
        }),
        "{events:?}"
    );
    assert!(
        texts(&events).is_empty(),
        "nothing before consent: {events:?}"
    );
    assert!(bob.routed_rooms().unwrap().is_empty(), "not routed");
    assert!(bob.rooms().unwrap().is_empty(), "no group");
    let pending = bob.invitations().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].room.as_str(), pending[0].by.as_str()),
        ("r", "alice")
    );

    bob.accept("r").unwrap();
    let events = drain(&mut bob);
    assert!(
        events.contains(&ChatEvent::Joined {
            room: "r".into(),
            by: "alice".into()
        }),
        "{events:?}"
    );
    assert_eq!(texts(&events), ["said after the invitation"]);
    assert_eq!(bob.members("r").unwrap(), ["alice", "bob"]);
    assert!(bob.invitations().unwrap().is_empty());
    bob.send("r", "thanks").unwrap();
    assert_eq!(alice.recv(super::WAIT).unwrap().unwrap().text, "thanks");
}

#[test]
fn a_declined_invitation_leaves_the_group_and_routes_nothing() {
    let dir = tempdir("adv_consent_decline");
    let server = start(&dir.join("server"), Default::default());
    let address = server.address().to_string();
    let mut alice = open(&dir, "alice", &address);
    let mut carol = open(&dir, "carol", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "carol").unwrap();
    // Declined at once (the Welcome may still be on its way: decline waits for it).
    carol.decline("r").unwrap();
    assert!(carol.invitations().unwrap().is_empty());
    assert!(matches!(
        carol.accept("r"),
        Err(smc::ClientError::Refused(smc::Refusal::NotInvited { .. }))
    ));
    // alice's client commits carol's self-removal before it sends again.
    drain(&mut alice);
    alice.send("r", "just us").unwrap();
    assert_eq!(alice.members("r").unwrap(), ["alice"]);
    assert!(carol.routed_rooms().unwrap().is_empty());
    assert!(carol.rooms().unwrap().is_empty());
    assert!(texts(&drain(&mut carol)).is_empty());
}

#[test]
fn junk_sent_to_a_room_someone_was_pushed_into_never_reaches_them() {
    let dir = tempdir("adv_consent_junk");
    let server = start(&dir.join("server"), Default::default());
    let address = server.address().to_string();
    let mut bob = open(&dir, "bob", &address);
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    mallory
        .request(Request::CreateRoom {
            room: "spam".into(),
            group_info: None,
        })
        .unwrap();
    mallory
        .request(Request::Invite {
            room: "spam".into(),
            user: "bob".into(),
        })
        .unwrap();
    for i in 0..50 {
        mallory
            .request(Request::Send {
                room: "spam".into(),
                payload: format!("junk {i}").into_bytes().repeat(1000),
                commit_epoch: None,
            })
            .unwrap();
    }
    // Without a Welcome, there is not even an invitation event; nothing is routed.
    assert!(drain(&mut bob).is_empty());
    assert!(bob.routed_rooms().unwrap().is_empty());
    assert!(bob.rooms().unwrap().is_empty());
    // bob reconnects: still nothing of it; he declines the invitation he sees listed.
    bob.connect(&address).unwrap();
    assert!(drain(&mut bob).is_empty());
    assert_eq!(bob.invitations().unwrap().len(), 1);
    bob.decline("spam").unwrap();
    assert!(bob.invitations().unwrap().is_empty());
}

#[test]
fn another_member_cannot_take_over_or_withdraw_an_invitation() {
    let dir = tempdir("adv_consent_takeover");
    let server = start(&dir.join("server"), Default::default());
    let address = server.address().to_string();
    let mut alice = crate::support::client(&dir.join("alice"), "alice", &address);
    let mut bob = open(&dir, "bob", &address);
    alice.create_room("r").unwrap();
    let (mut mallory, _) = super::mallory_in(&server, &mut alice, "r");
    alice.invite("r", "bob").unwrap();
    let taken = mallory.request(Request::Invite {
        room: "r".into(),
        user: "bob".into(),
    });
    assert!(
        matches!(&taken, Err(smc::Refusal::BadRequest { reason }) if reason.contains("already has an invitation")),
        "{taken:?}"
    );
    mallory
        .request(Request::Uninvite {
            room: "r".into(),
            user: "bob".into(),
        })
        .unwrap();
    let pending = bob.invitations().unwrap();
    assert_eq!(pending.len(), 1, "withdrawn by someone else: {pending:?}");
    assert_eq!(pending[0].by, "alice");
    drain(&mut bob);
    bob.accept("r").unwrap();
    alice.send("r", "welcome bob").unwrap();
    assert_eq!(texts(&drain(&mut bob)), ["welcome bob"]);
}

#[test]
fn a_decline_carries_no_oversized_or_foreign_farewell() {
    let dir = tempdir("adv_consent_farewell");
    let server = start(&dir.join("server"), Default::default());
    let address = server.address().to_string();
    let mut alice = crate::support::client(&dir.join("alice"), "alice", &address);
    alice.create_room("r").unwrap();
    let mut eve = Raw::hello(server.address(), "eve").unwrap();
    alice
        .request(Request::Invite {
            room: "r".into(),
            user: "eve".into(),
        })
        .unwrap();
    for (farewell, why) in [
        // Too large to be a message at all: refused before it is even parsed.
        (vec![0u8; smc::net::MAX_PAYLOAD + 1], "at most"),
        (b"not an MLS proposal".to_vec(), "MLS proposal"),
    ] {
        let refused = eve.request(Request::Decline {
            room: "r".into(),
            farewell: Some(farewell),
        });
        assert!(
            matches!(&refused, Err(smc::Refusal::BadRequest { reason }) if reason.contains(why)),
            "{refused:?}"
        );
    }
    // Refused, nothing lost: the invitation is still there to decline properly.
    eve.request(Request::Decline {
        room: "r".into(),
        farewell: None,
    })
    .unwrap();
    assert!(alice.history_envelopes("r", None, 10).unwrap().is_empty());
}

/// A hostile server turns mallory's invitation of bob into a membership (bob never
/// accepted): bob's client sees the server claim he is in the room with mallory, and
/// still asks him. He reads nothing of it until he says yes.
#[test]
fn a_server_that_claims_the_user_is_already_in_a_room_does_not_skip_consent() {
    let dir = tempdir("adv_consent_hostile_server");
    let mut evil = crate::support::evil::Evil::start(&dir.join("server"));
    let address = evil.address.clone();
    let mut mallory = crate::support::client(&dir.join("mallory"), "mallory", &address);
    // bob exists (registered, key packages published), then goes offline.
    drop(open(&dir, "bob", &address));
    mallory.create_room("lure").unwrap();
    mallory.invite("lure", "bob").unwrap();
    mallory.send("lure", "read me, bob").unwrap();
    drop(mallory);
    evil.tamper(|db| {
        let moved = db
            .execute(
                "INSERT INTO members (room, user, joined_seq)
                 SELECT room, user, joined_seq FROM invitations WHERE room = 'lure' AND user = 'bob'",
                [],
            )
            .unwrap();
        assert_eq!(moved, 1, "the invitation was there to turn into a membership");
        db.execute("DELETE FROM invitations WHERE room = 'lure'", [])
            .unwrap();
    });
    let mut bob = open(&dir, "bob", &address);
    assert_eq!(
        bob.routed_rooms().unwrap(),
        ["lure"],
        "the server claims bob is in the room"
    );
    let events = drain(&mut bob);
    assert!(
        events.contains(&ChatEvent::Invited {
            room: "lure".into(),
            by: "mallory".into()
        }),
        "asked, as an invitation: {events:?}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, ChatEvent::Joined { .. })),
        "joined without consent: {events:?}"
    );
    assert!(
        texts(&events).is_empty(),
        "read without consent: {events:?}"
    );
    assert!(bob.rooms().unwrap().is_empty(), "no group without consent");
    // Reopened, still not joined.
    drop(bob);
    let mut bob = open(&dir, "bob", &address);
    assert!(texts(&drain(&mut bob)).is_empty());
    assert!(bob.rooms().unwrap().is_empty());
    // bob says yes: now he joins and reads it.
    bob.accept("lure").unwrap();
    let events = drain(&mut bob);
    assert!(
        events.contains(&ChatEvent::Joined {
            room: "lure".into(),
            by: "mallory".into()
        }),
        "{events:?}"
    );
    assert_eq!(texts(&events), ["read me, bob"], "{events:?}");
    assert_eq!(bob.rooms().unwrap(), ["lure"]);
}
