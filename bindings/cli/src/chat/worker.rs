//! The network side of `smc chat`: a thread that owns the client, connects it (trying
//! again with a capped backoff until the first connection), runs what the interface
//! asks and hands back what happens, so that the interface never waits on the network.
//! Once connected, the client engine ([`smc::client::Background`]) keeps it connected:
//! its `Disconnected` / `Connected` events become the status line's states.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::sync::{Arc, Mutex};

use super::files::{default_path, human_size, typed_path, Files};
use smc::client::{Background, Backoff, ChatEvent, Message};
use smc::error::ClientError;
use smc::Client;

/// How long the worker listens to the server before looking at requests again.
const POLL: Duration = Duration::from_millis(20);
/// Messages of each room loaded at start and after each reconnection.
pub(crate) const HISTORY: u32 = 500;

/// What the interface asks the worker to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// Send a message.
    Send {
        /// The room.
        room: String,
        /// The text.
        text: String,
    },
    /// Create a room.
    Create(String),
    /// Add a user to a room.
    Invite {
        /// The room.
        room: String,
        /// The user.
        user: String,
    },
    /// Leave a room.
    Leave(String),
    /// Accept an invitation.
    Accept(String),
    /// Decline an invitation.
    Decline(String),
    /// List the pending invitations.
    Invitations,
    /// List a room's members.
    Who(String),
    /// The safety number with a user (and mark it verified with `confirm`).
    Verify {
        /// The other user.
        user: String,
        /// Mark the key verified.
        confirm: bool,
    },
    /// Send a file.
    SendFile {
        /// The room.
        room: String,
        /// The file.
        path: String,
    },
    /// Download file `n` (as numbered when shown).
    Save {
        /// Its number.
        n: usize,
        /// Where (default: its safe name in the current directory).
        path: Option<String>,
    },
    /// Show a one-time code that links a new device.
    LinkCode,
    /// List this user's devices.
    Devices,
    /// Revoke a linked device.
    Revoke(String),
    /// Stop (after what was asked before).
    Quit,
}

/// The connection, as shown in the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Link {
    /// Connecting (attempt number, from 1).
    Connecting(u32),
    /// Connected and caught up.
    Connected,
    /// Lost or refused; the next attempt is at the instant given.
    Waiting {
        /// Why.
        reason: String,
        /// When the next attempt starts.
        retry_at: Instant,
    },
}

/// A member of a room, as `/who` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// The name.
    pub name: String,
    /// Their key was verified (safety numbers compared).
    pub verified: bool,
    /// Their key changed and the change was not acknowledged.
    pub changed: bool,
    /// Invited, not joined yet (they have not accepted).
    pub invited: bool,
}

/// What the worker tells the interface.
#[derive(Debug, Clone)]
pub(crate) enum Update {
    /// The connection changed.
    Link(Link),
    /// A one-time code that links a new device of this user (`/link`), and the user.
    LinkCode {
        /// The code.
        code: String,
        /// Whose.
        user: String,
    },
    /// Connected to the server with this key fingerprint.
    Server {
        /// The server's key fingerprint.
        fingerprint: String,
        /// The address that answered (one of a list: a cluster's nodes, a standby),
        /// when the worker itself connected (`None`: the connection it was given).
        address: Option<String>,
    },
    /// The rooms this user is in.
    Rooms(Vec<String>),
    /// The last messages of a room (at start and after reconnecting).
    History {
        /// The room.
        room: String,
        /// Oldest first.
        messages: Vec<Message>,
    },
    /// Something happened in the rooms.
    Event(ChatEvent),
    /// A message of this user was stored by the server.
    Sent(Message),
    /// A message of this user is encrypted and saved, and will be sent when the
    /// connection is back.
    Queued {
        /// The room.
        room: String,
        /// The text.
        text: String,
    },
    /// A message could not be sent (its text is given back).
    NotSent {
        /// The room.
        room: String,
        /// The text.
        text: String,
        /// Why.
        error: String,
    },
    /// A room was created by this user.
    Created(String),
    /// This user left a room.
    Left(String),
    /// A room's members.
    Members {
        /// The room.
        room: String,
        /// Sorted by name.
        members: Vec<Member>,
    },
    /// A safety number.
    Safety {
        /// The other user.
        user: String,
        /// 60 digits in groups of 5.
        number: String,
        /// Whether their key is verified (now).
        verified: bool,
    },
    /// Something to tell the user about a room (or in general).
    Notice {
        /// The room, if any.
        room: Option<String>,
        /// The text.
        text: String,
    },
    /// A request failed.
    Error {
        /// The room, if any.
        room: Option<String>,
        /// The text.
        text: String,
    },
    /// A file transfer's progress.
    Progress {
        /// What is moving ("sending report.pdf").
        what: String,
        /// Bytes moved.
        done: u64,
        /// Bytes in all (`done == total`: finished).
        total: u64,
    },
    /// The worker stopped for good (the server's key changed, the name is taken...).
    Fatal(String),
}

/// The handle of the worker thread.
#[derive(Debug)]
pub(crate) struct Worker {
    /// Where to send requests.
    pub requests: Sender<Request>,
    /// Where updates arrive.
    pub updates: Receiver<Update>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the worker on `client`, which connects to `address` (unless it already
    /// is connected), and is kept connected by the client engine
    /// ([`smc::client::Background`]) from then on.
    pub(crate) fn spawn(client: Client, address: String) -> Worker {
        let (requests, requests_rx) = mpsc::channel();
        let (updates_tx, updates) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("smc-chat-network".into())
            .spawn(move || {
                let connected = client.is_connected();
                let fingerprint = client.server_fingerprint();
                let client = match Background::start(client) {
                    Ok(client) => client,
                    Err(e) => {
                        let _ = updates_tx.send(Update::Fatal(e.to_string()));
                        return;
                    }
                };
                let addresses = crate::keys::server_addresses(&address);
                client.keep_connected_to(&addresses, None);
                let mut run = Run {
                    client: Arc::new(client),
                    files: Arc::default(),
                    addresses,
                    out: updates_tx,
                    backoff: Backoff::default(),
                    connected,
                    next_attempt: Instant::now(),
                    reconnecting: None,
                };
                if connected {
                    if let Some(fingerprint) = fingerprint {
                        run.tell(Update::Server {
                            fingerprint,
                            address: None,
                        });
                    }
                    run.tell(Update::Link(Link::Connected));
                }
                run.main(requests_rx);
            })
            .ok();
        Worker {
            requests,
            updates,
            thread,
        }
    }

    /// Asks the worker to stop after what it was asked before, and waits for it (the
    /// client's state is closed cleanly).
    pub(crate) fn stop(mut self) {
        let _ = self.requests.send(Request::Quit);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sends `update` to the interface, file messages labelled with their number
/// ([`Files::label`]); whether the interface still listens.
fn tell(out: &Sender<Update>, files: &Mutex<Files>, mut update: Update) -> bool {
    {
        let mut files = files.lock().unwrap_or_else(|e| e.into_inner());
        match &mut update {
            Update::Event(ChatEvent::Message(m)) | Update::Sent(m) => files.label(m),
            Update::History { messages, .. } => messages.iter_mut().for_each(|m| files.label(m)),
            _ => {}
        }
    }
    out.send(update).is_ok()
}

/// A transfer's progress, as told to the interface.
fn progress(what: &str, done: u64, total: u64) -> Update {
    Update::Progress {
        what: what.to_owned(),
        done,
        total,
    }
}

/// Runs a file transfer on a thread of its own.
fn spawn_transfer(transfer: impl FnOnce() + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name("smc-chat-transfer".into())
        .spawn(transfer);
    if let Err(e) = spawned {
        eprintln!("smc: cannot start a file transfer: {e}");
    }
}

/// Errors after which the connection is gone.
fn is_disconnect(e: &ClientError) -> bool {
    e.kind().is_disconnect()
}

/// Errors after which trying again cannot help.
fn is_fatal(e: &ClientError) -> bool {
    e.kind().is_fatal()
}

struct Run {
    /// The client, kept connected by its engine once it connected (shared with the
    /// threads of file transfers).
    client: Arc<Background>,
    /// The files shown so far, by number.
    files: Arc<Mutex<Files>>,
    addresses: Vec<String>,
    out: Sender<Update>,
    /// Attempts of the first connection (later ones are the engine's).
    backoff: Backoff,
    /// Connected once: from then on the engine reconnects.
    connected: bool,
    next_attempt: Instant,
    /// While the engine reconnects: why, and the attempt last shown.
    reconnecting: Option<(String, Option<Instant>)>,
}

impl Run {
    /// The user this client is.
    fn user(&self) -> String {
        self.client
            .with_local(|c| Ok(c.user().to_owned()))
            .unwrap_or_default()
    }

    fn tell(&self, update: Update) -> bool {
        tell(&self.out, &self.files, update)
    }

    fn main(&mut self, requests: Receiver<Request>) {
        // What is known locally shows at once, before the network answers.
        self.load_rooms();
        loop {
            if !self.connected && Instant::now() >= self.next_attempt && !self.connect() {
                return;
            }
            loop {
                match requests.try_recv() {
                    Ok(Request::Quit) | Err(TryRecvError::Disconnected) => return,
                    Ok(request) => self.handle(request),
                    Err(TryRecvError::Empty) => break,
                }
            }
            if self.connected {
                match self.client.recv_event(Some(POLL)) {
                    Ok(Some(event)) => {
                        if !self.on_event(event) {
                            return;
                        }
                    }
                    Ok(None) => self.show_next_attempt(),
                    Err(e) => {
                        // The engine stopped (its last event said why).
                        self.tell(Update::Fatal(e.to_string()));
                        return;
                    }
                }
            } else {
                let wait = self
                    .next_attempt
                    .saturating_duration_since(Instant::now())
                    .clamp(Duration::from_millis(1), POLL * 10);
                match requests.recv_timeout(wait) {
                    Ok(Request::Quit) | Err(RecvTimeoutError::Disconnected) => return,
                    Ok(request) => self.handle(request),
                    Err(RecvTimeoutError::Timeout) => {}
                }
            }
        }
    }

    /// One attempt of the first connection; false when the worker must stop.
    fn connect(&mut self) -> bool {
        self.tell(Update::Link(Link::Connecting(self.backoff.attempts() + 1)));
        match self.client.connect(&self.addresses, None) {
            Ok(used) => {
                self.connected = true;
                self.backoff.reset();
                self.connected_to(used);
                true
            }
            Err(e) if is_fatal(&e) => {
                self.tell(Update::Fatal(e.to_string()));
                false
            }
            Err(e) => {
                let delay = self.backoff.next_delay();
                self.next_attempt = Instant::now() + delay;
                self.tell(Update::Link(Link::Waiting {
                    reason: e.to_string(),
                    retry_at: self.next_attempt,
                }));
                true
            }
        }
    }

    /// Connected (at first, or again) to `address`.
    fn connected_to(&mut self, address: String) {
        self.reconnecting = None;
        if let Ok(Some(fingerprint)) = self.client.with_local(|c| Ok(c.server_fingerprint())) {
            self.tell(Update::Server {
                fingerprint,
                address: Some(address),
            });
        }
        self.load_rooms();
        self.tell(Update::Link(Link::Connected));
    }

    /// While the engine reconnects, shows when its next attempt is due (once per
    /// attempt).
    fn show_next_attempt(&mut self) {
        let Some((reason, shown)) = self.reconnecting.clone() else {
            return;
        };
        let next = self.client.next_attempt();
        if next.is_some() && next != shown {
            self.reconnecting = Some((reason.clone(), next));
            if let Some(retry_at) = next {
                self.tell(Update::Link(Link::Waiting { reason, retry_at }));
            }
        }
    }

    /// Sends the room list and each room's history (also offline, from the state).
    fn load_rooms(&mut self) {
        let rooms = match self.client.with_local(|c| c.joined_rooms()) {
            Ok(rooms) => rooms,
            Err(e) => {
                self.tell(Update::Error {
                    room: None,
                    text: e.to_string(),
                });
                return;
            }
        };
        self.tell(Update::Rooms(rooms.clone()));
        for room in rooms {
            if let Ok(messages) = self.client.with_local(|c| c.history(&room, HISTORY)) {
                self.tell(Update::History { room, messages });
            }
        }
    }

    /// Passes `event` on; false when the worker must stop (the engine gave up).
    fn on_event(&mut self, event: ChatEvent) -> bool {
        match event {
            ChatEvent::Disconnected { reason, retrying } => {
                if !retrying {
                    self.tell(Update::Fatal(reason));
                    return false;
                }
                let retry_at = self.client.next_attempt().unwrap_or_else(Instant::now);
                self.reconnecting = Some((reason.clone(), Some(retry_at)));
                self.tell(Update::Link(Link::Waiting { reason, retry_at }));
                return true;
            }
            ChatEvent::Connected { address } => {
                self.connected_to(address);
                return true;
            }
            _ => {}
        }
        let rooms_changed = matches!(event, ChatEvent::Joined { .. } | ChatEvent::Removed { .. });
        let members_of = match &event {
            ChatEvent::Joined { room, .. }
            | ChatEvent::MembersChanged { room, .. }
            | ChatEvent::MemberJoined { room, .. } => Some(room.clone()),
            _ => None,
        };
        self.tell(Update::Event(event));
        if rooms_changed {
            if let Ok(rooms) = self.client.with_local(|c| c.joined_rooms()) {
                self.tell(Update::Rooms(rooms));
            }
        }
        if let Some(room) = members_of {
            self.who(&room);
        }
        true
    }

    fn fail(&mut self, room: Option<&str>, e: ClientError) {
        self.tell(Update::Error {
            room: room.map(str::to_owned),
            text: e.to_string(),
        });
    }

    fn handle(&mut self, request: Request) {
        match request {
            Request::Send { room, text } => {
                match self.client.with_local(|c| c.send(&room, &text)) {
                    Ok(message) => {
                        self.tell(Update::Sent(message));
                    }
                    Err(e) if is_disconnect(&e) && self.is_joined(&room) => {
                        // Encrypted and in the outbox: sent when the engine reconnects.
                        self.tell(Update::Queued { room, text });
                    }
                    Err(e) => {
                        self.tell(Update::NotSent {
                            room,
                            text,
                            error: e.to_string(),
                        });
                    }
                }
            }
            Request::Create(room) => match self.client.with_local(|c| c.create_room(&room)) {
                Ok(()) => {
                    self.tell(Update::Created(room.clone()));
                    if let Ok(rooms) = self.client.with_local(|c| c.joined_rooms()) {
                        self.tell(Update::Rooms(rooms));
                    }
                    self.who(&room);
                }
                Err(e) => self.fail(Some(&room), e),
            },
            Request::Invite { room, user } => {
                match self.client.with_local(|c| c.invite(&room, &user)) {
                    // The commit's MembersChanged event tells who was invited.
                    Ok(()) => self.who(&room),
                    Err(e) => self.fail(Some(&room), e),
                }
            }
            Request::Leave(room) => match self.client.with_local(|c| c.leave(&room)) {
                Ok(()) => {
                    self.tell(Update::Left(room));
                    if let Ok(rooms) = self.client.with_local(|c| c.joined_rooms()) {
                        self.tell(Update::Rooms(rooms));
                    }
                }
                Err(e) => self.fail(Some(&room), e),
            },
            Request::Who(room) => self.who(&room),
            Request::Accept(room) => match self.client.with_local(|c| c.accept(&room)) {
                Ok(()) => {
                    if let Ok(rooms) = self.client.with_local(|c| c.joined_rooms()) {
                        self.tell(Update::Rooms(rooms));
                    }
                    self.who(&room);
                }
                Err(e) => self.fail(Some(&room), e),
            },
            Request::Decline(room) => match self.client.with_local(|c| c.decline(&room)) {
                Ok(()) => {
                    self.tell(Update::Notice {
                        room: None,
                        text: format!("invitation to #{room} declined"),
                    });
                }
                Err(e) => self.fail(None, e),
            },
            Request::Invitations => match self.client.with_local(|c| c.invitations()) {
                Ok(list) if list.is_empty() => {
                    self.tell(Update::Notice {
                        room: None,
                        text: "no pending invitation".into(),
                    });
                }
                Ok(list) => {
                    for i in list {
                        self.tell(Update::Notice {
                            room: None,
                            text: format!(
                                "{} invites you to #{}: /accept {} or /decline {}",
                                i.by, i.room, i.room, i.room
                            ),
                        });
                    }
                }
                Err(e) => self.fail(None, e),
            },
            Request::Verify { user, confirm } => {
                let result = (|| {
                    if confirm {
                        self.client.with_local(|c| c.verify(&user))?;
                    }
                    let number = self.client.with_local(|c| c.safety_number(&user))?;
                    let verified = self.client.with_local(|c| c.is_verified(&user))?;
                    Ok::<_, ClientError>((number, verified))
                })();
                match result {
                    Ok((number, verified)) => {
                        self.tell(Update::Safety {
                            user,
                            number,
                            verified,
                        });
                    }
                    Err(e) => self.fail(None, e),
                }
            }
            Request::SendFile { room, path } => self.send_file(room, path),
            Request::Save { n, path } => self.save(n, path),
            Request::LinkCode => match self
                .client
                .with(|c| c.link_code(smc::client::DEFAULT_LINK_CODE_LIFETIME))
            {
                Ok(code) => {
                    let user = self.user();
                    self.tell(Update::LinkCode { code, user });
                }
                Err(e) => self.fail(None, e),
            },
            Request::Devices => match self.client.with(|c| c.devices()) {
                Ok(devices) => {
                    for d in devices {
                        let when = d
                            .linked_at
                            .map(|t| format!(", linked {}", t.format("%Y-%m-%d %H:%M UTC")))
                            .unwrap_or_default();
                        let this = if d.current { " (this device)" } else { "" };
                        self.tell(Update::Notice {
                            room: None,
                            text: format!("{} {}{when}{this}", d.id, d.name),
                        });
                    }
                }
                Err(e) => self.fail(None, e),
            },
            Request::Revoke(id) => match self.client.with(|c| c.revoke_device(&id)) {
                Ok(()) => {
                    self.tell(Update::Notice {
                        room: None,
                        text: format!("device {id} revoked"),
                    });
                }
                Err(e) => self.fail(None, e),
            },
            Request::Quit => {}
        }
    }

    /// Sends a file from a thread of its own (chat goes on meanwhile): its progress,
    /// then the message as sent, or why not.
    fn send_file(&mut self, room: String, path: String) {
        let (client, out, files) = (self.client.clone(), self.out.clone(), self.files.clone());
        let home = std::env::var_os("HOME");
        let file = typed_path(&path, home.as_deref());
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.clone());
        spawn_transfer(move || {
            let what = format!("sending {name}");
            let sent = client.send_file(&room, &file, None, None, |done, total| {
                tell(&out, &files, progress(&what, done, total))
            });
            match sent {
                Ok(message) => tell(&out, &files, Update::Sent(message)),
                Err(e) => tell(
                    &out,
                    &files,
                    Update::Error {
                        room: Some(room),
                        text: format!("{path} was not sent: {e}"),
                    },
                ),
            };
        });
    }

    /// Downloads file `n` from a thread of its own.
    fn save(&mut self, n: usize, path: Option<String>) {
        let found = self.files.lock().unwrap_or_else(|e| e.into_inner()).get(n);
        let Some(attachment) = found else {
            self.tell(Update::Error {
                room: None,
                text: format!("there is no file {n} (files are numbered as shown: [file N])"),
            });
            return;
        };
        let home = std::env::var_os("HOME");
        let dest = match path.map(|p| typed_path(&p, home.as_deref())) {
            Some(p) if p.is_dir() => default_path(&p, &attachment),
            Some(p) => p,
            None => default_path(std::path::Path::new("."), &attachment),
        };
        let (client, out, files) = (self.client.clone(), self.out.clone(), self.files.clone());
        spawn_transfer(move || {
            let what = format!("saving {}", attachment.safe_name());
            let saved = client.download(&attachment, &dest, |done, total| {
                tell(&out, &files, progress(&what, done, total))
            });
            let text = match saved {
                Ok(_) => format!(
                    "saved file {n} ({}) to {}",
                    human_size(attachment.size()),
                    dest.display()
                ),
                Err(e) => format!("file {n} was not saved: {e}"),
            };
            tell(&out, &files, Update::Notice { room: None, text });
        });
    }

    fn is_joined(&self, room: &str) -> bool {
        self.client
            .with_local(|c| c.joined_rooms())
            .is_ok_and(|rooms| rooms.iter().any(|r| r == room))
    }

    fn who(&mut self, room: &str) {
        let result = (|| {
            let joined = self.client.with_local(|c| c.members(room))?;
            let invited = self.client.with_local(|c| c.invitees(room))?;
            let user = self.client.with_local(|c| Ok(c.user().to_owned()))?;
            let joined = joined.into_iter().map(|name| (name, false));
            joined
                .chain(invited.into_iter().map(|name| (name, true)))
                .map(|(name, invited)| {
                    let me = name == user;
                    Ok(Member {
                        verified: me || self.client.with_local(|c| c.is_verified(&name))?,
                        changed: !me && self.client.with_local(|c| c.key_change_pending(&name))?,
                        name,
                        invited,
                    })
                })
                .collect::<Result<Vec<_>, ClientError>>()
        })();
        match result {
            Ok(members) => {
                self.tell(Update::Members {
                    room: room.to_owned(),
                    members,
                });
            }
            Err(e) => self.fail(Some(room), e),
        }
    }
}
