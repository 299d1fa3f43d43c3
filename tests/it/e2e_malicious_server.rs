//! A malicious server: the real server, with its database edited between runs (stop,
//! tamper, start on the same address). Replays, reorders, drops, forged group changes,
//! a member added behind the group's back, swapped key packages and a changed user key
//! are each detected or have no effect, and the user is told.

use std::path::Path;

use rusqlite::{params, Connection};
use smc::client::ChatEvent;
use smc::{Client, ClientError, E2eError};

use crate::support::{
    self, client,
    events::{drain, texts, unreadable},
    evil::Evil,
    tempdir, WAIT,
};

/// alice and bob in room "r", bob has read everything.
fn pair(dir: &Path, evil: &Evil) -> (Client, Client) {
    let mut alice = client(&dir.join("alice"), "alice", &evil.address);
    let mut bob = client(&dir.join("bob"), "bob", &evil.address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "hello").unwrap();
    assert_eq!(texts(&drain(&mut bob)), ["hello"]);
    (alice, bob)
}

/// Appends a stored message of room r again, as a new one.
fn replay(conn: &Connection, seq: u64) {
    let last: i64 = conn
        .query_row("SELECT last_seq FROM rooms WHERE name = 'r'", [], |r| {
            r.get(0)
        })
        .unwrap();
    conn.execute(
        "INSERT INTO messages (room, seq, sender, ts_ms, payload, commit_epoch)
         SELECT room, ?2, sender, ts_ms, payload, commit_epoch FROM messages
         WHERE room = 'r' AND seq = ?1",
        params![seq as i64, last + 1],
    )
    .unwrap();
    conn.execute(
        "UPDATE rooms SET last_seq = ?1 WHERE name = 'r'",
        [last + 1],
    )
    .unwrap();
}

/// Flips the last byte of stored message `seq` of room r (inside its AEAD tag).
fn corrupt(conn: &Connection, seq: u64) {
    let mut payload: Vec<u8> = conn
        .query_row(
            "SELECT payload FROM messages WHERE room = 'r' AND seq = ?1",
            [seq as i64],
            |r| r.get(0),
        )
        .unwrap();
    *payload.last_mut().unwrap() ^= 0x01;
    conn.execute(
        "UPDATE messages SET payload = ?2 WHERE room = 'r' AND seq = ?1",
        params![seq as i64, payload],
    )
    .unwrap();
}

#[test]
fn a_replayed_message_is_reported_and_not_shown_twice() {
    let dir = tempdir("evil_replay");
    let mut evil = Evil::start(&dir.join("server"));
    let (mut alice, mut bob) = pair(&dir, &evil);
    let sent = alice.send("r", "transfer 100 € to bob").unwrap();
    assert_eq!(texts(&drain(&mut bob)), ["transfer 100 € to bob"]);
    drop(bob);
    evil.tamper(|db| replay(db, sent.seq));
    let mut bob = client(&dir.join("bob"), "bob", &evil.address);
    let events = drain(&mut bob);
    assert!(texts(&events).is_empty(), "{events:?}");
    let reasons = unreadable(&events);
    assert_eq!(reasons.len(), 1, "{events:?}");
    assert!(reasons[0].contains("replayed"), "{reasons:?}");
    // recv reports it as an error too, then goes on.
    drop(alice);
    let mut alice = client(&dir.join("alice"), "alice", &evil.address);
    alice.send("r", "next").unwrap();
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "next");
    let history: Vec<String> = support::history_texts(&bob, "r", 10);
    assert_eq!(history, ["hello", "transfer 100 € to bob", "next"]);
}

#[test]
fn a_corrupted_message_in_a_catch_up_is_undone_alone_and_the_rest_is_read() {
    // The catch-up handles queued messages as a run in one state transaction: the one
    // that cannot be read must be rolled back alone (its keys, its cursor), reported
    // once, and neither stop nor spoil the messages around it.
    let dir = tempdir("evil_corrupt_run");
    let mut evil = Evil::start(&dir.join("server"));
    let (mut alice, bob) = pair(&dir, &evil);
    drop(bob);
    let seqs: Vec<u64> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|t| alice.send("r", t).unwrap().seq)
        .collect();
    // "c" cannot be read any more.
    evil.tamper(|db| corrupt(db, seqs[2]));
    let mut bob = client(&dir.join("bob"), "bob", &evil.address);
    let events = drain(&mut bob);
    assert_eq!(texts(&events), ["a", "b", "d", "e"], "{events:?}");
    assert_eq!(unreadable(&events).len(), 1, "{events:?}");
    assert!(events.iter().any(|e| matches!(
        e,
        ChatEvent::Undecryptable { seq, .. } if *seq == seqs[2]
    )));
    // Everything was committed once: nothing comes again after a restart.
    drop(bob);
    let mut bob = client(&dir.join("bob"), "bob", &evil.address);
    assert!(drain(&mut bob).is_empty());
    assert_eq!(
        support::history_texts(&bob, "r", 10),
        ["hello", "a", "b", "d", "e"]
    );
    drop(alice);
    let mut alice = client(&dir.join("alice"), "alice", &evil.address);
    alice.send("r", "after").unwrap();
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "after");
}

#[test]
fn a_batch_stops_before_an_unreadable_message_which_is_reported_alone() {
    // recv_many hands out several messages at once; an unreadable one among them must
    // neither be lost nor hide the messages around it: the batch stops before it, the
    // next call reports it, the call after that goes on.
    let dir = tempdir("evil_batch");
    let mut evil = Evil::start(&dir.join("server"));
    let (mut alice, bob) = pair(&dir, &evil);
    drop(bob);
    let texts_sent = ["a", "b", "c", "d", "e", "f", "g"];
    let seqs: Vec<u64> = texts_sent
        .iter()
        .map(|t| alice.send("r", t).unwrap().seq)
        .collect();
    evil.tamper(|db| corrupt(db, seqs[2]));
    let mut bob = client(&dir.join("bob"), "bob", &evil.address);
    // What the calls return, in order: a text, or "!" for the unreadable message.
    let mut seen: Vec<String> = Vec::new();
    loop {
        match bob.recv_many(2, support::events::QUIET) {
            Ok(batch) if batch.is_empty() => break,
            Ok(batch) => {
                assert!(batch.len() <= 2, "more than max: {batch:?}");
                seen.extend(batch.into_iter().map(|m| m.text));
            }
            Err(ClientError::Undecryptable { seq, .. }) => {
                assert_eq!(seq, seqs[2]);
                seen.push("!".into());
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(seen, ["a", "b", "!", "d", "e", "f", "g"]);
    // Handed out once: nothing again after a restart.
    drop(bob);
    let mut bob = client(&dir.join("bob"), "bob", &evil.address);
    assert!(bob
        .recv_many(100, support::events::QUIET)
        .unwrap()
        .is_empty());
}

#[test]
fn reordered_and_dropped_messages_are_noticed() {
    let dir = tempdir("evil_order");
    let mut evil = Evil::start(&dir.join("server"));
    let (mut alice, bob) = pair(&dir, &evil);
    drop(bob);
    let seqs: Vec<u64> = ["one", "two", "three", "four"]
        .iter()
        .map(|t| alice.send("r", t).unwrap().seq)
        .collect();
    evil.tamper(|db| {
        // Swap "one" and "two"; drop "three".
        let payload = |seq: u64| -> Vec<u8> {
            db.query_row(
                "SELECT payload FROM messages WHERE room = 'r' AND seq = ?1",
                [seq as i64],
                |r| r.get(0),
            )
            .unwrap()
        };
        let (one, two) = (payload(seqs[0]), payload(seqs[1]));
        db.execute(
            "UPDATE messages SET payload = ?2 WHERE room = 'r' AND seq = ?1",
            params![seqs[0] as i64, two],
        )
        .unwrap();
        db.execute(
            "UPDATE messages SET payload = ?2 WHERE room = 'r' AND seq = ?1",
            params![seqs[1] as i64, one],
        )
        .unwrap();
        db.execute(
            "DELETE FROM messages WHERE room = 'r' AND seq = ?1",
            [seqs[2] as i64],
        )
        .unwrap();
    });
    let mut bob = client(&dir.join("bob"), "bob", &evil.address);
    let events = drain(&mut bob);
    // Both reordered messages are readable, in the order served; the gap each time the
    // counter jumps is reported.
    assert_eq!(texts(&events), ["two", "one", "four"], "{events:?}");
    let missing: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Missing { sender, count, .. } if sender == "alice" => Some(*count),
            _ => None,
        })
        .collect();
    assert_eq!(
        missing,
        [1, 1],
        "one before 'two' (late 'one'), one before 'four' (dropped 'three')"
    );
    assert!(unreadable(&events).is_empty());
}

#[test]
fn the_server_cannot_add_a_member_nor_forge_a_group_change() {
    let dir = tempdir("evil_add");
    let mut evil = Evil::start(&dir.join("server"));
    let (mut alice, bob) = pair(&dir, &evil);
    drop(bob);
    drop(client(&dir.join("mallory"), "mallory", &evil.address));
    let sent = alice.send("r", "just between us").unwrap();
    drop(alice);
    evil.tamper(|db| {
        // Route the room to mallory, and inject group changes "from alice": random
        // bytes, and a real ciphertext with one byte flipped.
        db.execute(
            "INSERT INTO members (room, user, joined_seq) VALUES ('r', 'mallory', 0)",
            [],
        )
        .unwrap();
        let last: i64 = db
            .query_row("SELECT last_seq FROM rooms WHERE name = 'r'", [], |r| {
                r.get(0)
            })
            .unwrap();
        let mut copy: Vec<u8> = db
            .query_row(
                "SELECT payload FROM messages WHERE room = 'r' AND seq = ?1",
                [sent.seq as i64],
                |r| r.get(0),
            )
            .unwrap();
        let n = copy.len();
        copy[n - 10] ^= 0x55;
        for (i, payload) in [vec![7u8; 300], copy].into_iter().enumerate() {
            db.execute(
                "INSERT INTO messages (room, seq, sender, ts_ms, payload, commit_epoch)
                 VALUES ('r', ?1, 'alice', 0, ?2, 2)",
                params![last + 1 + i as i64, payload],
            )
            .unwrap();
        }
        db.execute(
            "UPDATE rooms SET last_seq = ?1 WHERE name = 'r'",
            [last + 2],
        )
        .unwrap();
    });
    let mut mallory = client(&dir.join("mallory"), "mallory", &evil.address);
    // Routed to mallory by the server, but not one of mallory's rooms: no group.
    assert!(mallory.routed_rooms().unwrap().contains(&"r".to_string()));
    assert!(!mallory.rooms().unwrap().contains(&"r".to_string()));
    let seen = drain(&mut mallory);
    assert!(texts(&seen).is_empty(), "mallory reads nothing: {seen:?}");
    assert!(mallory.history("r", 10).unwrap().is_empty());

    let mut bob = client(&dir.join("bob"), "bob", &evil.address);
    let events = drain(&mut bob);
    assert_eq!(texts(&events), ["just between us"]);
    assert_eq!(unreadable(&events).len(), 2, "{events:?}");
    // The group is unchanged: mallory is routed the room, but not in it.
    assert_eq!(bob.members("r").unwrap(), ["alice", "bob"]);
    assert!(bob
        .routed_members("r")
        .unwrap()
        .contains(&"mallory".to_string()));
    let mut alice = client(&dir.join("alice"), "alice", &evil.address);
    drain(&mut alice);
    alice.send("r", "still fine").unwrap();
    assert_eq!(texts(&drain(&mut bob)), ["still fine"]);
    assert!(texts(&drain(&mut mallory)).is_empty());
}

#[test]
fn swapped_key_packages_and_a_changed_key_are_refused_until_acknowledged() {
    let dir = tempdir("evil_keys");
    let mut evil = Evil::start(&dir.join("server"));
    let (mut alice, bob) = pair(&dir, &evil);
    drop(client(&dir.join("carol"), "carol", &evil.address));
    let before = alice.safety_number("bob").unwrap();
    assert_eq!(before, bob.safety_number("alice").unwrap());
    drop(bob);
    alice.create_room("r2").unwrap();

    // 1. bob's key packages replaced by carol's.
    evil.tamper(|db| {
        db.execute("DELETE FROM key_packages WHERE user = 'bob'", [])
            .unwrap();
        db.execute(
            "UPDATE key_packages SET user = 'bob' WHERE user = 'carol'",
            [],
        )
        .unwrap();
    });
    drop(alice);
    let mut alice = client(&dir.join("alice"), "alice", &evil.address);
    let err = alice.invite("r2", "bob").unwrap_err();
    assert!(
        matches!(&err, ClientError::E2e(E2eError::BadKeyPackage { user, reason }) if user == "bob" && reason.contains("carol")),
        "{err:?}"
    );

    // 2. A key package for "bob" made with another key (an impostor's, from another
    // server's directory).
    let other = Evil::start(&dir.join("other_server"));
    drop(client(&dir.join("impostor"), "bob", &other.address));
    let forged: Vec<Vec<u8>> = {
        let db = Connection::open(dir.join("other_server/smc.db")).unwrap();
        let mut stmt = db
            .prepare("SELECT package FROM key_packages WHERE user = 'bob'")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    drop(alice);
    evil.tamper(|db| {
        db.execute("DELETE FROM key_packages WHERE user = 'bob'", [])
            .unwrap();
        for p in &forged {
            db.execute(
                "INSERT INTO key_packages (user, package, last_resort) VALUES ('bob', ?1, 0)",
                [p],
            )
            .unwrap();
        }
    });
    let mut alice = client(&dir.join("alice"), "alice", &evil.address);
    let err = alice.invite("r2", "bob").unwrap_err();
    assert!(
        matches!(&err, ClientError::E2e(E2eError::KeyChanged { user }) if user == "bob"),
        "{err:?}"
    );
    let events = drain(&mut alice);
    assert!(
        events.contains(&ChatEvent::KeyChanged { user: "bob".into() }),
        "{events:?}"
    );
    assert!(!alice.members("r2").unwrap().contains(&"bob".to_string()));
    // The room bob is in is closed to alice's messages until she acknowledges.
    let err = alice.send("r", "are you still you?").unwrap_err();
    assert!(matches!(&err, ClientError::E2e(E2eError::KeyChanged { user }) if user == "bob"));
    assert_ne!(
        alice.safety_number("bob").unwrap(),
        before,
        "the number changed"
    );
    assert!(!alice.is_verified("bob").unwrap());
    alice.acknowledge_key_change("bob").unwrap();
    alice.send("r", "are you still you?").unwrap();
}
