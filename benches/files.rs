//! Files, side by side on this machine (issue 31):
//!
//! - the floor: the same file copied over a raw loopback TCP connection, then fsynced
//!   by the receiver;
//! - upload (`Background::send_file`) and download (`Background::download`) through a
//!   real `smc server` process, and their ratio to the floor;
//! - chat while a transfer runs: the sender's own `send` from another thread of the
//!   same client (same connection) while it uploads, p50 and p99, against the same
//!   client idle;
//! - the server's peak memory (VmHWM) while four clients upload at once, against its
//!   memory before;
//! - the chunk store alone: `SqliteStore::put_chunks` of a whole file, one chunk at a time, and
//!   `fetch_chunks` of it.
//!
//! `cargo bench --bench files` (100 MiB files); `SMC_BENCH_QUICK=1` for a tiny run;
//! `SMC_BENCH_TRANSFERS_ONLY=1` for the transfers without the memory and store parts.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smc::client::{Background, ChatEvent, Client};

fn quick() -> bool {
    std::env::var_os("SMC_BENCH_QUICK").is_some()
}

/// The file size.
fn size() -> usize {
    if quick() {
        2 << 20
    } else {
        100 << 20
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An `smc server` process on `data`: it and its address.
fn server(data: &Path) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smc"))
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line.split_whitespace().nth(4).unwrap().to_owned();
    (Killed(child), address)
}

fn peak_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn write_file(path: &Path, len: usize) {
    let mut f = std::fs::File::create(path).unwrap();
    let block: Vec<u8> = (0..1 << 20).map(|i| (i * 7 + i / 4093) as u8).collect();
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len());
        f.write_all(&block[..n]).unwrap();
        left -= n;
    }
    f.sync_all().unwrap();
}

/// CPU seconds (user + system) that process `pid` has used so far.
fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command's name (which is in parentheses): utime is the 14th
    // field of the line, stime the 15th, in clock ticks (100 per second on Linux).
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

fn mib_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / took.as_secs_f64()
}

/// The floor: `source` over loopback TCP into `dest`, fsynced.
fn floor(source: &Path, dest: &Path) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let dest = dest.to_owned();
    let start = Instant::now();
    let receiver = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut out = std::fs::File::create(&dest).unwrap();
        std::io::copy(&mut conn, &mut out).unwrap();
        out.sync_all().unwrap();
    });
    let mut conn = TcpStream::connect(address).unwrap();
    let mut file = std::fs::File::open(source).unwrap();
    std::io::copy(&mut file, &mut conn).unwrap();
    drop(conn);
    receiver.join().unwrap();
    start.elapsed()
}

/// A client of `user` in `dir`, connected, accepting invitations, in the background.
fn client(dir: &Path, user: &str, address: &str) -> Background {
    let mut c = Client::open(dir.join(user), user).unwrap();
    c.set_auto_join(true);
    let bg = Background::start(c).unwrap();
    bg.connect(&[address], None).unwrap();
    bg
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3
}

/// `send` latencies of `bg` in `room`, for `n` messages or until `stop` (at least 20).
fn chat(bg: &Background, room: &str, n: usize, stop: Option<&AtomicBool>) -> Vec<Duration> {
    let mut took = Vec::new();
    while took.len() < n
        || (stop.is_some_and(|s| !s.load(Ordering::Relaxed)) && took.len() < 100_000)
    {
        if took.len() >= 20 && stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            break;
        }
        let start = Instant::now();
        bg.with(|c| c.send(room, "ping")).unwrap();
        took.push(start.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    took.sort();
    took
}

fn transfers(dir: &Path) {
    let len = size();
    let source = dir.join("source");
    write_file(&source, len);
    // Floor, three times (the best).
    let best_floor = (0..3)
        .map(|i| floor(&source, &dir.join(format!("floor{i}"))))
        .min()
        .unwrap();
    let (server, address) = server(&dir.join("server"));
    let alice = client(dir, "alice", &address);
    let bob = client(dir, "bob", &address);
    alice.with(|c| c.create_room("r")).unwrap();
    alice.with(|c| c.invite("r", "bob")).unwrap();

    // Chat alone.
    let idle = chat(&alice, "r", 200, None);

    // Upload, with chat from another thread of the same client.
    let alice = Arc::new(alice);
    let done = Arc::new(AtomicBool::new(false));
    let chatter = {
        let (alice, done) = (alice.clone(), done.clone());
        std::thread::spawn(move || chat(&alice, "r", 20, Some(&done)))
    };
    let (me, server_pid) = (std::process::id(), server.0.id());
    let cpu_before = (cpu_s(me), cpu_s(server_pid));
    let start = Instant::now();
    // When every request but the last was acknowledged: the rest is the last one, the
    // server's sync of the whole file, and the message that announces it.
    let mut all_but_last = None;
    alice
        .send_file("r", &source, Some("big.bin"), None, |done, total| {
            let last_request = u64::from(smc::proto::BLOB_BATCH) * smc::proto::BLOB_CHUNK as u64;
            if all_but_last.is_none() && total - done <= last_request {
                all_but_last = Some(start.elapsed());
            }
            true
        })
        .unwrap();
    let upload = start.elapsed();
    let tail = upload - all_but_last.unwrap_or(upload);
    let upload_cpu = (cpu_s(me) - cpu_before.0, cpu_s(server_pid) - cpu_before.1);
    done.store(true, Ordering::Relaxed);
    let busy = chatter.join().unwrap();

    // Download.
    let attachment = loop {
        match bob.recv_event(Some(Duration::from_secs(30))).unwrap() {
            Some(ChatEvent::Message(m)) if m.attachment.is_some() => break m.attachment.unwrap(),
            Some(_) => {}
            None => panic!("the file never came"),
        }
    };
    let cpu_before = (cpu_s(me), cpu_s(server_pid));
    let start = Instant::now();
    bob.download(&attachment, dir.join("downloaded"), |_, _| true)
        .unwrap();
    let download = start.elapsed();
    let download_cpu = (cpu_s(me) - cpu_before.0, cpu_s(server_pid) - cpu_before.1);
    let floor_rate = mib_s(len, best_floor);
    let (up, down) = (mib_s(len, upload), mib_s(len, download));
    println!(
        "file of {} MiB: floor (loopback TCP + fsync) {floor_rate:.0} MiB/s; upload {up:.1} MiB/s ({:.2}x the floor); download {down:.1} MiB/s ({:.2}x)",
        len >> 20,
        up / floor_rate,
        down / floor_rate
    );
    println!(
        "of the upload's {:.0} ms, {:.0} ms came after every request of chunks but the last was answered (the last request, the server's sync of the file, the announcing message)",
        upload.as_secs_f64() * 1e3,
        tail.as_secs_f64() * 1e3
    );
    println!(
        "CPU seconds (user + system) while it ran: upload {:.2} s, clients {:.2} s, server {:.2} s; download {:.2} s, clients {:.2} s, server {:.2} s (this machine has 2 cores; the clients' side includes the chat during the upload)",
        upload.as_secs_f64(),
        upload_cpu.0,
        upload_cpu.1,
        download.as_secs_f64(),
        download_cpu.0,
        download_cpu.1
    );
    println!(
        "chat send from the uploading client: idle p50 {:.2} ms p99 {:.2} ms ({} sends); during the upload p50 {:.2} ms p99 {:.2} ms ({} sends)",
        percentile(&idle, 0.5),
        percentile(&idle, 0.99),
        idle.len(),
        percentile(&busy, 0.5),
        percentile(&busy, 0.99),
        busy.len()
    );
    drop(server);
}

fn server_memory(dir: &Path) {
    let len = size();
    let source = dir.join("source4");
    write_file(&source, len);
    let (server, address) = server(&dir.join("server4"));
    let pid = server.0.id();
    let users: Vec<Background> = (0..4)
        .map(|i| client(dir, &format!("u{i}"), &address))
        .collect();
    for (i, u) in users.iter().enumerate() {
        u.with(|c| c.create_room(&format!("room{i}"))).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = peak_kib(pid, "VmRSS:");
    std::thread::scope(|s| {
        for (i, u) in users.iter().enumerate() {
            let source = &source;
            s.spawn(move || {
                u.send_file(&format!("room{i}"), source, None, None, |_, _| true)
                    .unwrap()
            });
        }
    });
    let peak = peak_kib(pid, "VmHWM:");
    println!(
        "server memory, 4 clients uploading {} MiB each at once: RSS {before} KiB before, peak {peak} KiB (+{} KiB)",
        len >> 20,
        peak.saturating_sub(before)
    );
    drop(server);
}

fn store(dir: &Path) {
    use smc::proto::{blob_chunk_len, sealed_size, BlobId, BLOB_CHUNK, BLOB_TAG};
    use smc::server::store::{
        BlobStore, Durability, NewBlob, Newcomer, RegistrationPolicy, SqliteStore, Store,
    };
    let store = SqliteStore::open(&dir.join("store"), Durability::Full).unwrap();
    let anyone = Newcomer {
        address: "192.0.2.1".into(),
        per_hour: 0,
        now_ms: 1,
    };
    store
        .register("u", &[1; 32], RegistrationPolicy::Open, None, &anyone)
        .unwrap();
    store.create_room("r", "u", 1, 10, None).unwrap();
    let size = size() as u64;
    let chunks = (size / BLOB_CHUNK as u64) as u32;
    let blob = NewBlob {
        id: BlobId([7; 16]),
        room: "r".into(),
        owner: "u".into(),
        size,
        chunks,
        sealed: sealed_size(size).unwrap(),
        now_ms: 1,
        quota: u64::MAX,
    };
    store.begin_blob(&blob).unwrap();
    let chunk = vec![5u8; blob_chunk_len(size, 0).unwrap() + BLOB_TAG];
    let start = Instant::now();
    for i in 0..chunks {
        store.put_chunks(&blob.id, "u", i, &chunk).unwrap();
    }
    let put = start.elapsed();
    let start = Instant::now();
    for i in 0..chunks {
        store.fetch_chunks(&blob.id, i, 1, "u").unwrap().unwrap();
    }
    let fetch = start.elapsed();
    println!(
        "chunk store alone (SQLite, {chunks} chunks of 64 KiB): put {:.0} us per chunk ({:.1} MiB/s), fetch {:.1} MiB/s",
        put.as_secs_f64() * 1e6 / f64::from(chunks),
        mib_s(size as usize, put),
        mib_s(size as usize, fetch)
    );
}

fn main() {
    let dir: PathBuf = std::env::temp_dir().join(format!("smc_bench_files_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    transfers(&dir);
    // SMC_BENCH_TRANSFERS_ONLY=1: the transfers alone, for a quicker before/after.
    if std::env::var_os("SMC_BENCH_TRANSFERS_ONLY").is_none() {
        server_memory(&dir);
        store(&dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
