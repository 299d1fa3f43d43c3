//! Files between two real clients through a real server: every size that matters
//! (empty, one byte, a chunk and one byte, several chunks), names in UTF-8, the
//! receiver's copy equal to the sender's file and its digest the one announced; and
//! a server that tampers with the stored chunks (a byte changed, two chunks swapped,
//! a chunk from another file, the last chunk gone): the download fails as
//! `Undecryptable` (or as the file missing) and leaves nothing at its destination.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use smc::client::{Attachment, ChatEvent};
use smc::{Client, ErrorKind};

use crate::support::{self, tempdir};

const CHUNK: usize = 64 * 1024;

/// A file of `len` bytes whose content depends on `seed`.
fn write_file(path: &Path, len: usize, seed: u8) -> Vec<u8> {
    let content: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed) ^ (i / 7919) as u8)
        .collect();
    std::fs::write(path, &content).unwrap();
    content
}

/// The attachments among `c`'s next events.
fn attachments(c: &mut Client) -> Vec<(String, Attachment)> {
    support::events::drain(c)
        .into_iter()
        .filter_map(|e| match e {
            ChatEvent::Message(m) => m.attachment.map(|a| (m.sender, a)),
            _ => None,
        })
        .collect()
}

/// alice and bob in room `r`, on a server whose data is in `dir/server`.
fn pair(dir: &Path) -> (smc::Server, Client, Client) {
    let server = support::server_with(&dir.join("server"), Default::default());
    let address = server.address().to_string();
    let mut alice = support::client(&dir.join("alice"), "alice", &address);
    let mut bob = support::client(&dir.join("bob"), "bob", &address);
    alice.create_room("r").unwrap();
    alice.invite("r", "bob").unwrap();
    alice.send("r", "hello").unwrap();
    assert_eq!(
        support::events::texts(&support::events::drain(&mut bob)),
        ["hello"]
    );
    (server, alice, bob)
}

/// Whether `dir` holds anything but `keep`.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !keep.iter().any(|k| p.file_name().unwrap() == *k))
        .collect()
}

#[test]
fn files_of_every_size_arrive_whole_under_their_utf8_names() {
    let dir = tempdir("files_sizes");
    let (_server, mut alice, mut bob) = pair(&dir);
    let out = dir.join("received");
    std::fs::create_dir_all(&out).unwrap();
    for (len, name) in [
        (0, "empty.txt"),
        (1, "one byte"),
        (CHUNK + 1, "résumé 履歴書.pdf"),
        (3 * CHUNK + 5, "photo 🌄.jpg"),
    ] {
        let source = dir.join(format!("source-{len}"));
        let content = write_file(&source, len, len as u8);
        let mut seen = Vec::new();
        let sent = alice
            .send_file(
                "r",
                &source,
                Some(name),
                Some("image/jpeg"),
                |done, total| {
                    seen.push((done, total));
                    true
                },
            )
            .unwrap();
        // The sender's progress ends at the whole file; its own history shows the file.
        assert_eq!(seen.last(), Some(&(len as u64, len as u64)), "{name}");
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(sent.attachment.as_ref().unwrap().name(), name);
        let mine = alice.history("r", 1).unwrap();
        assert_eq!(
            mine[0].attachment.as_ref().map(|a| a.size()),
            Some(len as u64)
        );

        // What bob receives: from alice, this name, size, type and digest.
        let received = attachments(&mut bob);
        assert_eq!(received.len(), 1, "{name}");
        let (from, attachment) = &received[0];
        assert_eq!(from, "alice");
        assert_eq!(attachment.name(), name);
        assert_eq!(attachment.size(), len as u64);
        assert_eq!(attachment.mime(), "image/jpeg");
        assert_eq!(
            attachment.sha256(),
            <[u8; 32]>::from(Sha256::digest(&content))
        );
        // Downloaded under its safe name: the same bytes.
        let dest = out.join(attachment.safe_name());
        let mut progress = Vec::new();
        bob.download(attachment, &dest, |done, total| {
            progress.push((done, total));
            true
        })
        .unwrap();
        assert!(
            std::fs::read(&dest).unwrap() == content,
            "{name}: content differs"
        );
        assert_eq!(progress.last(), Some(&(len as u64, len as u64)));
        // Kept in bob's history too, and downloadable again from there.
        let kept = bob.history("r", 1).unwrap();
        let again = out.join("again");
        bob.download(kept[0].attachment.as_ref().unwrap(), &again, |_, _| true)
            .unwrap();
        assert!(std::fs::read(&again).unwrap() == content);
        std::fs::remove_file(&again).unwrap();
    }
    // No temporary file was left behind.
    let names: Vec<String> = leftovers(&out, &[])
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".smc-")), "{names:?}");
    assert_eq!(names.len(), 4);
}

/// How the server's copy of the newest blob is changed.
#[derive(Debug, Clone, Copy)]
enum Tamper {
    /// One byte of chunk 1 flipped.
    Byte,
    /// Chunks 0 and 1 swapped.
    Swap,
    /// Chunk 1 replaced by chunk 1 of the other file.
    Foreign,
    /// The last chunk deleted (and the blob said to be complete without it).
    Truncate,
}

fn tamper(data: &Path, how: Tamper) {
    let conn = rusqlite::Connection::open(data.join("smc.db")).unwrap();
    let blobs: Vec<Vec<u8>> = conn
        .prepare("SELECT id FROM blobs ORDER BY created_ms, rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // Each blob's chunks in a file named by its id, chunk i at i sealed chunks.
    let file = |blob: &Vec<u8>| {
        let name: String = blob.iter().map(|b| format!("{b:02x}")).collect();
        data.join("blobs").join(name)
    };
    let (other, target) = (file(&blobs[0]), file(&blobs[1]));
    let sealed = CHUNK + 16;
    let mut bytes = std::fs::read(&target).unwrap();
    let range = |i: usize| i * sealed..(i + 1) * sealed;
    match how {
        Tamper::Byte => bytes[sealed + 100] ^= 1,
        Tamper::Swap => {
            let first = bytes[range(0)].to_vec();
            bytes.copy_within(range(1), 0);
            bytes[range(1)].copy_from_slice(&first);
        }
        Tamper::Foreign => {
            bytes[range(1)].copy_from_slice(&std::fs::read(&other).unwrap()[range(1)])
        }
        Tamper::Truncate => bytes.truncate(2 * sealed),
    }
    std::fs::write(&target, bytes).unwrap();
}

#[test]
fn a_file_the_server_tampered_with_leaves_nothing_at_its_destination() {
    for how in [
        Tamper::Byte,
        Tamper::Swap,
        Tamper::Foreign,
        Tamper::Truncate,
    ] {
        let dir = tempdir(&format!("files_tamper_{how:?}"));
        let (server, mut alice, mut bob) = pair(&dir);
        let address = server.address().to_string();
        // Two files of three chunks each, of the same size.
        for seed in [1, 2] {
            let source = dir.join(format!("source-{seed}"));
            write_file(&source, 2 * CHUNK + 10, seed);
            alice
                .send_file("r", &source, None, None, |_, _| true)
                .unwrap();
        }
        let received = attachments(&mut bob);
        assert_eq!(received.len(), 2);
        bob.close();
        alice.close();
        drop(server);
        tamper(&dir.join("server"), how);
        let _server = support::server_at(&dir.join("server"), &address);
        bob.connect(&address).unwrap();

        let out = dir.join("out");
        std::fs::create_dir_all(&out).unwrap();
        let dest = out.join("file");
        let error = bob
            .download(&received[1].1, &dest, |_, _| true)
            .expect_err(&format!("{how:?}: a tampered file was accepted"));
        match how {
            // The server cannot claim a chunk it does not have: it answers that the
            // file is not there.
            Tamper::Truncate => assert!(
                matches!(
                    error.kind(),
                    ErrorKind::Undecryptable | ErrorKind::FileUnavailable
                ),
                "{how:?}: {error}"
            ),
            _ => assert_eq!(error.kind(), ErrorKind::Undecryptable, "{how:?}: {error}"),
        }
        assert!(
            leftovers(&out, &[]).is_empty(),
            "{how:?}: {:?}",
            leftovers(&out, &[])
        );
        // The other file is untouched and still arrives whole.
        bob.download(&received[0].1, &dest, |_, _| true).unwrap();
    }
}

#[test]
fn a_backup_holds_the_files_and_a_restored_server_serves_them() {
    let dir = tempdir("files_backup");
    let (server, mut alice, mut bob) = pair(&dir);
    let address = server.address().to_string();
    let source = dir.join("source");
    let content = write_file(&source, CHUNK + 7, 9);
    alice
        .send_file("r", &source, Some("kept.bin"), None, |_, _| true)
        .unwrap();
    let (_, attachment) = attachments(&mut bob).pop().unwrap();
    // Taken while the server runs, restored into a new data directory.
    smc::server::store::backup(&dir.join("server"), &dir.join("backup")).unwrap();
    bob.close();
    alice.close();
    drop(server);
    smc::server::store::restore(&dir.join("backup"), &dir.join("restored")).unwrap();
    let _restored = support::server_at(&dir.join("restored"), &address);
    bob.connect(&address).unwrap();
    let dest = dir.join("from-backup");
    bob.download(&attachment, &dest, |_, _| true).unwrap();
    assert!(std::fs::read(&dest).unwrap() == content);
}

#[test]
fn an_upload_cut_by_a_server_restart_goes_on_where_the_server_stopped() {
    use smc::client::Background;
    use std::sync::{Arc, Mutex};

    let dir = tempdir("files_restart");
    let (server, alice, mut bob) = pair(&dir);
    let address = server.address().to_string();
    let alice = Background::start(alice).unwrap();
    alice.keep_connected_to(&[address.as_str()], None);
    let source = dir.join("source");
    let content = write_file(&source, 40 * CHUNK + 3, 4);
    // At a third of the upload the server stops (graceful: what it acknowledged is
    // stored) and comes back on the same address a moment later.
    let server = Arc::new(Mutex::new(Some(server)));
    let (mut cut_at, mut after_cut) = (None, Vec::new());
    let data = dir.join("server");
    let sent = alice
        .send_file("r", &source, None, None, |done, total| {
            match cut_at {
                None if done >= total / 3 => {
                    cut_at = Some(done);
                    server.lock().unwrap().take().unwrap().stop();
                    let (data, address) = (data.clone(), address.clone());
                    std::thread::spawn(move || {
                        std::thread::sleep(std::time::Duration::from_millis(300));
                        let restarted = support::server_at(&data, &address);
                        std::thread::sleep(std::time::Duration::from_secs(60));
                        drop(restarted);
                    });
                }
                None => {}
                Some(_) => after_cut.push(done),
            }
            true
        })
        .unwrap();
    let cut_at = cut_at.expect("the upload was never cut");
    // Resumed, not started over: the server held every chunk acknowledged before.
    assert!(
        after_cut.iter().all(|d| *d >= cut_at),
        "started over from {:?} after {cut_at}",
        after_cut.iter().min()
    );
    // One progress call per chunk answered: no more than the chunks left (and the
    // few in flight when the server stopped), not the whole file again.
    let chunks = content.len().div_ceil(CHUNK) as u64;
    let left = chunks - cut_at.div_ceil(CHUNK as u64);
    assert!(
        (1..=left as usize + 6).contains(&after_cut.len()),
        "{} chunks sent after the restart, {left} were left",
        after_cut.len()
    );
    // bob (reconnected by hand: a plain client) gets the whole file.
    let attachment = sent.attachment.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while bob.connect(&address).is_err() {
        assert!(std::time::Instant::now() < deadline, "bob cannot reconnect");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let dest = dir.join("dest");
    bob.download(&attachment, &dest, |_, _| true).unwrap();
    assert!(std::fs::read(&dest).unwrap() == content);
}

/// A process's memory field (`VmRSS:`, `VmHWM:`), KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_servers_memory_does_not_grow_with_the_files_it_receives() {
    let dir = tempdir("files_server_memory");
    let (mut child, address) = support::server_process(&dir.join("server"), "127.0.0.1:0");
    let pid = child.id();
    let uploaders: Vec<Client> = (0..4)
        .map(|i| {
            let user = format!("u{i}");
            let mut c = support::client(&dir.join(&user), &user, &address);
            c.create_room(&format!("room{i}")).unwrap();
            c
        })
        .collect();
    // Four files of 16 MiB at once: 64 MiB through the server.
    let size = 16 << 20;
    let source = dir.join("source");
    write_file(&source, size, 3);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = memory_kib(pid, "VmRSS:");
    std::thread::scope(|s| {
        for (i, mut c) in uploaders.into_iter().enumerate() {
            let source = &source;
            s.spawn(move || {
                c.send_file(&format!("room{i}"), source, None, None, |_, _| true)
                    .unwrap()
            });
        }
    });
    let peak = memory_kib(pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    // A few chunks per transfer, whatever the file's size (the store's page cache
    // aside): far below the 64 MiB that went through.
    let grew_mib = peak.saturating_sub(before) / 1024;
    assert!(
        grew_mib < 32,
        "the server grew by {grew_mib} MiB while receiving 64 MiB ({before} KiB before, peak {peak} KiB)"
    );
}
