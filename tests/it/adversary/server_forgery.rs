//! A malicious server rewrites who sent a genuine message, or replays it into another
//! room: neither is ever shown under the wrong name or in the wrong room.

use rusqlite::params;

use super::{drain, texts, unreadable};
use crate::support::evil::Evil;
use crate::support::{client, tempdir};

#[test]
fn a_rewritten_sender_or_a_message_moved_to_another_room_is_refused() {
    let dir = tempdir("adv_forgery");
    let mut evil = Evil::start(&dir.join("server"));
    let address = evil.address.clone();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    let mut carol = client(&dir.join("carol"), "carol", &address);
    for room in ["r", "s"] {
        alice.create_room(room).unwrap();
        alice.invite(room, "bob").unwrap();
        alice.invite(room, "carol").unwrap();
    }
    drain(&mut bob);
    drain(&mut carol);
    drop(bob);
    let said = alice.send("r", "I, alice, approve the payment").unwrap();
    drop((alice, carol));

    evil.tamper(|db| {
        // The stored message now claims to be carol's...
        db.execute(
            "UPDATE messages SET sender = 'carol' WHERE room = 'r' AND seq = ?1",
            [said.seq as i64],
        )
        .unwrap();
        // ...and a copy of it is appended to room s, as alice's.
        let last: i64 = db
            .query_row("SELECT last_seq FROM rooms WHERE name = 's'", [], |r| {
                r.get(0)
            })
            .unwrap();
        db.execute(
            "INSERT INTO messages (room, seq, sender, ts_ms, payload, commit_epoch)
             SELECT 's', ?2, 'alice', ts_ms, payload, NULL FROM messages
             WHERE room = 'r' AND seq = ?1",
            params![said.seq as i64, last + 1],
        )
        .unwrap();
        db.execute(
            "UPDATE rooms SET last_seq = ?1 WHERE name = 's'",
            [last + 1],
        )
        .unwrap();
    });
    let mut bob = client(&dir.join("bob"), "bob", &address);
    let events = drain(&mut bob);
    assert!(texts(&events).is_empty(), "shown: {events:?}");
    let reasons = unreadable(&events);
    assert_eq!(reasons.len(), 2, "{events:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("not by the sender the server names")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("another group")),
        "{reasons:?}"
    );
}

#[test]
fn names_with_control_characters_from_a_server_are_never_passed_on() {
    let dir = tempdir("adv_forged_names");
    let mut evil = Evil::start(&dir.join("server"));
    let address = evil.address.clone();
    let [mut alice, bob] = super::room_with(&dir, &address, "r", &["alice", "bob"])
        .try_into()
        .unwrap();
    drop(bob);
    let said = alice.send("r", "hello").unwrap();
    alice.send("r", "still here").unwrap();
    evil.tamper(|db| {
        db.execute(
            "UPDATE messages SET sender = ?2 WHERE room = 'r' AND seq = ?1",
            params![said.seq as i64, "alice\u{1b}]0;owned\u{7}"],
        )
        .unwrap();
    });
    let mut bob = client(&dir.join("bob"), "bob", &address);
    let events = drain(&mut bob);
    assert_eq!(texts(&events), ["still here"], "{events:?}");
    for event in &events {
        let names: Vec<&str> = match event {
            smc::client::ChatEvent::Message(m) => vec![&m.sender, &m.room],
            smc::client::ChatEvent::Undecryptable { sender, room, .. } => vec![sender, room],
            _ => vec![],
        };
        assert!(
            names.iter().all(|n| !n.chars().any(char::is_control)),
            "a control character was passed on: {event:?}"
        );
    }
}
