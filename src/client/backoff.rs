//! When to try again after the server went away: exponential, capped, with jitter so
//! that many clients do not all come back at the same instant. Used by
//! [`super::Background`]'s reconnection, and by `smc chat`.

use std::time::Duration;

/// The first wait.
pub(crate) const FIRST: Duration = Duration::from_millis(500);
/// The longest wait.
pub(crate) const CAP: Duration = Duration::from_secs(10);

/// Reconnection delays: 0.5 s, 1 s, 2 s, ... up to 10 s, each plus up to a quarter of
/// itself at random.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    attempts: u32,
}

impl Backoff {
    /// How many attempts failed since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The next delay (and counts one more failure).
    pub fn next_delay(&mut self) -> Duration {
        let base = FIRST.saturating_mul(1u32 << self.attempts.min(16)).min(CAP);
        self.attempts += 1;
        let mut byte = [0u8; 1];
        let jitter = if getrandom::fill(&mut byte).is_ok() {
            base / 4 * u32::from(byte[0]) / 255
        } else {
            Duration::ZERO
        };
        base + jitter
    }

    /// After a success.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_stays_capped_and_resets() {
        let mut b = Backoff::default();
        let first = b.next_delay();
        assert!(first >= FIRST && first <= FIRST + FIRST / 4);
        let later: Vec<Duration> = (0..20).map(|_| b.next_delay()).collect();
        assert!(later.iter().all(|d| *d <= CAP + CAP / 4));
        assert!(later.last().unwrap() >= &CAP);
        b.reset();
        assert!(b.next_delay() <= FIRST + FIRST / 4);
    }
}
