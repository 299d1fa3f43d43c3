//! A real PostgreSQL server for the tests: a temporary cluster (initdb) started once
//! per test process on a free loopback port, run as the `postgres` system user
//! (PostgreSQL refuses root), stopped when the process exits. Each test gets a database
//! of its own (`database`). The binaries come from Debian's postgresql package
//! (`.ci/run` installs it when missing).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The running cluster.
pub struct Cluster {
    root: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
}

/// The newest installed PostgreSQL's binaries (`/usr/lib/postgresql/N/bin`).
fn bin_dir() -> PathBuf {
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (Debian package postgresql)")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort();
    let newest = versions.last().expect("no PostgreSQL version installed");
    PathBuf::from(format!("/usr/lib/postgresql/{newest}/bin"))
}

/// Runs `program args` as the `postgres` user when this process is root.
fn as_postgres(program: &Path) -> Command {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    super::ports::free_port()
}

extern "C" fn stop_at_exit() {
    if let Some(cluster) = CLUSTER.get() {
        cluster.stop();
    }
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

impl Cluster {
    /// The cluster of this test process (started on first use).
    pub fn get() -> &'static Cluster {
        CLUSTER.get_or_init(|| {
            let cluster = Cluster::start("shared");
            // SAFETY: registering a plain function with no preconditions.
            unsafe { libc::atexit(stop_at_exit) };
            cluster
        })
    }

    /// A cluster of the caller's own, which it may halt and resume (stopped and removed
    /// when dropped), for a test that takes PostgreSQL away.
    pub fn own(name: &str) -> Cluster {
        Cluster::start(name)
    }

    fn start(name: &str) -> Cluster {
        let bin = bin_dir();
        // Under the system's temporary directory, which the postgres user can reach
        // whatever the permissions above the checkout.
        let root = std::env::temp_dir().join(format!("smc-postgres-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let data = root.join("data");
        // The postgres user must own what the server writes.
        assert!(Command::new("chmod")
            .arg("755")
            .arg(&root)
            .status()
            .unwrap()
            .success());
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } == 0 {
            assert!(Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&root)
                .status()
                .unwrap()
                .success());
        }
        let out = as_postgres(&bin.join("initdb"))
            .args([
                "--auth=trust",
                "--username=smc",
                "--encoding=UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {out:?}");
        let cluster = Cluster {
            root,
            data,
            bin,
            port: free_port(),
        };
        cluster.resume();
        cluster
    }

    /// Starts the server (again).
    pub fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port,
            self.root.display()
        );
        let out = as_postgres(&self.bin.join("pg_ctl"))
            .args(["-w", "-t", "60", "-D"])
            .arg(&self.data)
            .arg("-l")
            .arg(self.root.join("log"))
            .args(["-o", &options, "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {out:?}\n{}",
            std::fs::read_to_string(self.root.join("log")).unwrap_or_default()
        );
    }

    /// Stops the server at once, as a crash would (its data stays).
    pub fn halt(&self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .args(["-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
    }

    /// A new, empty database: its connection URL.
    pub fn database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        self.url(&name)
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://smc@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server at once and removes its files.
    fn stop(&self) {
        self.halt();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
