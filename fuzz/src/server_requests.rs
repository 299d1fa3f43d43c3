//! A hostile client against a real server: after a valid handshake and Hello, any
//! sequence of requests with any arguments (names known to the server or not, random
//! payloads, group infos, commits, key packages, epochs, cursors), and frames that do
//! not decode at all. Whatever it sends, the server answers or closes that connection,
//! never panics (a panic anywhere in the process fails the target), and still serves
//! another client afterwards.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use smc::identity::StaticKeypair;
use smc::net::{client_handshake, Opener, Sealer};
use smc::proto::{decode, encode, ClientFrame, Reply, Request, ServerFrame, VERSION};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::block_on;

const USERS: [&str; 3] = ["alice", "bob", "carol"];
const ROOMS: [&str; 3] = ["general", "r1", "r2"];
const WAIT: Duration = Duration::from_secs(5);

/// A name argument: one the server knows (users, rooms) or any text.
#[derive(Arbitrary, Debug)]
enum Name {
    User(u8),
    Room(u8),
    Any(String),
}

impl Name {
    fn get(self) -> String {
        match self {
            Name::User(n) => USERS[usize::from(n) % USERS.len()].to_owned(),
            Name::Room(n) => ROOMS[usize::from(n) % ROOMS.len()].to_owned(),
            Name::Any(s) => s,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Req {
    Hello {
        version: u16,
        user: Name,
        cursors: Vec<(Name, u64)>,
        after: u64,
        token: Option<String>,
    },
    CreateRoom {
        room: Name,
        group_info: Option<Vec<u8>>,
    },
    Invite {
        room: Name,
        user: Name,
    },
    Uninvite {
        room: Name,
        user: Name,
    },
    Invitations,
    GroupState {
        room: Name,
        epoch: u64,
    },
    Accept {
        room: Name,
    },
    Decline {
        room: Name,
        farewell: Option<Vec<u8>>,
    },
    Leave {
        room: Name,
    },
    ListRooms,
    Members {
        room: Name,
    },
    Send {
        room: Name,
        payload: Vec<u8>,
        commit_epoch: Option<u64>,
    },
    History {
        room: Name,
        before: Option<u64>,
        limit: u32,
    },
    Publish {
        packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
    },
    Fetch {
        user: Name,
    },
    KeyPackageCount,
    SendDirect {
        user: Name,
        payload: Vec<u8>,
    },
    AckDirect {
        ids: Vec<u64>,
    },
    Ping,
    /// A frame body that is (usually) no request at all.
    Garbage(Vec<u8>),
}

impl Req {
    fn build(self) -> Result<Request, Vec<u8>> {
        Ok(match self {
            Req::Hello {
                version,
                user,
                cursors,
                after,
                token,
            } => Request::Hello {
                version,
                user: user.get(),
                cursors: cursors.into_iter().map(|(r, s)| (r.get(), s)).collect(),
                direct_after: after,
                token,
            },
            Req::CreateRoom { room, group_info } => Request::CreateRoom {
                room: room.get(),
                group_info,
            },
            Req::Invite { room, user } => Request::Invite {
                room: room.get(),
                user: user.get(),
            },
            Req::Uninvite { room, user } => Request::Uninvite {
                room: room.get(),
                user: user.get(),
            },
            Req::Invitations => Request::Invitations,
            Req::GroupState { room, epoch } => Request::GroupState {
                room: room.get(),
                epoch,
            },
            Req::Accept { room } => Request::Accept { room: room.get() },
            Req::Decline { room, farewell } => Request::Decline {
                room: room.get(),
                farewell,
            },
            Req::Leave { room } => Request::Leave { room: room.get() },
            Req::ListRooms => Request::ListRooms,
            Req::Members { room } => Request::Members { room: room.get() },
            Req::Send {
                room,
                payload,
                commit_epoch,
            } => Request::Send {
                room: room.get(),
                payload,
                commit_epoch,
            },
            Req::History {
                room,
                before,
                limit,
            } => Request::History {
                room: room.get(),
                before,
                limit,
            },
            Req::Publish {
                packages,
                last_resort,
            } => Request::PublishKeyPackages {
                packages,
                last_resort,
            },
            Req::Fetch { user } => Request::FetchKeyPackage { user: user.get() },
            Req::KeyPackageCount => Request::KeyPackageCount,
            Req::SendDirect { user, payload } => Request::SendDirect {
                user: user.get(),
                payload,
            },
            Req::AckDirect { ids } => Request::AckDirect { ids },
            Req::Ping => Request::Ping,
            Req::Garbage(bytes) => return Err(bytes),
        })
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    user: u8,
    requests: Vec<Req>,
}

struct Env {
    address: SocketAddr,
    keys: Vec<StaticKeypair>,
}

static PANICKED: AtomicBool = AtomicBool::new(false);

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        // A panic on any thread (a server task included) is recorded, then reported
        // as usual (libFuzzer's hook aborts the process).
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::SeqCst);
            previous(info);
        }));
        let dir = super::scratch("server_requests");
        let mut config = smc::ServerConfig::new(dir.join("server"), "127.0.0.1:0");
        // Rates high enough that the fuzzer reaches the handlers, not the limiter; no
        // fsync per commit (speed; durability is not what is fuzzed here).
        config.limits.requests_per_second = 1_000_000;
        config.limits.request_burst = 1_000_000;
        config.durability = smc::server::store::Durability::Normal;
        let server = smc::Server::start(config).expect("the harness's server starts");
        let address = server.address();
        // Serves for the whole process.
        std::mem::forget(server);
        Env {
            address,
            keys: (0..USERS.len())
                .map(|_| StaticKeypair::generate().expect("key"))
                .collect(),
        }
    })
}

struct Conn {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    sealer: Sealer,
    opener: Opener,
    next: u64,
}

impl Conn {
    /// Connects as `user`; `rooms` (those it is known to be in) are passed as caught up,
    /// so that the catch-up stays short however long the fuzzer has run.
    fn open(env: &Env, user: usize, rooms: &BTreeSet<String>) -> Option<Conn> {
        let (rd, wr, sealer, opener) = block_on(async {
            let mut stream = TcpStream::connect(env.address).await.ok()?;
            let est = client_handshake(&mut stream, &env.keys[user], WAIT, |_| Ok::<(), ()>(()))
                .await
                .ok()?
                .ok()?;
            let (rd, wr) = stream.into_split();
            Some((rd, wr, est.sealer, est.opener))
        })?;
        let mut conn = Conn {
            rd,
            wr,
            sealer,
            opener,
            next: 1,
        };
        let hello = Request::Hello {
            version: VERSION,
            user: USERS[user].to_owned(),
            cursors: rooms.iter().map(|r| (r.clone(), u64::MAX)).collect(),
            direct_after: u64::MAX,
            token: None,
        };
        match conn.ask(Ok(hello)) {
            Some(Ok(Reply::Welcome { .. })) => Some(conn),
            _ => None,
        }
    }

    /// Sends one frame and waits for its reply (`None`: the server closed the
    /// connection, which it may do for a bad request).
    fn ask(&mut self, request: Result<Request, Vec<u8>>) -> Option<Result<Reply, smc::Refusal>> {
        let id = self.next;
        self.next += 1;
        let body = match request {
            Ok(request) => encode(&ClientFrame { id, request }),
            Err(garbage) => garbage,
        };
        let mut out = Vec::new();
        self.sealer.seal(&body, &mut out).ok()?;
        block_on(self.wr.write_all(&out)).ok()?;
        loop {
            let bytes = block_on(self.opener.open(&mut self.rd, Some(WAIT), WAIT)).ok()?;
            match decode::<ServerFrame>(&bytes).expect("the server sends valid frames") {
                ServerFrame::Reply { id: got, result } if got == id => return Some(result),
                _ => {}
            }
        }
    }
}

/// Each user's connection, kept between inputs (a new one only when the server
/// closed it), and the rooms it is known to be in.
#[derive(Default)]
struct Session {
    conn: Option<Conn>,
    rooms: BTreeSet<String>,
}

fn sessions() -> &'static Mutex<Vec<Session>> {
    static SESSIONS: OnceLock<Mutex<Vec<Session>>> = OnceLock::new();
    SESSIONS.get_or_init(|| Mutex::new((0..USERS.len()).map(|_| Session::default()).collect()))
}

/// Runs up to 16 requests from the input on the user's connection, then checks that
/// the server still answers (on that connection, or on a new one if it closed it).
pub fn server_requests(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let env = env();
    let user = usize::from(input.user) % USERS.len();
    let mut all = sessions().lock().unwrap_or_else(|e| e.into_inner());
    let session = &mut all[user];
    if session.rooms.len() > 256 {
        session.rooms.clear(); // a bound; the catch-up just gets longer once
    }
    let mut conn = match session.conn.take() {
        Some(conn) => conn,
        None => Conn::open(env, user, &session.rooms).expect("the server refuses a valid Hello"),
    };
    let mut open = true;
    for req in input.requests.into_iter().take(16) {
        let joins = matches!(req, Req::CreateRoom { .. } | Req::Accept { .. });
        let request = req.build();
        let room = match &request {
            Ok(Request::CreateRoom { room, .. } | Request::Accept { room }) if joins => {
                Some(room.clone())
            }
            _ => None,
        };
        match conn.ask(request) {
            None => {
                open = false;
                break;
            }
            Some(Ok(_)) => {
                if let Some(room) = room {
                    session.rooms.insert(room);
                }
            }
            Some(Err(_)) => {}
        }
    }
    if open {
        open = matches!(conn.ask(Ok(Request::Ping)), Some(Ok(Reply::Pong)));
    }
    if !open {
        conn = Conn::open(env, user, &session.rooms).expect("the server serves a new connection");
        assert!(
            matches!(conn.ask(Ok(Request::Ping)), Some(Ok(Reply::Pong))),
            "the server does not answer a Ping"
        );
    }
    session.conn = Some(conn);
    assert!(
        !PANICKED.load(Ordering::SeqCst),
        "a panic in the process (see above)"
    );
}
