//! A raw protocol client: the attacker's tool. It speaks Noise + postcard with the
//! crate's own `net` and `proto` modules and sends any request, as a registered user,
//! without any of the checks `smc::Client` makes.

use std::net::SocketAddr;
use std::time::Duration;

use smc::identity::StaticKeypair;
use smc::net::{client_handshake, Opener, Sealer};
use smc::proto::{decode, encode, ClientFrame, Event, Reply, Request, ServerFrame, VERSION};
use smc::Refusal;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// A session past Hello.
pub struct Raw {
    rt: Runtime,
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    sealer: Sealer,
    opener: Opener,
    next_id: u64,
    /// Events received while waiting for replies.
    pub events: Vec<Event>,
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

impl Raw {
    /// Connects as `user` with a fresh key (registering the name on first use); the
    /// Hello reply is returned as is.
    pub fn hello(address: SocketAddr, user: &str) -> Result<Raw, Refusal> {
        Self::hello_with(address, user, &StaticKeypair::generate().unwrap())
    }

    /// Connects as `user` with `key`.
    pub fn hello_with(
        address: SocketAddr,
        user: &str,
        key: &StaticKeypair,
    ) -> Result<Raw, Refusal> {
        Self::hello_token(address, user, key, None)
    }

    /// Connects as `user` with `key`, presenting a registration token.
    pub fn hello_token(
        address: SocketAddr,
        user: &str,
        key: &StaticKeypair,
        token: Option<&str>,
    ) -> Result<Raw, Refusal> {
        Self::hello_full(address, user, key, token, vec![])
    }

    /// Connects as `user` with `key`, with these per-room cursors (what it has read).
    pub fn hello_at(
        address: SocketAddr,
        user: &str,
        key: &StaticKeypair,
        cursors: Vec<(String, u64)>,
    ) -> Result<Raw, Refusal> {
        Self::hello_full(address, user, key, None, cursors)
    }

    fn hello_full(
        address: SocketAddr,
        user: &str,
        key: &StaticKeypair,
        token: Option<&str>,
        cursors: Vec<(String, u64)>,
    ) -> Result<Raw, Refusal> {
        let rt = runtime();
        let (rd, wr, sealer, opener) = rt.block_on(async {
            let mut stream = TcpStream::connect(address).await.unwrap();
            let est = client_handshake(&mut stream, key, Duration::from_secs(5), |_| {
                Ok::<(), ()>(())
            })
            .await
            .unwrap()
            .unwrap();
            let (rd, wr) = stream.into_split();
            (rd, wr, est.sealer, est.opener)
        });
        let mut raw = Raw {
            rt,
            rd,
            wr,
            sealer,
            opener,
            next_id: 1,
            events: Vec::new(),
        };
        raw.request(Request::Hello {
            version: VERSION,
            user: user.into(),
            cursors,
            direct_after: 0,
            token: token.map(str::to_owned),
        })?;
        Ok(raw)
    }

    /// Sends a request without waiting for its reply; returns its id.
    pub fn send(&mut self, request: Request) -> std::io::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let mut out = Vec::new();
        self.sealer
            .seal(&encode(&ClientFrame { id, request }), &mut out)
            .unwrap();
        self.rt.block_on(self.wr.write_all(&out))?;
        Ok(id)
    }

    /// The next frame from the server (`None` when the connection is closed or nothing
    /// comes within `wait`).
    pub fn next_frame(&mut self, wait: Duration) -> Option<ServerFrame> {
        let bytes = self
            .rt
            .block_on(self.opener.open(&mut self.rd, Some(wait), wait))
            .ok()?;
        Some(decode(&bytes).unwrap())
    }

    /// Sends a request and waits for its reply (events met meanwhile are kept).
    pub fn request(&mut self, request: Request) -> Result<Reply, Refusal> {
        let id = self.send(request).map_err(|_| Refusal::Internal)?;
        loop {
            match self.next_frame(Duration::from_secs(10)) {
                Some(ServerFrame::Reply { id: got, result }) if got == id => return result,
                Some(ServerFrame::Reply { .. }) => {}
                Some(ServerFrame::Event(e)) => self.events.push(e),
                None => panic!("the server closed the connection or did not answer"),
            }
        }
    }

    /// Whether the server has closed this connection (reads until end of stream, at
    /// most `wait`).
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = std::time::Instant::now() + wait;
        while std::time::Instant::now() < deadline {
            let step = Duration::from_millis(200);
            match self
                .rt
                .block_on(self.opener.open(&mut self.rd, Some(step), step))
            {
                Ok(_) => {}
                Err(smc::NetError::Idle(_)) => {}
                Err(_) => return true,
            }
        }
        false
    }
}

/// `user`, a real member of `room` through a raw session: he publishes a key package
/// of his own making ([`crate::support::mls::Actor`]), `inviter` invites him, he
/// accepts. Returns his session and his MLS identity.
pub fn member(
    server: &smc::Server,
    inviter: &mut smc::Client,
    room: &str,
    user: &str,
) -> (Raw, crate::support::mls::Actor) {
    member_with(
        server,
        inviter,
        room,
        user,
        &StaticKeypair::generate().unwrap(),
    )
}

/// [`member`] with the Noise key `key` (to connect again as him).
pub fn member_with(
    server: &smc::Server,
    inviter: &mut smc::Client,
    room: &str,
    user: &str,
    key: &StaticKeypair,
) -> (Raw, crate::support::mls::Actor) {
    let mut raw = Raw::hello_with(server.address(), user, key).unwrap();
    let actor = crate::support::mls::Actor::new(user.as_bytes());
    raw.request(Request::PublishKeyPackages {
        packages: vec![actor.key_package()],
        last_resort: None,
    })
    .unwrap();
    inviter.invite(room, user).unwrap();
    raw.request(Request::Accept { room: room.into() }).unwrap();
    (raw, actor)
}
