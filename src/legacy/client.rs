//! The legacy TCP client: the original client's messages, byte for byte, and lossless
//! reply parsing.
//!
//! Blocking (std sockets): one message out, one reply in, as the original protocol is.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::error::LegacyError;
use crate::legacy::cipher::Key;
use crate::legacy::wire::{self, Reply, MAX_MESSAGE, STOP};

/// The client id of the original client copy A.
pub const DEFAULT_CLIENT_ID: &str = "#8hdjajcur5d9l2";

/// A connection to a legacy server (original or smc).
#[derive(Debug)]
pub struct LegacyClient {
    stream: Option<TcpStream>,
    client_id: String,
    tag: String,
    key: Key,
}

/// What one [`LegacyClient::send`] brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The reply carried this client's own message (the first message of a
    /// conversation, or nobody else spoke): the originals show nothing.
    Own,
    /// Another client's message, decrypted.
    Message {
        /// The sender's tag (`<client id>[CLIENT ip:port]`).
        from: String,
        /// The decrypted text.
        text: String,
    },
}

impl LegacyClient {
    /// Connects to `host:port` as `client_id`.
    ///
    /// # Errors
    /// [`LegacyError::Connect`].
    pub fn connect(host: &str, port: u16, client_id: &str) -> Result<LegacyClient, LegacyError> {
        let address = format!("{host}:{port}");
        let err = |source| LegacyError::Connect {
            address: address.clone(),
            source,
        };
        let addrs = (host, port).to_socket_addrs().map_err(err)?;
        let mut last = std::io::Error::new(ErrorKind::NotFound, "no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(10)) {
                Ok(stream) => {
                    stream.set_nodelay(true).map_err(err)?;
                    let tag = wire::client_tag(client_id, stream.local_addr().map_err(err)?);
                    return Ok(LegacyClient {
                        stream: Some(stream),
                        client_id: client_id.to_owned(),
                        tag,
                        key: Key::ORIGINAL,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(err(last))
    }

    /// This client's id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// `<client id>[CLIENT ip:port]`, how this client names itself on the wire.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    fn stream(&mut self) -> Result<&mut TcpStream, LegacyError> {
        self.stream.as_mut().ok_or(LegacyError::ConnectionClosed)
    }

    /// Sends one raw message and returns the raw reply (one message out, one reply in).
    ///
    /// # Errors
    /// [`LegacyError::MessageTooLong`], [`LegacyError::ConnectionClosed`] when the server
    /// closed the connection, [`LegacyError::NotUtf8`], [`LegacyError::Io`].
    pub fn exchange(&mut self, message: &str) -> Result<String, LegacyError> {
        if message.len() > MAX_MESSAGE {
            return Err(LegacyError::MessageTooLong {
                size: message.len(),
                limit: MAX_MESSAGE,
            });
        }
        let stream = self.stream()?;
        stream.write_all(message.as_bytes())?;
        let mut buf = vec![0u8; MAX_MESSAGE + 1];
        let mut len = stream.read(&mut buf)?;
        if len == 0 {
            self.stream = None;
            return Err(LegacyError::ConnectionClosed);
        }
        // Whatever else already arrived belongs to the same reply.
        stream.set_nonblocking(true)?;
        while len < buf.len() {
            match stream.read(&mut buf[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    let _ = stream.set_nonblocking(false);
                    return Err(e.into());
                }
            }
        }
        stream.set_nonblocking(false)?;
        buf.truncate(len);
        String::from_utf8(buf).map_err(|e| LegacyError::NotUtf8 {
            valid_up_to: e.utf8_error().valid_up_to(),
        })
    }

    /// The message the original client would send for `text` now:
    /// `<isoformat now>|<tag>@<crypt(text, 35, 19)>`.
    ///
    /// # Errors
    /// [`LegacyError::Cipher`] when `text` holds a character outside the cipher table.
    pub fn message_for(&self, text: &str) -> Result<String, LegacyError> {
        let cipher = self.key.encrypt(text)?;
        Ok(wire::format_message(
            &wire::now_isoformat(),
            &self.tag,
            &cipher,
        ))
    }

    /// Encrypts and sends `text`, waits for the reply and decrypts it.
    ///
    /// # Errors
    /// As [`LegacyClient::message_for`] and [`LegacyClient::exchange`], plus
    /// [`LegacyError::BadReply`] for a reply that is not a logged message.
    pub fn send(&mut self, text: &str) -> Result<Received, LegacyError> {
        let message = self.message_for(text)?;
        let reply = self.exchange(&message)?;
        self.interpret(&reply)
    }

    /// Parses a reply losslessly and decrypts it unless it is this client's own.
    ///
    /// # Errors
    /// [`LegacyError::BadReply`].
    pub(crate) fn interpret(&self, reply: &str) -> Result<Received, LegacyError> {
        let Some(Reply {
            tag, ciphertext, ..
        }) = wire::parse_reply(reply)
        else {
            return Err(LegacyError::BadReply(reply.to_owned()));
        };
        if tag == self.tag {
            return Ok(Received::Own);
        }
        let text = self
            .key
            .decrypt(&ciphertext)
            .map_err(|_| LegacyError::BadReply(reply.to_owned()))?;
        Ok(Received::Message { from: tag, text })
    }

    /// Sends `/stop` and closes the connection. Idempotent.
    pub fn close(&mut self) {
        if let Some(mut stream) = self.stream.take() {
            let _ = stream.write_all(STOP.as_bytes());
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Whether the connection is open.
    pub fn is_connected(&self) -> bool {
        self.stream.is_some()
    }
}

impl Drop for LegacyClient {
    fn drop(&mut self) {
        self.close();
    }
}
