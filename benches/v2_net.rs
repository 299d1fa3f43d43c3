//! The v2 server on loopback, measured: one-way delivery latency, fan-out to a room of
//! 100 members beside the same fan-out on Redis pub/sub, memory per idle connection
//! with 10,000 connections, and the time to sync 10,000 missed messages.
//!
//! Run: `cargo bench --bench v2_net` (prints figures; asserts nothing). The Redis
//! reference needs `redis-server` (Debian package `redis-server`); it is skipped with a
//! note when missing. Scale with SMC_BENCH_IDLE (connections, default 10000).
//! `limits`: the fan-out for rooms of 2, 10, 100 and 1,000 members. `postgres`: latency
//! and fan-out with the store on PostgreSQL (a temporary cluster started as the tests
//! start it; skipped with a note when PostgreSQL is not installed). `cluster`: three
//! nodes on one PostgreSQL and one NATS server: latency within a node and across two,
//! fan-out to members spread over the three.
//! `SMC_BENCH_QUICK=1` runs every part in a tiny configuration, only to show that the
//! bench still runs (scripts/test.sh does; those figures mean nothing).
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

/// The tests' temporary PostgreSQL cluster (tests/support/postgres.rs).
#[path = "../tests/support/postgres.rs"]
#[allow(dead_code)]
mod postgres_cluster;

/// One HTTP request and a metrics page's samples (tests/support/http.rs).
#[path = "../tests/support/http.rs"]
mod http;

/// The tests' NATS server (tests/support/nats.rs).
#[path = "../tests/support/nats.rs"]
#[allow(dead_code)]
mod nats;

/// Ports below the ephemeral range, for the two above (tests/support/ports.rs).
#[path = "../tests/support/ports.rs"]
#[allow(dead_code)]
mod ports;

use smc::client::hazmat::RawAccess;
use smc::client::Background;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use smc::identity::StaticKeypair;
use smc::net::{client_handshake, Limits, Opener, Sealer};
use smc::proto::{decode, encode, ClientFrame, Event, Request, ServerFrame, VERSION};
use smc::{Client, Server, ServerConfig};

/// `full`, or `tiny` with SMC_BENCH_QUICK set.
fn scaled(full: usize, tiny: usize) -> usize {
    if std::env::var_os("SMC_BENCH_QUICK").is_some() {
        tiny
    } else {
        full
    }
}

/// Members of the fan-out room (100).
fn member_count() -> usize {
    scaled(100, 5)
}
/// Senders in the fan-out (8).
fn sender_count() -> usize {
    scaled(8, 2)
}
/// Messages each fan-out sender sends (250).
fn per_sender() -> usize {
    scaled(250, 10)
}
/// Messages of the latency run (2000).
fn latency_count() -> usize {
    scaled(2000, 20)
}
/// Missed messages of the catch-up run (10,000: 8 senders x 1250).
fn missed_per_sender() -> usize {
    scaled(1250, 25)
}
const PAYLOAD: usize = 100;

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("smc_bench_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn bench_limits() -> Limits {
    Limits {
        requests_per_second: 1_000_000,
        request_burst: 1_000_000,
        max_connections: 20_000,
        // A thousand members register from this one address.
        registrations_per_address_per_hour: 0,
        ..Limits::default()
    }
}

/// A raw member connection: handshake and Hello, then only reads.
async fn raw_member(
    address: SocketAddr,
    user: String,
) -> (
    tokio::net::tcp::OwnedReadHalf,
    tokio::net::tcp::OwnedWriteHalf,
    Opener,
    Sealer,
) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let key = StaticKeypair::generate().unwrap();
    let est = client_handshake(&mut stream, &key, Duration::from_secs(30), |_| {
        Ok::<(), ()>(())
    })
    .await
    .unwrap()
    .unwrap();
    let (rd, mut wr) = stream.into_split();
    let (mut sealer, opener) = (est.sealer, est.opener);
    let hello = ClientFrame {
        id: 1,
        request: Request::Hello {
            version: VERSION,
            user,
            cursors: vec![],
            direct_after: 0,
            token: None,
        },
    };
    let mut out = Vec::new();
    sealer.seal(&encode(&hello), &mut out).unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut wr, &out)
        .await
        .unwrap();
    (rd, wr, opener, sealer)
}

/// One-way latency between two clients; `self_updates: false` turns off the leaf-key
/// renewal every 100 messages (each is a commit on the sender's critical path), to show
/// its share of the tail.
/// The sample `name` of the server's `/metrics` page at `admin` (0 when absent).
fn scrape(admin: SocketAddr, name: &str) -> f64 {
    http::sample(&http::http(&admin.to_string(), "GET", "/metrics").1, name)
}

/// The server's store commits between two scrapes: (transactions, seconds, messages).
fn commits(admin: SocketAddr) -> (f64, f64, f64) {
    (
        scrape(admin, "smc_commit_seconds_count"),
        scrape(admin, "smc_commit_seconds_sum"),
        scrape(admin, "smc_commit_batch_messages_sum"),
    )
}

/// Runs `f` and prints what the store did meanwhile on the servers at `admins` (their
/// `/metrics`): transactions, their mean duration, messages per transaction (what group
/// commit made of the load), summed over the servers.
fn store_during<T>(admins: &[SocketAddr], f: impl FnOnce() -> T) -> T {
    let before: Vec<_> = admins.iter().map(|a| commits(*a)).collect();
    let value = f();
    let (mut count, mut secs, mut messages) = (0.0, 0.0, 0.0);
    for (a, b) in admins.iter().zip(before) {
        let now = commits(*a);
        count += now.0 - b.0;
        secs += now.1 - b.1;
        messages += now.2 - b.2;
    }
    println!(
        "  the store meanwhile ({} server(s), their /metrics): {count:.0} transactions, mean {:.1} us each, {:.2} messages each, {:.1} us of transaction per message",
        admins.len(),
        secs / count * 1e6,
        messages / count,
        secs / messages * 1e6
    );
    value
}

fn latency(address: &str, admin: Option<SocketAddr>, dir: &Path, self_updates: bool) {
    latency_between(address, address, admin, dir, self_updates, "");
}

/// One-way latency from a sender connected to `from` to a receiver connected to `to`
/// (two nodes of a cluster, or one server twice); `tag` keeps the names of runs on one
/// store apart.
fn latency_between(
    from: &str,
    to: &str,
    admin: Option<SocketAddr>,
    dir: &Path,
    self_updates: bool,
    tag: &str,
) {
    // Users of their own per run (several runs share a server).
    let tag = format!("{tag}{}", if self_updates { "lat" } else { "lat_nsu" });
    let tag = tag.as_str();
    let (a, b) = (format!("{tag}_alice"), format!("{tag}_bob"));
    let mut alice = Client::open(dir.join(&a), &a).unwrap();
    alice.set_auto_join(true);
    if !self_updates {
        alice.set_self_update_policy(smc::client::SelfUpdatePolicy {
            messages: u64::MAX,
            interval: Duration::from_secs(365 * 24 * 3600),
        });
    }
    alice.connect(from).unwrap();
    let mut bob = Client::open(dir.join(&b), &b).unwrap();
    bob.set_auto_join(true);
    bob.connect(to).unwrap();
    alice.create_room(tag).unwrap();
    alice.invite(tag, &b).unwrap();
    let n = latency_count();
    let before = admin.map(commits);
    let base = Instant::now();
    let (tx, rx) = mpsc::channel();
    let receiver = std::thread::spawn(move || {
        let mut lat = Vec::new();
        while let Some(m) = bob.recv(Some(Duration::from_secs(10))).unwrap() {
            let sent: u64 = m.text.parse().unwrap();
            lat.push(base.elapsed() - Duration::from_nanos(sent));
            tx.send(()).unwrap();
            if lat.len() == n {
                break;
            }
        }
        lat
    });
    let mut send_times = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        alice
            .send(tag, &(base.elapsed().as_nanos() as u64).to_string())
            .unwrap();
        send_times.push(t.elapsed());
        rx.recv().unwrap();
    }
    let mut lat = receiver.join().unwrap();
    let after = admin.map(commits);
    lat.sort();
    send_times.sort();
    if let (Some(b), Some(a)) = (before, after) {
        let (count, secs, messages) = (a.0 - b.0, a.1 - b.1, a.2 - b.2);
        println!(
            "  the server's store commits meanwhile (its /metrics): {count:.0} transactions, mean {:.1} us each (fsync included), {:.2} messages each",
            secs / count * 1e6,
            messages / count
        );
    }
    println!(
        "  Client::send alone (encrypt + save + durable store + acknowledgement): p50 {:.1} us",
        pct(&send_times, 0.50).as_secs_f64() * 1e6
    );
    println!(
        "one-way delivery latency (send -> durable commit -> push -> recv, {n} messages): p50 {:.1} us, p99 {:.1} us",
        pct(&lat, 0.50).as_secs_f64() * 1e6,
        pct(&lat, 0.99).as_secs_f64() * 1e6
    );
    println!(
        "  distribution: p90 {:.1} us, p95 {:.1} us, p99.9 {:.1} us, max {:.1} us; above 2 ms: {}",
        pct(&lat, 0.90).as_secs_f64() * 1e6,
        pct(&lat, 0.95).as_secs_f64() * 1e6,
        pct(&lat, 0.999).as_secs_f64() * 1e6,
        lat.last().unwrap().as_secs_f64() * 1e6,
        lat.iter()
            .filter(|d| **d > Duration::from_millis(2))
            .count()
    );
}

/// Receivers count messages; returns deliveries per second for `send_all`.
fn fan_out_smc(address: SocketAddr, dir: &Path, tag: &str, size: usize) -> f64 {
    fan_out_across(&[address], dir, tag, size)
}

/// The same with the members and senders spread over several nodes (member `i` on
/// node `i % n`; the room's owner on the first).
fn fan_out_across(nodes: &[SocketAddr], dir: &Path, tag: &str, size: usize) -> f64 {
    let address = nodes[0];
    // Names of their own per run (several runs share a server).
    let room = format!("{tag}{size}");
    let room = room.as_str();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let members: Vec<_> = rt.block_on(async {
        let mut v = Vec::new();
        for i in 0..size {
            v.push(raw_member(nodes[i % nodes.len()], format!("{room}_{i}")).await);
        }
        v
    });
    let owner_addr = address.to_string();
    let mut owner =
        Client::open(dir.join(format!("{room}_owner")), &format!("{room}_owner")).unwrap();
    owner.set_auto_join(true);
    owner.connect(&owner_addr).unwrap();
    // The server's fan-out alone (the payloads are opaque bytes, as MLS ciphertext is
    // to it): an opaque room (no group state to verify), members invited with the raw
    // Invite request and accepting it, senders sending raw payloads.
    owner
        .request(Request::CreateRoom {
            room: room.into(),
            group_info: None,
        })
        .unwrap();
    let route = |owner: &Client, user: String| {
        owner
            .request(Request::Invite {
                room: room.into(),
                user,
            })
            .unwrap()
    };
    for i in 0..size {
        route(&owner, format!("{room}_{i}"));
    }
    let mut members = members;
    rt.block_on(async {
        for (_, wr, _, sealer) in members.iter_mut() {
            let accept = ClientFrame {
                id: 2,
                request: Request::Accept { room: room.into() },
            };
            let mut out = Vec::new();
            sealer.seal(&encode(&accept), &mut out).unwrap();
            tokio::io::AsyncWriteExt::write_all(wr, &out).await.unwrap();
        }
    });
    // Every member routed before anything is sent.
    while owner.routed_members(room).unwrap().len() < size + 1 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let senders: Vec<Client> = (0..sender_count())
        .map(|s| {
            let mut c =
                Client::open(dir.join(format!("{room}_s{s}")), &format!("{room}_s{s}")).unwrap();
            c.set_auto_join(true);
            c.connect(&nodes[s % nodes.len()].to_string()).unwrap();
            route(&owner, format!("{room}_s{s}"));
            c.request(Request::Accept { room: room.into() }).unwrap();
            c
        })
        .collect();
    let expected = sender_count() * per_sender();
    let received = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    for (mut rd, wr, mut opener, _sealer) in members {
        let received = received.clone();
        let done_tx = done_tx.clone();
        rt.spawn(async move {
            let _keep = wr;
            let mut mine = 0;
            while mine < expected {
                let bytes = opener
                    .open(&mut rd, None, Duration::from_secs(30))
                    .await
                    .unwrap();
                if let Ok(ServerFrame::Event(Event::Message(_))) = decode::<ServerFrame>(&bytes) {
                    mine += 1;
                }
            }
            received.fetch_add(mine, Ordering::Relaxed);
            done_tx.send(Instant::now()).unwrap();
        });
    }
    let start = Instant::now();
    let threads: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(s, c)| {
            let room = room.to_owned();
            std::thread::spawn(move || {
                for i in 0..per_sender() {
                    // Distinct bytes each time: the server takes the same bytes again
                    // for a resend of one message (and refuses them as a copy).
                    let mut payload = format!("{s}:{i}:").into_bytes();
                    payload.resize(PAYLOAD, b'x');
                    c.send_payload(&room, payload, None).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut last = start;
    for _ in 0..size {
        last = last.max(done_rx.recv_timeout(Duration::from_secs(120)).unwrap());
    }
    let secs = (last - start).as_secs_f64();
    let deliveries = received.load(Ordering::Relaxed);
    let rate = deliveries as f64 / secs;
    println!(
        "smc fan-out: {} senders x {} durable sends of {PAYLOAD} B to a room of {} members{}: {deliveries} deliveries in {secs:.3} s = {rate:.0} deliveries/s ({:.0} sends/s)",
        sender_count(),
        per_sender(),
        size,
        if nodes.len() > 1 {
            format!(" on {} nodes", nodes.len())
        } else {
            String::new()
        },
        expected as f64 / secs
    );
    rate
}

/// Three server nodes in this process on one PostgreSQL database and one NATS server
/// (one key, copied): latency within a node and across nodes (the difference is the
/// bus's hop), and fan-out to a room whose members are spread over the three.
fn cluster(dir: &Path) {
    if !Path::new("/usr/lib/postgresql").exists()
        || !(Path::new("/usr/sbin/nats-server").exists()
            || Path::new("/usr/bin/nats-server").exists())
    {
        println!("PostgreSQL or nats-server not installed: the cluster rows skipped");
        return;
    }
    let bus = nats::Nats::start();
    let url = postgres_cluster::Cluster::get().database();
    let dirs: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("node{i}"))).collect();
    StaticKeypair::load_or_create(&dirs[0].join("server.key")).unwrap();
    for d in &dirs[1..] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::copy(dirs[0].join("server.key"), d.join("server.key")).unwrap();
    }
    let nodes: Vec<Server> = dirs
        .iter()
        .map(|d| {
            let mut config = ServerConfig::new(d, "127.0.0.1:0");
            config.limits = bench_limits();
            config.admin_listen = Some("127.0.0.1:0".into());
            config.store = Some(url.clone());
            config.bus = Some(bus.url());
            Server::start(config).unwrap()
        })
        .collect();
    let addresses: Vec<SocketAddr> = nodes.iter().map(Server::address).collect();
    let (a0, a1) = (addresses[0].to_string(), addresses[1].to_string());
    print!("3 nodes, both on one node: ");
    latency_between(&a0, &a0, nodes[0].admin_address(), dir, true, "same");
    print!("3 nodes, sender and receiver on two nodes: ");
    latency_between(&a0, &a1, nodes[0].admin_address(), dir, true, "cross");
    bus_hop(&a0, &a1, dir);
    print!("3 nodes (PostgreSQL + NATS): ");
    let admins: Vec<SocketAddr> = nodes.iter().filter_map(Server::admin_address).collect();
    store_during(&admins, || {
        fan_out_across(&addresses, dir, "clusterfan", member_count())
    });
    let bus_events = |admin: SocketAddr, outcome: &str| {
        scrape(
            admin,
            &format!("smc_bus_events_total{{outcome=\"{outcome}\"}}"),
        )
    };
    for (i, node) in nodes.iter().enumerate() {
        let admin = node.admin_address().unwrap();
        println!(
            "  node {i}: bus events published {:.0}, applied {:.0}, dropped {:.0}",
            bus_events(admin, "published"),
            bus_events(admin, "applied"),
            bus_events(admin, "dropped")
        );
    }
}

/// Fan-out to real members: a room of end-to-end encrypted `Client`s (MLS groups, each
/// member decrypting every message and saving its state, one thread each), one sender.
/// The raw fan-out above measures the server alone; this is what members see.
fn fan_out_mls(address: &str, dir: &Path) {
    let (size, count) = (scaled(20, 3), scaled(200, 5));
    let quiet = smc::client::SelfUpdatePolicy {
        messages: u64::MAX,
        interval: Duration::from_secs(365 * 24 * 3600),
    };
    let mut owner = Client::open(dir.join("mlsfan_owner"), "mlsfan_owner").unwrap();
    owner.set_self_update_policy(quiet);
    owner.connect(address).unwrap();
    owner.create_room("mlsfan").unwrap();
    let mut members: Vec<Client> = Vec::new();
    for i in 0..size {
        let name = format!("mlsfan_{i}");
        let mut c = Client::open(dir.join(&name), &name).unwrap();
        c.set_auto_join(true);
        c.set_self_update_policy(quiet);
        c.connect(address).unwrap();
        owner.invite("mlsfan", &name).unwrap();
        members.push(c);
    }
    // Every member joined (and past the group changes) before the clock starts.
    owner.send("mlsfan", "ready").unwrap();
    for c in &mut members {
        while c
            .recv(Some(Duration::from_secs(30)))
            .unwrap()
            .is_none_or(|m| m.text != "ready")
        {}
    }
    let start = Instant::now();
    let threads: Vec<_> = members
        .into_iter()
        .map(|mut c| {
            std::thread::spawn(move || {
                let mut got = 0;
                while got < count {
                    if c.recv(Some(Duration::from_secs(30))).unwrap().is_some() {
                        got += 1;
                    }
                }
                Instant::now()
            })
        })
        .collect();
    for i in 0..count {
        owner.send("mlsfan", &format!("message {i}")).unwrap();
    }
    let last = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .max()
        .unwrap();
    let secs = (last - start).as_secs_f64();
    println!(
        "fan-out to real members (end-to-end encrypted Clients, each decrypting and saving, one thread each): 1 sender x {count} messages to a room of {size}: {} deliveries in {secs:.3} s = {:.0} deliveries/s",
        size * count,
        (size * count) as f64 / secs
    );
}

/// The bus hop, measured in pairs: one sender on node `a0`, two receivers, one on
/// `a0` and one on `a1`; for each message, the time it reached the receiver on the
/// other node minus the time it reached the one on the sender's node. The common part
/// (encrypt, send, commit) cancels out message by message, which a difference of two
/// separate p50s cannot do; the median comes with its 95% confidence interval (order
/// statistics), so the figure says whether it stands out of the noise.
fn bus_hop(a0: &str, a1: &str, dir: &Path) {
    let n = scaled(5000, 20);
    let mut alice = Client::open(dir.join("hop_alice"), "hop_alice").unwrap();
    alice.set_self_update_policy(smc::client::SelfUpdatePolicy {
        messages: u64::MAX,
        interval: Duration::from_secs(365 * 24 * 3600),
    });
    alice.connect(a0).unwrap();
    let receivers: Vec<Client> = [("hop_near", a0), ("hop_far", a1)]
        .into_iter()
        .map(|(name, at)| {
            let mut c = Client::open(dir.join(name), name).unwrap();
            c.set_auto_join(true);
            c.connect(at).unwrap();
            c
        })
        .collect();
    alice.create_room("hop").unwrap();
    alice.invite("hop", "hop_near").unwrap();
    alice.invite("hop", "hop_far").unwrap();
    let base = Instant::now();
    let (tx, rx) = mpsc::channel::<()>();
    let threads: Vec<_> = receivers
        .into_iter()
        .map(|mut c| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut at = vec![Duration::ZERO; n];
                let mut got = 0;
                while got < n {
                    let Some(m) = c.recv(Some(Duration::from_secs(10))).unwrap() else {
                        continue;
                    };
                    let Ok(i) = m.text.parse::<usize>() else {
                        continue;
                    };
                    at[i] = base.elapsed();
                    got += 1;
                    tx.send(()).unwrap();
                }
                at
            })
        })
        .collect();
    for i in 0..n {
        alice.send("hop", &i.to_string()).unwrap();
        rx.recv().unwrap();
        rx.recv().unwrap();
    }
    let mut arrivals = threads.into_iter().map(|t| t.join().unwrap());
    let (near, far) = (arrivals.next().unwrap(), arrivals.next().unwrap());
    let mut hops: Vec<f64> = near
        .iter()
        .zip(&far)
        .map(|(near, far)| far.as_secs_f64() * 1e6 - near.as_secs_f64() * 1e6)
        .collect();
    hops.sort_by(f64::total_cmp);
    let half = (1.96 * (n as f64).sqrt() / 2.0).ceil() as usize;
    let (low, high) = (
        hops[(n / 2).saturating_sub(half)],
        hops[(n / 2 + half).min(n - 1)],
    );
    println!(
        "bus hop, paired (the same message at a receiver on another node minus at one on the sender's node, {n} messages): median {:.1} us (95% CI {low:.1} to {high:.1} us), p10 {:.1} us, p90 {:.1} us",
        hops[n / 2],
        hops[n / 10],
        hops[n * 9 / 10]
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The same fan-out on Redis pub/sub: 100 subscribers, 8 publishers waiting for each
/// PUBLISH's reply (as smc's senders wait for each send's acknowledgement).
fn fan_out_redis() -> Option<f64> {
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    let _redis = Killed(child);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let connect = || {
        for _ in 0..200 {
            if let Ok(s) = TcpStream::connect(addr) {
                s.set_nodelay(true).unwrap();
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not start");
    };
    let expected = sender_count() * per_sender();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    for _ in 0..member_count() {
        let mut s = connect();
        let ready_tx = ready_tx.clone();
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            s.write_all(&resp(&[b"SUBSCRIBE", b"fan"])).unwrap();
            let mut reader = BufReader::new(s);
            let mut line = String::new();
            // The subscribe confirmation: *3, $9, subscribe, $3, fan, :1 (6 lines).
            for _ in 0..6 {
                line.clear();
                reader.read_line(&mut line).unwrap();
            }
            ready_tx.send(()).unwrap();
            let mut got = 0;
            while got < expected {
                // *3 / $7 / message / $3 / fan / $N / payload: 7 lines per message.
                for _ in 0..7 {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                }
                got += 1;
            }
            done_tx.send(Instant::now()).unwrap();
        });
    }
    for _ in 0..member_count() {
        ready_rx.recv().unwrap();
    }
    let payload = vec![b'x'; PAYLOAD];
    let start = Instant::now();
    let publishers: Vec<_> = (0..sender_count())
        .map(|_| {
            let mut s = connect();
            let cmd = resp(&[b"PUBLISH", b"fan", &payload]);
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                for _ in 0..per_sender() {
                    s.write_all(&cmd).unwrap();
                    let n = s.read(&mut buf).unwrap(); // ":100\r\n"
                    assert!(n > 0);
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().unwrap();
    }
    let mut last = start;
    for _ in 0..member_count() {
        last = last.max(done_rx.recv_timeout(Duration::from_secs(120)).unwrap());
    }
    let secs = (last - start).as_secs_f64();
    let rate = (member_count() * expected) as f64 / secs;
    println!(
        "redis pub/sub fan-out, same shape (not durable): {} deliveries in {secs:.3} s = {rate:.0} deliveries/s",
        member_count() * expected
    );
    Some(rate)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn idle_memory(dir: &Path) {
    let count: usize = std::env::var("SMC_BENCH_IDLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(scaled(10_000, 50));
    let mut child = Command::new(env!("CARGO_BIN_EXE_smc"))
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--max-connections",
            "20000",
            "--data-dir",
        ])
        .arg(dir.join("idle_server"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address: SocketAddr = line.split_whitespace().nth(4).unwrap().parse().unwrap();
    let pid = child.id();
    let server = Killed(child);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Warm up (the store, the runtime's threads), then measure.
    let warm = rt.block_on(async {
        let mut v = Vec::new();
        for i in 0..100 {
            v.push(raw_member(address, format!("warm{i}")).await);
        }
        v
    });
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib(pid);
    let start = Instant::now();
    let conns = rt.block_on(async {
        let mut v = Vec::with_capacity(count);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..count {
            tasks.spawn(raw_member(address, format!("idle{i}")));
            if tasks.len() >= 64 {
                v.push(tasks.join_next().await.unwrap().unwrap());
            }
        }
        while let Some(c) = tasks.join_next().await {
            v.push(c.unwrap());
        }
        v
    });
    let connect_secs = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    let after = rss_kib(pid);
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / count as f64;
    println!(
        "idle connections: {count} identified connections held (opened in {connect_secs:.1} s); server RSS {before} KiB -> {after} KiB = {:.1} KiB per connection",
        per / 1024.0
    );
    drop(conns);
    drop(warm);
    drop(server);
}

/// How the catch-up bench takes the missed messages.
#[derive(Debug, Clone, Copy)]
enum Taking {
    /// One by one, `Client::recv`, on the calling thread.
    One,
    /// `Client::recv_many(n)`, on the calling thread.
    Many(usize),
    /// `Background::recv_many(n)`: processed by the client's own thread while this
    /// one takes them (how the Python, C and console clients run).
    Background(usize),
}

/// The catch-up of missed messages, from connect to the last one taken.
fn sync_missed(address: &str, dir: &Path, taking: Taking) {
    let tag = match taking {
        Taking::One => "sync1".to_string(),
        Taking::Many(n) => format!("syncm{n}"),
        Taking::Background(n) => format!("syncb{n}"),
    };
    let name = |who: &str| format!("{tag}_{who}");
    let mut bob = Client::open(dir.join(name("bob")), &name("bob")).unwrap();
    bob.set_auto_join(true);
    bob.connect(address).unwrap();
    let mut alice = Client::open(dir.join(name("alice")), &name("alice")).unwrap();
    alice.set_auto_join(true);
    alice.connect(address).unwrap();
    alice.create_room(&tag).unwrap();
    alice.invite(&tag, &name("bob")).unwrap();
    // Eight senders (one home each: a home is used by one client at a time).
    let senders: Vec<Client> = (0..8)
        .map(|s| {
            let sender = name(&format!("s{s}"));
            let mut c = Client::open(dir.join(&sender), &sender).unwrap();
            c.set_auto_join(true);
            c.connect(address).unwrap();
            alice.invite(&tag, &sender).unwrap();
            // Joined (its Welcome arrived and was taken) before it sends.
            let deadline = Instant::now() + Duration::from_secs(30);
            while !c.rooms().unwrap().contains(&tag) {
                assert!(Instant::now() < deadline, "{sender} never joined");
                c.recv(Some(Duration::from_millis(20))).unwrap();
            }
            c
        })
        .collect();
    bob.close();
    let per = missed_per_sender();
    let total = 8 * per;
    let threads: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(s, mut c)| {
            let room = tag.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    c.send(&room, &format!("missed {s}:{i}")).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let wait = Some(Duration::from_secs(30));
    let start = Instant::now();
    let mut n = 0;
    match taking {
        Taking::One | Taking::Many(_) => {
            bob.connect(address).unwrap();
            while n < total {
                let got = match taking {
                    Taking::Many(max) => bob.recv_many(max, wait).unwrap().len(),
                    _ => bob.recv(wait).unwrap().map_or(0, |_| 1),
                };
                assert!(got > 0, "all missed messages");
                n += got;
            }
        }
        Taking::Background(max) => {
            let bob = Background::start(bob).unwrap();
            bob.with(|c| c.connect(address)).unwrap();
            while n < total {
                let got = bob.recv_many(max, wait).unwrap().len();
                assert!(got > 0, "all missed messages");
                n += got;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let how = match taking {
        Taking::One => "receive each through Client::recv".to_string(),
        Taking::Many(max) => format!("receive through Client::recv_many({max})"),
        Taking::Background(max) => format!("receive through Background::recv_many({max})"),
    };
    println!(
        "catch-up of {total} missed messages (connect + {how}): {secs:.3} s = {:.0} messages/s",
        total as f64 / secs
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` probe harness=false benches
    }
    // `cargo bench --bench v2_net -- latency fanout postgres cluster sync limits idle`: only the
    // parts named.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |part: &str| only.is_empty() || only.iter().any(|o| o == part);
    let dir = tempdir("v2");
    let mut config = ServerConfig::new(dir.join("server"), "127.0.0.1:0");
    config.limits = bench_limits();
    config.admin_listen = Some("127.0.0.1:0".into());
    let server = Server::start(config).unwrap();
    let address = server.address();
    let admin = server.admin_address();
    if run("latency") {
        latency(&address.to_string(), admin, &dir, true);
        print!("  without the self-update every 100 messages: ");
        latency(&address.to_string(), admin, &dir, false);
        let mut normal = ServerConfig::new(dir.join("server_normal"), "127.0.0.1:0");
        normal.limits = bench_limits();
        normal.durability = smc::server::store::Durability::Normal;
        normal.admin_listen = Some("127.0.0.1:0".into());
        let normal = Server::start(normal).unwrap();
        print!("  with durability = normal (no fsync per commit): ");
        latency(
            &normal.address().to_string(),
            normal.admin_address(),
            &dir.join("normal"),
            true,
        );
    }
    if run("fanout") {
        let admins: Vec<SocketAddr> = admin.into_iter().collect();
        let smc_rate = store_during(&admins, || {
            fan_out_smc(address, &dir, "fan", member_count())
        });
        fan_out_mls(&address.to_string(), &dir);
        match fan_out_redis() {
            Some(redis_rate) => {
                println!("ratio smc / redis (same run): {:.2}", smc_rate / redis_rate)
            }
            None => {
                println!("redis-server not found: reference skipped (apt-get install redis-server)")
            }
        }
    }
    if run("postgres") {
        // The same server on PostgreSQL (a temporary cluster, as the tests start it):
        // one-way latency and fan-out, with the store's commit cost from /metrics.
        if std::path::Path::new("/usr/lib/postgresql").exists() {
            let mut pg = ServerConfig::new(dir.join("server_pg"), "127.0.0.1:0");
            pg.limits = bench_limits();
            pg.admin_listen = Some("127.0.0.1:0".into());
            pg.store = Some(postgres_cluster::Cluster::get().database());
            let pg = Server::start(pg).unwrap();
            print!("on PostgreSQL: ");
            latency(
                &pg.address().to_string(),
                pg.admin_address(),
                &dir.join("pg"),
                true,
            );
            print!("on PostgreSQL: ");
            let admins: Vec<SocketAddr> = pg.admin_address().into_iter().collect();
            store_during(&admins, || {
                fan_out_smc(pg.address(), &dir.join("pg"), "pgfan", member_count())
            });
        } else {
            println!("PostgreSQL not installed: its rows skipped (apt-get install postgresql)");
        }
    }
    if run("cluster") {
        cluster(&dir);
    }
    if run("sync") {
        for taking in [Taking::One, Taking::Many(256), Taking::Background(256)] {
            sync_missed(&address.to_string(), &dir, taking);
        }
    }
    if run("limits") {
        // Fan-out as the room grows (each size on its own names, same server).
        for (i, size) in [2, 10, 100, 1000].into_iter().enumerate() {
            fan_out_smc(address, &dir, "limit", scaled(size, 2 + i));
        }
    }
    drop(server);
    if run("idle") {
        idle_memory(&dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
