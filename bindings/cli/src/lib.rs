//! The `smc` command-line program: `smc server`, `smc chat`, `smc keygen`,
//! `smc fingerprint`, `smc safety-number`, `smc legacy-server`, `smc legacy-client`.
//!
//! It lives in a library so that the `smc` binary and `python -m smc` run the same
//! code ([`run_cli`]). Settings come from flags, then `SMC_*` environment variables, then
//! the config file (`config`), then defaults. Exit codes: 0 success, 1 error, 2 usage.

mod admin;
mod chat;
pub(crate) mod config;
mod error;
mod keys;
mod legacy;
mod logging;
mod server;
mod terminal_safe;

/// Entry points of the fuzz targets: only with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub(crate) use error::CliError;

/// Exit code of a run that went well.
pub(crate) const EXIT_OK: i32 = 0;
/// Exit code of a run that failed.
pub(crate) const EXIT_ERROR: i32 = 1;
/// Exit code of a command line (or config file) that does not make sense.
pub(crate) const EXIT_USAGE: i32 = 2;

/// smc: Security Message Communication.
#[derive(Debug, Parser)]
#[command(name = "smc", version, about, propagate_version = true)]
struct Cli {
    /// The config file (default: $XDG_CONFIG_HOME/smc/config.toml, or
    /// ~/.config/smc/config.toml; a missing default file is fine).
    #[arg(long, global = true, env = "SMC_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the secure smc server (Noise transport, rooms, durable store).
    Server(Box<server::ServerArgs>),
    /// Chat: full screen in a terminal, one line per message through pipes.
    Chat(chat::ChatArgs),
    /// Create a user's identity (keys in their home) and print its fingerprints.
    Keygen(keys::KeygenArgs),
    /// Print the fingerprint of a user's keys or of a server's key.
    Fingerprint(keys::FingerprintArgs),
    /// Show the safety number shared with another user (and mark it verified).
    SafetyNumber(keys::SafetyArgs),
    /// Operate a server's data: registration tokens, users, released names.
    Admin(admin::AdminArgs),
    /// Run the legacy SMC server (the original wire format; INSECURE cipher).
    LegacyServer(legacy::ServerArgs),
    /// Chat through a legacy SMC server as the original client did (INSECURE cipher).
    LegacyClient(legacy::ClientArgs),
}

/// Runs the program on `args` (the first one is the program's name) and returns its
/// exit code. Usage errors, `--help` and `--version` print as clap prints them.
pub fn run_cli<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    match run(cli) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            // An error may quote a server or a peer (a refusal's reason, a name): escaped,
            // so that it can neither control the terminal nor draw lines of its own.
            eprintln!("smc: error: {}", terminal_safe::escape(&e.to_string()));
            match e {
                CliError::Usage(_) => EXIT_USAGE,
                _ => EXIT_ERROR,
            }
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    // Taken out of the environment before any thread starts.
    let _ = keys::passphrase();
    let config = config::Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Server(args) => server::run(*args, &config.server),
        Command::Admin(args) => admin::run(args, &config.server),
        Command::Chat(args) => chat::run(args, &config.chat),
        Command::Keygen(args) => keys::keygen(args, &config.chat),
        Command::Fingerprint(args) => keys::fingerprint(args, &config),
        Command::SafetyNumber(args) => keys::safety_number(args, &config.chat),
        Command::LegacyServer(args) => legacy::server(args).map_err(Into::into),
        Command::LegacyClient(args) => legacy::client(args).map_err(Into::into),
    }
}
