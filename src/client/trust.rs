//! Keys and trust: the MLS signature key and credential, key packages, the keys
//! remembered for other users (trust on first use, changes flagged), safety numbers
//! and verification.

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;

use super::state::{ClientState, Scoped, Seen};
use super::{ChatEvent, Client};
use crate::e2e::group::{
    capabilities, identity, CIPHERSUITE, KEY_PACKAGES_LOW, KEY_PACKAGES_TARGET,
    LAST_RESORT_ROTATION,
};
use crate::e2e::safety_number;
use crate::error::{ClientError, E2eError};

/// Maps an openmls error to [`E2eError::Mls`].
pub(super) fn mls<E: std::fmt::Display>(operation: &'static str) -> impl Fn(E) -> ClientError {
    move |e| {
        E2eError::Mls {
            operation,
            detail: e.to_string(),
        }
        .into()
    }
}

/// Loads the user's MLS signature key from the state, creating it on first use.
pub(super) fn signature_key(
    state: &ClientState,
    user: &str,
) -> Result<SignatureKeyPair, ClientError> {
    state.transaction(|tx| {
        let provider = tx.provider();
        if let Some(public) = tx.my_key(user)? {
            return SignatureKeyPair::read(
                provider.storage(),
                &public,
                CIPHERSUITE.signature_algorithm(),
            )
            .ok_or_else(|| {
                E2eError::Mls {
                    operation: "loading the signature key",
                    detail: "it is missing from the state".into(),
                }
                .into()
            });
        }
        let pair = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm())
            .map_err(mls("signature key generation"))?;
        pair.store(provider.storage())
            .map_err(mls("storing the signature key"))?;
        tx.set_my_key(user, pair.public())?;
        Ok(pair)
    })
}

/// Records the keys of a group's members (other than this user); returns the users
/// whose key changed.
pub(super) fn observe_roster(
    tx: &Scoped<'_, '_>,
    roster: &[(String, Vec<u8>)],
) -> Result<Vec<String>, ClientError> {
    let mut changed = Vec::new();
    for (user, key) in roster {
        if user != tx.user() && tx.observe_key(user, key)? == Seen::Changed {
            changed.push(user.clone());
        }
    }
    Ok(changed)
}

impl Client {
    pub(super) fn credential(&self) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(self.user.as_bytes().to_vec()).into(),
            signature_key: self.signer.public().into(),
        }
    }

    /// Publishes key packages when fewer than [`KEY_PACKAGES_LOW`] unexpired ones are
    /// left on the server, and a new last-resort one the first time and then every
    /// [`LAST_RESORT_ROTATION`] (a last-resort package is handed out many times, so its
    /// key is replaced regularly). Runs after connecting, after joining a group, and
    /// from time to time while connected ([`Client::recv_event`]).
    pub(super) fn top_up_key_packages(&mut self) -> Result<(), ClientError> {
        // A linked device takes no part in rooms yet (`devices.rs`): no key packages,
        // so that every invitation still reaches the user's first device.
        if self.is_linked_device()? {
            return Ok(());
        }
        let count = self.key_package_count()?;
        let now = chrono::Utc::now().timestamp_millis();
        let last_resort_needed = self
            .transaction(|tx| tx.last_resort_published())?
            .is_none_or(|at| now.saturating_sub(at) >= LAST_RESORT_ROTATION.as_millis() as i64);
        if count >= KEY_PACKAGES_LOW && !last_resort_needed {
            return Ok(());
        }
        let wanted = if count >= KEY_PACKAGES_LOW {
            0
        } else {
            KEY_PACKAGES_TARGET - count as usize
        };
        let credential = self.credential();
        let (packages, last_resort) = self.state.transaction(|tx| {
            let provider = tx.provider();
            let build = |last: bool| -> Result<Vec<u8>, ClientError> {
                let mut builder = KeyPackage::builder().leaf_node_capabilities(capabilities());
                if last {
                    builder = builder.mark_as_last_resort();
                }
                let bundle = builder
                    .build(CIPHERSUITE, &provider, &self.signer, credential.clone())
                    .map_err(mls("key package generation"))?;
                bundle
                    .key_package()
                    .tls_serialize_detached()
                    .map_err(mls("key package encoding"))
            };
            let packages = (0..wanted)
                .map(|_| build(false))
                .collect::<Result<_, _>>()?;
            let last_resort = if last_resort_needed {
                Some(build(true)?)
            } else {
                None
            };
            Ok((packages, last_resort))
        })?;
        self.publish_key_packages(packages, last_resort)?;
        self.transaction(|tx| {
            if last_resort_needed {
                tx.set_last_resort_published(now)?;
            }
            Ok(())
        })
    }

    /// Checks a key package the server handed out for `user`: valid signature and
    /// lifetime, credential naming `user`, and the key remembered for `user` (a new key
    /// is flagged and refused with [`E2eError::KeyChanged`]).
    pub(super) fn check_key_package(
        &mut self,
        user: &str,
        bytes: &[u8],
    ) -> Result<KeyPackage, ClientError> {
        let bad = |reason: String| -> ClientError {
            E2eError::BadKeyPackage {
                user: user.to_owned(),
                reason,
            }
            .into()
        };
        let package = KeyPackageIn::tls_deserialize_exact(bytes)
            .map_err(|e| bad(format!("not a key package ({e})")))?;
        let package = self.state.transaction(|tx| {
            Ok(package
                .validate(tx.provider().crypto(), ProtocolVersion::Mls10)
                .map_err(|e| bad(e.to_string())))
        })??;
        let leaf = package.leaf_node();
        if identity(leaf.credential()).as_deref() != Some(user) {
            return Err(bad(format!(
                "it names {:?}",
                identity(leaf.credential()).unwrap_or_default()
            )));
        }
        let key = leaf.signature_key().as_slice().to_vec();
        self.transaction(|tx| {
            if tx.observe_key(user, &key)? == Seen::Changed {
                let event = ChatEvent::KeyChanged {
                    user: user.to_owned(),
                };
                tx.push_events(&[event])?;
            }
            Ok(())
        })?;
        if self.key_change_pending(user)? {
            return Err(E2eError::KeyChanged {
                user: user.to_owned(),
            }
            .into());
        }
        Ok(package)
    }

    /// Whether `user`'s key changed and the change was not acknowledged yet.
    pub fn key_change_pending(&self, user: &str) -> Result<bool, ClientError> {
        Ok(self
            .transaction(|tx| tx.contact(user))?
            .is_some_and(|c| c.changed))
    }

    /// The safety number of this user and `user` (60 digits in groups of 5): the same
    /// on both sides when each holds the other's real key. Compare it out of band,
    /// then call [`Client::verify`]. [`E2eError::UnknownKey`] if no key of `user` was
    /// seen yet (share a room first).
    pub fn safety_number(&self, user: &str) -> Result<String, ClientError> {
        let key = self
            .transaction(|tx| tx.contact(user))?
            .ok_or_else(|| E2eError::UnknownKey {
                user: user.to_owned(),
            })?;
        Ok(safety_number(
            (&self.user, self.signer.public()),
            (user, &key.key),
        ))
    }

    /// Marks `user`'s current key as verified (the safety numbers were compared); this
    /// also acknowledges a key change.
    pub fn verify(&self, user: &str) -> Result<(), ClientError> {
        self.accept_key(user, true)
    }

    /// Acknowledges that `user`'s key changed, without verifying the new one: sending
    /// to rooms they are in works again.
    pub fn acknowledge_key_change(&self, user: &str) -> Result<(), ClientError> {
        self.accept_key(user, false)
    }

    fn accept_key(&self, user: &str, verified: bool) -> Result<(), ClientError> {
        if self.transaction(|tx| tx.accept_key(user, verified))? {
            Ok(())
        } else {
            Err(E2eError::UnknownKey {
                user: user.to_owned(),
            }
            .into())
        }
    }

    /// Whether `user`'s current key was verified with [`Client::verify`].
    pub fn is_verified(&self, user: &str) -> Result<bool, ClientError> {
        Ok(self
            .transaction(|tx| tx.contact(user))?
            .is_some_and(|c| c.verified))
    }
}
