//! The device guarantees every store gives: a device is linked only under the identity
//! key recorded for its user (recorded by the first link), never with a transport key
//! that is someone's already, and within the limit even when several are linked at
//! once; a linked device's key says Hello as its user until it is revoked, then is
//! refused for good; the rows survive the store being opened again.

use smc::identity::device::DeviceId;
use smc::server::store::{
    DeviceAdded, DeviceRow, DeviceStanding, Registration, RegistrationPolicy, Store,
};

use super::{anyone, backends, together, NOW, THREADS};
use crate::support::tempdir;

fn row(seed: u8) -> DeviceRow {
    DeviceRow {
        id: DeviceId::from_bytes([seed; 8]),
        name: format!("device {seed}"),
        transport_key: vec![seed; 32],
        certificate: vec![seed; 10],
        linked_ms: NOW + i64::from(seed),
        revoked_ms: None,
    }
}

fn hello(store: &dyn Store, user: &str, key: &[u8]) -> Registration {
    store
        .register(user, key, RegistrationPolicy::Open, None, &anyone())
        .unwrap()
}

#[test]
fn a_device_is_linked_under_one_identity_and_answers_for_its_user_until_revoked() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_devices_{name}"));
        let store = open(&dir);
        assert_eq!(
            hello(store.as_ref(), "alice", &[1; 32]),
            Registration::Registered
        );
        assert_eq!(
            hello(store.as_ref(), "bob", &[2; 32]),
            Registration::Registered
        );
        assert_eq!(store.identity_key("alice").unwrap(), None);
        let added = |user: &str, identity: &[u8], device: DeviceRow| {
            store.add_device(user, identity, &device, 10).unwrap()
        };
        assert_eq!(
            added("alice", b"identity-a", row(10)),
            DeviceAdded::Added,
            "{name}"
        );
        assert_eq!(
            store.identity_key("alice").unwrap().as_deref(),
            Some(&b"identity-a"[..])
        );
        // Another identity key for alice, bob's key, or a key already a device's.
        assert_eq!(
            added("alice", b"identity-x", row(11)),
            DeviceAdded::OtherIdentity
        );
        let mut bobs = row(12);
        bobs.transport_key = vec![2; 32];
        assert_eq!(added("alice", b"identity-a", bobs), DeviceAdded::KeyInUse);
        let mut again = row(13);
        again.transport_key = vec![10; 32];
        assert_eq!(added("alice", b"identity-a", again), DeviceAdded::KeyInUse);
        assert_eq!(
            added("nobody", b"identity-a", row(14)),
            DeviceAdded::UnknownUser
        );

        // The device's key is alice's, on her name only.
        assert_eq!(
            hello(store.as_ref(), "alice", &[10; 32]),
            Registration::Known
        );
        assert_eq!(hello(store.as_ref(), "bob", &[10; 32]), Registration::Taken);
        assert_eq!(
            store.device_standing("alice", &[10; 32]).unwrap(),
            DeviceStanding::Linked(DeviceId::from_bytes([10; 8]))
        );
        assert_eq!(
            store.device_standing("alice", &[1; 32]).unwrap(),
            DeviceStanding::First
        );
        assert_eq!(
            store.device_standing("bob", &[10; 32]).unwrap(),
            DeviceStanding::Stranger
        );

        // Revoked: refused for good, listed as revoked, not revoked twice.
        let id = DeviceId::from_bytes([10; 8]);
        assert!(store.revoke_device("alice", &id, NOW + 100).unwrap());
        assert!(!store.revoke_device("alice", &id, NOW + 200).unwrap());
        assert!(!store.revoke_device("bob", &id, NOW + 200).unwrap());
        assert_eq!(
            hello(store.as_ref(), "alice", &[10; 32]),
            Registration::Revoked
        );
        drop(store);
        let store = open(&dir);
        assert_eq!(
            hello(store.as_ref(), "alice", &[10; 32]),
            Registration::Revoked,
            "{name}"
        );
        let listed = store.devices("alice").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].revoked_ms, Some(NOW + 100));
        assert_eq!(listed[0].certificate, vec![10; 10]);
        assert!(store.devices("bob").unwrap().is_empty());
    }
}

#[test]
fn the_device_limit_holds_when_devices_are_linked_at_once() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_device_limit_{name}"));
        let store = open(&dir);
        assert_eq!(
            hello(store.as_ref(), "alice", &[1; 32]),
            Registration::Registered
        );
        // A limit of 4 devices: the first and three linked.
        let outcomes = {
            let store = store.clone();
            together(move |i| {
                store
                    .add_device("alice", b"identity", &row(20 + i as u8), 4)
                    .unwrap()
            })
        };
        let added = outcomes
            .iter()
            .filter(|o| **o == DeviceAdded::Added)
            .count();
        assert_eq!(added, 3, "{name}: {outcomes:?}");
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == DeviceAdded::TooMany)
                .count(),
            THREADS - 3
        );
        // A revoked device makes room.
        let first = store.devices("alice").unwrap()[0].id;
        assert!(store.revoke_device("alice", &first, NOW).unwrap());
        assert_eq!(
            store.add_device("alice", b"identity", &row(90), 4).unwrap(),
            DeviceAdded::Added
        );
    }
}
