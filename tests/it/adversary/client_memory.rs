//! A hostile server cannot make a client hold more than a bounded amount of memory:
//! - a server that refuses a send as stale (which makes the client catch the room up
//!   from its history) and answers each history page with one message of ~1 MB,
//!   always one seq further back: before the fix the client gathered up to 100,000 of
//!   them (~100 GB) before processing any; now it stops at 64 MiB;
//! - a server that pushes ~1 MB events to a client whose program does not call into
//!   it: before the fix its connection's reader took them all into memory; now it
//!   stops reading at 64 MiB not taken, and goes on once the program calls again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use std::time::{Duration, Instant};

use smc::proto::{Envelope, Event, Reply, Request};
use smc::{Client, Refusal};

use crate::support::hostile::Hostile;
use crate::support::tempdir;

/// The payload of each message the server sends back.
const SIZE: usize = 1_000_000;
/// History pages the server answers before it gives up on the client stopping (~300
/// MB; the client's bound is ~67 pages).
const GIVE_UP: usize = 300;

#[test]
fn history_pages_of_big_messages_without_end_do_not_pile_up_in_a_client() {
    let dir = tempdir("adv_client_memory");
    let pages = Arc::new(AtomicUsize::new(0));
    let served = pages.clone();
    let sends = AtomicUsize::new(0);
    let hostile = Hostile::start(move |request| match request {
        Request::Hello { user, .. } => Ok(Reply::Welcome {
            user: user.clone(),
            registered: true,
        }),
        Request::KeyPackageCount => Ok(Reply::Count(1_000)),
        // The first send is stale (a catch-up follows), the next ones refused.
        Request::Send { .. } if sends.fetch_add(1, Ordering::SeqCst) == 0 => {
            Err(Refusal::Stale { current: 0 })
        }
        Request::Send { .. } => Err(Refusal::Internal),
        Request::History { room, before, .. } => {
            if served.fetch_add(1, Ordering::SeqCst) >= GIVE_UP {
                return Err(Refusal::Internal);
            }
            let seq = before.unwrap_or(1 << 40) - 1;
            Ok(Reply::Messages(vec![Envelope {
                id: seq,
                room: room.clone(),
                seq,
                sender: "mallory".into(),
                timestamp_ms: 0,
                payload: vec![7; SIZE],
                commit_epoch: None,
            }]))
        }
        _ => Ok(Reply::Done),
    });
    let mut alice = Client::open(dir.join("alice"), "alice").unwrap();
    alice.connect(&hostile.address.to_string()).unwrap();
    alice.create_room("r").unwrap();
    let refused = alice.send("r", "hello");
    let served = pages.load(Ordering::SeqCst);
    assert!(
        refused.is_err(),
        "a send the server never took: {refused:?}"
    );
    // One catch-up of at most 64 MiB (~67 pages of ~1 MB): the client stopped asking
    // by itself, long before the server gave up.
    assert!(
        served <= 70,
        "the client kept asking for history: {served} pages of ~1 MB"
    );
    assert!(served > 0, "the catch-up ran");
}

#[test]
fn events_pushed_to_a_client_that_takes_none_stop_at_its_bound_and_flow_again() {
    const EVENTS: usize = 160;
    let dir = tempdir("adv_client_backlog");
    let hostile = Hostile::start_pushing(
        |request| match request {
            Request::Hello { user, .. } => Ok(Reply::Welcome {
                user: user.clone(),
                registered: true,
            }),
            Request::KeyPackageCount => Ok(Reply::Count(1_000)),
            _ => Ok(Reply::Done),
        },
        |i| {
            (i < EVENTS).then(|| {
                Event::Message(Envelope {
                    id: i as u64 + 1,
                    room: "elsewhere".into(),
                    seq: i as u64 + 1,
                    sender: "mallory".into(),
                    timestamp_ms: 0,
                    payload: vec![7; SIZE],
                    commit_epoch: None,
                })
            })
        },
    );
    let mut alice = Client::open(dir.join("alice"), "alice").unwrap();
    alice.connect(&hostile.address.to_string()).unwrap();
    hostile.push();
    // Alice's program calls nothing; her connection's reader runs on its own. Until
    // what it read stops growing:
    let settled = |hostile: &Hostile| {
        let start = Instant::now();
        let mut last = usize::MAX;
        while start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(700));
            let now = hostile.pushed();
            if now == last {
                return now;
            }
            last = now;
        }
        last
    };
    let held = settled(&hostile);
    let all = EVENTS * (SIZE + 100);
    // 64 MiB passed on, plus what the sockets' buffers may hold (the kernel grows a
    // loopback socket's buffers up to its `tcp_rmem` and `tcp_wmem` maxima: 32 MiB
    // and 4 MiB on the CI machine) and two frames in flight.
    let buffered = kernel_buffer_max("tcp_rmem") + kernel_buffer_max("tcp_wmem") + 2 * SIZE;
    assert!(
        held <= (64 << 20) + buffered,
        "{held} bytes read into a client that took none of them (kernel buffers: {buffered})"
    );
    assert!(held < all, "{held} of {all}: nothing held back");
    // Her program calls again: the rest flows, nothing was cut.
    let start = Instant::now();
    while hostile.pushed() < EVENTS * SIZE && start.elapsed() < Duration::from_secs(60) {
        alice.recv(Some(Duration::from_millis(100))).unwrap();
    }
    assert!(
        hostile.pushed() >= EVENTS * SIZE,
        "only {} of {} bytes flowed once the client was read",
        hostile.pushed(),
        EVENTS * SIZE
    );
}

/// The largest buffer the kernel gives a TCP socket for `which` (`tcp_rmem` or
/// `tcp_wmem`, its third field), or Linux's default when unreadable.
fn kernel_buffer_max(which: &str) -> usize {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/{which}"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(if which == "tcp_rmem" {
            6 << 20
        } else {
            4 << 20
        })
}
