//! Several `smc server` processes on one PostgreSQL database and one NATS server, as an
//! operator deploys them: each node has a data directory of its own holding a copy of
//! the one server key, `--store postgres://...`, `--bus nats://...` and an admin
//! listener.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::http::http;
use crate::support::nats::Nats;
use crate::support::postgres::Cluster;
use crate::support::{tempdir, Reaped};

/// One running node.
pub struct Node {
    /// The process (killed when dropped).
    pub process: Reaped,
    /// Where clients connect.
    pub address: String,
    /// Its admin listener (`/metrics`, `/healthz`).
    pub admin: String,
}

/// A cluster of nodes.
pub struct Nodes {
    /// The database they share.
    pub url: String,
    /// The bus between them.
    pub nats: Nats,
    /// The data directory of each node.
    pub dirs: Vec<PathBuf>,
    /// The running nodes (`None`: killed).
    pub nodes: Vec<Option<Node>>,
    /// Every node's client address, killed or not.
    pub addresses: Vec<String>,
    /// The key's fingerprint.
    pub fingerprint: String,
}

/// Starts `smc server` on `data` (its first two lines name its addresses).
fn node(data: &Path, url: &str, bus: &str, listen: &str, extra: &[&str]) -> Node {
    for _ in 0..100 {
        let listen = super::ports::resolve(listen);
        let mut child = Command::new(env!("CARGO_BIN_EXE_smc"))
            .args([
                "server",
                "--listen",
                &listen,
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args(["--store", url, "--bus", bus])
            .args(extra)
            .arg("--data-dir")
            .arg(data)
            .env_remove("SMC_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        let mut second = String::new();
        out.read_line(&mut first).unwrap();
        out.read_line(&mut second).unwrap();
        let Some(rest) = first.strip_prefix("smc server listening on ") else {
            // The port of a killed node is not free yet: try again.
            let _ = child.wait();
            std::thread::sleep(std::time::Duration::from_millis(50));
            continue;
        };
        let address = rest.split_once(' ').unwrap().0.to_owned();
        let admin = second
            .strip_prefix("admin listener on http://")
            .and_then(|r| r.split_once(' '))
            .unwrap_or_else(|| panic!("no admin address: {second:?}"))
            .0
            .to_owned();
        // Ready means the store answers and the bus is connected.
        let ready = (0..400).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(25));
            http(&admin, "GET", "/healthz").0 == 200
        });
        assert!(ready, "node {address} never ready");
        return Node {
            process: Reaped(child),
            address,
            admin,
        };
    }
    panic!("smc server does not start on {listen}");
}

impl Nodes {
    /// `count` nodes on a new database and a new NATS server.
    pub fn start(name: &str, count: usize) -> Nodes {
        Nodes::start_with(name, count, &[])
    }

    /// The same, with `extra` options of `smc server` on every node.
    pub fn start_with(name: &str, count: usize, extra: &[&str]) -> Nodes {
        Nodes::start_on_buses(name, count, extra, |_, nats| nats.to_owned())
    }

    /// The same, node `i` reaching NATS (at the URL given) at the URL `bus(i, url)`
    /// returns (through a proxy, say).
    pub fn start_on_buses(
        name: &str,
        count: usize,
        extra: &[&str],
        mut bus: impl FnMut(usize, &str) -> String,
    ) -> Nodes {
        let root = tempdir(name);
        let url = Cluster::get().database();
        let nats = Nats::start();
        let dirs: Vec<PathBuf> = (0..count).map(|i| root.join(format!("node{i}"))).collect();
        // The key every node presents: made once, copied to each node (0600 kept).
        let key =
            smc::identity::StaticKeypair::load_or_create(&dirs[0].join("server.key")).unwrap();
        for dir in &dirs[1..] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::copy(dirs[0].join("server.key"), dir.join("server.key")).unwrap();
        }
        let mut nodes = Nodes {
            url,
            nats,
            dirs,
            nodes: Vec::new(),
            addresses: Vec::new(),
            fingerprint: key.fingerprint(),
        };
        for i in 0..count {
            let n = node(
                &nodes.dirs[i],
                &nodes.url,
                &bus(i, &nodes.nats.url()),
                "127.0.0.1:0",
                extra,
            );
            nodes.addresses.push(n.address.clone());
            nodes.nodes.push(Some(n));
        }
        nodes
    }

    /// Node `i` (running).
    pub fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().expect("node running")
    }

    /// The addresses of every node, node `first` first (a client's list; a killed
    /// node's address stays in it, as in a client's configuration).
    pub fn addresses_from(&self, first: usize) -> Vec<String> {
        let n = self.addresses.len();
        (0..n)
            .map(|k| self.addresses[(first + k) % n].clone())
            .collect()
    }

    /// Kills node `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        drop(self.nodes[i].take());
    }
}
