//! Linked devices: offering a link, granting it, listing and revoking devices. Only a
//! user's first device (the one whose key registered the name, which holds the
//! identity key) offers, grants and revokes; every device lists.

use std::time::Duration;

use super::{blocking, now_ms};
use crate::identity::device::{DeviceCertificate, DeviceId};
use crate::proto::{DeviceInfo, Refusal, Reply, MAX_LINK_MESSAGE, MAX_LINK_SEALED};
use crate::server::store::{DeviceAdded, DeviceRow, DeviceStanding};
use crate::server::Shared;

/// Revoked devices a [`Reply::Devices`] lists at most (the latest).
const MAX_REVOKED_LISTED: usize = 16;

fn refused(reason: impl Into<String>) -> Refusal {
    Refusal::LinkRefused {
        reason: reason.into(),
    }
}

/// A code's slot: four letters of Crockford's base 32, as `identity::link` makes.
fn check_slot(slot: &str) -> Result<(), Refusal> {
    let ok = slot.len() == 4
        && slot
            .bytes()
            .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(super::bad("a link code's slot is four letters or digits"))
    }
}

impl Shared {
    /// `me`'s device `key` is their first, or the request is refused.
    async fn require_first_device(&self, me: &str, key: &[u8; 32]) -> Result<(), Refusal> {
        let (u, k) = (me.to_owned(), *key);
        match blocking(&self.store, move |s| s.device_standing(&u, &k)).await? {
            DeviceStanding::First => Ok(()),
            DeviceStanding::Revoked(_) => Err(Refusal::DeviceRevoked),
            DeviceStanding::Linked(_) | DeviceStanding::Stranger => Err(refused(
                "only the user's first device (which holds the identity key) links and revokes devices",
            )),
        }
    }

    pub(super) async fn offer_link(
        &self,
        me: &str,
        key: &[u8; 32],
        slot: String,
        message: Vec<u8>,
        lifetime_s: u32,
    ) -> Result<Reply, Refusal> {
        check_slot(&slot)?;
        if message.is_empty() || message.len() > MAX_LINK_MESSAGE {
            return Err(super::bad("an offer's message is 1 to 64 bytes"));
        }
        self.require_first_device(me, key).await?;
        let lifetime = Duration::from_secs(u64::from(lifetime_s));
        self.link_offers.offer(me, &slot, message, lifetime, *key);
        Ok(Reply::Done)
    }

    pub(super) async fn grant_link(
        &self,
        me: &str,
        key: &[u8; 32],
        slot: String,
        certificate: Vec<u8>,
        sealed: Vec<u8>,
    ) -> Result<Reply, Refusal> {
        check_slot(&slot)?;
        self.require_first_device(me, key).await?;
        let Some((joiner_key, grant)) = self.link_offers.take_answered(me, &slot) else {
            return Err(refused("no device answered an offer at this code"));
        };
        // An empty grant is the first device's refusal (the answer did not open: a
        // wrong code); dropping `grant` tells the new device.
        if certificate.is_empty() {
            return Ok(Reply::Done);
        }
        if sealed.len() > MAX_LINK_SEALED {
            return Err(super::bad("the sealed grant is too long"));
        }
        let cert =
            DeviceCertificate::from_bytes(&certificate).map_err(|e| super::bad(e.to_string()))?;
        if cert.keys.transport_key != joiner_key {
            return Err(refused(
                "the certificate is not for the device that answered",
            ));
        }
        // Signed by the identity key it names; the store checks that key is the one
        // recorded for the user (or records it, the first time).
        cert.verify(me, &cert.identity_key)
            .map_err(|e| refused(e.to_string()))?;
        let row = DeviceRow {
            id: cert.device,
            name: cert.keys.name.clone(),
            transport_key: cert.keys.transport_key.to_vec(),
            certificate,
            linked_ms: now_ms(),
            revoked_ms: None,
        };
        let (u, identity, max) = (
            me.to_owned(),
            cert.identity_key.clone(),
            self.limits.max_devices_per_user,
        );
        match blocking(&self.store, move |s| s.add_device(&u, &identity, &row, max)).await? {
            DeviceAdded::Added => {
                // The new device may be gone already: it links again, and the
                // certificate recorded lets it in.
                let _ = grant.send(sealed);
                tracing::info!(user = me, device = %cert.device, "device linked");
                Ok(Reply::Done)
            }
            DeviceAdded::TooMany => Err(Refusal::QuotaExceeded {
                reason: format!(
                    "{me} has {} devices already (revoke one first)",
                    self.limits.max_devices_per_user
                ),
            }),
            DeviceAdded::OtherIdentity => Err(refused(
                "the certificate is not signed by this user's identity key",
            )),
            DeviceAdded::KeyInUse => Err(refused("the new device's key is in use already")),
            DeviceAdded::UnknownUser => Err(Refusal::UnknownUser { user: me.into() }),
        }
    }

    pub(super) async fn devices(&self, me: &str) -> Result<Reply, Refusal> {
        let u = me.to_owned();
        let mut rows = blocking(&self.store, move |s| s.devices(&u)).await?;
        // Revoked devices stay in the store (their keys are refused for good), but a
        // reply holds every device in use and only the latest revoked ones: linking
        // and revoking again and again cannot make it grow without bound.
        let mut revoked: Vec<i64> = rows.iter().filter_map(|r| r.revoked_ms).collect();
        revoked.sort_unstable_by(|a, b| b.cmp(a));
        let oldest_listed = revoked
            .get(MAX_REVOKED_LISTED - 1)
            .copied()
            .unwrap_or(i64::MIN);
        let mut listed_revoked = 0;
        rows.retain(|r| match r.revoked_ms {
            None => true,
            Some(at) if at >= oldest_listed && listed_revoked < MAX_REVOKED_LISTED => {
                listed_revoked += 1;
                true
            }
            Some(_) => false,
        });
        Ok(Reply::Devices(
            rows.into_iter()
                .map(|r| DeviceInfo {
                    id: r.id.to_bytes(),
                    certificate: r.certificate,
                    linked_ms: r.linked_ms,
                    revoked_ms: r.revoked_ms,
                })
                .collect(),
        ))
    }

    pub(super) async fn revoke_device(
        &self,
        me: &str,
        key: &[u8; 32],
        device: [u8; 8],
    ) -> Result<Reply, Refusal> {
        self.require_first_device(me, key).await?;
        let (u, id) = (me.to_owned(), DeviceId::from_bytes(device));
        let now = now_ms();
        let found = blocking(&self.store, move |s| {
            let key = s
                .devices(&u)?
                .into_iter()
                .find(|d| d.id == id && d.revoked_ms.is_none())
                .map(|d| d.transport_key);
            Ok(match key {
                Some(key) if s.revoke_device(&u, &id, now)? => Some(key),
                _ => None,
            })
        })
        .await?;
        let Some(transport_key) = found else {
            return Err(super::bad(format!("{me} has no linked device {id}")));
        };
        let closed = self.hub.close_device(me, &transport_key);
        // Its sessions on the other nodes of a cluster too.
        self.publish(crate::server::bus::BusEvent::DeviceRevoked {
            user: me.to_owned(),
            transport_key,
        });
        tracing::info!(user = me, device = %id, closed, "device revoked");
        Ok(Reply::Done)
    }
}
