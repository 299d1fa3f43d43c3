//! Post-compromise security: a stolen copy of a member's state reads the room until
//! that member's next self-update, and nothing after it.

use std::time::Duration;

use smc::client::{ChatEvent, SelfUpdatePolicy};

use super::{drain, start, texts, unreadable};
use crate::support::{client, copy_dir, tempdir};

#[test]
fn a_stolen_state_stops_reading_after_the_members_next_self_update() {
    let dir = tempdir("adv_pcs");
    let server = start(&dir.join("server"), Default::default());
    let address = server.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    bob.set_self_update_policy(SelfUpdatePolicy {
        messages: 3,
        interval: Duration::from_secs(3600),
    });
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "hello").unwrap();
    assert_eq!(texts(&drain(&mut bob)), ["hello"]);

    // The attacker copies bob's state (his device is compromised once).
    drop(bob);
    let stolen = dir.join("stolen");
    copy_dir(&dir.join("bob"), &stolen);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    bob.set_self_update_policy(SelfUpdatePolicy {
        messages: 3,
        interval: Duration::from_secs(3600),
    });

    // Before bob renews his key, the copy reads the room: the threat is real.
    alice.send("r", "before the update").unwrap();
    drain(&mut bob);
    let mut thief = smc::Client::open(&stolen, "bob").unwrap();
    thief.connect(&address).unwrap();
    assert_eq!(texts(&drain(&mut thief)), ["before the update"]);
    drop(thief);

    // bob sends three messages: his client renews its leaf key.
    for i in 0..3 {
        bob.send("r", &format!("bob {i}")).unwrap();
    }
    let events = drain(&mut alice);
    assert_eq!(texts(&events), ["bob 0", "bob 1", "bob 2"]);
    alice.send("r", "after the update").unwrap();
    assert_eq!(texts(&drain(&mut bob)), ["after the update"]);

    // A fresh copy taken before the update (the same stolen state) reads nothing new.
    let stolen_again = dir.join("stolen2");
    copy_dir(&dir.join("stolen"), &stolen_again);
    let mut thief = smc::Client::open(&stolen_again, "bob").unwrap();
    thief.connect(&address).unwrap();
    let events = drain(&mut thief);
    assert!(
        !texts(&events).iter().any(|t| t == "after the update"),
        "{events:?}"
    );
    assert!(
        unreadable(&events)
            .iter()
            .any(|r| r.contains("epoch") || r.contains("cannot be decrypted")),
        "the message after the update must be unreadable to the copy: {events:?}"
    );
    assert!(!events.iter().any(|e| matches!(e, ChatEvent::Message(m) if m.sender == "alice" && m.text != "before the update")));
}
