//! Reconnection as a state machine, with no sockets, threads or clock of its own: what
//! a client that keeps itself connected ([`super::Background`], its driver) does when
//! its connection ends. The driver tells it what happened (connected, lost, an attempt
//! failed) with the time, and asks it when the next attempt is due and which events to
//! hand out; it decides when to try again (with [`Backoff`]) and when to give up.
//!
//! ```text
//!            connect (by the program)
//!   Idle ───────────────────────────────▶ Up ◀──────────────┐
//!     ▲                                    │ lost            │ attempt succeeded:
//!     │ close, or lost with                ▼                 │ Connected
//!     │ reconnection off:               Down ────────────────┘
//!     │ Disconnected{retrying: false}      │ ▲ attempt failed (retryable):
//!     │                                    │ └─ wait (backoff)
//!     │                                    │ attempt failed (cannot help):
//!     └──────────── GaveUp ◀───────────────┘ Disconnected{retrying: false}
//! ```

use std::collections::VecDeque;
use std::time::Instant;

use super::backoff::Backoff;
use super::ChatEvent;
use crate::error::{ClientError, ErrorKind};

/// Where a client reconnects: what the program connected with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The addresses, tried in order.
    pub addresses: Vec<String>,
    /// The server's fingerprint the program gave, if any.
    pub expected: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not connected, and not trying to be (never connected, closed, or reconnection
    /// off).
    Idle,
    /// Connected.
    Up,
    /// Lost: the next attempt is due at this instant.
    Down { next_at: Instant },
    /// An attempt failed in a way trying again cannot fix.
    GaveUp,
}

/// The connection's life as the reconnection sees it.
#[derive(Debug)]
pub(crate) struct Link {
    target: Option<Target>,
    enabled: bool,
    state: State,
    backoff: Backoff,
    /// Events for the program, oldest first.
    events: VecDeque<ChatEvent>,
}

/// Whether an attempt that failed with `kind` may succeed later: the server away or
/// busy may come back; a changed key, a refused or taken name, another protocol
/// version, a wrong passphrase or a home in use will not change by waiting.
fn retryable(kind: ErrorKind) -> bool {
    !kind.is_fatal() && !matches!(kind, ErrorKind::RegistrationRefused | ErrorKind::HomeInUse)
}

impl Link {
    /// Idle, reconnection on.
    pub(crate) fn new() -> Self {
        Link {
            target: None,
            enabled: true,
            state: State::Idle,
            backoff: Backoff::default(),
            events: VecDeque::new(),
        }
    }

    /// Turns reconnection on or off (from the next loss on).
    pub(crate) fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
        if !on && matches!(self.state, State::Down { .. }) {
            self.state = State::Idle;
        }
    }

    /// The program connected to `target`.
    pub(crate) fn connected(&mut self, target: Target) {
        self.target = Some(target);
        self.state = State::Up;
        self.backoff.reset();
    }

    /// The program closed the connection: nothing to reconnect.
    pub(crate) fn closed(&mut self) {
        self.target = None;
        self.state = State::Idle;
    }

    /// Whether the connection is believed up.
    pub(crate) fn is_up(&self) -> bool {
        self.state == State::Up
    }

    /// The connection ended (`reason`) at `now`.
    pub(crate) fn lost(&mut self, reason: String, now: Instant) {
        if self.state != State::Up {
            return;
        }
        let retrying = self.enabled && self.target.is_some();
        self.state = if retrying {
            State::Down {
                next_at: now + self.backoff.next_delay(),
            }
        } else {
            State::Idle
        };
        self.events
            .push_back(ChatEvent::Disconnected { reason, retrying });
    }

    /// The target to try now, if an attempt is due at `now`.
    pub(crate) fn due(&self, now: Instant) -> Option<&Target> {
        match self.state {
            State::Down { next_at } if now >= next_at => self.target.as_ref(),
            _ => None,
        }
    }

    /// When the driver must look again (the next attempt), if it waits for one.
    pub(crate) fn wake_at(&self) -> Option<Instant> {
        match self.state {
            State::Down { next_at } => Some(next_at),
            _ => None,
        }
    }

    /// Whether the client keeps itself connected now: connected by the program, with
    /// reconnection on, and not given up (connected, or about to reconnect).
    pub(crate) fn keeps_trying(&self) -> bool {
        self.enabled
            && self.target.is_some()
            && matches!(self.state, State::Up | State::Down { .. })
    }

    /// Whether a reconnection is under way (calls wait for it).
    pub(crate) fn reconnecting(&self) -> bool {
        matches!(self.state, State::Down { .. })
    }

    /// An attempt connected to `address`.
    pub(crate) fn reconnected(&mut self, address: String) {
        if !self.reconnecting() {
            return;
        }
        self.state = State::Up;
        self.backoff.reset();
        self.events.push_back(ChatEvent::Connected { address });
    }

    /// An attempt failed with `error` at `now`: the next is scheduled, or the
    /// reconnection gives up (said once).
    pub(crate) fn attempt_failed(&mut self, error: &ClientError, now: Instant) {
        if !self.reconnecting() {
            return;
        }
        if retryable(error.kind()) {
            self.state = State::Down {
                next_at: now + self.backoff.next_delay(),
            };
        } else {
            self.state = State::GaveUp;
            if error.kind() == ErrorKind::DeviceRevoked {
                self.events.push_back(ChatEvent::DeviceRevoked);
            }
            self.events.push_back(ChatEvent::Disconnected {
                reason: error.to_string(),
                retrying: false,
            });
        }
    }

    /// Whether an event waits.
    pub(crate) fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The oldest events, up to `max`.
    pub(crate) fn take_events(&mut self, max: usize) -> Vec<ChatEvent> {
        let n = max.min(self.events.len());
        self.events.drain(..n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    use crate::error::NetError;

    fn target() -> Target {
        Target {
            addresses: vec!["a:1".into(), "b:2".into()],
            expected: None,
        }
    }

    #[test]
    fn a_lost_connection_is_tried_again_with_backoff_until_it_is_back() {
        let mut link = Link::new();
        let t0 = Instant::now();
        link.connected(target());
        assert!(link.due(t0).is_none());
        link.lost("the server closed the connection".into(), t0);
        assert_eq!(
            link.take_events(10),
            [ChatEvent::Disconnected {
                reason: "the server closed the connection".into(),
                retrying: true
            }]
        );
        assert!(link.reconnecting());
        // Not before the first delay (0.5 s, plus up to a quarter).
        assert!(link.due(t0).is_none());
        let first = link.wake_at().unwrap() - t0;
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_millis(625));
        let t1 = link.wake_at().unwrap();
        assert_eq!(link.due(t1), Some(&target()));
        // A failure that waiting may cure: the next delay is longer, no event.
        link.attempt_failed(&ClientError::Timeout(Duration::from_secs(1)), t1);
        let second = link.wake_at().unwrap() - t1;
        assert!(second >= Duration::from_secs(1), "{second:?}");
        assert!(!link.has_events());
        link.reconnected("b:2".into());
        assert!(link.is_up() && !link.reconnecting());
        assert_eq!(
            link.take_events(10),
            [ChatEvent::Connected {
                address: "b:2".into()
            }]
        );
        // The delays start over after a success.
        link.lost("again".into(), t1);
        assert!(link.wake_at().unwrap() - t1 <= Duration::from_millis(625));
    }

    #[test]
    fn failures_that_waiting_cannot_cure_stop_the_reconnection() {
        for error in [
            ClientError::ServerKeyChanged {
                address: "a:1".into(),
                pinned: "x".into(),
                presented: "y".into(),
                known_servers: "known_servers".into(),
            },
            ClientError::Refused(crate::proto::Refusal::RegistrationRefused {
                reason: "no".into(),
            }),
        ] {
            let mut link = Link::new();
            let t0 = Instant::now();
            link.connected(target());
            link.lost("gone".into(), t0);
            link.take_events(10);
            link.attempt_failed(&error, t0 + Duration::from_secs(1));
            assert!(!link.reconnecting());
            assert!(link.due(t0 + Duration::from_secs(3600)).is_none());
            let events = link.take_events(10);
            assert!(
                matches!(
                    &events[..],
                    [ChatEvent::Disconnected {
                        retrying: false,
                        ..
                    }]
                ),
                "{events:?}"
            );
        }
    }

    #[test]
    fn a_revoked_device_is_told_so_and_stops() {
        let mut link = Link::new();
        let t0 = Instant::now();
        link.connected(target());
        link.lost("closed by the server".into(), t0);
        link.take_events(10);
        let revoked = ClientError::Refused(crate::proto::Refusal::DeviceRevoked);
        link.attempt_failed(&revoked, t0 + Duration::from_secs(1));
        assert!(!link.reconnecting());
        let events = link.take_events(10);
        assert!(
            matches!(
                &events[..],
                [
                    ChatEvent::DeviceRevoked,
                    ChatEvent::Disconnected {
                        retrying: false,
                        ..
                    }
                ]
            ),
            "{events:?}"
        );
    }

    #[test]
    fn with_reconnection_off_a_loss_is_said_and_nothing_is_tried() {
        let mut link = Link::new();
        link.set_enabled(false);
        let t0 = Instant::now();
        link.connected(target());
        link.lost("gone".into(), t0);
        assert_eq!(
            link.take_events(10),
            [ChatEvent::Disconnected {
                reason: "gone".into(),
                retrying: false
            }]
        );
        assert!(link.wake_at().is_none());
        // Closed by the program: no event, nothing to reconnect.
        let mut link = Link::new();
        link.connected(target());
        link.closed();
        link.lost("closed".into(), t0);
        assert!(!link.has_events() && link.wake_at().is_none());
        // A disconnect error of an attempt is retryable.
        assert!(retryable(ClientError::from(NetError::Closed).kind()));
        assert!(retryable(ClientError::ConnectionClosed.kind()));
    }
}
