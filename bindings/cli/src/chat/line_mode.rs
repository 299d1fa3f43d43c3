//! `smc chat` through pipes: each line read is a message for the current room (or a
//! slash command); each message is written as one line,
//! `YYYY-MM-DD HH:MM:SS #room <sender> text` (local time; newlines in a text become
//! `\n`). Everything else (connection, members, errors) goes to stderr as `smc: ...`
//! lines. It runs until stdin closes or `/quit`, after what was typed is sent.

use std::io::{BufRead, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use chrono::Local;

use smc::client::{ChatEvent, Message};
use smc::Client;

use super::super::CliError;
use super::commands::{self, Command, Input, HELP};
use super::notices::{self, Level};
use super::worker::{Link, Request, Update, Worker};
use crate::terminal_safe;

/// One message as one line.
pub(crate) fn format_message(m: &Message) -> String {
    format!(
        "{} #{} <{}> {}",
        m.timestamp
            .with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S"),
        m.room,
        m.sender,
        m.text.replace('\\', "\\\\").replace('\n', "\\n")
    )
}

/// A transfer's progress bar on stderr, drawn again in place at each whole percent.
fn progress(what: &str, done: u64, total: u64) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(u64::MAX);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    if LAST.swap(percent, Ordering::Relaxed) == percent && done < total {
        return;
    }
    let end = if done >= total { "\n" } else { "" };
    eprint!(
        "\rsmc: {} {}{end}",
        terminal_safe::escape(what),
        super::files::bar(done, total, 30)
    );
    if done >= total {
        LAST.store(u64::MAX, Ordering::Relaxed);
    }
}

/// A note on stderr (what it quotes from others is escaped: [`terminal_safe`]).
fn note(text: impl std::fmt::Display) {
    eprintln!("smc: {}", terminal_safe::escape(&text.to_string()));
}

/// Runs the line mode until stdin closes.
pub(crate) fn run(
    mut client: Client,
    address: String,
    room: Option<String>,
) -> Result<(), CliError> {
    // Scripts want to know at once when the server cannot be reached.
    let used = client.connect_any(&crate::keys::server_addresses(&address))?;
    note(format_args!(
        "connected to {used} as {} (server key {})",
        client.user(),
        client.server_fingerprint().unwrap_or_default()
    ));
    let fingerprints = format!(
        "your transport key {} · your signing key {} · server {}",
        client.fingerprint(),
        client.signing_fingerprint(),
        client.server_fingerprint().unwrap_or_default()
    );
    let me = client.user().to_owned();
    let worker = Worker::spawn(client, address);
    let (lines_tx, lines) = mpsc::channel::<Option<String>>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) => {
                    if lines_tx.send(Some(line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    note(format_args!("cannot read stdin: {e}"));
                    break;
                }
            }
        }
        let _ = lines_tx.send(None);
    });
    let mut current = room;
    let mut stdout = std::io::stdout();
    let mut quitting = false;
    let mut fatal = None;
    let mut queued: Vec<(String, String)> = Vec::new();
    loop {
        // What the user typed, in order.
        while !quitting {
            match lines.try_recv() {
                Ok(Some(line)) => {
                    quitting = typed(&line, &mut current, &worker, &fingerprints);
                }
                Ok(None) | Err(mpsc::TryRecvError::Disconnected) => quitting = true,
                Err(mpsc::TryRecvError::Empty) => break,
            }
            if quitting {
                // The worker finishes what was asked, then stops.
                let _ = worker.requests.send(Request::Quit);
            }
        }
        match worker.updates.recv_timeout(Duration::from_millis(20)) {
            Ok(Update::Fatal(text)) => fatal = Some(text),
            Ok(Update::Queued { room, text }) => {
                note(format_args!(
                    "not connected: your message to #{room} is encrypted and saved, and will \
                     be sent when the connection is back"
                ));
                queued.push((room, text));
            }
            Ok(Update::History { room, messages }) => {
                // Messages queued while disconnected were sent at reconnection: they are
                // in the room's history now.
                for m in messages.iter().filter(|m| m.sender == me) {
                    if let Some(i) = queued.iter().position(|(r, t)| *r == room && *t == m.text) {
                        queued.remove(i);
                        writeln!(stdout, "{}", terminal_safe::escape(&format_message(m)))?;
                    }
                }
                stdout.flush()?;
            }
            Ok(update) => {
                if let Some(line) = shown(update, &mut current, &me) {
                    writeln!(stdout, "{}", terminal_safe::escape(&line))?;
                    stdout.flush()?;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    worker.stop();
    match fatal {
        Some(text) => Err(CliError::Fatal(text)),
        None => Ok(()),
    }
}

/// Handles a typed line; true on `/quit`.
fn typed(line: &str, current: &mut Option<String>, worker: &Worker, fingerprints: &str) -> bool {
    let send = |r| {
        let _ = worker.requests.send(r);
    };
    match commands::parse(line) {
        Err(e) => note(e),
        Ok(Input::Say(text)) if text.is_empty() => {}
        Ok(Input::Say(text)) => match current {
            Some(room) => send(Request::Send {
                room: room.clone(),
                text,
            }),
            None => note("no room yet: /create ROOM, or /join ROOM once invited"),
        },
        Ok(Input::Command(command)) => match command {
            Command::Quit => return true,
            Command::Create(room) => {
                *current = Some(room.clone());
                send(Request::Create(room));
            }
            Command::Join(room) => {
                note(format_args!("now in #{room}"));
                *current = Some(room);
            }
            Command::Help => HELP.iter().for_each(note),
            Command::Accept(room) => send(Request::Accept(room)),
            Command::Decline(room) => send(Request::Decline(room)),
            Command::Invitations => send(Request::Invitations),
            Command::Fingerprint => note(fingerprints),
            Command::SendFile(path) => match current {
                Some(room) => send(Request::SendFile {
                    room: room.clone(),
                    path,
                }),
                None => note("no room yet: /create ROOM, or /join ROOM once invited"),
            },
            Command::Save { n, path } => send(Request::Save { n, path }),
            Command::Link => send(Request::LinkCode),
            Command::Devices => send(Request::Devices),
            Command::Revoke(id) => send(Request::Revoke(id)),
            Command::Verify { user, confirm } => send(Request::Verify { user, confirm }),
            Command::Rooms => note("the rooms you are in are listed as they change"),
            Command::Invite(_) | Command::Leave | Command::Who => {
                let Some(room) = current.clone() else {
                    note("no room yet: /create ROOM, or /join ROOM once invited");
                    return false;
                };
                match command {
                    Command::Invite(users) => users.into_iter().for_each(|u| {
                        send(Request::Invite {
                            room: room.clone(),
                            user: u,
                        })
                    }),
                    Command::Leave => {
                        *current = None;
                        send(Request::Leave(room));
                    }
                    _ => send(Request::Who(room)),
                }
            }
        },
    }
    false
}

/// What an update prints: the line for stdout, or `None` (notes go to stderr).
fn shown(update: Update, current: &mut Option<String>, me: &str) -> Option<String> {
    match update {
        Update::Event(ChatEvent::Message(m)) | Update::Sent(m) => return Some(format_message(&m)),
        Update::Progress { what, done, total } => progress(&what, done, total),
        Update::Link(Link::Connected) => {}
        Update::Link(Link::Connecting(n)) if n > 1 => {
            note(format_args!("reconnecting (attempt {n})"))
        }
        Update::Link(Link::Connecting(_)) => {}
        Update::Link(Link::Waiting { reason, retry_at }) => note(format_args!(
            "disconnected ({reason}); trying again in {:.1} s",
            retry_at
                .saturating_duration_since(std::time::Instant::now())
                .as_secs_f32()
        )),
        Update::Server {
            address: Some(address),
            fingerprint,
        } => note(format_args!(
            "connected to {address} (server key {fingerprint})"
        )),
        Update::Server { .. } | Update::History { .. } => {}
        Update::Rooms(rooms) => note(format_args!(
            "rooms: {}",
            if rooms.is_empty() {
                "(none)".to_owned()
            } else {
                rooms
                    .iter()
                    .map(|r| format!("#{r}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        )),
        Update::Event(event) => {
            if let ChatEvent::Joined { room, .. } = &event {
                if current.is_none() {
                    *current = Some(room.clone());
                }
            }
            for n in notices::of_event(&event) {
                match n.level {
                    Level::Info => note(n.text),
                    Level::Warning => note(format_args!("WARNING: {}", n.text)),
                }
            }
        }
        Update::Queued { room, .. } => note(notices::queued(&room)),
        Update::NotSent { room, error, .. } => note(notices::not_sent(&room, &error)),
        Update::Created(room) => note(notices::created(&room)),
        Update::Left(room) => note(notices::left(&room)),
        Update::Members { room, members } => note(notices::members(&room, &members, me)),
        Update::Safety {
            user,
            number,
            verified,
        } => {
            note(format_args!("safety number with {user}: {number}"));
            note(notices::verification(&user, verified));
        }
        Update::Notice { text, .. } => note(text),
        Update::LinkCode { code, user } => notices::link_code(&code, &user).iter().for_each(note),
        Update::Error { room, text } => match room {
            Some(room) => note(format_args!("#{room}: {text}")),
            None => note(text),
        },
        Update::Fatal(text) => note(format_args!("error: {text}")),
    }
    None
}
