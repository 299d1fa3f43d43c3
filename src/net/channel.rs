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
    /// Decrypted chunks of a message not yet complete.
    partial: Vec<u8>,
    limit: usize,
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
            partial: Vec::new(),
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
    ) -> Result<Vec<u8>, NetError> {
        self.partial.clear();
        loop {
            let frame = read_frame(reader, idle, frame_timeout, MAX_FRAME).await?;
            if frame.len() < TAG_LEN + 1 {
                return Err(NetError::BadFrame(frame.len()));
            }
            let mut plain = vec![0u8; frame.len()];
            let n = self
                .keys
                .read_message(self.nonce, &frame, &mut plain)
                .map_err(|_| NetError::Decrypt)?;
            self.nonce += 1;
            let (flag, data) = (plain[0], &plain[1..n]);
            if self.partial.len() + data.len() > self.limit {
                return Err(NetError::MessageTooLarge {
                    size: self.partial.len() + data.len(),
                    limit: self.limit,
                });
            }
            match flag {
                LAST if self.partial.is_empty() => return Ok(data.to_vec()),
                LAST => {
                    self.partial.extend_from_slice(data);
                    return Ok(std::mem::take(&mut self.partial));
                }
                MORE => self.partial.extend_from_slice(data),
                other => return Err(NetError::Malformed(format!("frame flag {other}"))),
            }
        }
    }
}
