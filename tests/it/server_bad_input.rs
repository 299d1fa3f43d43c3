//! Bad input against the v2 server: each bad peer gets an error or a disconnect, the
//! server keeps serving everyone else, and nothing acknowledged is lost.

use smc::client::hazmat::RawAccess;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use smc::identity::StaticKeypair;
use smc::net::{client_handshake, Established, Limits};
use smc::proto::{encode, ClientFrame, Request, VERSION};
use smc::{Client, ClientError, Refusal, Server};

use crate::support::{self, tempdir, WAIT};

fn limits() -> Limits {
    Limits {
        handshake_timeout: Duration::from_millis(500),
        frame_timeout: Duration::from_millis(300),
        // A slow refill, so that the flood test's refusals come in one long run even on
        // a loaded machine; the witnesses stay within the burst.
        requests_per_second: 2,
        request_burst: 30,
        ..Limits::default()
    }
}

fn start(dir: &Path) -> Server {
    support::server_with(dir, limits())
}

/// alice and bob in a room; alice's acknowledged messages are counted.
struct Witnesses {
    alice: Client,
    bob: Client,
    acked: Vec<String>,
}

impl Witnesses {
    fn new(dir: &Path, server: &Server) -> Self {
        let address = server.address().to_string();
        let mut alice = support::client(&dir.join("alice"), "alice", &address);
        let bob = support::client(&dir.join("bob"), "bob", &address);
        alice.create_room("r").unwrap();
        alice.invite("r", "bob").unwrap();
        Witnesses {
            alice,
            bob,
            acked: Vec::new(),
        }
    }

    /// One message through the server, seen live by bob.
    fn still_served(&mut self, label: &str) {
        let text = format!("after {label}");
        self.alice.send("r", &text).unwrap();
        self.acked.push(text.clone());
        assert_eq!(self.bob.recv(WAIT).unwrap().unwrap().text, text);
    }

    /// What alice had acknowledged is what bob, another party, received and stored
    /// (alice's own history would only repeat what alice wrote down herself).
    fn nothing_lost(&self) {
        assert_eq!(support::history_texts(&self.bob, "r", 1000), self.acked);
    }
}

/// Reads until the server closes the connection; panics if it does not within 5 s.
fn closed_by_server(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

/// A raw peer past the handshake (and Hello), for writing hand-made frames.
fn raw_session(server: &Server, user: &str) -> (TcpStream, Established) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut stream = tokio::net::TcpStream::connect(server.address())
            .await
            .unwrap();
        let key = StaticKeypair::generate().unwrap();
        let mut est = client_handshake(&mut stream, &key, Duration::from_secs(5), |_| {
            Ok::<(), ()>(())
        })
        .await
        .unwrap()
        .unwrap();
        let hello = ClientFrame {
            id: 1,
            request: Request::Hello {
                version: VERSION,
                user: user.into(),
                cursors: vec![],
                direct_after: 0,
                token: None,
            },
        };
        let mut out = Vec::new();
        est.sealer.seal(&encode(&hello), &mut out).unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stream, &out)
            .await
            .unwrap();
        (stream.into_std().unwrap(), est)
    })
}

#[test]
fn garbage_instead_of_a_handshake_is_dropped() {
    let dir = tempdir("abuse_garbage");
    let server = start(&dir.join("server"));
    let mut w = Witnesses::new(&dir, &server);
    let mut s = TcpStream::connect(server.address()).unwrap();
    s.set_nonblocking(false).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: smc\r\n\r\n").unwrap();
    closed_by_server(&mut s);
    let mut s = TcpStream::connect(server.address()).unwrap();
    s.write_all(&[0, 32]).unwrap();
    s.write_all(&[0xAB; 32]).unwrap(); // a plausible message 1, then silence
    closed_by_server(&mut s);
    w.still_served("garbage");
    w.nothing_lost();
}

#[test]
fn truncated_tampered_and_oversized_frames_close_only_that_connection() {
    let dir = tempdir("abuse_frames");
    let server = start(&dir.join("server"));
    let mut w = Witnesses::new(&dir, &server);

    // Truncated: announces 1,000 bytes, sends 10, leaves.
    let (mut s, _) = raw_session(&server, "trunc");
    s.set_nonblocking(false).unwrap();
    s.write_all(&1000u16.to_be_bytes()).unwrap();
    s.write_all(&[7; 10]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    closed_by_server(&mut s);
    w.still_served("a truncated frame");

    // Tampered: a frame that does not decrypt.
    let (mut s, _) = raw_session(&server, "tamper");
    s.set_nonblocking(false).unwrap();
    s.write_all(&64u16.to_be_bytes()).unwrap();
    s.write_all(&[0x5A; 64]).unwrap();
    closed_by_server(&mut s);
    w.still_served("a tampered frame");

    // Oversized: frames of one message that never ends, past the 1 MiB limit.
    let (mut s, mut est) = raw_session(&server, "huge");
    s.set_nonblocking(false).unwrap();
    let mut out = Vec::new();
    assert!(
        est.sealer.seal(&vec![1u8; 2 << 20], &mut out).is_err(),
        "the sealer refuses it too"
    );
    let chunk = vec![0u8; 60_000];
    for _ in 0..40 {
        let mut frame = Vec::new();
        est.sealer.seal_chunk(&chunk, false, &mut frame).unwrap();
        if s.write_all(&frame).is_err() {
            break; // the server hung up part-way: fine
        }
    }
    closed_by_server(&mut s);
    w.still_served("an oversized message");
    w.nothing_lost();
}

#[test]
fn slow_loris_clients_are_cut_off() {
    let dir = tempdir("abuse_slow");
    let server = start(&dir.join("server"));
    let mut w = Witnesses::new(&dir, &server);
    // Never finishes the handshake.
    let mut idle = TcpStream::connect(server.address()).unwrap();
    // Starts a frame and trickles.
    let (mut slow, _) = raw_session(&server, "slow");
    slow.set_nonblocking(false).unwrap();
    slow.write_all(&[0]).unwrap();
    let start = Instant::now();
    closed_by_server(&mut slow);
    closed_by_server(&mut idle);
    assert!(start.elapsed() < Duration::from_secs(5));
    w.still_served("slow clients");
    w.nothing_lost();
}

#[test]
fn a_flooding_client_is_rate_limited_then_disconnected() {
    let dir = tempdir("abuse_flood");
    let server = start(&dir.join("server"));
    let mut w = Witnesses::new(&dir, &server);
    let mut flooder = Client::open(dir.join("flood"), "flood").unwrap();
    flooder.set_auto_join(true);
    flooder.connect(&server.address().to_string()).unwrap();
    let mut limited = 0;
    let mut outcome = None;
    for _ in 0..2000 {
        match flooder.request(Request::Ping) {
            Ok(_) => {}
            Err(ClientError::Refused(Refusal::RateLimited { .. })) => limited += 1,
            Err(e) => {
                outcome = Some(e);
                break;
            }
        }
    }
    assert!(limited > 0, "the flood was never limited");
    assert!(
        matches!(outcome, Some(ClientError::ConnectionClosed)),
        "{outcome:?}"
    );
    w.still_served("a flood");
    w.nothing_lost();
}

#[test]
fn a_client_vanishing_mid_message_loses_nothing_acknowledged() {
    let dir = tempdir("abuse_vanish");
    let server = start(&dir.join("server"));
    let mut w = Witnesses::new(&dir, &server);
    for i in 0..5 {
        w.still_served(&format!("message {i}"));
        let (mut s, mut est) = raw_session(&server, "ghost");
        s.set_nonblocking(false).unwrap();
        let send = ClientFrame {
            id: 2,
            request: Request::Send {
                room: "r".into(),
                payload: vec![b'x'; 200_000],
                commit_epoch: None,
            },
        };
        let mut out = Vec::new();
        est.sealer.seal(&encode(&send), &mut out).unwrap();
        s.write_all(&out[..out.len() / 2]).unwrap();
        drop(s);
    }
    w.still_served("vanishing clients");
    w.nothing_lost();
}

#[test]
fn a_client_in_a_tight_loop_is_paced_not_refused() {
    // 200 requests a second after a burst of 20: 300 requests in a loop take about a
    // second and a half, and none of them fails.
    let dir = tempdir("abuse_paced");
    let server = support::server_with(
        &dir.join("server"),
        Limits {
            requests_per_second: 200,
            request_burst: 20,
            ..Limits::default()
        },
    );
    let address = server.address().to_string();
    let c = support::client(&dir.join("busy"), "busy", &address);
    for i in 0..300 {
        if let Err(e) = c.routed_rooms() {
            panic!("request {i} failed: {e}");
        }
    }
    // A server of one request a second (burst 5), for what follows: its limit is
    // passed whatever a loaded machine's round trips take.
    let slow = support::server_with(
        &dir.join("slow"),
        Limits {
            requests_per_second: 1,
            request_burst: 5,
            ..Limits::default()
        },
    );
    // The raw calls are not paced: the refusal says when to come back.
    let hasty = support::client(&dir.join("hasty"), "hasty", &slow.address().to_string());
    let mut refused = None;
    for _ in 0..100 {
        if let Err(ClientError::Refused(Refusal::RateLimited { retry_after_ms })) =
            hasty.request(Request::ListRooms)
        {
            refused = Some(retry_after_ms);
            break;
        }
    }
    let retry_after_ms = refused.expect("a burst of raw requests is refused");
    assert!((1..=1000).contains(&retry_after_ms), "{retry_after_ms}");
    // Waiting longer than the call may wait is not done: the refusal comes back (the
    // wait asked for, about a second, is far longer than the call's timeout, which is
    // still ample for an answer on a loaded machine).
    let mut c = support::client(&dir.join("patient"), "patient", &slow.address().to_string());
    c.set_request_timeout(Duration::from_millis(300));
    let mut gave_up = false;
    for _ in 0..20 {
        match c.routed_rooms() {
            Err(ClientError::Refused(Refusal::RateLimited { retry_after_ms })) => {
                assert!(retry_after_ms > 300, "{retry_after_ms}");
                gave_up = true;
                break;
            }
            Err(e) => panic!("{e}"),
            Ok(_) => {}
        }
    }
    assert!(gave_up, "a 300 ms timeout cannot wait out a 1 s limit");
}
