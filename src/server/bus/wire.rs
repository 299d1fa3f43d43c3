//! What one node tells the others, and how it is sealed on the bus.
//!
//! Every event is encoded with postcard (as the client protocol is) and encrypted with
//! XChaCha20-Poly1305 under a key derived from the server's static private key, which
//! every node of a cluster shares (it is the identity clients pin): a random 24-byte
//! nonce, then the ciphertext and its tag. A peer on the bus without that key can
//! neither read an event (who is online, who invites whom, which room moved) nor
//! inject one; it still sees that events flow, their sizes and their times. A node
//! drops anything that does not decrypt, that does not decode, that is too old to be a
//! live event, or that it has seen already (each node numbers its events; NATS keeps
//! one publisher's order, so a number not above the last one seen from that node is a
//! replay: [`Replays`]).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::proto::Envelope;

/// Events older than this (by the sender's clock) are dropped as replays; clocks of
/// nodes must agree within it (NTP does far better).
pub(crate) const MAX_AGE_MS: i64 = 120_000;

/// The random nonce in front of every event.
const NONCE: usize = 24;

/// The AEAD's tag after the ciphertext.
const TAG: usize = 16;

/// Bound into every event's tag: bytes sealed for another purpose never open here.
const AAD: &[u8] = b"smc cluster bus event v2";

/// The start of a session, for the per-user limit on sessions across nodes: the
/// newest `max_sessions_per_user` sessions of a user, by this key, are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct SessionKey {
    /// When it began (ms since the Unix epoch, the node's clock).
    pub opened_ms: i64,
    /// The node that holds it.
    pub node: u64,
    /// Its id on that node.
    pub id: u64,
}

/// A per-user rate shared by the nodes ([`crate::server::rate::UserRates`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Limit {
    /// Direct deliveries sent, per sender.
    Directs,
    /// Key packages fetched, per requester.
    Fetches,
    /// One-use key packages handed out, per owner.
    OneUse,
    /// One-use key packages of one owner handed to one requester (key: owner, NUL,
    /// requester).
    OneUsePair,
    /// File chunks uploaded, per uploader.
    Chunks,
}

/// What happened on one node that the others act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum BusEvent {
    /// A message was committed; `left` are the members its group change removed.
    Message {
        envelope: Envelope,
        left: Vec<String>,
    },
    /// Direct delivery `id` waits in the store for `user` (pulled by its sessions).
    Direct { user: String, id: u64 },
    /// `user` was invited to `room` by `by`.
    Invited {
        user: String,
        room: String,
        by: String,
    },
    /// `user` is now a member of `room`.
    Joined { room: String, user: String },
    /// `user` is no longer a member of `room`.
    Left { room: String, user: String },
    /// `user`'s name was released and taken over: none of its memberships hold.
    Forget { user: String },
    /// A session of `user` began.
    SessionOpened { user: String, key: SessionKey },
    /// A session of `user` ended.
    SessionClosed { user: String, key: SessionKey },
    /// `user` spent one unit of a shared rate (sent by earlier versions; applied as
    /// one unit, and not repaired when lost: [`BusEvent::Spending`] replaced it).
    Spent { limit: Limit, user: String },
    /// These sessions are still open on the sending node (said of every session every
    /// [`super::SWEEP`], in chunks): a lost `SessionOpened` is made up for, and a
    /// session no node speaks of any more (its `SessionClosed` lost, or its node dead)
    /// is forgotten.
    Sessions { open: Vec<(String, SessionKey)> },
    /// What the sending node has spent of a shared rate, per key: sent `live` at each
    /// unit spent (with that key alone), and every [`super::SWEEP`] for every key whose
    /// bucket has not refilled (in chunks). Totals, not increments: a receiver charges
    /// what it had not heard of yet, so a lost event is made up for by the next one.
    Spending {
        limit: Limit,
        live: bool,
        spends: Vec<Spending>,
    },
    /// `user` revoked their device with this transport key: every node closes its
    /// sessions at once (the store refuses it from then on, whichever node it tries).
    DeviceRevoked {
        user: String,
        transport_key: Vec<u8>,
    },
}

/// What one node spent of one key's rate since its bucket for that key was last full
/// (an "episode": the bucket holds no trace of anything spent before).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Spending {
    /// The user (or the pair, for [`Limit::OneUsePair`]).
    pub key: String,
    /// When the episode began (ms since the Unix epoch, the sending node's clock).
    pub since_ms: i64,
    /// Units spent through the sending node since then.
    pub units: u32,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    node: u64,
    number: u64,
    sent_ms: i64,
    event: BusEvent,
}

/// An authenticated event as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Received {
    /// The node that sent it.
    pub node: u64,
    /// Its number among that node's events (from 1, increasing).
    pub number: u64,
    /// When it was sent (the sender's clock).
    pub sent_ms: i64,
    /// The event.
    pub event: BusEvent,
}

/// Why an event from the bus was dropped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum WireError {
    /// Shorter than a nonce and a tag, or the tag does not verify (not from a node of
    /// this cluster, or altered).
    #[error("not authenticated by this cluster's key")]
    Unauthenticated,
    /// Authenticated but not an event this version knows.
    #[error("malformed event: {0}")]
    Malformed(String),
    /// Sent longer ago than [`MAX_AGE_MS`] (or far in the future).
    #[error("stale event ({age_ms} ms old)")]
    Stale {
        /// How old, by this node's clock.
        age_ms: i64,
    },
    /// Sent before this node started.
    #[error("sent before this node started")]
    BeforeStart,
    /// An event of a node whose later event was seen already.
    #[error("replayed event (number {number} of a node already past it)")]
    Replayed {
        /// Its number.
        number: u64,
    },
}

/// The last event number seen from each node (the replay check), forgetting nodes
/// silent for longer than [`MAX_AGE_MS`] (anything they sent before is refused as
/// stale anyway). Events sent before this node started are refused too: it has no
/// numbers for them (a just-restarted node would otherwise take a replay of anything
/// from the last [`MAX_AGE_MS`]), and what happened before its start it read from the
/// store.
#[derive(Debug)]
pub(crate) struct Replays {
    last: std::collections::HashMap<u64, (u64, i64)>,
    started_ms: i64,
}

impl Replays {
    /// The check of a node started at `started_ms`.
    pub(crate) fn since(started_ms: i64) -> Replays {
        Replays {
            last: std::collections::HashMap::new(),
            started_ms,
        }
    }

    /// Accepts `received` if it comes after this node started and after everything
    /// seen from its node.
    pub(crate) fn check(&mut self, received: &Received, now_ms: i64) -> Result<(), WireError> {
        if received.sent_ms < self.started_ms {
            return Err(WireError::BeforeStart);
        }
        if self.last.len() > 1024 {
            self.last
                .retain(|_, (_, seen_ms)| now_ms.saturating_sub(*seen_ms) <= MAX_AGE_MS);
        }
        let last = self.last.entry(received.node).or_insert((0, now_ms));
        if received.number <= last.0 {
            return Err(WireError::Replayed {
                number: received.number,
            });
        }
        *last = (received.number, now_ms);
        Ok(())
    }
}

/// The cluster's bus key, derived from the server's static private key (the derived
/// bytes are wiped right after the cipher is keyed).
#[derive(Clone)]
pub(crate) struct BusKey(XChaCha20Poly1305);

impl std::fmt::Debug for BusKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BusKey(..)")
    }
}

impl BusKey {
    /// HKDF-SHA256 of the server's private key, for this one purpose (`None` only if
    /// the primitives refuse their fixed sizes, which they do not).
    pub(crate) fn derive(server_private: &[u8; 32]) -> Option<BusKey> {
        let mut key = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(b"smc cluster bus v2"), server_private)
            .expand(b"event encryption", key.as_mut())
            .ok()?;
        let cipher = XChaCha20Poly1305::new_from_slice(key.as_ref()).ok()?;
        Some(BusKey(cipher))
    }

    /// The sealed bytes of `event`, the `number`th sent by `node`, at `now_ms`
    /// (`None` only if the system's random source fails).
    pub(crate) fn seal(
        &self,
        node: u64,
        number: u64,
        now_ms: i64,
        event: BusEvent,
    ) -> Option<Vec<u8>> {
        let body = Zeroizing::new(crate::proto::encode(&Wire {
            node,
            number,
            sent_ms: now_ms,
            event,
        }));
        let mut nonce = [0u8; NONCE];
        getrandom::fill(&mut nonce).ok()?;
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &body,
                    aad: AAD,
                },
            )
            .ok()?;
        let mut out = Vec::with_capacity(NONCE + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Some(out)
    }

    /// The event, if `bytes` are authentic and fresh at `now_ms` (whether it is a
    /// replay is [`Replays`]' to say).
    pub(crate) fn open(&self, bytes: &[u8], now_ms: i64) -> Result<Received, WireError> {
        if bytes.len() < NONCE + TAG {
            return Err(WireError::Unauthenticated);
        }
        let (nonce, sealed) = bytes.split_at(NONCE);
        let body = Zeroizing::new(
            self.0
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: AAD,
                    },
                )
                .map_err(|_| WireError::Unauthenticated)?,
        );
        let wire: Wire =
            crate::proto::decode(&body).map_err(|e| WireError::Malformed(e.to_string()))?;
        let age_ms = now_ms.saturating_sub(wire.sent_ms);
        if !(-MAX_AGE_MS..=MAX_AGE_MS).contains(&age_ms) {
            return Err(WireError::Stale { age_ms });
        }
        Ok(Received {
            node: wire.node,
            number: wire.number,
            sent_ms: wire.sent_ms,
            event: wire.event,
        })
    }

    /// Sealed bytes whose content is not a [`Wire`] event (tests of the decoding).
    #[cfg(test)]
    fn seal_raw(&self, body: &[u8]) -> Vec<u8> {
        let nonce = [9u8; NONCE];
        let mut out = nonce.to_vec();
        out.extend(
            self.0
                .encrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: body,
                        aad: AAD,
                    },
                )
                .unwrap(),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    impl BusKey {
        fn seal_ok(&self, node: u64, number: u64, now_ms: i64, event: BusEvent) -> Vec<u8> {
            self.seal(node, number, now_ms, event).unwrap()
        }
    }

    fn event() -> BusEvent {
        BusEvent::Joined {
            room: "r".into(),
            user: "alice".into(),
        }
    }

    #[test]
    fn an_event_opens_with_the_same_key_only() {
        let key = BusKey::derive(&[7; 32]).unwrap();
        let sealed = key.seal_ok(42, 1, NOW, event());
        let received = key.open(&sealed, NOW + 5).unwrap();
        assert_eq!((received.node, received.number), (42, 1));
        assert_eq!(received.event, event());
        let other = BusKey::derive(&[8; 32]).unwrap();
        assert_eq!(other.open(&sealed, NOW), Err(WireError::Unauthenticated));
    }

    #[test]
    fn altered_short_stale_and_malformed_events_are_refused() {
        let key = BusKey::derive(&[7; 32]).unwrap();
        let sealed = key.seal_ok(1, 1, NOW, event());
        for i in [0, NONCE, NONCE + TAG, sealed.len() - 1] {
            let mut altered = sealed.clone();
            altered[i] ^= 1;
            assert_eq!(key.open(&altered, NOW), Err(WireError::Unauthenticated));
        }
        assert_eq!(
            key.open(&sealed[..NONCE + TAG - 1], NOW),
            Err(WireError::Unauthenticated)
        );
        assert!(matches!(
            key.open(&sealed, NOW + MAX_AGE_MS + 1),
            Err(WireError::Stale { .. })
        ));
        assert!(matches!(
            key.open(&sealed, NOW - MAX_AGE_MS - 1),
            Err(WireError::Stale { .. })
        ));
        // Authentic bytes that are not an event.
        let junk = key.seal_raw(b"\xff\xff\xff");
        assert!(matches!(key.open(&junk, NOW), Err(WireError::Malformed(_))));
    }

    #[test]
    fn an_event_shows_nothing_of_its_content_on_the_bus() {
        let key = BusKey::derive(&[7; 32]).unwrap();
        let event = BusEvent::Invited {
            user: "bob-the-invitee".into(),
            room: "secret-plans".into(),
            by: "alice-the-inviter".into(),
        };
        let sealed = key.seal_ok(1, 1, NOW, event.clone());
        for word in ["bob-the-invitee", "secret-plans", "alice-the-inviter"] {
            assert!(
                !sealed.windows(word.len()).any(|w| w == word.as_bytes()),
                "{word} readable on the bus"
            );
        }
        // The same event twice: different bytes (a fresh nonce each time).
        assert_ne!(sealed, key.seal_ok(1, 1, NOW, event.clone()));
        assert_eq!(key.open(&sealed, NOW).unwrap().event, event);
    }

    #[test]
    fn an_event_seen_already_is_a_replay() {
        let key = BusKey::derive(&[7; 32]).unwrap();
        let mut replays = Replays::since(NOW - 1000);
        let first = key.open(&key.seal_ok(1, 1, NOW, event()), NOW).unwrap();
        let second = key.open(&key.seal_ok(1, 2, NOW, event()), NOW).unwrap();
        let other_node = key.open(&key.seal_ok(2, 1, NOW, event()), NOW).unwrap();
        assert_eq!(replays.check(&first, NOW), Ok(()));
        assert_eq!(replays.check(&second, NOW), Ok(()));
        assert_eq!(replays.check(&other_node, NOW), Ok(()));
        assert_eq!(
            replays.check(&first, NOW),
            Err(WireError::Replayed { number: 1 })
        );
        assert!(replays.check(&second, NOW).is_err());
        // Captured before this node (re)started: refused, whatever its number.
        let older = key
            .open(&key.seal_ok(3, 1, NOW - 2000, event()), NOW)
            .unwrap();
        assert_eq!(replays.check(&older, NOW), Err(WireError::BeforeStart));
    }
}
