//! The bodies of smc's fuzz targets: one function per target, each taking the fuzzer's
//! raw bytes (structure-aware targets build their input from them with `arbitrary`).
//!
//! A target fails by panicking (or, under the sanitizer, by touching memory it must
//! not); every property it checks is a law of the code under test (a decoded value
//! encodes back to something that decodes to it; a sealed message opens to itself),
//! never an expected output.
//!
//! `fuzz_targets/*.rs` wrap these for libFuzzer; `tests/it/fuzz_replay.rs` in the project
//! compiles this same file on stable and replays every checked-in input.

#![allow(clippy::missing_panics_doc)]

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

/// Runs `f` on a single-threaded tokio runtime kept for the process.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
    }
    RT.with(|rt| rt.block_on(f))
}

/// A directory of this process for the targets that need files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("smc-fuzz-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

// ---------------------------------------------------------------- transport

/// The transport's readers on raw bytes from a hostile peer: the frame reader at
/// several limits, the channel's opener (the bytes never decrypt, so it must refuse
/// them cleanly), and the server's side of the Noise handshake.
pub fn transport(data: &[u8]) {
    for max in [0, 1, 16, 1024, smc::net::MAX_FRAME] {
        let mut reader = data;
        block_on(async {
            let mut frames = 0;
            while let Ok(frame) =
                smc::net::read_frame(&mut reader, None, Duration::from_secs(1), max).await
            {
                assert!(frame.len() <= max, "a frame above the limit was returned");
                frames += 1;
                assert!(frames <= data.len(), "more frames than bytes");
            }
        });
    }
    with_pair(|pair| {
        let mut reader = data;
        let result = block_on(pair.opener.open(&mut reader, None, Duration::from_secs(1)));
        // Random bytes are never a valid frame of this channel (the tag is 16 bytes).
        assert!(result.is_err(), "random bytes opened as a message");
        // A failed open leaves the opener's nonce where it was: the pair stays usable.
        false
    });
    let key = server_key();
    let mut stream = Script::new(vec![Some(data.to_vec())]);
    let result = block_on(smc::net::server_handshake(
        &mut stream,
        key,
        Duration::from_secs(1),
    ));
    assert!(
        result.is_err(),
        "a handshake completed with bytes that prove no key"
    );
}

fn server_key() -> &'static smc::identity::StaticKeypair {
    static KEY: std::sync::OnceLock<smc::identity::StaticKeypair> = std::sync::OnceLock::new();
    KEY.get_or_init(|| smc::identity::StaticKeypair::generate().expect("key"))
}

/// A connected pair of channel halves (client sealer → server opener).
struct Pair {
    sealer: smc::net::Sealer,
    opener: smc::net::Opener,
}

fn new_pair() -> Pair {
    let client_key = smc::identity::StaticKeypair::generate().expect("key");
    let (mut a, mut b) = tokio::io::duplex(4096);
    let (client, server) = block_on(async {
        tokio::join!(
            smc::net::client_handshake(&mut a, &client_key, Duration::from_secs(5), |_| {
                Ok::<(), ()>(())
            }),
            smc::net::server_handshake(&mut b, server_key(), Duration::from_secs(5)),
        )
    });
    let client = client.expect("client handshake").expect("verified");
    let server = server.expect("server handshake");
    Pair {
        sealer: client.sealer,
        opener: server.opener,
    }
}

/// Runs `f` on the process's pair; `f` returns whether the pair is out of step (a frame
/// failed to open), in which case a new one is made for the next input.
fn with_pair(f: impl FnOnce(&mut Pair) -> bool) {
    static PAIR: Mutex<Option<Pair>> = Mutex::new(None);
    let mut slot = PAIR.lock().unwrap_or_else(|e| e.into_inner());
    let pair = slot.get_or_insert_with(new_pair);
    if f(pair) {
        *slot = None;
    }
}

// ---------------------------------------------------------------- channel

/// One frame of a message as a (possibly hostile) peer would send it.
#[derive(Arbitrary, Debug)]
struct Piece {
    data: Vec<u8>,
    last: bool,
    /// Flip one byte of the sealed frame (position modulo its length).
    flip: Option<(u16, u8)>,
    /// Cut the sealed frame to this many bytes.
    cut: Option<u16>,
}

/// Structure-aware: messages sealed as frames by a real sealer, some of them corrupted
/// or cut, opened by the real opener. Every message of untouched frames opens to
/// exactly what was sealed; a touched frame is an error, never a wrong message.
pub fn channel(data: &[u8]) {
    let Ok(pieces) = Vec::<Piece>::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    with_pair(|pair| {
        let mut wire = Vec::new();
        let mut expected: Vec<Vec<u8>> = Vec::new();
        let mut current = Vec::new();
        let mut clean = true;
        for piece in pieces.iter().take(64) {
            let chunk = &piece.data[..piece.data.len().min(65_518)];
            let start = wire.len();
            pair.sealer
                .seal_chunk(chunk, piece.last, &mut wire)
                .expect("a chunk within the limit seals");
            let frame = &mut wire[start..];
            if let Some((at, xor)) = piece.flip {
                if xor != 0 {
                    let at = usize::from(at) % frame.len();
                    frame[at] ^= xor;
                    clean = false;
                }
            }
            if let Some(cut) = piece.cut {
                let keep = usize::from(cut);
                if keep < wire.len() - start {
                    wire.truncate(start + keep);
                    clean = false;
                    break;
                }
            }
            if clean {
                current.extend_from_slice(chunk);
                if piece.last {
                    expected.push(std::mem::take(&mut current));
                }
            }
        }
        let mut reader = wire.as_slice();
        let mut opened = Vec::new();
        let error = block_on(async {
            loop {
                match pair
                    .opener
                    .open(&mut reader, None, Duration::from_secs(1))
                    .await
                {
                    Ok(message) => opened.push(message.to_vec()),
                    Err(e) => return e,
                }
            }
        });
        if clean {
            // Untouched frames: every complete message, in order, then the end.
            assert_eq!(opened, expected, "a sealed message did not open to itself");
            let closed = matches!(error, smc::error::NetError::Closed);
            let too_large = matches!(error, smc::error::NetError::MessageTooLarge { .. });
            assert!(closed || too_large, "clean frames failed: {error}");
            too_large
        } else {
            // Whatever opened before the damage is a prefix of what was sealed.
            assert!(
                opened.len() <= expected.len(),
                "a damaged stream yielded extra messages"
            );
            for (got, want) in opened.iter().zip(&expected) {
                assert_eq!(got, want, "a damaged stream yielded a wrong message");
            }
            true
        }
    });
}

// ---------------------------------------------------------------- protocol values

/// Decodes `T`; when it decodes, its encoding decodes to the same value.
fn round_trip<T>(data: &[u8]) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let value: T = smc::proto::decode(data).ok()?;
    let again: T =
        smc::proto::decode(&smc::proto::encode(&value)).expect("an encoded value decodes again");
    assert_eq!(
        value, again,
        "a value changed in an encode/decode round trip"
    );
    Some(value)
}

/// What a client sends, as the server decodes it; the names it carries go through
/// the server's name check (which must refuse or accept, never panic).
pub fn client_frame(data: &[u8]) {
    if let Some(frame) = round_trip::<smc::proto::ClientFrame>(data) {
        let text = format!("{:?}", frame.request);
        let _ = smc::proto::check_name(&text);
        let _ = smc::proto::skeletons(&text);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = smc::proto::check_name(text);
        let _ = smc::proto::look_alike(text, "alice");
    }
}

/// What a server sends, as the client decodes it.
pub fn server_frame(data: &[u8]) {
    let _ = round_trip::<smc::proto::ServerFrame>(data);
}

/// What travels in a message's payload: envelopes, the sealed plaintext, the Welcome
/// box, and the MLS messages and key packages inside them (openmls's decoders and the
/// server's key-package check).
pub fn envelopes(data: &[u8]) {
    use openmls::prelude::tls_codec::Deserialize as _;
    let _ = round_trip::<smc::proto::Envelope>(data);
    let _ = round_trip::<smc::proto::DirectEnvelope>(data);
    if let Some(sealed) = smc::e2e::sealed::Sealed::decode(data) {
        assert_eq!(
            smc::e2e::sealed::Sealed::decode(&sealed.encode()),
            Some(sealed)
        );
    }
    if let Some(welcome) = smc::e2e::sealed::WelcomeBox::decode(data) {
        assert_eq!(
            smc::e2e::sealed::WelcomeBox::decode(&welcome.encode()),
            Some(welcome.clone())
        );
        let _ = openmls::prelude::MlsMessageIn::tls_deserialize_exact(&welcome.welcome);
    }
    let _ = openmls::prelude::MlsMessageIn::tls_deserialize_exact(data);
    let _ = smc::fuzzing::check_key_package(data, "alice");
}

// ---------------------------------------------------------------- legacy

/// The legacy wire format's parsers and the cipher, on any text: a reply parsed back,
/// `process_response` (which crashed the original on bad input), the log parser, and
/// the cipher's decryption of any text (and its round trip on what it encrypts).
pub fn legacy_wire(data: &[u8]) {
    use smc::legacy::wire;
    let text = String::from_utf8_lossy(data);
    let (head, tail) = text.split_at(
        text.char_indices()
            .nth(text.chars().count() / 2)
            .map_or(text.len(), |(i, _)| i),
    );
    if let Some(reply) = wire::parse_reply(&text) {
        assert!(!reply.ciphertext.contains(','));
    }
    for messager in [0, 1, i64::MAX] {
        let (printed, next) = wire::process_response(head, tail, messager);
        assert!(next == messager || (next == messager.saturating_add(1) && printed.is_some()));
        let _ = wire::process_response(&text, &text, messager);
    }
    let lines = wire::list_log(&text);
    let _ = wire::str_log(&lines);
    let reply = wire::reply_from_line(data);
    assert_eq!(reply.len(), data.len());
    let key = smc::legacy::Key::ORIGINAL;
    let _ = key.decrypt(&text);
    if let Ok(cipher) = key.encrypt(&text) {
        // The originals' law: a character encrypts by its first place in the table, so
        // the four late entries (è ç à ,) come back as the first four (a z e r).
        let expected: String = text
            .chars()
            .map(|c| match c {
                'è' => 'a',
                'ç' => 'z',
                'à' => 'e',
                ',' => 'r',
                c => c,
            })
            .collect();
        assert_eq!(key.decrypt(&cipher), Ok(expected), "crypt then decrypt");
    }
}

/// A byte stream scripted for a reader: `Some(bytes)` arrives at once, `None` is a
/// pause (the peer waits for the reply), then the end of the stream. Writes are kept.
struct Script {
    chunks: std::collections::VecDeque<Option<Vec<u8>>>,
    written: Vec<u8>,
    paused: bool,
}

impl Script {
    fn new(chunks: Vec<Option<Vec<u8>>>) -> Script {
        Script {
            chunks: chunks.into(),
            written: Vec::new(),
            paused: false,
        }
    }
}

impl tokio::io::AsyncRead for Script {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let paused = self.paused;
        match self.chunks.front_mut() {
            None => Poll::Ready(Ok(())),
            Some(None) if !paused => {
                // A pause: not ready now, ready again at the next poll.
                self.paused = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some(None) => {
                self.paused = false;
                self.chunks.pop_front();
                self.poll_read(cx, buf)
            }
            Some(Some(bytes)) => {
                let n = bytes.len().min(buf.remaining());
                buf.put_slice(&bytes[..n]);
                bytes.drain(..n);
                if bytes.is_empty() {
                    self.chunks.pop_front();
                }
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl tokio::io::AsyncWrite for Script {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.written.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// The legacy server's per-connection reader on a scripted client: messages and pauses
/// in any order, cut anywhere. Whatever it is sent, the session ends cleanly and
/// `log.txt` holds only lines the client sent (valid UTF-8, no line break), one per
/// message it answered.
pub fn legacy_session(data: &[u8]) {
    let Ok(chunks) = Vec::<Option<Vec<u8>>>::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let dir = scratch("legacy");
    let _ = std::fs::remove_file(dir.join("log.txt"));
    let log = Mutex::new(smc::legacy::log::MessageLog::open(&dir).expect("log"));
    let mut stream = Script::new(chunks.into_iter().take(32).collect());
    let answered = std::cell::Cell::new(0usize);
    let _end = block_on(smc::legacy::server::serve_stream(
        &mut stream,
        &log,
        Duration::from_secs(5),
        || answered.set(answered.get() + 1),
    ));
    drop(log);
    let logged = std::fs::read(dir.join("log.txt")).unwrap_or_default();
    let text = std::str::from_utf8(&logged).expect("log.txt holds only UTF-8");
    assert_eq!(
        text.lines().count(),
        answered.get(),
        "one line per answered message"
    );
    assert!(!text.contains('\r'));
}

// ---------------------------------------------------------------- config

/// The `smc` program's config file: any text is a config or a clear error.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = smc_cli::fuzzing::parse_config(text);
    }
}

// ---------------------------------------------------------------- the C ABI

mod c_abi;
pub use c_abi::c_abi;

// ---------------------------------------------------------------- a hostile client

mod server_requests;
pub use server_requests::server_requests;
