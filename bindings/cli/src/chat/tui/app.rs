//! The state of the full-screen client: buffers (one per room, plus the status buffer),
//! the input line, prompts; what keys, pastes and the worker's updates do to it.

use std::collections::HashSet;
use std::sync::mpsc::Sender;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use smc::client::{ChatEvent, Message};

use super::super::commands::{self, Command, Input, HELP};
use super::super::notices::{self, Level};
use super::super::worker::{Link, Request, Update};
use super::buffer::{Buffer, EntryKind};
use super::editor::Editor;

/// A question the user answers with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Prompt {
    /// A paste of several lines: send it?
    Paste {
        /// The pasted text.
        text: String,
    },
    /// An invitation: accept it?
    Invitation {
        /// The room.
        room: String,
        /// Who invited.
        by: String,
    },
    /// A safety number: do the numbers match?
    Safety {
        /// The other user.
        user: String,
        /// The number.
        number: String,
        /// Already verified.
        verified: bool,
    },
}

/// The whole interface state.
#[derive(Debug)]
pub(crate) struct App {
    /// This user.
    pub user: String,
    /// The server's address.
    pub address: String,
    /// The status buffer first, then the rooms.
    pub buffers: Vec<Buffer>,
    /// The buffer shown.
    pub current: usize,
    /// The connection.
    pub link: Link,
    /// The server's key fingerprint, once connected.
    pub server_fingerprint: Option<String>,
    /// This user's fingerprints, for `/fingerprint`.
    pub fingerprints: Vec<String>,
    /// The input line.
    pub editor: Editor,
    /// An open question.
    pub prompt: Option<Prompt>,
    /// Set by `/quit`.
    pub quit: bool,
    /// Colours allowed (`NO_COLOR` unset).
    pub colors: bool,
    /// Rows of the conversation area at the last draw (a page, for PageUp/PageDown).
    pub page: usize,
    /// The worker stopped for good.
    pub stopped: bool,
    /// A file transfer under way: what, bytes moved, bytes in all.
    pub progress: Option<(String, u64, u64)>,
    who_asked: HashSet<String>,
    /// Users whose key the user just confirmed as verified.
    confirming: HashSet<String>,
    requests: Sender<Request>,
}

impl App {
    /// A new interface for `user`, talking to the worker through `requests`.
    pub(crate) fn new(
        user: &str,
        address: &str,
        fingerprints: Vec<String>,
        requests: Sender<Request>,
        colors: bool,
    ) -> Self {
        let mut status = Buffer::new("");
        status.push(EntryKind::Notice(format!(
            "smc chat {} · {user} · server {address} · /help lists the commands",
            env!("CARGO_PKG_VERSION")
        )));
        App {
            user: user.to_owned(),
            address: address.to_owned(),
            buffers: vec![status],
            current: 0,
            link: Link::Connecting(1),
            server_fingerprint: None,
            fingerprints,
            editor: Editor::default(),
            prompt: None,
            quit: false,
            colors,
            page: 10,
            stopped: false,
            progress: None,
            who_asked: HashSet::new(),
            confirming: HashSet::new(),
            requests,
        }
    }

    fn request(&self, r: Request) {
        let _ = self.requests.send(r);
    }

    /// The buffer shown.
    pub(crate) fn shown(&self) -> &Buffer {
        &self.buffers[self.current]
    }

    fn index(&mut self, room: &str) -> usize {
        match self.buffers.iter().position(|b| b.room == room) {
            Some(i) => i,
            None => {
                self.buffers.push(Buffer::new(room));
                self.buffers.len() - 1
            }
        }
    }

    fn buffer(&mut self, room: &str) -> &mut Buffer {
        let i = self.index(room);
        &mut self.buffers[i]
    }

    /// Shows the buffer of `room` (created if needed).
    pub(crate) fn switch_to_room(&mut self, room: &str) {
        let i = self.index(room);
        self.switch(i);
    }

    /// Shows buffer `i`.
    pub(crate) fn switch(&mut self, i: usize) {
        if i < self.buffers.len() {
            self.current = i;
            let b = &mut self.buffers[i];
            b.unread = 0;
            if !b.is_status() && b.joined {
                let room = b.room.clone();
                self.request(Request::Who(room));
            }
        }
    }

    fn notice(&mut self, room: Option<&str>, text: impl Into<String>) {
        let i = room.map_or(self.current, |r| self.index(r));
        self.buffers[i].push(EntryKind::Notice(text.into()));
    }

    fn warn(&mut self, room: Option<&str>, text: impl Into<String>) {
        let i = room.map_or(self.current, |r| self.index(r));
        self.buffers[i].push(EntryKind::Warning(text.into()));
    }

    fn message(&mut self, m: &Message) {
        let i = self.index(&m.room);
        let me = self.user.clone();
        if self.buffers[i].add_message(m, &me) && i != self.current && m.sender != me {
            self.buffers[i].unread += 1;
        }
    }

    /// Applies what the worker reports.
    pub(crate) fn on_update(&mut self, update: Update) {
        match update {
            Update::Link(link) => {
                match &link {
                    Link::Connected if self.link != Link::Connected => {
                        let text = format!("connected to {}", self.address);
                        self.notice(Some(""), text.clone());
                        if self.current != 0 {
                            self.notice(None, text);
                        }
                    }
                    Link::Waiting { reason, .. } if self.link == Link::Connected => {
                        self.warn(None, format!("connection lost ({reason}); reconnecting"));
                    }
                    _ => {}
                }
                self.link = link;
            }
            Update::Server { fingerprint, .. } => self.server_fingerprint = Some(fingerprint),
            Update::Rooms(rooms) => {
                for b in &mut self.buffers {
                    b.joined = rooms.contains(&b.room);
                }
                for room in &rooms {
                    self.settled(room);
                    self.buffer(room).joined = true;
                }
            }
            Update::History { room, messages } => {
                let me = self.user.clone();
                let b = self.buffer(&room);
                for m in &messages {
                    b.add_message(m, &me);
                }
            }
            Update::Event(event) => self.on_event(event),
            Update::Sent(m) => self.message(&m),
            Update::Progress { what, done, total } => {
                self.progress = (done < total).then_some((what, done, total));
            }
            Update::Queued { room, .. } => {
                let text = notices::queued(&room);
                self.notice(Some(&room), text);
            }
            Update::NotSent { room, text, error } => {
                let b = self.buffer(&room);
                if let Some(i) = b.entries.iter().rposition(|e| {
                    matches!(&e.kind, EntryKind::Message { seq: None, text: t, .. } if *t == text)
                }) {
                    b.entries.remove(i);
                }
                self.warn(Some(&room), notices::not_sent(&room, &error));
                if self.editor.is_empty() {
                    self.editor.set(&text);
                    self.notice(Some(&room), "your text is back in the input line");
                }
            }
            Update::Created(room) => {
                self.buffer(&room).joined = true;
                self.notice(Some(&room), notices::created(&room));
            }
            Update::Left(room) => {
                self.buffer(&room).joined = false;
                self.notice(Some(&room), notices::left(&room));
            }
            Update::Members { room, members } => {
                if self.who_asked.remove(&room) {
                    let text = notices::members(&room, &members, &self.user);
                    self.notice(Some(&room), text);
                }
                self.buffer(&room).members = members;
            }
            Update::Safety {
                user,
                number,
                verified,
            } => {
                if self.confirming.remove(&user) && verified {
                    self.notice(None, format!("{user}'s key is now marked verified"));
                } else {
                    self.prompt = Some(Prompt::Safety {
                        user,
                        number,
                        verified,
                    });
                }
                let room = self.shown().room.clone();
                if !room.is_empty() {
                    self.request(Request::Who(room));
                }
            }
            Update::Notice { room, text } => self.notice(room.as_deref(), text),
            Update::LinkCode { code, user } => {
                let [shown, how] = notices::link_code(&code, &user);
                self.notice(None, shown);
                for line in notices::link_qr(&code) {
                    self.notice(None, line);
                }
                self.notice(None, how);
            }
            Update::Error { room, text } => self.warn(room.as_deref(), text),
            Update::Fatal(text) => {
                self.stopped = true;
                self.warn(None, format!("stopped: {text} (Ctrl-C quits)"));
            }
        }
    }

    /// The invitation to `room` is settled (joined: by auto-join, by `/accept`): a
    /// prompt still asking about it closes, and the keys typed next go to the input.
    fn settled(&mut self, room: &str) {
        if matches!(&self.prompt, Some(Prompt::Invitation { room: r, .. }) if r == room) {
            self.prompt = None;
        }
    }

    fn on_event(&mut self, event: ChatEvent) {
        let notices = notices::of_event(&event);
        match event {
            ChatEvent::Message(m) => return self.message(&m),
            ChatEvent::Invited { room, by } => {
                if self.prompt.is_none() {
                    self.prompt = Some(Prompt::Invitation { room, by });
                }
            }
            ChatEvent::Joined { room, by } => {
                self.settled(&room);
                self.buffer(&room).joined = true;
                let n = self.index(&room);
                if n != self.current {
                    self.notice(
                        None,
                        format!("{by} added you to #{room}: /join {room} (or Alt-{})", n + 1),
                    );
                }
            }
            ChatEvent::Removed { room } => self.buffer(&room).joined = false,
            ChatEvent::KeyChanged { user } => {
                // Also said in every other room that has them.
                let text = notices::key_changed(&user);
                let rooms: Vec<String> = self
                    .buffers
                    .iter()
                    .enumerate()
                    .filter(|(i, b)| *i != self.current && b.members.iter().any(|m| m.name == user))
                    .map(|(_, b)| b.room.clone())
                    .collect();
                for room in rooms {
                    self.warn(Some(&room), text.clone());
                }
            }
            ChatEvent::MembersChanged { .. }
            | ChatEvent::MemberJoined { .. }
            | ChatEvent::Missing { .. }
            | ChatEvent::Undecryptable { .. }
            | ChatEvent::Disconnected { .. }
            | ChatEvent::Connected { .. }
            | ChatEvent::DeviceLinked { .. }
            | ChatEvent::DeviceRevoked => {}
        }
        for n in notices {
            match n.level {
                Level::Info => self.notice(n.room.as_deref(), n.text),
                Level::Warning => self.warn(n.room.as_deref(), n.text),
            }
        }
    }

    /// A bracketed paste: one line goes into the input line; several ask first.
    pub(crate) fn on_paste(&mut self, text: String) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let text = text.trim_end_matches('\n').to_owned();
        if text.contains('\n') {
            self.prompt = Some(Prompt::Paste { text });
        } else {
            self.editor.insert(&text);
        }
    }

    /// A key press.
    pub(crate) fn on_key(&mut self, key: KeyEvent) {
        if let Some(prompt) = self.prompt.take() {
            self.answer(prompt, key);
            return;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Char('c') if ctrl => self.quit = true,
            KeyCode::Char('d') if ctrl && self.editor.is_empty() => self.quit = true,
            KeyCode::Char('d') if ctrl => self.editor.delete(),
            KeyCode::Char('a') if ctrl => self.editor.home(),
            KeyCode::Char('e') if ctrl => self.editor.end(),
            KeyCode::Char('u') if ctrl => self.editor.kill_to_start(),
            KeyCode::Char('k') if ctrl => self.editor.kill_to_end(),
            KeyCode::Char('w') if ctrl => self.editor.delete_word(),
            KeyCode::Char('n') if ctrl => self.switch((self.current + 1) % self.buffers.len()),
            KeyCode::Char('p') if ctrl => {
                let n = self.buffers.len();
                self.switch((self.current + n - 1) % n)
            }
            KeyCode::Char('a') if alt => {
                if let Some(i) = (1..=self.buffers.len())
                    .map(|k| (self.current + k) % self.buffers.len())
                    .find(|&i| self.buffers[i].unread > 0)
                {
                    self.switch(i);
                }
            }
            KeyCode::Char(c @ '1'..='9') if alt => self.switch(c as usize - '1' as usize),
            KeyCode::Right if alt => self.switch((self.current + 1) % self.buffers.len()),
            KeyCode::Left if alt => {
                let n = self.buffers.len();
                self.switch((self.current + n - 1) % n)
            }
            KeyCode::Char(_) if ctrl || alt => {}
            KeyCode::Char(c) => {
                let mut buf = [0u8; 4];
                self.editor.insert(c.encode_utf8(&mut buf));
            }
            KeyCode::Backspace => self.editor.backspace(),
            KeyCode::Delete => self.editor.delete(),
            KeyCode::Left if ctrl => self.editor.word_left(),
            KeyCode::Right if ctrl => self.editor.word_right(),
            KeyCode::Left => self.editor.left(),
            KeyCode::Right => self.editor.right(),
            KeyCode::Home => self.editor.home(),
            KeyCode::End => self.editor.end(),
            KeyCode::Up => self.editor.history_up(),
            KeyCode::Down => self.editor.history_down(),
            KeyCode::PageUp => {
                let page = self.page.max(1);
                let b = &mut self.buffers[self.current];
                b.scroll = b.scroll.saturating_add(page.saturating_sub(1).max(1));
            }
            KeyCode::PageDown => {
                let page = self.page.max(1);
                let b = &mut self.buffers[self.current];
                b.scroll = b.scroll.saturating_sub(page.saturating_sub(1).max(1));
            }
            KeyCode::Enter => {
                let line = self.editor.take();
                self.submit(&line);
            }
            _ => {}
        }
    }

    fn answer(&mut self, prompt: Prompt, key: KeyEvent) {
        let yes = matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y'));
        let no = matches!(
            key.code,
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc
        );
        match prompt {
            Prompt::Paste { text } => {
                if yes || key.code == KeyCode::Enter {
                    self.say(text);
                } else if no {
                    self.notice(None, "paste not sent");
                } else {
                    // Only an answer closes this question.
                    self.prompt = Some(Prompt::Paste { text });
                }
            }
            Prompt::Invitation { room, by } => {
                if yes {
                    self.request(Request::Accept(room));
                } else if no {
                    self.request(Request::Decline(room));
                } else {
                    // Only an answer closes this question.
                    self.prompt = Some(Prompt::Invitation { room, by });
                }
            }
            Prompt::Safety { user, verified, .. } => {
                if yes && !verified {
                    self.confirming.insert(user.clone());
                    self.request(Request::Verify {
                        user,
                        confirm: true,
                    });
                } else if !(yes || no || key.code == KeyCode::Enter) {
                    // Typing goes on: the key is not lost.
                    self.on_key(key);
                }
            }
        }
    }

    fn say(&mut self, text: String) {
        let b = self.shown();
        if b.is_status() {
            self.warn(
                None,
                "this is the status buffer: /create ROOM, or /join ROOM once invited",
            );
            return;
        }
        if !b.joined {
            let room = b.room.clone();
            self.warn(None, format!("you are not in #{room}"));
            self.editor.set(&text);
            return;
        }
        let room = b.room.clone();
        self.buffers[self.current].scroll = 0;
        self.buffers[self.current].push(EntryKind::Message {
            seq: None,
            sender: self.user.clone(),
            text: text.clone(),
        });
        self.request(Request::Send { room, text });
    }

    /// Runs a typed line.
    pub(crate) fn submit(&mut self, line: &str) {
        let input = match commands::parse(line) {
            Ok(input) => input,
            Err(e) => {
                self.warn(None, e);
                return;
            }
        };
        let command = match input {
            Input::Say(text) if text.trim().is_empty() => return,
            Input::Say(text) => return self.say(text),
            Input::Command(c) => c,
        };
        let room = self.shown().room.clone();
        let in_room = !room.is_empty();
        match command {
            Command::Quit => self.quit = true,
            Command::Help => {
                for line in HELP {
                    self.notice(None, *line);
                }
            }
            Command::Fingerprint => {
                let mut lines = self.fingerprints.clone();
                lines.push(format!(
                    "server {}: {}",
                    self.address,
                    self.server_fingerprint
                        .as_deref()
                        .unwrap_or("(not connected yet)")
                ));
                for l in lines {
                    self.notice(None, l);
                }
            }
            Command::Accept(room) => self.request(Request::Accept(room)),
            Command::Decline(room) => self.request(Request::Decline(room)),
            Command::Invitations => self.request(Request::Invitations),
            Command::Create(name) => {
                self.request(Request::Create(name.clone()));
                self.switch_to_room(&name);
            }
            Command::Join(name) => {
                let name = name.trim_start_matches('#').to_owned();
                match self.buffers.iter().position(|b| b.room == name && b.joined) {
                    Some(i) => self.switch(i),
                    None => self.warn(
                        None,
                        format!(
                            "you are not in #{name}: a member must /invite you (or /create it)"
                        ),
                    ),
                }
            }
            Command::Rooms => {
                let rooms: Vec<String> = self
                    .buffers
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.joined)
                    .map(|(i, b)| format!("Alt-{} #{}", i + 1, b.room))
                    .collect();
                let text = if rooms.is_empty() {
                    "you are in no room yet".to_owned()
                } else {
                    rooms.join(" · ")
                };
                self.notice(None, text);
            }
            Command::Verify { user, confirm } => {
                if confirm {
                    self.confirming.insert(user.clone());
                }
                self.request(Request::Verify { user, confirm })
            }
            Command::SendFile(_) if !in_room => {
                self.warn(None, "switch to a room first (/join ROOM)")
            }
            Command::SendFile(path) => self.request(Request::SendFile { room, path }),
            Command::Save { n, path } => self.request(Request::Save { n, path }),
            Command::Link => self.request(Request::LinkCode),
            Command::Devices => self.request(Request::Devices),
            Command::Revoke(id) => self.request(Request::Revoke(id)),
            Command::Invite(_) | Command::Leave | Command::Who if !in_room => {
                self.warn(None, "switch to a room first (/join ROOM)")
            }
            Command::Invite(users) => {
                for user in users {
                    self.request(Request::Invite {
                        room: room.clone(),
                        user,
                    });
                }
            }
            Command::Leave => self.request(Request::Leave(room)),
            Command::Who => {
                self.who_asked.insert(room.clone());
                self.request(Request::Who(room));
            }
        }
    }
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
