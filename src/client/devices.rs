//! A person's devices, from a client: its own device id, linking a new device with a
//! one-time code (`identity::link`), listing and revoking devices.
//!
//! A home that registered its name is its user's *first device*: its MLS signature
//! key is the user's identity key, and only it links and revokes devices (the
//! identity key never leaves it). A home linked with a code is a *linked device*: it
//! keeps the certificate the identity key signed for it. Losing the first device
//! loses the right to link and revoke (the linked devices go on working); keep a
//! backup of its home (`smc` homes are directories: copy it while no client runs).
//!
//! Linked devices take no part in rooms yet: they publish no key packages, so
//! invitations still reach the first device alone. Adding every device of a person
//! to their rooms is the next step of linked devices (issue 30).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::{runtime, Client};
use crate::error::{ClientError, DeviceError, LinkError};
use crate::identity::device::{check_device_name, DeviceCertificate, DeviceId, DeviceKeys};
use crate::identity::link::{Joiner, LinkCode, LinkGrant, Offer, CODE_LIFETIME};
use crate::proto::{Reply, Request};

/// How long a code of [`Client::link_code`] stands by default, and at most.
pub const DEFAULT_LINK_CODE_LIFETIME: Duration = CODE_LIFETIME;

/// How long [`Client::link`] waits for the device in use to grant, once it answered.
pub const DEFAULT_LINK_WAIT: Duration = Duration::from_secs(60);

/// One of the user's devices, as [`Client::devices`] lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Its id (16 hex digits).
    pub id: String,
    /// Its name ("first device" for the one that registered the name).
    pub name: String,
    /// Whether it is the device this client runs on.
    pub current: bool,
    /// When it was linked (`None` for the first device).
    pub linked_at: Option<DateTime<Utc>>,
}

/// An offer this client made ([`Client::link_code`]), waiting for a new device.
pub(super) struct PendingLink {
    slot: String,
    offer: Offer,
}

impl std::fmt::Debug for PendingLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PendingLink({})", self.slot)
    }
}

/// The name a new device gets when the program gives none: the machine's host name
/// when it makes a valid device name, else "new device".
fn default_device_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for its whole length; gethostname writes at most
    // that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    std::str::from_utf8(&buf[..end])
        .ok()
        .filter(|n| rc == 0 && check_device_name(n).is_ok())
        .map_or_else(|| "new device".to_owned(), str::to_owned)
}

impl Client {
    /// This home's certificate, when it is a linked device.
    pub(super) fn device_certificate(&self) -> Result<Option<DeviceCertificate>, ClientError> {
        let bytes = self
            .state
            .transaction(|tx| tx.device_certificate(&self.user))?;
        Ok(bytes
            .map(|b| DeviceCertificate::from_bytes(&b))
            .transpose()?)
    }

    /// Whether this home is a device linked to its user's first one.
    pub(super) fn is_linked_device(&self) -> Result<bool, ClientError> {
        Ok(self.device_certificate()?.is_some())
    }

    /// The user's identity key: this device's signature key on the first device, the
    /// key that signed this device's certificate on a linked one.
    pub fn identity_key(&self) -> Result<Vec<u8>, ClientError> {
        Ok(match self.device_certificate()? {
            Some(cert) => cert.identity_key,
            None => self.signer.public().to_vec(),
        })
    }

    /// This device's id (16 hex digits): its certificate's on a linked device, derived
    /// from the identity key on the first ([`DeviceId::first_of`]).
    pub fn device_id(&self) -> Result<String, ClientError> {
        Ok(match self.device_certificate()? {
            Some(cert) => cert.device.to_string(),
            None => DeviceId::first_of(self.signer.public()).to_string(),
        })
    }

    /// Offers to link a new device, for `lifetime` (at most 10 minutes): the one-time
    /// code to type on it (`SLOT-XXXX-XXXX-XXXX`). Only the first device links;
    /// while connected, the new device's answer is handled as it arrives (a wrong
    /// code spends the offer), and [`crate::client::ChatEvent::DeviceLinked`] says
    /// when it is linked. A new code replaces the previous one.
    pub fn link_code(&mut self, lifetime: Duration) -> Result<String, ClientError> {
        if self.is_linked_device()? {
            return Err(LinkError::NotFirstDevice.into());
        }
        let lifetime = lifetime.min(CODE_LIFETIME);
        let code = LinkCode::generate()?;
        let (offer, message) = Offer::start(&self.user, &code, lifetime);
        let lifetime_s = u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX);
        match self.request(Request::OfferLink {
            slot: code.slot().to_owned(),
            message,
            lifetime_s,
        })? {
            Reply::Done => {}
            other => return Err(ClientError::Protocol(format!("{other:?}"))),
        }
        self.linking = Some(PendingLink {
            slot: code.slot().to_owned(),
            offer,
        });
        Ok(code.reveal().to_string())
    }

    /// A new device answered this client's offer: issues its certificate and sends
    /// the grant (or, when the answer does not open, the refusal that ends it).
    pub(super) fn on_link_answered(
        &mut self,
        slot: String,
        answer: Vec<u8>,
    ) -> Result<(), ClientError> {
        let Some(pending) = self.linking.take_if(|p| p.slot == slot) else {
            tracing::warn!(slot, "an answer to no offer of this client: ignored");
            return Ok(());
        };
        let issued = pending.offer.accept(&answer).and_then(|accepted| {
            let device = DeviceId::random()?;
            let now = Utc::now().timestamp_millis();
            let certificate = DeviceCertificate::issue(
                &self.signer,
                self.signer.public(),
                &self.user,
                device,
                accepted.request().clone(),
                now,
            )?;
            let sealed = accepted.seal_grant(&LinkGrant {
                certificate: certificate.clone(),
                history: false,
            })?;
            Ok((certificate, sealed))
        });
        let (certificate, sealed) = match issued {
            Ok(issued) => issued,
            Err(e) => {
                tracing::warn!(error = %e, "a device answered the link offer with another code");
                // An empty grant tells the server (and the new device) it is refused.
                self.request(Request::GrantLink {
                    slot,
                    certificate: Vec::new(),
                    sealed: Vec::new(),
                })?;
                return Ok(());
            }
        };
        let granted = self.request(Request::GrantLink {
            slot,
            certificate: certificate.to_bytes()?,
            sealed,
        });
        match granted {
            Ok(_) => {}
            // Refused by the server (the device limit, a key in use): the new device
            // is told by its own connection; nothing changed here.
            Err(crate::ClientError::Refused(refusal)) => {
                tracing::warn!(%refusal, "the server refused the new device");
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let linked = super::ChatEvent::DeviceLinked {
            device: certificate.device.to_string(),
            name: certificate.keys.name,
        };
        self.transaction(|tx| tx.push_events(&[linked]))
    }

    /// Links this new home to its user's first device with the code shown there
    /// ([`Client::link_code`]), through the server at `address` (the first device's
    /// server); then connects as that user's device. `name` names this device
    /// (default: the host name). Refused on a home that has been used already.
    pub fn link(
        &mut self,
        address: &str,
        code: &str,
        name: Option<&str>,
    ) -> Result<(), ClientError> {
        self.link_inner(address, code, name, None, DEFAULT_LINK_WAIT)
    }

    /// Like [`Client::link`], with the server's fingerprint given by its operator
    /// ([`Client::connect_expecting`]).
    pub fn link_expecting(
        &mut self,
        address: &str,
        code: &str,
        name: Option<&str>,
        expected: &str,
    ) -> Result<(), ClientError> {
        self.link_inner(address, code, name, Some(expected), DEFAULT_LINK_WAIT)
    }

    /// [`Client::link`] with everything given: the server's fingerprint, if the
    /// operator gave one, and how long to wait for the device in use to grant.
    pub(crate) fn link_inner(
        &mut self,
        address: &str,
        code: &str,
        name: Option<&str>,
        expected: Option<&str>,
        wait: Duration,
    ) -> Result<(), ClientError> {
        let code = LinkCode::parse(code)?;
        let name = name.map_or_else(default_device_name, str::to_owned);
        check_device_name(&name)?;
        let used = self.is_linked_device()?
            || self
                .state
                .transaction(|tx| tx.last_server(&self.user))?
                .is_some();
        if used {
            return Err(LinkError::HomeInUse.into());
        }
        let keys = DeviceKeys {
            name,
            signature_key: self.signer.public().to_vec(),
            transport_key: *self.key.public(),
        };
        let mut joiner = None;
        let sealed = runtime()?.block_on(super::connection::link_exchange(
            address,
            &self.key,
            &self.known,
            expected,
            (&self.user, code.slot(), wait),
            |offer| {
                let (j, answer) = Joiner::join(&self.user, &code, offer, keys.clone())?;
                joiner = Some(j);
                Ok(answer)
            },
        ))?;
        let joiner = joiner.ok_or_else(|| ClientError::Protocol("no offer was answered".into()))?;
        let grant = joiner.open_grant(&sealed)?;
        let certificate = grant.certificate.to_bytes()?;
        self.state
            .transaction(|tx| tx.set_device_certificate(&self.user, &certificate))?;
        self.connect_inner(address, expected)
    }

    /// The user's devices: the first one, then every linked one not revoked, each
    /// checked against the user's identity key (a device the server lists without a
    /// valid certificate is left out: the server cannot add a device to anyone).
    pub fn devices(&self) -> Result<Vec<Device>, ClientError> {
        let identity = self.identity_key()?;
        let me = self.device_id()?;
        let first = DeviceId::first_of(&identity).to_string();
        let mut devices = vec![Device {
            current: me == first,
            id: first,
            name: "first device".into(),
            linked_at: None,
        }];
        let Reply::Devices(listed) = self.request(Request::Devices)? else {
            return Err(ClientError::Protocol("not a list of devices".into()));
        };
        for info in listed.into_iter().filter(|d| d.revoked_ms.is_none()) {
            let checked = DeviceCertificate::from_bytes(&info.certificate)
                .and_then(|c| c.verify(&self.user, &identity).map(|()| c));
            let cert = match checked {
                Ok(cert) if cert.device.to_bytes() == info.id => cert,
                Ok(_) | Err(_) => {
                    tracing::warn!(device = %DeviceId::from_bytes(info.id), "a device without a valid certificate: left out");
                    continue;
                }
            };
            let id = cert.device.to_string();
            devices.push(Device {
                current: id == me,
                id,
                name: cert.keys.name,
                linked_at: Utc.timestamp_millis_opt(cert.linked_at_ms).single(),
            });
        }
        Ok(devices)
    }

    /// Revokes the linked device `id` ([`Client::devices`]): the server closes its
    /// connections and refuses it from then on. Only the first device revokes.
    pub fn revoke_device(&mut self, id: &str) -> Result<(), ClientError> {
        let device = DeviceId::parse(id)?;
        if self.is_linked_device()? {
            return Err(LinkError::NotFirstDevice.into());
        }
        if device == DeviceId::first_of(self.signer.public()) {
            return Err(DeviceError::BadId("the first device cannot be revoked".into()).into());
        }
        match self.request(Request::RevokeDevice {
            device: device.to_bytes(),
        })? {
            Reply::Done => Ok(()),
            other => Err(ClientError::Protocol(format!("{other:?}"))),
        }
    }
}
