//! Several server nodes (`smc server --store postgres://... --bus nats://...`, real
//! processes) on one PostgreSQL database and one NATS server: members on different
//! nodes chat in real time, a member catches up through another node, a node killed
//! with SIGKILL mid-traffic loses nothing acknowledged (its clients move to another
//! node by themselves), and the bus restarted mid-traffic loses nothing either.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smc::identity::StaticKeypair;
use smc::proto::{Event, Reply, Request, ServerFrame};
use smc::{Client, Refusal};

use crate::support::http::{http, sample};
use crate::support::nats::Peer;
use crate::support::nodes::Nodes;
use crate::support::raw::Raw;
use crate::support::{client, history_texts, tempdir};

const WAIT: Option<Duration> = Some(Duration::from_secs(20));

fn text(c: &mut Client) -> String {
    c.recv(WAIT).unwrap().expect("a message in time").text
}

/// Whether `recv` stays quiet for a while (nothing more, in particular no duplicate).
fn quiet(c: &mut Client) -> bool {
    c.recv(Some(Duration::from_millis(500))).unwrap().is_none()
}

/// Waits until node `admin`'s `/healthz` answers `status`.
fn health_becomes(admin: &str, status: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if http(admin, "GET", "/healthz").0 == status {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A room `r` of `clients` (the first creates it and invites the others), each member
/// having read the first message.
fn room(clients: &mut [Client]) {
    let (creator, others) = clients.split_first_mut().unwrap();
    creator.create_room("r").unwrap();
    for c in others.iter() {
        creator.invite("r", c.user()).unwrap();
    }
    creator.send("r", "welcome").unwrap();
    for c in others.iter_mut() {
        assert_eq!(text(c), "welcome");
    }
}

#[test]
fn members_on_different_nodes_chat_in_real_time_and_catch_up_through_another_node() {
    let cluster = Nodes::start("cluster_live", 3);
    let dir = tempdir("cluster_live_clients");
    let mut members: Vec<Client> = ["alice", "bob", "carol"]
        .iter()
        .enumerate()
        .map(|(i, user)| client(&dir.join(user), user, &cluster.node(i).address))
        .collect();
    room(&mut members);
    // Each member says something and the others read it: every message of the room's
    // making (the joins among them) has then reached every session, and is not counted
    // in the window measured below.
    for i in 0..members.len() {
        let said = format!("ready {i}");
        members[i].send("r", &said).unwrap();
        for (j, other) in members.iter_mut().enumerate() {
            if j != i {
                assert_eq!(text(other), said);
            }
        }
    }
    let [mut alice, mut bob, mut carol]: [Client; 3] = members.try_into().ok().unwrap();

    // Live across nodes; the metrics of each node show its share.
    let scrape = |i: usize| http(&cluster.node(i).admin, "GET", "/metrics").1;
    // Taken once no count moves for 200 ms (a push to the sender's own session may be
    // counted a moment after its send returned).
    let counts = |pages: &[String]| -> Vec<f64> {
        let names = [
            "smc_messages_committed_total",
            "smc_messages_delivered_total",
        ];
        pages
            .iter()
            .flat_map(|p| names.map(|name| sample(p, name)))
            .collect()
    };
    let mut before: Vec<String> = (0..3).map(scrape).collect();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let again: Vec<String> = (0..3).map(scrape).collect();
        if counts(&again) == counts(&before) {
            break;
        }
        before = again;
    }
    for i in 0..5 {
        bob.send("r", &format!("bob {i}")).unwrap();
    }
    for i in 0..5 {
        assert_eq!(text(&mut alice), format!("bob {i}"));
        assert_eq!(text(&mut carol), format!("bob {i}"));
    }
    let after: Vec<String> = (0..3).map(scrape).collect();
    let grew = |i: usize, name: &str| sample(&after[i], name) - sample(&before[i], name);
    let committed = "smc_messages_committed_total";
    let delivered = "smc_messages_delivered_total";
    assert_eq!(
        [grew(0, committed), grew(1, committed), grew(2, committed)],
        [0.0, 5.0, 0.0],
        "committed by the node bob is on"
    );
    // One member's session on each node: each node pushed each message once.
    assert_eq!(
        [grew(0, delivered), grew(1, delivered), grew(2, delivered)],
        [5.0, 5.0, 5.0]
    );
    for (i, page) in after.iter().enumerate() {
        assert_eq!(sample(page, "smc_sessions"), 1.0, "node {i}");
    }

    // carol goes away; alice and bob talk; carol comes back through another node.
    carol.close();
    for i in 0..5 {
        alice.send("r", &format!("alice {i}")).unwrap();
        bob.send("r", &format!("bob again {i}")).unwrap();
    }
    for i in 0..5 {
        assert_eq!(text(&mut alice), format!("bob again {i}"));
        assert_eq!(text(&mut bob), format!("alice {i}"));
    }
    carol.connect(&cluster.node(0).address).unwrap();
    let caught_up: Vec<String> = (0..10).map(|_| text(&mut carol)).collect();
    assert!(quiet(&mut carol), "nothing twice");
    let said = history_texts(&alice, "r", 10);
    assert_eq!(caught_up, said, "in the order everyone has");
    assert_eq!(history_texts(&bob, "r", 10), said);
    for i in 0..3 {
        assert_eq!(http(&cluster.node(i).admin, "GET", "/healthz").0, 200);
    }
}

/// A member sending `count` messages on its own thread, reconnecting through its list
/// of addresses when its node goes away; what it had acknowledged.
fn sender(
    mut c: Client,
    addresses: Vec<String>,
    count: usize,
    acked: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<Client> {
    std::thread::spawn(move || {
        for i in 0..count {
            let text = format!("{} {i}", c.user());
            match c.send("r", &text) {
                Ok(_) => acked.lock().unwrap().push(text),
                Err(e) if e.kind().is_disconnect() => {
                    // Its node is gone: the next one of its list, as an application
                    // does (the message stays in the outbox and goes out again).
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while let Err(e) = c.connect_any(&addresses) {
                        assert!(Instant::now() < deadline, "no node takes it: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
                Err(e) => panic!("{}: {e}", c.user()),
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        c
    })
}

/// Reads until nothing more comes; the texts read.
fn drain(c: &mut Client) -> Vec<String> {
    let mut texts = Vec::new();
    while let Some(m) = c.recv(Some(Duration::from_secs(2))).unwrap() {
        texts.push(m.text);
    }
    texts
}

#[test]
fn a_node_killed_mid_traffic_loses_nothing_acknowledged_and_its_clients_move() {
    let mut cluster = Nodes::start("cluster_kill", 3);
    let dir = tempdir("cluster_kill_clients");
    let users = ["alice", "bob", "carol"];
    let mut members: Vec<Client> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let mut c = Client::open(dir.join(user), user).unwrap();
            c.set_auto_join(true);
            let used = c.connect_any(&cluster.addresses_from(i)).unwrap();
            assert_eq!(used, cluster.addresses[i]);
            c
        })
        .collect();
    room(&mut members);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = members
        .into_iter()
        .enumerate()
        .map(|(i, c)| sender(c, cluster.addresses_from(i), 150, acked.clone()))
        .collect();
    // Mid-traffic: bob's node dies.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked
        .lock()
        .unwrap()
        .iter()
        .filter(|t| t.starts_with("bob"))
        .count()
        < 30
    {
        assert!(Instant::now() < deadline, "no traffic");
        std::thread::sleep(Duration::from_millis(10));
    }
    let bobs = |acked: &[String]| acked.iter().filter(|t| t.starts_with("bob")).count();
    let before_the_kill = bobs(&acked.lock().unwrap());
    cluster.kill(1);
    let mut members: Vec<Client> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let acked = acked.lock().unwrap().clone();
    // bob's node died at his ~30th message: the rest (but the one cut by the kill,
    // which stays in his outbox) were acknowledged through another node, his last one
    // included.
    assert!(
        bobs(&acked) >= before_the_kill + 100 && acked.contains(&"bob 149".to_owned()),
        "bob did not go on through another node: {} acknowledged, {before_the_kill} before the kill",
        bobs(&acked)
    );
    for c in &mut members {
        drain(c);
    }
    // Every member has every acknowledged message once, in one order.
    let histories: Vec<Vec<String>> = members
        .iter()
        .map(|c| history_texts(c, "r", 10_000))
        .collect();
    let order = |h: &Vec<String>| -> Vec<String> {
        h.iter().filter(|t| acked.contains(t)).cloned().collect()
    };
    let first = order(&histories[0]);
    assert_eq!(first.len(), acked.len(), "every acknowledged message, once");
    for (user, h) in users.iter().zip(&histories) {
        let mut seen = HashMap::new();
        for t in h {
            *seen.entry(t).or_insert(0) += 1;
        }
        assert!(seen.values().all(|n| *n == 1), "{user} has a duplicate");
        assert_eq!(order(h), first, "{user} has another order");
    }
    for i in [0, 2] {
        assert_eq!(http(&cluster.node(i).admin, "GET", "/healthz").0, 200);
    }
}

#[test]
fn the_bus_restarted_mid_traffic_delays_delivery_and_loses_nothing() {
    let mut cluster = Nodes::start("cluster_bus", 2);
    let dir = tempdir("cluster_bus_clients");
    let mut members = vec![
        client(&dir.join("alice"), "alice", &cluster.node(0).address),
        client(&dir.join("bob"), "bob", &cluster.node(1).address),
    ];
    room(&mut members);
    let [alice, mut bob]: [Client; 2] = members.try_into().ok().unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let addresses = vec![cluster.node(0).address.clone()];
    let thread = sender(alice, addresses, 200, acked.clone());
    while acked.lock().unwrap().len() < 20 {
        std::thread::sleep(Duration::from_millis(5));
    }
    cluster.nats.halt();
    for i in 0..2 {
        assert!(
            health_becomes(&cluster.node(i).admin, 503),
            "node {i} still ready without its bus"
        );
    }
    // Messages are still committed (the store is there) while the bus is down.
    let during = acked.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(300));
    assert!(acked.lock().unwrap().len() > during);
    cluster.nats.resume();
    let _alice = thread.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 200, "every send acknowledged");
    let got: Vec<String> = (0..200).map(|_| text(&mut bob)).collect();
    assert_eq!(got, acked, "everything, once, in order");
    assert!(quiet(&mut bob));
    for i in 0..2 {
        assert!(health_becomes(&cluster.node(i).admin, 200), "node {i}");
    }
}

#[test]
fn a_users_limits_hold_across_nodes() {
    let cluster = Nodes::start_with(
        "cluster_limits",
        3,
        &[
            "--max-sessions-per-user",
            "2",
            "--key-package-fetches-per-minute",
            "1",
        ],
    );
    let at = |i: usize| cluster.node(i).address.parse().unwrap();
    // Sessions: at most 2 of one user, whichever nodes hold them; the oldest goes.
    let key = StaticKeypair::generate().unwrap();
    let mut sessions: Vec<Raw> = Vec::new();
    for i in 0..3 {
        sessions.push(Raw::hello_with(at(i), "mallory", &key).unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        sessions[0].closed_within(Duration::from_secs(10)),
        "the oldest session, on node 0, is closed by a third one on node 2"
    );
    for s in &mut sessions[1..] {
        assert_eq!(s.request(Request::Ping), Ok(Reply::Pong));
    }

    // A rate (key package fetches: a burst of 100, then 1 a minute) spent on one node
    // is spent on the others too.
    let fetch = |s: &mut Raw| {
        s.request(Request::FetchKeyPackage {
            user: "mallory".into(),
        })
    };
    for _ in 0..60 {
        let r = fetch(&mut sessions[1]);
        assert!(!matches!(r, Err(Refusal::RateLimited { .. })), "{r:?}");
    }
    std::thread::sleep(Duration::from_millis(500));
    let limited =
        (0..60).position(|_| matches!(fetch(&mut sessions[2]), Err(Refusal::RateLimited { .. })));
    let limited = limited.expect("limited on node 2 by what was spent on node 1");
    assert!((35..=45).contains(&limited), "limited after {limited}");
}

#[test]
fn events_forged_or_replayed_on_the_bus_are_rejected() {
    // An intruder who can reach the NATS server (but has no server key) watches the
    // cluster's events and publishes its own: forged, altered, and replays of genuine
    // ones. The nodes reject them all, and the members see nothing of it.
    let cluster = Nodes::start("cluster_forgery", 2);
    let dir = tempdir("cluster_forgery_clients");
    let mut spy = Peer::connect(cluster.nats.port());
    let mut members = vec![
        client(&dir.join("alice"), "alice", &cluster.node(0).address),
        client(&dir.join("bob"), "bob", &cluster.node(1).address),
    ];
    room(&mut members);
    let [mut alice, mut bob]: [Client; 2] = members.try_into().ok().unwrap();
    alice.send("r", "genuine").unwrap();
    assert_eq!(text(&mut bob), "genuine");
    let captured = spy.collect(Duration::from_secs(1));
    assert!(!captured.is_empty(), "the spy sees the cluster's events");
    let subject = captured[0].0.clone();
    assert!(
        captured
            .iter()
            .all(|(_, p)| !crate::support::contains(p, b"genuine")),
        "the bus carries ciphertext only"
    );

    let events = |i: usize, outcome: &str| {
        let page = http(&cluster.node(i).admin, "GET", "/metrics").1;
        sample(
            &page,
            &format!("smc_bus_events_total{{outcome=\"{outcome}\"}}"),
        )
    };
    let rejected_before = events(0, "rejected") + events(1, "rejected");
    let applied_before = events(1, "applied");
    let mut altered = captured[0].1.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    spy.publish(&subject, &altered);
    spy.publish(&subject, b"not an event at all");
    for (_, payload) in &captured {
        spy.publish(&subject, payload);
    }
    // Both nodes reject the two forgeries; a replay is rejected by the node that did
    // not send it (a node ignores its own events).
    let forged = 4.0 + captured.len() as f64;
    let rejected = || events(0, "rejected") + events(1, "rejected") - rejected_before;
    let deadline = Instant::now() + Duration::from_secs(10);
    while rejected() < forged {
        assert!(Instant::now() < deadline, "not all rejected");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(quiet(&mut bob) && quiet(&mut alice), "nothing delivered");
    assert_eq!(rejected(), forged);
    assert_eq!(events(1, "applied"), applied_before, "nothing applied");
    // The cluster goes on.
    bob.send("r", "still fine").unwrap();
    assert_eq!(text(&mut alice), "still fine");
}

#[test]
fn a_direct_delivery_whose_bus_event_was_lost_still_arrives() {
    // Another node queued a delivery for bob and its event never reached bob's node
    // (lost on the bus without a disconnection): only the store has it. The node's
    // periodic comparison with the store finds it.
    let cluster = Nodes::start("cluster_lost_direct", 2);
    let key = StaticKeypair::generate().unwrap();
    let mut bob = Raw::hello_with(cluster.node(1).address.parse().unwrap(), "bob", &key).unwrap();
    let mut db = postgres::Client::connect(&cluster.url, postgres::NoTls).unwrap();
    db.execute(
        "INSERT INTO directs (recipient, sender, ts_ms, payload) VALUES ('bob', 'alice', 0, $1)",
        &[&b"its event was lost".to_vec()],
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "never delivered");
        if let Some(ServerFrame::Event(Event::Direct(d))) =
            bob.next_frame(Duration::from_millis(200))
        {
            assert_eq!(d.payload, b"its event was lost");
            break;
        }
    }
    // Once, not at every comparison.
    let again = (0..30).find_map(|_| match bob.next_frame(Duration::from_millis(250)) {
        Some(ServerFrame::Event(Event::Direct(d))) => Some(d),
        _ => None,
    });
    assert!(again.is_none(), "delivered again: {again:?}");
}

#[test]
fn a_room_message_whose_bus_event_was_lost_still_arrives_in_order() {
    // The same for a room: a message committed through another node whose event never
    // came, with no later message to reveal the gap. The node's periodic comparison of
    // its rooms' heads with the store's finds it.
    let cluster = Nodes::start("cluster_lost_message", 2);
    let at = |i: usize| cluster.node(i).address.parse().unwrap();
    let mut alice = Raw::hello(at(0), "alice").unwrap();
    let mut bob = Raw::hello(at(1), "bob").unwrap();
    assert_eq!(
        alice.request(Request::CreateRoom {
            room: "r".into(),
            group_info: None,
        }),
        Ok(Reply::Done)
    );
    alice
        .request(Request::Invite {
            room: "r".into(),
            user: "bob".into(),
        })
        .unwrap();
    bob.request(Request::Accept { room: "r".into() }).unwrap();
    alice
        .request(Request::Send {
            room: "r".into(),
            payload: b"first".to_vec(),
            commit_epoch: None,
        })
        .unwrap();
    let payloads = |bob: &mut Raw, want: usize, wait: u64| {
        let deadline = Instant::now() + Duration::from_secs(wait);
        let mut got = Vec::new();
        while got.len() < want && Instant::now() < deadline {
            if let Some(ServerFrame::Event(Event::Message(e))) =
                bob.next_frame(Duration::from_millis(200))
            {
                got.push((e.seq, e.payload));
            }
        }
        got
    };
    assert_eq!(payloads(&mut bob, 1, 20), [(1, b"first".to_vec())]);
    // Committed elsewhere; its event lost.
    let mut db = postgres::Client::connect(&cluster.url, postgres::NoTls).unwrap();
    let mut tx = db.transaction().unwrap();
    tx.execute(
        "INSERT INTO messages (room, seq, sender, ts_ms, payload, digest)
         VALUES ('r', 2, 'alice', 0, 'second', 'digest of the second')",
        &[],
    )
    .unwrap();
    tx.execute("UPDATE rooms SET last_seq = 2 WHERE name = 'r'", &[])
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(payloads(&mut bob, 1, 20), [(2, b"second".to_vec())]);
    // Not again at the next comparisons (one every 5 s).
    assert!(payloads(&mut bob, 1, 7).is_empty(), "once");
}

#[test]
fn a_membership_whose_bus_event_was_lost_still_routes_the_room_and_a_lost_leave_stops_it() {
    // Memberships changed through another node whose Joined / Left events never came
    // (lost on the bus without a disconnection): the node's periodic comparison with
    // the store routes the room to a user who joined, and stops routing it to one who
    // left.
    let cluster = Nodes::start("cluster_lost_membership", 2);
    let at = |i: usize| cluster.node(i).address.parse().unwrap();
    let mut alice = Raw::hello(at(0), "alice").unwrap();
    let mut bob = Raw::hello(at(1), "bob").unwrap();
    assert_eq!(
        alice.request(Request::CreateRoom {
            room: "r".into(),
            group_info: None,
        }),
        Ok(Reply::Done)
    );
    let send = |alice: &mut Raw, text: &str| {
        alice
            .request(Request::Send {
                room: "r".into(),
                payload: text.as_bytes().to_vec(),
                commit_epoch: None,
            })
            .unwrap();
    };
    let messages = |bob: &mut Raw, wait: u64| {
        let deadline = Instant::now() + Duration::from_secs(wait);
        let mut got = Vec::new();
        while Instant::now() < deadline {
            if let Some(ServerFrame::Event(Event::Message(e))) =
                bob.next_frame(Duration::from_millis(200))
            {
                got.push(String::from_utf8(e.payload).unwrap());
            }
        }
        got
    };
    // bob joins r through the store alone: no event reaches his node.
    let mut db = postgres::Client::connect(&cluster.url, postgres::NoTls).unwrap();
    db.execute(
        "INSERT INTO members (room, user_name, joined_seq) VALUES ('r', 'bob', 0)",
        &[],
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(6)); // one comparison with the store
    send(&mut alice, "to bob");
    assert_eq!(
        messages(&mut bob, 3),
        ["to bob"],
        "the joined room is routed"
    );
    // bob leaves r through the store alone.
    db.execute(
        "DELETE FROM members WHERE room = 'r' AND user_name = 'bob'",
        &[],
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    send(&mut alice, "not for bob");
    assert!(
        messages(&mut bob, 3).is_empty(),
        "a room left is still routed to bob"
    );
}

#[test]
fn a_session_whose_end_was_never_told_is_forgotten() {
    // Node 1 dies with a session of alice open: its SessionClosed is never published.
    // Every node says which sessions it holds every 5 s; after three sweeps without
    // word of it the other node forgets it, so it no longer counts against alice's
    // limit (2 here) and does not close one of her live sessions.
    let mut cluster =
        Nodes::start_with("cluster_lost_session", 2, &["--max-sessions-per-user", "2"]);
    let (a0, a1): (std::net::SocketAddr, std::net::SocketAddr) = (
        cluster.node(0).address.parse().unwrap(),
        cluster.node(1).address.parse().unwrap(),
    );
    let key = StaticKeypair::generate().unwrap();
    let mut first = Raw::hello_with(a0, "alice", &key).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let doomed = Raw::hello_with(a1, "alice", &key).unwrap();
    std::thread::sleep(Duration::from_secs(1)); // its opening reaches node 0
    cluster.kill(1);
    drop(doomed);
    std::thread::sleep(Duration::from_secs(22));
    let _newest = Raw::hello_with(a0, "alice", &key).unwrap();
    assert!(
        !first.closed_within(Duration::from_secs(2)),
        "a live session was closed for one on a dead node"
    );
}

#[test]
fn a_rate_spent_through_a_node_whose_word_was_lost_still_counts_on_the_other() {
    // Node 1 hears the bus through a proxy, unplugged while alice spends her burst of
    // direct deliveries (3, at 6 a minute) through node 0: node 0's word of each unit
    // never reaches node 1 (NATS keeps nothing for a subscriber that is away, and no
    // reconnection brings rates back). Node 0 says again at every sweep what it spent
    // of a rate not yet refilled: node 1 charges it, and does not grant alice a second
    // burst.
    let mut proxy = None;
    let cluster = Nodes::start_on_buses(
        "cluster_lost_spending",
        2,
        &["--directs-per-minute", "6"],
        |i, nats| {
            if i == 0 {
                return nats.to_owned();
            }
            let p = crate::support::fault_proxy::FaultProxy::start(
                nats.trim_start_matches("nats://"),
                1,
            );
            let url = format!("nats://{}", p.address);
            proxy = Some(p);
            url
        },
    );
    let proxy = proxy.unwrap();
    let at = |i: usize| cluster.node(i).address.parse().unwrap();
    drop(Raw::hello(at(1), "carol").unwrap());
    assert!(health_becomes(&cluster.node(1).admin, 200));
    proxy.set_unplugged(true);
    assert!(
        health_becomes(&cluster.node(1).admin, 503),
        "node 1 still on the bus"
    );
    let key = StaticKeypair::generate().unwrap();
    let direct = |raw: &mut Raw| {
        raw.request(Request::SendDirect {
            user: "carol".into(),
            payload: vec![1],
        })
    };
    let mut through_0 = Raw::hello_with(at(0), "alice", &key).unwrap();
    let spent_at = Instant::now();
    for i in 0..3 {
        assert!(direct(&mut through_0).is_ok(), "unit {i} of the burst");
    }
    assert!(
        matches!(direct(&mut through_0), Err(Refusal::RateLimited { .. })),
        "the burst is 3"
    );
    proxy.set_unplugged(false);
    assert!(
        health_becomes(&cluster.node(1).admin, 200),
        "node 1 back on the bus"
    );
    std::thread::sleep(Duration::from_secs(6)); // one sweep of node 0 heard
    let mut through_1 = Raw::hello_with(at(1), "alice", &key).unwrap();
    let granted = (0..3).filter(|_| direct(&mut through_1).is_ok()).count();
    // At 6 a minute, what refilled since the burst was spent (a second burst without
    // the repair: 3).
    let refilled = (spent_at.elapsed().as_secs_f64() / 10.0).floor() as usize;
    assert!(refilled < 3, "too slow to tell: {refilled} units refilled");
    assert!(
        granted <= refilled,
        "node 1 granted {granted} units, {refilled} refilled: it never heard of the burst"
    );
}

#[test]
fn a_file_uploaded_through_one_node_downloads_through_another() {
    let cluster = Nodes::start("cluster_files", 2);
    let dir = tempdir("cluster_files_clients");
    let mut members: Vec<Client> = ["alice", "bob"]
        .iter()
        .enumerate()
        .map(|(i, user)| client(&dir.join(user), user, &cluster.node(i).address))
        .collect();
    room(&mut members);
    let [mut alice, mut bob]: [Client; 2] = members.try_into().ok().unwrap();
    let source = dir.join("source");
    let content: Vec<u8> = (0..3 * 65_536 + 11).map(|i| (i % 253) as u8).collect();
    std::fs::write(&source, &content).unwrap();
    // alice on node 0 uploads; bob on node 1 is told of it live and downloads it.
    alice
        .send_file("r", &source, Some("across.bin"), None, |_, _| true)
        .unwrap();
    let m = bob.recv(WAIT).unwrap().expect("the file's message in time");
    let attachment = m.attachment.expect("a file");
    assert_eq!(attachment.name(), "across.bin");
    let dest = dir.join("dest");
    bob.download(&attachment, &dest, |_, _| true).unwrap();
    assert!(std::fs::read(&dest).unwrap() == content);
    // And through node 0 too, once bob moves there.
    bob.close();
    bob.connect(&cluster.node(0).address).unwrap();
    let again = dir.join("again");
    bob.download(&attachment, &again, |_, _| true).unwrap();
    assert!(std::fs::read(&again).unwrap() == content);
}

#[test]
fn a_device_revoked_through_one_node_is_shut_out_of_every_node_at_once() {
    // alice's first device on node 0 links her laptop (through node 0, where the offer
    // is); the laptop then works through node 1. Revoked through node 0, its session
    // on node 1 is closed at once, and node 1 refuses it from then on.
    let cluster = Nodes::start("cluster_revoke", 2);
    let dir = tempdir("cluster_revoke_clients");
    let (first, second) = (
        cluster.node(0).address.clone(),
        cluster.node(1).address.clone(),
    );
    let mut alice = client(&dir.join("alice"), "alice", &first);
    let code = alice.link_code(Duration::from_secs(600)).unwrap();
    let (laptop, _) = crate::devices::link_while_handling(
        &mut alice,
        &dir.join("laptop"),
        &first,
        &code,
        "laptop",
    );
    let laptop_id = laptop.unwrap().device_id().unwrap();
    let mut laptop = Client::open(dir.join("laptop"), "alice").unwrap();
    laptop.connect(&second).unwrap();
    assert!(laptop.invitations().is_ok());

    alice.revoke_device(&laptop_id).unwrap();
    let closed = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        laptop.invitations().is_err()
    });
    assert!(closed, "the revoked laptop's session on node 1 stays open");
    for address in [&first, &second] {
        let refused = laptop.connect(address).unwrap_err();
        assert_eq!(
            refused.kind(),
            smc::ErrorKind::DeviceRevoked,
            "{address}: {refused}"
        );
    }
}
