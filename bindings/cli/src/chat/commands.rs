//! The slash commands of `smc chat`, shared by the full-screen and the line mode.

/// One line typed by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    /// A message for the current room (`//text` sends `/text`).
    Say(String),
    /// A command.
    Command(Command),
}

/// A slash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// `/create ROOM`: create a room (and switch to it).
    Create(String),
    /// `/invite USER...`: add people to the current room.
    Invite(Vec<String>),
    /// `/join ROOM`: switch to a room one is a member of.
    Join(String),
    /// `/accept ROOM`: accept an invitation.
    Accept(String),
    /// `/decline ROOM`: decline an invitation.
    Decline(String),
    /// `/invitations`: the pending invitations.
    Invitations,
    /// `/leave`: leave the current room.
    Leave,
    /// `/who`: the current room's members.
    Who,
    /// `/rooms`: the rooms one is in.
    Rooms,
    /// `/verify USER`: show the safety number; `/verify USER confirm` marks it verified.
    Verify {
        /// The other user.
        user: String,
        /// Mark the key verified.
        confirm: bool,
    },
    /// `/fingerprint`: this user's and the server's fingerprints.
    Fingerprint,
    /// `/send PATH`: send a file to the current room.
    SendFile(String),
    /// `/save N [PATH]`: download file N (as numbered when shown).
    Save {
        /// Its number.
        n: usize,
        /// Where (default: its name, made safe, in the current directory).
        path: Option<String>,
    },
    /// `/link`: show a one-time code that links a new device of this user.
    Link,
    /// `/devices`: this user's devices.
    Devices,
    /// `/revoke ID`: revoke a linked device.
    Revoke(String),
    /// `/help`.
    Help,
    /// `/quit`.
    Quit,
}

/// The help text, one line per command or shortcut.
pub(crate) const HELP: &[&str] = &[
    "/create ROOM         create a room (end-to-end encrypted) and switch to it",
    "/invite USER...      add people to this room",
    "/join ROOM           switch to a room you are in (Alt-1..9, Ctrl-N/Ctrl-P also switch)",
    "/accept ROOM         accept an invitation (/decline ROOM refuses it)",
    "/invitations         your pending invitations",
    "/leave               leave this room",
    "/who                 who is in this room, and whose key you verified",
    "/rooms               the rooms you are in",
    "/verify USER         show your safety number with USER (compare it with theirs)",
    "/verify USER confirm mark USER's key verified after comparing",
    "/fingerprint         your key fingerprints and the server's",
    "/send PATH           send a file to this room (end-to-end encrypted)",
    "/save N [PATH]       download file N (shown as [file N]) here, or to PATH",
    "/link                show a code that links a new device (smc chat --link CODE there)",
    "/devices             your devices (/revoke ID removes one)",
    "/quit                leave smc chat (Ctrl-C, or Ctrl-D on an empty line)",
    "//text               send a message that starts with /",
    "PageUp/PageDown scroll · Up/Down typed lines · Ctrl-A/E/U/K/W edit · Alt-A next unread",
];

fn one(name: &str, args: &[&str], what: &str) -> Result<String, String> {
    match args {
        [arg] => Ok((*arg).to_owned()),
        _ => Err(format!("usage: /{name} {what}")),
    }
}

fn none(name: &str, args: &[&str]) -> Result<(), String> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(format!("/{name} takes no arguments"))
    }
}

/// Parses a typed line; an unknown command or wrong arguments is an `Err` with the
/// message to show.
pub(crate) fn parse(line: &str) -> Result<Input, String> {
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Input::Say(line.to_owned()));
    };
    if rest.starts_with('/') {
        return Ok(Input::Say(rest.to_owned()));
    }
    let mut words = rest.split_whitespace();
    let name = words.next().unwrap_or("");
    let args: Vec<&str> = words.collect();
    let command = match name {
        "create" => Command::Create(one(name, &args, "ROOM")?),
        "invite" if !args.is_empty() => {
            Command::Invite(args.iter().map(|s| (*s).to_owned()).collect())
        }
        "invite" => return Err("usage: /invite USER...".into()),
        "join" | "j" | "switch" => Command::Join(one(name, &args, "ROOM")?),
        "accept" => Command::Accept(one(name, &args, "ROOM")?),
        "decline" => Command::Decline(one(name, &args, "ROOM")?),
        "invitations" | "invites" => none(name, &args).map(|()| Command::Invitations)?,
        "leave" | "part" => none(name, &args).map(|()| Command::Leave)?,
        "who" | "members" => none(name, &args).map(|()| Command::Who)?,
        "rooms" => none(name, &args).map(|()| Command::Rooms)?,
        "verify" => match args.as_slice() {
            [user] => Command::Verify {
                user: (*user).to_owned(),
                confirm: false,
            },
            [user, "confirm"] => Command::Verify {
                user: (*user).to_owned(),
                confirm: true,
            },
            _ => return Err("usage: /verify USER [confirm]".into()),
        },
        "fingerprint" | "fp" => none(name, &args).map(|()| Command::Fingerprint)?,
        "link" => none(name, &args).map(|()| Command::Link)?,
        "devices" => none(name, &args).map(|()| Command::Devices)?,
        "revoke" => Command::Revoke(one(name, &args, "DEVICE-ID")?),
        // A path may hold spaces: everything after the command.
        "send" | "file" => match rest[name.len()..].trim() {
            "" => return Err("usage: /send PATH".into()),
            path => Command::SendFile(path.to_owned()),
        },
        "save" => {
            let mut parts = rest[name.len()..].trim().splitn(2, char::is_whitespace);
            let n = parts.next().and_then(|n| n.parse::<usize>().ok());
            match n {
                Some(n) if n > 0 => Command::Save {
                    n,
                    path: parts
                        .next()
                        .map(|p| p.trim().to_owned())
                        .filter(|p| !p.is_empty()),
                },
                _ => return Err("usage: /save N [PATH] (N: the number shown as [file N])".into()),
            }
        }
        "help" | "h" | "?" => Command::Help,
        "quit" | "exit" | "q" => Command::Quit,
        "" => return Err("a command name must follow / (//text sends /text)".into()),
        other => return Err(format!("unknown command /{other} (/help lists them)")),
    };
    Ok(Input::Command(command))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_commands_and_mistakes() {
        assert_eq!(parse("Ça va ? 🙂"), Ok(Input::Say("Ça va ? 🙂".into())));
        assert_eq!(parse("//etc"), Ok(Input::Say("/etc".into())));
        assert_eq!(
            parse("/invite bob carol"),
            Ok(Input::Command(Command::Invite(vec![
                "bob".into(),
                "carol".into()
            ])))
        );
        assert_eq!(
            parse("/verify bob confirm"),
            Ok(Input::Command(Command::Verify {
                user: "bob".into(),
                confirm: true
            }))
        );
        assert!(parse("/create").unwrap_err().contains("usage"));
        assert!(parse("/frobnicate")
            .unwrap_err()
            .contains("unknown command"));
        assert!(parse("/leave now").is_err());
    }

    #[test]
    fn files_take_paths_with_spaces_and_a_number() {
        assert_eq!(
            parse("/send  my report (final).pdf "),
            Ok(Input::Command(Command::SendFile(
                "my report (final).pdf".into()
            )))
        );
        assert_eq!(
            parse("/save 3"),
            Ok(Input::Command(Command::Save { n: 3, path: None }))
        );
        assert_eq!(
            parse("/save 3 ~/Downloads/a b.pdf"),
            Ok(Input::Command(Command::Save {
                n: 3,
                path: Some("~/Downloads/a b.pdf".into())
            }))
        );
        for wrong in ["/send", "/save", "/save 0", "/save x", "/save -1 p"] {
            assert!(parse(wrong).unwrap_err().contains("usage"), "{wrong}");
        }
    }
}
