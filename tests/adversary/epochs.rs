//! Finding 3: a member cannot jam a room's group changes with an epoch from the
//! future (or one that overflows), and a commit the server did not order as one is
//! refused by the clients instead of forking the group.

use smc::proto::Request;
use smc::Refusal;

use crate::evil::Evil;
use crate::raw::Raw;
use crate::support::mls::Actor;
use crate::support::{client, tempdir};
use crate::{drain, pair, start, still_chatting, texts, unreadable};

#[test]
fn group_changes_are_taken_for_exactly_the_current_epoch() {
    let dir = tempdir("adv_epoch_future");
    let server = start(&dir.join("server"), Default::default());
    let (mut alice, mut bob) = pair(&dir, &server, "r");
    // mallory becomes a member of the room (on the server and in the group).
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    let actor = Actor::new(b"mallory");
    mallory
        .request(Request::PublishKeyPackages {
            packages: vec![actor.key_package()],
            last_resort: None,
        })
        .unwrap();
    alice.invite("r", "mallory").unwrap();
    mallory
        .request(Request::Accept { room: "r".into() })
        .unwrap();
    drain(&mut bob);

    // Junk marked as the change of any epoch (the current one, 2, included), or an
    // epoch that overflows: refused, and the room's epoch does not move.
    for claimed in [1u64 << 40, u64::MAX, 1 << 63, 2, 3, 0] {
        let refused = mallory.request(Request::Send {
            room: "r".into(),
            payload: b"not even a commit".to_vec(),
            commit_epoch: Some(claimed),
        });
        assert!(
            matches!(refused, Err(Refusal::BadRequest { .. })),
            "epoch {claimed}: {refused:?}"
        );
    }
    // A real commit of the room's group, marked with an epoch from the future or
    // one that would overflow: refused as well.
    let commit = bob.history_envelopes("r", None, 100).unwrap();
    let real = commit.iter().find(|e| e.commit_epoch == Some(1)).unwrap();
    for claimed in [1u64 << 40, u64::MAX, 1 << 63] {
        let refused = mallory.request(Request::Send {
            room: "r".into(),
            payload: real.payload.clone(),
            commit_epoch: Some(claimed),
        });
        assert!(
            matches!(refused, Err(Refusal::BadRequest { .. })),
            "epoch {claimed}: {refused:?}"
        );
    }
    // Replayed for the epoch it was made for: stale, nothing stored.
    let stale = mallory.request(Request::Send {
        room: "r".into(),
        payload: real.payload.clone(),
        commit_epoch: Some(1),
    });
    assert!(
        matches!(stale, Err(Refusal::Stale { current: 2 })),
        "{stale:?}"
    );
    // The same commit sent unmarked would fork the group: refused.
    let unmarked = mallory.request(Request::Send {
        room: "r".into(),
        payload: real.payload.clone(),
        commit_epoch: None,
    });
    assert!(
        matches!(unmarked, Err(Refusal::BadRequest { .. })),
        "{unmarked:?}"
    );

    // The room's membership can still change: carol is added and reads the room.
    let mut carol = client(&dir.join("carol"), "carol", &server.address().to_string());
    alice.invite("r", "carol").unwrap();
    alice.send("r", "welcome carol").unwrap();
    assert_eq!(texts(&drain(&mut carol)), ["welcome carol"]);
    let events = drain(&mut bob);
    assert_eq!(texts(&events), ["welcome carol"]);
    assert_eq!(
        bob.members("r").unwrap(),
        ["alice", "bob", "carol", "mallory"]
    );
    still_chatting(&mut alice, &mut bob, "r", "the epoch jam");
}

#[test]
fn a_commit_without_its_marking_and_a_marked_non_commit_are_refused() {
    let dir = tempdir("adv_epoch_marking");
    let mut evil = Evil::start(&dir.join("server"));
    let address = evil.address.clone();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    let _carol = client(&dir.join("carol"), "carol", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "one").unwrap();
    assert_eq!(texts(&drain(&mut bob)), ["one"]);
    drop(bob);
    // Offline, bob misses a real commit (carol added) and a message.
    alice.invite("r", "carol").unwrap();
    let sent = alice.send("r", "two").unwrap();
    drop(alice);
    // The server strips the commit's marking, and marks the message as a commit.
    evil.tamper(|db| {
        db.execute(
            "UPDATE messages SET commit_epoch = NULL WHERE room = 'r' AND commit_epoch = 1",
            [],
        )
        .unwrap();
        db.execute(
            "UPDATE messages SET commit_epoch = 2 WHERE room = 'r' AND seq = ?1",
            [sent.seq as i64],
        )
        .unwrap();
    });
    let mut bob = client(&dir.join("bob"), "bob", &address);
    let events = drain(&mut bob);
    let reasons = unreadable(&events);
    assert!(
        reasons.iter().any(|r| r.contains("not sent as one")),
        "{events:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("marked as") || r.contains("group change")),
        "{events:?}"
    );
    assert!(texts(&events).is_empty(), "{events:?}");
    // bob's group did not move to the epoch the server hid.
    assert_eq!(bob.members("r").unwrap(), ["alice", "bob"]);
}
