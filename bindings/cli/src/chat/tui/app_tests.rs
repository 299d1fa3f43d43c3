//! [`App`] driven as the event loop drives it: updates from the worker in, key
//! presses and pastes in, requests to the worker out, and the screen drawn by
//! [`view::draw`] on ratatui's `TestBackend`.

use std::sync::mpsc::{self, Receiver};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use super::*;
use crate::chat::tui::view;
use crate::chat::worker::Member;
use crate::terminal_safe;

/// An interface for alice and the worker's end of its request channel.
fn app() -> (App, Receiver<Request>) {
    let (tx, rx) = mpsc::channel();
    let app = App::new("alice", "127.0.0.1:7000", vec!["fp".into()], tx, false);
    (app, rx)
}

/// alice's interface, connected, in rooms `rooms`, showing the first one.
fn app_in(rooms: &[&str]) -> (App, Receiver<Request>) {
    let (mut app, rx) = app();
    app.on_update(Update::Link(Link::Connected));
    app.on_update(Update::Rooms(rooms.iter().map(|r| r.to_string()).collect()));
    app.switch_to_room(rooms[0]);
    let _ = requests(&rx);
    (app, rx)
}

/// What the interface asked of the worker since the last call.
fn requests(rx: &Receiver<Request>) -> Vec<Request> {
    rx.try_iter().collect()
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn alt(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT)
}

/// Types `text` and presses Enter.
fn type_line(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
    app.on_key(key(KeyCode::Enter));
}

fn message(room: &str, seq: u64, sender: &str, text: &str) -> Message {
    Message {
        id: seq,
        room: room.into(),
        seq,
        sender: sender.into(),
        text: text.into(),
        timestamp: chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
        attachment: None,
    }
}

fn member(name: &str, verified: bool, changed: bool) -> Member {
    Member {
        name: name.into(),
        verified,
        changed,
        invited: false,
    }
}

/// The screen as the event loop draws it (`width` x `height`), one string per row.
fn screen(app: &mut App, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| {
            view::draw(frame, app);
            terminal_safe::scrub(frame.buffer_mut());
        })
        .unwrap();
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| (0..width).map(|x| buffer[(x, y)].symbol()).collect())
        .collect()
}

fn shows(rows: &[String], text: &str) -> bool {
    rows.iter().any(|r| r.contains(text))
}

#[test]
fn a_typed_line_is_sent_to_the_room_shown_and_drawn_at_once() {
    let (mut app, rx) = app_in(&["lobby"]);
    type_line(&mut app, "hello everyone");
    assert_eq!(
        requests(&rx),
        [Request::Send {
            room: "lobby".into(),
            text: "hello everyone".into()
        }]
    );
    assert!(app.editor.is_empty());
    let rows = screen(&mut app, 80, 12);
    assert!(shows(&rows, "hello everyone"), "{rows:#?}");
    // The stored copy replaces the typed one: shown once.
    app.on_update(Update::Sent(message("lobby", 1, "alice", "hello everyone")));
    let rows = screen(&mut app, 80, 12);
    let count = rows.iter().filter(|r| r.contains("hello everyone")).count();
    assert_eq!(count, 1, "{rows:#?}");
}

#[test]
fn a_message_elsewhere_is_counted_unread_until_that_room_is_shown() {
    let (mut app, rx) = app_in(&["lobby", "side"]);
    app.on_update(Update::Event(ChatEvent::Message(message(
        "side", 1, "bob", "psst",
    ))));
    let rows = screen(&mut app, 80, 12);
    assert!(shows(&rows, "#side (1)"), "{rows:#?}");
    assert!(!shows(&rows, "psst"), "not shown in #lobby: {rows:#?}");
    // Alt-a: the next room with unread messages.
    app.on_key(alt('a'));
    assert_eq!(app.shown().room, "side");
    assert_eq!(requests(&rx), [Request::Who("side".into())]);
    let rows = screen(&mut app, 80, 12);
    assert!(shows(&rows, "psst"), "{rows:#?}");
    assert!(!shows(&rows, "(1)"), "{rows:#?}");
}

#[test]
fn an_invitation_waits_for_an_answer_and_y_accepts_it() {
    let (mut app, rx) = app_in(&["lobby"]);
    app.on_update(Update::Event(ChatEvent::Invited {
        room: "secret".into(),
        by: "bob".into(),
    }));
    let rows = screen(&mut app, 80, 16);
    assert!(shows(&rows, "bob invites you to #secret."), "{rows:#?}");
    // Another key does not answer (nor get typed).
    app.on_key(key(KeyCode::Char('x')));
    assert!(app.prompt.is_some());
    assert!(requests(&rx).is_empty());
    app.on_key(key(KeyCode::Char('y')));
    assert!(app.prompt.is_none());
    assert_eq!(requests(&rx), [Request::Accept("secret".into())]);
    assert!(app.editor.is_empty());
}

#[test]
fn an_invitation_settled_elsewhere_closes_its_prompt() {
    // With auto-join, the Joined event follows the invitation at once: the prompt
    // closes, and the keys typed next go to the input, not to the question.
    let (mut app, rx) = app_in(&["lobby"]);
    app.on_update(Update::Event(ChatEvent::Invited {
        room: "secret".into(),
        by: "bob".into(),
    }));
    assert!(app.prompt.is_some());
    app.on_update(Update::Event(ChatEvent::Joined {
        room: "secret".into(),
        by: "bob".into(),
    }));
    assert!(app.prompt.is_none(), "still asking about a room joined");
    app.on_key(key(KeyCode::Char('y')));
    assert!(
        !requests(&rx).contains(&Request::Accept("secret".into())),
        "the key answered a settled question"
    );
    // Accepted from another place (the room list says so): the same.
    app.on_update(Update::Event(ChatEvent::Invited {
        room: "other".into(),
        by: "bob".into(),
    }));
    app.on_update(Update::Rooms(vec![
        "lobby".into(),
        "secret".into(),
        "other".into(),
    ]));
    assert!(app.prompt.is_none());
    // Another room's invitation keeps its prompt.
    app.on_update(Update::Event(ChatEvent::Invited {
        room: "third".into(),
        by: "bob".into(),
    }));
    app.on_update(Update::Event(ChatEvent::Joined {
        room: "secret".into(),
        by: "bob".into(),
    }));
    assert!(app.prompt.is_some());
}

#[test]
fn a_pasted_block_is_sent_only_when_confirmed() {
    let (mut app, rx) = app_in(&["lobby"]);
    app.on_paste("line one\r\nline two\n".into());
    let rows = screen(&mut app, 80, 16);
    assert!(shows(&rows, "You pasted 2 lines:"), "{rows:#?}");
    app.on_key(key(KeyCode::Char('n')));
    assert!(requests(&rx).is_empty(), "declined: nothing sent");
    assert!(shows(&screen(&mut app, 80, 16), "paste not sent"));

    app.on_paste("line one\nline two".into());
    app.on_key(key(KeyCode::Enter));
    assert_eq!(
        requests(&rx),
        [Request::Send {
            room: "lobby".into(),
            text: "line one\nline two".into()
        }]
    );
}

#[test]
fn a_changed_key_is_warned_in_every_room_with_that_member_and_in_the_status_line() {
    let (mut app, _rx) = app_in(&["lobby", "side", "other"]);
    for room in ["lobby", "side"] {
        app.on_update(Update::Members {
            room: room.into(),
            members: vec![member("alice", false, false), member("bob", true, false)],
        });
    }
    app.on_update(Update::Members {
        room: "other".into(),
        members: vec![member("alice", false, false), member("carol", false, false)],
    });
    assert!(shows(&screen(&mut app, 100, 12), "all verified"));

    app.on_update(Update::Event(ChatEvent::KeyChanged { user: "bob".into() }));
    app.on_update(Update::Members {
        room: "lobby".into(),
        members: vec![member("alice", false, false), member("bob", false, true)],
    });
    let warned =
        |app: &App, room: &str| {
            app.buffers.iter().find(|b| b.room == room).unwrap().entries.iter().any(|e| {
            matches!(&e.kind, EntryKind::Warning(t) if *t == notices::key_changed("bob"))
        })
        };
    assert!(warned(&app, "lobby") && warned(&app, "side"));
    assert!(!warned(&app, "other"), "bob is not in #other");
    let rows = screen(&mut app, 100, 12);
    assert!(shows(&rows, "KEY CHANGED: bob"), "{rows:#?}");
}

#[test]
fn who_lists_the_members_with_the_same_marks_as_the_line_mode() {
    let (mut app, rx) = app_in(&["lobby"]);
    type_line(&mut app, "/who");
    assert_eq!(requests(&rx), [Request::Who("lobby".into())]);
    let members = vec![
        member("alice", false, false),
        member("bob", true, false),
        member("carol", false, false),
    ];
    let expected = notices::members("lobby", &members, "alice");
    app.on_update(Update::Members {
        room: "lobby".into(),
        members,
    });
    let rows = screen(&mut app, 120, 12);
    assert!(shows(&rows, &expected), "{rows:#?}");
    assert!(shows(&rows, "1 unverified"), "{rows:#?}");
}

#[test]
fn a_message_that_could_not_be_sent_comes_back_to_the_input_line() {
    let (mut app, rx) = app_in(&["lobby"]);
    type_line(&mut app, "important");
    let _ = requests(&rx);
    app.on_update(Update::NotSent {
        room: "lobby".into(),
        text: "important".into(),
        error: "too long".into(),
    });
    assert_eq!(app.editor.take(), "important");
    let rows = screen(&mut app, 100, 12);
    assert!(
        shows(&rows, &notices::not_sent("lobby", "too long")),
        "{rows:#?}"
    );
    assert!(
        !shows(&rows, "important"),
        "the unsent copy is gone: {rows:#?}"
    );
}

#[test]
fn nothing_is_sent_from_the_status_buffer_or_a_room_left() {
    let (mut app, rx) = app();
    type_line(&mut app, "hello?");
    assert!(requests(&rx).is_empty());
    assert!(shows(
        &screen(&mut app, 80, 12),
        "this is the status buffer"
    ));

    let (mut app, rx) = app_in(&["lobby"]);
    app.on_update(Update::Event(ChatEvent::Removed {
        room: "lobby".into(),
    }));
    type_line(&mut app, "still there?");
    assert!(requests(&rx).is_empty());
    assert_eq!(app.editor.take(), "still there?", "the text is kept");
    let rows = screen(&mut app, 80, 12);
    assert!(shows(&rows, "you are no longer in #lobby"), "{rows:#?}");
}

#[test]
fn what_others_wrote_cannot_drive_the_terminal() {
    let (mut app, _rx) = app_in(&["lobby"]);
    app.on_update(Update::Event(ChatEvent::Message(message(
        "lobby",
        1,
        "bob",
        "\x1b]0;owned\x07\x1b[2Jgotcha",
    ))));
    let rows = screen(&mut app, 80, 12);
    assert!(shows(&rows, "gotcha"), "{rows:#?}");
    assert!(
        rows.iter()
            .all(|r| !r.contains('\x1b') && !r.contains('\x07')),
        "{rows:#?}"
    );
}
