//! `smc keygen`, `smc fingerprint` and `smc safety-number`: a user's identity, the
//! fingerprints people compare, and the safety number of two users.

use std::path::PathBuf;

use clap::Args;

use super::config::{ChatSection, Config};
use super::CliError;
use smc::client::Home;
use smc::identity::{fingerprint as key_fingerprint, StaticKeypair};
use smc::server::{DataDir, DEFAULT_LISTEN};
use smc::Client;

/// Who the user is, shared by the client commands.
#[derive(Debug, Clone, Args)]
pub(super) struct UserArgs {
    /// This user's name (or SMC_USER, or `user` in the config file's [chat] section).
    #[arg(long, env = "SMC_USER")]
    pub user: Option<String>,
    /// This user's home directory [default: $XDG_DATA_HOME/smc/USER, or
    /// ~/.local/share/smc/USER].
    #[arg(long, env = "SMC_HOME")]
    pub home: Option<PathBuf>,
}

impl UserArgs {
    /// The user's name and home, flags first, then the config file.
    pub(super) fn resolve(&self, file: &ChatSection) -> Result<(String, PathBuf), CliError> {
        let user = self.user.clone().or(file.user.clone()).ok_or_else(|| {
            CliError::Usage(
                "who are you? --user NAME, SMC_USER or user in the config file's [chat] section"
                    .into(),
            )
        })?;
        let home = self
            .home
            .clone()
            .or(file.home.clone())
            .unwrap_or_else(|| Home::default_for(&user).dir().to_owned());
        Ok((user, home))
    }
}

/// The server's address: the flag, then the config file, then the default.
pub(super) fn server_address(flag: Option<String>, file: &ChatSection) -> String {
    flag.or(file.server.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned())
}

/// The addresses of a `--server` value: one `host:port`, or several of one service
/// separated by commas (tried in order by [`smc::Client::connect_any`]).
pub(super) fn server_addresses(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Arguments of `smc keygen`.
#[derive(Debug, Args)]
pub(super) struct KeygenArgs {
    #[command(flatten)]
    who: UserArgs,
}

/// Arguments of `smc fingerprint`.
#[derive(Debug, Args)]
pub(super) struct FingerprintArgs {
    #[command(flatten)]
    who: UserArgs,
    /// Print the fingerprint of the server whose data directory this is instead
    /// (give it to your users: they check it on their first connection).
    #[arg(long, conflicts_with_all = ["user", "home"])]
    data_dir: Option<PathBuf>,
}

/// Arguments of `smc safety-number`.
#[derive(Debug, Args)]
pub(super) struct SafetyArgs {
    /// The server ("host:port") [default: 127.0.0.1:50200].
    #[arg(long, env = "SMC_SERVER")]
    server: Option<String>,
    #[command(flatten)]
    who: UserArgs,
    /// The other user.
    peer: String,
    /// Mark the peer's key as verified (after comparing the numbers out of band).
    #[arg(long)]
    verify: bool,
}

/// The passphrase from `SMC_PASSPHRASE` (never from the command line, where other
/// users could read it). Read once, before any thread starts: its bytes in the
/// process's initial environment (what `/proc/PID/environ` shows) are overwritten, and
/// the variable is removed, so that neither child processes nor readers of
/// `/proc/PID/environ` see it; the copy kept here is wiped when the process ends.
pub(super) fn passphrase() -> Option<&'static str> {
    static PASSPHRASE: std::sync::OnceLock<Option<zeroize::Zeroizing<String>>> =
        std::sync::OnceLock::new();
    PASSPHRASE
        .get_or_init(|| {
            let value = std::env::var("SMC_PASSPHRASE").ok();
            if value.is_some() {
                wipe_from_environ("SMC_PASSPHRASE");
                std::env::remove_var("SMC_PASSPHRASE");
            }
            value.map(zeroize::Zeroizing::new)
        })
        .as_ref()
        .map(|p| p.as_str())
}

/// Overwrites the value of `name` where the C library holds it. At start that is the
/// process's initial environment block, which `/proc/PID/environ` reads; removing the
/// variable alone only takes the pointer to it out of `environ`, and the bytes stay.
fn wipe_from_environ(name: &str) {
    let Ok(name) = std::ffi::CString::new(name) else {
        return;
    };
    // SAFETY: called before any other thread exists (`run` reads the passphrase
    // first), so nothing else reads or changes the environment meanwhile. `getenv`
    // returns a pointer to the NUL-terminated value inside the environment, valid
    // until the environment changes; its `strlen` bytes are ours to overwrite.
    unsafe {
        let value = libc::getenv(name.as_ptr());
        if !value.is_null() {
            let len = libc::strlen(value);
            for i in 0..len {
                std::ptr::write_volatile(value.add(i), 0);
            }
        }
    }
}

/// Opens the client, with the passphrase from `SMC_PASSPHRASE` if set ([`passphrase`]).
pub(super) fn open(home: PathBuf, user: &str) -> Result<Client, smc::ClientError> {
    Client::open_with(home, user, passphrase())
}

/// Whether `home` holds no identity yet.
pub(super) fn is_new_home(home: &std::path::Path) -> bool {
    Home::new(home).is_new()
}

/// Creates the identity (if new) and prints its fingerprints.
pub(super) fn keygen(args: KeygenArgs, file: &ChatSection) -> Result<(), CliError> {
    let (user, home) = args.who.resolve(file)?;
    let new = is_new_home(&home);
    let client = open(home.clone(), &user)?;
    if new {
        println!("created the identity of {user} in {}", home.display());
    } else {
        println!(
            "{user} already has an identity in {} (kept)",
            home.display()
        );
    }
    print_fingerprints(&client);
    Ok(())
}

fn print_fingerprints(client: &Client) {
    println!("transport key: {}", client.fingerprint());
    println!("signing key:   {}", client.signing_fingerprint());
}

/// Prints the fingerprints of a user's keys, or of a server's key.
pub(super) fn fingerprint(args: FingerprintArgs, config: &Config) -> Result<(), CliError> {
    let data_dir = args.data_dir.or_else(|| {
        // `smc fingerprint` alone, on a server's machine.
        (args.who.user.is_none() && config.chat.user.is_none())
            .then(|| config.server.data_dir.clone())
            .flatten()
    });
    if let Some(dir) = data_dir {
        let path = DataDir::new(&dir).server_key();
        if !path.exists() {
            return Err(CliError::Usage(format!(
                "{} does not exist (start `smc server --data-dir {}` once to create it)",
                path.display(),
                dir.display()
            )));
        }
        let key = StaticKeypair::load_or_create(&path).map_err(smc::ClientError::from)?;
        println!("{}", key_fingerprint(key.public()));
        return Ok(());
    }
    let (user, home) = args.who.resolve(&config.chat)?;
    if is_new_home(&home) {
        return Err(CliError::Usage(format!(
            "{user} has no identity in {} yet (smc keygen creates it)",
            home.display()
        )));
    }
    let client = open(home, &user)?;
    print_fingerprints(&client);
    if let Some(server) = client.server_fingerprint() {
        println!("server (last connected): {server}");
    }
    Ok(())
}

/// Prints the safety number (and marks it verified with `--verify`).
pub(super) fn safety_number(args: SafetyArgs, file: &ChatSection) -> Result<(), CliError> {
    let (user, home) = args.who.resolve(file)?;
    let mut client = open(home, &user)?;
    client.connect(&server_address(args.server, file))?;
    let number = client.safety_number(&args.peer)?;
    println!("safety number of {user} and {}:", args.peer);
    println!("{number}");
    if args.verify {
        client.verify(&args.peer)?;
    }
    let state = if client.is_verified(&args.peer)? {
        "verified"
    } else {
        "not verified (compare it with theirs, then run again with --verify)"
    };
    println!("{}'s key: {state}", args.peer);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_passphrase_is_read_once_and_leaves_the_environment() {
        std::env::set_var("SMC_PASSPHRASE", "correct horse battery staple");
        assert_eq!(super::passphrase(), Some("correct horse battery staple"));
        assert!(
            std::env::var_os("SMC_PASSPHRASE").is_none(),
            "still in the environment"
        );
        assert_eq!(super::passphrase(), Some("correct horse battery staple"));
    }
}
