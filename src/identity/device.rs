//! Device certificates: a person's identity key vouching for one of their devices.
//!
//! A person (a user name) has one Ed25519 identity key: the MLS signature key of the
//! home they first registered with (an existing home's key becomes its identity key
//! unchanged, so safety numbers, which are computed from it, do not change). Each
//! further device has its own MLS signature key and its own transport (Noise) key, and
//! a certificate in which the identity key signs both, with the device's id, its name
//! and when it was linked. A device whose certificate does not verify against the
//! person's identity key is no device of theirs: the server refuses its connections and
//! every client refuses its leaves, so a hostile server cannot add a device to someone.

use ed25519_dalek::{Signature, VerifyingKey};
use openmls_traits::signatures::Signer;
use serde::{Deserialize, Serialize};

use crate::error::DeviceError;

/// What a certificate's signature covers starts with this label, so that no other
/// signature made with the identity key (an MLS message, a key package) can be taken
/// for a certificate, nor a certificate for one of them.
const LABEL: &str = "smc device certificate v1";

/// The longest device name, in bytes.
pub const MAX_DEVICE_NAME: usize = 64;

/// A device's id: 8 random bytes, shown as 16 lower-case hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeviceId([u8; 8]);

impl DeviceId {
    /// A new random id.
    pub fn random() -> Result<DeviceId, DeviceError> {
        let mut id = [0; 8];
        getrandom::fill(&mut id).map_err(|e| DeviceError::Random(e.to_string()))?;
        Ok(DeviceId(id))
    }

    /// The id's bytes.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0
    }

    /// The id of a person's first device: derived from their identity key (that
    /// device's own signature key), so that every device and the server agree on it
    /// without it being stored anywhere.
    pub fn first_of(identity_key: &[u8]) -> DeviceId {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"smc first device v1\0")
            .chain_update(identity_key)
            .finalize();
        let mut id = [0; 8];
        id.copy_from_slice(&digest[..8]);
        DeviceId(id)
    }

    /// The id of these bytes.
    pub fn from_bytes(bytes: [u8; 8]) -> DeviceId {
        DeviceId(bytes)
    }

    /// The id of these bytes (`None` unless there are 8).
    pub fn from_slice(bytes: &[u8]) -> Option<DeviceId> {
        <[u8; 8]>::try_from(bytes).ok().map(DeviceId)
    }

    /// The id written as [`Display`](std::fmt::Display) writes it (16 hex digits).
    pub fn parse(text: &str) -> Result<DeviceId, DeviceError> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.trim().as_bytes())
            .ok()
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .ok_or_else(|| DeviceError::BadId(text.chars().take(40).collect()))?;
        Ok(DeviceId(bytes))
    }
}

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

/// Checks a device's name ("laptop", "work phone"): 1 to [`MAX_DEVICE_NAME`] bytes,
/// no whitespace at the ends, no control, format or invisible characters (it is shown
/// on other people's screens).
pub fn check_device_name(name: &str) -> Result<(), DeviceError> {
    let bad = |why: &'static str| DeviceError::BadName {
        name: name.chars().take(MAX_DEVICE_NAME).collect(),
        why,
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > MAX_DEVICE_NAME {
        return Err(bad("it is longer than 64 bytes"));
    }
    if name.trim() != name {
        return Err(bad("it starts or ends with whitespace"));
    }
    // Spaces are allowed inside ("work phone"); everything else a user name refuses
    // is refused here too.
    for word in name.split(' ') {
        if word.is_empty() {
            return Err(bad("it has two spaces in a row"));
        }
        crate::proto::check_name(word).map_err(bad)?;
    }
    Ok(())
}

/// What a device asks its person's identity key to vouch for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKeys {
    /// The device's name, chosen on it ([`check_device_name`]).
    pub name: String,
    /// Its MLS signature key (Ed25519, 32 bytes): the key of its leaves.
    #[serde(with = "serde_bytes")]
    pub signature_key: Vec<u8>,
    /// Its transport key (X25519): the key it connects to servers with.
    pub transport_key: [u8; 32],
}

/// An identity key's statement that a device is its person's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCertificate {
    /// The person.
    pub user: String,
    /// The device.
    pub device: DeviceId,
    /// What the device asked to be vouched for.
    pub keys: DeviceKeys,
    /// When it was linked (milliseconds since the epoch, the linking device's clock).
    pub linked_at_ms: i64,
    /// The identity key that signs (Ed25519, 32 bytes).
    #[serde(with = "serde_bytes")]
    pub identity_key: Vec<u8>,
    /// Its signature (64 bytes) over everything above, labelled.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// The signed part of a certificate, in the order it is encoded.
#[derive(Serialize)]
struct Signed<'a> {
    label: &'static str,
    user: &'a str,
    device: &'a DeviceId,
    keys: &'a DeviceKeys,
    linked_at_ms: i64,
    #[serde(with = "serde_bytes")]
    identity_key: &'a [u8],
}

impl DeviceCertificate {
    fn signed(&self) -> Result<Vec<u8>, DeviceError> {
        postcard::to_allocvec(&Signed {
            label: LABEL,
            user: &self.user,
            device: &self.device,
            keys: &self.keys,
            linked_at_ms: self.linked_at_ms,
            identity_key: &self.identity_key,
        })
        .map_err(|e| DeviceError::Malformed(e.to_string()))
    }

    /// `identity` (the person's identity key, whose public half is `identity_key`)
    /// vouches for the device `keys` describe.
    pub fn issue(
        identity: &impl Signer,
        identity_key: &[u8],
        user: &str,
        device: DeviceId,
        keys: DeviceKeys,
        linked_at_ms: i64,
    ) -> Result<DeviceCertificate, DeviceError> {
        crate::proto::check_name(user).map_err(|why| DeviceError::Malformed(why.into()))?;
        check_device_name(&keys.name)?;
        verifying_key(&keys.signature_key)?;
        let mut certificate = DeviceCertificate {
            user: user.to_owned(),
            device,
            keys,
            linked_at_ms,
            identity_key: identity_key.to_vec(),
            signature: Vec::new(),
        };
        certificate.signature = identity
            .sign(&certificate.signed()?)
            .map_err(|e| DeviceError::Signing(format!("{e:?}")))?;
        // A signer whose public half is not `identity_key` would issue certificates
        // nobody accepts: found here rather than on every other device.
        certificate.verify(user, identity_key)?;
        Ok(certificate)
    }

    /// Checks that this certificate is `user`'s, signed by `identity_key` (the key the
    /// checker holds for that person, not the one the certificate names), and that
    /// what it vouches for is well formed.
    pub fn verify(&self, user: &str, identity_key: &[u8]) -> Result<(), DeviceError> {
        if self.user != user {
            return Err(DeviceError::WrongUser {
                expected: user.to_owned(),
                found: self.user.chars().take(64).collect(),
            });
        }
        if self.identity_key != identity_key {
            return Err(DeviceError::WrongIdentity);
        }
        check_device_name(&self.keys.name)?;
        verifying_key(&self.keys.signature_key)?;
        let signature = <[u8; 64]>::try_from(self.signature.as_slice())
            .map_err(|_| DeviceError::BadSignature)?;
        verifying_key(identity_key)?
            .verify_strict(&self.signed()?, &Signature::from_bytes(&signature))
            .map_err(|_| DeviceError::BadSignature)
    }

    /// The certificate as bytes (what the server stores and relays).
    pub fn to_bytes(&self) -> Result<Vec<u8>, DeviceError> {
        postcard::to_allocvec(self).map_err(|e| DeviceError::Malformed(e.to_string()))
    }

    /// A certificate from bytes of [`to_bytes`](Self::to_bytes) (not yet verified).
    pub fn from_bytes(bytes: &[u8]) -> Result<DeviceCertificate, DeviceError> {
        postcard::from_bytes(bytes).map_err(|e| DeviceError::Malformed(e.to_string()))
    }
}

/// An Ed25519 public key from its 32 bytes.
fn verifying_key(bytes: &[u8]) -> Result<VerifyingKey, DeviceError> {
    let bytes = <[u8; 32]>::try_from(bytes).map_err(|_| DeviceError::BadKey)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| DeviceError::BadKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openmls_basic_credential::SignatureKeyPair;
    use openmls_traits::types::SignatureScheme;

    fn pair() -> SignatureKeyPair {
        SignatureKeyPair::new(SignatureScheme::ED25519).unwrap()
    }

    fn keys(name: &str) -> DeviceKeys {
        DeviceKeys {
            name: name.into(),
            signature_key: pair().public().to_vec(),
            transport_key: [7; 32],
        }
    }

    fn issued(identity: &SignatureKeyPair) -> DeviceCertificate {
        DeviceCertificate::issue(
            identity,
            identity.public(),
            "alice",
            DeviceId::random().unwrap(),
            keys("work laptop"),
            1_765_000_000_000,
        )
        .unwrap()
    }

    #[test]
    fn a_certificate_verifies_for_its_person_and_identity_key_only() {
        let identity = pair();
        let cert = issued(&identity);
        cert.verify("alice", identity.public()).unwrap();
        let again = DeviceCertificate::from_bytes(&cert.to_bytes().unwrap()).unwrap();
        again.verify("alice", identity.public()).unwrap();
        assert!(matches!(
            cert.verify("bob", identity.public()),
            Err(DeviceError::WrongUser { .. })
        ));
        // Another person's identity key, even one the certificate names itself.
        let other = pair();
        assert!(matches!(
            cert.verify("alice", other.public()),
            Err(DeviceError::WrongIdentity)
        ));
        let mut forged = cert.clone();
        forged.identity_key = other.public().to_vec();
        assert!(forged.verify("alice", other.public()).is_err());
    }

    #[test]
    fn every_signed_field_is_bound() {
        let identity = pair();
        let cert = issued(&identity);
        let mut changes: Vec<DeviceCertificate> = Vec::new();
        let mut c = cert.clone();
        c.user = "alicf".into();
        changes.push(c);
        let mut c = cert.clone();
        c.device = DeviceId::random().unwrap();
        changes.push(c);
        let mut c = cert.clone();
        c.keys.name = "phone".into();
        changes.push(c);
        let mut c = cert.clone();
        c.keys.signature_key = pair().public().to_vec();
        changes.push(c);
        let mut c = cert.clone();
        c.keys.transport_key[0] ^= 1;
        changes.push(c);
        let mut c = cert.clone();
        c.linked_at_ms += 1;
        changes.push(c);
        let mut c = cert.clone();
        c.signature[10] ^= 1;
        changes.push(c);
        let mut c = cert.clone();
        c.signature.truncate(63);
        changes.push(c);
        for changed in changes {
            let user = changed.user.clone();
            assert!(
                changed.verify(&user, identity.public()).is_err(),
                "{changed:?}"
            );
        }
    }

    #[test]
    fn a_signer_that_is_not_the_named_identity_key_issues_nothing() {
        let identity = pair();
        let other = pair();
        let refused = DeviceCertificate::issue(
            &other,
            identity.public(),
            "alice",
            DeviceId::random().unwrap(),
            keys("laptop"),
            0,
        );
        assert!(matches!(refused, Err(DeviceError::BadSignature)));
    }

    #[test]
    fn device_names_are_checked_like_what_other_screens_show() {
        for good in ["laptop", "work phone", "Léa's tablet", "pc 2"] {
            check_device_name(good).unwrap();
        }
        let long = "x".repeat(MAX_DEVICE_NAME + 1);
        for bad in [
            "",
            " laptop",
            "laptop ",
            "two  spaces",
            "a\u{7}bell",
            "rtl\u{202e}",
            &long,
        ] {
            assert!(check_device_name(bad).is_err(), "{bad:?}");
        }
        let identity = pair();
        let refused = DeviceCertificate::issue(
            &identity,
            identity.public(),
            "alice",
            DeviceId::random().unwrap(),
            keys("esc\u{1b}[2J"),
            0,
        );
        assert!(matches!(refused, Err(DeviceError::BadName { .. })));
    }

    #[test]
    fn device_ids_round_trip_through_their_text() {
        let id = DeviceId::random().unwrap();
        assert_eq!(DeviceId::parse(&id.to_string()).unwrap(), id);
        assert_eq!(DeviceId::parse(&id.to_string().to_uppercase()).unwrap(), id);
        for bad in ["", "123", "zzzzzzzzzzzzzzzz", "00112233445566778899"] {
            assert!(DeviceId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
