//! Finding 7: registration is under the operator's control (open, by one-time token,
//! or closed; `smc admin` issues tokens, lists users, releases names), and each user's
//! rooms are bounded.

use smc::client::hazmat::RawAccess;
use std::path::Path;
use std::process::Command;

use smc::identity::StaticKeypair;
use smc::net::Limits;
use smc::proto::Request;
use smc::server::store::RegistrationPolicy;
use smc::{Refusal, Server, ServerConfig};

use super::raw::Raw;
use crate::support::{client, tempdir};

fn start(data: &Path, listen: &str, registration: RegistrationPolicy) -> Server {
    let mut config = ServerConfig::new(data, listen);
    config.registration = registration;
    config.limits = Limits {
        max_rooms_per_user: 3,
        ..Limits::default()
    };
    Server::start(config).unwrap()
}

fn admin(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_smc"))
        .arg("admin")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("SMC_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn new_names_need_a_token_and_tokens_are_used_once() {
    let dir = tempdir("adv_registration");
    let data = dir.join("server");
    let server = start(&data, "127.0.0.1:0", RegistrationPolicy::Token);
    let address = server.address();
    let refused = Raw::hello(address, "mallory").err();
    assert!(
        matches!(refused, Some(Refusal::RegistrationRefused { .. })),
        "{refused:?}"
    );
    let tokens = admin(&data, &["issue-token", "--count", "2"]);
    let tokens: Vec<&str> = tokens.lines().collect();
    assert_eq!(tokens.len(), 2);
    let alice_key = StaticKeypair::generate().unwrap();
    Raw::hello_token(address, "alice", &alice_key, Some(tokens[0])).unwrap();
    // Used: not again, not for another name; a made-up one neither.
    for (name, token) in [("bob", tokens[0]), ("bob", "aaaaaaaaaaaaaaaa")] {
        let refused = Raw::hello_token(
            address,
            name,
            &StaticKeypair::generate().unwrap(),
            Some(token),
        )
        .err();
        assert!(
            matches!(refused, Some(Refusal::RegistrationRefused { .. })),
            "{refused:?}"
        );
    }
    // A registered user needs no token any more.
    let mut alice = Raw::hello_with(address, "alice", &alice_key).unwrap();
    // Rooms per user are bounded.
    for room in ["r1", "r2", "r3"] {
        alice
            .request(Request::CreateRoom {
                room: room.into(),
                group_info: None,
            })
            .unwrap();
    }
    let refused = alice.request(Request::CreateRoom {
        room: "r4".into(),
        group_info: None,
    });
    assert!(
        matches!(refused, Err(Refusal::QuotaExceeded { .. })),
        "{refused:?}"
    );

    // Closed: nobody new, the registered go on.
    let listen = address.to_string();
    drop((alice, server));
    let server = start(&data, &listen, RegistrationPolicy::Closed);
    let refused = Raw::hello_token(
        server.address(),
        "bob",
        &StaticKeypair::generate().unwrap(),
        Some(tokens[1]),
    )
    .err();
    assert!(
        matches!(refused, Some(Refusal::RegistrationRefused { .. })),
        "{refused:?}"
    );
    Raw::hello_with(server.address(), "alice", &alice_key).unwrap();
    let users = admin(&data, &["users"]);
    assert!(users.starts_with("alice\t"), "{users}");
    assert_eq!(users.lines().count(), 1, "{users}");
}

#[test]
fn a_released_name_is_taken_over_without_the_previous_holders_rooms() {
    let dir = tempdir("adv_release");
    let data = dir.join("server");
    let server = start(&data, "127.0.0.1:0", RegistrationPolicy::Open);
    let address = server.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "for the first bob").unwrap();
    assert_eq!(super::texts(&super::drain(&mut bob)), ["for the first bob"]);
    drop(bob);

    // bob lost his keys: a new key cannot take the name...
    let lost = Raw::hello(server.address(), "bob").err();
    assert!(matches!(lost, Some(Refusal::NameTaken { .. })), "{lost:?}");
    // ...until the operator releases it.
    assert!(admin(&data, &["release", "bob"]).contains("released"));
    let mut bob2 = client(&dir.join("bob2"), "bob", &address);
    assert!(
        bob2.routed_rooms().unwrap().is_empty(),
        "the old rooms went with the old key"
    );
    alice.send("r", "after the release").unwrap();
    assert!(super::drain(&mut bob2).is_empty());
    let refused = bob2.history_envelopes("r", None, 10).unwrap_err();
    assert!(
        matches!(
            refused,
            smc::ClientError::Refused(Refusal::NotAMember { .. })
        ),
        "{refused:?}"
    );
}
