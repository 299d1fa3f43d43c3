//! Files on the server, tried by a hostile registered user with a raw session: a blob
//! is read only by members of its room and only once complete, its id cannot be
//! guessed, an upload stays within the size limit, its owner's quota and the upload
//! rate, chunks go in order at their exact length, an upload cut by a server restart
//! resumes where the server stopped, and retention deletes files by itself.

use std::time::Duration;

use smc::net::Limits;
use smc::proto::{
    blob_chunk_len, blob_chunks, sealed_size, BlobId, Reply, Request, BLOB_BATCH, BLOB_CHUNK,
    BLOB_TAG,
};
use smc::Refusal;

use smc::identity::StaticKeypair;

use super::raw::{member, member_with, Raw};
use super::{pair, start};
use crate::support::tempdir;

/// Sealed-sized chunk `index` of a file of `size` bytes (its bytes tell which).
fn chunk(size: u64, index: u32, seed: u8) -> Vec<u8> {
    let len = blob_chunk_len(size, index).unwrap() + BLOB_TAG;
    (0..len)
        .map(|i| (i as u8).wrapping_mul(3) ^ (index as u8) ^ seed)
        .collect()
}

fn begin(raw: &mut Raw, room: &str, size: u64) -> Result<BlobId, Refusal> {
    match raw.request(Request::BeginUpload {
        room: room.into(),
        size,
    })? {
        Reply::Upload { blob } => Ok(blob),
        other => panic!("{other:?}"),
    }
}

fn put(raw: &mut Raw, blob: BlobId, size: u64, index: u32, seed: u8) -> Result<u32, Refusal> {
    let bytes = chunk(size, index, seed);
    match raw.request(Request::PutChunk { blob, index, bytes })? {
        Reply::Stored { held } => Ok(held),
        other => panic!("{other:?}"),
    }
}

fn fetch(raw: &mut Raw, blob: BlobId, index: u32) -> Result<Vec<u8>, Refusal> {
    match raw.request(Request::FetchChunk { blob, index })? {
        Reply::Chunk(bytes) => Ok(bytes),
        other => panic!("{other:?}"),
    }
}

fn held(raw: &mut Raw, blob: BlobId) -> Result<u32, Refusal> {
    match raw.request(Request::UploadState { blob })? {
        Reply::Stored { held } => Ok(held),
        other => panic!("{other:?}"),
    }
}

/// Uploads every chunk of a file of `size` bytes.
fn upload(raw: &mut Raw, room: &str, size: u64, seed: u8) -> BlobId {
    let blob = begin(raw, room, size).unwrap();
    for i in 0..blob_chunks(size).unwrap() {
        assert_eq!(put(raw, blob, size, i, seed).unwrap(), i + 1);
    }
    blob
}

#[test]
fn only_members_of_its_room_read_a_complete_blob_and_nobody_else_touches_it() {
    let dir = tempdir("adv_files_members");
    let server = start(&dir.join("server"), Limits::default());
    let (mut alice, _bob) = pair(&dir, &server, "r");
    let (mut carol, _) = member(&server, &mut alice, "r", "carol");
    let (mut dave, _) = member(&server, &mut alice, "r", "dave");
    let mut mallory = Raw::hello(server.address(), "mallory").unwrap();

    let size = BLOB_CHUNK as u64 + 1;
    let blob = begin(&mut carol, "r", size).unwrap();
    assert_eq!(put(&mut carol, blob, size, 0, 7).unwrap(), 1);
    // Incomplete: nobody reads it, its owner included.
    assert_eq!(fetch(&mut dave, blob, 0), Err(Refusal::UnknownBlob));
    assert_eq!(fetch(&mut carol, blob, 0), Err(Refusal::UnknownBlob));
    // Another member cannot write into it or learn how far it is.
    assert_eq!(put(&mut dave, blob, size, 1, 9), Err(Refusal::UnknownBlob));
    assert_eq!(held(&mut dave, blob), Err(Refusal::UnknownBlob));
    assert_eq!(put(&mut carol, blob, size, 1, 7).unwrap(), 2);

    // Every member reads exactly what carol stored.
    for i in 0..2 {
        assert!(
            fetch(&mut dave, blob, i).unwrap() == chunk(size, i, 7),
            "chunk {i}"
        );
    }
    // mallory, not a member, can do nothing with it, and cannot post to the room.
    assert_eq!(fetch(&mut mallory, blob, 0), Err(Refusal::UnknownBlob));
    assert_eq!(
        put(&mut mallory, blob, size, 0, 1),
        Err(Refusal::UnknownBlob)
    );
    assert_eq!(held(&mut mallory, blob), Err(Refusal::UnknownBlob));
    assert_eq!(
        begin(&mut mallory, "r", 1),
        Err(Refusal::NotAMember { room: "r".into() })
    );
    assert_eq!(
        begin(&mut mallory, "nowhere", 1),
        Err(Refusal::UnknownRoom {
            room: "nowhere".into()
        })
    );
    // Ids are 128 random bits: another upload's id shares nothing with this one, and
    // guessing one near it finds nothing.
    let other = begin(&mut carol, "r", 1).unwrap();
    assert_ne!(other, blob);
    let mut near = blob;
    near.0[15] ^= 1;
    assert_eq!(fetch(&mut dave, near, 0), Err(Refusal::UnknownBlob));

    // dave leaves the room: he reads it no more.
    dave.request(Request::Leave { room: "r".into() }).unwrap();
    assert_eq!(fetch(&mut dave, blob, 0), Err(Refusal::UnknownBlob));
    assert!(fetch(&mut carol, blob, 1).is_ok());
}

#[test]
fn the_size_limit_the_quota_and_the_order_of_chunks_hold() {
    let dir = tempdir("adv_files_limits");
    let max = 3 * BLOB_CHUNK as u64;
    let limits = Limits {
        max_file_size: max,
        // Room for four chunks, sealed.
        max_file_bytes_per_user: sealed_size(4 * BLOB_CHUNK as u64).unwrap(),
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let (mut alice, _bob) = pair(&dir, &server, "r");
    let (mut carol, _) = member(&server, &mut alice, "r", "carol");

    // Past the size limit, or past what the format carries: refused.
    for size in [max + 1, u64::MAX] {
        assert!(
            matches!(
                begin(&mut carol, "r", size),
                Err(Refusal::QuotaExceeded { .. })
            ),
            "{size}"
        );
    }
    let big = begin(&mut carol, "r", max).unwrap();
    // Three chunks held (reserved) of four: a second file of two chunks does not fit,
    // one of one chunk does.
    let two = 2 * BLOB_CHUNK as u64;
    assert!(matches!(
        begin(&mut carol, "r", two),
        Err(Refusal::QuotaExceeded { .. })
    ));
    let small = begin(&mut carol, "r", 10).unwrap();
    // A tiny file counts as a whole chunk: the quota also bounds how many uploads one
    // user holds (four here), not only their bytes.
    for size in [0, 1] {
        assert!(
            matches!(
                begin(&mut carol, "r", size),
                Err(Refusal::QuotaExceeded { .. })
            ),
            "a {size}-byte upload past the quota"
        );
    }

    // Chunks in order, at their exact length.
    assert!(matches!(
        put(&mut carol, big, max, 1, 0),
        Err(Refusal::BadRequest { .. })
    ));
    let mut short = chunk(max, 0, 0);
    short.pop();
    let refused = carol.request(Request::PutChunk {
        blob: big,
        index: 0,
        bytes: short,
    });
    assert!(
        matches!(refused, Err(Refusal::BadRequest { .. })),
        "{refused:?}"
    );
    let refused = carol.request(Request::PutChunk {
        blob: big,
        index: 3,
        bytes: chunk(max, 0, 0),
    });
    assert!(
        matches!(refused, Err(Refusal::BadRequest { .. })),
        "{refused:?}"
    );
    assert_eq!(held(&mut carol, big).unwrap(), 0);

    for (blob, size) in [(big, max), (small, 10)] {
        for i in 0..blob_chunks(size).unwrap() {
            assert_eq!(put(&mut carol, blob, size, i, 0).unwrap(), i + 1);
        }
    }
}

#[test]
fn the_upload_rate_holds() {
    let dir = tempdir("adv_files_rate");
    // One chunk a second, bursts of two.
    let limits = Limits {
        upload_bytes_per_second: BLOB_CHUNK as u64,
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let (mut alice, _bob) = pair(&dir, &server, "r");
    let (mut carol, _) = member(&server, &mut alice, "r", "carol");
    let size = 10 * BLOB_CHUNK as u64;
    let blob = begin(&mut carol, "r", size).unwrap();
    // The burst goes through; then a chunk waits its turn, and the refusal says how
    // long.
    let mut stored = 0;
    let wait = loop {
        match put(&mut carol, blob, size, stored, 0) {
            Ok(held) => stored = held,
            Err(Refusal::RateLimited { retry_after_ms }) => break retry_after_ms,
            Err(other) => panic!("{other:?}"),
        }
        assert!(stored < 10, "the upload rate did not hold");
    };
    assert!(stored >= 2, "the burst was refused");
    assert!((1..=1_000).contains(&wait), "{wait}");
    assert_eq!(held(&mut carol, blob).unwrap(), stored);
    std::thread::sleep(Duration::from_millis(wait));
    assert_eq!(put(&mut carol, blob, size, stored, 0).unwrap(), stored + 1);
}

/// Chunks `from..end` of a file of `size` bytes in one request.
fn put_batch(
    raw: &mut Raw,
    blob: BlobId,
    size: u64,
    (from, end): (u32, u32),
    seed: u8,
) -> Result<u32, Refusal> {
    let bytes = (from..end).flat_map(|i| chunk(size, i, seed)).collect();
    match raw.request(Request::PutChunks {
        blob,
        index: from,
        bytes,
    })? {
        Reply::Stored { held } => Ok(held),
        other => panic!("{other:?}"),
    }
}

#[test]
fn chunks_sent_or_asked_together_keep_every_limit_of_single_ones() {
    let dir = tempdir("adv_files_batch");
    // One chunk a second, bursts of two.
    let limits = Limits {
        upload_bytes_per_second: BLOB_CHUNK as u64,
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let (mut alice, _bob) = pair(&dir, &server, "r");
    let (mut carol, _) = member(&server, &mut alice, "r", "carol");
    let size = 10 * BLOB_CHUNK as u64;
    let blob = begin(&mut carol, "r", size).unwrap();
    // More chunks than a batch: refused, nothing stored, and the session goes on.
    let refused = put_batch(&mut carol, blob, size, (0, BLOB_BATCH + 1), 0);
    assert!(
        matches!(refused, Err(Refusal::BadRequest { .. })),
        "{refused:?}"
    );
    assert_eq!(held(&mut carol, blob).unwrap(), 0);
    // A whole batch passes on a full bucket (more than its burst of two), and each of
    // its chunks is counted: the next chunk waits for about four of them, not one.
    assert_eq!(put_batch(&mut carol, blob, size, (0, 4), 0).unwrap(), 4);
    match put(&mut carol, blob, size, 4, 0) {
        Err(Refusal::RateLimited { retry_after_ms }) => assert!(
            (2_500..=3_000).contains(&retry_after_ms),
            "the batch counted as {retry_after_ms} ms of the rate"
        ),
        other => panic!("a chunk right after a batch: {other:?}"),
    }

    // Asking for chunks together: 1 to a batch, and none past the last (a server
    // without a tight upload rate).
    let dir = tempdir("adv_files_batch_fetch");
    let server = start(&dir.join("server"), Limits::default());
    let (mut alice, _bob) = pair(&dir, &server, "r");
    let (mut carol, _) = member(&server, &mut alice, "r", "carol");
    let done = upload(&mut carol, "r", 6 * BLOB_CHUNK as u64 + 1, 7);
    for count in [0, BLOB_BATCH + 1] {
        let refused = carol.request(Request::FetchChunks {
            blob: done,
            index: 0,
            count,
        });
        assert!(
            matches!(refused, Err(Refusal::BadRequest { .. })),
            "{count}: {refused:?}"
        );
    }
    let refused = carol.request(Request::FetchChunks {
        blob: done,
        index: 5,
        count: 3,
    });
    assert!(matches!(refused, Err(Refusal::UnknownBlob)), "{refused:?}");
    match carol
        .request(Request::FetchChunks {
            blob: done,
            index: 3,
            count: 4,
        })
        .unwrap()
    {
        Reply::Chunk(bytes) => {
            let size = 6 * BLOB_CHUNK as u64 + 1;
            let want: Vec<u8> = (3..7).flat_map(|i| chunk(size, i, 7)).collect();
            assert!(bytes == want, "chunks 3 to 6 together");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_upload_cut_by_a_server_restart_resumes_where_the_server_stopped() {
    let dir = tempdir("adv_files_resume");
    let data = dir.join("server");
    let server = start(&data, Limits::default());
    let (mut alice, _bob) = pair(&dir, &server, "r");
    let key = StaticKeypair::generate().unwrap();
    let (mut carol, _) = member_with(&server, &mut alice, "r", "carol", &key);
    let size = 4 * BLOB_CHUNK as u64 + 3;
    let blob = begin(&mut carol, "r", size).unwrap();
    for i in 0..2 {
        put(&mut carol, blob, size, i, 5).unwrap();
    }
    // The third chunk is sent, and the server stops before carol reads its answer.
    carol
        .send(Request::PutChunk {
            blob,
            index: 2,
            bytes: chunk(size, 2, 5),
        })
        .unwrap();
    drop(server);

    let server = start(&data, Limits::default());
    let mut carol = Raw::hello_with(server.address(), "carol", &key).unwrap();
    let resume = held(&mut carol, blob).unwrap();
    assert!((2..=3).contains(&resume), "resumes at {resume}");
    // A chunk sent again after a lost answer is answered, not stored twice.
    assert_eq!(put(&mut carol, blob, size, resume - 1, 5).unwrap(), resume);
    for i in resume..5 {
        assert_eq!(put(&mut carol, blob, size, i, 5).unwrap(), i + 1);
    }
    let mut reader = Raw::hello_with(server.address(), "carol", &key).unwrap();
    for i in 0..5 {
        assert!(
            fetch(&mut reader, blob, i).unwrap() == chunk(size, i, 5),
            "chunk {i}"
        );
    }
}

#[test]
fn retention_deletes_files_by_itself() {
    let dir = tempdir("adv_files_retention");
    let limits = Limits {
        file_retention: Duration::from_secs(3),
        ..Limits::default()
    };
    let server = start(&dir.join("server"), limits);
    let (mut alice, _bob) = pair(&dir, &server, "r");
    let (mut carol, _) = member(&server, &mut alice, "r", "carol");
    let size = BLOB_CHUNK as u64 * 2;
    let blob = upload(&mut carol, "r", size, 3);
    let started = std::time::Instant::now();
    assert!(fetch(&mut carol, blob, 1).unwrap() == chunk(size, 1, 3));
    // Deleted by the server on its own, once past retention (checked every 1.5 s).
    while fetch(&mut carol, blob, 1).is_ok() {
        assert!(started.elapsed() < Duration::from_secs(30), "never deleted");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "deleted before its time"
    );
    assert_eq!(fetch(&mut carol, blob, 0), Err(Refusal::UnknownBlob));
    // What it took no longer counts: a file as large as the quota still fits.
    assert!(begin(&mut carol, "r", size).is_ok());
}

#[test]
fn a_file_name_or_type_announced_by_a_hostile_member_is_cut_and_made_safe() {
    use openmls::prelude::tls_codec::Serialize as _;
    use smc::client::ChatEvent;
    use smc::e2e::sealed::{FileRef, Sealed};

    let dir = tempdir("adv_files_names");
    let server = start(&dir.join("server"), Limits::default());
    let (mut alice, _bob) = pair(&dir, &server, "r");
    // mallory, a real member, announces a file under a name and a type of 10 KB each,
    // which smc's own client never sends (it cuts them to 256 bytes).
    let (mut mallory, actor) = super::mallory_in(&server, &mut alice, "r");
    let mut group = actor.join(&super::welcome_of(&mut mallory));
    super::drain(&mut alice);
    let name = format!("{}\x1b[31m/../x", "é".repeat(5_000));
    let words = Sealed::File {
        room: "r".into(),
        sender: "mallory".into(),
        counter: 1,
        file: FileRef {
            blob: [1; 16],
            key: [2; 32],
            size: 10,
            sha256: [3; 32],
            name: name.clone(),
            mime: format!("x/{}", "y".repeat(10_000)),
        },
    };
    let payload = group
        .create_message(&actor.provider, &actor.signer, &words.encode())
        .unwrap()
        .tls_serialize_detached()
        .unwrap();
    mallory
        .request(Request::Send {
            room: "r".into(),
            payload,
            commit_epoch: None,
        })
        .unwrap();
    let events = super::drain(&mut alice);
    let attachment = events
        .iter()
        .find_map(|e| match e {
            ChatEvent::Message(m) if m.sender == "mallory" => m.attachment.clone(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no file from mallory: {events:?}"));
    // Cut on a character boundary, to at most 256 bytes: what the receiver keeps and
    // shows of it.
    assert!(
        attachment.name().len() <= 256,
        "{}",
        attachment.name().len()
    );
    assert!(attachment.name().len() > 200);
    assert!(name.starts_with(attachment.name()));
    assert!(attachment.mime().len() <= 256 && attachment.mime().starts_with("x/yyy"));
    let safe = attachment.safe_name();
    assert!(safe.len() <= 256, "{}", safe.len());
    assert!(
        !safe.contains(['/', '\x1b']) && !safe.starts_with('.'),
        "{safe:?}"
    );
    // Kept so in the history too.
    let kept = alice.history("r", 10).unwrap();
    let file = kept.iter().find_map(|m| m.attachment.as_ref()).unwrap();
    assert_eq!(file.name(), attachment.name());
}

#[test]
fn a_server_that_misstates_what_it_holds_of_an_upload_fails_it_instead_of_holding_the_client() {
    use crate::support::hostile::Hostile;
    // A file of six chunks: two requests of chunks.
    let dir = tempdir("adv_files_hostile_held");
    let source = dir.join("source");
    std::fs::write(&source, vec![5u8; 5 * BLOB_CHUNK + 1]).unwrap();
    type Lie = fn(u32, u32) -> u32;
    let lies: [(&str, Lie); 3] = [
        // Nothing stored, whatever was sent.
        ("holds none", |_, _| 0),
        // Less than the request that was just answered.
        ("holds less than it was given", |index, _| index),
        // More than the file has.
        ("holds more than the file", |_, _| 1_000_000),
    ];
    for (what, lie) in lies {
        let hostile = Hostile::start(move |request| match request {
            Request::Hello { user, .. } => Ok(Reply::Welcome {
                user: user.clone(),
                registered: true,
            }),
            Request::KeyPackageCount => Ok(Reply::Count(1_000)),
            Request::BeginUpload { .. } => Ok(Reply::Upload {
                blob: BlobId([9; 16]),
            }),
            Request::PutChunks { index, bytes, .. } => Ok(Reply::Stored {
                held: lie(*index, bytes.len() as u32),
            }),
            Request::UploadState { .. } => Ok(Reply::Stored { held: 0 }),
            _ => Ok(Reply::Done),
        });
        let home = dir.join(what.replace(' ', "_"));
        let mut alice = smc::Client::open(&home, "alice").unwrap();
        alice.connect(&hostile.address.to_string()).unwrap();
        alice.create_room("r").unwrap();
        // On a thread of its own: before the fix the upload never ended (a client
        // held at full speed, forever), and the test would hang with it.
        let (tx, rx) = std::sync::mpsc::channel();
        let source = source.clone();
        std::thread::spawn(move || {
            let _ = tx.send(alice.send_file("r", &source, None, None, |_, _| true));
        });
        let sent = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("a server that {what}: the upload never ended"));
        match sent {
            Err(e) => assert_eq!(e.kind(), smc::ErrorKind::Protocol, "{what}: {e}"),
            Ok(m) => panic!("a server that {what}: the file was announced: {m:?}"),
        }
    }
}
