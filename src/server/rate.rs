//! A token bucket: a sustained rate with a burst allowance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The refusal for a request that may be made again after `wait`.
pub(crate) fn limited(wait: std::time::Duration) -> crate::proto::Refusal {
    crate::proto::Refusal::RateLimited {
        retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
    }
}

/// Allows `rate` events per second on average and `burst` at once.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(super) fn new(rate: u32, burst: u32) -> Self {
        Self::per_second(f64::from(rate), burst)
    }

    /// A full bucket refilled at `rate` tokens per second (a fraction for slow rates).
    pub(super) fn per_second(rate: f64, burst: u32) -> Self {
        TokenBucket {
            rate,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    #[cfg(test)]
    fn take(&mut self) -> bool {
        self.take_or_wait().is_ok()
    }

    /// Takes one token, or says how long until there is one.
    pub(super) fn take_or_wait(&mut self) -> Result<(), std::time::Duration> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else if self.rate > 0.0 {
            Err(std::time::Duration::from_secs_f64(
                ((1.0 - self.tokens) / self.rate).min(86_400.0),
            ))
        } else {
            Err(std::time::Duration::from_secs(86_400))
        }
    }

    /// Takes one token whatever the bucket holds (spent through another node): it
    /// may go below zero, down to minus its burst, and refills from there.
    pub(super) fn charge(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = ((self.tokens + elapsed * self.rate).min(self.burst) - 1.0).max(-self.burst);
    }

    /// Whether the bucket has refilled completely (as if never used).
    pub(super) fn is_full(&self) -> bool {
        let elapsed = self.last.elapsed().as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
    }
}

/// One token bucket per key (a user name): limits that hold across all of a user's
/// sessions.
#[derive(Debug)]
pub(crate) struct KeyedLimiter {
    rate: f64,
    burst: u32,
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

/// The per-user rates of a server ([`crate::net::Limits`]).
#[derive(Debug)]
pub(crate) struct UserRates {
    /// Direct deliveries sent, per sender.
    pub directs: KeyedLimiter,
    /// Key packages fetched, per requester.
    pub fetches: KeyedLimiter,
    /// One-use key packages handed out, per owner.
    pub one_use: KeyedLimiter,
    /// One-use key packages of one owner handed to one requester.
    pub one_use_pair: KeyedLimiter,
}

impl UserRates {
    /// The limiter of `limit`.
    pub(crate) fn get(&self, limit: crate::server::bus::Limit) -> &KeyedLimiter {
        use crate::server::bus::Limit;
        match limit {
            Limit::Directs => &self.directs,
            Limit::Fetches => &self.fetches,
            Limit::OneUse => &self.one_use,
            Limit::OneUsePair => &self.one_use_pair,
        }
    }

    /// The rates `limits` set.
    pub(crate) fn new(limits: &crate::net::Limits) -> Self {
        UserRates {
            directs: KeyedLimiter::new(
                limits.directs_per_minute,
                60,
                limits.directs_per_minute / 2,
            ),
            fetches: KeyedLimiter::new(limits.key_package_fetches_per_minute, 60, 100),
            one_use: KeyedLimiter::new(
                limits.one_use_packages_per_hour,
                3600,
                limits.one_use_packages_per_hour,
            ),
            one_use_pair: KeyedLimiter::new(
                limits.one_use_packages_per_requester,
                3600,
                limits.one_use_packages_per_requester,
            ),
        }
    }
}

/// Buckets kept before idle (full) ones are forgotten.
const MAX_KEYS: usize = 100_000;

impl KeyedLimiter {
    /// `per_period` events per `period_secs` seconds per key, `burst` at once.
    pub(crate) fn new(per_period: u32, period_secs: u32, burst: u32) -> Self {
        KeyedLimiter {
            rate: f64::from(per_period) / f64::from(period_secs.max(1)),
            burst: burst.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token of `key`'s bucket if there is one.
    #[cfg(test)]
    pub(crate) fn take(&self, key: &str) -> bool {
        self.take_or_wait(key).is_ok()
    }

    /// Takes one token of `key`'s bucket, or says how long until there is one.
    pub(crate) fn take_or_wait(&self, key: &str) -> Result<(), std::time::Duration> {
        self.with_bucket(key, TokenBucket::take_or_wait)
    }

    /// Takes one token of `key`'s bucket whatever it holds: spent through another
    /// node, so that the rate holds across the cluster.
    pub(crate) fn charge(&self, key: &str) {
        self.with_bucket(key, TokenBucket::charge)
    }

    fn with_bucket<R>(&self, key: &str, f: impl FnOnce(&mut TokenBucket) -> R) -> R {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            // Forget the buckets that have refilled: they hold no information.
            buckets.retain(|_, b| !b.is_full());
        }
        f(buckets
            .entry(key.to_owned())
            .or_insert_with(|| TokenBucket::per_second(self.rate, self.burst)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    /// Moves `bucket`'s clock back by `secs`, as if that much time had passed.
    fn age(bucket: &mut TokenBucket, secs: f64) {
        bucket.last -= Duration::from_secs_f64(secs);
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let mut bucket = TokenBucket::new(2, 3);
        assert!(bucket.take() && bucket.take() && bucket.take());
        assert!(!bucket.take(), "burst spent");
        assert!(!bucket.is_full());
        // Half a second at 2/s: one token.
        age(&mut bucket, 0.5);
        assert!(bucket.take());
        assert!(!bucket.take());
        // A long pause refills up to the burst, not beyond.
        age(&mut bucket, 3600.0);
        assert!(bucket.is_full());
        assert!(bucket.take() && bucket.take() && bucket.take());
        assert!(!bucket.take());
    }

    #[test]
    fn slow_rates_and_a_zero_burst_still_work() {
        // One per hour, burst 0 is treated as 1 (a bucket that never allows is a bug).
        let mut bucket = TokenBucket::per_second(1.0 / 3600.0, 0);
        assert!(bucket.take());
        assert!(!bucket.take());
        age(&mut bucket, 1800.0);
        assert!(!bucket.take(), "half the period gives half a token");
        age(&mut bucket, 1800.0);
        assert!(bucket.take());
    }

    #[test]
    fn a_spent_key_is_not_forgotten_when_the_table_is_full() {
        // Flooding the table with new keys must not reset a spent bucket.
        let limiter = KeyedLimiter::new(1, 3600, 1);
        assert!(limiter.take("mallory"));
        assert!(!limiter.take("mallory"));
        for i in 0..MAX_KEYS {
            assert!(limiter.take(&format!("sock{i}")));
        }
        assert!(!limiter.take("mallory"));
    }

    #[test]
    fn full_buckets_are_forgotten_when_the_table_is_full() {
        // A fast rate: every bucket is full again almost at once.
        let limiter = KeyedLimiter::new(1_000_000, 1, 1);
        for i in 0..MAX_KEYS {
            assert!(limiter.take(&format!("user{i}")));
        }
        std::thread::sleep(Duration::from_millis(5));
        assert!(limiter.take("newcomer"));
        let kept = limiter.buckets.lock().unwrap().len();
        assert!(kept < MAX_KEYS, "{kept} buckets kept");
    }

    #[test]
    fn tokens_spent_elsewhere_count_here() {
        let limiter = KeyedLimiter::new(1, 3600, 3);
        limiter.charge("a");
        limiter.charge("a");
        assert!(limiter.take("a"));
        assert!(
            !limiter.take("a"),
            "two of three spent through another node"
        );
        for _ in 0..100 {
            limiter.charge("b");
        }
        let mut buckets = limiter.buckets.lock().unwrap();
        let b = buckets.get_mut("b").unwrap();
        assert!(b.tokens >= -3.0, "bounded below by minus the burst");
    }

    #[test]
    fn each_key_has_its_own_bucket() {
        let limiter = KeyedLimiter::new(1, 3600, 2);
        assert!(limiter.take("a") && limiter.take("a"));
        assert!(!limiter.take("a"));
        assert!(limiter.take("b"));
    }
}
