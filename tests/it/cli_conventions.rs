//! The `smc` program's conventions: help, version, exit codes, settings from flags,
//! environment and config file (in that order), keys and fingerprints, JSON logs.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::{self, tempdir};

fn smc(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_smc"));
    c.args(args)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env_remove("SMC_USER")
        .env_remove("SMC_HOME")
        .env_remove("SMC_SERVER")
        .env_remove("SMC_CONFIG")
        .stdin(Stdio::null());
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[test]
fn help_version_and_exit_codes() {
    let dir = tempdir("cli_help");
    let (code, out, _) = run(&mut smc(&dir, &["--version"]));
    assert_eq!(
        (code, out.trim()),
        (0, format!("smc {}", env!("CARGO_PKG_VERSION")).as_str())
    );
    for sub in [
        "server",
        "chat",
        "keygen",
        "fingerprint",
        "safety-number",
        "legacy-server",
        "legacy-client",
    ] {
        let (code, out, _) = run(&mut smc(&dir, &[sub, "--help"]));
        assert_eq!(code, 0, "{sub} --help");
        assert!(out.contains("Usage: smc "), "{sub}: {out}");
    }
    // Usage errors: 2, with a message.
    for args in [
        &[][..],
        &["frobnicate"],
        &["chat", "--bogus"],
        &["server", "--rate", "x"],
    ] {
        let (code, _, err) = run(&mut smc(&dir, args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(!err.is_empty());
    }
    // A missing required setting is a usage error too; a failure is 1.
    let (code, _, err) = run(&mut smc(&dir, &["server"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--data-dir"), "{err}");
    // So is a cluster node without the shared store.
    let data = dir.join("node").to_string_lossy().into_owned();
    let (code, _, err) = run(&mut smc(
        &dir,
        &["server", "--data-dir", &data, "--bus", "nats://127.0.0.1:1"],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--store postgres://"), "{err}");
    let (code, _, err) = run(&mut smc(
        &dir,
        &[
            "chat",
            "--user",
            "ann",
            "--server",
            "127.0.0.1:1",
            "--trust-server",
            "X",
        ],
    ));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot connect"), "{err}");
}

#[test]
fn settings_come_from_flags_then_environment_then_config_file() {
    let dir = tempdir("cli_config");
    std::fs::create_dir_all(dir.join("config/smc")).unwrap();
    std::fs::write(
        dir.join("config/smc/config.toml"),
        "[chat]\nuser = \"fromfile\"\n",
    )
    .unwrap();
    let (code, out, err) = run(&mut smc(&dir, &["keygen"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created the identity of fromfile"), "{out}");
    // The default home is under XDG_DATA_HOME.
    assert!(dir.join("data/smc/fromfile/state.db").exists());
    let (_, out, _) = run(smc(&dir, &["keygen"]).env("SMC_USER", "fromenv"));
    assert!(out.contains("identity of fromenv"), "{out}");
    let (_, out, _) = run(smc(&dir, &["keygen", "--user", "fromflag"]).env("SMC_USER", "fromenv"));
    assert!(out.contains("identity of fromflag"), "{out}");
    // Run again: the identity is kept, the fingerprints are the same.
    let (_, first, _) = run(&mut smc(&dir, &["fingerprint", "--user", "fromflag"]));
    let (_, again, _) = run(&mut smc(&dir, &["keygen", "--user", "fromflag"]));
    assert!(again.contains("already has an identity"), "{again}");
    assert!(
        first.lines().take(2).all(|l| again.contains(l)),
        "{first}\n{again}"
    );
    // --config names another file; a typo in a file is a usage error.
    std::fs::write(dir.join("other.toml"), "[chat]\nusr = \"typo\"\n").unwrap();
    let (code, _, err) = run(&mut smc(
        &dir,
        &[
            "--config",
            dir.join("other.toml").to_str().unwrap(),
            "keygen",
        ],
    ));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown field") && err.contains("usr"),
        "{err}"
    );
}

#[test]
fn server_fingerprint_and_json_logs() {
    let dir = tempdir("cli_server_json");
    let data = dir.join("srv");
    let mut child = smc(
        &dir,
        &[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ],
    )
    .arg(&data)
    .env("RUST_LOG", "info")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let (_, printed) = support::server_banner(&mut child);
    // What the operator gives users: `smc fingerprint --data-dir`.
    let (code, out, _) = run(smc(&dir, &["fingerprint", "--data-dir"]).arg(&data));
    assert_eq!(code, 0);
    assert_eq!(out.trim(), printed);
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let logs = String::from_utf8_lossy(&output.stderr);
    let mut count = 0;
    for line in logs.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
        count += 1;
    }
    assert!(count >= 2, "{logs}");
}
