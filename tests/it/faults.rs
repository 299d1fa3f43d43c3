//! Faults under load, with real `smc server` processes and real clients: the server
//! killed (SIGKILL) again and again while several clients send, the clients killed too,
//! a full disk, corrupted files, and a network that delays, cuts and resets.
//!
//! Every "nothing lost" check reads what *another* party received (the other members'
//! clients, which got the messages through the server), never the sender's own record.
//!
//! Lengths: `SMC_FAULT_KILLS` (default 10) kills per run; `SMC_FAULT_SEED` replays a
//! run's random moments (each run prints its seed).

use smc::client::hazmat::RawAccess;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smc::client::ChatEvent;
use smc::Client;

use crate::support::{self, tempdir};

const ROOM: &str = "load";

/// A small deterministic random source (xorshift64*), seeded per run.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("SMC_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("SMC_FAULT_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A duration between `lo` and `hi` milliseconds.
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo + 1))
    }
}

/// With `SMC_FAULT_DEBUG` set, the clients' logs (debug level) go to stderr.
fn debug_logs() {
    if std::env::var_os("SMC_FAULT_DEBUG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("smc=debug")
            .with_thread_names(true)
            .try_init();
    }
}

fn kills() -> usize {
    std::env::var("SMC_FAULT_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

/// Opens `user`'s client, connecting as soon as the server is there.
fn open(home: &Path, user: &str, address: &str) -> Client {
    let mut c = Client::open(home, user).unwrap();
    c.set_auto_join(true);
    reconnect(&mut c, address);
    c
}

/// Connects again until it works (the server may be down for a while).
fn reconnect(c: &mut Client, address: &str) {
    let start = Instant::now();
    while let Err(e) = c.connect(address) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} cannot reconnect: {e}",
            c.user()
        );
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// Whatever has arrived, without waiting; `false` when the connection is gone.
fn take_events(c: &mut Client, into: &mut Vec<String>) -> bool {
    loop {
        match c.recv_event(Some(Duration::ZERO)) {
            Ok(Some(ChatEvent::Message(m))) if m.room == ROOM => into.push(m.text),
            // A member that cannot read is a member that lost messages.
            Ok(Some(ChatEvent::Undecryptable { seq, reason, .. })) => {
                panic!("{} could not read message {seq}: {reason}", c.user())
            }
            Ok(Some(_)) => {}
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

/// Every message of the room in `c`'s own record, in room order.
fn history(c: &Client) -> Vec<(u64, String)> {
    c.history(ROOM, u32::MAX)
        .unwrap()
        .into_iter()
        .map(|m| (m.seq, m.text))
        .collect()
}

/// The room's members and the server: alice creates the room and invites the others.
fn room(dir: &Path, users: &[&str], address: &str) {
    let mut clients: Vec<Client> = users
        .iter()
        .map(|u| open(&dir.join(u), u, address))
        .collect();
    clients[0].create_room(ROOM).unwrap();
    for u in &users[1..] {
        clients[0].invite(ROOM, u).unwrap();
    }
    for c in &mut clients[1..] {
        let start = Instant::now();
        while !c.rooms().unwrap().contains(&ROOM.to_owned()) || c.members(ROOM).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "no Welcome");
            let _ = c.recv_event(Some(Duration::from_millis(100)));
        }
    }
}

/// After the run: every member's client reconnects and catches up; then each one's
/// record of the room must hold every acknowledged message exactly once, and all
/// members must hold the same messages in the same order.
fn check_everyone_has_everything(
    dir: &Path,
    users: &[&str],
    address: &str,
    acknowledged: &[String],
    attempted: &[String],
) -> usize {
    // All reconnect first: a client killed before its send was acknowledged sends
    // that message again from its outbox when it reconnects; then all catch up.
    let mut clients: Vec<Client> = users
        .iter()
        .map(|u| open(&dir.join(u), u, address))
        .collect();
    for _round in 0..2 {
        for c in &mut clients {
            let events = support::events::drain(c);
            if std::env::var_os("SMC_FAULT_DEBUG").is_some() {
                let last = history(c).last().cloned();
                eprintln!(
                    "{}: {} events; last in history {last:?}",
                    c.user(),
                    events.len()
                );
            }
            let unreadable: Vec<&ChatEvent> = events
                .iter()
                .filter(|e| matches!(e, ChatEvent::Undecryptable { .. }))
                .collect();
            assert!(
                unreadable.is_empty(),
                "{} could not read: {unreadable:?}",
                c.user()
            );
        }
    }
    let mut records = Vec::new();
    for (u, c) in users.iter().zip(&clients) {
        let record = history(c);
        let texts: Vec<&String> = record.iter().map(|(_, t)| t).collect();
        let unique: HashSet<&&String> = texts.iter().collect();
        assert_eq!(unique.len(), texts.len(), "{u} holds a message twice");
        let seqs: Vec<u64> = record.iter().map(|(s, _)| *s).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{u}: out of order");
        let missing: Vec<&String> = acknowledged
            .iter()
            .filter(|t| !unique.contains(t))
            .collect();
        assert!(
            missing.is_empty(),
            "{u} lacks {} acknowledged messages, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        records.push((u, record));
    }
    let (first, reference) = &records[0];
    // Nothing appears that nobody tried to send (a message refused or never sent).
    let tried: HashSet<&String> = attempted.iter().collect();
    let phantom: Vec<&(u64, String)> = reference
        .iter()
        .filter(|(_, t)| !tried.contains(t))
        .collect();
    assert!(phantom.is_empty(), "messages nobody sent: {phantom:?}");
    for (u, record) in &records[1..] {
        let only_here: Vec<_> = record.iter().filter(|m| !reference.contains(m)).collect();
        let only_there: Vec<_> = reference.iter().filter(|m| !record.contains(m)).collect();
        assert!(
            record == reference,
            "{u} and {first} disagree on the room's messages: only {u} has {only_here:?}, \
             only {first} has {only_there:?}"
        );
    }
    eprintln!(
        "sent {}, acknowledged {}, delivered to each of {} members {} (acknowledged or not), lost 0",
        attempted.len(),
        acknowledged.len(),
        users.len(),
        records[0].1.len()
    );
    records[0].1.len()
}

#[test]
fn the_server_killed_again_and_again_under_load_loses_nothing_acknowledged() {
    debug_logs();
    let dir = tempdir("faults_server_kills");
    let data = dir.join("data");
    let (mut server, address) = support::server_process(&data, "127.0.0.1:0");
    let users = ["alice", "bob", "carol", "dave"];
    room(&dir, &users, &address);
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let attempted = Arc::new(Mutex::new(Vec::new()));
    // alice, bob and carol send as fast as they can and read what arrives; dave only
    // reads. Each reconnects by itself when the server is gone.
    let threads: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(n, user)| {
            let (dir, address, user) = (dir.clone(), address.clone(), user.to_string());
            let (stop, acknowledged, attempted) =
                (stop.clone(), acknowledged.clone(), attempted.clone());
            std::thread::spawn(move || {
                let mut c = open(&dir.join(&user), &user, &address);
                let mut received = Vec::new();
                let sender = n < 3;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut up = take_events(&mut c, &mut received);
                    if sender && up {
                        let text = format!("{user} {i}");
                        i += 1;
                        attempted.lock().unwrap().push(text.clone());
                        match c.send(ROOM, &text) {
                            Ok(_) => acknowledged.lock().unwrap().push(text),
                            Err(_) => up = false,
                        }
                    } else if up {
                        match c.recv_event(Some(Duration::from_millis(50))) {
                            Ok(Some(ChatEvent::Message(m))) => received.push(m.text),
                            Ok(Some(ChatEvent::Undecryptable { seq, reason, .. })) => {
                                panic!("{user} could not read message {seq}: {reason}")
                            }
                            Ok(_) => {}
                            Err(_) => up = false,
                        }
                    }
                    if !up {
                        reconnect(&mut c, &address);
                    }
                }
                received
            })
        })
        .collect();
    let mut rng = Rng::new();
    let count = kills();
    for k in 0..count {
        std::thread::sleep(rng.millis(150, 700));
        server.kill().unwrap(); // SIGKILL: no draining, no goodbye
        server.wait().unwrap();
        if k % 3 == 2 {
            std::thread::sleep(rng.millis(0, 300)); // down for a while
        }
        server = support::server_process(&data, &address).0;
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let received: Vec<Vec<String>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 50,
        "too little load: {}",
        acknowledged.len()
    );
    // What dave received live never holds a message twice.
    let live: HashSet<&String> = received[3].iter().collect();
    assert_eq!(
        live.len(),
        received[3].len(),
        "dave received a message twice"
    );
    eprintln!("{count} kills of the server");
    let attempted = attempted.lock().unwrap().clone();
    check_everyone_has_everything(&dir, &users, &address, &acknowledged, &attempted);
    server.kill().unwrap();
    let _ = server.wait();
}

/// Run by `the_server_and_the_clients_killed_together_lose_nothing_acknowledged` as a
/// child process: `user` sends "<user> <generation>.<i>" until killed, reconnecting by
/// itself, and prints "acked <text>" after each acknowledgement.
#[test]
#[ignore = "run as a child process by the kill tests"]
fn fault_sender_child() {
    // Run by hand without them, this test fails rather than pass doing nothing.
    let home = std::env::var("SMC_FAULT_HOME").expect("SMC_FAULT_HOME (set by the kill test)");
    let user = std::env::var("SMC_FAULT_USER").expect("SMC_FAULT_USER");
    let address = std::env::var("SMC_FAULT_ADDRESS").expect("SMC_FAULT_ADDRESS");
    let generation = std::env::var("SMC_FAULT_GENERATION").expect("SMC_FAULT_GENERATION");
    let mut c = open(Path::new(&home), &user, &address);
    let mut sink = Vec::new();
    for i in 0.. {
        if !take_events(&mut c, &mut sink) {
            reconnect(&mut c, &address);
            continue;
        }
        let text = format!("{user} {generation}.{i}");
        println!("try {text}");
        match c.send(ROOM, &text) {
            Ok(_) => println!("acked {text}"),
            Err(_) => reconnect(&mut c, &address),
        }
    }
}

/// A sender process and the thread reading what it tried and what was acknowledged.
struct SenderProcess {
    child: Child,
    reader: std::thread::JoinHandle<(Vec<String>, Vec<String>)>,
}

fn spawn_sender(dir: &Path, user: &str, address: &str, generation: usize) -> SenderProcess {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "faults::fault_sender_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SMC_FAULT_HOME", dir.join(user))
        .env("SMC_FAULT_USER", user)
        .env("SMC_FAULT_ADDRESS", address)
        .env("SMC_FAULT_GENERATION", generation.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut tried, mut acked) = (Vec::new(), Vec::new());
        // The first line follows libtest's "test faults::fault_sender_child ... " on one line.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((_, text)) = line.split_once("try ") {
                tried.push(text.to_owned());
            } else if let Some((_, text)) = line.split_once("acked ") {
                acked.push(text.to_owned());
            }
        }
        (tried, acked)
    });
    SenderProcess { child, reader }
}

impl SenderProcess {
    fn kill(mut self) -> (Vec<String>, Vec<String>) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reader.join().unwrap()
    }
}

#[test]
fn the_server_and_the_clients_killed_together_lose_nothing_acknowledged() {
    let dir = tempdir("faults_both_killed");
    let data = dir.join("data");
    let (mut server, address) = support::server_process(&data, "127.0.0.1:0");
    let users = ["alice", "bob", "carol"];
    room(&dir, &users, &address);
    let senders = ["alice", "bob"];
    let mut generation = 0;
    let mut running: HashMap<&str, SenderProcess> = senders
        .iter()
        .map(|u| (*u, spawn_sender(&dir, u, &address, 0)))
        .collect();
    let mut acknowledged = Vec::new();
    let mut attempted: Vec<String> = Vec::new();
    let mut rng = Rng::new();
    let count = kills();
    for k in 0..count {
        std::thread::sleep(rng.millis(200, 700));
        // The server, a sender, or both at once.
        let what = rng.next() % 3;
        if what != 1 {
            server.kill().unwrap();
            server.wait().unwrap();
        }
        if what != 0 {
            let user = senders[k % senders.len()];
            let process = running.remove(user).unwrap();
            let (tried, acked) = process.kill();
            attempted.extend(tried);
            acknowledged.extend(acked);
            generation += 1;
            running.insert(user, spawn_sender(&dir, user, &address, generation));
        }
        if what != 1 {
            server = support::server_process(&data, &address).0;
        }
    }
    std::thread::sleep(Duration::from_millis(700));
    for (_, process) in running.drain() {
        let (tried, acked) = process.kill();
        attempted.extend(tried);
        acknowledged.extend(acked);
    }
    assert!(
        acknowledged.len() > 30,
        "too little load: {}",
        acknowledged.len()
    );
    eprintln!("{count} kills of the server and/or a client");
    check_everyone_has_everything(&dir, &users, &address, &acknowledged, &attempted);
    server.kill().unwrap();
    let _ = server.wait();
}

/// A small filesystem of its own (a tmpfs the test mounts; the tests run as root, as
/// `.ci/run` does), unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "the disk-full tests mount a tmpfs and need root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk {
            path: path.to_owned(),
        }
    }

    /// Fills what is left with a file; returns it (remove it to give the space back).
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Sends `count` messages ("before N"), each acknowledged; returns their texts.
fn send_some(c: &mut Client, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let text = format!("before {i}");
            c.send(ROOM, &text).unwrap();
            text
        })
        .collect()
}

/// Sends until one fails (at most `limit` tries); returns the acknowledged texts and
/// the error.
fn send_until_error(c: &mut Client, prefix: &str, limit: usize) -> (Vec<String>, String) {
    let mut acked = Vec::new();
    for i in 0..limit {
        let text = format!("{prefix} {i} {}", "x".repeat(2000));
        match c.send(ROOM, &text) {
            Ok(_) => acked.push(text),
            Err(e) => return (acked, e.to_string()),
        }
    }
    panic!("{limit} sends succeeded on a full disk");
}

#[test]
fn a_full_disk_on_the_server_refuses_sends_clearly_serves_reads_and_recovers() {
    let dir = tempdir("faults_server_disk_full");
    let disk = SmallDisk::mount(&dir.join("disk"), "16m");
    let data = disk.path.join("data");
    let (mut server, address) = support::server_process(&data, "127.0.0.1:0");
    room(&dir, &["alice", "bob"], &address);
    let mut alice = open(&dir.join("alice"), "alice", &address);
    let mut acked = send_some(&mut alice, 20);
    let filler = disk.fill();
    let (more, error) = send_until_error(&mut alice, "full", 500);
    acked.extend(more);
    eprintln!("the send on a full disk failed with: {error}");
    assert!(
        error.contains("storage") || error.contains("full") || error.contains("space"),
        "not a clear error: {error}"
    );
    assert!(server.try_wait().unwrap().is_none(), "the server died");
    // Reads still work: bob connects and catches up on what was stored.
    {
        let mut bob = open(&dir.join("bob"), "bob", &address);
        support::events::drain(&mut bob);
        let held: Vec<String> = history(&bob).into_iter().map(|(_, t)| t).collect();
        assert!(
            acked.iter().all(|t| held.contains(t)),
            "bob lacks acknowledged messages"
        );
    }
    // Space comes back: sending works again, on the same connection or a new one.
    std::fs::remove_file(filler).unwrap();
    let start = Instant::now();
    let text = "after the disk had space again".to_owned();
    loop {
        match alice.send(ROOM, &text) {
            Ok(_) => break,
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "no recovery: {e}"
                );
                std::thread::sleep(Duration::from_millis(100));
                if !alice.is_connected() {
                    reconnect(&mut alice, &address);
                }
            }
        }
    }
    acked.push(text);
    drop(alice);
    let held = check_everyone_has_everything(&dir, &["alice", "bob"], &address, &acked, &acked);
    assert_eq!(
        held,
        acked.len(),
        "a refused message was stored or sent later"
    );
    // Nothing is corrupt after the failed writes: the server restarts on the data.
    server.kill().unwrap();
    server.wait().unwrap();
    let (mut server, _) = support::server_process(&data, &address);
    check_everyone_has_everything(&dir, &["alice", "bob"], &address, &acked, &acked);
    server.kill().unwrap();
    let _ = server.wait();
}

#[test]
fn a_full_disk_under_a_clients_home_fails_its_send_clearly_and_loses_nothing() {
    let dir = tempdir("faults_client_disk_full");
    let (mut server, address) = support::server_process(&dir.join("data"), "127.0.0.1:0");
    let disk = SmallDisk::mount(&dir.join("disk"), "8m");
    // alice's home lives on the small disk.
    let home = disk.path.join("alice");
    {
        let mut alice = open(&home, "alice", &address);
        let mut bob = open(&dir.join("bob"), "bob", &address);
        alice.create_room(ROOM).unwrap();
        alice.invite(ROOM, "bob").unwrap();
        support::events::drain(&mut bob);
    }
    let mut alice = open(&home, "alice", &address);
    let mut acked = send_some(&mut alice, 10);
    let filler = disk.fill();
    let (more, error) = send_until_error(&mut alice, "full", 500);
    acked.extend(more);
    eprintln!("the send with a full home failed with: {error}");
    assert!(error.contains("full"), "not a clear error: {error}");
    std::fs::remove_file(filler).unwrap();
    let text = "after the home had space again".to_owned();
    if alice.send(ROOM, &text).is_err() {
        // The failed write may have cost the connection: a reconnect recovers.
        reconnect(&mut alice, &address);
        alice.send(ROOM, &text).unwrap();
    }
    acked.push(text);
    drop(alice);
    let held = check_everyone_has_everything(&dir, &["bob"], &address, &acked, &acked);
    assert_eq!(held, acked.len(), "a failed send reached bob");
    // alice's own record: everything she was told was sent, once.
    let alice = open(&home, "alice", &address);
    let mine: Vec<String> = history(&alice).into_iter().map(|(_, t)| t).collect();
    assert_eq!(mine, acked, "alice's record differs from what she was told");
    server.kill().unwrap();
    let _ = server.wait();
}

/// Changes bytes of `file` (every `stride`-th one from `from`) or cuts it to `cut` bytes.
fn damage(file: &Path, from: usize, stride: usize, cut: Option<u64>) {
    let mut bytes = std::fs::read(file).unwrap();
    for i in (from..bytes.len()).step_by(stride) {
        bytes[i] ^= 0x5a;
    }
    std::fs::write(file, &bytes).unwrap();
    if let Some(len) = cut {
        std::fs::OpenOptions::new()
            .write(true)
            .open(file)
            .unwrap()
            .set_len(len)
            .unwrap();
    }
}

#[test]
fn a_damaged_server_store_is_refused_at_start_naming_the_file_and_admin_check_finds_it() {
    let dir = tempdir("faults_corrupt_server");
    let data = dir.join("data");
    let (mut server, address) = support::server_process(&data, "127.0.0.1:0");
    room(&dir, &["alice", "bob"], &address);
    // A clean stop (SIGTERM): everything is in smc.db itself, no -wal file to lean on.
    // SAFETY: a plain kill(2) of our own child process.
    unsafe { libc::kill(server.id() as libc::pid_t, libc::SIGTERM) };
    server.wait().unwrap();
    // Runs `smc ARGS --data-dir DATA`; one still running after 10 s (a server that
    // started on the damaged file) is killed and reported as a success.
    let smc = |args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_smc"))
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait_with_output().unwrap()
    };
    let sound = smc(&["admin", "check"]);
    assert!(sound.status.success(), "{sound:?}");
    let pristine = std::fs::read(data.join("smc.db")).unwrap();
    // Header, schema and data pages changed, and the file cut short.
    for (from, stride, cut) in [
        (0, 4096, None),
        (100, 1 << 30, None),
        (4096 + 17, 211, None),
        (usize::MAX, 1, Some(3000)),
        (usize::MAX, 1, Some(pristine.len() as u64 / 2 + 7)),
    ] {
        std::fs::write(data.join("smc.db"), &pristine).unwrap();
        let _ = std::fs::remove_file(data.join("smc.db-wal"));
        let _ = std::fs::remove_file(data.join("smc.db-shm"));
        damage(&data.join("smc.db"), from, stride, cut);
        let start = smc(&["server", "--listen", "127.0.0.1:0"]);
        let stderr = String::from_utf8_lossy(&start.stderr);
        assert!(
            !String::from_utf8_lossy(&start.stdout).contains("listening"),
            "started on a damaged store ({from}, {stride}, {cut:?})"
        );
        assert!(
            stderr.contains("smc.db"),
            "the error does not name the file: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        let check = smc(&["admin", "check"]);
        assert!(
            !check.status.success(),
            "admin check found nothing ({from}, {stride}, {cut:?})"
        );
        let said = String::from_utf8_lossy(&check.stderr);
        assert!(
            said.contains("smc.db") && !said.contains("panicked"),
            "{said}"
        );
    }
}

#[test]
fn a_damaged_client_state_is_refused_at_open_naming_the_file() {
    let dir = tempdir("faults_corrupt_client");
    let (mut server, address) = support::server_process(&dir.join("data"), "127.0.0.1:0");
    room(&dir, &["alice", "bob"], &address);
    let home = dir.join("alice");
    let state = home.join("state.db");
    assert!(
        state.exists(),
        "the client's state is in {}",
        state.display()
    );
    let pristine = std::fs::read(&state).unwrap();
    for (from, stride, cut) in [
        (0, 4096, None),
        (4096 + 17, 211, None),
        (usize::MAX, 1, Some(pristine.len() as u64 / 2 + 7)),
    ] {
        std::fs::write(&state, &pristine).unwrap();
        let _ = std::fs::remove_file(home.join("state.db-wal"));
        let _ = std::fs::remove_file(home.join("state.db-shm"));
        damage(&state, from, stride, cut);
        let opened = std::panic::catch_unwind(|| Client::open(&home, "alice"));
        let result = opened.expect("Client::open panicked on a damaged state");
        let error = match result {
            Ok(mut c) => {
                // Some damage shows only when the page is read: then at the first use.
                match c
                    .connect(&address)
                    .and_then(|()| c.history(ROOM, 100).map(drop))
                {
                    Ok(()) => panic!("a damaged state went unnoticed ({from}, {stride}, {cut:?})"),
                    Err(e) => e.to_string(),
                }
            }
            Err(e) => e.to_string(),
        };
        eprintln!("damaged state ({from}, {stride}, {cut:?}): {error}");
        assert!(
            error.contains("state.db"),
            "the error does not name the file: {error}"
        );
    }
    server.kill().unwrap();
    let _ = server.wait();
}

#[test]
fn a_network_that_delays_cuts_and_resets_loses_and_duplicates_nothing() {
    debug_logs();
    let dir = tempdir("faults_network");
    let (mut server, upstream) = support::server_process(&dir.join("data"), "127.0.0.1:0");
    let mut rng = Rng::new();
    let proxy = support::fault_proxy::FaultProxy::start(&upstream, rng.next());
    let address = proxy.address.clone();
    let users = ["alice", "bob", "carol"];
    room(&dir, &users, &address);
    proxy.set_faults(true);
    let per_sender = 200;
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let attempted = Arc::new(Mutex::new(Vec::new()));
    let senders: Vec<_> = users[..2]
        .iter()
        .map(|user| {
            let (dir, address, user) = (dir.clone(), address.clone(), user.to_string());
            let (acknowledged, attempted) = (acknowledged.clone(), attempted.clone());
            std::thread::spawn(move || {
                let mut c = Client::open(dir.join(&user), &user).unwrap();
                c.set_auto_join(true);
                c.set_request_timeout(Duration::from_secs(5));
                reconnect(&mut c, &address);
                let mut sink = Vec::new();
                let mut i = 0;
                while i < per_sender {
                    if !take_events(&mut c, &mut sink) {
                        reconnect(&mut c, &address);
                        continue;
                    }
                    let text = format!("{user} {i}");
                    i += 1;
                    attempted.lock().unwrap().push(text.clone());
                    match c.send(ROOM, &text) {
                        Ok(_) => acknowledged.lock().unwrap().push(text),
                        Err(_) => reconnect(&mut c, &address),
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    proxy.set_faults(false);
    let stats = &proxy.stats;
    eprintln!(
        "connections through the proxy: {}, delayed {}, cut mid-stream {}, reset {}",
        stats.connections.load(Ordering::Relaxed),
        stats.delayed.load(Ordering::Relaxed),
        stats.cut.load(Ordering::Relaxed),
        stats.reset.load(Ordering::Relaxed)
    );
    assert!(stats.cut.load(Ordering::Relaxed) + stats.reset.load(Ordering::Relaxed) >= 10);
    let acknowledged = acknowledged.lock().unwrap().clone();
    let attempted = attempted.lock().unwrap().clone();
    check_everyone_has_everything(&dir, &users, &address, &acknowledged, &attempted);
    server.kill().unwrap();
    let _ = server.wait();
}

#[test]
fn a_message_sent_again_after_a_lost_answer_is_stored_once() {
    let dir = tempdir("faults_resend");
    let (mut server, address) = support::server_process(&dir.join("data"), "127.0.0.1:0");
    room(&dir, &["alice", "bob"], &address);
    let mut alice = open(&dir.join("alice"), "alice", &address);
    let first = alice.send(ROOM, "only once").unwrap();
    // The very bytes the server stored, sent again (as a client does when the answer
    // to its send was lost): the stored message comes back, nothing new is stored.
    let stored = alice.history_envelopes(ROOM, None, 10).unwrap();
    let original = stored.iter().find(|e| e.seq == first.seq).unwrap();
    let again = alice
        .send_payload(ROOM, original.payload.clone(), None)
        .unwrap();
    assert_eq!((again.seq, again.id), (first.seq, first.id));
    let after = alice.history_envelopes(ROOM, None, 10).unwrap();
    assert_eq!(
        after.last().unwrap().seq,
        first.seq,
        "a second copy was stored"
    );
    drop(alice);
    let acked = vec!["only once".to_owned()];
    check_everyone_has_everything(&dir, &["alice", "bob"], &address, &acked, &acked);
    server.kill().unwrap();
    let _ = server.wait();
}

#[test]
fn a_message_left_in_the_outbox_while_the_group_moved_on_is_encrypted_again_and_read() {
    let dir = tempdir("faults_old_epoch");
    let data = dir.join("data");
    let (mut server, address) = support::server_process(&data, "127.0.0.1:0");
    let users = ["alice", "bob"];
    room(&dir, &users, &address);
    let mut alice = open(&dir.join("alice"), "alice", &address);
    alice.send(ROOM, "before").unwrap();
    // The server goes away: alice's next message is encrypted, kept in her outbox, and
    // its outcome unknown.
    server.kill().unwrap();
    server.wait().unwrap();
    let start = Instant::now();
    while alice.recv_event(Some(Duration::from_millis(100))).is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "alice never sees the end"
        );
    }
    assert!(alice.send(ROOM, "from an old epoch").is_err());
    drop(alice);
    server = support::server_process(&data, &address).0;
    // Meanwhile the group moves on further than any member keeps keys for.
    let mut bob = open(&dir.join("bob"), "bob", &address);
    for _ in 0..smc::e2e::group::MAX_PAST_EPOCHS + 2 {
        bob.self_update(ROOM).unwrap();
    }
    bob.send(ROOM, "after").unwrap();
    // alice comes back: the server refuses the old ciphertext (nobody could read it),
    // so she encrypts the same text again in the current epoch, under the same counter.
    let alice = open(&dir.join("alice"), "alice", &address);
    drop(alice);
    let events = support::events::drain(&mut bob);
    assert_eq!(support::events::unreadable(&events), Vec::<String>::new());
    assert_eq!(
        support::events::texts(&events),
        ["before", "from an old epoch"],
        "bob reads each once"
    );
    let missing: Vec<&ChatEvent> = events
        .iter()
        .filter(|e| matches!(e, ChatEvent::Missing { .. }))
        .collect();
    assert!(
        missing.is_empty(),
        "no message of alice's is missing: {missing:?}"
    );
    drop(bob);
    let acknowledged = ["before", "after"].map(String::from);
    let attempted = ["before", "from an old epoch", "after"].map(String::from);
    let delivered =
        check_everyone_has_everything(&dir, &users, &address, &acknowledged, &attempted);
    assert_eq!(delivered, 3);
    server.kill().unwrap();
    let _ = server.wait();
}
