//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod events;
pub mod evil;
pub mod fault_proxy;
pub mod hostile;
pub mod http;
pub mod mls;
pub mod nats;
pub mod nodes;
pub mod ports;
pub mod postgres;
pub mod raw;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::Duration;

use smc::net::Limits;
use smc::{Client, Server, ServerConfig};

/// The repository's root (the tests run in the `smc-cli` package, bindings/cli, which
/// holds the `smc` binary).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// A fresh, empty directory under Cargo's test temp dir, named after `name`, this
/// process and a counter (every call gets its own, even with the same name: all the
/// tests share one process).
pub fn tempdir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}_{}_{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies a directory tree (files and subdirectories).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// How long the tests wait for something that should arrive.
pub const WAIT: Option<Duration> = Some(Duration::from_secs(10));

/// A server with its data in `data`, on a free loopback port ([`ports`]: one that a
/// restart on the same address finds free).
pub fn server(data: &Path) -> Server {
    server_at(data, "127.0.0.1:0")
}

/// Whether the tests' servers keep their store on PostgreSQL: `SMC_TEST_STORE=postgres`
/// runs the same test bodies on the other store (`scripts/test.sh` does, for the
/// modules that do not edit a SQLite file themselves).
fn on_postgres() -> bool {
    std::env::var("SMC_TEST_STORE").is_ok_and(|s| s == "postgres")
}

/// The store of a server whose data is in `data`: SQLite there (`None`), or with
/// `SMC_TEST_STORE=postgres` a database of its own on the tests' PostgreSQL cluster,
/// the same one each time a server starts on `data` again (a restart).
fn store_for(data: &Path) -> Option<String> {
    on_postgres().then(|| postgres_database_for(data))
}

/// A database of `data`'s own on the tests' PostgreSQL cluster (its URL kept beside
/// `data`, not in it (the server makes the data directory itself, 0700), so that a
/// server started on `data` again finds its store).
fn postgres_database_for(data: &Path) -> String {
    let mut name = data.file_name().unwrap_or_default().to_owned();
    name.push(".postgres_url");
    let file = data.with_file_name(name);
    if let Ok(url) = std::fs::read_to_string(&file) {
        return url;
    }
    let url = postgres::Cluster::get().database();
    std::fs::write(&file, &url).unwrap();
    url
}

/// A server whose key is in `data` and whose store is a database of its own on the
/// tests' PostgreSQL cluster ([`postgres::Cluster`]).
pub fn server_on_postgres(data: &Path) -> Server {
    let mut config = ServerConfig::new(data, ports::free_address());
    config.store = Some(postgres_database_for(data));
    Server::start(config).unwrap()
}

/// Starts a server with its data (key, and store where it keeps one) in a directory.
pub type Start = fn(&Path) -> Server;

/// Every store a server can run on, by name, with how to start a server on it.
pub fn stores() -> [(&'static str, Start); 2] {
    [("sqlite", server), ("postgres", server_on_postgres)]
}

/// A server with its data in `data`, on a free loopback port, with `limits`.
pub fn server_with(data: &Path, limits: Limits) -> Server {
    let mut config = ServerConfig::new(data, ports::free_address());
    config.limits = limits;
    config.store = store_for(data);
    Server::start(config).unwrap()
}

/// A server with its data in `data`, listening on `address` (a restart on the address
/// its clients know; `127.0.0.1:0`: a [`ports::free_address`]).
pub fn server_at(data: &Path, address: &str) -> Server {
    let mut config = ServerConfig::new(data, ports::resolve(address));
    config.store = store_for(data);
    Server::start(config).unwrap()
}

/// The texts of the last `limit` messages of `room` in `c`'s stored history, oldest first.
pub fn history_texts(c: &Client, room: &str, limit: u32) -> Vec<String> {
    c.history(room, limit)
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect()
}

/// The client of `user` in `home`, connected to `address`, accepting invitations at
/// once (the tests of invitations themselves open their clients without it).
pub fn client(home: &Path, user: &str, address: &str) -> Client {
    let mut c = Client::open(home, user).unwrap();
    c.set_auto_join(true);
    c.connect(address).unwrap();
    c
}

/// A real `smc server` process on `data`, listening on `listen`: the process and its
/// address (`127.0.0.1:0`: a [`ports::free_address`]). Tried again for a while when the
/// port is not free yet (a killed server's).
pub fn server_process(data: &Path, listen: &str) -> (std::process::Child, String) {
    use std::process::{Command, Stdio};
    for _ in 0..100 {
        let listen = ports::resolve(listen);
        let mut child = Command::new(env!("CARGO_BIN_EXE_smc"))
            .args(["server", "--listen", &listen, "--data-dir"])
            .arg(data)
            .env_remove("SMC_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout piped")),
            &mut line,
        )
        .unwrap();
        if let Some(rest) = line.strip_prefix("smc server listening on ") {
            let address = rest.split_once(' ').unwrap().0.to_owned();
            return (child, address);
        }
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("smc server does not start on {listen}");
}

/// Clients sending to `room` as fast as they can, each on its own thread, until their
/// server goes away: what each one had acknowledged.
pub struct Senders {
    threads: Vec<std::thread::JoinHandle<()>>,
    acked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Senders {
    /// Starts one thread per client; texts are "USER N".
    pub fn start(clients: Vec<Client>, room: &str) -> Senders {
        let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let threads = clients
            .into_iter()
            .map(|mut c| {
                let (acked, room) = (acked.clone(), room.to_owned());
                std::thread::spawn(move || {
                    for i in 0.. {
                        let text = format!("{} {i}", c.user());
                        match c.send(&room, &text) {
                            Ok(_) => acked.lock().unwrap().push(text),
                            Err(_) => return, // the server is gone
                        }
                    }
                })
            })
            .collect();
        Senders { threads, acked }
    }

    /// How many sends were acknowledged so far.
    pub fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Waits for every sender to stop (their server must be going away) and returns
    /// the acknowledged texts.
    pub fn acknowledged(self) -> Vec<String> {
        for t in self.threads {
            t.join().unwrap();
        }
        let acked = self.acked.lock().unwrap().clone();
        acked
    }
}

/// A child process killed (and reaped) when dropped: a test that fails half-way leaves
/// no server running behind it.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the line a started `smc server` prints first ("smc server listening on ADDR
/// (key fingerprint FP)"): its address and key fingerprint.
pub fn server_banner(child: &mut std::process::Child) -> (String, String) {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout piped"))
        .read_line(&mut line)
        .unwrap();
    let rest = line
        .strip_prefix("smc server listening on ")
        .unwrap_or_else(|| panic!("not the server's first line: {line:?}"));
    let (address, fingerprint) = rest.split_once(" (key fingerprint ").unwrap();
    (
        address.to_owned(),
        fingerprint.trim_end().trim_end_matches(')').to_owned(),
    )
}
