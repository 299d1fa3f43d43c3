//! A real NATS server for the cluster tests: Debian's `nats-server` on a free loopback
//! port, stopped and started again on the same port at will (a test that takes the
//! bus away), killed when dropped. `.ci/run` installs the package when missing.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) NATS server.
pub struct Nats {
    child: Option<Child>,
    port: u16,
}

fn binary() -> PathBuf {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nats-server is not installed (Debian package nats-server)")
}

impl Nats {
    /// Starts one on a free port.
    pub fn start() -> Nats {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut nats = Nats { child: None, port };
        nats.resume();
        nats
    }

    /// Its URL, for `--bus`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it (every node loses the bus).
    pub fn halt(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on its port, and waits until it accepts connections.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut child = Command::new(binary())
                .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nats-server starts");
            let up = (0..100).any(|_| {
                std::thread::sleep(Duration::from_millis(20));
                std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            });
            if up && child.try_wait().unwrap().is_none() {
                self.child = Some(child);
                return;
            }
            // The port is not free yet (a killed server's): try again.
            let _ = child.kill();
            let _ = child.wait();
            assert!(Instant::now() < deadline, "nats-server does not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.halt();
    }
}
