//! A hostile server of the test's own making: it speaks the real transport (Noise_XX
//! with its own key, postcard frames) and answers every request with what the test
//! chose, so that a client can be shown bytes no real server would send. Once told to
//! ([`Hostile::push`]), it also pushes the events the test chose to every connection,
//! as fast as each client reads them, counting the bytes written.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use smc::identity::{fingerprint, StaticKeypair};
use smc::net::server_handshake;
use smc::proto::{decode, encode, ClientFrame, Event, Refusal, Reply, Request, ServerFrame};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

type Answer = dyn Fn(&Request) -> Result<Reply, Refusal> + Send + Sync;
type Push = dyn Fn(usize) -> Option<Event> + Send + Sync;

/// A listener on 127.0.0.1 that answers each request of each connection with
/// `answer(request)` (an accepted Hello followed by `SyncDone`), until the test ends.
pub struct Hostile {
    /// Its address.
    pub address: SocketAddr,
    /// Its key's fingerprint (for `--trust-server`).
    pub fingerprint: String,
    go: Arc<AtomicBool>,
    pushed: Arc<AtomicUsize>,
}

impl Hostile {
    pub fn start(
        answer: impl Fn(&Request) -> Result<Reply, Refusal> + Send + Sync + 'static,
    ) -> Hostile {
        Self::start_pushing(answer, |_| None)
    }

    /// The same, and once [`Hostile::push`] is called, events `push(0)`, `push(1)`...
    /// to each connection until `push` returns `None`.
    pub fn start_pushing(
        answer: impl Fn(&Request) -> Result<Reply, Refusal> + Send + Sync + 'static,
        push: impl Fn(usize) -> Option<Event> + Send + Sync + 'static,
    ) -> Hostile {
        let key = StaticKeypair::generate().unwrap();
        let fingerprint = fingerprint(key.public());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let answer: Arc<Answer> = Arc::new(answer);
        let push: Arc<Push> = Arc::new(push);
        let go = Arc::new(AtomicBool::new(false));
        let pushed = Arc::new(AtomicUsize::new(0));
        let (go_, pushed_) = (go.clone(), pushed.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let key = Arc::new(key);
                while let Ok((mut stream, _)) = listener.accept().await {
                    let (key, answer, push) = (key.clone(), answer.clone(), push.clone());
                    let (go, pushed) = (go_.clone(), pushed_.clone());
                    tokio::spawn(async move {
                        let Ok(est) =
                            server_handshake(&mut stream, &key, Duration::from_secs(5)).await
                        else {
                            return;
                        };
                        let (mut sealer, mut opener) = (est.sealer, est.opener);
                        let (mut rd, mut wr) = stream.into_split();
                        // One writer: replies and pushed events, sealed in order.
                        let (out, mut frames) = mpsc::channel::<ServerFrame>(4);
                        tokio::spawn(async move {
                            let mut bytes = Vec::new();
                            while let Some(frame) = frames.recv().await {
                                bytes.clear();
                                let event = matches!(frame, ServerFrame::Event(_));
                                sealer.seal(&encode(&frame), &mut bytes).unwrap();
                                if wr.write_all(&bytes).await.is_err() {
                                    return;
                                }
                                if event {
                                    pushed.fetch_add(bytes.len(), Ordering::SeqCst);
                                }
                            }
                        });
                        // The pusher, paced by the writer (a channel of 4 frames).
                        let pusher = out.clone();
                        tokio::spawn(async move {
                            while !go.load(Ordering::SeqCst) {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                            for i in 0.. {
                                let Some(event) = push(i) else { return };
                                if pusher.send(ServerFrame::Event(event)).await.is_err() {
                                    return;
                                }
                            }
                        });
                        let wait = Duration::from_secs(30);
                        while let Ok(bytes) = opener.open(&mut rd, Some(wait), wait).await {
                            let Ok(ClientFrame { id, request }) = decode::<ClientFrame>(&bytes)
                            else {
                                return;
                            };
                            let result = answer(&request);
                            // An accepted Hello is followed, as on any server, by the
                            // end of its (here empty) catch-up.
                            let synced =
                                matches!((&request, &result), (Request::Hello { .. }, Ok(_)));
                            if out.send(ServerFrame::Reply { id, result }).await.is_err() {
                                return;
                            }
                            if synced
                                && out.send(ServerFrame::Event(Event::SyncDone)).await.is_err()
                            {
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
            go,
            pushed,
        }
    }

    /// Starts pushing events to every connection (see [`Hostile::start_pushing`]).
    pub fn push(&self) {
        self.go.store(true, Ordering::SeqCst);
    }

    /// Bytes of pushed events written to clients so far (what their readers took).
    pub fn pushed(&self) -> usize {
        self.pushed.load(Ordering::SeqCst)
    }
}
