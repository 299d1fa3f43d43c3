//! The `smc` command-line program.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod keys;
mod legacy;
mod server;

/// smc: Security Message Communication.
#[derive(Debug, Parser)]
#[command(name = "smc", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the secure smc server (Noise transport, rooms, durable store).
    Server(server::ServerArgs),
    /// Show the safety number shared with another user (and mark it verified).
    SafetyNumber(keys::SafetyArgs),
    /// Run the legacy SMC server (the original wire format; INSECURE cipher).
    LegacyServer(legacy::ServerArgs),
    /// Chat through a legacy SMC server as the original client did (INSECURE cipher).
    LegacyClient(legacy::ClientArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Server(args) => server::run(args),
        Command::SafetyNumber(args) => keys::safety_number(args).map_err(Into::into),
        Command::LegacyServer(args) => legacy::server(args).map_err(Into::into),
        Command::LegacyClient(args) => legacy::client(args).map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smc: error: {e}");
            ExitCode::FAILURE
        }
    }
}
