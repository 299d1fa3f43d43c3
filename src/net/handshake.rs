//! The Noise_XX handshake, client side and server side.

use std::time::Duration;

use snow::{Builder, HandshakeState};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::NetError;
use crate::identity::StaticKeypair;
use crate::net::channel::split;
use crate::net::{read_frame, write_frame, Opener, Sealer, NOISE_PARAMS, PROLOGUE};

/// Handshake messages are small; anything bigger is garbage.
const MAX_HANDSHAKE_FRAME: usize = 1024;

/// A finished handshake: the peer's static public key and the two channel halves.
#[derive(Debug)]
pub struct Established {
    /// The peer's static public key, proven by the handshake.
    pub peer_key: [u8; 32],
    /// The sending half.
    pub sealer: Sealer,
    /// The receiving half.
    pub opener: Opener,
}

fn builder<'a>(key: &'a StaticKeypair) -> Result<Builder<'a>, NetError> {
    let params = NOISE_PARAMS
        .parse()
        .map_err(|e| NetError::Handshake(format!("{e:?}")))?;
    Builder::new(params)
        .local_private_key(key.private())
        .and_then(|b| b.prologue(PROLOGUE))
        .map_err(|e| NetError::Handshake(e.to_string()))
}

fn noise<T>(result: Result<T, snow::Error>) -> Result<T, NetError> {
    result.map_err(|e| NetError::Handshake(e.to_string()))
}

async fn send<W: AsyncWrite + Unpin>(
    state: &mut HandshakeState,
    writer: &mut W,
) -> Result<(), NetError> {
    let mut buf = [0u8; MAX_HANDSHAKE_FRAME];
    let n = noise(state.write_message(&[], &mut buf))?;
    write_frame(writer, &buf[..n]).await
}

async fn receive<R: AsyncRead + Unpin>(
    state: &mut HandshakeState,
    reader: &mut R,
    timeout: Duration,
) -> Result<(), NetError> {
    let frame = read_frame(reader, Some(timeout), timeout, MAX_HANDSHAKE_FRAME).await?;
    let mut payload = [0u8; MAX_HANDSHAKE_FRAME];
    noise(state.read_message(&frame, &mut payload))?;
    Ok(())
}

fn finish(state: HandshakeState) -> Result<Established, NetError> {
    let mut peer_key = [0u8; 32];
    let remote = state
        .get_remote_static()
        .ok_or_else(|| NetError::Handshake("the peer sent no static key".into()))?;
    peer_key.copy_from_slice(remote);
    let (sealer, opener) = split(noise(state.into_stateless_transport_mode())?);
    Ok(Established {
        peer_key,
        sealer,
        opener,
    })
}

/// The initiator's side. `verify` sees the server's static key after message 2 and
/// before message 3 (which reveals the client's own identity); an error from it
/// aborts the handshake and is returned as is.
pub async fn client_handshake<S, E, F>(
    stream: &mut S,
    key: &StaticKeypair,
    timeout: Duration,
    verify: F,
) -> Result<Result<Established, E>, NetError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&[u8; 32]) -> Result<(), E>,
{
    let run = async {
        let mut state = noise(builder(key)?.build_initiator())?;
        send(&mut state, stream).await?;
        receive(&mut state, stream, timeout).await?;
        let mut server_key = [0u8; 32];
        server_key.copy_from_slice(
            state
                .get_remote_static()
                .ok_or_else(|| NetError::Handshake("the server sent no static key".into()))?,
        );
        if let Err(e) = verify(&server_key) {
            return Ok(Err(e));
        }
        send(&mut state, stream).await?;
        finish(state).map(Ok)
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| NetError::HandshakeTimeout(timeout))?
}

/// The responder's side, bounded as a whole by `timeout`.
pub async fn server_handshake<S>(
    stream: &mut S,
    key: &StaticKeypair,
    timeout: Duration,
) -> Result<Established, NetError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let run = async {
        let mut state = noise(builder(key)?.build_responder())?;
        receive(&mut state, stream, timeout).await?;
        send(&mut state, stream).await?;
        receive(&mut state, stream, timeout).await?;
        finish(state)
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| NetError::HandshakeTimeout(timeout))?
}
