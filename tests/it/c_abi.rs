//! The C ABI for real: compiles the C programs in tests/c/ and bindings/c/examples/
//! with the system C compiler (`-Wall -Wextra -Werror`) against include/smc.h, links
//! them to the libsmc that this `cargo test` built (shared and static), and runs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support;

fn root() -> PathBuf {
    support::root()
}

/// The directory holding the libsmc that this `cargo test` built (the `smc-ffi` crate,
/// a dev-dependency, whose files cargo names libsmc_ffi.so / libsmc_ffi.a): the `deps`
/// directory next to this test binary (cargo builds every crate type of a library
/// there, and only uplifts them to target/<profile> on `cargo build`).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("target/<profile>/deps");
    assert!(
        deps.join("libsmc_ffi.so").exists() && deps.join("libsmc_ffi.a").exists(),
        "libsmc_ffi.so / libsmc_ffi.a not found in {}",
        deps.display()
    );
    deps.to_path_buf()
}

/// A directory holding `libsmc.so` and `libsmc.so.MAJOR` (its SONAME, which linked
/// programs ask for), both links to the library this `cargo test` built.
fn shared_lib_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = out_dir().join("lib");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let built = lib_dir().join("libsmc_ffi.so");
        let soname = format!("libsmc.so.{}", env!("CARGO_PKG_VERSION_MAJOR"));
        for name in ["libsmc.so", soname.as_str()] {
            std::os::unix::fs::symlink(&built, dir.join(name)).unwrap();
        }
        dir
    })
    .clone()
}

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c_abi");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_owned())
}

/// Compiles `source` into `name`, linked to libsmc dynamically or statically.
fn compile(source: &str, name: &str, link_static: bool) -> PathBuf {
    let lib = lib_dir();
    let exe = out_dir().join(name);
    let mut cmd = Command::new(cc());
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-I"])
        .arg(root().join("include"))
        .arg(root().join(source))
        .arg("-o")
        .arg(&exe);
    if link_static {
        cmd.arg(lib.join("libsmc_ffi.a"))
            .args(["-lpthread", "-ldl", "-lm"]);
        // A test build on the system's libcrypto (scripts/test.sh sets
        // OPENSSL_NO_VENDOR when there is one): the static library needs it too.
        if std::env::var("OPENSSL_NO_VENDOR").is_ok_and(|v| v != "0") {
            cmd.arg("-lcrypto");
        }
    } else {
        let lib = shared_lib_dir();
        cmd.arg("-L")
            .arg(&lib)
            .arg("-lsmc")
            // DT_RPATH (not RUNPATH): this build's library wins over any libsmc.so that
            // cargo's LD_LIBRARY_PATH (target/<profile>) may hold from an older build.
            .arg("-Wl,--disable-new-dtags")
            .arg(format!("-Wl,-rpath,{}", lib.display()));
    }
    cmd.args(sanitizer_flags());
    let out = cmd.output().expect("run the C compiler");
    assert!(
        out.status.success(),
        "compiling {source} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// `SMC_C_SANITIZE=address,undefined` (as `scripts/test.sh` sets for a second run of
/// these tests) builds every C program with those sanitizers: any report (a leak, a
/// read past a buffer that libsmc returned, undefined behaviour) makes the program exit
/// non-zero, which fails its test.
fn sanitizer_flags() -> Vec<String> {
    match std::env::var("SMC_C_SANITIZE") {
        Ok(list) if !list.is_empty() => vec![
            format!("-fsanitize={list}"),
            "-fno-sanitize-recover=all".to_owned(),
            "-fno-omit-frame-pointer".to_owned(),
        ],
        _ => Vec::new(),
    }
}

fn hex(s: &str) -> String {
    if s.is_empty() {
        return "-".to_owned();
    }
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The crypt/decrypt vectors with 64-bit keys, in the line format cipher_test.c reads.
fn vector_file(name: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join("tests/data/vectors.json")).expect("vectors");
    let v: Value = serde_json::from_str(&text).expect("json");
    let mut lines = String::new();
    for op in ["crypt", "decrypt"] {
        let not_coprime = if op == "crypt" {
            smc::legacy::CRYPT_NOT_COPRIME
        } else {
            smc::legacy::DECRYPT_NOT_COPRIME
        };
        for case in v[op].as_array().expect("array") {
            let (Some(a), Some(b)) = (case["a"].as_i64(), case["b"].as_i64()) else {
                continue;
            };
            let m = case["M"].as_str().expect("M");
            let expected = case
                .get("smc_ok")
                .or_else(|| case.get("ok"))
                .and_then(Value::as_str);
            let (kind, out) = match expected {
                Some(s) if s == not_coprime => ("notcoprime", String::new()),
                Some(s) => ("ok", s.to_owned()),
                None => ("unsupported", String::new()),
            };
            lines += &format!("{op} {a} {b} {} {kind} {}\n", hex(m), hex(&out));
        }
    }
    let path = out_dir().join(name);
    std::fs::write(&path, lines).expect("write vectors");
    path
}

/// Runs a C program; the servers it starts listen on `SMC_TEST_LISTEN`, a free port
/// below the ephemeral range (`support::ports`: a server it restarts on its address
/// finds the port free).
fn run(exe: &Path, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(exe)
        .args(args)
        .env("SMC_TEST_LISTEN", crate::support::ports::free_address())
        .output()
        .expect("run C program");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} failed:\nstdout:\n{stdout}\nstderr:\n{}",
        exe.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn c_cipher_tests_pass_linked_shared() {
    let exe = compile("tests/c/cipher_test.c", "cipher_test_shared", false);
    let vectors = vector_file("vectors_shared.txt");
    let stdout = run(&exe, &[vectors.as_os_str()]);
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

#[test]
fn c_cipher_tests_pass_linked_static() {
    let exe = compile("tests/c/cipher_test.c", "cipher_test_static", true);
    let vectors = vector_file("vectors_static.txt");
    let stdout = run(&exe, &[vectors.as_os_str()]);
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

#[test]
fn c_example_prints_the_original_ciphertext() {
    let exe = compile("bindings/c/examples/crypt.c", "crypt_example", false);
    assert_eq!(run(&exe, &[]), "e[j-\n");
    assert_eq!(
        run(&exe, &["Bonjour George, comment vas-tu ?".as_ref()]),
        "vox)oPZE0[oZb[ZEfoyy[x-ECmj4-PE_\n"
    );
}

#[test]
fn header_compiles_as_cpp() {
    let exe = out_dir().join("cpp_check.o");
    let src = out_dir().join("cpp_check.cpp");
    std::fs::write(
        &src,
        "#include <smc.h>\nint main() { return smc_status_message(SMC_OK) == nullptr; }\n",
    )
    .unwrap();
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_owned());
    let out = Command::new(cxx)
        .args(["-std=c++11", "-Wall", "-Wextra", "-Werror", "-c", "-I"])
        .arg(root().join("include"))
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("run the C++ compiler");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn c_example_chats_through_a_legacy_server() {
    let exe = compile("bindings/c/examples/legacy_chat.c", "legacy_chat", false);
    let logs = out_dir().join("legacy_chat_logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).unwrap();
    let out = run(&exe, &[logs.as_os_str()]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "A> Bonjour George, comment vas-tu ?  (reply: own message)",
            "B> Tres bien, et toi ?  (reply: Bonjour Georger comment vas-tu ?)",
            "A> Super. On se voit demain ?  (reply: Tres bienr et toi ?)",
            "B> Oui, a demain !  (reply: Super. On se voit demain ?)",
        ],
        "{out}"
    );
    assert!(lines[4].starts_with("unsupported: "), "{out}");
    let log = std::fs::read_to_string(logs.join("log.txt")).unwrap();
    assert_eq!(log.lines().count(), 4);
}

#[test]
fn c_legacy_api_rejects_null_and_bad_input() {
    let exe = compile("tests/c/legacy_bad_input.c", "legacy_bad_input", false);
    assert_eq!(run(&exe, &[]), "ok\n");
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = out_dir().join(format!("{name}_data"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn c_example_chats_through_an_smc_server() {
    for (link_static, name) in [(false, "chat_shared"), (true, "chat_static")] {
        let exe = compile("bindings/c/examples/chat.c", name, link_static);
        let dir = fresh_dir(name);
        let out = run(&exe, &[dir.as_os_str()]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("server on 127.0.0.1:"), "{out}");
        assert_eq!(lines[1..4], ["members:", "alice", "bob"], "{out}");
        assert!(lines[4].starts_with("alice sent message "), "{out}");
        // Places in the room: the first message follows the group's commit that added
        // bob; the reply comes right after it.
        let seq = |line: &str| -> u64 {
            let rest = &line[line.find('#').expect("#seq") + 1..];
            rest[..rest.find(' ').unwrap()].parse().unwrap()
        };
        let (first, second) = (seq(lines[5]), seq(lines[6]));
        assert!(first >= 1 && second == first + 1, "{out}");
        let without_seq: Vec<String> = lines[5..]
            .iter()
            .map(|l| {
                l.replace(&format!("#{first} "), "#N ")
                    .replace(&format!("#{second} "), "#N+1 ")
            })
            .collect();
        assert_eq!(
            without_seq,
            [
                "bob got #N in c-room from alice: Hello Bob, from C!",
                "alice got #N+1 in c-room from bob: Hello Alice, got it.",
                "history of c-room (2 messages):",
                "  alice: Hello Bob, from C!",
                "  bob: Hello Alice, got it.",
                "safety numbers match",
                "alice verified bob: yes",
            ],
            "{out}"
        );
        // The C program's server left a real store and a private key behind.
        assert!(dir.join("server/smc.db").exists());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.join("alice/identity.key"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn c_chat_api_rejects_null_and_bad_input() {
    let exe = compile("tests/c/chat_bad_input.c", "chat_bad_input", false);
    let dir = fresh_dir("chat_bad_input");
    assert_eq!(
        run(&exe, &[dir.as_os_str()]),
        "all v2 misuse checks passed\n"
    );
}

#[test]
fn c_clients_probe_and_insist_on_the_servers_fingerprint() {
    let exe = compile("tests/c/server_trust.c", "server_trust", false);
    let dir = fresh_dir("server_trust");
    assert_eq!(
        run(&exe, &[dir.as_os_str()]),
        "all server trust checks passed\n"
    );
}

#[test]
fn c_clients_get_key_changed_and_undecryptable_and_go_on() {
    // The server is this test's, so that it can change what the server holds between
    // the C program's phases, as an operator (a released name) and an attacker (an
    // altered message) would.
    let exe = compile("tests/c/key_trouble.c", "key_trouble", false);
    let dir = fresh_dir("key_trouble");
    let mut server = support::evil::Evil::start(&dir.join("server"));
    let phase = |address: &str, name: &str| {
        let out = run(&exe, &[address.as_ref(), dir.as_os_str(), name.as_ref()]);
        assert_eq!(out, format!("{name} passed\n"));
    };
    phase(&server.address, "setup");

    // bob lost his keys: the operator releases his name.
    let release = Command::new(env!("CARGO_BIN_EXE_smc"))
        .args(["admin", "release", "bob", "--data-dir"])
        .arg(dir.join("server"))
        .env_remove("SMC_CONFIG")
        .output()
        .unwrap();
    assert!(release.status.success(), "{release:?}");
    // alice's last message of the room ("damaged") altered in the server's store, her
    // one before it ("dropped") deleted (the others' words that they joined may come
    // between or after them).
    server.tamper(|db| {
        let alices = |offset: i64| -> (i64, Vec<u8>) {
            db.query_row(
                "SELECT seq, payload FROM messages WHERE room = 'r' AND sender = 'alice'
                 AND commit_epoch IS NULL ORDER BY seq DESC LIMIT 1 OFFSET ?1",
                [offset],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        let ((seq, mut payload), (dropped, _)) = (alices(0), alices(1));
        let middle = payload.len() / 2;
        payload[middle] ^= 0x55;
        db.execute(
            "UPDATE messages SET payload = ?2 WHERE room = 'r' AND seq = ?1",
            rusqlite::params![seq, payload],
        )
        .unwrap();
        db.execute(
            "DELETE FROM messages WHERE room = 'r' AND seq = ?1",
            [dropped],
        )
        .unwrap();
    });
    phase(&server.address, "undecryptable");
    phase(&server.address, "key_changed");
}

#[test]
fn c_clients_send_and_download_files() {
    let exe = compile("tests/c/files.c", "files", false);
    let dir = fresh_dir("files");
    assert_eq!(run(&exe, &[dir.as_os_str()]), "all file checks passed\n");
}

#[test]
fn c_programs_wait_for_events_with_poll() {
    let exe = compile("tests/c/events.c", "events", false);
    let dir = fresh_dir("events");
    assert_eq!(run(&exe, &[dir.as_os_str()]), "all event checks passed\n");
}

#[test]
fn c_clients_link_list_and_revoke_devices() {
    let exe = compile("tests/c/devices.c", "devices", false);
    let dir = fresh_dir("devices");
    assert_eq!(run(&exe, &[dir.as_os_str()]), "all device checks passed\n");
}

#[test]
fn c_clients_keep_themselves_connected_across_a_server_restart() {
    let exe = compile("tests/c/reconnect.c", "reconnect", false);
    let dir = fresh_dir("reconnect");
    assert_eq!(
        run(&exe, &[dir.as_os_str()]),
        "all reconnection checks passed\n"
    );
}

#[test]
fn a_c_client_moves_to_the_next_node_when_its_node_is_killed() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let exe = compile("tests/c/cluster_failover.c", "cluster_failover", false);
    let dir = fresh_dir("cluster_failover");
    let mut cluster = crate::support::nodes::Nodes::start("c_failover", 2);
    let mut program = Command::new(&exe)
        .args([&cluster.addresses[0], &cluster.addresses[1]])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(program.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    cluster.kill(0);
    let mut stdin = program.stdin.take().unwrap();
    stdin.write_all(b"killed\n").unwrap();
    drop(stdin);
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = program.wait().unwrap();
    assert!(status.success(), "{status}: {rest:?} (its stderr above)");
    assert_eq!(rest, ["all cluster failover checks passed"]);
}

#[test]
fn c_example_poll_chat_talks_through_its_own_event_loop() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let exe = compile("bindings/c/examples/poll_chat.c", "poll_chat", false);
    let dir = fresh_dir("poll_chat");
    let server = support::server(&dir.join("server"));
    let address = server.address().to_string();
    let mut chat = Command::new(&exe)
        .arg(dir.join("bob"))
        .args(["bob", &address, "lobby"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(chat.stdout.take().unwrap()).lines();
    let mut next = move || lines.next().unwrap().unwrap();
    assert_eq!(next(), "connected as bob");
    let mut alice = support::client(&dir.join("alice"), "alice", &address);
    alice.create_room("lobby").unwrap();
    alice.invite("lobby", "bob").unwrap();
    assert_eq!(next(), "alice invites you to #lobby");
    assert_eq!(next(), "alice added you to #lobby");
    alice.send("lobby", "hi bob").unwrap();
    assert_eq!(next(), "#lobby <alice> hi bob");
    // What bob types goes out while the loop also waits on smc.
    let mut stdin = chat.stdin.take().unwrap();
    stdin.write_all(b"hello alice\nsecond line\n").unwrap();
    stdin.flush().unwrap();
    let got: Vec<String> = (0..2)
        .map(|_| alice.recv(support::WAIT).unwrap().unwrap().text)
        .collect();
    assert_eq!(got, ["hello alice", "second line"]);
    drop(stdin);
    assert!(chat.wait().unwrap().success());
}
