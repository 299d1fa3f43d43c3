//! A token bucket: a sustained rate with a burst allowance; and the per-user rates a
//! cluster's nodes share.
//!
//! # Across nodes
//! A unit spent through one node is charged on the others too: each node tells the
//! others, per key, how many units it has spent since its bucket for that key was last
//! full (a [`Spending`]: the episode's start and a total), at once and again every
//! [`crate::server::bus::SWEEP`] while that bucket has not refilled. A receiver charges
//! what it had not heard of yet: a lost event is made up for by the next one, a
//! repeated one charges nothing. What a receiver hears first of an episode that began
//! before it was listening charges one unit for a live spend and nothing for a
//! repetition: a node that restarts does not charge again what other nodes spent before
//! (its own buckets forgot it as well).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::server::bus::Spending;

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
    /// When the bucket was last full as a unit was taken (ms since the Unix epoch).
    since_ms: i64,
    /// Units taken (through this node) since then.
    units: u32,
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
            since_ms: 0,
            units: 0,
        }
    }

    /// Takes one token if there is one.
    #[cfg(test)]
    fn take(&mut self) -> bool {
        self.take_or_wait().is_ok()
    }

    /// Takes one token, or says how long until there is one.
    pub(super) fn take_or_wait(&mut self) -> Result<(), std::time::Duration> {
        self.take_n_or_wait(1)
    }

    /// Takes `n` tokens (`n` units at once), or says how long until there are enough.
    /// More than the burst are taken once the bucket is full, leaving it in debt (down
    /// to minus the rest), so that no `n` waits forever and the rate still holds.
    pub(super) fn take_n_or_wait(&mut self, n: u32) -> Result<(), std::time::Duration> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        let need = f64::from(n.max(1)).min(self.burst);
        if self.tokens >= need {
            if self.tokens >= self.burst || self.units == 0 {
                // Full (or never taken from here): nothing spent before counts any
                // more; a new episode begins.
                self.since_ms = chrono::Utc::now().timestamp_millis();
                self.units = 0;
            }
            self.tokens -= f64::from(n.max(1));
            self.units = self.units.saturating_add(n.max(1));
            Ok(())
        } else if self.rate > 0.0 {
            Err(std::time::Duration::from_secs_f64(
                ((need - self.tokens) / self.rate).min(86_400.0),
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

    /// What was taken through this node in the current episode, for the other nodes.
    fn spending(&self, key: &str) -> Spending {
        Spending {
            key: key.to_owned(),
            since_ms: self.since_ms,
            units: self.units,
        }
    }
}

/// One token bucket per key (a user name): limits that hold across all of a user's
/// sessions, and across the nodes of a cluster.
#[derive(Debug)]
pub(crate) struct KeyedLimiter {
    rate: f64,
    burst: u32,
    buckets: Mutex<HashMap<String, TokenBucket>>,
    /// The latest [`Spending`] heard from each other node, per key.
    heard: Mutex<HashMap<(u64, String), Heard>>,
}

/// What this node last heard of one key's spending on one other node.
#[derive(Debug)]
struct Heard {
    since_ms: i64,
    units: u32,
    at: Instant,
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
    /// File chunks uploaded, per uploader.
    pub chunks: KeyedLimiter,
}

impl UserRates {
    /// Every limiter, with its name on the bus.
    pub(crate) fn all(&self) -> [(crate::server::bus::Limit, &KeyedLimiter); 5] {
        use crate::server::bus::Limit;
        [
            (Limit::Directs, &self.directs),
            (Limit::Fetches, &self.fetches),
            (Limit::OneUse, &self.one_use),
            (Limit::OneUsePair, &self.one_use_pair),
            (Limit::Chunks, &self.chunks),
        ]
    }

    /// The limiter of `limit`.
    pub(crate) fn get(&self, limit: crate::server::bus::Limit) -> &KeyedLimiter {
        use crate::server::bus::Limit;
        match limit {
            Limit::Directs => &self.directs,
            Limit::Fetches => &self.fetches,
            Limit::OneUse => &self.one_use,
            Limit::OneUsePair => &self.one_use_pair,
            Limit::Chunks => &self.chunks,
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
            chunks: {
                // A chunk is BLOB_CHUNK bytes of the file; bursts of two seconds' worth.
                let per_second = limits.upload_bytes_per_second / crate::proto::BLOB_CHUNK as u64;
                let per_second = u32::try_from(per_second.max(1)).unwrap_or(u32::MAX);
                KeyedLimiter::new(per_second, 1, per_second.saturating_mul(2))
            },
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
            heard: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token of `key`'s bucket if there is one.
    #[cfg(test)]
    pub(crate) fn take(&self, key: &str) -> bool {
        self.take_or_wait(key).is_ok()
    }

    /// Takes one token of `key`'s bucket, or says how long until there is one. Taken,
    /// it says what this node has now spent of `key`, for the other nodes.
    #[cfg(test)]
    pub(crate) fn take_or_wait(&self, key: &str) -> Result<Spending, Duration> {
        self.take_n_or_wait(key, 1)
    }

    /// Takes `n` tokens of `key`'s bucket at once ([`TokenBucket::take_n_or_wait`]),
    /// or says how long until there are enough. Taken, it says what this node has now
    /// spent of `key`, for the other nodes.
    pub(crate) fn take_n_or_wait(&self, key: &str, n: u32) -> Result<Spending, Duration> {
        self.with_bucket(key, |b| b.take_n_or_wait(n).map(|()| b.spending(key)))
    }

    /// Takes one token of `key`'s bucket whatever it holds: spent through another
    /// node, so that the rate holds across the cluster.
    fn charge(&self, key: &str) {
        self.with_bucket(key, TokenBucket::charge)
    }

    /// Charges one unit spent through another node, told by an event of an earlier
    /// version ([`crate::server::bus::BusEvent::Spent`]).
    pub(crate) fn charge_one(&self, key: &str) {
        self.charge(key)
    }

    /// Charges what `node` spent of `spend.key` that this node had not heard of yet
    /// (`live`: told as it was spent; `listening_since_ms`: when this node began to
    /// hear the others). Returns the units charged.
    pub(crate) fn hear(
        &self,
        node: u64,
        spend: &Spending,
        live: bool,
        listening_since_ms: i64,
    ) -> u32 {
        let new = {
            let mut heard = self.heard.lock().unwrap_or_else(|e| e.into_inner());
            let entry = heard
                .entry((node, spend.key.clone()))
                .or_insert_with(|| Heard {
                    since_ms: i64::MIN,
                    units: 0,
                    at: Instant::now(),
                });
            entry.at = Instant::now();
            if spend.since_ms < entry.since_ms {
                return 0; // an earlier episode, told late
            }
            let new = if spend.since_ms == entry.since_ms {
                spend.units.saturating_sub(entry.units)
            } else if spend.since_ms >= listening_since_ms {
                spend.units // the whole episode happened while this node listened
            } else {
                u32::from(live) // what came before this node listened is not counted
            };
            entry.since_ms = spend.since_ms;
            entry.units = entry.units.max(spend.units);
            new
        };
        // Charges stop at minus the burst: more would change nothing.
        let charged = new.min(self.burst.saturating_mul(2));
        for _ in 0..charged {
            self.charge(&spend.key);
        }
        charged
    }

    /// What this node has spent of every key whose bucket has not refilled.
    pub(crate) fn spending(&self) -> Vec<Spending> {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .iter()
            .filter(|(_, b)| b.units > 0 && !b.is_full())
            .map(|(key, b)| b.spending(key))
            .collect()
    }

    /// Forgets what was heard of keys no node has spoken of for longer than a full
    /// refill of the bucket (and `grace` more): those episodes are over.
    pub(crate) fn forget_heard(&self, grace: Duration) {
        let refill = Duration::from_secs_f64((f64::from(self.burst) / self.rate).min(86_400.0));
        let mut heard = self.heard.lock().unwrap_or_else(|e| e.into_inner());
        heard.retain(|_, h| h.at.elapsed() < refill + grace);
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
    fn units_taken_at_once_count_each_and_more_than_the_burst_pass_once_full() {
        // 10 a second, 4 at once.
        let mut bucket = TokenBucket::new(10, 4);
        assert!(bucket.take_n_or_wait(3).is_ok());
        // One token left: 2 more wait for the one missing (about 0.1 s).
        let wait = bucket.take_n_or_wait(2).unwrap_err();
        assert!(
            wait > Duration::from_millis(50) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert_eq!(bucket.units, 3);
        // Six at once, above the burst: waits for a full bucket, then passes and leaves
        // a debt of two, so that the rate holds (the next unit waits about 0.3 s).
        let mut bucket = TokenBucket::new(10, 4);
        assert!(bucket.take_n_or_wait(6).is_ok());
        let wait = bucket.take_n_or_wait(1).unwrap_err();
        assert!(
            wait > Duration::from_millis(250) && wait <= Duration::from_millis(300),
            "{wait:?}"
        );
        assert_eq!(bucket.units, 6);
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

    /// Tokens left in `key`'s bucket of `limiter`.
    fn tokens(limiter: &KeyedLimiter, key: &str) -> f64 {
        limiter.buckets.lock().unwrap()[key].tokens
    }

    #[test]
    fn spending_lost_on_the_way_is_charged_by_the_next_word_of_it() {
        // Node A spends 4 of alice's 10; node B hears of the 1st, not of the 2nd and
        // 3rd (lost), then of the 4th: it charges 4. A's word at the next sweep
        // (the same total) charges nothing more.
        let (a, b) = (
            KeyedLimiter::new(1, 3600, 10),
            KeyedLimiter::new(1, 3600, 10),
        );
        let spent: Vec<Spending> = (0..4).map(|_| a.take_or_wait("alice").unwrap()).collect();
        assert_eq!(spent[3].units, 4);
        assert_eq!(b.hear(7, &spent[0], true, 0), 1);
        assert_eq!(
            b.hear(7, &spent[3], true, 0),
            3,
            "the two lost ones and this one"
        );
        assert_eq!(a.spending(), [spent[3].clone()]);
        assert_eq!(b.hear(7, &a.spending()[0], false, 0), 0, "said again");
        assert!((tokens(&b, "alice") - 6.0).abs() < 0.01);
        // Every live word lost: the sweep's word alone charges all of it.
        let c = KeyedLimiter::new(1, 3600, 10);
        assert_eq!(c.hear(7, &a.spending()[0], false, 0), 4);
        // An earlier episode told late charges nothing.
        let mut old = spent[0].clone();
        old.since_ms -= 1;
        assert_eq!(c.hear(7, &old, true, 0), 0);
    }

    #[test]
    fn what_was_spent_before_a_node_listened_is_not_charged_again() {
        // B started after A's episode began: A's sweep tells of 3 units, of which B
        // cannot know how many it heard; it charges none (its buckets forgot
        // everything when it started), but a unit spent live is charged.
        let a = KeyedLimiter::new(1, 3600, 10);
        for _ in 0..3 {
            a.take_or_wait("alice").unwrap();
        }
        let started = a.spending()[0].since_ms + 1;
        let b = KeyedLimiter::new(1, 3600, 10);
        assert_eq!(b.hear(7, &a.spending()[0], false, started), 0);
        let live = a.take_or_wait("alice").unwrap();
        assert_eq!(b.hear(7, &live, true, started), 1);
        // Each node's word counts apart.
        assert_eq!(b.hear(8, &live, true, 0), 4);
    }

    #[test]
    fn a_refilled_bucket_begins_a_new_episode_and_stops_being_said() {
        let a = KeyedLimiter::new(1_000_000, 1, 2);
        let first = a.take_or_wait("alice").unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(a.spending().is_empty(), "refilled: nothing to tell");
        let second = a.take_or_wait("alice").unwrap();
        assert_eq!(second.units, 1);
        assert!(second.since_ms >= first.since_ms);
        // Charged from elsewhere first: the first unit taken here starts an episode.
        let b = KeyedLimiter::new(1, 3600, 5);
        b.charge("bob");
        let taken = b.take_or_wait("bob").unwrap();
        assert_eq!(taken.units, 1);
        assert!(taken.since_ms > 0);
    }

    #[test]
    fn what_was_heard_is_forgotten_after_a_full_refill() {
        let a = KeyedLimiter::new(1_000, 1, 1); // refills in a millisecond
        let b = KeyedLimiter::new(1_000, 1, 1);
        b.hear(7, &a.take_or_wait("alice").unwrap(), true, 0);
        std::thread::sleep(Duration::from_millis(20));
        b.forget_heard(Duration::ZERO);
        assert!(b.heard.lock().unwrap().is_empty());
    }

    #[test]
    fn each_key_has_its_own_bucket() {
        let limiter = KeyedLimiter::new(1, 3600, 2);
        assert!(limiter.take("a") && limiter.take("a"));
        assert!(!limiter.take("a"));
        assert!(limiter.take("b"));
    }
}
