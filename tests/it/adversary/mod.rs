//! smc against attackers: a registered user who is malicious (with a raw protocol
//! client, [`raw::Raw`], and hand-built MLS messages, [`mls::Actor`]), a malicious
//! server (the real server with its database edited between runs, [`evil::Evil`]),
//! and anyone who can open sockets. Each test reproduces an attack and shows that it
//! fails, and that the legitimate users are unaffected.

use crate::support;

pub use crate::support::raw;

mod client_memory;
mod consent;
mod devices;
mod directs;
mod epochs;
mod files;
mod joined;
mod key_packages;
mod legacy;
mod limits;
mod liveness;
mod memory;
mod names;
mod opaque_rooms;
mod pcs;
mod policy;
mod registration;
mod removed;
mod server_forgery;
mod storage;
mod strangers;
mod welcome;

use std::path::Path;

use smc::{Client, Server};
pub use support::events::{drain, texts, unreadable};

pub use support::server_with as start;
pub use support::WAIT;

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

/// Clients of `users` (homes under `dir`) on the server at `address`: the first
/// creates `room` and invites the others, who have joined when this returns.
pub fn room_with(dir: &Path, address: &str, room: &str, users: &[&str]) -> Vec<Client> {
    let mut clients: Vec<Client> = users
        .iter()
        .map(|u| support::client(&dir.join(u), u, address))
        .collect();
    clients[0].create_room(room).unwrap();
    for u in &users[1..] {
        clients[0].invite(room, u).unwrap();
    }
    for c in &mut clients[1..] {
        drain(c);
    }
    clients
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

/// mallory, a real member of `room` (see [`raw::member`]).
pub fn mallory_in(
    server: &Server,
    alice: &mut Client,
    room: &str,
) -> (raw::Raw, support::mls::Actor) {
    raw::member(server, alice, room, "mallory")
}

/// The Welcome waiting for `mallory` (a direct delivery on his raw connection).
pub fn welcome_of(mallory: &mut raw::Raw) -> Vec<u8> {
    use smc::proto::{Event, ServerFrame};
    loop {
        if let Some(Event::Direct(d)) = mallory.events.pop() {
            return d.payload;
        }
        match mallory.next_frame(std::time::Duration::from_secs(10)) {
            Some(ServerFrame::Event(e)) => mallory.events.push(e),
            Some(_) => {}
            None => panic!("no Welcome for mallory"),
        }
    }
}
