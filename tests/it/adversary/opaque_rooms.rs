//! Rooms created before the server tracked groups (every message, group changes too,
//! as MLS ciphertext; no group state on the server) keep working: an invitee joins
//! with their policy, and its group changes are read by the older members.

use smc::proto::{Reply, Request};

use super::raw::Raw;
use super::{drain, start};
use crate::support::mls::Actor;
use crate::support::{client, tempdir};

#[test]
fn an_invitee_of_an_untracked_room_speaks_its_wire_format() {
    let dir = tempdir("adv_opaque_room");
    let server = start(&dir.join("server"), Default::default());
    let address = server.address().to_string();
    let mut bob = client(&dir.join("bob"), "bob", &address);
    // An older client: a room without group state, a group of pure ciphertext.
    let mut old = Raw::hello(server.address(), "old").unwrap();
    old.request(Request::CreateRoom {
        room: "r".into(),
        group_info: None,
    })
    .unwrap();
    let actor = Actor::new(b"old");
    let mut group = actor.legacy_group("r");
    let package = match old.request(Request::FetchKeyPackage { user: "bob".into() }) {
        Ok(Reply::KeyPackage(p)) => p,
        other => panic!("{other:?}"),
    };
    old.request(Request::Invite {
        room: "r".into(),
        user: "bob".into(),
    })
    .unwrap();
    let (welcome, commit) = actor.add(&mut group, "r", &[package]);
    old.request(Request::Send {
        room: "r".into(),
        payload: commit,
        commit_epoch: Some(0),
    })
    .unwrap();
    old.request(Request::SendDirect {
        user: "bob".into(),
        payload: welcome,
    })
    .unwrap();
    drain(&mut bob);
    assert_eq!(bob.members("r").unwrap(), ["bob", "old"]);

    // bob renews his key (a group change) and talks: the older member reads both.
    bob.self_update("r").unwrap();
    bob.send("r", "hello from a newer client").unwrap();
    let stored = match old.request(Request::History {
        room: "r".into(),
        before: None,
        limit: 10,
    }) {
        Ok(Reply::Messages(m)) => m,
        other => panic!("{other:?}"),
    };
    let from_bob: Vec<_> = stored.iter().filter(|e| e.sender == "bob").collect();
    // The word that bob joined, his group change, his text.
    assert_eq!(from_bob.len(), 3, "{stored:?}");
    assert_eq!(
        actor.process(&mut group, &from_bob[0].payload),
        Ok("application")
    );
    assert_eq!(
        actor.process(&mut group, &from_bob[1].payload),
        Ok("commit")
    );
    assert_eq!(
        actor.process(&mut group, &from_bob[2].payload),
        Ok("application")
    );
}
