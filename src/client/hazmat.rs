//! Raw access to the server, bypassing end-to-end encryption: any request, opaque
//! payloads sent to rooms and users, stored envelopes as they are, key packages by
//! hand. For tests, tools and protocol experiments. Nothing here encrypts, decrypts or
//! checks anything: a program that mixes these calls with [`Client::send`] and
//! [`Client::recv`] on one client can put its MLS state out of step with its rooms
//! (a raw read moves the cursor past a message the client never decrypted).
//!
//! Fenced like vodozemac's `hazmat`: the calls are methods of [`RawAccess`], visible
//! only where the trait is imported (`use smc::client::hazmat::RawAccess;`).

use std::time::Duration;

use super::{Client, Sent};
use crate::error::ClientError;
use crate::proto::{DirectEnvelope, Envelope, Reply, Request};

/// The raw calls of a [`Client`] (see the module's warning).
pub trait RawAccess {
    /// Sends one request once and waits for its reply (a rate-limit refusal is
    /// returned as it is, not waited out).
    fn request(&self, request: Request) -> Result<Reply, ClientError>;

    /// Sends opaque bytes to `room` (at most 1 MiB), optionally marked as the
    /// group-state change for `commit_epoch` (refused with [`crate::Refusal::Stale`] if
    /// that epoch already has one).
    fn send_payload(
        &self,
        room: &str,
        payload: Vec<u8>,
        commit_epoch: Option<u64>,
    ) -> Result<Sent, ClientError>;

    /// Up to `limit` stored messages of `room` before `before` (or the latest), as the
    /// server stores them.
    fn history_envelopes(
        &self,
        room: &str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Envelope>, ClientError>;

    /// Waits up to `timeout` for the next new envelope of the user's rooms, as stored,
    /// and moves the saved cursor past it (do not mix with [`Client::recv`]).
    fn next_envelope(&mut self, timeout: Option<Duration>)
        -> Result<Option<Envelope>, ClientError>;

    /// Direct deliveries that are not Welcomes for this client; taking one moves the
    /// saved cursor past it ([`RawAccess::ack_directs`] lets the server delete them).
    fn take_direct(&mut self) -> Result<Option<DirectEnvelope>, ClientError>;

    /// Queues opaque bytes for `user` (delivered at once if connected); returns its id.
    fn send_direct(&self, user: &str, payload: Vec<u8>) -> Result<u64, ClientError>;

    /// Lets the server delete these direct deliveries of this user (and only these).
    fn ack_directs(&self, ids: &[u64]) -> Result<(), ClientError>;

    /// Publishes one-use key packages (and optionally a last-resort one).
    fn publish_key_packages(
        &self,
        packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
    ) -> Result<(), ClientError>;

    /// Takes one key package of `user`.
    fn fetch_key_package(&self, user: &str) -> Result<Vec<u8>, ClientError>;

    /// How many one-use key packages this user has left on the server.
    fn key_package_count(&self) -> Result<u64, ClientError>;
}

impl RawAccess for Client {
    fn request(&self, request: Request) -> Result<Reply, ClientError> {
        Client::request_once(self, &request)
    }

    fn send_payload(
        &self,
        room: &str,
        payload: Vec<u8>,
        commit_epoch: Option<u64>,
    ) -> Result<Sent, ClientError> {
        Client::send_payload(self, room, payload, commit_epoch)
    }

    fn history_envelopes(
        &self,
        room: &str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Envelope>, ClientError> {
        Client::history_envelopes(self, room, before, limit)
    }

    fn next_envelope(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<Envelope>, ClientError> {
        Client::next_envelope(self, timeout)
    }

    fn take_direct(&mut self) -> Result<Option<DirectEnvelope>, ClientError> {
        Client::take_direct(self)
    }

    fn send_direct(&self, user: &str, payload: Vec<u8>) -> Result<u64, ClientError> {
        Client::send_direct(self, user, payload)
    }

    fn ack_directs(&self, ids: &[u64]) -> Result<(), ClientError> {
        Client::ack_directs(self, ids)
    }

    fn publish_key_packages(
        &self,
        packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
    ) -> Result<(), ClientError> {
        Client::publish_key_packages(self, packages, last_resort)
    }

    fn fetch_key_package(&self, user: &str) -> Result<Vec<u8>, ClientError> {
        Client::fetch_key_package(self, user)
    }

    fn key_package_count(&self) -> Result<u64, ClientError> {
        Client::key_package_count(self)
    }
}
