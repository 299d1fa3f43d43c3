//! Loopback ports for the tests' servers, outside the kernel's ephemeral range.
//!
//! A server started on port 0 gets a port of the ephemeral range, the range the kernel
//! also takes a client's own end of a connection from. When such a server stops and is
//! started again on its address (a restart, a standby taking over), a client that is
//! meanwhile trying that address again may be given that very port as its own end: it
//! then connects to itself (TCP's simultaneous open) and holds the port, so the server
//! cannot bind it (`AddrInUse`), and the client waits on a "server" that is its own echo.
//! A port below the range is never handed out that way, nor to another test's server
//! on port 0.

use std::sync::atomic::{AtomicU16, Ordering};

/// How many ports below the ephemeral range are used.
const SPAN: u16 = 12_000;

/// The first port of the kernel's ephemeral range (Linux's default when unreadable).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A loopback port free now, below the ephemeral range. Each call in a process gives
/// another port (the processes of one run start at different places, by process id).
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let end = ephemeral_start();
    let start = end.saturating_sub(SPAN).max(1024);
    let span = end - start;
    let offset = (std::process::id() % u32::from(span)) as u16;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = start + (offset.wrapping_add(n) % span);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {start}..{end}");
}

/// `127.0.0.1:PORT` for a [`free_port`].
pub fn free_address() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// `listen` itself, or a [`free_address`] when it asks for any port (`HOST:0`).
pub fn resolve(listen: &str) -> String {
    if listen == "127.0.0.1:0" {
        free_address()
    } else {
        listen.to_owned()
    }
}
