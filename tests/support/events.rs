//! Reading what a client received, for assertions.

use std::time::Duration;

use smc::client::ChatEvent;
use smc::Client;

/// How long without any event means "nothing more is coming".
pub const QUIET: Option<Duration> = Some(Duration::from_millis(500));

/// Every event until nothing comes for a while.
pub fn drain(c: &mut Client) -> Vec<ChatEvent> {
    let mut out = Vec::new();
    while let Some(e) = c.recv_event(QUIET).unwrap() {
        out.push(e);
    }
    out
}

/// The texts of the messages among `events`.
pub fn texts(events: &[ChatEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Message(m) => Some(m.text.clone()),
            _ => None,
        })
        .collect()
}

/// The reasons of the undecryptable items among `events`.
pub fn unreadable(events: &[ChatEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Undecryptable { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}
