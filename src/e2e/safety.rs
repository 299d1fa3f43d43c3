//! Safety numbers: 60 digits two people compare out of band (read aloud, or side by
//! side) to be sure that each holds the other's real key. The construction is Signal's
//! numeric fingerprint: per person, SHA-512 iterated 5200 times over a version, the
//! public signature key and the name; 30 bytes of it become 30 digits; the two halves
//! are sorted, so both sides compute the same number.

use sha2::{Digest, Sha512};

const ITERATIONS: usize = 5200;
const VERSION: [u8; 2] = [0, 0];

fn half(user: &str, key: &[u8]) -> String {
    let mut hash = Sha512::new()
        .chain_update(VERSION)
        .chain_update(key)
        .chain_update(user.as_bytes())
        .finalize();
    for _ in 0..ITERATIONS {
        hash = Sha512::new()
            .chain_update(hash)
            .chain_update(key)
            .finalize();
    }
    hash[..30]
        .chunks(5)
        .map(|c| {
            let n = c.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            format!("{:05}", n % 100_000)
        })
        .collect()
}

/// The safety number of two people (name and public signature key each), as 12
/// groups of 5 digits separated by spaces. Symmetric: `safety_number(a, b) ==
/// safety_number(b, a)`.
pub fn safety_number(a: (&str, &[u8]), b: (&str, &[u8])) -> String {
    let mut halves = [half(a.0, a.1), half(b.0, b.1)];
    halves.sort();
    let digits = halves.concat();
    digits
        .as_bytes()
        .chunks(5)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_key_dependent() {
        let n = safety_number(("alice", b"k1"), ("bob", b"k2"));
        assert_eq!(n, safety_number(("bob", b"k2"), ("alice", b"k1")));
        assert_eq!(n.len(), 60 + 11);
        assert_ne!(n, safety_number(("alice", b"k1"), ("bob", b"k3")));
        assert_ne!(n, safety_number(("alice", b"k1"), ("bobby", b"k2")));
    }
}
