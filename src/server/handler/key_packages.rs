//! Requests about key packages: publish, fetch, count.

use super::{bad, blocking, now_ms, MAX_KEY_PACKAGE};
use crate::proto::{Refusal, Reply};
use crate::server::bus::Limit;
use crate::server::key_package;
use crate::server::rate::limited;
use crate::server::Shared;

/// Most key packages published in one request.
const MAX_KEY_PACKAGES: usize = 100;
/// One-use key packages one user may have stored.
const MAX_STORED_KEY_PACKAGES: usize = 100;

impl Shared {
    /// [`crate::proto::Request::PublishKeyPackages`]: `me` publishes one-use
    /// `packages` and maybe a `last_resort` one, each checked (valid, naming `me`,
    /// with its expiry).
    pub(super) async fn publish_key_packages(
        &self,
        me: &str,
        packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
    ) -> Result<Reply, Refusal> {
        if packages.len() > MAX_KEY_PACKAGES
            || packages
                .iter()
                .chain(last_resort.iter())
                .any(|p| p.len() > MAX_KEY_PACKAGE || p.is_empty())
        {
            return Err(bad(format!(
                "at most {MAX_KEY_PACKAGES} key packages of 1 to {MAX_KEY_PACKAGE} bytes"
            )));
        }
        let now = now_ms();
        let packages = packages
            .into_iter()
            .map(|p| key_package::check(&p, me, false, now))
            .collect::<Result<Vec<_>, _>>()?;
        let last_resort = last_resort
            .map(|p| key_package::check(&p, me, true, now))
            .transpose()?;
        // Counted and stored in one transaction: concurrent sessions (or nodes) of one
        // user cannot go past the quota together.
        let owner = me.to_owned();
        let stored = blocking(&self.store, move |s| {
            s.publish_key_packages(
                &owner,
                &packages,
                last_resort.as_ref(),
                MAX_STORED_KEY_PACKAGES as u64,
                now,
            )
        })
        .await?;
        if !stored {
            return Err(Refusal::QuotaExceeded {
                reason: format!("at most {MAX_STORED_KEY_PACKAGES} key packages stored"),
            });
        }
        Ok(Reply::Done)
    }

    /// [`crate::proto::Request::FetchKeyPackage`]: one of `user`'s key packages, for
    /// `me` to invite them.
    pub(super) async fn fetch_key_package(&self, me: &str, user: String) -> Result<Reply, Refusal> {
        self.spend(Limit::Fetches, me).map_err(limited)?;
        self.require_user(&user).await?;
        // One-use packages are handed out at a bounded rate per owner and per (owner,
        // requester); past either, the last-resort one: nobody can drain someone's
        // packages, and one requester cannot take the owner's whole share of the hour.
        let one_use = user == me
            || (self.limits.one_use_packages_per_hour > 0
                && self.limits.one_use_packages_per_requester > 0
                && self
                    .spend(Limit::OneUsePair, &format!("{user}\u{0}{me}"))
                    .is_ok()
                && self.spend(Limit::OneUse, &user).is_ok());
        let u = user.clone();
        match blocking(&self.store, move |s| {
            s.take_key_package(&u, one_use, now_ms())
        })
        .await?
        {
            Some(p) => Ok(Reply::KeyPackage(p)),
            None => Err(Refusal::NoKeyPackage { user }),
        }
    }

    /// [`crate::proto::Request::KeyPackageCount`]: how many one-use key packages of
    /// `me` are stored and unexpired.
    pub(super) async fn key_package_count(&self, me: &str) -> Result<Reply, Refusal> {
        let me = me.to_owned();
        Ok(Reply::Count(
            blocking(&self.store, move |s| s.key_package_count(&me, now_ms())).await?,
        ))
    }
}
