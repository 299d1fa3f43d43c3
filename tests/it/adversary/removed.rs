//! Finding 12: a message of someone who was removed from the group is not shown, even
//! when it was sent for an epoch whose keys are still kept (a malicious server delays
//! it past the removal).

use rusqlite::params;
use smc::client::ChatEvent;

use super::{drain, texts, unreadable};
use crate::support::evil::Evil;
use crate::support::{client, tempdir};

#[test]
fn a_removed_members_message_delivered_after_the_removal_is_refused() {
    let dir = tempdir("adv_removed");
    let mut evil = Evil::start(&dir.join("server"));
    let address = evil.address.clone();
    let [alice, mut bob, mut carol] =
        super::room_with(&dir, &address, "r", &["alice", "bob", "carol"])
            .try_into()
            .unwrap();
    drop(alice);

    // While alice is away: carol says something, then leaves; bob commits her removal.
    let said = carol.send("r", "carol, before leaving").unwrap();
    carol.leave("r").unwrap();
    drain(&mut bob);
    bob.send("r", "bye carol").unwrap();
    assert_eq!(bob.members("r").unwrap(), ["alice", "bob"]);
    drop((bob, carol));

    // The server holds carol's message back until after her removal.
    evil.tamper(|db| {
        let last: i64 = db
            .query_row("SELECT last_seq FROM rooms WHERE name = 'r'", [], |r| {
                r.get(0)
            })
            .unwrap();
        db.execute(
            "UPDATE messages SET seq = ?2 WHERE room = 'r' AND seq = ?1",
            params![said.seq as i64, last + 1],
        )
        .unwrap();
        db.execute(
            "UPDATE rooms SET last_seq = ?1 WHERE name = 'r'",
            [last + 1],
        )
        .unwrap();
    });
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let events = drain(&mut alice);
    assert_eq!(texts(&events), ["bye carol"], "{events:?}");
    assert!(
        unreadable(&events)
            .iter()
            .any(|r| r.contains("no longer a member")),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        ChatEvent::MembersChanged { removed, .. } if removed == &["carol".to_string()]
    )));
}
