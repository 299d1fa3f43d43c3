//! Finding 6: key packages cannot be drained, forged in someone else's name, or
//! counted when expired.

use smc::client::hazmat::RawAccess;
use std::time::Duration;

use smc::net::Limits;
use smc::proto::{Reply, Request};
use smc::Refusal;

use super::raw::Raw;
use super::{pair, start, still_chatting};
use crate::support::mls::Actor;
use crate::support::tempdir;

#[test]
fn draining_someones_key_packages_only_yields_the_last_resort_one() {
    let dir = tempdir("adv_kp_drain");
    let limits = Limits {
        one_use_packages_per_hour: 3,
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let (mut alice, mut bob) = pair(&dir, &server, "r");
    let before = bob.key_package_count().unwrap();
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    let mut fetched = Vec::new();
    for _ in 0..15 {
        match mallory.request(Request::FetchKeyPackage { user: "bob".into() }) {
            Ok(Reply::KeyPackage(p)) => fetched.push(p),
            other => panic!("{other:?}"),
        }
    }
    fetched.sort();
    fetched.dedup();
    // At most 3 distinct one-use packages plus the last-resort one.
    assert!(fetched.len() <= 4, "{} distinct packages", fetched.len());
    assert!(bob.key_package_count().unwrap() >= before - 3);
    // The fetches of one requester are bounded too.
    let mut limited = false;
    for _ in 0..200 {
        if let Err(Refusal::RateLimited { .. }) = mallory.request(Request::FetchKeyPackage {
            user: "alice".into(),
        }) {
            limited = true;
            break;
        }
    }
    assert!(limited, "200 fetches in a row were never limited");
    // Invitations still work.
    let mut carol =
        crate::support::client(&dir.join("carol"), "carol", &server.address().to_string());
    alice.invite("r", "carol").unwrap();
    alice.send("r", "hi carol").unwrap();
    assert_eq!(carol.recv(super::WAIT).unwrap().unwrap().text, "hi carol");
    assert_eq!(super::texts(&super::drain(&mut bob)), ["hi carol"]);
    still_chatting(&mut alice, &mut bob, "r", "the drain");
}

#[test]
fn forged_garbage_and_expired_key_packages_are_refused_or_not_counted() {
    let dir = tempdir("adv_kp_forged");
    let server = start(&dir.join("server"), Limits::default());
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    let publish = |raw: &mut Raw, packages: Vec<Vec<u8>>, last: Option<Vec<u8>>| {
        raw.request(Request::PublishKeyPackages {
            packages,
            last_resort: last,
        })
    };
    // In alice's name, garbage, a last-resort one among one-use ones: refused.
    for (packages, last) in [
        (vec![Actor::new(b"alice").key_package()], None),
        (vec![vec![1, 2, 3]], None),
        (vec![Actor::new(b"mallory").last_resort_package()], None),
        (vec![], Some(Actor::new(b"mallory").key_package())),
    ] {
        let refused = publish(&mut mallory, packages, last);
        assert!(
            matches!(refused, Err(Refusal::BadRequest { .. })),
            "{refused:?}"
        );
    }
    // One that expires in 2 s counts until then, and is never handed out after.
    let me = Actor::new(b"mallory");
    publish(&mut mallory, vec![me.short_lived_package(2)], None).unwrap();
    assert!(matches!(
        mallory.request(Request::KeyPackageCount),
        Ok(Reply::Count(1))
    ));
    std::thread::sleep(Duration::from_millis(3500));
    assert!(matches!(
        mallory.request(Request::KeyPackageCount),
        Ok(Reply::Count(0))
    ));
    let mut other = Raw::hello(server.address(), "other").unwrap();
    let fetched = other.request(Request::FetchKeyPackage {
        user: "mallory".into(),
    });
    assert!(
        matches!(fetched, Err(Refusal::NoKeyPackage { .. })),
        "{fetched:?}"
    );
}

#[test]
fn the_last_resort_key_package_is_rotated() {
    let dir = tempdir("adv_kp_rotate");
    let limits = Limits {
        one_use_packages_per_hour: 0,
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let address = server.address().to_string();
    let bob = crate::support::client(&dir.join("bob"), "bob", &address);
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    let last_resort =
        |raw: &mut Raw| match raw.request(Request::FetchKeyPackage { user: "bob".into() }) {
            Ok(Reply::KeyPackage(p)) => p,
            other => panic!("{other:?}"),
        };
    let first = last_resort(&mut mallory);
    assert_eq!(
        last_resort(&mut mallory),
        first,
        "handed out again (one-use ones held back)"
    );
    drop(bob);
    // A week later (as bob's state says)...
    let state = rusqlite::Connection::open(dir.join("bob").join("state.db")).unwrap();
    state
        .execute("UPDATE last_resort SET published_ms = 0", [])
        .unwrap();
    drop(state);
    let _bob = crate::support::client(&dir.join("bob"), "bob", &address);
    assert_ne!(
        last_resort(&mut mallory),
        first,
        "a new last-resort package"
    );
}

/// A stranger fetching someone's key packages in a loop gets at most their share of
/// the one-use ones (3 an hour from one owner), then only the last-resort one; the
/// owner's stock is not drained, and the next real inviter still gets a one-use
/// package (a different one from the last-resort package the stranger keeps getting).
#[test]
fn one_requester_takes_only_its_share_of_someones_one_use_packages() {
    let dir = tempdir("adv_kp_pair");
    let server = start(&dir.join("server"), Limits::default());
    let (mut alice, mut bob) = pair(&dir, &server, "r");
    let before = bob.key_package_count().unwrap();
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    let mut fetched = Vec::new();
    for _ in 0..20 {
        match mallory.request(Request::FetchKeyPackage { user: "bob".into() }) {
            Ok(Reply::KeyPackage(p)) => fetched.push(p),
            other => panic!("{other:?}"),
        }
    }
    let last_resort = fetched.last().unwrap().clone();
    let mut distinct = fetched.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        4,
        "3 one-use packages and then the last-resort one"
    );
    assert_eq!(bob.key_package_count().unwrap(), before - 3);
    // carol, a real inviter, still gets a one-use package of bob's.
    let mut carol = Raw::hello(server.address(), "carol").unwrap();
    match carol.request(Request::FetchKeyPackage { user: "bob".into() }) {
        Ok(Reply::KeyPackage(p)) => {
            assert_ne!(p, last_resort, "carol got only the last-resort package");
            assert!(!fetched.contains(&p), "a one-use package handed out twice");
        }
        other => panic!("{other:?}"),
    }
    still_chatting(&mut alice, &mut bob, "r", "the stranger's fetches");
}
