//! The blob guarantees every store gives: an upload only by a member and within its
//! owner's quota, chunks stored in order and exactly once (a repeated chunk is
//! answered, not stored again; a chunk ahead, of a wrong length or of someone else's
//! upload is refused), a blob readable only complete and only by a member of its room
//! now, chunks that survive the store being opened again, and retention that deletes
//! old, abandoned and orphaned blobs with their chunks.

use smc::proto::{
    blob_chunk_len, blob_chunks, sealed_size, BlobId, BLOB_BATCH, BLOB_CHUNK, BLOB_TAG,
};
use smc::server::store::{Began, NewBlob, Put, Retention, Store};

use super::{backends, room_of_eight, together, NOW, THREADS};
use crate::support::tempdir;

/// A blob of `owner` in room `r` for a file of `size` bytes, within `quota`.
fn new_blob(owner: &str, size: u64, quota: u64, now_ms: i64) -> NewBlob {
    NewBlob {
        id: BlobId::random().unwrap(),
        room: "r".into(),
        owner: owner.into(),
        size,
        chunks: blob_chunks(size).unwrap(),
        sealed: sealed_size(size).unwrap(),
        now_ms,
        quota,
    }
}

/// Chunk `index` of a file of `size` bytes, sealed-sized, its bytes telling which.
fn chunk(size: u64, index: u32, seed: u8) -> Vec<u8> {
    let len = blob_chunk_len(size, index).unwrap() + BLOB_TAG;
    (0..len)
        .map(|i| (i as u8) ^ (index as u8).wrapping_mul(7) ^ seed)
        .collect()
}

/// Uploads every chunk of `blob` (size `size`) in order.
fn upload(store: &dyn Store, blob: &NewBlob, seed: u8) {
    for i in 0..blob.chunks {
        let put = store
            .put_chunks(&blob.id, &blob.owner, i, &chunk(blob.size, i, seed))
            .unwrap();
        assert_eq!(put, Put::Held(i + 1));
    }
}

#[test]
fn an_upload_is_a_members_within_quota_and_its_chunks_go_in_order_once() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_blob_order_{name}"));
        let store = room_of_eight(open, &dir);
        store
            .register(
                "stranger",
                &[99; 32],
                smc::server::store::RegistrationPolicy::Open,
                None,
                &super::anyone(),
            )
            .unwrap();
        // Not a member: nothing recorded.
        let outsider = new_blob("stranger", 10, u64::MAX, NOW);
        assert_eq!(
            store.begin_blob(&outsider).unwrap(),
            Began::NotAMember,
            "{name}"
        );
        assert_eq!(
            store.blob_held(&outsider.id, "stranger").unwrap(),
            None,
            "{name}"
        );

        let size = 2 * BLOB_CHUNK as u64 + 5;
        let blob = new_blob("u1", size, u64::MAX, NOW);
        assert_eq!(store.begin_blob(&blob).unwrap(), Began::Started, "{name}");
        assert_eq!(store.blob_held(&blob.id, "u1").unwrap(), Some(0));
        // Someone else's upload is unknown to them, for writing and for asking.
        assert_eq!(
            store
                .put_chunks(&blob.id, "u2", 0, &chunk(size, 0, 1))
                .unwrap(),
            Put::Unknown
        );
        assert_eq!(store.blob_held(&blob.id, "u2").unwrap(), None);
        // A chunk ahead, a wrong length, an index past the end: nothing stored.
        assert_eq!(
            store
                .put_chunks(&blob.id, "u1", 1, &chunk(size, 1, 1))
                .unwrap(),
            Put::Ahead { held: 0 },
            "{name}"
        );
        let mut short = chunk(size, 0, 1);
        short.pop();
        assert_eq!(
            store.put_chunks(&blob.id, "u1", 0, &short).unwrap(),
            Put::WrongLength {
                expected: BLOB_CHUNK + BLOB_TAG
            },
            "{name}"
        );
        assert_eq!(
            store
                .put_chunks(&blob.id, "u1", 3, &chunk(size, 2, 1))
                .unwrap(),
            Put::WrongLength { expected: 0 },
            "{name}"
        );
        assert_eq!(store.blob_held(&blob.id, "u1").unwrap(), Some(0), "{name}");
        // In order; the first chunk sent again is answered, not stored again.
        assert_eq!(
            store
                .put_chunks(&blob.id, "u1", 0, &chunk(size, 0, 1))
                .unwrap(),
            Put::Held(1)
        );
        assert_eq!(
            store
                .put_chunks(&blob.id, "u1", 0, &chunk(size, 0, 9))
                .unwrap(),
            Put::Held(1),
            "{name}"
        );
        // Not readable before it is complete, even by its owner.
        assert!(
            store.fetch_chunks(&blob.id, 0, 1, "u1").unwrap().is_none(),
            "{name}: incomplete"
        );
        assert_eq!(
            store
                .put_chunks(&blob.id, "u1", 1, &chunk(size, 1, 1))
                .unwrap(),
            Put::Held(2)
        );
        assert_eq!(
            store
                .put_chunks(&blob.id, "u1", 2, &chunk(size, 2, 1))
                .unwrap(),
            Put::Held(3)
        );
        // A chunk after the last one: refused.
        assert_eq!(
            store
                .put_chunks(&blob.id, "u1", 3, &chunk(size, 0, 1))
                .unwrap(),
            Put::WrongLength { expected: 0 }
        );

        // Every member reads exactly what was stored (the first copy of chunk 0),
        // after the store is opened again; a non-member reads nothing.
        drop(store);
        let store = open(&dir);
        for reader in ["u0", "u1", "u7"] {
            for i in 0..3 {
                assert!(
                    store.fetch_chunks(&blob.id, i, 1, reader).unwrap() == Some(chunk(size, i, 1)),
                    "{name}: {reader} chunk {i}"
                );
            }
            assert!(store
                .fetch_chunks(&blob.id, 3, 1, reader)
                .unwrap()
                .is_none());
        }
        assert!(
            store
                .fetch_chunks(&blob.id, 0, 1, "stranger")
                .unwrap()
                .is_none(),
            "{name}: a non-member read a blob"
        );
        assert!(store
            .fetch_chunks(&BlobId::random().unwrap(), 0, 1, "u0")
            .unwrap()
            .is_none());
        // A member who leaves reads it no more.
        assert!(store.remove_member("r", "u7").unwrap());
        assert!(
            store.fetch_chunks(&blob.id, 0, 1, "u7").unwrap().is_none(),
            "{name}: a former member read a blob"
        );
    }
}

/// Chunks `from..end` of a file of `size` bytes, one after the other.
fn chunks(size: u64, from: u32, end: u32, seed: u8) -> Vec<u8> {
    (from..end).flat_map(|i| chunk(size, i, seed)).collect()
}

#[test]
fn chunks_sent_together_are_stored_from_the_next_one_held_and_read_together() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_blob_batch_{name}"));
        let store = room_of_eight(open, &dir);
        // Seven chunks, the last one short.
        let size = 6 * BLOB_CHUNK as u64 + 9;
        let blob = new_blob("u1", size, u64::MAX, NOW);
        assert_eq!(store.begin_blob(&blob).unwrap(), Began::Started, "{name}");
        // More than a batch at once, or bytes that are not whole chunks: nothing stored.
        let too_many = BLOB_BATCH + 1;
        assert_eq!(
            store
                .put_chunks(&blob.id, "u1", 0, &chunks(size, 0, too_many, 1))
                .unwrap(),
            Put::WrongLength {
                expected: BLOB_CHUNK + BLOB_TAG
            },
            "{name}: {too_many} chunks at once"
        );
        let mut torn = chunks(size, 0, 2, 1);
        torn.pop();
        assert_eq!(
            store.put_chunks(&blob.id, "u1", 0, &torn).unwrap(),
            Put::WrongLength {
                expected: BLOB_CHUNK + BLOB_TAG
            },
            "{name}: two chunks but a byte"
        );
        assert_eq!(store.blob_held(&blob.id, "u1").unwrap(), Some(0), "{name}");
        // Chunks 0 to 2 together.
        assert_eq!(
            store
                .put_chunks(&blob.id, "u1", 0, &chunks(size, 0, 3, 1))
                .unwrap(),
            Put::Held(3),
            "{name}"
        );
        // Chunks 1 to 4 again (an answer lost, the batch sent again with more): the
        // held ones are skipped, 3 and 4 stored, and the first copies stay.
        assert_eq!(
            store
                .put_chunks(&blob.id, "u1", 1, &chunks(size, 1, 5, 9))
                .unwrap(),
            Put::Held(5),
            "{name}"
        );
        // A batch wholly held is answered; one beginning ahead is refused.
        assert_eq!(
            store
                .put_chunks(&blob.id, "u1", 0, &chunks(size, 0, 2, 1))
                .unwrap(),
            Put::Held(5),
            "{name}"
        );
        assert_eq!(
            store
                .put_chunks(&blob.id, "u1", 6, &chunks(size, 6, 7, 1))
                .unwrap(),
            Put::Ahead { held: 5 },
            "{name}"
        );
        // The last two, the short one included: complete.
        assert_eq!(
            store
                .put_chunks(&blob.id, "u1", 5, &chunks(size, 5, 7, 1))
                .unwrap(),
            Put::Held(7),
            "{name}"
        );
        // Read back together: exactly what was stored, the first copies of 1 and 2,
        // the second batch's 3 and 4; a range past the last chunk, or wider than a
        // batch, is not served, even in part.
        let mut stored = chunks(size, 0, 3, 1);
        stored.extend(chunks(size, 3, 5, 9));
        stored.extend(chunks(size, 5, 7, 1));
        let sealed = |i: u32| (i as usize) * (BLOB_CHUNK + BLOB_TAG);
        for (from, count) in [(0, 4), (1, 4), (3, 4), (4, 3), (6, 1)] {
            let end = (sealed(from + count)).min(stored.len());
            assert!(
                store
                    .fetch_chunks(&blob.id, from, count, "u2")
                    .unwrap()
                    .as_deref()
                    == Some(&stored[sealed(from)..end]),
                "{name}: chunks {from} + {count}"
            );
        }
        for (from, count) in [(5, 3), (6, 2), (7, 1), (0, BLOB_BATCH + 1), (0, 0)] {
            assert!(
                store
                    .fetch_chunks(&blob.id, from, count, "u2")
                    .unwrap()
                    .is_none(),
                "{name}: chunks {from} + {count} served"
            );
        }
    }
}

#[test]
fn the_file_quota_counts_every_blob_of_its_owner_under_concurrent_uploads() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_blob_quota_{name}"));
        let store = room_of_eight(open, &dir);
        let size = BLOB_CHUNK as u64; // one chunk
        let sealed = sealed_size(size).unwrap();
        // Room for three such blobs; eight threads begin one each at once.
        let quota = 3 * sealed;
        let began = {
            let store = store.clone();
            together(move |_| store.begin_blob(&new_blob("u1", size, quota, NOW)).unwrap())
        };
        let started = began.iter().filter(|b| **b == Began::Started).count();
        assert_eq!(started, 3, "{name}: {began:?}");
        assert_eq!(
            began.iter().filter(|b| **b == Began::OverQuota).count(),
            THREADS - 3
        );
        assert_eq!(store.blob_usage("u1").unwrap(), quota, "{name}");
        // Another user has a quota of their own.
        assert_eq!(
            store.begin_blob(&new_blob("u2", size, quota, NOW)).unwrap(),
            Began::Started
        );
        // An empty file is one sealed chunk of its tag alone.
        assert_eq!(sealed_size(0), Some(BLOB_TAG as u64));
    }
}

#[test]
fn a_chunk_sent_by_many_at_once_is_stored_once() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_blob_once_{name}"));
        let store = room_of_eight(open, &dir);
        let size = 3 * BLOB_CHUNK as u64;
        let blob = new_blob("u1", size, u64::MAX, NOW);
        store.begin_blob(&blob).unwrap();
        // Eight senders of the same upload (a resumed session beside the first) each
        // send the three chunks in order.
        let answers = {
            let (store, id) = (store.clone(), blob.id);
            together(move |_| {
                (0..3)
                    .map(|i| store.put_chunks(&id, "u1", i, &chunk(size, i, 4)).unwrap())
                    .collect::<Vec<_>>()
            })
        };
        for put in answers.iter().flatten() {
            assert!(
                matches!(put, Put::Held(1..=3) | Put::Ahead { .. }),
                "{name}: {put:?}"
            );
        }
        assert_eq!(store.blob_held(&blob.id, "u1").unwrap(), Some(3), "{name}");
        for i in 0..3 {
            assert!(store.fetch_chunks(&blob.id, i, 1, "u2").unwrap() == Some(chunk(size, i, 4)));
        }
    }
}

#[test]
fn retention_deletes_old_abandoned_and_orphaned_blobs_with_their_chunks() {
    for (name, open) in backends() {
        let dir = tempdir(&format!("contract_blob_gc_{name}"));
        let store = room_of_eight(open, &dir);
        let size = 10;
        let old = new_blob("u1", size, u64::MAX, NOW - 10_000);
        let fresh = new_blob("u1", size, u64::MAX, NOW);
        let abandoned = new_blob("u2", size, u64::MAX, NOW - 5_000);
        let started = new_blob("u2", size, u64::MAX, NOW);
        for b in [&old, &fresh, &abandoned, &started] {
            assert_eq!(store.begin_blob(b).unwrap(), Began::Started);
        }
        upload(store.as_ref(), &old, 1);
        upload(store.as_ref(), &fresh, 2);
        let retention = Retention {
            created_before_ms: NOW - 8_000,
            abandoned_before_ms: NOW - 1_000,
        };
        assert_eq!(store.collect_blobs(&retention).unwrap(), 2, "{name}");
        assert!(
            store.fetch_chunks(&old.id, 0, 1, "u0").unwrap().is_none(),
            "{name}: past retention"
        );
        assert_eq!(
            store.blob_held(&abandoned.id, "u2").unwrap(),
            None,
            "{name}: abandoned"
        );
        assert!(
            store.fetch_chunks(&fresh.id, 0, 1, "u0").unwrap() == Some(chunk(size, 0, 2)),
            "{name}"
        );
        assert_eq!(
            store.blob_held(&started.id, "u2").unwrap(),
            Some(0),
            "{name}"
        );
        // What was deleted no longer counts against its owner.
        assert_eq!(
            store.blob_usage("u1").unwrap(),
            sealed_size(size).unwrap(),
            "{name}"
        );
        // Nothing more is due; then the room loses its last member.
        assert_eq!(store.collect_blobs(&retention).unwrap(), 0);
        for i in 0..THREADS {
            store.remove_member("r", &format!("u{i}")).unwrap();
        }
        assert_eq!(
            store.collect_blobs(&retention).unwrap(),
            2,
            "{name}: orphaned"
        );
        assert_eq!(store.blob_usage("u1").unwrap(), 0, "{name}");
        // On one node the chunks are files: none is left on disk, not even one that
        // lost its row (a crash between the two deletions).
        let files = dir.join("blobs");
        if files.exists() {
            let stray = files.join("00112233445566778899aabbccddeeff");
            std::fs::write(&stray, b"left by a crash").unwrap();
            assert_eq!(store.collect_blobs(&retention).unwrap(), 0, "{name}");
            let left: Vec<_> = std::fs::read_dir(&files).unwrap().collect();
            assert!(left.is_empty(), "{name}: {left:?}");
        }
        // The chunks went with their blobs: opened again, nothing is left to read.
        drop(store);
        let store = open(&dir);
        assert_eq!(store.blob_held(&fresh.id, "u1").unwrap(), None);
    }
}
