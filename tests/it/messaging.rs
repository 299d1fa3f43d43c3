//! The server and client on loopback: rooms, real-time and offline delivery,
//! restarts, identities and pinned keys.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use smc::client::{ChatEvent, MAX_TEXT};
use smc::proto::{Event, ServerFrame};
use smc::{Client, ClientError, Refusal, Server};

use crate::support::{self, server, tempdir, WAIT};

fn client(home: &Path, user: &str, server: &Server) -> Client {
    let mut c = Client::open(home, user).unwrap();
    c.set_auto_join(true);
    c.connect(&server.address().to_string()).unwrap();
    c
}

#[test]
fn a_message_reaches_a_member_waiting_in_recv_at_once() {
    let dir = tempdir("v2_realtime");
    let server = server(&dir.join("server"));
    let mut alice = client(&dir.join("alice"), "alice", &server);
    // bob accepts invitations himself (no auto-join).
    let mut bob = Client::open(dir.join("bob"), "bob").unwrap();
    bob.connect(&server.address().to_string()).unwrap();
    alice.create_room("general").unwrap();
    alice.invite("general", "bob").unwrap();
    // An invitation: routed to bob once he accepts it.
    assert!(bob.rooms().unwrap().is_empty());
    assert!(bob.routed_rooms().unwrap().is_empty());
    bob.accept("general").unwrap();
    assert_eq!(bob.rooms().unwrap(), vec!["general"]);
    assert_eq!(alice.members("general").unwrap(), vec!["alice", "bob"]);

    // bob is blocked in recv before alice sends: the message is pushed to him.
    let receiver = std::thread::spawn(move || {
        let m = bob.recv(WAIT).unwrap().expect("a message");
        (m, bob)
    });
    std::thread::sleep(Duration::from_millis(100));
    let sent = alice.send("general", "Bonjour Bob !").unwrap();
    let (got, mut bob) = receiver.join().unwrap();
    assert_eq!(got.text, "Bonjour Bob !");
    assert_eq!(got.sender, "alice");
    assert_eq!(got.room, "general");
    assert_eq!(got.id, sent.id);
    assert_eq!(got.timestamp, sent.timestamp);
    // Nothing else for bob, and alice does not get her own message back.
    assert!(bob
        .recv(Some(Duration::from_millis(200)))
        .unwrap()
        .is_none());
    let own = alice.recv(Some(Duration::from_millis(500))).unwrap();
    assert!(own.is_none(), "alice got her own message back: {own:?}");
}

#[test]
fn the_server_pushes_a_message_to_a_member_who_asks_for_nothing() {
    // Real time without polling: once bob's session is up, the server writes alice's
    // message to his connection although bob sends no request at all. bob is a raw
    // protocol session, so nothing on his side can be fetching.
    let dir = tempdir("v2_push");
    let server = server(&dir.join("server"));
    let mut alice = client(&dir.join("alice"), "alice", &server);
    alice.create_room("general").unwrap();
    let (mut bob, _mls) = support::raw::member(&server, &mut alice, "general", "bob");
    // What the invitation brought (the Welcome, the commit) first.
    while bob.next_frame(Duration::from_millis(500)).is_some() {}
    let sent = alice.send("general", "pushed to bob").unwrap();
    // Room messages come in order: the commit that added bob (after the point where
    // he joined) first, then alice's message.
    let mut frame = bob.next_frame(WAIT.unwrap());
    while let Some(ServerFrame::Event(Event::Message(e))) = &frame {
        if e.id == sent.id {
            break;
        }
        assert!(e.seq < sent.seq, "{e:?} before the message sent");
        frame = bob.next_frame(WAIT.unwrap());
    }
    match frame {
        Some(ServerFrame::Event(Event::Message(envelope))) => {
            assert_eq!(envelope.id, sent.id);
            assert_eq!(
                (envelope.room.as_str(), envelope.sender.as_str()),
                ("general", "alice")
            );
            // End-to-end encrypted: the server relayed ciphertext.
            assert!(!support::contains(&envelope.payload, b"pushed to bob"));
        }
        other => panic!("no message pushed: {other:?}"),
    }
}

#[test]
fn offline_members_get_what_they_missed_in_order_exactly_once() {
    let dir = tempdir("v2_offline");
    let server = server(&dir.join("server"));
    let mut alice = client(&dir.join("alice"), "alice", &server);
    let mut bob = client(&dir.join("bob"), "bob", &server);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "one").unwrap();
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "one");
    bob.close();
    for text in ["two", "three", "four"] {
        alice.send("r", text).unwrap();
    }
    drop(bob);
    // A new process for bob: same home.
    let mut bob = client(&dir.join("bob"), "bob", &server);
    let texts: Vec<String> = (0..3)
        .map(|_| bob.recv(WAIT).unwrap().unwrap().text)
        .collect();
    assert_eq!(texts, ["two", "three", "four"]);
    assert!(bob
        .recv(Some(Duration::from_millis(300)))
        .unwrap()
        .is_none());
    assert!(bob.is_synced());
    // Again: nothing shown twice.
    drop(bob);
    let mut bob = client(&dir.join("bob"), "bob", &server);
    assert!(bob
        .recv(Some(Duration::from_millis(300)))
        .unwrap()
        .is_none());
    let history: Vec<String> = support::history_texts(&bob, "r", 10);
    assert_eq!(history, ["one", "two", "three", "four"]);
}

#[test]
fn a_restart_keeps_rooms_members_history_identity_and_pins() {
    let dir = tempdir("v2_restart");
    let data = dir.join("server");
    let srv = server(&data);
    let address = srv.address().to_string();
    let fingerprint = srv.fingerprint();
    let mut alice = client(&dir.join("alice"), "alice", &srv);
    let alice_fp = alice.fingerprint();
    let bob = client(&dir.join("bob"), "bob", &srv);
    alice.create_room("kept").unwrap();
    alice.invite("kept", "bob").unwrap();
    alice.send("kept", "before the restart").unwrap();
    drop(bob);
    drop(alice);
    srv.stop();

    let srv = support::server_at(&data, &address);
    assert_eq!(srv.fingerprint(), fingerprint);
    let mut alice = client(&dir.join("alice"), "alice", &srv);
    assert_eq!(alice.fingerprint(), alice_fp);
    assert_eq!(alice.rooms().unwrap(), vec!["kept"]);
    // bob has not accepted yet: invited, not joined.
    assert_eq!(alice.members("kept").unwrap(), vec!["alice"]);
    assert_eq!(alice.invitees("kept").unwrap(), vec!["bob"]);
    let mut bob = client(&dir.join("bob"), "bob", &srv);
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "before the restart");
    // He accepted (auto-join) when his client came back: he joined.
    assert_eq!(alice.members("kept").unwrap(), vec!["alice", "bob"]);
    assert!(alice.invitees("kept").unwrap().is_empty());
    let history = alice.history("kept", 10).unwrap();
    assert_eq!(history.len(), 1);
    // Keys and the state are private files.
    for f in [data.join("server.key"), dir.join("alice/identity.key")] {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    for d in [data.clone(), dir.join("alice")] {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", d.display());
    }
    let pins = std::fs::read_to_string(dir.join("alice/known_servers")).unwrap();
    assert_eq!(pins.lines().count(), 1);
}

#[test]
fn a_changed_server_key_is_refused_before_the_client_identifies() {
    let dir = tempdir("v2_pin");
    let first = server(&dir.join("first"));
    let address = first.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &first);
    alice.close();
    first.stop();
    // Another server (another key) on the same address.
    let impostor = support::server_at(&dir.join("impostor"), &address);
    let err = alice.connect(&address).unwrap_err();
    match &err {
        ClientError::ServerKeyChanged {
            pinned, presented, ..
        } => {
            assert_ne!(pinned, presented);
            assert_eq!(presented, &impostor.fingerprint());
            let text = err.to_string();
            assert!(text.contains(pinned) && text.contains(presented), "{text}");
        }
        other => panic!("expected ServerKeyChanged, got {other:?}"),
    }
    // The impostor never learned the user: the name is still free there.
    let mut eve = Client::open(dir.join("eve"), "alice").unwrap();
    eve.set_auto_join(true);
    eve.connect(&address).unwrap();
}

#[test]
fn a_taken_name_with_another_key_is_refused() {
    let dir = tempdir("v2_taken");
    let server = server(&dir.join("server"));
    let alice = client(&dir.join("alice"), "alice", &server);
    let mut mallory = Client::open(dir.join("mallory"), "alice").unwrap();
    mallory.set_auto_join(true);
    let err = mallory.connect(&server.address().to_string()).unwrap_err();
    assert!(
        matches!(err, ClientError::Refused(Refusal::NameTaken { ref user }) if user == "alice"),
        "{err:?}"
    );
    // The owner can come back.
    drop(alice);
    let _again = client(&dir.join("alice"), "alice", &server);
}

#[test]
fn membership_rules_give_clear_refusals() {
    let dir = tempdir("v2_rules");
    let server = server(&dir.join("server"));
    let mut alice = client(&dir.join("alice"), "alice", &server);
    let mut carol = client(&dir.join("carol"), "carol", &server);
    alice.create_room("private").unwrap();
    assert!(matches!(
        alice.create_room("private").unwrap_err(),
        ClientError::Refused(Refusal::RoomExists { .. })
    ));
    assert!(matches!(
        carol.send("private", "let me in").unwrap_err(),
        ClientError::Refused(Refusal::NotAMember { .. })
    ));
    assert!(matches!(
        carol.members("private").unwrap_err(),
        ClientError::Refused(Refusal::NotAMember { .. })
    ));
    assert!(matches!(
        alice.invite("private", "nobody").unwrap_err(),
        ClientError::Refused(Refusal::UnknownUser { .. })
    ));
    assert!(matches!(
        alice.send("nowhere", "x").unwrap_err(),
        ClientError::Refused(Refusal::UnknownRoom { .. })
    ));
    assert!(matches!(
        alice.create_room("").unwrap_err(),
        ClientError::InvalidName { .. }
    ));
    alice.invite("private", "carol").unwrap();
    assert_eq!(carol.recv(Some(Duration::from_millis(300))).unwrap(), None);
    assert_eq!(carol.members("private").unwrap(), vec!["alice", "carol"]);
    carol.leave("private").unwrap();
    assert!(carol.rooms().unwrap().is_empty());
    // carol's removal is committed by alice's client when the proposal arrives.
    loop {
        match alice.recv_event(WAIT).unwrap().expect("carol's removal") {
            ChatEvent::MembersChanged { removed, .. } if removed == ["carol"] => break,
            _ => {}
        }
    }
    assert_eq!(alice.members("private").unwrap(), vec!["alice"]);
}

#[test]
fn many_members_all_get_every_message_in_the_same_order() {
    let dir = tempdir("v2_many");
    let server = server(&dir.join("server"));
    let mut owner = client(&dir.join("owner"), "owner", &server);
    owner.create_room("big").unwrap();
    let mut members: Vec<Client> = (0..12)
        .map(|i| client(&dir.join(format!("m{i}")), &format!("m{i}"), &server))
        .collect();
    for m in &members {
        owner.invite("big", m.user()).unwrap();
    }
    // Several senders at once.
    let senders: Vec<_> = members
        .drain(..3)
        .enumerate()
        .map(|(s, mut c)| {
            std::thread::spawn(move || {
                for i in 0..20 {
                    c.send("big", &format!("{s}:{i}")).unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let mut orders = Vec::new();
    for m in members.iter_mut() {
        let mut seqs = Vec::new();
        while seqs.len() < 60 {
            let e = m.recv(WAIT).unwrap().expect("all 60 messages");
            seqs.push((e.seq, e.text));
        }
        // The room's sequence also holds what is not a text (group changes, the
        // words that members joined): the texts' places only increase.
        assert!(seqs.windows(2).all(|w| w[0].0 < w[1].0), "in order");
        orders.push(seqs);
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "same order for everyone"
    );
}

#[test]
fn a_message_too_large_is_refused_with_a_clear_error_and_nothing_else_breaks() {
    let dir = tempdir("v2_large");
    let server = server(&dir.join("server"));
    let mut alice = client(&dir.join("alice"), "alice", &server);
    let mut bob = client(&dir.join("bob"), "bob", &server);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    let big = "x".repeat(MAX_TEXT); // the largest text: allowed, split across frames
    alice.send("r", &big).unwrap();
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text.len(), MAX_TEXT);
    let err = alice.send("r", &format!("{big}y")).unwrap_err();
    assert!(err.to_string().contains("exceeds"), "{err}");
    alice.send("r", "still fine").unwrap();
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "still fine");
}

#[test]
fn stopping_the_server_under_load_commits_everything_it_accepted() {
    let dir = tempdir("v2_stop_under_load");
    let data = dir.join("server");
    let server = server(&data);
    let address = server.address().to_string();
    let open = |user: &str| support::client(&dir.join(user), user, &address);
    let (mut alice, mut bob, mut carol, mut dave) =
        (open("alice"), open("bob"), open("carol"), open("dave"));
    alice.create_room("load").unwrap();
    for user in ["bob", "carol", "dave"] {
        alice.invite("load", user).unwrap();
    }
    for c in [&mut bob, &mut carol, &mut dave] {
        support::events::drain(c);
    }
    // dave, the witness, is away while three others send as fast as they can.
    drop(dave);
    let senders = support::Senders::start(vec![alice, bob, carol], "load");
    std::thread::sleep(Duration::from_millis(500));
    // A graceful stop while requests are in flight: it returns once drained.
    server.stop();
    let acked = senders.acknowledged();
    assert!(acked.len() > 20, "too little load: {}", acked.len());

    // What the store holds right after the stop (the server is not running).
    // The payloads that are not group changes, but for the words that bob, carol and
    // dave joined (one each).
    let stored: i64 = rusqlite::Connection::open(data.join("smc.db"))
        .unwrap()
        .query_row(
            "SELECT count(*) FROM messages WHERE room = 'load' AND commit_epoch IS NULL",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
        - 3;
    let _server = support::server_at(&data, &address);
    let mut dave = open("dave");
    let received = support::events::texts(&support::events::drain(&mut dave));
    let lost: Vec<&String> = acked.iter().filter(|t| !received.contains(t)).collect();
    assert!(lost.is_empty(), "acknowledged, then lost: {lost:?}");
    // Accepted means committed and answered: at most the one request each sender had
    // in flight when its connection closed is stored without its answer.
    let unanswered = received.len() - acked.len();
    assert!(
        unanswered <= 3,
        "{unanswered} stored but never acknowledged"
    );
    assert_eq!(
        received.len() as i64,
        stored,
        "every stored message is readable"
    );
}

/// Whether `fd` is readable within `ms` milliseconds.
fn readable(fd: std::os::fd::RawFd, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    n == 1 && p.revents & libc::POLLIN != 0
}

#[test]
fn a_background_client_stays_current_and_its_descriptor_says_when_an_event_waits() {
    let dir = tempdir("v2_background");
    let server = server(&dir.join("server"));
    let address = server.address().to_string();
    let mut alice = support::client(&dir.join("alice"), "alice", &address);
    let bob =
        smc::client::Background::start(support::client(&dir.join("bob"), "bob", &address)).unwrap();
    let fd = bob.readiness();
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    // bob joins on his own (auto-join, processed by his thread): no recv called.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !bob.with(|c| c.rooms()).unwrap().contains(&"r".to_string()) {
        assert!(std::time::Instant::now() < deadline, "bob never joined");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(bob.with(|c| c.members("r")).unwrap(), ["alice", "bob"]);
    assert_eq!(
        bob.with(|c| c.safety_number("alice")).unwrap(),
        alice.safety_number("bob").unwrap()
    );
    // The Joined event waits: readable until taken.
    assert!(readable(fd, 5000));
    while bob
        .recv_event(Some(Duration::from_millis(300)))
        .unwrap()
        .is_some()
    {}
    assert!(!readable(fd, 200), "nothing waits");
    alice.send("r", "ping").unwrap();
    assert!(readable(fd, 10_000), "a message waits");
    assert_eq!(
        bob.recv(Some(Duration::ZERO)).unwrap().unwrap().text,
        "ping"
    );
    assert!(!readable(fd, 200));
    // Closed: the home is free at once, later calls are refused.
    bob.close();
    drop(Client::open(dir.join("bob"), "bob").unwrap());
    assert!(matches!(
        bob.recv_event(Some(Duration::ZERO)),
        Err(ClientError::ConnectionClosed)
    ));
}

/// The longest timeout a caller can give (`Duration::MAX`, far past what the clock
/// holds) waits without end, in every `recv` of a plain client and a `Background` one:
/// turning it into a deadline used to panic (and in Python, `recv(1e300)` raised
/// `PanicException`).
#[test]
fn the_longest_timeout_waits_instead_of_panicking() {
    let dir = tempdir("v2_longest_timeout");
    let server = server(&dir.join("server"));
    let address = server.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &server);
    let mut bob = client(&dir.join("bob"), "bob", &server);
    bob.set_request_timeout(Duration::MAX);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "one").unwrap();
    let forever = Some(Duration::MAX);
    assert_eq!(bob.recv(forever).unwrap().unwrap().text, "one");
    alice.send("r", "two").unwrap();
    assert!(bob.recv_event(forever).unwrap().is_some());
    drop(bob);
    let bob =
        smc::client::Background::start(support::client(&dir.join("bob"), "bob", &address)).unwrap();
    alice.send("r", "three").unwrap();
    let texts: Vec<String> = std::iter::from_fn(|| bob.recv(forever).unwrap())
        .map(|m| m.text)
        .take_while(|t| t != "three")
        .collect();
    assert!(texts.iter().all(|t| t == "two"), "{texts:?}");
}
