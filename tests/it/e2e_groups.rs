//! End-to-end encryption with MLS, on a real server over loopback: groups of two,
//! three and fifty; invitations while offline; leaving; what the server stores. The
//! group tests run on every store (`support::stores`: SQLite and PostgreSQL), where the
//! server tracks and verifies each room's group.

use smc::client::hazmat::RawAccess;
use std::time::Duration;

use smc::client::ChatEvent;
use smc::Client;

use crate::support::{self, client, contains, copy_dir, files_under, tempdir};

const WAIT: Option<Duration> = Some(Duration::from_secs(20));

/// The next message, skipping other events.
fn next_text(c: &mut Client) -> (String, String) {
    let m = c.recv(WAIT).unwrap().expect("a message");
    (m.sender, m.text)
}

/// Reads events until `pred` matches one; returns everything read.
fn events_until(c: &mut Client, pred: impl Fn(&ChatEvent) -> bool) -> Vec<ChatEvent> {
    let mut seen = Vec::new();
    loop {
        let e = c
            .recv_event(WAIT)
            .unwrap()
            .unwrap_or_else(|| panic!("waited; saw {seen:?}"));
        let done = pred(&e);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

#[test]
fn two_and_three_members_read_each_other_and_agree_on_the_group() {
    for (store, start) in support::stores() {
        three_members(store, start);
    }
}

fn three_members(store: &str, start: support::Start) {
    let dir = tempdir(&format!("e2e_three_{store}"));
    let server = start(&dir.join("server"));
    let address = server.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    let mut carol = client(&dir.join("carol"), "carol", &address);

    alice.create_room("trio").unwrap();
    alice.invite("trio", "bob").unwrap();
    alice.send("trio", "two of us: ça va ?").unwrap();
    let joined = events_until(&mut bob, |e| matches!(e, ChatEvent::Message(_)));
    assert!(joined.contains(&ChatEvent::Joined {
        room: "trio".into(),
        by: "alice".into()
    }));
    let ChatEvent::Message(m) = joined.last().unwrap() else {
        unreachable!()
    };
    assert_eq!(
        (m.sender.as_str(), m.text.as_str()),
        ("alice", "two of us: ça va ?")
    );

    alice.invite("trio", "carol").unwrap();
    alice.send("trio", "three now 🎉").unwrap();
    assert_eq!(
        next_text(&mut carol),
        ("alice".into(), "three now 🎉".into())
    );
    // carol did not get what was said before she joined.
    assert_eq!(carol.history("trio", 10).unwrap().len(), 1);
    assert_eq!(next_text(&mut bob), ("alice".into(), "three now 🎉".into()));
    bob.send("trio", "hi carol").unwrap();
    carol.send("trio", "hi both").unwrap();
    assert_eq!(next_text(&mut alice), ("bob".into(), "hi carol".into()));
    assert_eq!(next_text(&mut alice), ("carol".into(), "hi both".into()));
    assert_eq!(next_text(&mut carol), ("bob".into(), "hi carol".into()));
    assert_eq!(next_text(&mut bob), ("carol".into(), "hi both".into()));
    for c in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(c.members("trio").unwrap(), ["alice", "bob", "carol"]);
    }
    // Each side computes the same safety number for the pair.
    assert_eq!(
        alice.safety_number("bob").unwrap(),
        bob.safety_number("alice").unwrap()
    );
    assert_ne!(
        alice.safety_number("bob").unwrap(),
        alice.safety_number("carol").unwrap()
    );
    assert!(!alice.is_verified("bob").unwrap());
    alice.verify("bob").unwrap();
    assert!(alice.is_verified("bob").unwrap());
}

#[test]
fn concurrent_group_changes_are_ordered_by_the_server_and_retried() {
    for (store, start) in support::stores() {
        concurrent_group_changes(store, start);
    }
}

fn concurrent_group_changes(store: &str, start: support::Start) {
    let dir = tempdir(&format!("e2e_race_{store}"));
    let server = start(&dir.join("server"));
    let address = server.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    let names = ["carol", "dave", "erin", "frank"];
    let mut others: Vec<Client> = names
        .iter()
        .map(|n| client(&dir.join(n), n, &address))
        .collect();
    alice.create_room("race").unwrap();
    alice.invite("race", "bob").unwrap();
    alice.send("race", "bob, invite people too").unwrap();
    assert_eq!(next_text(&mut bob).1, "bob, invite people too");
    // alice and bob add two people each at the same moment: for each epoch the server
    // keeps the first commit; the other side's is refused as stale, that side catches up
    // and commits again on the new epoch.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let run = |mut c: Client,
               invitees: [&'static str; 2],
               barrier: std::sync::Arc<std::sync::Barrier>| {
        std::thread::spawn(move || {
            barrier.wait();
            for who in invitees {
                c.invite("race", who).unwrap();
            }
            c
        })
    };
    let a = run(alice, ["carol", "dave"], barrier.clone());
    let b = run(bob, ["erin", "frank"], barrier);
    let (mut alice, mut bob) = (a.join().unwrap(), b.join().unwrap());
    let everyone = ["alice", "bob", "carol", "dave", "erin", "frank"];
    alice.send("race", "all six of us?").unwrap();
    assert_eq!(next_text(&mut bob).1, "all six of us?");
    for c in others.iter_mut() {
        assert_eq!(next_text(c).1, "all six of us?");
    }
    for c in others.iter_mut().chain([&mut alice, &mut bob]) {
        assert_eq!(c.members("race").unwrap(), everyone);
    }
}

#[test]
fn an_invitation_waits_for_an_offline_member_who_then_reads_the_room() {
    let dir = tempdir("e2e_offline");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    // bob registers (and publishes key packages), then goes away.
    drop(client(&dir.join("bob"), "bob", &address));
    let mut alice = client(&dir.join("alice"), "alice", &address);
    alice.create_room("later").unwrap();
    alice.invite("later", "bob").unwrap();
    alice.send("later", "for when you are back").unwrap();
    alice.send("later", "and a second one").unwrap();

    let mut bob = client(&dir.join("bob"), "bob", &address);
    let seen = events_until(
        &mut bob,
        |e| matches!(e, ChatEvent::Message(m) if m.text == "and a second one"),
    );
    let texts: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Message(m) => Some(m.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["for when you are back", "and a second one"]);
    assert!(seen
        .iter()
        .any(|e| matches!(e, ChatEvent::Joined { room, .. } if room == "later")));
    bob.send("later", "back!").unwrap();
    assert_eq!(next_text(&mut alice), ("bob".into(), "back!".into()));
}

#[test]
fn accepting_a_room_already_joined_by_auto_join_changes_nothing() {
    let dir = tempdir("e2e_accept_twice");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address); // auto-join on
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    events_until(
        &mut bob,
        |e| matches!(e, ChatEvent::Joined { room, .. } if room == "r"),
    );
    // The program accepts too, as if it had not seen auto-join do it: no error, and
    // the room is the same.
    bob.accept("r").unwrap();
    bob.accept("r").unwrap();
    assert_eq!(bob.rooms().unwrap(), ["r"]);
    alice.send("r", "still one room").unwrap();
    assert_eq!(
        next_text(&mut bob),
        ("alice".into(), "still one room".into())
    );
    // A room never joined is still refused.
    assert!(bob.accept("elsewhere").is_err());
}

#[test]
fn an_invitee_is_invited_until_they_accept_and_every_member_hears_them_join() {
    let dir = tempdir("e2e_invitees");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut carol = client(&dir.join("carol"), "carol", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    bob.set_auto_join(false);
    alice.create_room("r").unwrap();
    alice.invite("r", "carol").unwrap();
    events_until(
        &mut carol,
        |e| matches!(e, ChatEvent::Joined { room, .. } if room == "r"),
    );
    events_until(
        &mut alice,
        |e| matches!(e, ChatEvent::MemberJoined { user, .. } if user == "carol"),
    );

    // Invited: in the group (he can read the room), not joined.
    alice.invite("r", "bob").unwrap();
    events_until(
        &mut carol,
        |e| matches!(e, ChatEvent::MembersChanged { added, .. } if added == &["bob"]),
    );
    for c in [&mut alice, &mut carol] {
        assert_eq!(c.members("r").unwrap(), ["alice", "carol"], "{}", c.user());
        assert_eq!(c.invitees("r").unwrap(), ["bob"], "{}", c.user());
    }
    events_until(
        &mut bob,
        |e| matches!(e, ChatEvent::Invited { room, .. } if room == "r"),
    );

    // He accepts: every other member hears it from him, once.
    bob.accept("r").unwrap();
    for c in [&mut carol, &mut alice] {
        let events = events_until(
            c,
            |e| matches!(e, ChatEvent::MemberJoined { room, user } if room == "r" && user == "bob"),
        );
        assert!(
            support::events::texts(&events).is_empty(),
            "the word that he joined is not a text: {events:?}"
        );
        assert_eq!(c.members("r").unwrap(), ["alice", "bob", "carol"]);
        assert!(c.invitees("r").unwrap().is_empty());
    }
    // Said once: nothing more of it comes, and nothing of it is in the history.
    alice.send("r", "welcome bob").unwrap();
    let events = events_until(&mut carol, |e| matches!(e, ChatEvent::Message(_)));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ChatEvent::MemberJoined { .. })),
        "{events:?}"
    );
    assert_eq!(
        support::history_texts(&carol, "r", 10),
        ["welcome bob"],
        "carol's history"
    );

    // Who joins later learns from the server who has not accepted yet: eve is invited
    // and away, dave joins after her.
    drop(client(&dir.join("eve"), "eve", &address));
    let mut dave = client(&dir.join("dave"), "dave", &address);
    alice.invite("r", "eve").unwrap();
    alice.invite("r", "dave").unwrap();
    events_until(
        &mut dave,
        |e| matches!(e, ChatEvent::Joined { room, .. } if room == "r"),
    );
    assert_eq!(
        dave.members("r").unwrap(),
        ["alice", "bob", "carol", "dave"]
    );
    assert_eq!(dave.invitees("r").unwrap(), ["eve"]);
}

#[test]
fn an_offline_invitee_gets_every_message_in_one_session_even_more_than_wait_in_memory() {
    // The server sends a room's missed messages before the direct queue that holds the
    // room's Welcome: the invitee keeps a bounded number of them in memory while it has
    // not joined (1,000). The rest must not be lost nor wait for a reconnect: they are
    // fetched once the Welcome is processed, in order, none twice.
    const N: usize = 1_100;
    let dir = tempdir("e2e_offline_backlog");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    drop(client(&dir.join("bob"), "bob", &address));
    let mut alice = client(&dir.join("alice"), "alice", &address);
    alice.create_room("backlog").unwrap();
    alice.invite("backlog", "bob").unwrap();
    for i in 0..N {
        alice.send("backlog", &format!("m{i}")).unwrap();
    }
    let mut bob = client(&dir.join("bob"), "bob", &address);
    let got: Vec<String> = (0..N).map(|_| next_text(&mut bob).1).collect();
    let sent: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    assert_eq!(got, sent);
    assert!(bob
        .recv(Some(Duration::from_millis(300)))
        .unwrap()
        .is_none());
    // And nothing is handed out again after a restart.
    drop(bob);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    assert!(bob
        .recv(Some(Duration::from_millis(300)))
        .unwrap()
        .is_none());
    assert_eq!(
        support::history_texts(&bob, "backlog", 2),
        ["m1098", "m1099"]
    );
}

#[test]
fn invitations_beyond_the_published_key_packages_use_the_last_resort_one() {
    let dir = tempdir("e2e_last_resort");
    // Thirteen invitations from someone bob shares no room with yet: more than a
    // stranger may hold by default.
    let server = support::server_with(
        &dir.join("server"),
        smc::net::Limits {
            invitations_per_stranger: 20,
            ..smc::net::Limits::default()
        },
    );
    let address = server.address().to_string();
    drop(client(&dir.join("bob"), "bob", &address));
    let mut alice = client(&dir.join("alice"), "alice", &address);
    // bob is offline: he cannot top up; the 10 one-use packages run out.
    let rooms: Vec<String> = (0..13).map(|i| format!("room{i}")).collect();
    for room in &rooms {
        alice.create_room(room).unwrap();
        alice.invite(room, "bob").unwrap();
        alice.send(room, &format!("welcome to {room}")).unwrap();
    }
    let mut bob = client(&dir.join("bob"), "bob", &address);
    let mut got = Vec::new();
    while got.len() < rooms.len() {
        got.push(next_text(&mut bob).1);
    }
    got.sort();
    let mut expected: Vec<String> = rooms.iter().map(|r| format!("welcome to {r}")).collect();
    expected.sort();
    assert_eq!(got, expected);
    // bob topped his packages up on joining.
    assert!(bob.key_package_count().unwrap() >= 4);
}

#[test]
fn after_leaving_new_messages_are_unreadable_to_the_leaver_even_with_its_old_keys() {
    let dir = tempdir("e2e_leave");
    let data = dir.join("server");
    let server = support::server(&data);
    let address = server.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    let mut carol = client(&dir.join("carol"), "carol", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.invite("r", "carol").unwrap();
    alice.send("r", "before carol leaves").unwrap();
    assert_eq!(next_text(&mut carol).1, "before carol leaves");
    assert_eq!(next_text(&mut bob).1, "before carol leaves");

    // An attacker keeps a copy of carol's whole state from while she was a member.
    carol.close();
    drop(carol);
    copy_dir(&dir.join("carol"), &dir.join("carol_copy"));
    let mut carol = client(&dir.join("carol"), "carol", &address);
    carol.leave("r").unwrap();

    // The remaining members commit her removal, then talk.
    let seen = events_until(
        &mut alice,
        |e| matches!(e, ChatEvent::MembersChanged { removed, .. } if removed == &["carol".to_string()]),
    );
    assert!(!seen
        .iter()
        .any(|e| matches!(e, ChatEvent::Undecryptable { .. })));
    alice.send("r", "after carol left").unwrap();
    let m = bob.recv(WAIT).unwrap().unwrap();
    assert_eq!(m.text, "after carol left");
    assert_eq!(bob.members("r").unwrap(), ["alice", "bob"]);
    drop(carol);

    // A malicious server routes the room to carol's old state again: the copy gets the
    // removal commit and the new message, and cannot read the message.
    server.stop();
    let conn = rusqlite::Connection::open(data.join("smc.db")).unwrap();
    conn.execute(
        "INSERT INTO members (room, user, joined_seq) VALUES ('r', 'carol', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let server = support::server_at(&data, &address);
    let mut copy = client(
        &dir.join("carol_copy"),
        "carol",
        &server.address().to_string(),
    );
    let mut texts = Vec::new();
    let mut unreadable = Vec::new();
    while let Some(e) = copy.recv_event(Some(Duration::from_secs(2))).unwrap() {
        match e {
            ChatEvent::Message(m) => texts.push(m.text),
            ChatEvent::Undecryptable { reason, .. } => unreadable.push(reason),
            _ => {}
        }
    }
    assert!(!texts.iter().any(|t| t == "after carol left"), "{texts:?}");
    assert!(
        !unreadable.is_empty(),
        "the new message is reported as unreadable"
    );
}

#[test]
fn fifty_members_join_one_by_one_and_all_read_the_room() {
    let dir = tempdir("e2e_fifty");
    // Fifty names from one address: more than an hour's default allowance.
    let server = support::server_with(
        &dir.join("server"),
        smc::net::Limits {
            registrations_per_address_per_hour: 0,
            ..smc::net::Limits::default()
        },
    );
    let address = server.address().to_string();
    let mut owner = client(&dir.join("m00"), "m00", &address);
    let mut members: Vec<Client> = (1..50)
        .map(|i| {
            let name = format!("m{i:02}");
            client(&dir.join(&name), &name, &address)
        })
        .collect();
    owner.create_room("fifty").unwrap();
    for m in &members {
        owner.invite("fifty", m.user()).unwrap();
    }
    owner.send("fifty", "hello, all 49 of you").unwrap();
    let mut expected: Vec<String> = (0..50).map(|i| format!("m{i:02}")).collect();
    expected.sort();
    for m in members.iter_mut() {
        assert_eq!(next_text(m), ("m00".into(), "hello, all 49 of you".into()));
        // All can read the room; those who have not accepted yet are invitees.
        let mut all = m.members("fifty").unwrap();
        all.extend(m.invitees("fifty").unwrap());
        all.sort();
        assert_eq!(all, expected);
    }
    members[24]
        .send("fifty", "a reply from the middle")
        .unwrap(); // m25
    assert_eq!(
        next_text(&mut owner),
        ("m25".into(), "a reply from the middle".into())
    );
    for (i, m) in members.iter_mut().enumerate() {
        if i != 24 {
            assert_eq!(next_text(m).1, "a reply from the middle");
        }
    }
}

#[test]
fn the_servers_data_directory_holds_none_of_the_plaintexts() {
    let dir = tempdir("e2e_scan");
    let data = dir.join("server");
    let server = support::server(&data);
    let address = server.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    alice.create_room("secret-room").unwrap();
    alice.invite("secret-room", "bob").unwrap();
    let said = [
        "Le code du coffre est 4729-ÉTÉ",
        "meet at the old mill at 22:00 🌙",
        "n'oublie pas la clé",
    ];
    for (i, text) in said.iter().enumerate() {
        if i % 2 == 0 {
            alice.send("secret-room", text).unwrap();
            assert_eq!(next_text(&mut bob).1, *text);
        } else {
            bob.send("secret-room", text).unwrap();
            assert_eq!(next_text(&mut alice).1, *text);
        }
    }
    let scan = |label: &str| {
        let files = files_under(&data);
        assert!(files.iter().any(|f| f.ends_with("smc.db")), "{files:?}");
        let mut stored_bytes = 0;
        let mut metadata_seen = false;
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            stored_bytes += bytes.len();
            // The positive control: what the server may know (the room's name) is
            // found by the same scan, so the scan does read what the server stored.
            metadata_seen |= contains(&bytes, b"secret-room");
            for text in said {
                assert!(
                    !contains(&bytes, text.as_bytes()),
                    "{label}: {text:?} in {}",
                    f.display()
                );
            }
            // Not even the longest word of each, in case of a partial copy.
            for word in ["4729-ÉTÉ", "old mill", "oublie"] {
                assert!(
                    !contains(&bytes, word.as_bytes()),
                    "{label}: {word:?} in {}",
                    f.display()
                );
            }
        }
        assert!(stored_bytes > 0);
        assert!(
            metadata_seen,
            "{label}: the scan did not even find the room's name"
        );
    };
    scan("while running");
    server.stop();
    scan("after a clean stop");
    // The messages are in the server's store, as ciphertext: one stored payload per
    // message (group changes aside), none holding its text.
    if std::env::var("SMC_TEST_STORE").as_deref() != Ok("postgres") {
        let db = rusqlite::Connection::open(data.join("smc.db")).unwrap();
        let mut stmt = db
            .prepare(
                "SELECT payload FROM messages WHERE room = 'secret-room' AND commit_epoch IS NULL",
            )
            .unwrap();
        let payloads: Vec<Vec<u8>> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        // And the word that bob joined (no text).
        assert_eq!(
            payloads.len(),
            said.len() + 1,
            "one stored payload per message"
        );
        for payload in &payloads {
            assert!(payload.len() > 16);
            for text in said {
                assert!(!contains(payload, text.as_bytes()));
            }
        }
    }
}

/// The text limit at its real edge: a text of exactly `MAX_TEXT` bytes (multi-byte
/// characters up to the last byte) is encrypted, stored and read whole by the other
/// member; one byte more is refused before anything is sent, and the room goes on.
#[test]
fn a_text_of_exactly_the_limit_arrives_whole_and_one_byte_more_is_refused() {
    let dir = tempdir("e2e_text_edge");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    let limit = smc::client::MAX_TEXT;
    // 'é' is two bytes: fill with it, then plain ASCII up to the exact limit.
    let mut text = "é".repeat(limit / 2 - 1);
    while text.len() < limit {
        text.push('x');
    }
    assert_eq!(text.len(), limit);
    alice.send("r", &text).unwrap();
    let got = next_text(&mut bob).1;
    assert_eq!(got.len(), limit);
    assert_eq!(got, text, "the text arrived altered");
    text.push('y');
    let refused = alice.send("r", &text);
    assert!(
        matches!(
            refused,
            Err(smc::ClientError::Net(smc::NetError::MessageTooLarge { size, limit: l }))
                if size == limit + 1 && l == limit
        ),
        "{refused:?}"
    );
    alice.send("r", "still fine").unwrap();
    assert_eq!(next_text(&mut bob).1, "still fine");
}
