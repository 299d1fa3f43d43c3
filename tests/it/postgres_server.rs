//! `smc server --store postgres://...`: the server on a real PostgreSQL (a temporary
//! cluster the tests start), as a process: end-to-end encrypted rooms whose group the
//! server tracks, and a SIGKILL of the server after which every acknowledged message is
//! still there, once, in order.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{self, client, postgres::Cluster, tempdir};

const WAIT: Option<Duration> = Some(Duration::from_secs(20));

fn server(data: &std::path::Path, url: &str, listen: &str) -> (support::Reaped, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smc"))
        .args([
            "server",
            "--listen",
            listen,
            "--admin-listen",
            "off",
            "--store",
            url,
        ])
        .arg("--data-dir")
        .arg(data)
        .env_remove("SMC_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (address, _) = support::server_banner(&mut child);
    (support::Reaped(child), address)
}

#[test]
fn a_server_on_postgres_keeps_every_acknowledged_message_across_a_kill() {
    let dir = tempdir("pg_server");
    let url = Cluster::get().database();
    let data = dir.join("data");
    let (first, address) = server(&data, &url, &support::ports::free_address());
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    let mut sent = Vec::new();
    for i in 0..20 {
        let text = format!("before the kill {i}");
        alice.send("r", &text).unwrap();
        sent.push(text);
    }
    for text in &sent[..5] {
        assert_eq!(&bob.recv(WAIT).unwrap().unwrap().text, text);
    }
    drop(first);
    // Back on the same address, the same key (data dir) and the same database.
    let (second, again) = server(&data, &url, &address);
    assert_eq!(again, address);
    alice.connect(&address).unwrap();
    bob.connect(&address).unwrap();
    alice.send("r", "after the restart").unwrap();
    sent.push("after the restart".into());
    for text in &sent[5..] {
        assert_eq!(&bob.recv(WAIT).unwrap().unwrap().text, text);
    }
    assert!(bob
        .recv(Some(Duration::from_millis(300)))
        .unwrap()
        .is_none());
    // The group the server tracks moved on with the room: a new member joins.
    let mut carol = client(&dir.join("carol"), "carol", &address);
    alice.invite("r", "carol").unwrap();
    alice.send("r", "welcome carol").unwrap();
    assert_eq!(carol.recv(WAIT).unwrap().unwrap().text, "welcome carol");
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "welcome carol");
    drop(second);

    // The operator's commands act on the same database.
    let admin = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_smc"))
            .args(["admin", "--store", &url])
            .args(args)
            .env_remove("SMC_CONFIG")
            .env_remove("SMC_DATA_DIR")
            .output()
            .unwrap()
    };
    let users = admin(&["users"]);
    assert!(users.status.success(), "{users:?}");
    let listed = String::from_utf8_lossy(&users.stdout);
    let names: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"], "{listed}");
    let token = admin(&["issue-token"]);
    assert!(token.status.success(), "{token:?}");
    assert_eq!(String::from_utf8_lossy(&token.stdout).trim().len(), 32);
    let backup = admin(&["backup", "/nowhere"]);
    assert_eq!(backup.status.code(), Some(2), "{backup:?}");
    assert!(String::from_utf8_lossy(&backup.stderr).contains("pg_dump"));
}

#[test]
fn healthz_goes_unready_while_postgres_is_down_and_the_server_recovers() {
    // A cluster of this test's own: PostgreSQL is taken away under a running server.
    let cluster = Cluster::own("health");
    let dir = tempdir("pg_health");
    let mut config = smc::ServerConfig::new(dir.join("data"), "127.0.0.1:0");
    config.store = Some(cluster.database());
    config.admin_listen = Some("127.0.0.1:0".into());
    let server = smc::Server::start(config).unwrap();
    let admin = server.admin_address().unwrap().to_string();
    let health = || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&admin).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            s,
            "GET /healthz HTTP/1.1\r\nHost: smc\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    let address = server.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "before").unwrap();
    assert_eq!(bob.recv(support::WAIT).unwrap().unwrap().text, "before");
    assert!(health().starts_with("HTTP/1.1 200"), "{}", health());

    cluster.halt();
    let down = health();
    assert!(down.starts_with("HTTP/1.1 503"), "{down}");
    assert!(
        down.contains("not ready: the store does not answer"),
        "{down}"
    );
    // A send is refused by the server, not lost: nothing is acknowledged while the
    // store is away (a refusal, not a broken connection or a local failure).
    let refused = alice.send("r", "while PostgreSQL is down");
    assert!(
        matches!(refused, Err(smc::ClientError::Refused(_))),
        "{refused:?}"
    );

    cluster.resume();
    // Broken connections are dropped from the pool; new ones are made.
    let back = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        health().starts_with("HTTP/1.1 200")
    });
    assert!(back, "{}", health());
    alice.connect(&address).unwrap();
    bob.connect(&address).unwrap();
    alice.send("r", "after PostgreSQL came back").unwrap();
    // Recovered as the other member sees it: bob receives it, and nothing twice.
    let mut got = Vec::new();
    while let Some(m) = bob.recv(support::WAIT).unwrap() {
        got.push(m.text);
        if got.last().map(String::as_str) == Some("after PostgreSQL came back") {
            break;
        }
    }
    assert_eq!(
        got.last().map(String::as_str),
        Some("after PostgreSQL came back"),
        "{got:?}"
    );
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!(unique, got, "something arrived twice");
}
