//! Linked devices, through a real server: a code shown on the first device links a new
//! home, which then connects as the same user with its own key; a wrong, used or
//! expired code links nothing; only the first device links and revokes; a revoked
//! device is closed and refused; the server's device limit holds.

use std::path::Path;
use std::time::Duration;

use smc::client::ChatEvent;
use smc::net::Limits;
use smc::{Client, ErrorKind};

use crate::support::{client, server, server_with, tempdir};

/// Links a new home `home` of alice with `code`, on its own thread, while `first`
/// handles the answer (a plain client handles what arrives when it is called): the
/// new device's outcome, and the id `first` announced when it succeeded.
pub(crate) fn link_while_handling(
    first: &mut Client,
    home: &Path,
    address: &str,
    code: &str,
    name: &str,
) -> (Result<Client, smc::ClientError>, Option<(String, String)>) {
    let (home, address, code, name) = (
        home.to_owned(),
        address.to_owned(),
        code.to_owned(),
        name.to_owned(),
    );
    let new = std::thread::spawn(move || {
        let mut c = Client::open(&home, "alice")?;
        c.link(&address, &code, Some(&name))?;
        Ok(c)
    });
    let mut linked = None;
    while !new.is_finished() {
        if let Some(ChatEvent::DeviceLinked { device, name }) =
            first.recv_event(Some(Duration::from_millis(50))).unwrap()
        {
            linked = Some((device, name));
        }
    }
    (new.join().unwrap(), linked)
}

#[test]
fn a_device_linked_with_the_code_connects_as_its_user_and_both_list_it() {
    let dir = tempdir("devices_link");
    let srv = server(&dir.join("server"));
    let address = srv.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let code = alice.link_code(Duration::from_secs(600)).unwrap();
    assert_eq!(code.len(), 19, "{code}");

    let (laptop, linked) =
        link_while_handling(&mut alice, &dir.join("laptop"), &address, &code, "laptop");
    let laptop = laptop.unwrap();
    let (device, name) = linked.expect("the first device says it linked one");
    assert_eq!(name, "laptop");
    assert_eq!(laptop.device_id().unwrap(), device);
    assert_ne!(alice.device_id().unwrap(), device);
    assert_eq!(
        laptop.identity_key().unwrap(),
        alice.identity_key().unwrap()
    );

    // Both see the same two devices, each marking itself as current.
    for (who, me) in [
        (&alice, alice.device_id().unwrap()),
        (&laptop, device.clone()),
    ] {
        let listed = who.devices().unwrap();
        let ids: Vec<_> = listed.iter().map(|d| d.id.clone()).collect();
        assert_eq!(ids, [alice.device_id().unwrap(), device.clone()]);
        let current: Vec<_> = listed.iter().filter(|d| d.current).map(|d| &d.id).collect();
        assert_eq!(current, [&me]);
        assert_eq!(listed[1].name, "laptop");
        assert!(listed[1].linked_at.is_some());
    }
    // The laptop is alice on the server: its requests are hers (the server answers a
    // linked device's key under alice's name, not as a new user).
    assert!(laptop.invitations().unwrap().is_empty());
    srv.stop();
}

#[test]
fn a_wrong_code_links_nothing_and_spends_the_offer() {
    let dir = tempdir("devices_wrong");
    let srv = server(&dir.join("server"));
    let address = srv.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let code = alice.link_code(Duration::from_secs(600)).unwrap();
    // Right slot (the server routes it), one letter of the secret changed.
    let mut wrong = code.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    let (outcome, linked) =
        link_while_handling(&mut alice, &dir.join("guess"), &address, &wrong, "guess");
    let e = outcome.expect_err("a wrong code links nothing");
    assert_eq!(e.kind(), ErrorKind::LinkRefused, "{e}");
    assert!(linked.is_none());
    // The offer is spent: the right code no longer links either.
    let (outcome, _) = link_while_handling(&mut alice, &dir.join("late"), &address, &code, "late");
    let e = outcome.expect_err("a spent code links nothing");
    assert_eq!(e.kind(), ErrorKind::LinkRefused, "{e}");
    assert_eq!(alice.devices().unwrap().len(), 1, "no device was added");
    srv.stop();
}

#[test]
fn a_code_answered_by_one_device_is_refused_to_another_meanwhile() {
    let dir = tempdir("devices_race");
    let srv = server(&dir.join("server"));
    let address = srv.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let code = alice.link_code(Duration::from_secs(600)).unwrap();
    // The first new device answers; alice, a plain client, handles it only when she
    // is next called, so its answer waits at her end meanwhile.
    let (home, a, c) = (dir.join("first"), address.clone(), code.clone());
    let first = std::thread::spawn(move || {
        let mut c2 = Client::open(&home, "alice")?;
        c2.link(&a, &c, Some("first")).map(|()| c2)
    });
    std::thread::sleep(Duration::from_secs(1));
    let mut second = Client::open(dir.join("second"), "alice").unwrap();
    let refused = second.link(&address, &code, Some("second")).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::LinkRefused, "{refused}");
    let mut linked = Vec::new();
    while !first.is_finished() {
        if let Some(ChatEvent::DeviceLinked { name, .. }) =
            alice.recv_event(Some(Duration::from_millis(50))).unwrap()
        {
            linked.push(name);
        }
    }
    first.join().unwrap().unwrap();
    assert_eq!(linked, ["first"]);
    srv.stop();
}

#[test]
fn a_code_links_one_device_once_and_expires() {
    let dir = tempdir("devices_once");
    let srv = server(&dir.join("server"));
    let address = srv.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let code = alice.link_code(Duration::from_secs(600)).unwrap();
    let (first, _) = link_while_handling(&mut alice, &dir.join("one"), &address, &code, "one");
    first.unwrap();
    let (again, linked) = link_while_handling(&mut alice, &dir.join("two"), &address, &code, "two");
    assert_eq!(again.err().unwrap().kind(), ErrorKind::LinkRefused);
    assert!(linked.is_none());

    let short = alice.link_code(Duration::from_secs(1)).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let (late, _) = link_while_handling(&mut alice, &dir.join("late"), &address, &short, "late");
    assert_eq!(late.err().unwrap().kind(), ErrorKind::LinkRefused);
    assert_eq!(alice.devices().unwrap().len(), 2);
    srv.stop();
}

#[test]
fn only_the_first_device_links_and_revokes_and_a_revoked_device_is_shut_out() {
    let dir = tempdir("devices_revoke");
    let srv = server(&dir.join("server"));
    let address = srv.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let code = alice.link_code(Duration::from_secs(600)).unwrap();
    let (laptop, _) =
        link_while_handling(&mut alice, &dir.join("laptop"), &address, &code, "laptop");
    let mut laptop = laptop.unwrap();
    let laptop_id = laptop.device_id().unwrap();

    assert_eq!(
        laptop
            .link_code(Duration::from_secs(60))
            .unwrap_err()
            .kind(),
        ErrorKind::LinkRefused
    );
    assert_eq!(
        laptop
            .revoke_device(&alice.device_id().unwrap())
            .unwrap_err()
            .kind(),
        ErrorKind::LinkRefused
    );
    // A used home is not linked again.
    assert!(laptop.link(&address, &code, None).is_err());

    alice.revoke_device(&laptop_id).unwrap();
    assert_eq!(alice.devices().unwrap().len(), 1);
    // Its connection is closed, and it is refused from then on, for good.
    let closed = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        laptop.invitations().is_err()
    });
    assert!(closed, "the revoked device's connection stays open");
    let refused = laptop.connect(&address).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::DeviceRevoked, "{refused}");
    assert!(refused.kind().is_fatal());
    // Revoking it again, or a device that does not exist, is refused.
    assert!(alice.revoke_device(&laptop_id).is_err());
    assert!(alice.revoke_device("0011223344556677").is_err());
    srv.stop();
}

#[test]
fn the_servers_device_limit_counts_the_first_device_and_not_the_revoked() {
    let dir = tempdir("devices_limit");
    let limits = Limits {
        max_devices_per_user: 2,
        ..Limits::default()
    };
    let srv = server_with(&dir.join("server"), limits);
    let address = srv.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let code = alice.link_code(Duration::from_secs(600)).unwrap();
    let (one, _) = link_while_handling(&mut alice, &dir.join("one"), &address, &code, "one");
    let one = one.unwrap();
    let code = alice.link_code(Duration::from_secs(600)).unwrap();
    let (two, linked) = link_while_handling(&mut alice, &dir.join("two"), &address, &code, "two");
    assert!(
        two.is_err() && linked.is_none(),
        "a third device past a limit of 2"
    );
    alice.revoke_device(&one.device_id().unwrap()).unwrap();
    let code = alice.link_code(Duration::from_secs(600)).unwrap();
    let (three, _) = link_while_handling(&mut alice, &dir.join("three"), &address, &code, "three");
    three.unwrap();
    srv.stop();
}
