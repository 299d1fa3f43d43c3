//! Long-term identities: static X25519 key pairs in 0600 files, their fingerprints, the
//! client's `known_servers` pins (trust on first use, like SSH's `known_hosts`), a
//! person's devices and the code that links a new one.

pub mod device;
mod fingerprint;
mod keypair;
mod known_servers;
// The exchange is complete and tested; the server's relay and the clients' `link_code`
// and `link` that drive it are the next steps of linked devices (issue 30).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod link;

pub use fingerprint::fingerprint;
pub use keypair::StaticKeypair;
pub use known_servers::{KnownServers, Pin};
