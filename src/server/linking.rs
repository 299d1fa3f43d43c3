//! A device being linked, on the server: a connection whose first request is
//! [`Request::LinkJoin`] instead of Hello. It gets the offer of the user's first
//! device, sends its answer (relayed to that device as [`Event::LinkAnswered`]), waits
//! for the grant the first device seals for it ([`Request::GrantLink`], checked in
//! `handler::devices`), and ends. The server relays sealed bytes it cannot open: the
//! code's secret never reaches it.
//!
//! Each attempt costs the address one of [`Shared::link_joins`], and an offer is
//! answered once: a wrong guess spends the offer (the person asks for a new code), so
//! guessing gains one try per code shown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::error::NetError;
use crate::net::{Opener, Sealer};
use crate::proto::{
    check_name, decode, encode, ClientFrame, Event, Refusal, Reply, Request, ServerFrame,
    MAX_LINK_SEALED, VERSION,
};
use crate::server::admission::address_key;
use crate::server::hub::Outbound;
use crate::server::link_offers::NoOffer;
use crate::server::Shared;

/// How long the first device has to grant once the new one answered.
const GRANT_WAIT: Duration = Duration::from_secs(60);

/// The connection of a device being linked, from its `LinkJoin` (request `id`) on.
pub(crate) struct Joining<'a> {
    /// The connection's halves and its Noise state.
    pub rd: OwnedReadHalf,
    pub wr: OwnedWriteHalf,
    pub sealer: Sealer,
    pub opener: Opener,
    /// The new device's transport key (the handshake's).
    pub peer_key: [u8; 32],
    pub peer: SocketAddr,
    pub shared: &'a Arc<Shared>,
}

fn refused(reason: impl Into<String>) -> Refusal {
    Refusal::LinkRefused {
        reason: reason.into(),
    }
}

impl Joining<'_> {
    async fn reply(&mut self, id: u64, result: Result<Reply, Refusal>) -> Result<(), NetError> {
        if let Err(refusal) = &result {
            self.shared.metrics.refused(refusal.label());
        }
        super::session::write_direct(
            &mut self.wr,
            &mut self.sealer,
            &ServerFrame::Reply { id, result },
            self.shared.limits.write_timeout,
        )
        .await
    }

    /// Serves the whole exchange; the connection ends after it (the error says how).
    pub(crate) async fn serve(
        mut self,
        id: u64,
        version: u16,
        user: String,
        slot: String,
    ) -> NetError {
        // The request a refusal answers: the LinkJoin, then the LinkAnswer.
        let mut id = id;
        match self.exchange(&mut id, version, &user, &slot).await {
            Ok(()) => NetError::Ended(format!("a device of {user} was linked")),
            Err(Ok(refusal)) => match self.reply(id, Err(refusal.clone())).await {
                Ok(()) => NetError::Ended(refusal.to_string()),
                Err(e) => e,
            },
            Err(Err(e)) => e,
        }
    }

    /// The exchange; `Err(Ok(refusal))` is said to the device, `Err(Err(e))` ends the
    /// connection as it is.
    async fn exchange(
        &mut self,
        id: &mut u64,
        version: u16,
        user: &str,
        slot: &str,
    ) -> Result<(), Result<Refusal, NetError>> {
        let shared = self.shared.clone();
        if version != VERSION {
            return Err(Ok(Refusal::VersionMismatch { server: VERSION }));
        }
        if let Err(why) = check_name(user) {
            return Err(Ok(Refusal::BadRequest {
                reason: format!("{user:?}: {why}"),
            }));
        }
        let address = address_key(self.peer.ip()).to_string();
        if let Err(wait) = shared.link_joins.take_n_or_wait(&address, 1) {
            return Err(Ok(crate::server::rate::limited(wait)));
        }
        let no_offer = |why: NoOffer| match why {
            NoOffer::Missing => refused("no offer at this code (wrong code, expired, or replaced)"),
            NoOffer::Used => refused("this code was used already; ask for a new one"),
        };
        let message = shared
            .link_offers
            .message(user, slot)
            .map_err(|w| Ok(no_offer(w)))?;
        self.reply(*id, Ok(Reply::LinkOffer(message)))
            .await
            .map_err(Err)?;

        // The answer, within the handshake's time (it is computed, not typed).
        let limits = &shared.limits;
        let bytes = self
            .opener
            .open(
                &mut self.rd,
                Some(limits.handshake_timeout),
                limits.frame_timeout,
            )
            .await
            .map_err(Err)?;
        let frame: ClientFrame = decode(&bytes).map_err(Err)?;
        let answer = match frame.request {
            Request::LinkAnswer { answer } if answer.len() <= MAX_LINK_SEALED => answer,
            Request::LinkAnswer { .. } => return Err(Ok(refused("the answer is too long"))),
            _ => return Err(Ok(refused("expected the answer to the offer"))),
        };
        *id = frame.id;
        let (grant, by) = shared
            .link_offers
            .answer(user, slot, self.peer_key)
            .map_err(|w| Ok(no_offer(w)))?;
        let event = ServerFrame::Event(Event::LinkAnswered {
            slot: slot.to_owned(),
            answer,
        });
        shared
            .hub
            .deliver_to_device(user, &by, &Outbound::Frame(encode(&event).into()));
        match tokio::time::timeout(GRANT_WAIT, grant).await {
            Ok(Ok(sealed)) => self
                .reply(*id, Ok(Reply::LinkGrant(sealed)))
                .await
                .map_err(Err),
            // The first device refused the certificate's request, or the store did.
            Ok(Err(_)) => Err(Ok(refused(
                "the device in use did not link this device (a mistyped code, or a refusal)",
            ))),
            Err(_) => {
                shared.link_offers.withdraw(user);
                Err(Ok(refused("the device in use did not answer in time")))
            }
        }
    }
}
