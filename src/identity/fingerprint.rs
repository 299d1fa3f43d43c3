//! Short, human-comparable fingerprints of public keys.

use data_encoding::BASE32_NOPAD;
use sha2::{Digest, Sha256};

/// Domain separation: a fingerprint is never the hash of anything else.
const DOMAIN: &[u8] = b"smc fingerprint v1\0";

/// The fingerprint of a public key: the first 160 bits of SHA-256 over a domain tag and
/// the key, in base32, as eight groups of four characters
/// (e.g. `"K7QX 2MPA ..."`). Two people compare it aloud or side by side.
pub fn fingerprint(public_key: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(DOMAIN)
        .chain_update(public_key)
        .finalize();
    let text = BASE32_NOPAD.encode(&digest[..20]);
    let groups: Vec<&str> = (0..text.len())
        .step_by(4)
        .map(|i| &text[i..(i + 4).min(text.len())])
        .collect();
    groups.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_groups_of_four_and_key_sensitive() {
        let a = fingerprint(&[1u8; 32]);
        let b = fingerprint(&[2u8; 32]);
        assert_eq!(a.split(' ').count(), 8);
        assert!(a.split(' ').all(|g| g.len() == 4));
        assert_ne!(a, b);
        assert_eq!(a, fingerprint(&[1u8; 32]));
    }
}
