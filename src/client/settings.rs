//! What a program sets on its [`Client`](super::Client): timeouts, keep-alives,
//! auto-join, the self-update policy, the registration token. One concern of the
//! client's fields, apart from its identity, its connection and what waits to be
//! processed.

use std::time::Duration;

use super::connection;
use super::self_update::SelfUpdatePolicy;

/// The settings of one client.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    /// How long a request waits for its reply ([`super::Client::set_request_timeout`]).
    pub request_timeout: Duration,
    /// Keep-alive interval of the next connections ([`super::Client::set_keepalive`]).
    pub keepalive: Duration,
    /// Accept checked invitations at once ([`super::Client::set_auto_join`]).
    pub auto_join: bool,
    /// When the leaf key is renewed ([`super::Client::set_self_update_policy`]).
    pub self_update: SelfUpdatePolicy,
    /// Presented at Hello ([`super::Client::set_registration_token`]).
    pub registration_token: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            request_timeout: super::DEFAULT_REQUEST_TIMEOUT,
            keepalive: connection::KEEPALIVE,
            auto_join: false,
            self_update: SelfUpdatePolicy::default(),
            registration_token: None,
        }
    }
}
