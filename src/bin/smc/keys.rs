//! `smc safety-number`: the safety number of two users, to compare out of band, and
//! `--verify` to mark it checked.

use std::path::PathBuf;

use clap::Args;
use smc::Client;

/// Arguments of `smc safety-number`.
#[derive(Debug, Args)]
pub struct SafetyArgs {
    /// The server ("host:port").
    #[arg(long, env = "SMC_SERVER", default_value = smc::server::DEFAULT_LISTEN)]
    server: String,
    /// This user's name.
    #[arg(long, env = "SMC_USER")]
    user: String,
    /// This user's home directory (default: $XDG_DATA_HOME/smc/USER, or
    /// ~/.local/share/smc/USER).
    #[arg(long, env = "SMC_HOME")]
    home: Option<PathBuf>,
    /// The other user.
    peer: String,
    /// Mark the peer's key as verified (after comparing the numbers out of band).
    #[arg(long)]
    verify: bool,
}

/// The default home of `user`.
pub fn default_home(user: &str) -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("smc").join(user)
}

/// Opens the client, with the passphrase from `SMC_PASSPHRASE` if set (never from the
/// command line, where other users could read it).
pub fn open(home: Option<PathBuf>, user: &str) -> Result<Client, smc::ClientError> {
    let home = home.unwrap_or_else(|| default_home(user));
    match std::env::var("SMC_PASSPHRASE") {
        Ok(p) => Client::open_with_passphrase(home, user, &zeroize::Zeroizing::new(p)),
        Err(_) => Client::open(home, user),
    }
}

/// Prints the safety number (and marks it verified with `--verify`).
pub fn safety_number(args: SafetyArgs) -> Result<(), smc::ClientError> {
    let mut client = open(args.home, &args.user)?;
    client.connect(&args.server)?;
    let number = client.safety_number(&args.peer)?;
    println!("safety number of {} and {}:", args.user, args.peer);
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
