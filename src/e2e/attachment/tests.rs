//! The sealing and opening of files, on real files in a directory of their own.

use std::path::{Path, PathBuf};

use super::{chunk_count, Download, FileKey, SealedFile, CHUNK_SIZE};
use crate::error::AttachmentError;

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("smc-attach-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A file of `size` bytes that differ from chunk to chunk and within each.
fn write_file(path: &Path, size: usize, seed: u8) {
    let content: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i / CHUNK_SIZE) as u8)
        .collect();
    std::fs::write(path, content).unwrap();
}

/// Every chunk of `path`, sealed, with its key and digest.
fn seal_all(path: &Path) -> (FileKey, u64, [u8; 32], Vec<Vec<u8>>) {
    let mut file = SealedFile::open(path).unwrap();
    let chunks: Vec<Vec<u8>> = (0..file.chunk_count())
        .map(|i| file.chunk(i).unwrap())
        .collect();
    let digest = file.digest().expect("every chunk was sealed in order");
    // The receiver gets the key as bytes, in the message that announces the file.
    let key = FileKey::from_bytes(file.key().as_bytes()).unwrap();
    assert!(FileKey::from_bytes(&file.key().as_bytes()[1..]).is_none());
    (key, file.size(), digest, chunks)
}

/// The names in `dir`.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn files_of_every_boundary_size_come_back_byte_for_byte() {
    let dir = scratch("sizes");
    for size in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE + 5,
    ] {
        let source = dir.join("source");
        write_file(&source, size, 7);
        let (key, len, digest, chunks) = seal_all(&source);
        assert_eq!(len, size as u64);
        assert_eq!(chunks.len() as u32, chunk_count(len).unwrap());
        // What is sent is not the content: each chunk is its part of the content,
        // sealed, plus the tag.
        let content = std::fs::read(&source).unwrap();
        for (i, chunk) in chunks.iter().enumerate() {
            let part = &content[(i * CHUNK_SIZE).min(size)..((i + 1) * CHUNK_SIZE).min(size)];
            assert_eq!(chunk.len(), part.len() + super::TAG_SIZE);
            assert!(part.len() < 8 || !chunk.windows(8).any(|w| w == &part[..8]));
        }
        let dest = dir.join("résumé 日本語.bin");
        let mut download = Download::begin(&dest, &key, len, digest).unwrap();
        for chunk in &chunks {
            download.push(chunk.clone(), 1).unwrap();
        }
        assert_eq!(download.finish().unwrap(), dest);
        assert_eq!(
            std::fs::read(&dest).unwrap(),
            std::fs::read(&source).unwrap()
        );
        assert_eq!(
            names(&dir),
            ["résumé 日本語.bin", "source"],
            "no temporary file left"
        );
        std::fs::remove_file(&dest).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Receives `chunks` into a fresh destination of `dir`, as announced by `key`, `size`
/// and `digest`; returns the first error, after checking that it left nothing.
fn receive_fails(
    dir: &Path,
    key: &FileKey,
    size: u64,
    digest: [u8; 32],
    chunks: &[Vec<u8>],
) -> AttachmentError {
    let before = names(dir);
    let dest = dir.join("received");
    let mut download = Download::begin(&dest, key, size, digest).unwrap();
    let error = chunks
        .iter()
        .find_map(|c| download.push(c.clone(), 1).err())
        .unwrap_or_else(|| download.finish().expect_err("the file must be refused"));
    assert!(
        !dest.exists(),
        "a refused file never reaches its destination"
    );
    assert_eq!(
        names(dir),
        before,
        "a refused download leaves no temporary file"
    );
    assert_eq!(error.kind(), crate::ErrorKind::Undecryptable, "{error}");
    error
}

#[test]
fn a_tampered_chunk_does_not_open_and_leaves_nothing() {
    let dir = scratch("tampered");
    write_file(&dir.join("source"), 3 * CHUNK_SIZE + 10, 1);
    let (key, size, digest, mut chunks) = seal_all(&dir.join("source"));
    chunks[1][100] ^= 1;
    let error = receive_fails(&dir, &key, size, digest, &chunks);
    assert!(
        matches!(error, AttachmentError::Tampered { chunk: 1 }),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reordered_and_repeated_chunks_do_not_open() {
    let dir = scratch("reordered");
    write_file(&dir.join("source"), 3 * CHUNK_SIZE, 2);
    let (key, size, digest, chunks) = seal_all(&dir.join("source"));
    let swapped = [chunks[1].clone(), chunks[0].clone(), chunks[2].clone()];
    let error = receive_fails(&dir, &key, size, digest, &swapped);
    assert!(
        matches!(error, AttachmentError::Tampered { chunk: 0 }),
        "{error}"
    );
    let repeated = [chunks[0].clone(), chunks[0].clone(), chunks[2].clone()];
    let error = receive_fails(&dir, &key, size, digest, &repeated);
    assert!(
        matches!(error, AttachmentError::Tampered { chunk: 1 }),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_chunk_of_another_file_does_not_open() {
    let dir = scratch("foreign");
    write_file(&dir.join("source"), 2 * CHUNK_SIZE, 3);
    let (key, size, digest, mut chunks) = seal_all(&dir.join("source"));
    // The same content sealed again is another file: another key.
    let (_, _, _, other) = seal_all(&dir.join("source"));
    assert_ne!(other[0], chunks[0]);
    chunks[0] = other[0].clone();
    let error = receive_fails(&dir, &key, size, digest, &chunks);
    assert!(
        matches!(error, AttachmentError::Tampered { chunk: 0 }),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_cut_short_is_refused_whatever_size_is_announced() {
    let dir = scratch("truncated");
    write_file(&dir.join("source"), 3 * CHUNK_SIZE + 1, 4);
    let (key, size, digest, chunks) = seal_all(&dir.join("source"));
    // The last chunk withheld.
    let error = receive_fails(&dir, &key, size, digest, &chunks[..3]);
    assert!(
        matches!(
            error,
            AttachmentError::WrongLength {
                received: 3,
                expected: 4
            }
        ),
        "{error}"
    );
    // Announced as two chunks: the second is not the last one and does not open as it.
    let error = receive_fails(&dir, &key, 2 * CHUNK_SIZE as u64, digest, &chunks[..2]);
    assert!(
        matches!(error, AttachmentError::Tampered { chunk: 1 }),
        "{error}"
    );
    // One chunk too many.
    let mut more = chunks.clone();
    more.push(chunks[3].clone());
    let error = receive_fails(&dir, &key, size, digest, &more);
    assert!(
        matches!(error, AttachmentError::WrongLength { expected: 4, .. }),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn content_that_is_not_the_announced_one_is_refused() {
    let dir = scratch("digest");
    write_file(&dir.join("source"), CHUNK_SIZE + 3, 5);
    let (key, size, mut digest, chunks) = seal_all(&dir.join("source"));
    digest[0] ^= 1;
    let error = receive_fails(&dir, &key, size, digest, &chunks);
    assert!(matches!(error, AttachmentError::DigestMismatch), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_transfer_resumes_from_the_chunk_the_receiver_expects() {
    let dir = scratch("resume");
    write_file(&dir.join("source"), 4 * CHUNK_SIZE + 9, 6);
    let mut file = SealedFile::open(&dir.join("source")).unwrap();
    let dest = dir.join("received");
    let mut download = Download::begin(&dest, file.key(), file.size(), [0; 32]).unwrap();
    // Two chunks arrive, then the connection is lost with the third in flight.
    for i in 0..3 {
        let chunk = file.chunk(i).unwrap();
        if i < 2 {
            download.push(chunk, 1).unwrap();
        }
    }
    // The sender resumes where the receiver stands: the same chunk, sealed again,
    // is the same bytes.
    assert_eq!(download.next_chunk(), 2);
    for i in download.next_chunk()..file.chunk_count() {
        download.push(file.chunk(i).unwrap(), 1).unwrap();
    }
    let digest = file.digest().unwrap();
    // (The digest is only known once the sender read everything: the announced one
    // goes with the message that follows the upload.)
    let mut again = Download::begin(&dest, file.key(), file.size(), digest).unwrap();
    for i in 0..file.chunk_count() {
        again.push(file.chunk(i).unwrap(), 1).unwrap();
    }
    drop(download);
    again.finish().unwrap();
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        std::fs::read(dir.join("source")).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_partial_file_is_private_and_gone_when_the_download_is_dropped() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("partial");
    write_file(&dir.join("source"), 2 * CHUNK_SIZE, 8);
    let (key, size, digest, chunks) = seal_all(&dir.join("source"));
    let mut download = Download::begin(&dir.join("received"), &key, size, digest).unwrap();
    download.push(chunks[0].clone(), 1).unwrap();
    let partial: Vec<String> = names(&dir)
        .into_iter()
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert_eq!(partial.len(), 1);
    let mode = std::fs::metadata(dir.join(&partial[0]))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    drop(download);
    assert_eq!(names(&dir), ["source"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn what_is_not_a_whole_regular_file_is_not_sent() {
    let dir = scratch("unreadable");
    let error = SealedFile::open(&dir).err().unwrap();
    assert!(
        matches!(error, AttachmentError::Unreadable { .. }),
        "{error}"
    );
    let error = SealedFile::open(&dir.join("missing")).err().unwrap();
    assert!(matches!(error, AttachmentError::Io { .. }), "{error}");
    // A FIFO with no writer is refused at once, not waited on.
    let fifo = dir.join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(SealedFile::open(&fifo).err().map(|e| e.to_string()));
    });
    let refused = receiver
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("opening a FIFO to send it must not wait for a writer");
    assert!(refused.unwrap().contains("not a regular file"));
    // A file cut short while it is sent.
    write_file(&dir.join("source"), 2 * CHUNK_SIZE, 9);
    let mut file = SealedFile::open(&dir.join("source")).unwrap();
    file.chunk(0).unwrap();
    std::fs::write(dir.join("source"), b"short").unwrap();
    let error = file.chunk(1).unwrap_err();
    assert!(
        matches!(error, AttachmentError::Unreadable { .. }),
        "{error}"
    );
    assert_eq!(file.digest(), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn chunks_sealed_and_opened_in_batches_are_the_chunks_one_by_one() {
    let dir = scratch("batches");
    let source = dir.join("source");
    let size = 6 * CHUNK_SIZE + 11;
    write_file(&source, size, 3);
    let (key, len, digest, chunks) = seal_all(&source);
    // Sealed four, then three, at once (the same key): the same bytes, one after the
    // other, and the same digest.
    let mut file = SealedFile::open(&source).unwrap();
    let mut batches = file.chunks(0, 4).unwrap();
    batches.extend(file.chunks(4, 3).unwrap());
    assert!(file.chunks(6, 2).is_err(), "a batch past the last chunk");
    assert!(file.chunks(0, 0).is_err(), "an empty batch");
    let mut again = SealedFile::open(&source).unwrap();
    let one_by_one: Vec<u8> = (0..7).flat_map(|i| again.chunk(i).unwrap()).collect();
    assert_eq!(file.digest(), again.digest());
    // Under its own key each time: compare the lengths and, under one key, the bytes.
    assert_eq!(batches.len(), one_by_one.len());
    let joined: Vec<u8> = chunks.concat();
    // Opened in batches of three, three and one.
    let dest = dir.join("dest");
    let mut download = Download::begin(&dest, &key, len, digest).unwrap();
    let sealed = |i: usize| i * (CHUNK_SIZE + super::TAG_SIZE);
    // An answer shorter than the chunks asked for is refused before it is opened.
    assert!(matches!(
        download.push(joined[..sealed(2)].to_vec(), 3),
        Err(AttachmentError::Tampered { chunk: 0 })
    ));
    assert_eq!(download.next_chunk(), 0);
    download.push(joined[..sealed(3)].to_vec(), 3).unwrap();
    download
        .push(joined[sealed(3)..sealed(6)].to_vec(), 3)
        .unwrap();
    // Chunks past the last one asked for: refused.
    assert!(matches!(
        download.push(joined[sealed(6)..].to_vec(), 2),
        Err(AttachmentError::WrongLength { .. })
    ));
    download.push(joined[sealed(6)..].to_vec(), 1).unwrap();
    download.finish().unwrap();
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        std::fs::read(&source).unwrap()
    );

    // A batch with one chunk in it changed: refused at that chunk, nothing in place.
    let mut bad = joined.clone();
    bad[sealed(1) + 5] ^= 1;
    let dest = dir.join("tampered");
    let mut download = Download::begin(&dest, &key, len, digest).unwrap();
    assert!(matches!(
        download.push(bad[..sealed(4)].to_vec(), 4),
        Err(AttachmentError::Tampered { chunk: 1 })
    ));
    drop(download);
    assert!(!dest.exists());
    // Two chunks of a batch in each other's places: refused.
    let mut swapped = joined[..sealed(2)].to_vec();
    swapped.rotate_left(sealed(1));
    let mut download = Download::begin(&dest, &key, len, digest).unwrap();
    assert!(matches!(
        download.push(swapped, 2),
        Err(AttachmentError::Tampered { chunk: 0 })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
