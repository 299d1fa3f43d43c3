//! The word that someone joined a room is theirs alone: a member cannot say it for
//! another (it is bound to its signer inside the encryption), and an invitee stays an
//! invitee until they say it themselves.

use openmls::prelude::tls_codec::Serialize as _;
use smc::client::ChatEvent;
use smc::e2e::sealed::Sealed;
use smc::proto::Request;

use super::{drain, welcome_of};
use crate::support::evil::Evil;
use crate::support::{client, tempdir};

#[test]
fn a_member_cannot_say_that_someone_else_joined() {
    let dir = tempdir("adv_joined");
    let evil = Evil::start(&dir.join("server"));
    let address = evil.address.clone();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    bob.set_auto_join(false);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    // mallory, a real member, joins the real group from his Welcome.
    let (mut mallory, actor) = super::mallory_in(evil.server(), &mut alice, "r");
    let mut group = actor.join(&welcome_of(&mut mallory));
    drain(&mut alice);
    assert_eq!(alice.invitees("r").unwrap(), ["bob"]);

    // mallory says, in his own message, that bob joined.
    let say = |group: &mut openmls::prelude::MlsGroup, sender: &str| {
        let words = Sealed::Joined {
            room: "r".into(),
            sender: sender.into(),
            counter: 1,
        };
        group
            .create_message(&actor.provider, &actor.signer, &words.encode())
            .unwrap()
            .tls_serialize_detached()
            .unwrap()
    };
    let forged = say(&mut group, "bob");
    mallory
        .request(Request::Send {
            room: "r".into(),
            payload: forged,
            commit_epoch: None,
        })
        .unwrap();
    let events = drain(&mut alice);
    assert!(
        events.iter().any(|e| matches!(e,
            ChatEvent::Undecryptable { sender, reason, .. }
                if sender == "mallory" && reason.contains("written by \"bob\""))),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ChatEvent::MemberJoined { .. })),
        "{events:?}"
    );
    // bob has not accepted: still invited, on alice's side and as the server says.
    assert_eq!(alice.invitees("r").unwrap(), ["bob"]);
    assert!(!alice.members("r").unwrap().contains(&"bob".to_owned()));

    // What mallory says of himself counts: he joined.
    let own = say(&mut group, "mallory");
    mallory
        .request(Request::Send {
            room: "r".into(),
            payload: own,
            commit_epoch: None,
        })
        .unwrap();
    let events = drain(&mut alice);
    assert!(
        events.iter().any(|e| matches!(e,
            ChatEvent::MemberJoined { room, user } if room == "r" && user == "mallory")),
        "{events:?}"
    );
    assert_eq!(alice.invitees("r").unwrap(), ["bob"]);
}
