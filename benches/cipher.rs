//! Throughput of the legacy cipher (target: >= 500 MB/s encrypting ASCII on one core).
//!
//! Run: `cargo bench --bench cipher`
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use smc::legacy::Key;

/// ASCII text made of table entries only, `len` bytes long.
fn ascii_text(len: usize) -> String {
    let sample = "Bonjour George, comment vas-tu ? Le rendez-vous est a 18h30 devant la gare. ";
    sample.chars().cycle().take(len).collect()
}

fn bench(c: &mut Criterion) {
    let key = Key::ORIGINAL;
    let mut group = c.benchmark_group("legacy_cipher");
    for len in [30usize, 1 << 20] {
        let text = ascii_text(len);
        let cipher = key.encrypt(&text).expect("table text");
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("encrypt_ascii", len), &text, |b, t| {
            b.iter(|| key.encrypt(t).expect("table text"))
        });
        group.bench_with_input(BenchmarkId::new("decrypt", len), &cipher, |b, t| {
            b.iter(|| key.decrypt(t).expect("ciphertext"))
        });
    }
    let french: String = "Ça c'est déjà très à la mode, où est-ce ? "
        .replace('Ç', "C")
        .chars()
        .cycle()
        .take(1 << 20)
        .collect();
    group.throughput(Throughput::Bytes(french.len() as u64));
    group.bench_function("encrypt_french_1MiB", |b| {
        b.iter(|| key.encrypt(&french).expect("table text"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
