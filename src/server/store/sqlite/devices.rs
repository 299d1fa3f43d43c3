//! [`DeviceStore`] on SQLite: the `devices` table and `users.identity_key`.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{lock, SqliteStore};
use crate::error::StoreError;
use crate::identity::device::DeviceId;
use crate::server::store::devices::{DeviceAdded, DeviceRow, DeviceStanding, DeviceStore};
use crate::server::store::rules::device_fits;

/// A device id as stored (a malformed one reads as an error, never a panic).
fn device_id(bytes: Vec<u8>) -> rusqlite::Result<DeviceId> {
    DeviceId::from_slice(&bytes).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "a device id is 8 bytes".into(),
        )
    })
}

impl DeviceStore for SqliteStore {
    fn identity_key(&self, user: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = lock(&self.reader);
        let key: Option<Option<Vec<u8>>> = conn
            .query_row(
                "SELECT identity_key FROM users WHERE name = ?1",
                [user],
                |r| r.get(0),
            )
            .optional()?;
        Ok(key.flatten())
    }

    fn add_device(
        &self,
        user: &str,
        identity_key: &[u8],
        device: &DeviceRow,
        max: usize,
    ) -> Result<DeviceAdded, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let recorded: Option<Option<Vec<u8>>> = tx
            .query_row(
                "SELECT identity_key FROM users WHERE name = ?1 AND NOT released",
                [user],
                |r| r.get(0),
            )
            .optional()?;
        let Some(recorded) = recorded else {
            return Ok(DeviceAdded::UnknownUser);
        };
        if recorded.as_deref().is_some_and(|k| k != identity_key) {
            return Ok(DeviceAdded::OtherIdentity);
        }
        let in_use = tx
            .query_row(
                "SELECT 1 FROM users WHERE key = ?1
                 UNION ALL SELECT 1 FROM devices WHERE transport_key = ?1",
                [&device.transport_key],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if in_use {
            return Ok(DeviceAdded::KeyInUse);
        }
        let linked: i64 = tx.query_row(
            "SELECT count(*) FROM devices WHERE user = ?1 AND revoked_ms IS NULL",
            [user],
            |r| r.get(0),
        )?;
        if !device_fits(linked, max) {
            return Ok(DeviceAdded::TooMany);
        }
        if recorded.is_none() {
            tx.execute(
                "UPDATE users SET identity_key = ?2 WHERE name = ?1",
                params![user, identity_key],
            )?;
        }
        tx.execute(
            "INSERT INTO devices (user, id, name, transport_key, certificate, linked_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                user,
                &device.id.to_bytes()[..],
                device.name,
                device.transport_key,
                device.certificate,
                device.linked_ms
            ],
        )?;
        tx.commit()?;
        Ok(DeviceAdded::Added)
    }

    fn devices(&self, user: &str) -> Result<Vec<DeviceRow>, StoreError> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare(
            "SELECT id, name, transport_key, certificate, linked_ms, revoked_ms
             FROM devices WHERE user = ?1 ORDER BY linked_ms, id",
        )?;
        let rows = stmt
            .query_map([user], |r| {
                Ok(DeviceRow {
                    id: device_id(r.get(0)?)?,
                    name: r.get(1)?,
                    transport_key: r.get(2)?,
                    certificate: r.get(3)?,
                    linked_ms: r.get(4)?,
                    revoked_ms: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn revoke_device(&self, user: &str, id: &DeviceId, now_ms: i64) -> Result<bool, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = tx.execute(
            "UPDATE devices SET revoked_ms = ?3
             WHERE user = ?1 AND id = ?2 AND revoked_ms IS NULL",
            params![user, &id.to_bytes()[..], now_ms],
        )?;
        tx.commit()?;
        Ok(changed == 1)
    }

    fn device_standing(&self, user: &str, key: &[u8]) -> Result<DeviceStanding, StoreError> {
        let conn = lock(&self.reader);
        let first = conn
            .query_row(
                "SELECT 1 FROM users WHERE name = ?1 AND key = ?2 AND NOT released",
                params![user, key],
                |_| Ok(()),
            )
            .optional()?;
        if first.is_some() {
            return Ok(DeviceStanding::First);
        }
        let device: Option<(Vec<u8>, Option<i64>)> = conn
            .query_row(
                "SELECT id, revoked_ms FROM devices WHERE user = ?1 AND transport_key = ?2",
                params![user, key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match device {
            None => DeviceStanding::Stranger,
            Some((id, revoked)) => {
                let id = device_id(id)?;
                if revoked.is_some() {
                    DeviceStanding::Revoked(id)
                } else {
                    DeviceStanding::Linked(id)
                }
            }
        })
    }
}
