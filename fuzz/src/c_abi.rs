//! The C ABI called as a careless C program would: every entry point, with strings that
//! are NULL, empty, not UTF-8 or just wrong, NULL out-pointers, and handles created,
//! used and freed in any order. It never passes a pointer the contract forbids (a
//! freed handle): that is the C program's duty, and no library can check it.
//!
//! Each call must return a status (never panic, never crash), and every string or
//! list it hands out must be readable to its end and freed once.

use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use smc_ffi::boundary::{smc_last_error_message, smc_string_free};
use smc_ffi::cipher::*;
use smc_ffi::client::*;
use smc_ffi::event::*;
use smc_ffi::invitations::*;
use smc_ffi::legacy::*;
use smc_ffi::message::*;
use smc_ffi::server::*;
use smc_ffi::status::*;
use smc_ffi::string_list::*;
use smc_ffi::trust::*;
use smc_ffi::SmcStatus;

/// A string argument.
#[derive(Arbitrary, Debug)]
enum Str {
    Null,
    Empty,
    /// One of a few names that exist (users, rooms).
    Known(u8),
    /// Any text (cut at its first NUL, as C would see it).
    Text(String),
    /// Any bytes, often not UTF-8.
    Bytes(Vec<u8>),
}

const NAMES: [&str; 4] = ["alice", "bob", "general", "carol"];

impl Str {
    fn c(&self) -> Option<CString> {
        let bytes: Vec<u8> = match self {
            Str::Null => return None,
            Str::Empty => Vec::new(),
            Str::Known(n) => NAMES[usize::from(*n) % NAMES.len()].into(),
            Str::Text(s) => s.as_bytes().to_vec(),
            Str::Bytes(b) => b.clone(),
        };
        let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        Some(CString::new(&bytes[..end]).expect("no NUL"))
    }
}

/// An address argument. Never a host name: a lookup could wait on the network.
#[derive(Arbitrary, Debug)]
enum Addr {
    Null,
    /// The process's smc server.
    Server,
    /// A port nobody listens on.
    Refused,
    /// Any text without ':' (cannot be parsed as host:port).
    Garbage(String),
    Bytes(Vec<u8>),
}

impl Addr {
    fn c(&self) -> Option<CString> {
        let text = match self {
            Addr::Null => return None,
            Addr::Server => env().address.clone(),
            Addr::Refused => "127.0.0.1:1".to_owned(),
            Addr::Garbage(s) => s.replace([':', '\0'], "_"),
            Addr::Bytes(b) => {
                let mut b: Vec<u8> = b
                    .iter()
                    .copied()
                    .filter(|c| *c != 0 && *c != b':')
                    .collect();
                b.push(0xff);
                return Some(CString::new(b).expect("no NUL"));
            }
        };
        Some(CString::new(text).expect("no NUL"))
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Crypt {
        text: Str,
        a: i64,
        b: i64,
        out: bool,
    },
    Decrypt {
        text: Str,
        a: i64,
        b: i64,
        out: bool,
    },
    Pgcd {
        a: i64,
        b: i64,
        out: bool,
    },
    Inverse {
        a: i64,
        out: bool,
    },
    StatusMessage(i32),
    LastError,
    Open {
        home: u8,
        user: Str,
        out: bool,
    },
    OpenEncrypted {
        home: Str,
        user: Str,
        out: bool,
    },
    Connect {
        c: u8,
        address: Addr,
    },
    ConnectExpecting {
        c: u8,
        address: Addr,
        fingerprint: Str,
    },
    TrustServer {
        c: u8,
        address: Addr,
        fingerprint: Str,
    },
    Probe {
        address: Addr,
        out: bool,
    },
    Token {
        c: u8,
        token: Str,
    },
    Fingerprint {
        c: u8,
        out: bool,
    },
    CreateRoom {
        c: u8,
        room: Str,
    },
    Invite {
        c: u8,
        room: Str,
        user: Str,
    },
    Leave {
        c: u8,
        room: Str,
    },
    Rooms {
        c: u8,
        list: bool,
        out: bool,
    },
    Members {
        c: u8,
        room: Str,
        list: bool,
        out: bool,
    },
    Send {
        c: u8,
        room: Str,
        text: Str,
        out: bool,
    },
    Recv {
        c: u8,
        timeout_ms: i8,
        out: bool,
    },
    History {
        c: u8,
        room: Str,
        limit: u32,
        out: bool,
    },
    AutoJoin {
        c: u8,
        on: i32,
    },
    Invitations {
        c: u8,
        out: bool,
    },
    Accept {
        c: u8,
        room: Str,
    },
    Decline {
        c: u8,
        room: Str,
    },
    SafetyNumber {
        c: u8,
        user: Str,
        out: bool,
    },
    Verify {
        c: u8,
        user: Str,
    },
    Acknowledge {
        c: u8,
        user: Str,
    },
    IsVerified {
        c: u8,
        user: Str,
        out: bool,
    },
    Close {
        c: u8,
    },
    Free {
        c: u8,
    },
    ReadMessage {
        m: u8,
    },
    FreeMessage {
        m: u8,
    },
    ReadList {
        l: u8,
        index: usize,
    },
    FreeList {
        l: u8,
    },
    ReadStrings {
        l: u8,
        index: usize,
    },
    FreeStrings {
        l: u8,
    },
    Fd {
        c: u8,
        out: bool,
    },
    RecvEvent {
        c: u8,
        timeout_ms: i8,
        out: bool,
    },
    ReadEvent {
        e: u8,
        index: usize,
    },
    FreeEvent {
        e: u8,
    },
    ServerStart {
        dir: Str,
        listen: Str,
        out: bool,
    },
    ServerInfo {
        s: u8,
        out: bool,
    },
    ServerFree {
        s: u8,
    },
    LegacyStart {
        host: Str,
        log_dir: Str,
        out: bool,
    },
    LegacyPort {
        s: u8,
        out: bool,
    },
    LegacyFree {
        s: u8,
    },
    LegacyConnect {
        host: Str,
        own: bool,
        client_id: Str,
        out: bool,
    },
    LegacySend {
        c: u8,
        text: Str,
        out: bool,
    },
    LegacyClientFree {
        c: u8,
    },
}

/// What the process shares between inputs: a running smc server and legacy server, and
/// a scratch directory for client homes.
struct Env {
    address: String,
    legacy_port: u16,
    dir: std::path::PathBuf,
    /// The two servers, never freed (they serve the whole process); kept here so that
    /// LeakSanitizer, which scans memory for pointers, sees them as still in use.
    _servers: [usize; 2],
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let dir = super::scratch("c_abi");
        let data = CString::new(dir.join("server").to_str().expect("utf-8")).expect("path");
        let mut server = null_mut();
        let status =
            unsafe { smc_server_start(data.as_ptr(), c"127.0.0.1:0".as_ptr(), &mut server) };
        assert_eq!(
            status,
            SmcStatus::SMC_OK,
            "the fuzz harness's server starts"
        );
        let mut address = null_mut();
        unsafe { smc_server_address(server, &mut address) };
        let text = unsafe { CStr::from_ptr(address) }
            .to_str()
            .expect("utf-8")
            .to_owned();
        unsafe { smc_string_free(address) };
        let server_handle = server as usize;
        let logs = CString::new(dir.join("legacy").to_str().expect("utf-8")).expect("path");
        std::fs::create_dir_all(dir.join("legacy")).expect("legacy dir");
        let mut legacy = null_mut();
        let status = unsafe {
            smc_legacy_server_start(c"127.0.0.1".as_ptr(), 0, logs.as_ptr(), &mut legacy)
        };
        assert_eq!(
            status,
            SmcStatus::SMC_OK,
            "the fuzz harness's legacy server starts"
        );
        let mut port = 0;
        unsafe { smc_legacy_server_port(legacy, &mut port) };
        let legacy_handle = legacy as usize;
        Env {
            address: text,
            legacy_port: port,
            dir,
            _servers: [server_handle, legacy_handle],
        }
    })
}

fn ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(null(), |s| s.as_ptr())
}

/// Reads a C string that libsmc handed out (it must be NUL-terminated UTF-8).
fn read(s: *const c_char) {
    if !s.is_null() {
        let text = unsafe { CStr::from_ptr(s) };
        assert!(
            text.to_str().is_ok(),
            "libsmc returned a string that is not UTF-8"
        );
    }
}

/// Takes a string out-parameter after a call: reads it and frees it.
fn take(status: SmcStatus, s: *mut c_char) {
    if status == SmcStatus::SMC_OK && !s.is_null() {
        read(s);
        unsafe { smc_string_free(s) };
    }
}

/// Picks live handle `i` (modulo the count), or NULL when there is none.
fn pick<T>(handles: &[*mut T], i: u8) -> *mut T {
    if handles.is_empty() || i == u8::MAX {
        null_mut()
    } else {
        handles[usize::from(i) % handles.len()]
    }
}

fn remove<T>(handles: &mut Vec<*mut T>, i: u8) -> *mut T {
    if handles.is_empty() || i == u8::MAX {
        null_mut()
    } else {
        let n = usize::from(i) % handles.len();
        handles.swap_remove(n)
    }
}

fn out_ptr<T>(want: bool, slot: &mut T) -> *mut T {
    if want {
        slot
    } else {
        null_mut()
    }
}

#[derive(Default)]
struct Live {
    clients: Vec<*mut SmcClient>,
    messages: Vec<*mut SmcMessage>,
    lists: Vec<*mut SmcMessageList>,
    strings: Vec<*mut SmcStringList>,
    events: Vec<*mut SmcEvent>,
    servers: Vec<*mut SmcServer>,
    legacy_servers: Vec<*mut SmcLegacyServer>,
    legacy_clients: Vec<*mut SmcLegacyClient>,
    started: usize,
}

impl Drop for Live {
    fn drop(&mut self) {
        unsafe {
            self.messages.drain(..).for_each(|m| smc_message_free(m));
            self.lists.drain(..).for_each(|l| smc_message_list_free(l));
            self.strings.drain(..).for_each(|l| smc_string_list_free(l));
            self.events.drain(..).for_each(|e| smc_event_free(e));
            self.clients.drain(..).for_each(|c| smc_client_free(c));
            self.legacy_clients
                .drain(..)
                .for_each(|c| smc_legacy_client_free(c));
            self.legacy_servers
                .drain(..)
                .for_each(|s| smc_legacy_server_free(s));
            self.servers.drain(..).for_each(|s| smc_server_free(s));
        }
    }
}

/// Runs up to 24 operations from the input against the C ABI.
pub fn c_abi(data: &[u8]) {
    let Ok(ops) = Vec::<Op>::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let env = env();
    let mut live = Live::default();
    let trace = std::env::var_os("SMC_FUZZ_TRACE").is_some();
    for op in ops.into_iter().take(24) {
        if trace {
            eprintln!("{op:?}");
        }
        unsafe { run(op, env, &mut live) };
    }
}

unsafe fn run(op: Op, env: &Env, live: &mut Live) {
    let mut s: *mut c_char = null_mut();
    let mut n: i64 = 0;
    match op {
        Op::Crypt { text, a, b, out } => {
            let t = text.c();
            let st = smc_crypt(ptr(&t), a, b, out_ptr(out, &mut s));
            take(st, s);
        }
        Op::Decrypt { text, a, b, out } => {
            let t = text.c();
            let st = smc_decrypt(ptr(&t), a, b, out_ptr(out, &mut s));
            take(st, s);
        }
        Op::Pgcd { a, b, out } => {
            smc_pgcd(a, b, out_ptr(out, &mut n));
        }
        Op::Inverse { a, out } => {
            smc_inverse(a, out_ptr(out, &mut n));
        }
        Op::StatusMessage(code) => read(smc_status_message(code)),
        Op::LastError => read(smc_last_error_message()),
        Op::Open { home, user, out } => {
            if live.clients.len() >= 3 {
                return;
            }
            let dir = env.dir.join(format!("home{}", home % 3));
            let home = CString::new(dir.to_str().expect("utf-8")).expect("path");
            let user = user.c();
            let mut c = null_mut();
            let st = smc_client_open(home.as_ptr(), ptr(&user), out_ptr(out, &mut c));
            if st == SmcStatus::SMC_OK && !c.is_null() {
                live.clients.push(c);
            }
        }
        Op::OpenEncrypted { home, user, out } => {
            // With a valid home and passphrase this runs Argon2id (slow): only the
            // refusals are exercised here (a NULL or non-UTF-8 passphrase).
            let (home, user) = (home.c(), user.c());
            let mut c = null_mut();
            let st = smc_client_open_encrypted(
                ptr(&home),
                ptr(&user),
                c"\xff".as_ptr(),
                out_ptr(out, &mut c),
            );
            assert_ne!(st, SmcStatus::SMC_OK, "a non-UTF-8 passphrase was accepted");
            let st = smc_client_open_encrypted(ptr(&home), ptr(&user), null(), &mut c);
            assert_ne!(st, SmcStatus::SMC_OK, "a NULL passphrase was accepted");
        }
        Op::Connect { c, address } => {
            let a = address.c();
            smc_client_connect(pick(&live.clients, c), ptr(&a));
        }
        Op::ConnectExpecting {
            c,
            address,
            fingerprint,
        } => {
            let (a, f) = (address.c(), fingerprint.c());
            smc_client_connect_expecting(pick(&live.clients, c), ptr(&a), ptr(&f));
        }
        Op::TrustServer {
            c,
            address,
            fingerprint,
        } => {
            let (a, f) = (address.c(), fingerprint.c());
            smc_client_trust_server(pick(&live.clients, c), ptr(&a), ptr(&f));
        }
        Op::Probe { address, out } => {
            let a = address.c();
            let st = smc_probe_server(ptr(&a), out_ptr(out, &mut s));
            take(st, s);
        }
        Op::Token { c, token } => {
            let t = token.c();
            smc_client_set_registration_token(pick(&live.clients, c), ptr(&t));
        }
        Op::Fingerprint { c, out } => {
            let st = smc_client_fingerprint(pick(&live.clients, c), out_ptr(out, &mut s));
            take(st, s);
        }
        Op::CreateRoom { c, room } => {
            let r = room.c();
            smc_client_create_room(pick(&live.clients, c), ptr(&r));
        }
        Op::Invite { c, room, user } => {
            let (r, u) = (room.c(), user.c());
            smc_client_invite(pick(&live.clients, c), ptr(&r), ptr(&u));
        }
        Op::Leave { c, room } => {
            let r = room.c();
            smc_client_leave(pick(&live.clients, c), ptr(&r));
        }
        Op::Rooms { c, list, out } => {
            if list {
                let mut l = null_mut();
                let st = smc_client_rooms_list(pick(&live.clients, c), out_ptr(out, &mut l));
                if st == SmcStatus::SMC_OK && !l.is_null() {
                    live.strings.push(l);
                }
            } else {
                let st = smc_client_rooms(pick(&live.clients, c), out_ptr(out, &mut s));
                take(st, s);
            }
        }
        Op::Members { c, room, list, out } => {
            let r = room.c();
            if list {
                let mut l = null_mut();
                let st =
                    smc_client_members_list(pick(&live.clients, c), ptr(&r), out_ptr(out, &mut l));
                if st == SmcStatus::SMC_OK && !l.is_null() {
                    live.strings.push(l);
                }
            } else {
                let st = smc_client_members(pick(&live.clients, c), ptr(&r), out_ptr(out, &mut s));
                take(st, s);
            }
        }
        Op::Send { c, room, text, out } => {
            let (r, t) = (room.c(), text.c());
            let mut id = 0u64;
            smc_client_send(
                pick(&live.clients, c),
                ptr(&r),
                ptr(&t),
                out_ptr(out, &mut id),
            );
        }
        Op::Recv { c, timeout_ms, out } => {
            let mut m = null_mut();
            let st = smc_client_recv(
                pick(&live.clients, c),
                i64::from(timeout_ms.rem_euclid(5)), // negative: wait forever (the contract)
                out_ptr(out, &mut m),
            );
            if st == SmcStatus::SMC_OK && !m.is_null() {
                live.messages.push(m);
            }
        }
        Op::History {
            c,
            room,
            limit,
            out,
        } => {
            let r = room.c();
            let mut l = null_mut();
            let st =
                smc_client_history(pick(&live.clients, c), ptr(&r), limit, out_ptr(out, &mut l));
            if st == SmcStatus::SMC_OK && !l.is_null() {
                live.lists.push(l);
            }
        }
        Op::AutoJoin { c, on } => {
            smc_client_set_auto_join(pick(&live.clients, c), on);
        }
        Op::Invitations { c, out } => {
            let st = smc_client_invitations(pick(&live.clients, c), out_ptr(out, &mut s));
            take(st, s);
        }
        Op::Accept { c, room } => {
            let r = room.c();
            smc_client_accept(pick(&live.clients, c), ptr(&r));
        }
        Op::Decline { c, room } => {
            let r = room.c();
            smc_client_decline(pick(&live.clients, c), ptr(&r));
        }
        Op::SafetyNumber { c, user, out } => {
            let u = user.c();
            let st =
                smc_client_safety_number(pick(&live.clients, c), ptr(&u), out_ptr(out, &mut s));
            take(st, s);
        }
        Op::Verify { c, user } => {
            let u = user.c();
            smc_client_verify(pick(&live.clients, c), ptr(&u));
        }
        Op::Acknowledge { c, user } => {
            let u = user.c();
            smc_client_acknowledge_key_change(pick(&live.clients, c), ptr(&u));
        }
        Op::IsVerified { c, user, out } => {
            let u = user.c();
            let mut b = false;
            smc_client_is_verified(pick(&live.clients, c), ptr(&u), out_ptr(out, &mut b));
        }
        Op::Close { c } => smc_client_close(pick(&live.clients, c)),
        Op::Free { c } => smc_client_free(remove(&mut live.clients, c)),
        Op::ReadMessage { m } => {
            let m = pick(&live.messages, m);
            let _ = (
                smc_message_id(m),
                smc_message_seq(m),
                smc_message_timestamp_ms(m),
            );
            read(smc_message_room(m));
            read(smc_message_sender(m));
            let text = smc_message_text(m);
            let len = smc_message_text_len(m);
            if !text.is_null() {
                // The text is `len` bytes, then a NUL.
                let bytes = std::slice::from_raw_parts(text.cast::<u8>(), len + 1);
                assert_eq!(bytes[len], 0, "a message text without its final NUL");
            }
        }
        Op::FreeMessage { m } => smc_message_free(remove(&mut live.messages, m)),
        Op::ReadList { l, index } => {
            let l = pick(&live.lists, l);
            let len = smc_message_list_len(l);
            let got = smc_message_list_get(l, index);
            assert_eq!(got.is_null(), index >= len, "list_get out of its bounds");
            if len > 0 {
                read(smc_message_room(smc_message_list_get(l, index % len)));
            }
        }
        Op::FreeList { l } => smc_message_list_free(remove(&mut live.lists, l)),
        Op::ReadStrings { l, index } => {
            let l = pick(&live.strings, l);
            let len = smc_string_list_len(l);
            let got = smc_string_list_get(l, index);
            assert_eq!(
                got.is_null(),
                index >= len,
                "string_list_get out of its bounds"
            );
            read(got);
        }
        Op::FreeStrings { l } => smc_string_list_free(remove(&mut live.strings, l)),
        Op::Fd { c, out } => {
            let mut fd = -1;
            let st = smc_client_fd(pick(&live.clients, c), out_ptr(out, &mut fd));
            if st == SmcStatus::SMC_OK {
                assert!(fd >= 0, "a descriptor that is not one");
            }
        }
        Op::RecvEvent { c, timeout_ms, out } => {
            let mut e = null_mut();
            let st = smc_client_recv_event(
                pick(&live.clients, c),
                i64::from(timeout_ms.rem_euclid(5)), // negative: wait forever (the contract)
                out_ptr(out, &mut e),
            );
            if st == SmcStatus::SMC_OK && !e.is_null() {
                live.events.push(e);
            }
        }
        Op::ReadEvent { e, index } => {
            let e = pick(&live.events, e);
            let _ = (smc_event_kind(e), smc_event_seq(e), smc_event_count(e));
            read(smc_event_room(e));
            read(smc_event_user(e));
            read(smc_event_reason(e));
            let added = smc_event_added_count(e);
            assert_eq!(smc_event_added(e, index).is_null(), index >= added);
            let removed = smc_event_removed_count(e);
            assert_eq!(smc_event_removed(e, index).is_null(), index >= removed);
            let m = smc_event_message(e);
            if !m.is_null() {
                read(smc_message_text(m));
            }
        }
        Op::FreeEvent { e } => smc_event_free(remove(&mut live.events, e)),
        Op::ServerStart { dir, listen, out } => {
            if live.started >= 1 {
                return;
            }
            live.started += 1;
            // A real directory for the known names, NULL, or a path that is not UTF-8;
            // never a directory named by arbitrary text (it would be created).
            let data = match &dir {
                Str::Known(_) => Some(
                    CString::new(env.dir.join("servers").to_str().expect("utf-8")).expect("path"),
                ),
                Str::Null => None,
                Str::Bytes(_) => Some(c"\xff".to_owned()),
                Str::Empty | Str::Text(_) => return,
            };
            let listen = match listen {
                Str::Known(_) => Some(c"127.0.0.1:0".to_owned()),
                // Never a host name (a lookup could wait on the network).
                other => other.c().map(|l| {
                    let bytes: Vec<u8> = l
                        .to_bytes()
                        .iter()
                        .map(|b| if *b == b':' { b'_' } else { *b })
                        .collect();
                    CString::new(bytes).expect("no NUL")
                }),
            };
            let mut server = null_mut();
            let st = smc_server_start(ptr(&data), ptr(&listen), out_ptr(out, &mut server));
            if st == SmcStatus::SMC_OK && !server.is_null() {
                live.servers.push(server);
            }
        }
        Op::ServerInfo { s: i, out } => {
            let server = pick(&live.servers, i);
            let st = smc_server_address(server, out_ptr(out, &mut s));
            take(st, s);
            let mut f = null_mut();
            let st = smc_server_fingerprint(server, out_ptr(out, &mut f));
            take(st, f);
        }
        Op::ServerFree { s } => smc_server_free(remove(&mut live.servers, s)),
        Op::LegacyStart { host, log_dir, out } => {
            if live.started >= 1 {
                return;
            }
            live.started += 1;
            let host = match host {
                Str::Known(_) | Str::Text(_) => Some(c"127.0.0.1".to_owned()),
                other => other.c(),
            };
            let dir = match log_dir {
                Str::Known(_) => Some(
                    CString::new(env.dir.join("legacy2").to_str().expect("utf-8")).expect("path"),
                ),
                Str::Null => None,
                _ => Some(c"/nonexistent/smc-fuzz".to_owned()),
            };
            let mut server = null_mut();
            let st = smc_legacy_server_start(ptr(&host), 0, ptr(&dir), out_ptr(out, &mut server));
            if st == SmcStatus::SMC_OK && !server.is_null() {
                live.legacy_servers.push(server);
            }
        }
        Op::LegacyPort { s, out } => {
            let mut port = 0u16;
            smc_legacy_server_port(pick(&live.legacy_servers, s), out_ptr(out, &mut port));
        }
        Op::LegacyFree { s } => smc_legacy_server_free(remove(&mut live.legacy_servers, s)),
        Op::LegacyConnect {
            host,
            own,
            client_id,
            out,
        } => {
            if live.legacy_clients.len() >= 2 {
                return;
            }
            let host = match host {
                Str::Null => None,
                Str::Bytes(_) => Some(c"\xff".to_owned()),
                _ => Some(c"127.0.0.1".to_owned()),
            };
            let port = if own { env.legacy_port } else { 1 };
            let id = client_id.c();
            let mut c = null_mut();
            let st = smc_legacy_client_connect(ptr(&host), port, ptr(&id), out_ptr(out, &mut c));
            if st == SmcStatus::SMC_OK && !c.is_null() {
                live.legacy_clients.push(c);
            }
        }
        Op::LegacySend { c, text, out } => {
            let t = text.c();
            let st = smc_legacy_client_send(
                pick(&live.legacy_clients, c),
                ptr(&t),
                out_ptr(out, &mut s),
            );
            take(st, s);
        }
        Op::LegacyClientFree { c } => smc_legacy_client_free(remove(&mut live.legacy_clients, c)),
    }
}
