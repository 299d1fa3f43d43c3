//! Legacy server round trips on loopback: latency p50/p99 and messages/s with 1, 10 and
//! 100 concurrent clients, beside a reference poll loop that waits on two 50 ms
//! `select` timeouts per turn as the original server.py did (PROTOCOL.md section 3).
//!
//! Run: `cargo bench --bench legacy_net` (prints figures; asserts nothing).
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smc::legacy::{LegacyServer, LegacyServerConfig};

fn message(i: usize) -> String {
    format!("2026-11-24T00:41:57.803071|#c{i}[CLIENT 127.0.0.1:4{i:04}]@vox)oPZEOmf'P[")
}

/// Each client sends, waits for the reply, repeats until `duration` is over.
/// Returns (messages, per-message latencies).
fn load(addr: SocketAddr, clients: usize, duration: Duration) -> (usize, Vec<Duration>) {
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_nodelay(true).unwrap();
                let msg = message(i);
                let mut buf = [0u8; 4096];
                let mut lat = Vec::new();
                let end = Instant::now() + duration;
                while Instant::now() < end {
                    let t = Instant::now();
                    s.write_all(msg.as_bytes()).unwrap();
                    let n = s.read(&mut buf).unwrap();
                    assert!(n > 0);
                    lat.push(t.elapsed());
                }
                let _ = s.write_all(b"/stop");
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().unwrap());
    }
    (all.len(), all)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// The originals' loop: select on the listener twice (50 ms each), then on the clients.
fn reference_server(stop: Arc<AtomicBool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let mut clients: Vec<TcpStream> = Vec::new();
        let mut log: Vec<String> = Vec::new();
        let mut buf = [0u8; 1024];
        while !stop.load(Ordering::Relaxed) {
            // select([s], [], [], 0.05) twice: returns at once only if a client waits.
            for _ in 0..2 {
                match listener.accept() {
                    Ok((s, _)) => {
                        s.set_nonblocking(true).unwrap();
                        clients.push(s);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    Err(_) => {}
                }
            }
            // select(clients, [], [], 0.05): handle every readable client.
            for c in clients.iter_mut() {
                if let Ok(n) = c.read(&mut buf) {
                    if n == 0 || &buf[..n] == b"/stop" {
                        continue;
                    }
                    log.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                    let line = if log.len() >= 2 {
                        &log[log.len() - 2]
                    } else {
                        &log[0]
                    };
                    let _ = c.write_all(line.replace('@', ",").as_bytes());
                }
            }
        }
    });
    addr
}

/// Prints messages/s and latency percentiles for 1, 10 and 100 clients, 3 s each.
fn report(addr: SocketAddr) {
    for clients in [1usize, 10, 100] {
        // SMC_BENCH_QUICK: only to show that the bench still runs (scripts/test.sh).
        let d = if std::env::var_os("SMC_BENCH_QUICK").is_some() {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(3)
        };
        let (n, mut lat) = load(addr, clients, d);
        lat.sort();
        println!(
            "  {clients:>3} clients: {:>9.0} msg/s   p50 {:>7.1} us   p99 {:>7.1} us",
            n as f64 / d.as_secs_f64(),
            pct(&lat, 0.50).as_secs_f64() * 1e6,
            pct(&lat, 0.99).as_secs_f64() * 1e6
        );
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("smc-bench-legacy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = LegacyServer::start(LegacyServerConfig {
        port: 0,
        log_dir: dir.clone(),
        ..Default::default()
    })
    .unwrap();
    let addr = server.local_addr();
    println!("smc legacy server (log.txt written before every reply)");
    report(addr);
    let logged = std::fs::read_to_string(dir.join("log.txt"))
        .unwrap()
        .lines()
        .count();
    println!("  lines in log.txt: {logged}");

    let stop = Arc::new(AtomicBool::new(false));
    let reference = reference_server(Arc::clone(&stop));
    println!("reference poll loop (two 50 ms select timeouts per turn, as server.py)");
    report(reference);
    stop.store(true, Ordering::Relaxed);
    let _ = std::fs::remove_dir_all(&dir);
}
