//! End-to-end encryption costs (issue 5), printed as figures:
//!
//! - `throughput`: MLS application messages encrypted by one member and decrypted by
//!   another (openmls + the RustCrypto provider + the SQLite storage the client uses,
//!   in memory), 100-byte and 4 KiB texts;
//! - `commit`: time for each member of a 50-member group to process one commit (an
//!   update with a path, the costliest ordinary change);
//! - `state`: the client's state size per room (real clients, real server, files on
//!   disk).
//!
//! - `limits`: how costs grow with the room (2, 10, 100, 1,000 members: adding them,
//!   joining, one commit created and processed, the group's state in a member's
//!   storage) and with the message (100 B to 1 MiB: encrypt, decrypt, size on the wire).
//!
//! `cargo bench --bench e2e [-- throughput|commit|limits|state]`. The one-way latency with
//! encryption is `cargo bench --bench v2_net -- latency` (its clients encrypt).
//! `SMC_BENCH_QUICK=1` runs every part in a tiny configuration, only to show that the
//! bench still runs (scripts/test.sh does; those figures mean nothing).
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::path::Path;
use std::time::{Duration, Instant};

use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::RustCrypto;
use rusqlite::Connection;
use smc::e2e::group::{create_config, from_bytes, join_config, CIPHERSUITE};
use smc::e2e::provider::{migrate, Provider};
use smc::{Client, Server, ServerConfig};

/// `full`, or `tiny` with SMC_BENCH_QUICK set.
fn scaled(full: usize, tiny: usize) -> usize {
    if std::env::var_os("SMC_BENCH_QUICK").is_some() {
        tiny
    } else {
        full
    }
}

/// One member: its storage (in memory), crypto and signature key.
struct Member {
    conn: Connection,
    crypto: RustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
}

impl Member {
    fn new(name: &str) -> Member {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
        let credential = CredentialWithKey {
            credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
            signature_key: signer.public().into(),
        };
        let m = Member {
            conn,
            crypto: RustCrypto::default(),
            signer,
            credential,
        };
        m.signer.store(m.provider().storage()).unwrap();
        m
    }

    fn provider(&self) -> Provider<'_> {
        Provider::new(&self.crypto, &self.conn)
    }

    fn key_package(&self) -> KeyPackage {
        KeyPackage::builder()
            .build(
                CIPHERSUITE,
                &self.provider(),
                &self.signer,
                self.credential.clone(),
            )
            .unwrap()
            .key_package()
            .clone()
    }
}

/// A group of `n` members created by the first, everyone joined.
fn group(n: usize) -> (Vec<Member>, Vec<MlsGroup>) {
    let members: Vec<Member> = (0..n).map(|i| Member::new(&format!("m{i}"))).collect();
    let owner = &members[0];
    let mut first = MlsGroup::new(
        &owner.provider(),
        &owner.signer,
        &create_config(),
        owner.credential.clone(),
    )
    .unwrap();
    let mut groups = Vec::new();
    if n > 1 {
        let packages: Vec<KeyPackage> = members[1..].iter().map(|m| m.key_package()).collect();
        let (_, welcome, _) = first
            .add_members(&owner.provider(), &owner.signer, &packages)
            .unwrap();
        first.merge_pending_commit(&owner.provider()).unwrap();
        let welcome = welcome.tls_serialize_detached().unwrap();
        for m in &members[1..] {
            let MlsMessageBodyIn::Welcome(w) = from_bytes(&welcome).unwrap().extract() else {
                panic!("welcome")
            };
            let staged =
                StagedWelcome::new_from_welcome(&m.provider(), &join_config(true), w, None)
                    .unwrap();
            groups.push(staged.into_group(&m.provider()).unwrap());
        }
    }
    groups.insert(0, first);
    (members, groups)
}

/// The floor under a message's cost: the Ed25519 signature its sender makes and its
/// recipient verifies (same provider), per message of `size` bytes.
fn signature_floor(member: &Member, size: usize, n: usize) -> (Duration, Duration) {
    use openmls_traits::crypto::OpenMlsCrypto;
    use openmls_traits::signatures::Signer;
    let data = vec![b'x'; size];
    let start = Instant::now();
    let signatures: Vec<Vec<u8>> = (0..n).map(|_| member.signer.sign(&data).unwrap()).collect();
    let sign = start.elapsed();
    let start = Instant::now();
    for signature in &signatures {
        member
            .crypto
            .verify_signature(
                CIPHERSUITE.signature_algorithm(),
                &data,
                member.signer.public(),
                signature,
            )
            .unwrap();
    }
    (sign / n as u32, start.elapsed() / n as u32)
}

/// `n` application messages of `size` bytes, encrypted by member 0 and decrypted by
/// member 1: the time of each side, in all, and one message's size on the wire.
fn exchange(
    members: &[Member],
    groups: &mut [MlsGroup],
    size: usize,
    n: usize,
) -> (Duration, Duration, usize) {
    let text = vec![b'x'; size];
    let start = Instant::now();
    let mut wire = Vec::with_capacity(n);
    for _ in 0..n {
        let out = groups[0]
            .create_message(&members[0].provider(), &members[0].signer, &text)
            .unwrap();
        wire.push(out.tls_serialize_detached().unwrap());
    }
    let encrypt = start.elapsed();
    let start = Instant::now();
    for bytes in &wire {
        let message = from_bytes(bytes)
            .unwrap()
            .try_into_protocol_message()
            .unwrap();
        let processed = groups[1]
            .process_message(&members[1].provider(), message)
            .unwrap();
        assert!(matches!(
            processed.into_content(),
            ProcessedMessageContent::ApplicationMessage(_)
        ));
    }
    (encrypt, start.elapsed(), wire[0].len())
}

/// One commit (an update with a path) by member `by`, processed and merged by every
/// other member of `groups`: its creation time, each processing time, its size.
fn commit_round(
    members: &[Member],
    groups: &mut [MlsGroup],
    by: usize,
) -> (Duration, Vec<Duration>, usize) {
    let start = Instant::now();
    let bundle = groups[by]
        .self_update(
            &members[by].provider(),
            &members[by].signer,
            LeafNodeParameters::default(),
        )
        .unwrap();
    let create = start.elapsed();
    groups[by]
        .merge_pending_commit(&members[by].provider())
        .unwrap();
    let bytes = bundle.into_commit().tls_serialize_detached().unwrap();
    let mut times = Vec::new();
    for (i, (m, g)) in members.iter().zip(groups.iter_mut()).enumerate() {
        if i == by {
            continue;
        }
        let start = Instant::now();
        let message = from_bytes(&bytes)
            .unwrap()
            .try_into_protocol_message()
            .unwrap();
        let processed = g.process_message(&m.provider(), message).unwrap();
        let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
            panic!("a commit")
        };
        g.merge_staged_commit(&m.provider(), *staged).unwrap();
        times.push(start.elapsed());
    }
    (create, times, bytes.len())
}

fn throughput() {
    let (members, mut groups) = group(2);
    for size in [100usize, 4096] {
        let n = scaled(2000, 20);
        let (encrypt, decrypt, _) = exchange(&members, &mut groups, size, n);
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        println!(
            "MLS application messages of {size} B ({n}): encrypt {:.0} msg/s ({:.1} us each), decrypt {:.0} msg/s ({:.1} us each), {:.1} MiB/s of text through both",
            rate(encrypt),
            encrypt.as_secs_f64() * 1e6 / n as f64,
            rate(decrypt),
            decrypt.as_secs_f64() * 1e6 / n as f64,
            (n * size) as f64 / (encrypt + decrypt).as_secs_f64() / (1 << 20) as f64
        );
        let (sign, verify) = signature_floor(&members[0], size, n);
        println!(
            "  Ed25519 sign / verify of {size} B, same run (the floor): {:.1} us / {:.1} us; MLS encrypt / decrypt cost {:.2}x / {:.2}x of it",
            sign.as_secs_f64() * 1e6,
            verify.as_secs_f64() * 1e6,
            encrypt.as_secs_f64() / n as f64 / sign.as_secs_f64(),
            decrypt.as_secs_f64() / n as f64 / verify.as_secs_f64()
        );
    }
}

fn load() {
    let (members, groups) = group(2);
    let id = groups[1].group_id().clone();
    let n = scaled(500, 5);
    let start = Instant::now();
    for _ in 0..n {
        MlsGroup::load(members[1].provider().storage(), &id)
            .unwrap()
            .unwrap();
    }
    println!(
        "loading a 2-member group from the SQLite storage: {:.1} us",
        start.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}

fn commit() {
    let n = scaled(50, 8);
    let (members, mut groups) = group(n);
    let (create, mut times, bytes) = commit_round(&members, &mut groups, 7);
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "{n}-member room, one commit (update with path, {bytes} B): created in {:.2} ms; processed by each other member in {:.2} ms mean, {:.2} ms median, {:.2} ms max",
        create.as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3
    );
}

/// Bytes of `m`'s storage (an in-memory SQLite database).
fn storage_bytes(m: &Member) -> u64 {
    let pages: i64 = m
        .conn
        .pragma_query_value(None, "page_count", |r| r.get(0))
        .unwrap();
    let size: i64 = m
        .conn
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .unwrap();
    (pages * size) as u64
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn limits() {
    // Room sizes: everyone added at once by the first member; a few join from the
    // Welcome (the others exist in the tree only, which is what the joiners pay for).
    for (i, n) in [2usize, 10, 100, 1000].into_iter().enumerate() {
        let n = scaled(n, 2 + i);
        let joining = (n - 1).min(4);
        let members: Vec<Member> = (0..n).map(|i| Member::new(&format!("m{i}"))).collect();
        let owner = &members[0];
        let before = storage_bytes(owner);
        let packages: Vec<KeyPackage> = members[1..].iter().map(|m| m.key_package()).collect();
        let start = Instant::now();
        let mut first = MlsGroup::new(
            &owner.provider(),
            &owner.signer,
            &create_config(),
            owner.credential.clone(),
        )
        .unwrap();
        let (_, welcome, _) = first
            .add_members(&owner.provider(), &owner.signer, &packages)
            .unwrap();
        first.merge_pending_commit(&owner.provider()).unwrap();
        let add = start.elapsed();
        let welcome = welcome.tls_serialize_detached().unwrap();
        let mut groups = vec![first];
        let mut join = Duration::ZERO;
        for m in &members[1..=joining] {
            let start = Instant::now();
            let MlsMessageBodyIn::Welcome(w) = from_bytes(&welcome).unwrap().extract() else {
                panic!("welcome")
            };
            let staged =
                StagedWelcome::new_from_welcome(&m.provider(), &join_config(true), w, None)
                    .unwrap();
            groups.push(staged.into_group(&m.provider()).unwrap());
            join += start.elapsed();
        }
        let state = storage_bytes(owner).saturating_sub(before);
        // One commit by the first joiner, processed by the others who joined.
        let (create, times, bytes) = commit_round(&members[..=joining], &mut groups, 1);
        let process = times.iter().sum::<Duration>() / times.len() as u32;
        println!(
            "{n:>5} members: all added in {:.1} ms (Welcome {} B), one joins in {:.2} ms; a commit (update with path, {} B) created in {:.2} ms, processed in {:.2} ms; the group in the creator's storage: {:.1} KiB",
            millis(add),
            welcome.len(),
            millis(join) / joining as f64,
            bytes,
            millis(create),
            millis(process),
            state as f64 / 1024.0
        );
    }
    // Message sizes, in a 2-member group.
    let (members, mut groups) = group(2);
    for size in [100usize, 4096, 65536, 1 << 20] {
        let n = scaled((4 << 20) / size.max(4096), 2).clamp(2, 1000);
        let (encrypt, decrypt, wire) = exchange(&members, &mut groups, size, n);
        println!(
            "message of {size:>7} B ({n} of them): encrypt {:.1} us, decrypt {:.1} us, {wire} B on the wire",
            encrypt.as_secs_f64() * 1e6 / n as f64,
            decrypt.as_secs_f64() * 1e6 / n as f64,
        );
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn state(base: &Path) {
    let _ = std::fs::remove_dir_all(base);
    let server = Server::start(ServerConfig::new(base.join("server"), "127.0.0.1:0")).unwrap();
    let address = server.address().to_string();
    let mut alice = Client::open(base.join("alice"), "alice").unwrap();
    alice.set_auto_join(true);
    alice.connect(&address).unwrap();
    let mut bob = Client::open(base.join("bob"), "bob").unwrap();
    bob.set_auto_join(true);
    bob.connect(&address).unwrap();
    let rooms = scaled(20, 2);
    // The baseline: a home that registered and has no room (WAL checkpointed by
    // reopening, like the others below).
    let mut carol = Client::open(base.join("carol"), "carol").unwrap();
    carol.connect(&address).unwrap();
    drop(carol);
    drop(Client::open(base.join("carol"), "carol").unwrap());
    let empty = dir_size(&base.join("carol"));
    for r in 0..rooms {
        let room = format!("room{r}");
        alice.create_room(&room).unwrap();
        alice.invite(&room, "bob").unwrap();
        for i in 0..10 {
            alice
                .send(&room, &format!("message {i} of {room}, about 40 bytes"))
                .unwrap();
        }
    }
    while bob
        .recv(Some(Duration::from_millis(500)))
        .unwrap()
        .is_some()
    {}
    drop(alice);
    drop(bob);
    // Reopening checkpoints the WAL into the database file.
    drop(Client::open(base.join("alice"), "alice").unwrap());
    drop(Client::open(base.join("bob"), "bob").unwrap());
    let per_room = |home: &str| {
        (dir_size(&base.join(home)).saturating_sub(empty)) as f64 / rooms as f64 / 1024.0
    };
    println!(
        "client state: {:.1} KiB with no room; per room of 2 members with 10 messages, beyond that: {:.1} KiB (creator), {:.1} KiB (invitee)",
        empty as f64 / 1024.0,
        per_room("alice"),
        per_room("bob"),
    );
    server.stop();
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    if wants("throughput") {
        throughput();
    }
    if wants("load") {
        load();
    }
    if wants("commit") {
        commit();
    }
    if wants("limits") {
        limits();
    }
    if wants("state") {
        state(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench_e2e_state"));
    }
}
