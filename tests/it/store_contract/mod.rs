//! The guarantees every server store must give (the server relies on them), tried on a
//! real store with concurrent callers: per-room sequence numbers strictly increasing
//! without gaps and one order for everyone, a group-state change taken only for the
//! current epoch and once, a one-use key package handed out exactly once, a name bound
//! to one key, direct queues that delete exactly what is acknowledged, history pages,
//! and acknowledged meaning committed (the store is opened again and still has it).
//!
//! Each check is written against `dyn Store` and runs on every backend of
//! [`backends`]: today the embedded SQLite store; a second backend joins by adding
//! its opener there.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Barrier};

use smc::proto::Refusal;
use smc::server::store::{
    DirectQuota, Durability, InvitationQuota, KeyPackageRow, NewMessage, Newcomer, PostgresStore,
    Registration, RegistrationPolicy, SqliteStore, Store,
};

use crate::support::postgres::Cluster;
use crate::support::tempdir;

mod blobs;
mod devices;

/// Opens (or opens again) the store kept in a directory.
type Open = fn(&Path) -> Arc<dyn Store>;

fn sqlite(dir: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(dir, Durability::Full).unwrap())
}

/// A database of its own on the tests' PostgreSQL cluster, the same one each time the
/// directory is opened again (its URL is kept in the directory).
fn postgres(dir: &Path) -> Arc<dyn Store> {
    let file = dir.join("postgres_url");
    let url = match std::fs::read_to_string(&file) {
        Ok(url) => url,
        Err(_) => {
            let url = Cluster::get().database();
            std::fs::write(&file, &url).unwrap();
            url
        }
    };
    Arc::new(PostgresStore::open(&url).unwrap())
}

/// Every backend, by name.
pub(super) fn backends() -> Vec<(&'static str, Open)> {
    vec![("sqlite", sqlite as Open), ("postgres", postgres as Open)]
}

pub(super) const NOW: i64 = 1_800_000_000_000;
pub(super) const THREADS: usize = 8;

fn message(room: &str, sender: &str, payload: Vec<u8>, commit_epoch: Option<u64>) -> NewMessage {
    NewMessage {
        room: room.into(),
        sender: sender.into(),
        payload,
        commit_epoch,
        mls_epoch: None,
        timestamp_ms: NOW,
        farewell: false,
        max_stored: u64::MAX,
    }
}

/// A newcomer from an address without a registration limit.
pub(super) fn anyone() -> Newcomer {
    Newcomer {
        address: "192.0.2.1".into(),
        per_hour: 0,
        now_ms: NOW,
    }
}

/// Room for ten invitations, none expired.
const INVITATIONS: InvitationQuota = InvitationQuota {
    max_pending: 10,
    per_stranger: 10,
    from_strangers: 10,
    expired_before_ms: 0,
};

/// A store with users u0..u7 and an opaque room `r` of u0 that they all joined.
pub(super) fn room_of_eight(open: Open, dir: &Path) -> Arc<dyn Store> {
    let store = open(dir);
    for i in 0..THREADS {
        let user = format!("u{i}");
        let r = store
            .register(
                &user,
                &[i as u8; 32],
                RegistrationPolicy::Open,
                None,
                &anyone(),
            )
            .unwrap();
        assert_eq!(r, Registration::Registered);
    }
    store.create_room("r", "u0", NOW, 10, None).unwrap();
    for i in 1..THREADS {
        let user = format!("u{i}");
        store.invite("r", &user, "u0", NOW, &INVITATIONS).unwrap();
        store.accept("r", &user).unwrap().unwrap();
    }
    store
}

/// Runs `f(i)` on THREADS threads started together; their results in thread order.
pub(super) fn together<T: Send + 'static>(
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (f, start) = (f.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                f(i)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn sequence_numbers_increase_without_gaps_in_one_order_under_concurrent_appends() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_seq_{name}"));
        let store = room_of_eight(open, &dir);
        let per_thread = 60;
        let appended = {
            let store = store.clone();
            together(move |i| {
                let mut mine = Vec::new();
                let mut n = 0;
                while n < per_thread {
                    // Batches of 1 to 4, as the committer groups them.
                    let size = (1 + (n + i) % 4).min(per_thread - n);
                    let batch: Vec<NewMessage> = (n..n + size)
                        .map(|k| {
                            message(
                                "r",
                                &format!("u{i}"),
                                format!("u{i} {k}").into_bytes(),
                                None,
                            )
                        })
                        .collect();
                    for result in store.append(&batch).unwrap() {
                        let a = result.unwrap();
                        assert!(!a.duplicate);
                        mine.push((a.envelope.seq, a.envelope.payload));
                    }
                    n += size;
                }
                mine
            })
        };
        for mine in &appended {
            // What one sender got back is in increasing order (its own sends, in order).
            assert!(mine.windows(2).all(|w| w[0].0 < w[1].0), "{name}");
        }
        let total = THREADS * per_thread;
        let seqs: BTreeSet<u64> = appended.iter().flatten().map(|(s, _)| *s).collect();
        assert_eq!(
            seqs,
            (1..=total as u64).collect(),
            "{name}: gaps or repeats"
        );
        // Everyone reads the same order, and it is the order the appends were given;
        // the same after opening the store again (acknowledged = committed).
        drop(store);
        let store = open(&dir);
        let stored = store.messages_after("r", 0, 10_000, usize::MAX).unwrap();
        assert_eq!(stored.len(), total, "{name}");
        for e in &stored {
            let given = appended
                .iter()
                .flatten()
                .find(|(s, _)| *s == e.seq)
                .unwrap();
            assert_eq!(e.payload, given.1, "{name}: seq {}", e.seq);
        }
        assert!(stored.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
        // A paged read gives the same sequence.
        let half = store.messages_after("r", 100, 50, usize::MAX).unwrap();
        assert_eq!(
            half.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (101..=150).collect::<Vec<_>>()
        );
    }
}

#[test]
fn only_members_post_and_an_invited_user_only_a_farewell() {
    // The store is the authority on membership: a server node's routing table may lag
    // behind a removal made through another node.
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_members_{name}"));
        let store = room_of_eight(open, &dir);
        store
            .register(
                "outsider",
                &[90; 32],
                RegistrationPolicy::Open,
                None,
                &anyone(),
            )
            .unwrap();
        store
            .register(
                "guest",
                &[91; 32],
                RegistrationPolicy::Open,
                None,
                &anyone(),
            )
            .unwrap();
        store.invite("r", "guest", "u0", NOW, &INVITATIONS).unwrap();
        let mut farewell = message("r", "guest", b"bye".to_vec(), None);
        farewell.farewell = true;
        let mut outsider_farewell = message("r", "outsider", b"bye too".to_vec(), None);
        outsider_farewell.farewell = true;
        let results = store
            .append(&[
                message("r", "outsider", b"let me in".to_vec(), None),
                message("r", "guest", b"not yet a member".to_vec(), None),
                farewell,
                outsider_farewell,
                message("r", "u1", b"a member".to_vec(), None),
            ])
            .unwrap();
        let refused =
            |i: usize| matches!(&results[i], Err(Refusal::NotAMember { room }) if room == "r");
        assert!(
            refused(0) && refused(1) && refused(3),
            "{name}: {results:?}"
        );
        assert!(
            results[2].is_ok() && results[4].is_ok(),
            "{name}: {results:?}"
        );
        assert!(store.is_member("r", "u1").unwrap() && !store.is_member("r", "guest").unwrap());

        // Removed: refused from then on, in the same batch too.
        store.remove_member("r", "u2").unwrap();
        let after = store
            .append(&[message("r", "u2", b"still here?".to_vec(), None)])
            .unwrap();
        assert!(
            matches!(after[0], Err(Refusal::NotAMember { .. })),
            "{name}"
        );
        let heads = store
            .room_heads(&["r".to_owned(), "no such room".to_owned()])
            .unwrap();
        assert_eq!(heads, vec![("r".to_owned(), 2)], "{name}: two stored");
    }
}

#[test]
fn a_group_change_is_taken_once_for_the_current_epoch_only() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_epoch_{name}"));
        let store = room_of_eight(open, &dir);
        // Everyone tries to change epoch 0 at once: exactly one does.
        let results = {
            let store = store.clone();
            together(move |i| {
                let m = message(
                    "r",
                    &format!("u{i}"),
                    format!("commit by u{i}").into_bytes(),
                    Some(0),
                );
                store.append(&[m]).unwrap().remove(0)
            })
        };
        let taken = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(taken, 1, "{name}: {results:?}");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(*r, Refusal::Stale { current: 1 }, "{name}");
        }
        // An old epoch is stale, a future one refused, the current one taken.
        let again = |epoch: u64, payload: &str| {
            store
                .append(&[message("r", "u1", payload.as_bytes().to_vec(), Some(epoch))])
                .unwrap()
                .remove(0)
        };
        assert_eq!(again(0, "late").unwrap_err(), Refusal::Stale { current: 1 });
        assert!(
            matches!(again(5, "ahead"), Err(Refusal::BadRequest { .. })),
            "{name}"
        );
        assert!(again(1, "next").is_ok(), "{name}");
        assert_eq!(
            again(1, "next again").unwrap_err(),
            Refusal::Stale { current: 2 }
        );
    }
}

#[test]
fn a_one_use_key_package_is_handed_out_exactly_once() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_kp_{name}"));
        let store = open(&dir);
        store
            .register("bob", &[1; 32], RegistrationPolicy::Open, None, &anyone())
            .unwrap();
        let packages: Vec<KeyPackageRow> = (0..20u8)
            .map(|i| KeyPackageRow {
                bytes: vec![i; 40],
                not_after_ms: NOW + 1_000_000,
            })
            .collect();
        let expired = KeyPackageRow {
            bytes: vec![0xEE; 40],
            not_after_ms: NOW - 1,
        };
        let last_resort = KeyPackageRow {
            bytes: vec![0xAA; 40],
            not_after_ms: NOW + 1_000_000,
        };
        let mut all = packages.clone();
        all.push(expired);
        store
            .publish_key_packages("bob", &all, Some(&last_resort), 100, NOW)
            .unwrap();
        assert_eq!(store.key_package_count("bob", NOW).unwrap(), 20, "{name}");
        let taken = {
            let store = store.clone();
            together(move |_| {
                (0..5)
                    .map(|_| store.take_key_package("bob", true, NOW).unwrap().unwrap())
                    .collect::<Vec<_>>()
            })
        };
        let taken: Vec<Vec<u8>> = taken.into_iter().flatten().collect();
        let one_use: Vec<&Vec<u8>> = taken.iter().filter(|b| b[0] != 0xAA).collect();
        let distinct: BTreeSet<&Vec<u8>> = one_use.iter().copied().collect();
        assert_eq!(
            one_use.len(),
            20,
            "{name}: {} one-use handed out",
            one_use.len()
        );
        assert_eq!(distinct.len(), 20, "{name}: a package handed out twice");
        assert!(
            taken.iter().all(|b| b[0] != 0xEE),
            "{name}: an expired package"
        );
        assert_eq!(
            taken.len() - one_use.len(),
            20,
            "{name}: the rest is the last resort"
        );
        assert_eq!(store.key_package_count("bob", NOW).unwrap(), 0);
        // Without one-use allowed: the last resort, again and again.
        assert_eq!(
            store.take_key_package("bob", false, NOW).unwrap().unwrap(),
            last_resort.bytes
        );
    }
}

#[test]
fn a_name_is_bound_to_one_key_even_when_claimed_at_once() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_name_{name}"));
        let store = open(&dir);
        let outcomes = {
            let store = store.clone();
            together(move |i| {
                store
                    .register(
                        "alice",
                        &[i as u8 + 1; 32],
                        RegistrationPolicy::Open,
                        None,
                        &anyone(),
                    )
                    .unwrap()
            })
        };
        let winners: Vec<usize> = outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| **o == Registration::Registered)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(winners.len(), 1, "{name}: {outcomes:?}");
        assert!(outcomes
            .iter()
            .all(|o| matches!(o, Registration::Registered | Registration::Taken)));
        let users = store.users().unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].key, vec![winners[0] as u8 + 1; 32], "{name}");
        // The winner is known, the others still taken.
        let winner_key = vec![winners[0] as u8 + 1; 32];
        assert_eq!(
            store
                .register(
                    "alice",
                    &winner_key,
                    RegistrationPolicy::Open,
                    None,
                    &anyone()
                )
                .unwrap(),
            Registration::Known
        );
    }
}

#[test]
fn a_direct_queue_keeps_order_deletes_only_what_is_acknowledged_and_has_a_quota() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_direct_{name}"));
        let store = open(&dir);
        for user in ["alice", "bob"] {
            store
                .register(
                    user,
                    user.as_bytes(),
                    RegistrationPolicy::Open,
                    None,
                    &anyone(),
                )
                .unwrap();
        }
        let quota = DirectQuota {
            count: 10,
            bytes: 1 << 20,
            per_sender: 10,
        };
        let ids: Vec<u64> = (0..10u8)
            .map(|i| {
                store
                    .push_direct("bob", "alice", &[i; 8], NOW, &quota, None)
                    .unwrap()
                    .unwrap()
                    .id
            })
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{name}");
        // Full: nothing queued.
        assert!(store
            .push_direct("bob", "alice", &[99; 8], NOW, &quota, None)
            .unwrap()
            .is_none());
        let queued = store.directs_after("bob", 0, 100, usize::MAX).unwrap();
        assert_eq!(queued.iter().map(|d| d.id).collect::<Vec<_>>(), ids);
        assert_eq!(queued[3].payload, vec![3; 8]);
        store.ack_directs("bob", &[ids[0], ids[4], ids[9]]).unwrap();
        // Someone else's ids are not theirs to delete.
        store.ack_directs("alice", &[ids[1]]).unwrap();
        let left: Vec<u64> = store
            .directs_after("bob", 0, 100, usize::MAX)
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect();
        let expected: Vec<u64> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| ![0, 4, 9].contains(i))
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(left, expected, "{name}");
        assert_eq!(
            store
                .directs_after("bob", ids[5], 100, usize::MAX)
                .unwrap()
                .len(),
            3,
            "{name}"
        );
    }
}

#[test]
fn history_pages_back_oldest_first() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_history_{name}"));
        let store = room_of_eight(open, &dir);
        let batch: Vec<NewMessage> = (0..100)
            .map(|k| message("r", "u1", format!("m{k}").into_bytes(), None))
            .collect();
        assert!(store.append(&batch).unwrap().iter().all(Result::is_ok));
        let seqs = |before: Option<u64>| -> Vec<u64> {
            store
                .history("r", before, 10, usize::MAX)
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect()
        };
        assert_eq!(seqs(None), (91..=100).collect::<Vec<_>>(), "{name}");
        assert_eq!(seqs(Some(91)), (81..=90).collect::<Vec<_>>(), "{name}");
        assert_eq!(seqs(Some(3)), vec![1, 2], "{name}");
        assert!(seqs(Some(1)).is_empty(), "{name}");
        // The same bytes sent again by the same sender (a send repeated after a lost
        // answer) are the stored message, not a second copy.
        let again = store
            .append(&[message("r", "u1", b"m99".to_vec(), None)])
            .unwrap()
            .remove(0)
            .unwrap();
        assert!(again.duplicate, "{name}");
        assert_eq!(again.envelope.seq, 100);
        assert_eq!(
            store
                .messages_after("r", 0, 1000, usize::MAX)
                .unwrap()
                .len(),
            100
        );
    }
}

#[test]
fn the_key_package_quota_holds_under_concurrent_publishers() {
    // Every thread publishes 30 packages of bob's at once against a quota of 100: the
    // count and the inserts are one transaction, so at most 3 publications are taken
    // and never more than 100 packages are stored.
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_kp_quota_{name}"));
        let store = open(&dir);
        store
            .register("bob", &[1; 32], RegistrationPolicy::Open, None, &anyone())
            .unwrap();
        let taken = {
            let store = store.clone();
            together(move |t| {
                let packages: Vec<KeyPackageRow> = (0..30u8)
                    .map(|i| KeyPackageRow {
                        bytes: vec![t as u8, i, 1, 2, 3],
                        not_after_ms: NOW + 1_000_000,
                    })
                    .collect();
                store
                    .publish_key_packages("bob", &packages, None, 100, NOW)
                    .unwrap()
            })
        };
        let accepted = taken.iter().filter(|t| **t).count();
        assert_eq!(accepted, 3, "{name}: {accepted} publications of 30 taken");
        assert_eq!(store.key_package_count("bob", NOW).unwrap(), 90, "{name}");
    }
}

#[test]
fn a_page_holds_no_more_than_its_byte_budget_and_always_one() {
    // What a request may make the store read: ten messages of 100 bytes each read with
    // a budget of 250 bytes give two (forward from a cursor, or the newest two back),
    // and a budget below one message still gives one, so that paging never stalls.
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_page_{name}"));
        let store = room_of_eight(open, &dir);
        let batch: Vec<NewMessage> = (0..10u8)
            .map(|k| message("r", "u1", vec![k; 100], None))
            .collect();
        assert!(store.append(&batch).unwrap().iter().all(Result::is_ok));
        let seqs =
            |page: Vec<smc::proto::Envelope>| -> Vec<u64> { page.iter().map(|e| e.seq).collect() };
        assert_eq!(
            seqs(store.messages_after("r", 0, 1000, 250).unwrap()),
            [1, 2],
            "{name}"
        );
        assert_eq!(
            seqs(store.messages_after("r", 4, 1000, 250).unwrap()),
            [5, 6],
            "{name}"
        );
        assert_eq!(
            seqs(store.messages_after("r", 0, 1000, 10).unwrap()),
            [1],
            "{name}"
        );
        assert_eq!(
            seqs(store.messages_after("r", 0, 1, 10_000).unwrap()),
            [1],
            "{name}"
        );
        assert_eq!(
            seqs(store.history("r", None, 1000, 250).unwrap()),
            [9, 10],
            "{name}"
        );
        assert_eq!(
            seqs(store.history("r", Some(9), 1000, 10).unwrap()),
            [8],
            "{name}"
        );
        for k in 0..10u8 {
            store
                .push_direct(
                    "u2",
                    "u1",
                    &[k; 100],
                    NOW,
                    &DirectQuota {
                        count: 100,
                        bytes: 1 << 20,
                        per_sender: 100,
                    },
                    None,
                )
                .unwrap()
                .unwrap();
        }
        let directs = store.directs_after("u2", 0, 1000, 250).unwrap();
        assert_eq!(directs.len(), 2, "{name}");
        assert_eq!(directs[0].payload, [0u8; 100]);
        assert_eq!(
            store.directs_after("u2", 0, 1000, 1).unwrap().len(),
            1,
            "{name}"
        );
    }
}

#[test]
fn new_names_are_counted_per_address_across_every_node_of_the_store() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_registrations_{name}"));
        // Two stores on the same data: two nodes of a cluster.
        let nodes = [open(&dir), open(&dir)];
        let from = |address: &str, now_ms: i64| Newcomer {
            address: address.into(),
            per_hour: 3,
            now_ms,
        };
        let mut outcomes = Vec::new();
        for i in 0..6u8 {
            let node = &nodes[usize::from(i) % 2];
            outcomes.push(
                node.register(
                    &format!("n{i}"),
                    &[i; 32],
                    RegistrationPolicy::Open,
                    None,
                    &from("198.51.100.7", NOW + i64::from(i)),
                )
                .unwrap(),
            );
        }
        assert_eq!(
            outcomes,
            [
                Registration::Registered,
                Registration::Registered,
                Registration::Registered,
                Registration::TooManyFromAddress,
                Registration::TooManyFromAddress,
                Registration::TooManyFromAddress,
            ],
            "{name}"
        );
        let other = nodes[1]
            .register(
                "elsewhere",
                &[50; 32],
                RegistrationPolicy::Open,
                None,
                &from("203.0.113.9", NOW),
            )
            .unwrap();
        assert_eq!(other, Registration::Registered, "another address: {name}");
        // A known name is not a new one; an hour later the address may register again.
        let known = nodes[0]
            .register(
                "n0",
                &[0; 32],
                RegistrationPolicy::Open,
                None,
                &from("198.51.100.7", NOW + 10),
            )
            .unwrap();
        assert_eq!(known, Registration::Known, "{name}");
        let later = nodes[0]
            .register(
                "n9",
                &[9; 32],
                RegistrationPolicy::Open,
                None,
                &from("198.51.100.7", NOW + 3_600_001),
            )
            .unwrap();
        assert_eq!(later, Registration::Registered, "{name}");
        assert_eq!(nodes[0].users().unwrap().len(), 5, "{name}");
    }
}

#[test]
fn inviting_again_keeps_the_start_point_and_age_and_invitations_expire() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_reinvite_{name}"));
        let store = open(&dir);
        for user in ["alice", "bob"] {
            store
                .register(
                    user,
                    user.as_bytes(),
                    RegistrationPolicy::Open,
                    None,
                    &anyone(),
                )
                .unwrap();
        }
        store.create_room("r", "alice", NOW, 10, None).unwrap();
        assert_eq!(
            store
                .invite("r", "bob", "alice", NOW, &INVITATIONS)
                .unwrap(),
            smc::server::store::Invited::Pending {
                welcome_sent: false
            }
        );
        for i in 0..3u8 {
            store
                .append(&[message("r", "alice", vec![i; 10], None)])
                .unwrap()
                .remove(0)
                .unwrap();
        }
        // Invited again later: the same invitation (start point and age).
        store
            .invite("r", "bob", "alice", NOW + 5_000, &INVITATIONS)
            .unwrap();
        let pending = store.invitations_of("bob").unwrap();
        assert_eq!(pending[0].timestamp_ms, NOW, "{name}");
        // The Welcome is queued past a full queue, and said to be sent.
        let full = DirectQuota {
            count: 0,
            bytes: 0,
            per_sender: 0,
        };
        assert!(store
            .push_direct("bob", "alice", b"junk", NOW, &full, None)
            .unwrap()
            .is_none());
        assert!(store
            .push_direct("bob", "alice", b"welcome", NOW, &full, Some("r"))
            .unwrap()
            .is_some());
        assert!(store
            .push_direct("bob", "alice", b"welcome 2", NOW, &full, Some("r"))
            .unwrap()
            .is_some());
        let queued = store.directs_after("bob", 0, 100, 1 << 20).unwrap();
        assert_eq!(queued.len(), 1, "one Welcome per invitation: {name}");
        assert_eq!(queued[0].payload, b"welcome 2", "{name}");
        assert_eq!(
            store
                .invite("r", "bob", "alice", NOW + 6_000, &INVITATIONS)
                .unwrap(),
            smc::server::store::Invited::Pending { welcome_sent: true },
            "{name}"
        );
        // A Welcome for a room without an invitation is an ordinary delivery.
        assert!(store
            .push_direct(
                "bob",
                "alice",
                b"no invitation",
                NOW,
                &full,
                Some("elsewhere")
            )
            .unwrap()
            .is_none());
        assert_eq!(store.accept("r", "bob").unwrap(), Some(0), "{name}");

        // Expiry: invitations before the instant go, with their queued Welcome.
        store.create_room("r2", "alice", NOW, 10, None).unwrap();
        store
            .invite("r2", "bob", "alice", NOW, &INVITATIONS)
            .unwrap();
        store
            .push_direct("bob", "alice", b"welcome r2", NOW, &full, Some("r2"))
            .unwrap()
            .unwrap();
        assert!(store.expire_invitations(NOW).unwrap().is_empty(), "{name}");
        assert_eq!(
            store.expire_invitations(NOW + 1).unwrap(),
            [("r2".to_string(), "bob".to_string())],
            "{name}"
        );
        assert!(!store.is_invited("r2", "bob").unwrap(), "{name}");
        let left: Vec<Vec<u8>> = store
            .directs_after("bob", 0, 100, 1 << 20)
            .unwrap()
            .into_iter()
            .map(|d| d.payload)
            .collect();
        assert_eq!(left, [b"welcome 2".to_vec()], "{name}");
    }
}

#[test]
fn the_storage_quota_holds_under_concurrent_sends() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_quota_{name}"));
        let store = room_of_eight(open, &dir);
        store.create_room("other", "u0", NOW, 10, None).unwrap();
        let s = store.clone();
        // u0 sends 8 x 10 messages of 1,000 bytes, into two rooms, with room for 25.
        let results = together(move |t| {
            (0..10)
                .map(|i| {
                    let room = if t % 2 == 0 { "r" } else { "other" };
                    let mut payload = vec![0u8; 1000];
                    payload[..2].copy_from_slice(&[t as u8, i as u8]);
                    let mut m = message(room, "u0", payload, None);
                    m.max_stored = 25_000;
                    s.append(&[m]).unwrap().remove(0)
                })
                .collect::<Vec<_>>()
        });
        let stored = results.iter().flatten().filter(|r| r.is_ok()).count();
        assert_eq!(stored, 25, "{name}");
        assert!(results.iter().flatten().all(|r| match r {
            Ok(_) => true,
            Err(Refusal::QuotaExceeded { .. }) => true,
            Err(other) => panic!("{other:?}"),
        }));
        // A group-state change is stored past it (the group keeps working).
        let mut change = message("r", "u0", vec![7; 1000], Some(0));
        change.max_stored = 25_000;
        assert!(store.append(&[change]).unwrap().remove(0).is_ok(), "{name}");
        // Others are not affected.
        let mut other = message("r", "u1", vec![8; 1000], None);
        other.max_stored = 25_000;
        assert!(store.append(&[other]).unwrap().remove(0).is_ok(), "{name}");
    }
}
