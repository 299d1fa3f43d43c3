//! What the console says about events, members and sending: one wording for both
//! modes. The line mode prints these texts on stderr; the full-screen client puts them
//! in the buffer of their room (or the current one) and colours warnings.

use smc::client::ChatEvent;

use super::worker::Member;

/// How much a notice matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Something happened.
    Info,
    /// Something the user must look at: a key changed, messages missing or unreadable,
    /// removal from a room.
    Warning,
}

/// One line about an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notice {
    /// The room it is about (`None`: about no room in particular).
    pub room: Option<String>,
    /// How much it matters.
    pub level: Level,
    /// What to show.
    pub text: String,
}

impl Notice {
    fn info(room: Option<&str>, text: String) -> Self {
        Notice {
            room: room.map(str::to_owned),
            level: Level::Info,
            text,
        }
    }

    fn warning(room: Option<&str>, text: String) -> Self {
        Notice {
            room: room.map(str::to_owned),
            level: Level::Warning,
            text,
        }
    }
}

/// What the console says about `event` (nothing for a message: it is shown as itself).
pub(crate) fn of_event(event: &ChatEvent) -> Vec<Notice> {
    match event {
        ChatEvent::Message(_) => Vec::new(),
        ChatEvent::Invited { room, by } => vec![Notice::info(
            None,
            format!("{by} invites you to #{room}: /accept {room} or /decline {room}"),
        )],
        ChatEvent::Joined { room, by } => {
            vec![Notice::info(
                Some(room),
                format!("{by} added you to #{room}"),
            )]
        }
        ChatEvent::MembersChanged {
            room,
            added,
            removed,
        } => added
            .iter()
            .map(|u| Notice::info(Some(room), format!("invited {u} to #{room}")))
            .chain(
                removed
                    .iter()
                    .map(|u| Notice::info(Some(room), format!("{u} left #{room}"))),
            )
            .collect(),
        ChatEvent::MemberJoined { room, user } => {
            vec![Notice::info(Some(room), format!("{user} joined #{room}"))]
        }
        ChatEvent::Removed { room } => vec![Notice::warning(
            Some(room),
            format!("you are no longer in #{room}"),
        )],
        ChatEvent::KeyChanged { user } => vec![Notice::warning(None, key_changed(user))],
        ChatEvent::Missing {
            room,
            sender,
            count,
        } => vec![Notice::warning(
            Some(room),
            format!("{count} message(s) from {sender} in #{room} did not arrive"),
        )],
        ChatEvent::Undecryptable {
            room,
            seq,
            sender,
            reason,
        } => vec![Notice::warning(
            Some(room),
            format!("message {seq} of #{room} (from {sender}) cannot be shown: {reason}"),
        )],
        // The console's worker shows its connection in the status line.
        ChatEvent::Disconnected { reason, retrying } => vec![Notice::warning(
            None,
            if *retrying {
                format!("connection lost ({reason}): reconnecting")
            } else {
                format!("connection lost ({reason})")
            },
        )],
        ChatEvent::Connected { address } => {
            vec![Notice::info(None, format!("connected again to {address}"))]
        }
        ChatEvent::DeviceRevoked => vec![Notice::warning(
            None,
            "this device was revoked by your first device: it can no longer connect".into(),
        )],
        ChatEvent::DeviceLinked { device, name } => vec![Notice::info(
            None,
            format!("linked a new device: {name} ({device})"),
        )],
    }
}

/// The warning when `user`'s key changed.
pub(crate) fn key_changed(user: &str) -> String {
    format!(
        "{user}'s key changed: their safety number is new. Compare it (/verify {user}), then \
         confirm (/verify {user} confirm); until then nothing is sent to rooms with {user}"
    )
}

/// How a member is marked in a list of members: `(invited, not joined yet)`, `(you)`,
/// `(KEY CHANGED)`, `(verified)` or `(not verified)`.
pub(crate) fn mark(member: &Member, me: &str) -> &'static str {
    if member.invited {
        "(invited, not joined yet)"
    } else if member.name == me {
        "(you)"
    } else if member.changed {
        "(KEY CHANGED)"
    } else if member.verified {
        "(verified)"
    } else {
        "(not verified)"
    }
}

/// The members of `room`, each with its [`mark`].
pub(crate) fn members(room: &str, members: &[Member], me: &str) -> String {
    let list: Vec<String> = members
        .iter()
        .map(|m| format!("{} {}", m.name, mark(m, me)))
        .collect();
    format!("members of #{room}: {}", list.join(", "))
}

/// A room was created.
pub(crate) fn created(room: &str) -> String {
    format!("created #{room}: end-to-end encrypted (MLS); /invite USER to add people")
}

/// This user left a room.
pub(crate) fn left(room: &str) -> String {
    format!("you left #{room}")
}

/// A message that could not be sent.
pub(crate) fn not_sent(room: &str, error: &str) -> String {
    format!("NOT sent to #{room}: {error}")
}

/// A message kept for later while the connection is down.
pub(crate) fn queued(room: &str) -> String {
    format!(
        "not connected: your message to #{room} is encrypted and saved, and goes out when \
         the connection is back"
    )
}

/// Whether `user`'s key is verified, and what to do if not.
pub(crate) fn verification(user: &str, verified: bool) -> String {
    if verified {
        format!("{user}'s key is verified")
    } else {
        format!(
            "{user}'s key is not verified: compare the number with {user}, then /verify {user} confirm"
        )
    }
}

/// What `/link` shows: the code, and how to use it on the new device.
pub(crate) fn link_code(code: &str, user: &str) -> [String; 2] {
    [
        format!("link code: {code} (valid 10 minutes, once)"),
        format!("on the new device: smc chat --user {user} --link {code}"),
    ]
}

/// A link code as a QR code, in lines of Unicode half blocks (two modules per
/// character cell, dark on light, with the quiet zone), for the full-screen console.
pub(crate) fn link_qr(code: &str) -> Vec<String> {
    match qrcode::QrCode::new(code.as_bytes()) {
        Ok(qr) => qr
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .build()
            .lines()
            .map(str::to_owned)
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, verified: bool, changed: bool) -> Member {
        Member {
            name: name.into(),
            verified,
            changed,
            invited: false,
        }
    }

    #[test]
    fn every_member_is_marked_and_a_changed_key_outranks_verification() {
        let list = [
            member("alice", false, false),
            member("bob", true, false),
            member("carol", false, false),
            member("dave", true, true),
        ];
        assert_eq!(
            members("r", &list, "alice"),
            "members of #r: alice (you), bob (verified), carol (not verified), dave (KEY CHANGED)"
        );
    }

    #[test]
    fn warnings_are_the_events_that_need_the_user() {
        let events = [
            ChatEvent::KeyChanged { user: "bob".into() },
            ChatEvent::Removed { room: "r".into() },
            ChatEvent::Missing {
                room: "r".into(),
                sender: "bob".into(),
                count: 2,
            },
            ChatEvent::Undecryptable {
                room: "r".into(),
                seq: 4,
                sender: "bob".into(),
                reason: "no key".into(),
            },
        ];
        for e in &events {
            let notices = of_event(e);
            assert_eq!(notices.len(), 1, "{e:?}");
            assert_eq!(notices[0].level, Level::Warning, "{e:?}");
        }
        let joined = of_event(&ChatEvent::Joined {
            room: "r".into(),
            by: "bob".into(),
        });
        assert_eq!(joined[0].level, Level::Info);
        assert_eq!(joined[0].room.as_deref(), Some("r"));
    }

    #[test]
    fn a_key_change_says_who_and_how_to_confirm() {
        let text = &of_event(&ChatEvent::KeyChanged { user: "bob".into() })[0].text;
        assert!(text.starts_with("bob's key changed"), "{text}");
        assert!(text.contains("/verify bob confirm"), "{text}");
    }

    #[test]
    fn members_changes_give_one_line_per_person() {
        let notices = of_event(&ChatEvent::MembersChanged {
            room: "r".into(),
            added: vec!["carol".into(), "dave".into()],
            removed: vec!["eve".into()],
        });
        let texts: Vec<&str> = notices.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(
            texts,
            ["invited carol to #r", "invited dave to #r", "eve left #r"]
        );
    }

    #[test]
    fn an_invitee_joins_when_they_accept() {
        let notices = of_event(&ChatEvent::MemberJoined {
            room: "r".into(),
            user: "yann".into(),
        });
        assert_eq!(notices[0].text, "yann joined #r");
        let list = [
            member("alice", false, false),
            Member {
                invited: true,
                ..member("yann", false, false)
            },
        ];
        assert_eq!(
            members("r", &list, "alice"),
            "members of #r: alice (you), yann (invited, not joined yet)"
        );
    }
}
