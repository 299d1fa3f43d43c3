//! Findings 2 and 8: a peer that never reads its replies cannot pin the server's
//! memory (bytes bound, write timeout), and neither one identity's sessions nor bare
//! sockets can take every connection slot.

use std::net::TcpStream;
use std::time::Duration;

use smc::identity::StaticKeypair;
use smc::net::Limits;
use smc::proto::Request;

use super::raw::Raw;
use super::{pair, start, still_chatting};
use crate::support::{client, tempdir};

/// mallory's room holding one message of ~500 KiB, so that each History reply is
/// about half a megabyte.
fn heavy_room(mallory: &mut Raw) {
    mallory
        .request(Request::CreateRoom {
            room: "heavy".into(),
            group_info: None,
        })
        .unwrap();
    mallory
        .request(Request::Send {
            room: "heavy".into(),
            payload: vec![0x42; 500 * 1024],
            commit_epoch: None,
        })
        .unwrap();
}

fn history_flood(mallory: &mut Raw, count: usize) {
    for _ in 0..count {
        if mallory
            .send(Request::History {
                room: "heavy".into(),
                before: None,
                limit: 10,
            })
            .is_err()
        {
            return; // already cut off
        }
    }
}

/// Whether the server closed `peer`'s connection within `wait`, seen by writing (a
/// small request every 200 ms fails once the server has hung up), never by reading:
/// reading would take the unread replies out and undo what is tested.
fn cut_off_within(peer: &mut Raw, wait: Duration) -> bool {
    let deadline = std::time::Instant::now() + wait;
    while std::time::Instant::now() < deadline {
        if peer.send(Request::Ping).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn a_peer_that_never_reads_its_replies_is_cut_off_by_the_byte_bound() {
    let dir = tempdir("adv_unread_bytes");
    // The write timeout far away: only the byte bound can close the session within
    // the test's wait (generous, for a loaded machine and the PostgreSQL store).
    let limits = Limits {
        outbound_bytes: 4 << 20,
        write_timeout: Duration::from_secs(600),
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let (mut alice, mut bob) = pair(&dir, &server, "r");
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    heavy_room(&mut mallory);
    // 300 replies of ~500 KiB (150 MB) asked for, none read.
    history_flood(&mut mallory, 300);
    assert!(
        cut_off_within(&mut mallory, Duration::from_secs(120)),
        "the server kept the session"
    );
    still_chatting(&mut alice, &mut bob, "r", "the unread replies");
}

#[test]
fn a_peer_that_stops_reading_is_cut_off_by_the_write_timeout() {
    let dir = tempdir("adv_unread_timeout");
    let limits = Limits {
        outbound_bytes: 1 << 30,
        write_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let (mut alice, mut bob) = pair(&dir, &server, "r");
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();
    heavy_room(&mut mallory);
    history_flood(&mut mallory, 100);
    // Not reading: the socket buffers fill, the server's write blocks and times out.
    assert!(
        cut_off_within(&mut mallory, Duration::from_secs(120)),
        "the server kept writing to a peer that does not read"
    );
    still_chatting(&mut alice, &mut bob, "r", "the stalled reader");
}

#[test]
fn one_identity_or_bare_sockets_cannot_take_every_slot() {
    let dir = tempdir("adv_slots");
    let limits = Limits {
        max_connections: 24,
        max_sessions_per_user: 3,
        max_unauthenticated: 4,
        handshake_timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let (alice, mut bob) = pair(&dir, &server, "r");
    drop(alice);

    // 20 sessions of one identity: only the last 3 stay.
    let key = StaticKeypair::generate().unwrap();
    let mut sessions: Vec<Raw> = (0..20)
        .map(|_| Raw::hello_with(server.address(), "mallory", &key).unwrap())
        .collect();
    assert!(sessions[0].closed_within(Duration::from_secs(5)));
    assert!(sessions[16].closed_within(Duration::from_secs(5)));
    assert!(!sessions[19].closed_within(Duration::from_millis(500)));
    // 20 sockets that never start the handshake (their deadline is long).
    let bare: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(server.address()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    // alice still gets in, and chats.
    let mut alice = client(&dir.join("alice"), "alice", &server.address().to_string());
    still_chatting(&mut alice, &mut bob, "r", "the slot grab");
    drop((sessions.pop(), bare));
}

#[test]
fn an_idle_session_is_closed() {
    let dir = tempdir("adv_idle");
    let limits = Limits {
        idle_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let mut idle = Raw::hello(server.address(), "idler").unwrap();
    std::thread::sleep(Duration::from_millis(900));
    assert!(
        idle.closed_within(Duration::from_secs(5)),
        "an idle session held"
    );
}

/// `--max-connections 64` with the default cap of unauthenticated connections (256,
/// above it): 80 bare sockets from one address that never start their handshake. A
/// full server closes the oldest of them for each newcomer, so alice still gets in.
#[test]
fn bare_sockets_cannot_fill_a_server_whose_total_is_below_the_handshake_cap() {
    let dir = tempdir("adv_slots_total");
    let limits = Limits {
        max_connections: 64,
        handshake_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let (alice, mut bob) = pair(&dir, &server, "r");
    drop(alice);
    let bare: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(server.address()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut alice = client(&dir.join("alice"), "alice", &server.address().to_string());
    still_chatting(&mut alice, &mut bob, "r", "bare sockets filling the server");
    drop(bare);
}

/// One address holds at most its share of the connections: past it, that address's
/// newest connection is closed at once (its own handshakes make room first), while
/// another address still gets in.
#[test]
fn one_address_cannot_take_more_than_its_share() {
    use std::io::Read;
    let dir = tempdir("adv_slots_address");
    let limits = Limits {
        max_connections: 64,
        max_connections_per_address: 6,
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    // Six sessions past Hello from 127.0.0.1 (they are never closed for a newcomer).
    let sessions: Vec<Raw> = (0..6)
        .map(|i| Raw::hello(server.address(), &format!("mallory{i}")).unwrap())
        .collect();
    let mut seventh = TcpStream::connect(server.address()).unwrap();
    seventh
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut byte = [0u8; 1];
    // Closed by the server: end of stream or a reset (a read that times out means it
    // was kept).
    let closed = match seventh.read(&mut byte) {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    };
    assert!(
        closed,
        "a seventh connection from the same address was kept"
    );
    // Another address of the loopback range is not affected.
    let mut from_other = connect_from([127, 0, 0, 2].into(), server.address());
    from_other
        .set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let kept = matches!(
        from_other.read(&mut byte),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut
    );
    assert!(kept, "a connection from another address was closed");
    drop(sessions);
}

/// A TCP connection to `to` from the source address `from` (bound before it connects).
fn connect_from(from: std::net::IpAddr, to: std::net::SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind((from, 0).into()).unwrap();
        socket.connect(to).await.unwrap()
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}
