//! The v2 transport: a Noise_XX handshake, then length-prefixed encrypted frames.
//!
//! On the wire every frame is a big-endian `u16` length and that many bytes. The first
//! three frames are the Noise_XX handshake messages; each later frame is a ChaCha20-Poly1305
//! ciphertext (at most 65,535 bytes, Noise's limit) whose plaintext starts with a flag byte
//! (`1`: last chunk of a message, `0`: more follow). An application message larger than one
//! frame is split across frames and is limited to [`MAX_MESSAGE`] bytes.

mod channel;
mod frame;
mod handshake;
mod limits;

#[cfg(test)]
pub(crate) use channel::test_ends;
pub use channel::{Message, Opener, Sealer};
pub use frame::read_frame;
pub(crate) use frame::write_frame;
pub use handshake::{client_handshake, server_handshake, Established};
pub use limits::Limits;

/// The Noise protocol name (pattern XX: both sides prove a static key).
pub(crate) const NOISE_PARAMS: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";

/// Mixed into the handshake hash: a peer speaking another protocol or version fails the
/// handshake instead of being misread.
pub(crate) const PROLOGUE: &[u8] = b"smc/2 Noise_XX_25519_ChaChaPoly_BLAKE2s";

/// Largest application payload (a message's text or MLS ciphertext): 1 MiB.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// Largest encoded protocol message: a maximal payload plus room for its envelope.
pub const MAX_MESSAGE: usize = MAX_PAYLOAD + 64 * 1024;

/// Largest Noise message (and so frame body).
pub const MAX_FRAME: usize = 65_535;

/// Authentication tag added by ChaCha20-Poly1305 to every frame.
pub(crate) const TAG_LEN: usize = 16;
