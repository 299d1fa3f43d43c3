//! Length-prefixed frames: a big-endian `u16` length, then the body.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::NetError;

/// Reads one frame. Waits up to `idle` for its first byte (forever when `None`), then up
/// to `frame_timeout` for the rest. A clean end of stream before a frame is
/// [`NetError::Closed`].
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    idle: Option<Duration>,
    frame_timeout: Duration,
    max_len: usize,
) -> Result<Vec<u8>, NetError> {
    let mut first = [0u8; 1];
    let read_first = reader.read(&mut first);
    let n = match idle {
        Some(idle) => tokio::time::timeout(idle, read_first)
            .await
            .map_err(|_| NetError::Idle(idle))??,
        None => read_first.await?,
    };
    if n == 0 {
        return Err(NetError::Closed);
    }
    let rest = async {
        let second = reader.read_u8().await?;
        let len = u16::from_be_bytes([first[0], second]) as usize;
        if len > max_len {
            return Err(NetError::BadFrame(len));
        }
        // Read into the vector's spare room (no zeroing first), never past the frame.
        let mut body = Vec::with_capacity(len);
        while body.len() < len {
            let want = (len - body.len()) as u64;
            if (&mut *reader).take(want).read_buf(&mut body).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
        }
        Ok(body)
    };
    match tokio::time::timeout(frame_timeout, rest).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(NetError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(NetError::Closed)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(NetError::FrameTimeout(frame_timeout)),
    }
}

/// Writes one frame (`body` must be at most 65,535 bytes).
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    body: &[u8],
) -> Result<(), NetError> {
    let len = u16::try_from(body.len()).map_err(|_| NetError::BadFrame(body.len()))?;
    let mut out = Vec::with_capacity(2 + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    writer.write_all(&out).await?;
    Ok(())
}
