//! A message key is never used twice, even when a power loss takes back the client's
//! last commits. Only the commits that reserve generations of the sending ratchet are
//! fsynced; a power loss is simulated by putting back a copy of the home's files taken
//! right after one (what the fsync guarantees to be on disk), before sending again.

use std::path::Path;

use smc::client::ChatEvent;

use crate::support::{self, client, copy_dir, events::unreadable, tempdir, WAIT};

/// What a power loss could leave of `home` now, at least: its files as they stand
/// (the wal-index is rebuilt on opening).
fn on_disk(home: &Path, to: &Path) {
    copy_dir(home, to);
    let _ = std::fs::remove_file(to.join("state.db-shm"));
}

#[test]
fn a_power_loss_after_a_reservation_never_reuses_a_message_key() {
    let dir = tempdir("key_reuse");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let home = dir.join("alice");
    let mut alice = client(&home, "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    // The first message of the session reserves a block of generations (fsync).
    alice.send("r", "first").unwrap();
    let snapshot = dir.join("alice_on_disk");
    on_disk(&home, &snapshot);
    // Ordinary commits: a power loss may take them back.
    alice.send("r", "second").unwrap();
    alice.send("r", "third").unwrap();
    drop(alice);
    std::fs::remove_dir_all(&home).unwrap();
    copy_dir(&snapshot, &home);
    // After the power loss: the state says one message was sent, two more were.
    let mut alice = client(&home, "alice", &address);
    alice.send("r", "after the power loss").unwrap();
    alice.send("r", "and one more").unwrap();

    // Five messages sent: five readable messages, or fewer and some refused.
    let mut events = Vec::new();
    while events
        .iter()
        .filter(|e| matches!(e, ChatEvent::Message(_) | ChatEvent::Undecryptable { .. }))
        .count()
        < 5
    {
        events.push(bob.recv_event(WAIT).unwrap().expect("bob's next event"));
    }
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Message(m) => Some(m.text.as_str()),
            _ => None,
        })
        .collect();
    // Reusing a key would make bob refuse the message as replayed.
    assert!(unreadable(&events).is_empty(), "{events:?}");
    assert_eq!(
        texts,
        [
            "first",
            "second",
            "third",
            "after the power loss",
            "and one more"
        ]
    );
    // No gap is reported: the skipped generations carried no message.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ChatEvent::Missing { .. })),
        "{events:?}"
    );
}
