//! `smc server`: the v2 server, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::config::ServerSection;
use super::{logging, CliError};
use crate::net::Limits;
use crate::server::store::Durability;
use crate::server::DEFAULT_LISTEN;
use crate::{Server, ServerConfig};

/// Options of `smc server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Directory of the server's key (server.key, 0600) and store (smc.db); created if
    /// missing. Required (here, in SMC_DATA_DIR or in the config file).
    #[arg(long, env = "SMC_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:50200].
    #[arg(long, env = "SMC_LISTEN")]
    listen: Option<String>,
    /// Log format on stderr: "text" or "json" (one object per line) [default: text].
    #[arg(long, env = "SMC_LOG_FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
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
    /// "normal" (survives a server crash, not a machine crash; one fsync less per commit)
    /// [default: full].
    #[arg(long, env = "SMC_DURABILITY", value_parser = ["full", "normal"])]
    durability: Option<String>,
}

/// Runs the server until Ctrl-C or SIGTERM, then drains and exits.
pub fn run(args: ServerArgs, file: &ServerSection) -> Result<(), CliError> {
    let data_dir = args.data_dir.or(file.data_dir.clone()).ok_or_else(|| {
        CliError::Usage(
            "smc server needs a data directory: --data-dir DIR, SMC_DATA_DIR or data_dir in \
             the config file's [server] section"
                .into(),
        )
    })?;
    let listen = args
        .listen
        .or(file.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let log_format = args.log_format.or(file.log_format.clone());
    let json = match log_format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            return Err(CliError::Usage(format!(
                "log_format must be \"text\" or \"json\", not {other:?}"
            )))
        }
    };
    let durability = match args.durability.or(file.durability.clone()).as_deref() {
        None | Some("full") => Durability::Full,
        Some("normal") => Durability::Normal,
        Some(other) => {
            return Err(CliError::Usage(format!(
                "durability must be \"full\" or \"normal\", not {other:?}"
            )))
        }
    };
    logging::to_stderr("info", json);
    let limits = Limits {
        max_connections: args.max_connections,
        idle_timeout: Duration::from_secs(args.idle_timeout),
        requests_per_second: args.rate,
        request_burst: args.burst,
        ..Limits::default()
    };
    let config = ServerConfig {
        data_dir,
        listen,
        limits,
        durability,
    };
    let server = Server::start(config)?;
    println!(
        "smc server listening on {} (key fingerprint {})",
        server.address(),
        server.fingerprint()
    );
    // Scripts read the line above to learn the port and the fingerprint.
    std::io::Write::flush(&mut std::io::stdout())?;
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
