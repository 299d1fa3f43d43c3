//! What end-to-end encryption (MLS) needs from the server, tested with opaque bytes
//! through the client's raw calls: the key-package directory, per-user direct queues,
//! first-per-epoch commits. (Clients publish real key packages when they connect; the
//! tests account for them.)

use smc::client::hazmat::RawAccess;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use smc::{ClientError, Refusal};

use crate::support::{self, client, mls::Actor, tempdir};

#[test]
fn each_one_use_key_package_is_handed_out_exactly_once() {
    let dir = tempdir("mls_kp");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let alice = client(&dir.join("alice"), "alice", &address);
    // The real ones alice's client published on connecting are taken first (by alice:
    // a stranger gets only 3 of them an hour, then the last-resort one).
    for _ in 0..alice.key_package_count().unwrap() {
        alice.fetch_key_package("alice").unwrap();
    }
    // Real key packages of alice (the server checks them), built by hand.
    let actor = Actor::new(b"alice");
    let mut packages: Vec<Vec<u8>> = (0..6).map(|_| actor.key_package()).collect();
    packages.sort();
    let last = actor.last_resort_package();
    alice
        .publish_key_packages(packages.clone(), Some(last.clone()))
        .unwrap();
    assert_eq!(alice.key_package_count().unwrap(), 6);

    // Four fetchers at once, three fetches each: 12 fetches for 6 one-use packages.
    let barrier = Arc::new(Barrier::new(4));
    let fetchers: Vec<_> = (0..4)
        .map(|i| {
            let (dir, address, barrier) = (dir.clone(), address.clone(), barrier.clone());
            std::thread::spawn(move || {
                let c = client(&dir.join(format!("f{i}")), &format!("f{i}"), &address);
                barrier.wait();
                (0..3)
                    .map(|_| c.fetch_key_package("alice").unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut got: Vec<Vec<u8>> = fetchers
        .into_iter()
        .flat_map(|f| f.join().unwrap())
        .collect();
    got.sort();
    let last_resort = got.iter().filter(|p| **p == last).count();
    got.retain(|p| *p != last);
    assert_eq!(got, packages, "every one-use package exactly once");
    assert_eq!(last_resort, 6, "then the last-resort one");
    assert_eq!(alice.key_package_count().unwrap(), 0);

    let bob = client(&dir.join("bob"), "bob", &address);
    assert!(matches!(
        bob.fetch_key_package("carol").unwrap_err(),
        ClientError::Refused(Refusal::UnknownUser { .. })
    ));
}

#[test]
fn direct_deliveries_wait_for_offline_users_and_arrive_live_for_connected_ones() {
    let dir = tempdir("mls_direct");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let mut bob = client(&dir.join("bob"), "bob", &address);
    bob.close();
    let alice = client(&dir.join("alice"), "alice", &address);
    let first = alice.send_direct("bob", b"welcome-1".to_vec()).unwrap();
    alice.send_direct("bob", b"welcome-2".to_vec()).unwrap();

    bob.connect(&address).unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while got.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "only {got:?} arrived");
        bob.next_envelope(Some(Duration::from_millis(100))).unwrap();
        while let Some(d) = bob.take_direct().unwrap() {
            assert_eq!(d.sender, "alice");
            got.push(d.payload);
        }
    }
    assert_eq!(got, [b"welcome-1".to_vec(), b"welcome-2".to_vec()]);

    // Live, while bob waits.
    alice.send_direct("bob", b"live".to_vec()).unwrap();
    let mut live = None;
    for _ in 0..100 {
        bob.next_envelope(Some(Duration::from_millis(50))).unwrap();
        if let Some(d) = bob.take_direct().unwrap() {
            live = Some(d);
            break;
        }
    }
    let live = live.expect("the live delivery");
    assert_eq!(live.payload, b"live");
    assert!(live.id > first);

    // Taken ones are not delivered again after a reconnect; acked ones are deleted.
    bob.ack_directs(&[live.id]).unwrap();
    bob.connect(&address).unwrap();
    bob.next_envelope(Some(Duration::from_millis(300))).unwrap();
    assert!(bob.take_direct().unwrap().is_none());
    assert!(matches!(
        alice.send_direct("nobody", vec![1]).unwrap_err(),
        ClientError::Refused(Refusal::UnknownUser { .. })
    ));
}

#[test]
fn only_the_first_group_state_change_per_epoch_is_accepted() {
    let dir = tempdir("mls_epoch");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let owner = client(&dir.join("owner"), "owner", &address);
    // An opaque room (created without its group's public state): the server orders
    // its group changes, one per epoch, without verifying them (smc's clients create
    // verified rooms; tests/adversary/epochs.rs covers those).
    owner
        .request(smc::proto::Request::CreateRoom {
            room: "group".into(),
            group_info: None,
        })
        .unwrap();
    for i in 0..4 {
        let _ = client(&dir.join(format!("c{i}")), &format!("c{i}"), &address);
        // Invited only (the raw Invite request, accepted below): no MLS commit, the
        // epochs stay free.
        owner
            .request(smc::proto::Request::Invite {
                room: "group".into(),
                user: format!("c{i}"),
            })
            .unwrap();
    }
    // Each racer has a commit of the room's group for epoch 0 (the server checks the
    // framing: a commit, of this room's group, for the marked epoch).
    let barrier = Arc::new(Barrier::new(4));
    let racers: Vec<_> = (0..4)
        .map(|i| {
            let (dir, address, barrier) = (dir.clone(), address.clone(), barrier.clone());
            std::thread::spawn(move || {
                let actor = Actor::new(format!("c{i}").as_bytes());
                let mut group = actor.group("group");
                let commit = actor.commit(&mut group);
                let c = client(&dir.join(format!("c{i}")), &format!("c{i}"), &address);
                c.request(smc::proto::Request::Accept {
                    room: "group".into(),
                })
                .unwrap();
                barrier.wait();
                c.send_payload("group", commit, Some(0))
            })
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(accepted, 1, "{results:?}");
    for r in results.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(r, Err(ClientError::Refused(Refusal::Stale { current: 1 }))),
            "{r:?}"
        );
    }
    // Ordinary messages are not affected; the next epoch is open; an old one is stale.
    let actor = Actor::new(b"owner");
    let mut group = actor.group("group");
    let epoch0 = actor.commit(&mut group);
    let epoch1 = actor.commit(&mut group);
    owner.send_payload("group", b"app".to_vec(), None).unwrap();
    owner.send_payload("group", epoch1, Some(1)).unwrap();
    assert!(matches!(
        owner.send_payload("group", epoch0, Some(0)).unwrap_err(),
        ClientError::Refused(Refusal::Stale { current: 2 })
    ));
    let stored = owner.history_envelopes("group", None, 10).unwrap();
    let epochs: Vec<Option<u64>> = stored.iter().map(|e| e.commit_epoch).collect();
    assert_eq!(epochs, [Some(0), None, Some(1)]);
}
