//! `smc chat` full screen, driven for real in tmux: first-run trust, two people talking,
//! unread counts, scrollback, a multi-line paste, resizing, safety numbers, NO_COLOR.

use crate::support::{self, tempdir, tmux::Tmux};

fn smc_chat(dir: &std::path::Path, user: &str, address: &str, extra: &str) -> String {
    format!(
        "env XDG_CONFIG_HOME='{cfg}' {extra} '{bin}' chat --server {address} --user {user} --home '{home}'",
        cfg = dir.join("config").display(),
        bin = env!("CARGO_BIN_EXE_smc"),
        home = dir.join(user).display(),
    )
}

/// The 12 groups of 5 digits of the safety number shown in a prompt.
fn safety_groups(screen: &str) -> Vec<String> {
    // Inside the prompt's borders, the number's rows are four groups of five digits.
    screen
        .lines()
        .flat_map(|l| l.split('│'))
        .map(str::trim)
        .filter(|cell| {
            let groups: Vec<&str> = cell.split(' ').collect();
            groups.len() == 4
                && groups
                    .iter()
                    .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
        })
        .flat_map(|cell| cell.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

#[test]
fn two_people_chat_full_screen() {
    let dir = tempdir("chat_tui");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let fingerprint = server.fingerprint();
    let tmux = Tmux::new("chat");

    // First run without --trust-server: the fingerprint is shown and asked about.
    let alice = tmux.pane(
        "alice",
        &dir,
        &smc_chat(&dir, "alice", &address, ""),
        100,
        30,
    );
    let screen = alice.wait_text("Trust this server");
    assert!(screen.contains(&fingerprint), "{screen}");
    assert!(screen.contains("created the identity of alice"), "{screen}");
    alice.type_line("y");
    alice.wait_text("connected to");
    let bob = tmux.pane(
        "bob",
        &dir,
        &smc_chat(&dir, "bob", &address, "NO_COLOR=1")
            .replace(" chat ", &format!(" chat --trust-server '{fingerprint}' ")),
        100,
        30,
    );
    bob.wait_text("connected to");

    alice.type_line("/create lobby");
    alice.wait_text("created #lobby");
    alice.type_line("/invite bob");
    // Invited is not joined: said as it is, and counted apart in the status line.
    let screen = alice.wait_text("invited bob to #lobby");
    assert!(!screen.contains("bob joined"), "{screen}");
    alice.wait_for("bob counted as invited", |s| {
        s.contains("│ 1 member │ 1 invited")
    });
    // An invitation is asked about; nothing of the room reaches bob before.
    let screen = bob.wait_text("Accept? [y] join");
    assert!(screen.contains("alice invites you to #lobby"), "{screen}");
    bob.keys(&["y"]);
    bob.wait_text("alice added you to #lobby");
    // alice hears it from bob when he accepts.
    alice.wait_text("bob joined #lobby");
    alice.wait_for("bob counted as a member", |s| {
        s.contains("2 members") && !s.contains("1 invited")
    });
    bob.type_line("/join lobby");
    bob.wait_text("[#lobby]");

    // A message typed in one screen appears in the other, accents, emoji, CJK intact.
    let hello = "Bonjour Bob, ça va ? 🙂 日本語 é";
    alice.type_line(hello);
    bob.wait_text(&format!("<alice> {hello}"));
    bob.type_line("Très bien ! Et toi ? 🎉");
    alice.wait_text("<bob> Très bien ! Et toi ? 🎉");

    // Unread counts in the room list while looking elsewhere.
    bob.keys(&["M-1"]);
    bob.wait_text("[smc]");
    alice.type_line("un");
    alice.type_line("deux");
    bob.wait_text("#lobby (2)");
    bob.keys(&["M-2"]);
    let screen = bob.wait_text("<alice> deux");
    assert!(!screen.contains("(2)"), "{screen}");

    // Scrollback: more lines than the screen holds; PageUp goes back to the first.
    for i in 1..=40 {
        alice.type_line(&format!("ligne {i:02}"));
    }
    let screen = bob.wait_text("<alice> ligne 40");
    assert!(!screen.contains("ligne 01"), "{screen}");
    for _ in 0..3 {
        bob.keys(&["PageUp"]);
    }
    let screen = bob.wait_text("<alice> ligne 01");
    assert!(screen.contains("more rows"), "{screen}");
    for _ in 0..3 {
        bob.keys(&["PageDown"]);
    }
    bob.wait_for("the bottom again", |s| {
        s.contains("ligne 40") && !s.contains("more rows")
    });

    // A paste of several lines asks first; sent as one message.
    alice.paste("première ligne\nseconde ligne");
    alice.wait_text("You pasted 2 lines");
    alice.keys(&["y"]);
    bob.wait_text("seconde ligne");
    bob.wait_text("<alice> première ligne");

    // Resize: the screen is redrawn to the new size, wide characters still whole.
    bob.resize(52, 14);
    let screen = bob.wait_for("a 52x14 screen", |s| {
        s.lines().count() == 14 && s.contains("seconde ligne")
    });
    for line in screen.lines() {
        assert!(
            unicode_width(line) <= 52,
            "{line:?} is wider than 52:\n{screen}"
        );
    }
    bob.resize(120, 40);
    let screen = bob.wait_for("a 120x40 screen", |s| {
        s.lines().count() == 40 && s.contains("ligne 10") && s.contains("│ /help")
    });
    assert!(screen.contains("seconde ligne"), "{screen}");

    // /verify shows the same safety number on both sides; confirming marks it verified.
    alice.type_line("/verify bob");
    bob.type_line("/verify alice");
    let on_alice = safety_groups(&alice.wait_text("Your safety number with bob"));
    let on_bob = safety_groups(&bob.wait_text("Your safety number with alice"));
    assert_eq!(on_alice.len(), 12, "{on_alice:?}");
    assert_eq!(on_alice, on_bob);
    bob.keys(&["y"]);
    bob.wait_text("all verified");
    alice.keys(&["Escape"]);
    alice.wait_text("1 unverified");

    // Colours: alice's screen has them; bob's (NO_COLOR=1) has none.
    assert!(
        has_colors(&alice.screen_with_styles()),
        "alice has no colours"
    );
    let styled = bob.screen_with_styles();
    assert!(
        !has_colors(&styled),
        "NO_COLOR was not respected:\n{styled:?}"
    );

    alice.type_line("/quit");
    alice.wait_text("EXITED 0");
    bob.keys(&["C-c"]);
    bob.wait_text("EXITED 0");
}

#[test]
fn a_file_goes_through_the_full_screen_with_a_progress_bar() {
    let dir = tempdir("chat_tui_files");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let trust = format!(
        " chat --auto-join --trust-server '{}' ",
        server.fingerprint()
    );
    let tmux = Tmux::new("files");
    let pane = |user: &str| {
        let command = smc_chat(&dir, user, &address, "").replace(" chat ", &trust);
        tmux.pane(user, &dir, &command, 120, 30)
    };
    let alice = pane("alice");
    alice.wait_text("connected to");
    let bob = pane("bob");
    bob.wait_text("connected to");
    alice.type_line("/create files");
    alice.wait_text("created #files");
    alice.type_line("/invite bob");
    bob.wait_text("alice added you to #files");
    bob.keys(&["M-2"]);
    bob.wait_text("[#files]");

    // Large enough that the status line shows the transfer under way for a while.
    let source = dir.join("big.bin");
    let content: Vec<u8> = (0..24u32 << 20).map(|i| (i % 253) as u8).collect();
    std::fs::write(&source, &content).unwrap();
    alice.type_line(&format!("/send {}", source.display()));
    let screen = alice.wait_for("the upload's progress bar", |s| {
        s.lines()
            .any(|l| l.contains("sending big.bin [#") && !l.contains("100%"))
    });
    let bar = screen
        .lines()
        .find(|l| l.contains("sending big.bin"))
        .unwrap();
    assert!(bar.contains('%'), "{bar}");
    // Chat goes on meanwhile, and the bar is gone once the file is sent.
    alice.type_line("pendant l'envoi");
    bob.wait_text("<alice> pendant l'envoi");
    bob.wait_text("[file 1] big.bin (24.0 MiB)");
    alice.wait_for("no bar once sent", |s| !s.contains("sending big.bin"));

    let saved = dir.join("saved.bin");
    bob.type_line(&format!("/save 1 {}", saved.display()));
    bob.wait_text("saved file 1");
    assert!(
        std::fs::read(&saved).unwrap() == content,
        "the saved file differs"
    );

    alice.type_line("/quit");
    alice.wait_text("EXITED 0");
    bob.type_line("/quit");
    bob.wait_text("EXITED 0");
}

/// Whether SGR escape sequences set a foreground or background colour (39 and 49,
/// "default colour", do not count).
fn has_colors(styled: &str) -> bool {
    styled.split("\u{1b}[").skip(1).any(|seq| {
        let Some(params) = seq.split('m').next() else {
            return false;
        };
        params.split(';').any(|p| {
            matches!(
                p.parse::<u32>(),
                Ok(30..=38 | 40..=48 | 90..=97 | 100..=107)
            )
        })
    })
}

/// Display width of a line as the terminal shows it.
fn unicode_width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x1F300..=0x1FAFF
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}

#[test]
fn a_device_is_linked_from_the_full_screen_with_its_qr_code_and_revoked() {
    let dir = tempdir("chat_tui_link");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let fingerprint = server.fingerprint();
    let tmux = Tmux::new("link");
    let trusted = |user: &str, extra: &str| {
        smc_chat(&dir, user, &address, "").replace(
            " chat ",
            &format!(" chat --trust-server '{fingerprint}' {extra} "),
        )
    };
    let alice = tmux.pane("alice", &dir, &trusted("alice", ""), 100, 45);
    alice.wait_text("connected to");
    alice.type_line("/link");
    let screen = alice.wait_text("on the new device: smc chat --user alice --link ");
    let code = screen
        .split("--link ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the code on screen")
        .to_owned();
    assert_eq!(code.len(), 19, "{screen}");
    // The QR code: rows of half blocks between the code and how to use it.
    let qr_rows = screen
        .lines()
        .filter(|l| l.matches(['█', '▀', '▄']).count() >= 10)
        .count();
    assert!(qr_rows >= 10, "no QR code on screen:\n{screen}");

    // The laptop is a home of alice's of its own, linked with the code.
    let laptop_cmd = trusted("alice", &format!("--link {code}")).replace(
        &format!("'{}'", dir.join("alice").display()),
        &format!("'{}'", dir.join("laptop").display()),
    );
    let laptop = tmux.pane("laptop", &dir, &laptop_cmd, 100, 30);
    laptop.wait_text("connected to");
    alice.wait_text("linked a new device: ");
    laptop.type_line("/devices");
    let screen = laptop.wait_text("(this device)");
    assert!(screen.contains("first device"), "{screen}");

    let id_line = screen
        .lines()
        .find(|l| l.contains("(this device)"))
        .unwrap()
        .to_owned();
    let laptop_id = id_line
        .split_whitespace()
        .find(|w| w.len() == 16 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .expect("the laptop's id")
        .to_owned();
    alice.type_line(&format!("/revoke {laptop_id}"));
    alice.wait_text(&format!("device {laptop_id} revoked"));
    laptop.wait_text("this device was revoked");
    server.stop();
}
