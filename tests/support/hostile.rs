//! A hostile server of the test's own making: it speaks the real transport (Noise_XX
//! with its own key, postcard frames) and answers every request with what the test
//! chose, so that a client can be shown bytes no real server would send.

use std::net::SocketAddr;
use std::time::Duration;

use smc::identity::{fingerprint, StaticKeypair};
use smc::net::server_handshake;
use smc::proto::{decode, encode, ClientFrame, Refusal, Reply, ServerFrame};
use tokio::io::AsyncWriteExt;

/// A listener on 127.0.0.1 that answers each request of each connection with
/// `answer(request)` (an accepted Hello followed by `SyncDone`), until the test ends.
pub struct Hostile {
    /// Its address.
    pub address: SocketAddr,
    /// Its key's fingerprint (for `--trust-server`).
    pub fingerprint: String,
}

impl Hostile {
    pub fn start(
        answer: impl Fn(&smc::proto::Request) -> Result<Reply, Refusal> + Send + Sync + 'static,
    ) -> Hostile {
        let key = StaticKeypair::generate().unwrap();
        let fingerprint = fingerprint(key.public());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let answer = std::sync::Arc::new(answer);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let key = std::sync::Arc::new(key);
                while let Ok((mut stream, _)) = listener.accept().await {
                    let (key, answer) = (key.clone(), answer.clone());
                    tokio::spawn(async move {
                        let Ok(est) =
                            server_handshake(&mut stream, &key, Duration::from_secs(5)).await
                        else {
                            return;
                        };
                        let (mut sealer, mut opener) = (est.sealer, est.opener);
                        let (mut rd, mut wr) = stream.into_split();
                        let wait = Duration::from_secs(30);
                        while let Ok(bytes) = opener.open(&mut rd, Some(wait), wait).await {
                            let Ok(ClientFrame { id, request }) = decode::<ClientFrame>(&bytes)
                            else {
                                return;
                            };
                            let result = answer(&request);
                            // An accepted Hello is followed, as on any server, by the
                            // end of its (here empty) catch-up.
                            let synced = matches!(
                                (&request, &result),
                                (smc::proto::Request::Hello { .. }, Ok(_))
                            );
                            let mut out = Vec::new();
                            sealer
                                .seal(&encode(&ServerFrame::Reply { id, result }), &mut out)
                                .unwrap();
                            if synced {
                                let done = ServerFrame::Event(smc::proto::Event::SyncDone);
                                sealer.seal(&encode(&done), &mut out).unwrap();
                            }
                            if wr.write_all(&out).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
        });
        Hostile {
            address,
            fingerprint,
        }
    }
}
