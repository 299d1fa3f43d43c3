//! `smc legacy-server` and `smc legacy-client`.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::Args;
use smc::legacy::client::DEFAULT_CLIENT_ID;
use smc::legacy::{LegacyClient, LegacyServer, LegacyServerConfig, Received};
use smc::LegacyError;

/// Options of `smc legacy-server`.
#[derive(Debug, Args)]
pub(super) struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 50100)]
    port: u16,
    /// Directory of log.txt and log_connection.txt.
    #[arg(long, default_value = ".")]
    log_dir: PathBuf,
    /// Most connections served at once.
    #[arg(long, default_value_t = LegacyServerConfig::default().max_connections)]
    max_connections: usize,
    /// Seconds a connection may stay silent before it is closed.
    #[arg(long, default_value_t = LegacyServerConfig::default().idle_timeout.as_secs())]
    idle_timeout: u64,
}

/// Options of `smc legacy-client`.
#[derive(Debug, Args)]
pub(super) struct ClientArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long, default_value_t = 50100)]
    port: u16,
    /// Client id sent with every message.
    #[arg(long, default_value = DEFAULT_CLIENT_ID)]
    id: String,
}

/// Serves until stdin closes or reads `/stop` (Ctrl-C also ends the process).
pub(super) fn server(args: ServerArgs) -> Result<(), LegacyError> {
    let mut server = LegacyServer::start(LegacyServerConfig {
        host: args.host,
        port: args.port,
        log_dir: args.log_dir,
        verbose: true,
        max_connections: args.max_connections,
        idle_timeout: std::time::Duration::from_secs(args.idle_timeout),
    })?;
    println!(
        "smc legacy server listening on {} (insecure legacy protocol)",
        server.local_addr()
    );
    println!("type /stop to stop it");
    let _ = std::io::stdout().flush();
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        line.clear();
        match stdin.lock().read_line(&mut line) {
            Ok(0) => {
                // stdin closed (run in the background): serve until killed.
                loop {
                    std::thread::park();
                }
            }
            Ok(_) if line.trim() == "/stop" => break,
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
    }
    server.stop();
    Ok(())
}

/// Reads lines from stdin, sends each, prints the replies as the original client did.
pub(super) fn client(args: ClientArgs) -> Result<(), LegacyError> {
    let mut client = LegacyClient::connect(&args.host, args.port, &args.id)?;
    println!(
        "connected to {}:{} as {}",
        args.host,
        args.port,
        client.tag()
    );
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        print!("> ");
        let _ = std::io::stdout().flush();
        line.clear();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let text = line.trim_end_matches(['\n', '\r']);
        if text == "/stop" {
            break;
        }
        match client.send(text) {
            Ok(Received::Own) => println!(),
            Ok(Received::Message { text, .. }) => {
                println!("Response: {}", crate::terminal_safe::escape(&text))
            }
            Err(LegacyError::Cipher(e)) => eprintln!("cannot send: {e}"),
            Err(e) => return Err(e),
        }
    }
    client.close();
    Ok(())
}
