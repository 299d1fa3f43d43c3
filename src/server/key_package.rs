//! What the server checks of a key package before it stores it: that it is one (a
//! valid MLS key package: signature, lifetime), that its credential names the user who
//! publishes it, and whether it is marked last-resort as claimed. So the directory
//! only hands out packages that can be used, counts only unexpired ones, and nobody
//! can publish packages in someone else's name.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{KeyPackageIn, ProtocolVersion};
use openmls_rust_crypto::RustCrypto;

use crate::e2e::group::identity;
use crate::proto::Refusal;
use crate::server::store::KeyPackageRow;

fn bad(reason: String) -> Refusal {
    Refusal::BadRequest { reason }
}

/// Checks one package published by `user` (`last_resort`: in the last-resort slot).
pub(crate) fn check(
    bytes: &[u8],
    user: &str,
    last_resort: bool,
    now_ms: i64,
) -> Result<KeyPackageRow, Refusal> {
    let package = KeyPackageIn::tls_deserialize_exact(bytes)
        .map_err(|e| bad(format!("not an MLS key package ({e})")))?
        .validate(&RustCrypto::default(), ProtocolVersion::Mls10)
        .map_err(|e| bad(format!("an invalid key package ({e})")))?;
    let named = identity(package.leaf_node().credential());
    if named.as_deref() != Some(user) {
        return Err(bad(format!(
            "a key package naming {named:?}, published by {user:?}"
        )));
    }
    if package.last_resort() != last_resort {
        return Err(bad(if last_resort {
            "the last-resort key package is not marked as one".into()
        } else {
            "a last-resort key package among the one-use ones".into()
        }));
    }
    let not_after_ms = i64::try_from(package.life_time().not_after())
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .unwrap_or(i64::MAX);
    if not_after_ms < now_ms {
        return Err(bad("an expired key package".into()));
    }
    Ok(KeyPackageRow {
        bytes: bytes.to_vec(),
        not_after_ms,
    })
}
