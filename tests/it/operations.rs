//! What an operator relies on, on real servers, sockets, files and processes: the
//! admin listener's `/metrics` (the counts a test produced) and `/healthz` (unready
//! while the store cannot take writes), and `smc admin backup` / `restore` under load.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use smc::client::hazmat::RawAccess;
use smc::server::store::{Durability, SqliteStore, Store};
use smc::{ClientError, Server, ServerConfig};

use crate::support::http::{http, sample};
use crate::support::{self, client, tempdir, Senders, WAIT};

fn server_with_admin(data: &Path) -> (Server, String) {
    let mut config = ServerConfig::new(data, "127.0.0.1:0");
    config.admin_listen = Some("127.0.0.1:0".into());
    let server = Server::start(config).unwrap();
    let admin = server.admin_address().unwrap().to_string();
    (server, admin)
}

#[test]
fn the_metrics_page_shows_the_counts_a_test_produced() {
    let dir = tempdir("ops_metrics");
    let (server, admin) = server_with_admin(&dir.join("server"));
    let address = server.address().to_string();
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let mut bob = client(&dir.join("bob"), "bob", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "hello").unwrap();
    assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, "hello");

    let (status, before) = http(&admin, "GET", "/metrics");
    assert_eq!(status, 200, "{before}");
    assert!(
        before.contains("# TYPE smc_messages_committed_total counter"),
        "{before}"
    );
    assert_eq!(sample(&before, "smc_sessions"), 2.0, "{before}");
    assert_eq!(sample(&before, "smc_connections"), 2.0, "{before}");

    for i in 0..5 {
        alice.send("r", &format!("m{i}")).unwrap();
    }
    for i in 0..5 {
        assert_eq!(bob.recv(WAIT).unwrap().unwrap().text, format!("m{i}"));
    }
    // A refused request: history of a room bob is not in.
    let refusal = match bob.history_envelopes("elsewhere", None, 10) {
        Err(ClientError::Refused(r)) => r,
        other => panic!("not refused: {other:?}"),
    };
    let (_, after) = http(&admin, "GET", "/metrics");
    let grew = |name: &str| sample(&after, name) - sample(&before, name);
    assert_eq!(grew("smc_messages_committed_total"), 5.0, "{after}");
    // Each message goes live to both members' sessions (the sender's own too: its
    // other devices).
    assert_eq!(grew("smc_messages_delivered_total"), 10.0, "{after}");
    assert_eq!(grew("smc_commit_batch_messages_sum"), 5.0, "{after}");
    let label = format!("smc_refusals_total{{kind=\"{}\"}}", refusal.label());
    assert_eq!(grew(&label), 1.0, "{label} in {after}");
    assert!(sample(&after, "smc_commit_seconds_count") >= 5.0, "{after}");
    drop(bob);
    // The gauges are read when the page is asked for.
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        sample(&http(&admin, "GET", "/metrics").1, "smc_sessions") == 1.0
    });
    assert!(gone, "bob's session still counted");
}

#[test]
fn healthz_is_unready_while_the_store_cannot_take_writes_and_other_paths_are_refused() {
    let dir = tempdir("ops_health");
    let data = dir.join("server");
    let (server, admin) = server_with_admin(&data);
    assert_eq!(http(&admin, "GET", "/healthz"), (200, "ready\n".into()));
    assert_eq!(http(&admin, "GET", "/nothing").0, 404);
    assert_eq!(http(&admin, "POST", "/metrics").0, 405);
    // Another process holds the store's write lock: the server cannot commit.
    let blocker = rusqlite::Connection::open(data.join("smc.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (status, body) = http(&admin, "GET", "/healthz");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("not ready: the store does not answer"),
        "{body}"
    );
    blocker.execute_batch("ROLLBACK").unwrap();
    assert_eq!(http(&admin, "GET", "/healthz"), (200, "ready\n".into()));
    // A peer that sends nothing is not served for ever, and does not stop the others;
    // nor do enough of them to take every place (16): the oldest makes room, so a
    // health check is answered at once, long before their 5 s header deadline.
    let stalled: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(&admin).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut check = TcpStream::connect(&admin).unwrap();
    check
        .set_read_timeout(Some(Duration::from_secs(4)))
        .unwrap();
    check
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: smc\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = check.read_to_end(&mut answer);
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "not answered while stalled peers hold the places: {:?}",
        String::from_utf8_lossy(&answer)
    );
    drop(stalled);
    // A connection whose request has arrived is answered, not closed for newcomers: a
    // slow health check (the store locked, so its probe waits) still gets its answer
    // while a flood of connections arrives meanwhile.
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut slow = TcpStream::connect(&admin).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: smc\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let flood: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(&admin).unwrap())
        .collect();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    blocker.execute_batch("ROLLBACK").unwrap();
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 503"),
        "the health check in progress was closed by the flood: {:?}",
        String::from_utf8_lossy(&answer)
    );
    drop(flood);
    drop(server);
    assert!(
        TcpStream::connect(&admin).is_err(),
        "admin listener outlived the server"
    );
}

fn smc(args: &[&str], data: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_smc"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("SMC_CONFIG")
        .output()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_backup_taken_under_load_restores_to_a_consistent_store_with_the_same_key() {
    let dir = tempdir("ops_backup");
    let data = dir.join("data");
    let mut server = Command::new(env!("CARGO_BIN_EXE_smc"))
        .args(["server", "--listen", "127.0.0.1:0", "--admin-listen", "off"])
        .arg("--data-dir")
        .arg(&data)
        .env_remove("SMC_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (address, fingerprint) = support::server_banner(&mut server);
    let server = support::Reaped(server);
    let mut alice = client(&dir.join("alice"), "alice", &address);
    let bob = client(&dir.join("bob"), "bob", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    let first = alice.send("r", "before the backup").unwrap().seq;
    // Both keep sending while the backup is taken.
    let senders = Senders::start(vec![alice, bob], "r");
    std::thread::sleep(Duration::from_millis(300));
    let backup = dir.join("backup");
    let out = smc(&["admin", "backup", backup.to_str().unwrap()], &data);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("backed up"),
        "{out:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    drop(server);
    let acked = senders.acknowledged();
    assert_eq!(mode(&backup), 0o700);
    assert_eq!(mode(&backup.join("smc.db")), 0o600);
    assert_eq!(mode(&backup.join("server.key")), 0o600);

    // A backup never goes over something.
    let again = smc(&["admin", "backup", backup.to_str().unwrap()], &data);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{again:?}"
    );

    let restored = dir.join("restored");
    let out = smc(&["admin", "restore", backup.to_str().unwrap()], &restored);
    assert!(out.status.success(), "{out:?}");
    // ... and a restore never overwrites a server's data.
    for target in [&restored, &data] {
        let over = smc(&["admin", "restore", backup.to_str().unwrap()], target);
        assert!(!over.status.success(), "{over:?}");
        assert!(
            String::from_utf8_lossy(&over.stderr).contains("never overwrites"),
            "{over:?}"
        );
    }

    // Consistent: room r's messages are 1..=N without a gap (one snapshot), they
    // include the one acknowledged before the backup began, and the live store went on
    // past them (the backup did not stop the server).
    let seqs = |dir: &Path| -> Vec<u64> {
        let store = SqliteStore::open(dir, Durability::Full).unwrap();
        store
            .messages_after("r", 0, 100_000, usize::MAX)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    let in_backup = seqs(&restored);
    assert!(in_backup.contains(&first));
    assert_eq!(in_backup, (1..=in_backup.len() as u64).collect::<Vec<_>>());
    let live = seqs(&data);
    assert!(
        live.len() > in_backup.len(),
        "{} vs {}",
        live.len(),
        in_backup.len()
    );
    assert_eq!(&live[..in_backup.len()], &in_backup[..]);
    // Every acknowledged message (and the first) is in the live store.
    assert!(
        acked.len() < live.len(),
        "{} acknowledged, {} stored",
        acked.len(),
        live.len()
    );

    // The restored directory is served under the same key: clients' pins hold.
    let mut again = Command::new(env!("CARGO_BIN_EXE_smc"))
        .args(["server", "--listen", "127.0.0.1:0", "--admin-listen", "off"])
        .arg("--data-dir")
        .arg(&restored)
        .env_remove("SMC_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (_, restored_fingerprint) = support::server_banner(&mut again);
    let _again = support::Reaped(again);
    assert_eq!(restored_fingerprint, fingerprint);
}

/// A local user reads no backup: `smc admin backup` into an empty directory that
/// already existed 0777 leaves it 0700 with its files 0600, and `smc admin restore`
/// into an empty 0755 directory leaves that one 0700 too.
#[test]
fn backups_and_restores_into_open_directories_are_made_private() {
    let dir = tempdir("ops_backup_modes");
    let data = dir.join("data");
    drop(support::server(&data));
    let backup = dir.join("backup");
    std::fs::create_dir_all(&backup).unwrap();
    std::fs::set_permissions(&backup, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = smc(&["admin", "backup", backup.to_str().unwrap()], &data);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&backup), 0o700, "the backup directory was left open");
    for file in support::files_under(&backup) {
        assert_eq!(
            mode(&file) & 0o077,
            0,
            "{} is open to others",
            file.display()
        );
    }
    let restored = dir.join("restored");
    std::fs::create_dir_all(&restored).unwrap();
    std::fs::set_permissions(&restored, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = smc(&["admin", "restore", backup.to_str().unwrap()], &restored);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        mode(&restored),
        0o700,
        "the restored data directory was left open"
    );
}

#[test]
fn a_damaged_backup_is_refused_and_nothing_is_written() {
    let dir = tempdir("ops_damaged");
    let data = dir.join("data");
    drop(support::server(&data));
    let backup = dir.join("backup");
    let out = smc(&["admin", "backup", backup.to_str().unwrap()], &data);
    assert!(out.status.success(), "{out:?}");
    // Cut the copy short.
    let db = backup.join("smc.db");
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let restored = dir.join("restored");
    let out = smc(&["admin", "restore", backup.to_str().unwrap()], &restored);
    assert!(!out.status.success(), "{out:?}");
    assert!(!restored.join("smc.db").exists());
    assert!(!restored.join("server.key").exists());
}

#[test]
fn the_example_systemd_unit_verifies_with_the_real_program() {
    // systemd's own checker, on the unit as shipped with its program path pointed at
    // the smc built here. CI installs systemd when it is missing (.ci/run).
    let unit = std::fs::read_to_string(support::root().join("docs/smc-server.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/smc server"));
    for hardening in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "Restart=on-failure",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }
    let dir = tempdir("ops_unit");
    let path = dir.join("smc-server.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/smc", env!("CARGO_BIN_EXE_smc")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian package systemd) is needed for this test");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    // Warnings are printed, not failed on: none is allowed either (a user or group
    // that does not exist on this machine is the one thing expected).
    let unexpected: Vec<&str> = said
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.contains("User=smc") && !l.contains("Group=smc"))
        .collect();
    assert!(unexpected.is_empty(), "{said}");
}
