//! [`DeviceStore`] on PostgreSQL: the `devices` table and `users.identity_key`, shared
//! by every node (a device linked through one connects through any).

use super::PostgresStore;
use crate::error::StoreError;
use crate::identity::device::DeviceId;
use crate::server::store::devices::{DeviceAdded, DeviceRow, DeviceStanding, DeviceStore};
use crate::server::store::rules::device_fits;

/// A device id as stored.
fn device_id(bytes: &[u8]) -> Result<DeviceId, StoreError> {
    DeviceId::from_slice(bytes).ok_or_else(|| StoreError::Encoding("a device id is 8 bytes".into()))
}

impl DeviceStore for PostgresStore {
    fn identity_key(&self, user: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .client()?
            .query_opt("SELECT identity_key FROM users WHERE name = $1", &[&user])?;
        Ok(row.and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
    }

    fn add_device(
        &self,
        user: &str,
        identity_key: &[u8],
        device: &DeviceRow,
        max: usize,
    ) -> Result<DeviceAdded, StoreError> {
        // SERIALIZABLE: two devices linked at once through two nodes cannot both pass
        // the limit.
        self.write(|tx| {
            let Some(row) = tx.query_opt(
                "SELECT identity_key FROM users WHERE name = $1 AND NOT released",
                &[&user],
            )?
            else {
                return Ok(DeviceAdded::UnknownUser);
            };
            let recorded: Option<Vec<u8>> = row.get(0);
            if recorded.as_deref().is_some_and(|k| k != identity_key) {
                return Ok(DeviceAdded::OtherIdentity);
            }
            let in_use = tx.query_opt(
                "SELECT 1 FROM users WHERE key = $1
                 UNION ALL SELECT 1 FROM devices WHERE transport_key = $1 LIMIT 1",
                &[&device.transport_key],
            )?;
            if in_use.is_some() {
                return Ok(DeviceAdded::KeyInUse);
            }
            let linked: i64 = tx
                .query_one(
                    "SELECT count(*) FROM devices WHERE user_name = $1 AND revoked_ms IS NULL",
                    &[&user],
                )?
                .get(0);
            if !device_fits(linked, max) {
                return Ok(DeviceAdded::TooMany);
            }
            if recorded.is_none() {
                tx.execute(
                    "UPDATE users SET identity_key = $2 WHERE name = $1",
                    &[&user, &identity_key],
                )?;
            }
            tx.execute(
                "INSERT INTO devices (user_name, id, name, transport_key, certificate, linked_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &user,
                    &&device.id.to_bytes()[..],
                    &device.name,
                    &device.transport_key,
                    &device.certificate,
                    &device.linked_ms,
                ],
            )?;
            Ok(DeviceAdded::Added)
        })
    }

    fn devices(&self, user: &str) -> Result<Vec<DeviceRow>, StoreError> {
        let rows = self.client()?.query(
            "SELECT id, name, transport_key, certificate, linked_ms, revoked_ms
             FROM devices WHERE user_name = $1 ORDER BY linked_ms, id",
            &[&user],
        )?;
        rows.iter()
            .map(|r| {
                Ok(DeviceRow {
                    id: device_id(r.get::<_, &[u8]>(0))?,
                    name: r.get(1),
                    transport_key: r.get(2),
                    certificate: r.get(3),
                    linked_ms: r.get(4),
                    revoked_ms: r.get(5),
                })
            })
            .collect()
    }

    fn revoke_device(&self, user: &str, id: &DeviceId, now_ms: i64) -> Result<bool, StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE devices SET revoked_ms = $3
                 WHERE user_name = $1 AND id = $2 AND revoked_ms IS NULL",
                &[&user, &&id.to_bytes()[..], &now_ms],
            )?;
            Ok(changed == 1)
        })
    }

    fn device_standing(&self, user: &str, key: &[u8]) -> Result<DeviceStanding, StoreError> {
        let mut client = self.client()?;
        let first = client.query_opt(
            "SELECT 1 FROM users WHERE name = $1 AND key = $2 AND NOT released",
            &[&user, &key],
        )?;
        if first.is_some() {
            return Ok(DeviceStanding::First);
        }
        let device = client.query_opt(
            "SELECT id, revoked_ms FROM devices WHERE user_name = $1 AND transport_key = $2",
            &[&user, &key],
        )?;
        Ok(match device {
            None => DeviceStanding::Stranger,
            Some(r) => {
                let id = device_id(r.get::<_, &[u8]>(0))?;
                if r.get::<_, Option<i64>>(1).is_some() {
                    DeviceStanding::Revoked(id)
                } else {
                    DeviceStanding::Linked(id)
                }
            }
        })
    }
}
