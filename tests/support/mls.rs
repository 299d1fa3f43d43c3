//! MLS by hand (the tests' and the attacker's toolkit): openmls with an in-memory
//! provider, used to build key packages, groups, commits and Welcomes that no honest
//! smc client would send.
#![allow(dead_code)]

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use smc::e2e::group::{create_config, group_id, CIPHERSUITE};
use smc::e2e::sealed::WelcomeBox;

/// One MLS identity with its own provider.
pub struct Actor {
    pub provider: OpenMlsRustCrypto,
    pub signer: SignatureKeyPair,
    pub credential: CredentialWithKey,
}

impl Actor {
    /// An identity whose credential holds `name` as raw bytes (any bytes: the attacker
    /// chooses).
    pub fn new(name: &[u8]) -> Actor {
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
        signer.store(provider.storage()).unwrap();
        let credential = CredentialWithKey {
            credential: BasicCredential::new(name.to_vec()).into(),
            signature_key: signer.public().into(),
        };
        Actor {
            provider,
            signer,
            credential,
        }
    }

    /// A key package of this identity, as bytes.
    pub fn key_package(&self) -> Vec<u8> {
        self.package(false, None)
    }

    /// A last-resort key package of this identity, as bytes.
    pub fn last_resort_package(&self) -> Vec<u8> {
        self.package(true, None)
    }

    /// A key package that expires `seconds` from now.
    pub fn short_lived_package(&self, seconds: u64) -> Vec<u8> {
        self.package(false, Some(Lifetime::new(seconds)))
    }

    fn package(&self, last_resort: bool, lifetime: Option<Lifetime>) -> Vec<u8> {
        let mut builder =
            KeyPackage::builder().leaf_node_capabilities(smc::e2e::group::capabilities());
        if last_resort {
            builder = builder.mark_as_last_resort();
        }
        if let Some(lifetime) = lifetime {
            builder = builder.key_package_lifetime(lifetime);
        }
        builder
            .build(
                CIPHERSUITE,
                &self.provider,
                &self.signer,
                self.credential.clone(),
            )
            .unwrap()
            .key_package()
            .tls_serialize_detached()
            .unwrap()
    }

    /// A new group for `room` (same id shape as smc's: the room's name, NUL, random).
    pub fn group(&self, room: &str) -> MlsGroup {
        MlsGroup::new_with_group_id(
            &self.provider,
            &self.signer,
            &create_config(),
            group_id(room, &[7; 16]),
            self.credential.clone(),
        )
        .unwrap()
    }

    /// A new group for `room` as smc created them before the server tracked groups:
    /// every message, group changes included, as ciphertext.
    pub fn legacy_group(&self, room: &str) -> MlsGroup {
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(smc::e2e::group::CIPHERSUITE)
            .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .build();
        MlsGroup::new_with_group_id(
            &self.provider,
            &self.signer,
            &config,
            group_id(room, &[9; 16]),
            self.credential.clone(),
        )
        .unwrap()
    }

    /// Processes a message of `group` from someone else and merges it if it is a
    /// commit; `Err` with why it was refused.
    pub fn process(&self, group: &mut MlsGroup, payload: &[u8]) -> Result<&'static str, String> {
        let message = MlsMessageIn::tls_deserialize_exact(payload).map_err(|e| e.to_string())?;
        let protocol = message
            .try_into_protocol_message()
            .map_err(|e| e.to_string())?;
        match group
            .process_message(&self.provider, protocol)
            .map_err(|e| e.to_string())?
            .into_content()
        {
            ProcessedMessageContent::ApplicationMessage(_) => Ok("application"),
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                group
                    .merge_staged_commit(&self.provider, *staged)
                    .map_err(|e| e.to_string())?;
                Ok("commit")
            }
            _ => Ok("other"),
        }
    }

    /// A new group with the given id (a copy of a real room's id).
    pub fn group_with_id(&self, id: &[u8]) -> MlsGroup {
        MlsGroup::new_with_group_id(
            &self.provider,
            &self.signer,
            &create_config(),
            GroupId::from_slice(id),
            self.credential.clone(),
        )
        .unwrap()
    }

    /// Adds the holders of `packages` to `group`, merges, and returns the Welcome boxed
    /// for `room`'s direct delivery, plus the commit's bytes.
    pub fn add(
        &self,
        group: &mut MlsGroup,
        room: &str,
        packages: &[Vec<u8>],
    ) -> (Vec<u8>, Vec<u8>) {
        let packages: Vec<KeyPackage> = packages
            .iter()
            .map(|bytes| {
                KeyPackageIn::tls_deserialize_exact(bytes.as_slice())
                    .unwrap()
                    .validate(self.provider.crypto(), ProtocolVersion::Mls10)
                    .unwrap()
            })
            .collect();
        let (commit, welcome, _) = group
            .add_members(&self.provider, &self.signer, &packages)
            .unwrap();
        group.merge_pending_commit(&self.provider).unwrap();
        let boxed = WelcomeBox {
            room: room.to_owned(),
            welcome: welcome.tls_serialize_detached().unwrap(),
        };
        (boxed.encode(), commit.tls_serialize_detached().unwrap())
    }

    /// A commit of `group` (a self-update) for its current epoch, merged; its bytes.
    pub fn commit(&self, group: &mut MlsGroup) -> Vec<u8> {
        let bundle = group
            .self_update(&self.provider, &self.signer, LeafNodeParameters::default())
            .unwrap();
        group.merge_pending_commit(&self.provider).unwrap();
        bundle.commit().tls_serialize_detached().unwrap()
    }

    /// Joins a group from a boxed Welcome (as smc's direct queue carries them).
    pub fn join(&self, boxed: &[u8]) -> MlsGroup {
        let boxed = WelcomeBox::decode(boxed).expect("a boxed Welcome");
        let welcome = match MlsMessageIn::tls_deserialize_exact(boxed.welcome.as_slice())
            .unwrap()
            .extract()
        {
            MlsMessageBodyIn::Welcome(w) => w,
            _ => panic!("not a Welcome"),
        };
        StagedWelcome::new_from_welcome(
            &self.provider,
            &smc::e2e::group::join_config(true),
            welcome,
            None,
        )
        .unwrap()
        .into_group(&self.provider)
        .unwrap()
    }

    /// The leaf index of `name` in `group`.
    pub fn leaf_of(group: &MlsGroup, name: &str) -> LeafNodeIndex {
        group
            .members()
            .find(|m| smc::e2e::group::identity(&m.credential).as_deref() == Some(name))
            .expect("a member")
            .index
    }

    /// Decrypts an application message of `group` (what the attacker can read).
    pub fn read(&self, group: &mut MlsGroup, payload: &[u8]) -> Option<Vec<u8>> {
        let message = MlsMessageIn::tls_deserialize_exact(payload).ok()?;
        let protocol = message.try_into_protocol_message().ok()?;
        match group
            .process_message(&self.provider, protocol)
            .ok()?
            .into_content()
        {
            ProcessedMessageContent::ApplicationMessage(app) => Some(app.into_bytes()),
            _ => None,
        }
    }
}
