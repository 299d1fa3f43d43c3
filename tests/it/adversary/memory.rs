//! Third round, finding 1: a session's memory and work are bounded by what it is sent,
//! in every phase, not only by what waits in its queue. A room of ~96 MiB; six sessions
//! of its member catch up on all of it from the start and never read; two more ask for
//! a thousand messages of its history in a loop. The server process's peak RSS stays
//! far below one copy of the room per session (before the fix: each catch-up read 512
//! messages, here the whole room, before writing any, and each History request read up
//! to 1,000 messages to send half a megabyte).

use std::time::{Duration, Instant};

use smc::identity::StaticKeypair;
use smc::proto::{Reply, Request};

use super::raw::Raw;
use crate::support::{self, tempdir};

/// The server process's peak resident memory so far (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kb * 1024
}

#[test]
fn catch_ups_and_history_requests_of_a_huge_room_do_not_pin_the_servers_memory() {
    const MESSAGES: usize = 96;
    const SIZE: usize = 1_000_000;
    let dir = tempdir("adv_memory");
    let (child, address) = support::server_process(&dir.join("server"), "127.0.0.1:0");
    let server = support::Reaped(child);
    let pid = server.0.id();
    let address: std::net::SocketAddr = address.parse().unwrap();
    let key = StaticKeypair::generate().unwrap();
    let mut mallory = Raw::hello_with(address, "mallory", &key).unwrap();
    mallory
        .request(Request::CreateRoom {
            room: "huge".into(),
            group_info: None,
        })
        .unwrap();
    for i in 0..MESSAGES {
        let mut payload = vec![(i % 251) as u8; SIZE];
        payload[..8].copy_from_slice(&(i as u64).to_be_bytes());
        mallory
            .request(Request::Send {
                room: "huge".into(),
                payload,
                commit_epoch: None,
            })
            .unwrap();
        mallory.events.clear();
    }
    drop(mallory);
    let before = peak_rss(pid);

    // Six sessions of the member catch up from the start of the room and never read.
    let sleepers: Vec<Raw> = (0..6)
        .map(|_| Raw::hello_with(address, "mallory", &key).unwrap())
        .collect();
    // Two more ask for a thousand messages of history, reading the replies, in a loop.
    let askers: Vec<_> = (0..2)
        .map(|_| {
            let key = key.clone();
            std::thread::spawn(move || {
                // Read up to the room's end already: only the history requests count.
                let cursor = vec![("huge".to_owned(), MESSAGES as u64)];
                let mut raw = Raw::hello_at(address, "mallory", &key, cursor).unwrap();
                let end = Instant::now() + Duration::from_secs(4);
                let mut replies = 0;
                while Instant::now() < end {
                    let reply = raw.request(Request::History {
                        room: "huge".into(),
                        before: None,
                        limit: 1000,
                    });
                    raw.events.clear();
                    match reply {
                        Ok(Reply::Messages(m)) => {
                            assert!(!m.is_empty());
                            replies += 1;
                        }
                        other => panic!("{other:?}"),
                    }
                }
                replies
            })
        })
        .collect();
    let replies: u32 = askers.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(replies > 0);
    let peak = peak_rss(pid);
    drop(sleepers);
    let room = (MESSAGES * SIZE) as u64;
    eprintln!(
        "server peak RSS: {} MiB before the catch-ups, {} MiB after (room: {} MiB; {replies} history replies)",
        before >> 20,
        peak >> 20,
        room >> 20
    );
    // One copy of the room would be 96 MiB; six catch-ups that read it whole were
    // ~600 MiB more. What a session may hold: a page of 2 MiB and its encoding.
    assert!(
        peak < before + room,
        "the server's peak RSS grew by {} MiB for a room of {} MiB",
        (peak - before) >> 20,
        room >> 20
    );
}
