//! Encrypted message channel over frames: [`Sealer`] (sending half) and [`Opener`]
//! (receiving half), which share one Noise transport state and count their own nonces,
//! so the two halves of a connection can live in different tasks.

use std::sync::Arc;
use std::time::Duration;

use snow::StatelessTransportState;
use tokio::io::AsyncRead;

use crate::error::NetError;
use crate::net::{read_frame, MAX_FRAME, MAX_MESSAGE, TAG_LEN};

/// Plaintext bytes per frame: the frame limit minus the tag and the flag byte.
const CHUNK: usize = MAX_FRAME - TAG_LEN - 1;
const MORE: u8 = 0;
const LAST: u8 = 1;

/// The sending half: turns messages into encrypted frames.
pub struct Sealer {
    keys: Arc<StatelessTransportState>,
    nonce: u64,
    plain: Vec<u8>,
}

/// The receiving half: reads frames and returns whole decrypted messages.
pub struct Opener {
    keys: Arc<StatelessTransportState>,
    nonce: u64,
    limit: usize,
}

/// One whole message, as [`Opener::open`] returns it: its bytes (what it dereferences
/// to) follow one spare byte, where each frame's flag byte was decrypted, so that every
/// frame is decrypted straight into its place in the message, without another copy.
pub struct Message(Vec<u8>);

impl std::ops::Deref for Message {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.0.get(1..).unwrap_or_default()
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Message({} bytes)", self.len())
    }
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("nonce", &self.nonce)
            .finish()
    }
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("nonce", &self.nonce)
            .finish()
    }
}

/// Both halves of a freshly established transport.
pub(crate) fn split(state: StatelessTransportState) -> (Sealer, Opener) {
    let keys = Arc::new(state);
    (
        Sealer {
            keys: keys.clone(),
            nonce: 0,
            plain: Vec::new(),
        },
        Opener {
            keys,
            nonce: 0,
            limit: MAX_MESSAGE,
        },
    )
}

impl Sealer {
    /// Appends `message`, encrypted and framed, to `out` (one frame per 65,518 bytes).
    /// Messages above [`MAX_MESSAGE`] are refused.
    pub fn seal(&mut self, message: &[u8], out: &mut Vec<u8>) -> Result<(), NetError> {
        if message.len() > MAX_MESSAGE {
            return Err(NetError::MessageTooLarge {
                size: message.len(),
                limit: MAX_MESSAGE,
            });
        }
        let mut chunks = message.chunks(CHUNK).peekable();
        if message.is_empty() {
            return self.seal_chunk(&[], true, out);
        }
        while let Some(chunk) = chunks.next() {
            self.seal_chunk(chunk, chunks.peek().is_none(), out)?;
        }
        Ok(())
    }

    /// Appends one frame holding `chunk` (at most 65,518 bytes) of a message; `last`
    /// says whether it ends the message. Low level: [`Sealer::seal`] is what programs
    /// use; this exists for tools and tests that need unusual framing.
    pub fn seal_chunk(
        &mut self,
        chunk: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), NetError> {
        if chunk.len() > CHUNK {
            return Err(NetError::BadFrame(chunk.len()));
        }
        self.plain.clear();
        self.plain.push(if last { LAST } else { MORE });
        self.plain.extend_from_slice(chunk);
        let len = self.plain.len() + TAG_LEN;
        let start = out.len();
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.resize(start + 2 + len, 0);
        let written = self
            .keys
            .write_message(self.nonce, &self.plain, &mut out[start + 2..])
            .map_err(|e| NetError::Malformed(format!("cannot encrypt: {e}")))?;
        debug_assert_eq!(written, len);
        self.nonce += 1;
        Ok(())
    }
}

impl Opener {
    /// Reads frames until one whole message has arrived and returns it. `idle` bounds
    /// the wait for the first byte of each frame (`None`: no bound); `frame_timeout`
    /// the rest of a frame. A frame that fails to decrypt, or a message above
    /// [`MAX_MESSAGE`], is an error after which the connection must be closed.
    pub async fn open<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
        idle: Option<Duration>,
        frame_timeout: Duration,
    ) -> Result<Message, NetError> {
        // The spare byte, then the message as its frames come.
        let mut message = vec![0u8];
        loop {
            let frame = read_frame(reader, idle, frame_timeout, MAX_FRAME).await?;
            if frame.len() < TAG_LEN + 1 {
                return Err(NetError::BadFrame(frame.len()));
            }
            let size = message.len() - 1 + frame.len() - TAG_LEN - 1;
            if size > self.limit {
                return Err(NetError::MessageTooLarge {
                    size,
                    limit: self.limit,
                });
            }
            // The frame's plaintext (its flag, then its part of the message) goes over
            // the message's last byte and on: the flag is read, and that byte put back.
            let at = message.len() - 1;
            let kept = message[at];
            message.resize(at + frame.len(), 0);
            let n = self
                .keys
                .read_message(self.nonce, &frame, &mut message[at..])
                .map_err(|_| NetError::Decrypt)?;
            self.nonce += 1;
            let flag = message[at];
            message[at] = kept;
            message.truncate(at + n);
            match flag {
                LAST => return Ok(Message(message)),
                // Room for a whole next frame, so that a message of two frames (a
                // file's chunk) is never moved to grow.
                MORE => message.reserve(MAX_FRAME),
                other => return Err(NetError::Malformed(format!("frame flag {other}"))),
            }
        }
    }
}

/// Both ends of a real Noise transport (NN: no static keys, which the tests of
/// framing, chunking and timing do not care about): (initiator's halves, responder's
/// halves).
#[cfg(test)]
pub(crate) fn test_ends() -> ((Sealer, Opener), (Sealer, Opener)) {
    let params: snow::params::NoiseParams = "Noise_NN_25519_ChaChaPoly_BLAKE2s".parse().unwrap();
    let mut i = snow::Builder::new(params.clone())
        .build_initiator()
        .unwrap();
    let mut r = snow::Builder::new(params).build_responder().unwrap();
    let (mut buf, mut payload) = ([0u8; 256], [0u8; 256]);
    let n = i.write_message(&[], &mut buf).unwrap();
    r.read_message(&buf[..n], &mut payload).unwrap();
    let n = r.write_message(&[], &mut buf).unwrap();
    i.read_message(&buf[..n], &mut payload).unwrap();
    (
        split(i.into_stateless_transport_mode().unwrap()),
        split(r.into_stateless_transport_mode().unwrap()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends() -> ((Sealer, Opener), (Sealer, Opener)) {
        test_ends()
    }

    /// The length prefixes of the frames in `wire`.
    fn frame_lengths(mut wire: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        while !wire.is_empty() {
            let len = usize::from(u16::from_be_bytes([wire[0], wire[1]]));
            out.push(len);
            wire = &wire[2 + len..];
        }
        out
    }

    async fn open_all(opener: &mut Opener, mut wire: &[u8]) -> Result<Vec<u8>, NetError> {
        Ok(opener
            .open(&mut wire, None, Duration::from_secs(1))
            .await?
            .to_vec())
    }

    #[tokio::test]
    async fn messages_are_cut_into_full_frames_and_put_back_together() {
        let ((mut sealer, _), (_, mut opener)) = ends();
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5] {
            let message: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut wire = Vec::new();
            sealer.seal(&message, &mut wire).unwrap();
            let lengths = frame_lengths(&wire);
            assert_eq!(
                lengths.len(),
                len.div_ceil(CHUNK).max(1),
                "frames for {len} bytes"
            );
            assert!(lengths.iter().all(|&l| l <= MAX_FRAME));
            // Every frame but the last is full.
            let full = CHUNK + 1 + TAG_LEN;
            assert!(lengths[..lengths.len() - 1].iter().all(|&l| l == full));
            assert_eq!(
                open_all(&mut opener, &wire).await.unwrap(),
                message,
                "{len} bytes"
            );
        }
    }

    #[test]
    fn a_message_over_the_limit_is_refused_before_anything_is_written() {
        let ((mut sealer, _), _) = ends();
        let mut wire = Vec::new();
        let err = sealer
            .seal(&vec![0; MAX_MESSAGE + 1], &mut wire)
            .unwrap_err();
        assert!(matches!(err, NetError::MessageTooLarge { .. }), "{err:?}");
        assert!(wire.is_empty());
        assert!(matches!(
            sealer.seal_chunk(&vec![0; CHUNK + 1], true, &mut wire),
            Err(NetError::BadFrame(_))
        ));
    }

    #[tokio::test]
    async fn a_receiver_stops_a_sender_that_never_ends_its_message() {
        let ((mut sealer, _), (_, mut opener)) = ends();
        opener.limit = 2 * CHUNK;
        let mut wire = Vec::new();
        for _ in 0..3 {
            sealer.seal_chunk(&[7; CHUNK], false, &mut wire).unwrap();
        }
        let err = open_all(&mut opener, &wire).await.unwrap_err();
        assert!(matches!(err, NetError::MessageTooLarge { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_changed_replayed_or_reordered_frame_does_not_open() {
        // Changed: one bit of the ciphertext flipped.
        let ((mut sealer, _), (_, mut opener)) = ends();
        let mut wire = Vec::new();
        sealer.seal(b"pay bob 10", &mut wire).unwrap();
        wire[5] ^= 1;
        assert!(matches!(
            open_all(&mut opener, &wire).await,
            Err(NetError::Decrypt)
        ));

        // Replayed: the same frame a second time (the receiver expects the next nonce).
        let ((mut sealer, _), (_, mut opener)) = ends();
        let mut first = Vec::new();
        sealer.seal(b"one", &mut first).unwrap();
        assert_eq!(open_all(&mut opener, &first).await.unwrap(), b"one");
        assert!(matches!(
            open_all(&mut opener, &first).await,
            Err(NetError::Decrypt)
        ));

        // Reordered: the second message before the first.
        let ((mut sealer, _), (_, mut opener)) = ends();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        sealer.seal(b"first", &mut a).unwrap();
        sealer.seal(b"second", &mut b).unwrap();
        assert!(matches!(
            open_all(&mut opener, &b).await,
            Err(NetError::Decrypt)
        ));
    }

    #[tokio::test]
    async fn an_unknown_flag_or_a_frame_too_short_for_its_tag_is_refused() {
        let ((sealer, _), (_, mut opener)) = ends();
        // A frame whose plaintext starts with flag 9, sealed with the real keys.
        let mut wire = Vec::new();
        let plain = [9u8, b'x'];
        let len = plain.len() + TAG_LEN;
        wire.extend_from_slice(&(len as u16).to_be_bytes());
        wire.resize(2 + len, 0);
        sealer
            .keys
            .write_message(0, &plain, &mut wire[2..])
            .unwrap();
        let err = open_all(&mut opener, &wire).await.unwrap_err();
        assert!(matches!(err, NetError::Malformed(_)), "{err:?}");

        let (_, (_, mut opener)) = ends();
        let short = [0u8, 4, 1, 2, 3, 4];
        let err = open_all(&mut opener, &short).await.unwrap_err();
        assert!(matches!(err, NetError::BadFrame(4)), "{err:?}");
    }

    #[tokio::test]
    async fn both_directions_have_their_own_nonces() {
        let ((mut a_seal, mut a_open), (mut b_seal, mut b_open)) = ends();
        for round in 0..3u8 {
            let (mut to_b, mut to_a) = (Vec::new(), Vec::new());
            a_seal.seal(&[round; 10], &mut to_b).unwrap();
            b_seal.seal(&[round + 100; 20], &mut to_a).unwrap();
            assert_eq!(open_all(&mut b_open, &to_b).await.unwrap(), [round; 10]);
            assert_eq!(
                open_all(&mut a_open, &to_a).await.unwrap(),
                [round + 100; 20]
            );
        }
    }
}
