//! Finding 3: a member cannot jam a room's group changes with an epoch from the
//! future (or one that overflows), and a commit the server did not order as one is
//! refused by the clients instead of forking the group.

use smc::client::hazmat::RawAccess;
use smc::proto::Request;
use smc::Refusal;

use super::{drain, pair, start, still_chatting, texts, unreadable};
use crate::support::evil::Evil;
use crate::support::{client, tempdir};

#[test]
fn group_changes_are_taken_for_exactly_the_current_epoch() {
    let dir = tempdir("adv_epoch_future");
    let server = start(&dir.join("server"), Default::default());
    let (mut alice, mut bob) = pair(&dir, &server, "r");
    // mallory becomes a member of the room (on the server and in the group).
    let (mut mallory, _actor) = super::mallory_in(&server, &mut alice, "r");
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

/// A genuine commit whose framing is rewritten to claim `epoch` (the epoch field of
/// an MLS PublicMessage follows the version, the wire format and the group id), and,
/// with `flip`, one byte of its signature changed: framing that says "a commit of
/// this group for the current epoch", content that does not verify.
fn reframed(commit: &[u8], epoch: u64, flip: bool) -> Vec<u8> {
    let mut out = commit.to_vec();
    assert_eq!(&out[2..4], &[0, 1], "a PublicMessage");
    let group_id_len = out[4] as usize;
    assert!(group_id_len < 64, "a one-byte length");
    let at = 5 + group_id_len;
    out[at..at + 8].copy_from_slice(&epoch.to_be_bytes());
    if flip {
        let last = out.len() - 10;
        out[last] ^= 0x55;
    }
    out
}

#[test]
fn a_well_framed_but_corrupt_or_misattributed_commit_cannot_take_the_epoch() {
    let dir = tempdir("adv_epoch_forged");
    let server = start(&dir.join("server"), Default::default());
    let (mut alice, mut bob) = pair(&dir, &server, "r");
    let mut carol = client(&dir.join("carol"), "carol", &server.address().to_string());
    alice.invite("r", "carol").unwrap();
    drain(&mut bob);
    drain(&mut carol);
    // A genuine commit of the room (alice's, adding carol) is the template.
    let stored = bob.history_envelopes("r", None, 100).unwrap();
    let template = stored
        .iter()
        .rev()
        .find(|e| e.commit_epoch.is_some())
        .unwrap();
    let epoch = template.commit_epoch.unwrap();

    // mallory is a member on the server (invited, accepted) and tries, for exactly the
    // current epoch: a corrupted commit, and alice's commit replayed under his name.
    let (mut mallory, _actor) = super::mallory_in(&server, &mut alice, "r");
    let current = epoch + 2;
    for (label, payload) in [
        (
            "replayed for the current epoch",
            reframed(&template.payload, current, false),
        ),
        ("corrupted", reframed(&template.payload, current, true)),
    ] {
        let refused = mallory.request(Request::Send {
            room: "r".into(),
            payload,
            commit_epoch: Some(current),
        });
        match refused {
            Err(Refusal::BadRequest { reason }) => {
                assert!(reason.contains("does not verify"), "{label}: {reason}")
            }
            other => panic!("{label}: {other:?}"),
        }
    }
    // The epoch is still free: the members go on changing the group and talking.
    let mut dave = client(&dir.join("dave"), "dave", &server.address().to_string());
    alice.invite("r", "dave").unwrap();
    alice.send("r", "welcome dave").unwrap();
    assert_eq!(texts(&drain(&mut dave)), ["welcome dave"]);
    assert_eq!(texts(&drain(&mut bob)), ["welcome dave"]);
    still_chatting(&mut alice, &mut bob, "r", "the forged commits");
}

#[test]
fn a_member_removed_by_a_commit_is_no_longer_routed() {
    let dir = tempdir("adv_epoch_unroute");
    let mut evil = Evil::start(&dir.join("server"));
    let address = evil.address.clone();
    let [alice, bob, mut carol] = super::room_with(&dir, &address, "r", &["alice", "bob", "carol"])
        .try_into()
        .unwrap();
    drop(alice);
    // carol asks to leave; her routing is put back behind the group's back (a server
    // bug, or a client that sent only the proposal).
    carol.leave("r").unwrap();
    drop((bob, carol));
    evil.tamper(|db| {
        db.execute(
            "INSERT INTO members (room, user, joined_seq) VALUES ('r', 'carol', 0)",
            [],
        )
        .unwrap();
    });
    // bob's client commits carol's removal (when idle, or before it sends): the
    // server's routing follows the group.
    let mut bob = client(&dir.join("bob"), "bob", &address);
    drain(&mut bob);
    bob.send("r", "carol is gone").unwrap();
    assert_eq!(bob.members("r").unwrap(), ["alice", "bob"]);
    assert_eq!(bob.routed_members("r").unwrap(), ["alice", "bob"]);
}
