//! Linking a new device: the one-time code and the exchange it authenticates.
//!
//! The device in use shows a code such as `7KQ2-M9XD-3HFA-W8RT`; the person types it on
//! the new device. The code's first group (the *slot*) tells the server which offer the
//! new device answers; the rest (60 bits, the *secret*) never leaves the two devices:
//! it is the password of a SPAKE2 exchange (the RustCrypto `spake2` crate) whose
//! messages the server relays. Both sides derive a key from it that the server cannot
//! compute, and seal to each other with it:
//!
//! 1. the device in use starts an [`Offer`] and publishes its SPAKE2 message;
//! 2. the new device ([`Joiner::join`]) answers with its own SPAKE2 message and, sealed,
//!    the keys it asks to have vouched for ([`DeviceKeys`]);
//! 3. the device in use finishes ([`Offer::accept`]): a wrong code (mistyped, guessed,
//!    or a server's attempt) fails to open, and the offer is spent either way;
//! 4. it issues the certificate and seals a [`LinkGrant`] back
//!    ([`Accepted::seal_grant`]), which only the code's holder opens
//!    ([`Joiner::open_grant`]).
//!
//! A guess costs the guesser the offer: one guess per code, and each code expires after
//! [`CODE_LIFETIME`]. Every run has fresh SPAKE2 secrets, so nothing of one run (a
//! replayed answer or grant) opens in another.

use std::time::{Duration, Instant};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use serde::{Deserialize, Serialize};
use spake2::{Ed25519Group, Identity, Password, Spake2};
use zeroize::{Zeroize, Zeroizing};

use super::device::{DeviceCertificate, DeviceKeys};
use crate::error::LinkError;

/// How long a code may be used after it is shown, at most.
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// The letters of a code: Crockford's base 32 (no I, L, O or U to misread).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Letters of the slot (20 bits).
const SLOT_LEN: usize = 4;
/// Letters of the secret (60 bits).
const SECRET_LEN: usize = 12;

/// The two sides' names in the SPAKE2 exchange.
const SIDE_IN_USE: &[u8] = b"smc link v1: device in use";
const SIDE_NEW: &[u8] = b"smc link v1: new device";

/// A one-time link code: a slot (the server sees it) and a secret (it never does).
pub(crate) struct LinkCode {
    slot: String,
    secret: Zeroizing<String>,
}

impl std::fmt::Debug for LinkCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LinkCode({}-…)", self.slot)
    }
}

impl LinkCode {
    /// A new random code.
    pub(crate) fn generate() -> Result<LinkCode, LinkError> {
        let mut bytes = Zeroizing::new([0u8; SLOT_LEN + SECRET_LEN]);
        getrandom::fill(bytes.as_mut()).map_err(|e| LinkError::Random(e.to_string()))?;
        let letter = |b: &u8| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]);
        Ok(LinkCode {
            slot: bytes[..SLOT_LEN].iter().map(letter).collect(),
            secret: Zeroizing::new(bytes[SLOT_LEN..].iter().map(letter).collect()),
        })
    }

    /// A code as a person typed it: any case, with or without dashes and spaces, an
    /// O read as 0 and an I or L as 1.
    pub(crate) fn parse(text: &str) -> Result<LinkCode, LinkError> {
        let mut letters = Zeroizing::new(String::new());
        for c in text.chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
                _ => {
                    return Err(LinkError::BadCode(
                        "a code has only letters, digits and dashes",
                    ))
                }
            };
            letters.push(c);
        }
        if letters.len() != SLOT_LEN + SECRET_LEN {
            return Err(LinkError::BadCode("a code has 16 letters and digits"));
        }
        Ok(LinkCode {
            slot: letters[..SLOT_LEN].to_owned(),
            secret: Zeroizing::new(letters[SLOT_LEN..].to_owned()),
        })
    }

    /// The slot: what the server knows of the code, to pair the two devices.
    pub(crate) fn slot(&self) -> &str {
        &self.slot
    }

    /// The code to show the person, in groups of four: `SLOT-XXXX-XXXX-XXXX`.
    pub(crate) fn reveal(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(self.slot.clone());
        for group in self.secret.as_bytes().chunks(4) {
            out.push('-');
            out.push_str(std::str::from_utf8(group).unwrap_or_default());
        }
        out
    }

    /// The SPAKE2 password: the secret, bound to the person and the slot.
    fn password(&self, user: &str) -> Password {
        let mut bytes = Zeroizing::new(Vec::new());
        for part in [user, &self.slot, &self.secret] {
            bytes.extend_from_slice(part.as_bytes());
            bytes.push(0);
        }
        Password::new(bytes.as_slice())
    }
}

/// What the device in use sends back sealed: its identity key's certificate for the
/// new device, and whether the rooms' history follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LinkGrant {
    /// The new device's certificate.
    pub(crate) certificate: DeviceCertificate,
    /// Whether the device in use will send the rooms' history, sealed for it.
    pub(crate) history: bool,
}

/// The new device's answer as the server relays it.
#[derive(Serialize, Deserialize)]
struct Answer {
    #[serde(with = "serde_bytes")]
    spake: Vec<u8>,
    #[serde(with = "serde_bytes")]
    sealed: Vec<u8>,
}

/// The two keys of a run, one per direction, from the SPAKE2 key.
struct Keys {
    request: Zeroizing<[u8; 32]>,
    grant: Zeroizing<[u8; 32]>,
}

impl Keys {
    fn derive(shared: Vec<u8>) -> Result<Keys, LinkError> {
        let shared = Zeroizing::new(shared);
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(None, &shared);
        let mut keys = Keys {
            request: Zeroizing::new([0; 32]),
            grant: Zeroizing::new([0; 32]),
        };
        hkdf.expand(b"smc link v1: request", keys.request.as_mut())
            .and_then(|()| hkdf.expand(b"smc link v1: grant", keys.grant.as_mut()))
            .map_err(|e| LinkError::Malformed(e.to_string()))?;
        Ok(keys)
    }
}

/// Seals `plaintext` under `key` (used once: one message per key and run, so the
/// nonce is fixed), bound to the person and the slot.
fn seal(key: &[u8; 32], context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, LinkError> {
    ChaCha20Poly1305::new(key.into())
        .encrypt(
            &Default::default(),
            Payload {
                msg: plaintext,
                aad: context,
            },
        )
        .map_err(|_| LinkError::Malformed("sealing failed".into()))
}

/// Opens what [`seal`] made; anything else (another key: a wrong code) is
/// [`LinkError::WrongCode`].
fn open(key: &[u8; 32], context: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, LinkError> {
    ChaCha20Poly1305::new(key.into())
        .decrypt(
            &Default::default(),
            Payload {
                msg: sealed,
                aad: context,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| LinkError::WrongCode)
}

/// What both sides bind their sealed messages to.
fn context(user: &str, slot: &str) -> Vec<u8> {
    [user.as_bytes(), b"\0", slot.as_bytes()].concat()
}

/// The device in use's side of one run, from showing the code to accepting an answer.
pub(crate) struct Offer {
    spake: Spake2<Ed25519Group>,
    context: Vec<u8>,
    expires: Instant,
}

impl std::fmt::Debug for Offer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Offer(..)")
    }
}

impl Offer {
    /// Starts a run for `user` with `code`, valid for `lifetime` (at most
    /// [`CODE_LIFETIME`]): the offer, and the message the server keeps for the new
    /// device.
    pub(crate) fn start(user: &str, code: &LinkCode, lifetime: Duration) -> (Offer, Vec<u8>) {
        let (spake, message) = Spake2::<Ed25519Group>::start_a(
            &code.password(user),
            &Identity::new(SIDE_IN_USE),
            &Identity::new(SIDE_NEW),
        );
        let offer = Offer {
            spake,
            context: context(user, code.slot()),
            expires: Instant::now() + lifetime.min(CODE_LIFETIME),
        };
        (offer, message)
    }

    /// Takes the new device's answer: what it asks to have vouched for. The offer is
    /// spent whatever the outcome; a wrong code is [`LinkError::WrongCode`].
    pub(crate) fn accept(self, answer: &[u8]) -> Result<Accepted, LinkError> {
        if Instant::now() >= self.expires {
            return Err(LinkError::Expired);
        }
        let answer: Answer =
            postcard::from_bytes(answer).map_err(|e| LinkError::Malformed(e.to_string()))?;
        let keys = Keys::derive(
            self.spake
                .finish(&answer.spake)
                .map_err(|e| LinkError::Malformed(format!("the SPAKE2 message: {e}")))?,
        )?;
        let request = open(&keys.request, &self.context, &answer.sealed)?;
        let request: DeviceKeys =
            postcard::from_bytes(&request).map_err(|e| LinkError::Malformed(e.to_string()))?;
        super::device::check_device_name(&request.name)?;
        Ok(Accepted {
            request,
            keys,
            context: self.context,
        })
    }
}

/// An answer that opened: the new device holds the code.
pub(crate) struct Accepted {
    request: DeviceKeys,
    keys: Keys,
    context: Vec<u8>,
}

impl std::fmt::Debug for Accepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepted")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl Accepted {
    /// What the new device asks its person's identity key to vouch for.
    pub(crate) fn request(&self) -> &DeviceKeys {
        &self.request
    }

    /// Seals the grant for the new device (its certificate must vouch for exactly
    /// what it asked).
    pub(crate) fn seal_grant(self, grant: &LinkGrant) -> Result<Vec<u8>, LinkError> {
        if grant.certificate.keys != self.request {
            return Err(LinkError::Mismatch);
        }
        let mut plain =
            postcard::to_allocvec(grant).map_err(|e| LinkError::Malformed(e.to_string()))?;
        let sealed = seal(&self.keys.grant, &self.context, &plain);
        plain.zeroize();
        sealed
    }
}

/// The new device's side of one run.
pub(crate) struct Joiner {
    keys: Keys,
    context: Vec<u8>,
    user: String,
    asked: DeviceKeys,
}

impl std::fmt::Debug for Joiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joiner")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Joiner {
    /// Answers the offer `offer` (the message of [`Offer::start`], as the server
    /// relayed it) for `user` with `code`, asking for `keys` to be vouched for: the
    /// joiner, and the answer for the server to relay.
    pub(crate) fn join(
        user: &str,
        code: &LinkCode,
        offer: &[u8],
        keys: DeviceKeys,
    ) -> Result<(Joiner, Vec<u8>), LinkError> {
        super::device::check_device_name(&keys.name)?;
        let (spake, message) = Spake2::<Ed25519Group>::start_b(
            &code.password(user),
            &Identity::new(SIDE_IN_USE),
            &Identity::new(SIDE_NEW),
        );
        let keys_of_run = Keys::derive(
            spake
                .finish(offer)
                .map_err(|e| LinkError::Malformed(format!("the SPAKE2 message: {e}")))?,
        )?;
        let context = context(user, code.slot());
        let plain = Zeroizing::new(
            postcard::to_allocvec(&keys).map_err(|e| LinkError::Malformed(e.to_string()))?,
        );
        let sealed = seal(&keys_of_run.request, &context, &plain)?;
        let answer = postcard::to_allocvec(&Answer {
            spake: message,
            sealed,
        })
        .map_err(|e| LinkError::Malformed(e.to_string()))?;
        let joiner = Joiner {
            keys: keys_of_run,
            context,
            user: user.to_owned(),
            asked: keys,
        };
        Ok((joiner, answer))
    }

    /// Opens the grant: a certificate for exactly what this device asked, for its
    /// person, that verifies against the identity key it names (the key the person's
    /// other devices and contacts hold; only the code's holder could seal it).
    pub(crate) fn open_grant(self, sealed: &[u8]) -> Result<LinkGrant, LinkError> {
        let plain = open(&self.keys.grant, &self.context, sealed)?;
        let grant: LinkGrant =
            postcard::from_bytes(&plain).map_err(|e| LinkError::Malformed(e.to_string()))?;
        if grant.certificate.keys != self.asked {
            return Err(LinkError::Mismatch);
        }
        grant
            .certificate
            .verify(&self.user, &grant.certificate.identity_key)?;
        Ok(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::device::DeviceId;
    use openmls_basic_credential::SignatureKeyPair;
    use openmls_traits::types::SignatureScheme;

    fn pair() -> SignatureKeyPair {
        SignatureKeyPair::new(SignatureScheme::ED25519).unwrap()
    }

    fn new_device_keys() -> DeviceKeys {
        DeviceKeys {
            name: "laptop".into(),
            signature_key: pair().public().to_vec(),
            transport_key: [9; 32],
        }
    }

    /// The device in use's whole side, given the answer: the sealed grant.
    fn grant_for(identity: &SignatureKeyPair, offer: Offer, answer: &[u8]) -> Vec<u8> {
        let accepted = offer.accept(answer).unwrap();
        let certificate = DeviceCertificate::issue(
            identity,
            identity.public(),
            "alice",
            DeviceId::random().unwrap(),
            accepted.request().clone(),
            42,
        )
        .unwrap();
        accepted
            .seal_grant(&LinkGrant {
                certificate,
                history: true,
            })
            .unwrap()
    }

    #[test]
    fn the_holder_of_the_code_gets_a_certificate_for_exactly_its_keys() {
        let identity = pair();
        let code = LinkCode::generate().unwrap();
        let (offer, offered) = Offer::start("alice", &code, CODE_LIFETIME);
        // The new device gets the code as the person typed it.
        let typed = LinkCode::parse(&code.reveal().to_lowercase().replace('-', " ")).unwrap();
        let keys = new_device_keys();
        let (joiner, answer) = Joiner::join("alice", &typed, &offered, keys.clone()).unwrap();
        let grant = joiner
            .open_grant(&grant_for(&identity, offer, &answer))
            .unwrap();
        assert_eq!(grant.certificate.keys, keys);
        assert_eq!(grant.certificate.identity_key, identity.public());
        assert!(grant.history);
        grant
            .certificate
            .verify("alice", identity.public())
            .unwrap();
    }

    #[test]
    fn a_wrong_code_opens_nothing_on_either_side() {
        let code = LinkCode::generate().unwrap();
        let (offer, offered) = Offer::start("alice", &code, CODE_LIFETIME);
        // The slot is right (the server routed the answer), one letter of the secret
        // is not: what a guesser, the server included, can do.
        let mut wrong = code.reveal().to_string();
        let last = wrong.pop().unwrap();
        wrong.push(if last == '0' { '1' } else { '0' });
        let wrong = LinkCode::parse(&wrong).unwrap();
        let (_, answer) = Joiner::join("alice", &wrong, &offered, new_device_keys()).unwrap();
        assert!(matches!(offer.accept(&answer), Err(LinkError::WrongCode)));
        // The right code for another person, or another slot, is wrong too.
        let (offer, offered) = Offer::start("alice", &code, CODE_LIFETIME);
        let (_, answer) = Joiner::join("mallory", &code, &offered, new_device_keys()).unwrap();
        assert!(matches!(offer.accept(&answer), Err(LinkError::WrongCode)));
    }

    #[test]
    fn nothing_of_one_run_opens_in_another() {
        let identity = pair();
        let code = LinkCode::generate().unwrap();
        // Run 1 completes; its answer and grant are recorded by the server.
        let (offer1, offered1) = Offer::start("alice", &code, CODE_LIFETIME);
        let (joiner1, answer1) =
            Joiner::join("alice", &code, &offered1, new_device_keys()).unwrap();
        let grant1 = grant_for(&identity, offer1, &answer1);
        joiner1.open_grant(&grant1).unwrap();
        // Run 2, with the same code (a code is used once, but even so): the old
        // answer does not open at the device in use, the old grant not at the new.
        let (offer2, offered2) = Offer::start("alice", &code, CODE_LIFETIME);
        assert!(matches!(offer2.accept(&answer1), Err(LinkError::WrongCode)));
        let (joiner2, _) = Joiner::join("alice", &code, &offered2, new_device_keys()).unwrap();
        assert!(matches!(
            joiner2.open_grant(&grant1),
            Err(LinkError::WrongCode)
        ));
    }

    #[test]
    fn a_grant_for_other_keys_or_by_another_identity_is_refused() {
        let identity = pair();
        let code = LinkCode::generate().unwrap();
        let (offer, offered) = Offer::start("alice", &code, CODE_LIFETIME);
        let (joiner, answer) = Joiner::join("alice", &code, &offered, new_device_keys()).unwrap();
        let accepted = offer.accept(&answer).unwrap();
        // The device in use cannot seal a certificate for other keys by mistake...
        let other_keys = new_device_keys();
        let other = DeviceCertificate::issue(
            &identity,
            identity.public(),
            "alice",
            DeviceId::random().unwrap(),
            other_keys,
            0,
        )
        .unwrap();
        let grant = LinkGrant {
            certificate: other,
            history: false,
        };
        assert!(matches!(
            accepted.seal_grant(&grant),
            Err(LinkError::Mismatch)
        ));
        // ...and a grant whose certificate does not verify is refused by the new one.
        let code = LinkCode::generate().unwrap();
        let (offer, offered) = Offer::start("alice", &code, CODE_LIFETIME);
        let (joiner2, answer) = Joiner::join("alice", &code, &offered, new_device_keys()).unwrap();
        let accepted = offer.accept(&answer).unwrap();
        let mut certificate = DeviceCertificate::issue(
            &identity,
            identity.public(),
            "alice",
            DeviceId::random().unwrap(),
            accepted.request().clone(),
            0,
        )
        .unwrap();
        certificate.signature[0] ^= 1;
        let sealed = accepted
            .seal_grant(&LinkGrant {
                certificate,
                history: false,
            })
            .unwrap();
        assert!(matches!(
            joiner2.open_grant(&sealed),
            Err(LinkError::Device(_))
        ));
        drop(joiner);
    }

    #[test]
    fn an_expired_offer_accepts_nothing() {
        let code = LinkCode::generate().unwrap();
        let (offer, offered) = Offer::start("alice", &code, Duration::ZERO);
        let (_, answer) = Joiner::join("alice", &code, &offered, new_device_keys()).unwrap();
        assert!(matches!(offer.accept(&answer), Err(LinkError::Expired)));
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let code = LinkCode::generate().unwrap();
        for junk in [&b""[..], b"\x00", &[0xff; 33], &[0x42; 40]] {
            let (offer, _) = Offer::start("alice", &code, CODE_LIFETIME);
            assert!(offer.accept(junk).is_err());
            assert!(Joiner::join("alice", &code, junk, new_device_keys()).is_err());
        }
    }

    #[test]
    fn codes_parse_as_people_type_them_and_nothing_else() {
        let code = LinkCode::generate().unwrap();
        let shown = code.reveal();
        assert_eq!(shown.len(), 19);
        assert_eq!(LinkCode::parse(&shown).unwrap().reveal(), shown);
        let o_for_zero = LinkCode::parse("O1IL-0000-0000-0000").unwrap();
        assert_eq!(o_for_zero.reveal().as_str(), "0111-0000-0000-0000");
        for bad in [
            "",
            "ABCD",
            "ABCD-EFGH-JKMN-PQRSX",
            "ABCD-EFGH-JKMN-PQRU",
            "ÀBCD-EFGH-JKMN-PQRS",
        ] {
            assert!(LinkCode::parse(bad).is_err(), "{bad:?}");
        }
        // The secret is not in what Debug prints.
        assert!(!format!("{code:?}").contains(&shown[5..9]));
    }
}
