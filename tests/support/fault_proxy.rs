//! A TCP proxy that injects network faults between clients and a server: while faults
//! are on, each new connection gets a fate drawn from a seeded random source: delayed
//! (every chunk held 0-30 ms, then cut after up to 12 KB), cut (closed after a random
//! number of bytes, up to 3,000, in one direction, so usually in the middle of a
//! frame), or reset (the same, closed with a TCP RST). With faults off, connections
//! pass untouched. Unplugged, it closes every connection it relays and every new one
//! at once, as a pulled cable would, until plugged in again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// What happened to the connections, for the report.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections: AtomicU64,
    pub delayed: AtomicU64,
    pub cut: AtomicU64,
    pub reset: AtomicU64,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    /// Where clients connect.
    pub address: String,
    faults: Arc<AtomicBool>,
    unplugged: tokio::sync::watch::Sender<bool>,
    pub stats: Arc<Stats>,
    _runtime: tokio::runtime::Runtime,
}

#[derive(Clone, Copy, Debug)]
enum Fate {
    Healthy,
    /// Every chunk held a while, then cut after this many bytes server→client.
    Delayed(usize),
    /// Closed after this many bytes, client→server (`true`) or server→client.
    Cut(usize, bool),
    /// Reset after this many bytes, in the direction given.
    Reset(usize, bool),
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

impl FaultProxy {
    /// Starts a proxy to `upstream` ("host:port"), faults off, random moments from `seed`.
    pub fn start(upstream: &str, seed: u64) -> FaultProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let faults = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let (upstream, on, counts) = (upstream.to_owned(), faults.clone(), stats.clone());
        let (unplugged, plug) = tokio::sync::watch::channel(false);
        runtime.spawn(async move {
            let mut rng = seed | 1;
            while let Ok((client, _)) = listener.accept().await {
                counts.connections.fetch_add(1, Ordering::Relaxed);
                if *plug.borrow() {
                    drop(client);
                    continue;
                }
                let fate = if !on.load(Ordering::Relaxed) {
                    Fate::Healthy
                } else {
                    let bytes = 1 + (next(&mut rng) % 3000) as usize;
                    let upward = next(&mut rng).is_multiple_of(2);
                    match next(&mut rng) % 3 {
                        0 => Fate::Delayed(bytes * 4),
                        1 => Fate::Cut(bytes, upward),
                        _ => Fate::Reset(bytes, upward),
                    }
                };
                let counter = match fate {
                    Fate::Healthy => None,
                    Fate::Delayed(_) => Some(&counts.delayed),
                    Fate::Cut(..) => Some(&counts.cut),
                    Fate::Reset(..) => Some(&counts.reset),
                };
                if let Some(c) = counter {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                let upstream = upstream.clone();
                let delay_seed = next(&mut rng);
                let mut plug = plug.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = relay(client, upstream, fate, delay_seed) => {}
                        _ = plug.wait_for(|unplugged| *unplugged) => {}
                    }
                });
            }
        });
        FaultProxy {
            address,
            faults,
            unplugged,
            stats,
            _runtime: runtime,
        }
    }

    /// Turns the faults on or off for connections made from now on.
    pub fn set_faults(&self, on: bool) {
        self.faults.store(on, Ordering::Relaxed);
    }

    /// Unplugs (closes every connection, refuses new ones) or plugs in again.
    pub fn set_unplugged(&self, unplugged: bool) {
        self.unplugged.send_replace(unplugged);
    }
}

async fn relay(client: TcpStream, upstream: String, fate: Fate, seed: u64) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    if let Fate::Reset(..) = fate {
        // Closing a socket with a zero linger sends a RST instead of a FIN (and never
        // blocks, which is why tokio deprecates lingering in general).
        #[allow(deprecated)]
        {
            let _ = client.set_linger(Some(Duration::ZERO));
            let _ = server.set_linger(Some(Duration::ZERO));
        }
    }
    let (up_budget, down_budget) = match fate {
        Fate::Cut(n, true) | Fate::Reset(n, true) => (Some(n), None),
        Fate::Cut(n, false) | Fate::Reset(n, false) | Fate::Delayed(n) => (None, Some(n)),
        _ => (None, None),
    };
    let delay = matches!(fate, Fate::Delayed(_));
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, up_budget, delay, seed);
    let down = pump(server_read, client_write, down_budget, delay, seed ^ 0x9e37);
    // When either direction ends (or runs out of its budget), both sockets close.
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut budget: Option<usize>,
    delay: bool,
    mut rng: u64,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if delay {
            tokio::time::sleep(Duration::from_millis(next(&mut rng) % 30)).await;
        }
        let n = budget.map_or(n, |b| n.min(b));
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        if let Some(b) = budget.as_mut() {
            *b -= n;
            if *b == 0 {
                return;
            }
        }
    }
}
