//! `smc server`: the v2 server, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use smc::net::Limits;
use smc::server::store::Durability;
use smc::server::DEFAULT_LISTEN;
use smc::{Server, ServerConfig};

/// Options of `smc server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Directory of the server's key (server.key, 0600) and store (smc.db); created if missing.
    #[arg(long, env = "SMC_DATA_DIR")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = DEFAULT_LISTEN, env = "SMC_LISTEN")]
    listen: String,
    /// Most simultaneous connections.
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Seconds without traffic before a connection is closed.
    #[arg(long, default_value_t = Limits::default().idle_timeout.as_secs())]
    idle_timeout: u64,
    /// Sustained requests per second allowed per connection.
    #[arg(long, default_value_t = Limits::default().requests_per_second)]
    rate: u32,
    /// Requests a connection may burst above the rate.
    #[arg(long, default_value_t = Limits::default().request_burst)]
    burst: u32,
    /// When a message is acknowledged: "full" (on disk, survives power loss) or
    /// "normal" (survives a server crash, not a machine crash; one fsync less per commit).
    #[arg(long, default_value = "full", value_parser = ["full", "normal"])]
    durability: String,
}

/// Structured logs on stderr; `RUST_LOG` filters them (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Runs the server until Ctrl-C or SIGTERM, then drains and exits.
pub fn run(args: ServerArgs) -> Result<(), Box<dyn std::error::Error>> {
    init_logging();
    let limits = Limits {
        max_connections: args.max_connections,
        idle_timeout: Duration::from_secs(args.idle_timeout),
        requests_per_second: args.rate,
        request_burst: args.burst,
        ..Limits::default()
    };
    let config = ServerConfig {
        data_dir: args.data_dir,
        listen: args.listen,
        limits,
        durability: if args.durability == "normal" {
            Durability::Normal
        } else {
            Durability::Full
        },
    };
    let server = Server::start(config)?;
    println!(
        "smc server listening on {} (key fingerprint {})",
        server.address(),
        server.fingerprint()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: draining"),
            _ = term.recv() => tracing::info!("SIGTERM: draining"),
        }
        Ok::<(), std::io::Error>(())
    })?;
    server.stop();
    Ok(())
}
