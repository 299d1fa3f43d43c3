//! Long-term identities: static X25519 key pairs in 0600 files, their fingerprints, and
//! the client's `known_servers` pins (trust on first use, like SSH's `known_hosts`).

mod fingerprint;
mod keypair;
mod known_servers;

pub use fingerprint::fingerprint;
pub use keypair::StaticKeypair;
pub use known_servers::{KnownServers, Pin};
