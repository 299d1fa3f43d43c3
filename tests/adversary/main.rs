//! smc against attackers: a registered user who is malicious (with a raw protocol
//! client, [`raw::Raw`], and hand-built MLS messages, [`mls::Actor`]), a malicious
//! server (the real server with its database edited between runs, [`evil::Evil`]),
//! and anyone who can open sockets. Each test reproduces an attack and shows that it
//! fails, and that the legitimate users are unaffected.

#[path = "../support/mod.rs"]
mod support;

mod evil;
mod raw;

mod consent;
mod directs;
mod epochs;
mod key_packages;
mod legacy;
mod limits;
mod liveness;
mod names;
mod opaque_rooms;
mod pcs;
mod registration;
mod removed;
mod server_forgery;
mod storage;
mod welcome;

use std::path::Path;
use std::time::Duration;

use smc::client::ChatEvent;
use smc::net::Limits;
use smc::{Client, Server, ServerConfig};

pub const WAIT: Option<Duration> = Some(Duration::from_secs(10));
pub const QUIET: Option<Duration> = Some(Duration::from_millis(500));

/// A server on a free loopback port with `limits`.
pub fn start(dir: &Path, limits: Limits) -> Server {
    let mut config = ServerConfig::new(dir, "127.0.0.1:0");
    config.limits = limits;
    Server::start(config).unwrap()
}

/// Every event until nothing comes for a while.
pub fn drain(c: &mut Client) -> Vec<ChatEvent> {
    let mut out = Vec::new();
    while let Some(e) = c.recv_event(QUIET).unwrap() {
        out.push(e);
    }
    out
}

/// The texts of the messages among `events`.
pub fn texts(events: &[ChatEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Message(m) => Some(m.text.clone()),
            _ => None,
        })
        .collect()
}

/// The reasons of the undecryptable items among `events`.
pub fn unreadable(events: &[ChatEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Undecryptable { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

/// alice and bob, both connected, in room `room` that alice created; bob has read
/// alice's first message.
pub fn pair(dir: &Path, server: &Server, room: &str) -> (Client, Client) {
    let address = server.address().to_string();
    let mut alice = support::client(&dir.join("alice"), "alice", &address);
    let mut bob = support::client(&dir.join("bob"), "bob", &address);
    alice.create_room(room).unwrap();
    alice.invite(room, "bob").unwrap();
    alice.send(room, "hello bob").unwrap();
    assert_eq!(texts(&drain(&mut bob)), ["hello bob"]);
    (alice, bob)
}

/// The legitimate users still talk both ways in `room`.
pub fn still_chatting(alice: &mut Client, bob: &mut Client, room: &str, label: &str) {
    let a = format!("alice after {label}");
    alice.send(room, &a).unwrap();
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, a);
    let b = format!("bob after {label}");
    bob.send(room, &b).unwrap();
    assert_eq!(alice.recv(WAIT).unwrap().unwrap().text, b);
}
