//! A member cannot remove someone else, by proposal or by commit: smc's group changes
//! are invitations, one's own key renewal and one's own leaving, and the server and
//! every client refuse anything else.

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::{KeyPackageIn, ProtocolVersion};
use openmls_traits::OpenMlsProvider as _;
use smc::proto::Request;
use smc::Refusal;

use super::{drain, still_chatting, texts, unreadable, welcome_of};
use crate::support::evil::Evil;
use crate::support::mls::Actor;
use crate::support::{client, tempdir};

#[test]
fn removing_another_member_is_refused_by_the_server_and_by_the_clients() {
    let dir = tempdir("adv_policy");
    let mut evil = Evil::start(&dir.join("server"));
    let address = evil.address.clone();
    let [mut alice, mut bob] = super::room_with(&dir, &address, "r", &["alice", "bob"])
        .try_into()
        .unwrap();
    // mallory, a real member, joins the real group from his Welcome.
    let (mut mallory, actor) = super::mallory_in(evil.server(), &mut alice, "r");
    let welcome = welcome_of(&mut mallory);
    let mut group = actor.join(&welcome);
    drain(&mut bob);
    let bob_leaf = Actor::leaf_of(&group, "bob");

    // A proposal to remove bob.
    let (proposal, _) = group
        .propose_remove_member(&actor.provider, &actor.signer, bob_leaf)
        .unwrap();
    let refused = mallory.request(Request::Send {
        room: "r".into(),
        payload: proposal.tls_serialize_detached().unwrap(),
        commit_epoch: None,
    });
    assert!(
        matches!(&refused, Err(Refusal::BadRequest { reason }) if reason.contains("remove someone else")),
        "{refused:?}"
    );
    group
        .clear_pending_proposals(actor.provider.storage())
        .unwrap();
    // A commit removing bob.
    let epoch = group.epoch().as_u64();
    let (commit, _, _) = group
        .remove_members(&actor.provider, &actor.signer, &[bob_leaf])
        .unwrap();
    let commit = commit.tls_serialize_detached().unwrap();
    let refused = mallory.request(Request::Send {
        room: "r".into(),
        payload: commit.clone(),
        commit_epoch: Some(epoch),
    });
    assert!(
        matches!(&refused, Err(Refusal::BadRequest { reason }) if reason.contains("remove someone else")),
        "{refused:?}"
    );
    still_chatting(&mut alice, &mut bob, "r", "the removal attempts");

    // A server that stores it anyway: the clients refuse it too.
    drop((alice, bob, mallory));
    evil.tamper(|db| {
        let (last, current): (i64, i64) = db
            .query_row(
                "SELECT last_seq, commit_epoch FROM rooms WHERE name = 'r'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(current as u64, epoch, "the epoch was still free");
        db.execute(
            "INSERT INTO messages (room, seq, sender, ts_ms, payload, commit_epoch)
             VALUES ('r', ?1, 'mallory', 0, ?2, ?3)",
            rusqlite::params![last + 1, commit, current],
        )
        .unwrap();
        db.execute(
            "UPDATE rooms SET last_seq = ?1, commit_epoch = ?2 WHERE name = 'r'",
            rusqlite::params![last + 1, current + 1],
        )
        .unwrap();
    });
    let mut bob = client(&dir.join("bob"), "bob", &address);
    let events = drain(&mut bob);
    assert!(
        unreadable(&events)
            .iter()
            .any(|r| r.contains("remove someone else")),
        "{events:?}"
    );
    assert!(texts(&events).is_empty());
    assert_eq!(bob.members("r").unwrap(), ["alice", "bob", "mallory"]);
}

#[test]
fn replacing_the_leaf_of_a_member_who_joined_is_refused() {
    let dir = tempdir("adv_policy_replace");
    let server = super::start(&dir.join("server"), smc::net::Limits::default());
    let address = server.address().to_string();
    let [mut alice, mut bob] = super::room_with(&dir, &address, "r", &["alice", "bob"])
        .try_into()
        .unwrap();
    let (mut mallory, actor) = super::mallory_in(&server, &mut alice, "r");
    let welcome = welcome_of(&mut mallory);
    let mut group = actor.join(&welcome);
    drain(&mut bob);
    let bob_leaf = Actor::leaf_of(&group, "bob");
    let epoch = group.epoch().as_u64();
    // A commit replacing bob's leaf by a new one of his (what re-inviting someone whose
    // Welcome never arrived does): refused, since bob joined the room.
    let package = match mallory.request(Request::FetchKeyPackage { user: "bob".into() }) {
        Ok(smc::proto::Reply::KeyPackage(p)) => p,
        other => panic!("{other:?}"),
    };
    let package = KeyPackageIn::tls_deserialize_exact(package.as_slice())
        .unwrap()
        .validate(actor.provider.crypto(), ProtocolVersion::Mls10)
        .unwrap();
    let bundle = group
        .commit_builder()
        .propose_removals([bob_leaf])
        .propose_adds([package])
        .load_psks(actor.provider.storage())
        .unwrap()
        .build(
            actor.provider.rand(),
            actor.provider.crypto(),
            &actor.signer,
            |_| true,
        )
        .unwrap()
        .stage_commit(&actor.provider)
        .unwrap();
    let (swap, _, _) = bundle.into_contents();
    let refused = mallory.request(Request::Send {
        room: "r".into(),
        payload: swap.tls_serialize_detached().unwrap(),
        commit_epoch: Some(epoch),
    });
    assert!(
        matches!(&refused, Err(Refusal::BadRequest { reason }) if reason.contains("member who joined")),
        "{refused:?}"
    );
    still_chatting(&mut alice, &mut bob, "r", "the replacement attempt");
    assert_eq!(bob.members("r").unwrap(), ["alice", "bob", "mallory"]);
}
