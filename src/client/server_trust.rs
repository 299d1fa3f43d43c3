//! Deciding to trust a server before the first connection: its key is shown to the
//! user (or compared with a fingerprint they were given) before it is pinned.

use crate::error::ClientError;
use crate::identity::{fingerprint, Pin};

use super::connection::{runtime, Connection};
use super::Client;

/// How a server's key stands against this client's `known_servers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerTrust {
    /// No key is pinned for the address yet.
    Unknown,
    /// The key presented is the one pinned.
    Trusted,
    /// Another key is pinned for the address (its fingerprint).
    Changed {
        /// Fingerprint of the pinned key.
        pinned: String,
    },
}

/// What [`Client::probe_server`] learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerProbe {
    /// The fingerprint of the key the server presented.
    pub fingerprint: String,
    /// How it stands against the pinned key.
    pub trust: ServerTrust,
}

/// Whether two fingerprints are the same, as people type them: case, spaces, dashes
/// and colons do not matter.
pub fn same_fingerprint(a: &str, b: &str) -> bool {
    let (a, b) = (normalize(a), normalize(b));
    !a.is_empty() && a == b
}

fn normalize(fingerprint: &str) -> String {
    fingerprint
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':' && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// The fingerprint of the key the server at `address` presents, learnt without any
/// identity (a throwaway key; the handshake stops before it would be sent) and without
/// pinning anything.
pub fn probe_server(address: &str) -> Result<String, ClientError> {
    let throwaway = crate::identity::StaticKeypair::generate()?;
    let key = runtime()?.block_on(Connection::probe(address, &throwaway))?;
    Ok(fingerprint(&key))
}

impl Client {
    /// Asks the server at `address` for its key without revealing who this client is
    /// (the handshake stops before the client's identity is sent) and without pinning
    /// anything: show [`ServerProbe::fingerprint`] to the user, then
    /// [`Client::trust_server`].
    pub fn probe_server(&self, address: &str) -> Result<ServerProbe, ClientError> {
        let key = runtime()?.block_on(Connection::probe(address, &self.key))?;
        let trust = match self.known.pinned(address)? {
            None => ServerTrust::Unknown,
            Some(pinned) if pinned == key => ServerTrust::Trusted,
            Some(pinned) => ServerTrust::Changed {
                pinned: fingerprint(&pinned),
            },
        };
        Ok(ServerProbe {
            fingerprint: fingerprint(&key),
            trust,
        })
    }

    /// Pins the key of the server at `address` if its fingerprint is `expected`
    /// (compared ignoring case, spaces and colons);
    /// [`ClientError::ServerNotTrusted`] if it is another, and
    /// [`ClientError::ServerKeyChanged`] if another key is already pinned.
    pub fn trust_server(&self, address: &str, expected: &str) -> Result<(), ClientError> {
        let key = runtime()?.block_on(Connection::probe(address, &self.key))?;
        let presented = fingerprint(&key);
        if !same_fingerprint(&presented, expected) {
            return Err(ClientError::ServerNotTrusted {
                address: address.to_owned(),
                expected: expected.to_owned(),
                presented,
            });
        }
        match self.known.check_or_pin(address, &key)? {
            Pin::New | Pin::Matches => Ok(()),
            Pin::Mismatch(pinned) => Err(ClientError::ServerKeyChanged {
                address: address.to_owned(),
                pinned: fingerprint(&pinned),
                presented,
                known_servers: self.known.path().to_owned(),
            }),
        }
    }

    /// The fingerprint of the key pinned for `address`, if one is (no network).
    pub fn pinned_server(&self, address: &str) -> Result<Option<String>, ClientError> {
        Ok(self.known.pinned(address)?.map(|key| fingerprint(&key)))
    }

    /// Where the pinned server keys are kept.
    pub fn known_servers_path(&self) -> &std::path::Path {
        self.known.path()
    }

    /// The fingerprint of the server this client last connected to (also offline).
    pub fn server_fingerprint(&self) -> Option<String> {
        let hex = self.server.as_ref()?;
        let key = data_encoding::HEXLOWER.decode(hex.as_bytes()).ok()?;
        Some(fingerprint(&key))
    }

    /// The fingerprint of this user's signature key, the key the safety numbers and
    /// every end-to-end encrypted message are bound to.
    pub fn signing_fingerprint(&self) -> String {
        fingerprint(self.signer.public())
    }

    /// The rooms this client holds a group for (known locally, also offline), by name.
    pub fn joined_rooms(&self) -> Result<Vec<String>, ClientError> {
        if self.server.is_none() {
            return Ok(Vec::new());
        }
        self.transaction(|tx| tx.active_rooms())
    }
}
