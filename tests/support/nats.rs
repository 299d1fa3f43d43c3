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
        // Below the ephemeral range: the servers reconnecting to it while it is
        // stopped cannot take its port themselves ([`super::ports`]).
        let port = super::ports::free_port();
        let mut nats = Nats { child: None, port };
        nats.resume();
        nats
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
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

/// A bare client of the NATS text protocol: what anyone who can reach the NATS server
/// can do (subscribe to everything, publish anything).
pub struct Peer {
    reader: std::io::BufReader<std::net::TcpStream>,
    writer: std::net::TcpStream,
}

impl Peer {
    /// Connects to the NATS server on `port` and subscribes to every subject.
    pub fn connect(port: u16) -> Peer {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut peer = Peer {
            reader: std::io::BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        peer.write(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB > 1\r\n");
        peer
    }

    fn write(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.writer.write_all(bytes).unwrap();
    }

    /// Publishes `payload` on `subject`.
    pub fn publish(&mut self, subject: &str, payload: &[u8]) {
        self.write(format!("PUB {subject} {}\r\n", payload.len()).as_bytes());
        self.write(payload);
        self.write(b"\r\n");
    }

    /// The messages seen for `during` (subject, payload).
    pub fn collect(&mut self, during: Duration) -> Vec<(String, Vec<u8>)> {
        use std::io::{BufRead, Read};
        let deadline = Instant::now() + during;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => continue, // read timeout: look at the clock again
            }
            if line.starts_with("PING") {
                self.write(b"PONG\r\n");
            } else if let Some(rest) = line.strip_prefix("MSG ") {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                let len: usize = parts.last().unwrap().parse().unwrap();
                let mut payload = vec![0; len + 2];
                self.reader.read_exact(&mut payload).unwrap();
                payload.truncate(len);
                seen.push((parts[0].to_owned(), payload));
            }
        }
        seen
    }
}
