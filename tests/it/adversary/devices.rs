//! A hostile server adds devices to someone: it moves another person's device into
//! their list, or changes a device's certificate. Neither is ever listed as theirs:
//! each device is checked against the person's identity key, which the server does not
//! hold. (The server itself checks every certificate it is given: see
//! `store_contract::devices` and `devices::`.)

use std::time::Duration;

use crate::devices::link_while_handling;
use crate::support::evil::Evil;
use crate::support::{client, tempdir};

#[test]
fn a_device_the_server_moves_or_alters_is_not_listed() {
    let dir = tempdir("adv_devices");
    let mut evil = Evil::start(&dir.join("server"));
    let address = evil.address.clone();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    let code = alice.link_code(Duration::from_secs(600)).unwrap();
    let (laptop, _) =
        link_while_handling(&mut alice, &dir.join("laptop"), &address, &code, "laptop");
    let laptop = laptop.unwrap();
    let laptop_id = laptop.device_id().unwrap();
    drop(laptop);
    // bob links a phone: a genuine certificate, of bob's identity.
    let mut bobs_code = bob.link_code(Duration::from_secs(600)).unwrap();
    let (phone, _) = {
        // The helper links a home of alice's: bob's phone is linked by hand.
        let home = dir.join("phone");
        let (a, c) = (address.clone(), std::mem::take(&mut bobs_code));
        let t = std::thread::spawn(move || {
            let mut p = smc::Client::open(&home, "bob")?;
            p.link(&a, &c, Some("phone")).map(|()| p)
        });
        while !t.is_finished() {
            let _ = bob.recv_event(Some(Duration::from_millis(50))).unwrap();
        }
        (t.join().unwrap(), ())
    };
    let phone = phone.unwrap();
    let phone_id = phone.device_id().unwrap();
    drop(phone);
    assert_eq!(alice.devices().unwrap().len(), 2);

    evil.tamper(|db| {
        // bob's phone, listed as alice's (its certificate as it is, bob's).
        db.execute(
            "INSERT INTO devices (user, id, name, transport_key, certificate, linked_ms)
             SELECT 'alice', id, name, randomblob(32), certificate, linked_ms FROM devices
             WHERE user = 'bob'",
            [],
        )
        .unwrap();
        // alice's laptop, its certificate's signature changed by one bit.
        let mut cert: Vec<u8> = db
            .query_row(
                "SELECT certificate FROM devices WHERE user = 'alice' AND name = 'laptop'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let last = cert.len() - 1;
        cert[last] ^= 1;
        db.execute(
            "UPDATE devices SET certificate = ?1 WHERE user = 'alice' AND name = 'laptop'",
            [&cert],
        )
        .unwrap();
    });
    alice.connect(&address).unwrap();
    let listed: Vec<String> = alice.devices().unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(
        listed,
        [alice.device_id().unwrap()],
        "only the first device is alice's"
    );
    assert!(!listed.contains(&phone_id) && !listed.contains(&laptop_id));
    // bob's own list is untouched.
    bob.connect(&address).unwrap();
    let bobs: Vec<String> = bob.devices().unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(bobs, [bob.device_id().unwrap(), phone_id]);
}

#[test]
fn guessing_link_codes_is_limited_per_address() {
    // Each attempt names a slot of alice's; a wrong one spends nothing, so without a
    // limit an address could try every slot. After 20 attempts in an hour, refused.
    let dir = tempdir("adv_link_guess");
    let srv = crate::support::server(&dir.join("server"));
    let address = srv.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let _code = alice.link_code(Duration::from_secs(600)).unwrap();
    let mut guesser = smc::Client::open(dir.join("guesser"), "alice").unwrap();
    let mut kinds = Vec::new();
    for i in 0..21 {
        let guess = format!("{:04}-0000-0000-0000", i);
        kinds.push(guesser.link(&address, &guess, None).unwrap_err().kind());
    }
    assert!(
        kinds[..20]
            .iter()
            .all(|k| *k == smc::ErrorKind::LinkRefused),
        "{kinds:?}"
    );
    assert_eq!(kinds[20], smc::ErrorKind::RateLimited, "{kinds:?}");
    srv.stop();
}

#[test]
fn a_list_of_devices_stays_bounded_however_many_were_revoked() {
    use smc::client::hazmat::RawAccess;
    let dir = tempdir("adv_device_churn");
    let srv = crate::support::server(&dir.join("server"));
    let address = srv.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    for i in 0..18 {
        let code = alice.link_code(Duration::from_secs(600)).unwrap();
        let home = dir.join(format!("d{i}"));
        let (device, _) = link_while_handling(&mut alice, &home, &address, &code, "churn");
        let id = device.unwrap().device_id().unwrap();
        alice.revoke_device(&id).unwrap();
    }
    let smc::proto::Reply::Devices(listed) = alice.request(smc::proto::Request::Devices).unwrap()
    else {
        panic!("not a list of devices");
    };
    assert_eq!(listed.len(), 16, "the latest 16 revoked devices, no more");
    assert!(listed.iter().all(|d| d.revoked_ms.is_some()));
    assert_eq!(alice.devices().unwrap().len(), 1);
    srv.stop();
}
