//! The v2 protocol: what travels inside the encrypted channel.
//!
//! The client sends [`ClientFrame`]s (a request id and a [`Request`]); the server sends
//! [`ServerFrame`]s: the [`Reply`] to a request (or the [`Refusal`] of it), or an
//! [`Event`] it pushes on its own (a new message, a direct delivery). Values are encoded
//! with postcard; [`VERSION`] is checked in [`Request::Hello`].

mod blob;
mod codec;
mod envelope;
mod names;
mod refusal;
mod request;

pub use blob::{
    blob_batch_len, blob_chunk_len, blob_chunks, sealed_size, BlobId, BLOB_BATCH, BLOB_CHUNK,
    BLOB_TAG, MAX_BLOB_SIZE,
};
pub use codec::{decode, encode};
pub use envelope::{DirectEnvelope, Envelope};
pub(crate) use names::unfit;
pub use names::{check_name, look_alike, skeletons, MAX_NAME};
pub use refusal::Refusal;
pub use request::{
    ClientFrame, DeviceInfo, Event, Invitation, Reply, Request, ServerFrame, MAX_LINK_MESSAGE,
    MAX_LINK_SEALED,
};

/// Protocol version spoken by this build.
pub const VERSION: u16 = 2;
