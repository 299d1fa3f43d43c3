//! Finding 4: nobody can fill someone's direct queue, deliveries are acknowledged one
//! by one, and what a client does not recognise is discarded, not sent again forever.

use smc::client::hazmat::RawAccess;
use std::time::Duration;

use rusqlite::Connection;
use smc::net::Limits;
use smc::proto::{Event, Request};
use smc::Refusal;

use super::raw::Raw;
use super::{drain, pair, start, still_chatting, texts};
use crate::support::tempdir;

fn queued_for(data: &std::path::Path, user: &str) -> i64 {
    let db = Connection::open(data.join("smc.db")).unwrap();
    db.query_row(
        "SELECT count(*) FROM directs WHERE recipient = ?1",
        [user],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_flood_of_direct_deliveries_is_bounded_and_discarded() {
    let dir = tempdir("adv_directs_flood");
    let data = dir.join("server");
    let limits = Limits {
        directs_per_minute: 10_000,
        ..Limits::default()
    };
    let server = start(&data, limits);
    let address = server.address().to_string();
    let (mut alice, bob) = pair(&dir, &server, "r");
    drop(bob);
    // While bob is away, mallory tries to queue 200 x 100 KiB for him.
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    let mut queued = 0;
    let mut refused = 0;
    for _ in 0..200 {
        match mallory.request(Request::SendDirect {
            user: "bob".into(),
            payload: vec![0x33; 100 * 1024],
        }) {
            Ok(_) => queued += 1,
            Err(Refusal::QuotaExceeded { .. }) => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(queued, Limits::default().direct_per_sender);
    assert_eq!(refused, 200 - queued);
    assert_eq!(queued_for(&data, "bob"), queued as i64);

    // Others can still reach bob: alice invites him to a new room while he is away.
    let bob_home = dir.join("bob");
    alice.create_room("r2").unwrap();
    alice.invite("r2", "bob").unwrap();

    // bob comes back: the invitation works, the junk is discarded on the server.
    let mut bob = crate::support::client(&bob_home, "bob", &address);
    drain(&mut bob);
    assert!(bob.joined_rooms().unwrap().contains(&"r2".to_string()));
    alice.send("r2", "in r2").unwrap();
    assert_eq!(texts(&drain(&mut bob)), ["in r2"]);
    assert_eq!(queued_for(&data, "bob"), 0, "nothing left to send again");
    drop(bob);
    let mut bob = crate::support::client(&bob_home, "bob", &address);
    assert!(bob.take_direct().unwrap().is_none(), "nothing sent again");
    still_chatting(&mut alice, &mut bob, "r", "the direct flood");
}

#[test]
fn direct_deliveries_are_rate_limited_per_sender_across_sessions() {
    let dir = tempdir("adv_directs_rate");
    let limits = Limits {
        directs_per_minute: 20,
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let (mut alice, mut bob) = pair(&dir, &server, "r");
    let key = smc::identity::StaticKeypair::generate().unwrap();
    let mut limited = 0;
    for _ in 0..3 {
        // A new session does not reset the rate.
        let mut mallory = Raw::hello_with(server.address(), "mallory", &key).unwrap();
        for _ in 0..10 {
            if let Err(Refusal::RateLimited { .. }) = mallory.request(Request::SendDirect {
                user: "carol".into(),
                payload: vec![1],
            }) {
                limited += 1;
            }
        }
    }
    assert!(limited >= 15, "{limited} of 30 refused");
    still_chatting(&mut alice, &mut bob, "r", "the direct rate");
}

#[test]
fn an_acknowledgement_deletes_only_the_deliveries_it_names() {
    let dir = tempdir("adv_directs_ack");
    let server = start(&dir.join("server"), Limits::default());
    let carol_key = smc::identity::StaticKeypair::generate().unwrap();
    drop(Raw::hello_with(server.address(), "carol", &carol_key).unwrap());
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    for payload in [b"first".to_vec(), b"second".to_vec()] {
        mallory
            .request(Request::SendDirect {
                user: "carol".into(),
                payload,
            })
            .unwrap();
    }
    let ids = |raw: &mut Raw| -> Vec<(u64, Vec<u8>)> {
        while raw.next_frame(Duration::from_millis(300)).is_some_and(|f| {
            if let smc::proto::ServerFrame::Event(e) = f {
                raw.events.push(e);
            }
            true
        }) {}
        raw.events
            .drain(..)
            .filter_map(|e| match e {
                Event::Direct(d) => Some((d.id, d.payload)),
                _ => None,
            })
            .collect()
    };
    let mut carol = Raw::hello_with(server.address(), "carol", &carol_key).unwrap();
    let got = ids(&mut carol);
    assert_eq!(got.len(), 2);
    carol
        .request(Request::AckDirect {
            ids: vec![got[1].0],
        })
        .unwrap();
    drop(carol);
    let mut carol = Raw::hello_with(server.address(), "carol", &carol_key).unwrap();
    let again = ids(&mut carol);
    assert_eq!(again, [got[0].clone()], "only the acknowledged one is gone");
}
