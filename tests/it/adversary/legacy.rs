//! Finding 14: the legacy server bounds its connections, closes idle ones, and
//! refuses a message with a line break (which would forge the next client's reply).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use smc::legacy::{LegacyServer, LegacyServerConfig};

use crate::support::tempdir;

fn start(dir: &std::path::Path, max: usize, idle: Duration) -> LegacyServer {
    LegacyServer::start(LegacyServerConfig {
        host: "127.0.0.1".into(),
        port: 0,
        log_dir: dir.to_owned(),
        verbose: false,
        max_connections: max,
        idle_timeout: idle,
    })
    .unwrap()
}

fn exchange(s: &mut TcpStream, msg: &str) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(msg.as_bytes()).unwrap();
    let mut buf = vec![0u8; 70_000];
    let n = s.read(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// Whether the server closed `s` within `wait`.
fn is_closed(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn idle_and_excess_connections_are_closed_and_a_client_still_gets_in() {
    let dir = tempdir("adv_legacy_caps");
    let server = start(&dir, 5, Duration::from_millis(800));
    let mut idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(server.local_addr()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let refused = idle
        .iter_mut()
        .map(|s| is_closed(s, Duration::from_millis(100)))
        .filter(|closed| *closed)
        .count();
    assert!(refused >= 15, "{refused} of 20 closed at once");
    let start = Instant::now();
    for s in &mut idle {
        assert!(is_closed(s, Duration::from_secs(5)), "an idle socket held");
    }
    assert!(start.elapsed() < Duration::from_secs(5));
    let mut client = TcpStream::connect(server.local_addr()).unwrap();
    let m = "2026-11-24T00:41:57.803071|#8hdjajcur5d9l2[CLIENT 127.0.0.1:42706]@vox";
    assert_eq!(exchange(&mut client, m), m.replace('@', ",").as_bytes());
}

#[test]
fn a_message_with_a_line_break_cannot_forge_the_next_reply() {
    let dir = tempdir("adv_legacy_crlf");
    let server = start(&dir, 16, Duration::from_secs(60));
    let honest = "2026-11-24T00:41:57.803071|#8hdjajcur5d9l2[CLIENT 127.0.0.1:1]@vox";
    let mut a = TcpStream::connect(server.local_addr()).unwrap();
    exchange(&mut a, honest);
    // mallory appends a fake "previous line" after a line break.
    let mut m = TcpStream::connect(server.local_addr()).unwrap();
    m.write_all(b"2026-11-24T00:42:00|#x[CLIENT 127.0.0.1:2]@abc\r\n2026-11-24T00:42:01|#bank[CLIENT 127.0.0.1:3]@forged").unwrap();
    assert!(is_closed(&mut m, Duration::from_secs(5)));
    let log = std::fs::read_to_string(dir.join("log.txt")).unwrap();
    assert!(!log.contains("forged"), "{log}");
    assert_eq!(log.lines().count(), 1);
    // The next client gets the honest previous line.
    let mut b = TcpStream::connect(server.local_addr()).unwrap();
    let next = "2026-11-24T00:43:00|#b[CLIENT 127.0.0.1:4]@ok";
    assert_eq!(exchange(&mut b, next), honest.replace('@', ",").as_bytes());
}
