//! Soak: a real `smc server` process with many connected clients and steady traffic for
//! a long time, sampling the server's resident memory, open descriptors and SQLite file
//! sizes every few seconds into a CSV (plotted by `scripts/soak.sh`).
//!
//! `cargo bench --bench soak -- [--minutes M] [--clients N] [--rate R] [--out FILE]`
//! (defaults: 10 minutes, 500 clients in rooms of 10, 50 messages/s in all).
//! It prints the drift at the end: RSS at the end against RSS after the warm-up (the
//! first fifth of the run), and descriptors at the end against after warm-up.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smc::client::ChatEvent;
use smc::Client;

const ROOM_SIZE: usize = 10;
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

struct Options {
    minutes: f64,
    clients: usize,
    rate: f64,
    out: PathBuf,
}

fn options() -> Options {
    // SMC_BENCH_QUICK: a few seconds with a few clients, only to show that the bench
    // still runs (scripts/test.sh).
    let quick = std::env::var_os("SMC_BENCH_QUICK").is_some();
    let mut o = Options {
        minutes: if quick { 0.1 } else { 10.0 },
        clients: if quick { 20 } else { 500 },
        rate: 50.0,
        out: Path::new(env!("CARGO_TARGET_TMPDIR")).join("soak.csv"),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--minutes" => o.minutes = value.parse().expect("--minutes"),
            "--clients" => o.clients = value.parse().expect("--clients"),
            "--rate" => o.rate = value.parse().expect("--rate"),
            "--out" => o.out = PathBuf::from(value),
            _ => {
                i += 1;
                continue; // cargo bench passes --bench
            }
        }
        i += 2;
    }
    o.clients = o.clients.max(ROOM_SIZE) / ROOM_SIZE * ROOM_SIZE;
    o
}

fn server(data: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smc"))
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--max-connections",
            "5000",
            // Every client registers from this one address.
            "--registrations-per-address",
            "0",
        ])
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start smc server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .strip_prefix("smc server listening on ")
        .and_then(|r| r.split_once(' '))
        .map(|(a, _)| a.to_owned())
        .unwrap_or_else(|| panic!("not the server's banner: {line:?}"));
    (child, address)
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn main() {
    let o = options();
    let dir = std::env::temp_dir().join(format!("smc-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("server");
    let (mut child, address) = server(&data);
    let pid = child.id();
    eprintln!(
        "soak: {} clients in rooms of {ROOM_SIZE}, {} messages/s, {} minutes, server pid {pid} on {address}",
        o.clients, o.rate, o.minutes
    );
    // Rooms of ROOM_SIZE: the first member creates and invites the others.
    let setup = Instant::now();
    let mut clients: Vec<Client> = (0..o.clients)
        .map(|i| {
            let user = format!("soak{i}");
            let mut c = Client::open(dir.join(&user), &user).unwrap();
            c.set_auto_join(true);
            c.connect(&address).unwrap();
            c
        })
        .collect();
    for (r, group) in clients.chunks_mut(ROOM_SIZE).enumerate() {
        let room = format!("room{r}");
        let (owner, rest) = group.split_first_mut().unwrap();
        owner.create_room(&room).unwrap();
        for c in rest.iter() {
            owner.invite(&room, c.user()).unwrap();
        }
        for c in rest.iter_mut() {
            while c.members(&room).is_err() {
                let _ = c.recv_event(Some(Duration::from_millis(50)));
            }
        }
    }
    eprintln!("soak: set up in {:.1} s", setup.elapsed().as_secs_f64());
    // Readers: every client is polled for what arrived; owners (one per room) send in
    // turn at the overall rate.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let rooms = o.clients / ROOM_SIZE;
    let threads = 4;
    let per_thread = o.clients.div_ceil(threads);
    let mut handles = Vec::new();
    let mut chunks: Vec<Vec<(usize, Client)>> = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        if i % per_thread == 0 {
            chunks.push(Vec::new());
        }
        chunks.last_mut().unwrap().push((i, c));
    }
    let interval = Duration::from_secs_f64(rooms as f64 / o.rate);
    for mut chunk in chunks {
        let (stop, sent, delivered) = (stop.clone(), sent.clone(), delivered.clone());
        handles.push(std::thread::spawn(move || {
            let mut next_send = Instant::now();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for (i, c) in chunk.iter_mut() {
                    while let Ok(Some(e)) = c.recv_event(Some(Duration::ZERO)) {
                        if let ChatEvent::Message(_) = e {
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if *i % ROOM_SIZE == 0 && Instant::now() >= next_send {
                        let room = format!("room{}", *i / ROOM_SIZE);
                        n += 1;
                        if c.send(&room, &format!("soak message {n} from {}", c.user()))
                            .is_ok()
                        {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                if Instant::now() >= next_send {
                    next_send += interval;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }));
    }
    let mut csv = std::fs::File::create(&o.out).unwrap();
    writeln!(csv, "seconds,rss_kib,fds,db_bytes,wal_bytes,sent,delivered").unwrap();
    let start = Instant::now();
    let total = Duration::from_secs_f64(o.minutes * 60.0);
    let mut samples: Vec<(f64, u64, usize)> = Vec::new();
    while start.elapsed() < total {
        std::thread::sleep(SAMPLE_EVERY);
        let t = start.elapsed().as_secs_f64();
        let (rss, open) = (status_kib(pid, "VmRSS:"), fds(pid));
        writeln!(
            csv,
            "{t:.1},{rss},{open},{},{},{},{}",
            size(&data.join("smc.db")),
            size(&data.join("smc.db-wal")),
            sent.load(Ordering::Relaxed),
            delivered.load(Ordering::Relaxed)
        )
        .unwrap();
        csv.flush().unwrap();
        samples.push((t, rss, open));
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let warm = samples
        .iter()
        .find(|(t, _, _)| *t >= total.as_secs_f64() / 5.0)
        .copied()
        .unwrap_or(samples[0]);
    let last = *samples.last().unwrap();
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    println!(
        "soak: {:.0} s, {} clients, sent {}, delivered {}; server RSS after warm-up {} KiB, at the end {} KiB ({:+.1}%), peak {} KiB; descriptors after warm-up {}, at the end {}",
        last.0,
        o.clients,
        sent.load(Ordering::Relaxed),
        delivered.load(Ordering::Relaxed),
        warm.1,
        last.1,
        (last.1 as f64 / warm.1 as f64 - 1.0) * 100.0,
        peak,
        warm.2,
        last.2
    );
    println!("soak: samples in {}", o.out.display());
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
