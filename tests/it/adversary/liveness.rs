//! Finding 15 (liveness): a client notices a server that stopped answering (a frozen
//! machine, a cut network: no TCP reset ever comes) through its keep-alives, instead
//! of waiting for ever; it can then reconnect and misses nothing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use smc::ClientError;

use super::{drain, start, texts};
use crate::support::{client, tempdir};

/// A TCP relay to `target` that can be frozen: it then holds both directions without
/// closing anything.
fn relay(target: SocketAddr, frozen: Arc<AtomicBool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for inbound in listener.incoming() {
            let Ok(inbound) = inbound else { return };
            let Ok(outbound) = TcpStream::connect(target) else {
                return;
            };
            for (mut from, mut to) in [
                (inbound.try_clone().unwrap(), outbound.try_clone().unwrap()),
                (outbound, inbound),
            ] {
                let frozen = frozen.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        let n = match from.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        while frozen.load(Ordering::Acquire) {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        if to.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        }
    });
    address
}

#[test]
fn a_server_that_stops_answering_is_noticed_and_nothing_is_missed() {
    let dir = tempdir("adv_liveness");
    let server = start(&dir.join("server"), Default::default());
    let direct = server.address().to_string();
    let frozen = Arc::new(AtomicBool::new(false));
    let relayed = relay(server.address(), frozen.clone()).to_string();

    let mut alice = client(&dir.join("alice"), "alice", &direct);
    let mut bob = smc::Client::open(dir.join("bob"), "bob").unwrap();
    bob.set_auto_join(true);
    bob.set_keepalive(Duration::from_secs(1));
    bob.connect(&relayed).unwrap();
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "before").unwrap();
    assert_eq!(texts(&drain(&mut bob)), ["before"]);

    frozen.store(true, Ordering::Release);
    alice.send("r", "while frozen").unwrap();
    // Not a timeout after 20 s: the dead link is reported as such, well before.
    let outcome = bob.recv(Some(Duration::from_secs(20)));
    assert!(
        matches!(outcome, Err(ClientError::ConnectionClosed)),
        "{outcome:?}"
    );
    // Reconnected (here straight to the server), bob gets what he missed.
    bob.connect(&direct).unwrap();
    assert_eq!(texts(&drain(&mut bob)), ["while frozen"]);
}
