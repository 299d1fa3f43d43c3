//! Log lines that a peer on the bus could otherwise multiply: the first occurrence is
//! said at once, the rest summed up in at most one line per [`EVERY`] (the metrics
//! count each one).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one line per this long.
pub(crate) const EVERY: Duration = Duration::from_secs(30);

/// One kind of repeated event, said at most once per [`EVERY`].
#[derive(Debug, Default)]
pub(crate) struct Summary {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    said: Option<Instant>,
    unsaid: u64,
}

impl Summary {
    /// Counts one occurrence at `now`: `Some(n)` when a line is due, `n` being how
    /// many occurrences it covers (this one included).
    pub(crate) fn note(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.unsaid += 1;
        if state.said.is_some_and(|t| now.duration_since(t) < EVERY) {
            return None;
        }
        state.said = Some(now);
        Some(std::mem::take(&mut state.unsaid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_thousand_occurrences_make_one_line_then_one_per_period() {
        let summary = Summary::default();
        let start = Instant::now();
        let lines: Vec<u64> = (0..20_000).filter_map(|_| summary.note(start)).collect();
        assert_eq!(lines, [1]);
        assert_eq!(summary.note(start + EVERY), Some(20_000));
        assert_eq!(summary.note(start + EVERY), None);
    }
}
