//! `smc server`: the v2 server, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::config::ServerSection;
use super::{logging, CliError};
use smc::error::ServerError;
use smc::net::Limits;
use smc::server::store::{Durability, RegistrationPolicy};
use smc::server::{DEFAULT_ADMIN_LISTEN, DEFAULT_LISTEN};
use smc::{Server, ServerConfig};

/// Options of `smc server`.
#[derive(Debug, Args)]
pub(super) struct ServerArgs {
    /// Directory of the server's key (server.key, 0600) and store (smc.db); created if
    /// missing. Required (here, in SMC_DATA_DIR or in the config file).
    #[arg(long, env = "SMC_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:50200].
    #[arg(long, env = "SMC_LISTEN")]
    listen: Option<String>,
    /// Address of the admin listener (plain HTTP: GET /metrics in the Prometheus text
    /// format, GET /healthz), or "off". Keep it on loopback or a private network
    /// [default: 127.0.0.1:50201; if that one is taken, the server runs without it].
    #[arg(long, env = "SMC_ADMIN_LISTEN")]
    admin_listen: Option<String>,
    /// The store: SQLite in the data directory (the default), or a PostgreSQL URL
    /// ("postgres://user@host:port/db") that several server nodes share. The server's
    /// key stays in the data directory.
    #[arg(long, env = "SMC_STORE")]
    store: Option<String>,
    /// The bus between the nodes of a cluster: a NATS URL ("nats://host:4222", several
    /// separated by commas). Every node of a cluster shares the PostgreSQL store, the
    /// NATS server and the server key [default: none, a single node].
    #[arg(long, env = "SMC_BUS")]
    bus: Option<String>,
    /// Log format on stderr: "text" or "json" (one object per line) [default: text].
    #[arg(long, env = "SMC_LOG_FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Most simultaneous connections (past it, the oldest still in its handshake is
    /// closed; with none, the newcomer is).
    #[arg(long, default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Most simultaneous connections from one IP address (the same rule within it).
    #[arg(long, default_value_t = Limits::default().max_connections_per_address)]
    max_connections_per_address: usize,
    /// Seconds without traffic before a connection is closed.
    #[arg(long, default_value_t = Limits::default().idle_timeout.as_secs())]
    idle_timeout: u64,
    /// Sustained requests per second allowed per connection.
    #[arg(long, default_value_t = Limits::default().requests_per_second)]
    rate: u32,
    /// Requests a connection may burst above the rate.
    #[arg(long, default_value_t = Limits::default().request_burst)]
    burst: u32,
    /// Most connections still in their handshake (the oldest is closed past it).
    #[arg(long, default_value_t = Limits::default().max_unauthenticated)]
    max_unauthenticated: usize,
    /// Seconds a connection has to complete its handshake and Hello.
    #[arg(long, default_value_t = Limits::default().handshake_timeout.as_secs())]
    handshake_timeout: u64,
    /// Most simultaneous sessions of one user (the oldest is closed past it).
    #[arg(long, default_value_t = Limits::default().max_sessions_per_user)]
    max_sessions_per_user: usize,
    /// Most devices of one user, their first included (revoked ones do not count).
    #[arg(long, default_value_t = Limits::default().max_devices_per_user)]
    max_devices: usize,
    /// Bytes waiting to be written to one connection before it is closed.
    #[arg(long, default_value_t = Limits::default().outbound_bytes)]
    outbound_bytes: usize,
    /// Messages waiting to be written to one connection before it is closed.
    #[arg(long, default_value_t = Limits::default().outbound_queue)]
    outbound_queue: usize,
    /// Seconds the rest of a frame may take once its first bytes came (slow senders).
    #[arg(long, default_value_t = Limits::default().frame_timeout.as_secs())]
    frame_timeout: u64,
    /// Seconds a write to a connection may block before it is closed.
    #[arg(long, default_value_t = Limits::default().write_timeout.as_secs())]
    write_timeout: u64,
    /// Direct deliveries waiting for one user, at most (and --direct-queue-bytes).
    #[arg(long, default_value_t = Limits::default().direct_queue_count)]
    direct_queue_count: usize,
    /// Bytes of direct deliveries waiting for one user, at most.
    #[arg(long, default_value_t = Limits::default().direct_queue_bytes)]
    direct_queue_bytes: usize,
    /// Direct deliveries from one sender waiting for one user, at most.
    #[arg(long, default_value_t = Limits::default().direct_per_sender)]
    direct_per_sender: usize,
    /// Direct deliveries one user may send per minute.
    #[arg(long, default_value_t = Limits::default().directs_per_minute)]
    directs_per_minute: u32,
    /// Key packages one user may fetch per minute.
    #[arg(long, default_value_t = Limits::default().key_package_fetches_per_minute)]
    key_package_fetches_per_minute: u32,
    /// One-use key packages of one user handed out per hour (then the last-resort one).
    #[arg(long, default_value_t = Limits::default().one_use_packages_per_hour)]
    one_use_packages_per_hour: u32,
    /// One-use key packages of one user handed to one requester per hour.
    #[arg(long, default_value_t = Limits::default().one_use_packages_per_requester)]
    one_use_packages_per_requester: u32,
    /// When a message is acknowledged: "full" (on disk, survives power loss) or
    /// "normal" (survives a server crash, not a machine crash; one fsync less per commit)
    /// [default: full].
    #[arg(long, env = "SMC_DURABILITY", value_parser = ["full", "normal"])]
    durability: Option<String>,
    /// Who may register a new name: "open" (anyone, trust on first use), "token" (with
    /// a one-time token from `smc admin issue-token`) or "closed" [default: open].
    #[arg(long, env = "SMC_REGISTRATION", value_parser = ["open", "token", "closed"])]
    registration: Option<String>,
    /// Rooms one user may create.
    #[arg(long, default_value_t = Limits::default().max_rooms_per_user)]
    max_rooms_per_user: usize,
    /// Pending invitations of one user, at most (inviters who share no room with them
    /// may hold half).
    #[arg(long, default_value_t = Limits::default().max_pending_invitations)]
    max_pending_invitations: usize,
    /// Pending invitations of one user from one inviter who shares no room with them,
    /// at most.
    #[arg(long, default_value_t = Limits::default().invitations_per_stranger)]
    invitations_per_stranger: usize,
    /// Hours after which an invitation not accepted or declined is withdrawn.
    #[arg(long, default_value_t = Limits::default().invitation_lifetime.as_secs() / 3600)]
    invitation_lifetime_hours: u64,
    /// New names one address (an IPv6 /64) may register per hour, all nodes together
    /// (0: no limit; names registered with a token are not counted).
    #[arg(long, default_value_t = Limits::default().registrations_per_address_per_hour)]
    registrations_per_address: u32,
    /// Payload bytes one user may have stored in rooms, all rooms together.
    #[arg(long, default_value_t = Limits::default().max_stored_bytes_per_user)]
    max_stored_bytes_per_user: u64,
    /// The largest file one may send, bytes.
    #[arg(long, default_value_t = Limits::default().max_file_size)]
    max_file_size: u64,
    /// Bytes of files (sealed) one user may have on the server at once, uploads under
    /// way included.
    #[arg(long, default_value_t = Limits::default().max_file_bytes_per_user)]
    max_file_bytes_per_user: u64,
    /// File bytes one user may upload per second, all nodes together.
    #[arg(long, default_value_t = Limits::default().upload_bytes_per_second)]
    upload_bytes_per_second: u64,
    /// Days after which a file is deleted (a fraction for less than a day); an upload
    /// not complete within a day is deleted, and so is a file whose room has no
    /// member left.
    #[arg(long, default_value_t = 30.0, value_parser = retention_days)]
    file_retention_days: f64,
}

/// A number of days, finite and not negative.
fn retention_days(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(days) if (0.0..=36_500.0).contains(&days) => Ok(days),
        _ => Err(format!("{text:?} is not a number of days from 0 to 36500")),
    }
}

/// Runs the server until Ctrl-C or SIGTERM, then drains and exits.
pub(super) fn run(args: ServerArgs, file: &ServerSection) -> Result<(), CliError> {
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
    // async-nats reports every reconnection attempt at info; the server says what
    // matters about its bus itself.
    logging::to_stderr("info,async_nats=warn", json);
    let limits = Limits {
        max_connections: args.max_connections,
        max_connections_per_address: args.max_connections_per_address,
        idle_timeout: Duration::from_secs(args.idle_timeout),
        requests_per_second: args.rate,
        request_burst: args.burst,
        max_unauthenticated: args.max_unauthenticated,
        handshake_timeout: Duration::from_secs(args.handshake_timeout),
        max_sessions_per_user: args.max_sessions_per_user,
        max_devices_per_user: args.max_devices,
        outbound_bytes: args.outbound_bytes,
        outbound_queue: args.outbound_queue,
        frame_timeout: Duration::from_secs(args.frame_timeout),
        write_timeout: Duration::from_secs(args.write_timeout),
        direct_queue_count: args.direct_queue_count,
        direct_queue_bytes: args.direct_queue_bytes,
        direct_per_sender: args.direct_per_sender,
        directs_per_minute: args.directs_per_minute,
        key_package_fetches_per_minute: args.key_package_fetches_per_minute,
        one_use_packages_per_hour: args.one_use_packages_per_hour,
        one_use_packages_per_requester: args.one_use_packages_per_requester,
        max_rooms_per_user: args.max_rooms_per_user,
        max_pending_invitations: args.max_pending_invitations,
        invitations_per_stranger: args.invitations_per_stranger,
        invitation_lifetime: Duration::from_secs(
            args.invitation_lifetime_hours.saturating_mul(3600),
        ),
        registrations_per_address_per_hour: args.registrations_per_address,
        max_stored_bytes_per_user: args.max_stored_bytes_per_user,
        max_file_size: args.max_file_size,
        max_file_bytes_per_user: args.max_file_bytes_per_user,
        upload_bytes_per_second: args.upload_bytes_per_second,
        file_retention: Duration::from_secs_f64(args.file_retention_days * 86_400.0),
    };
    let registration = match args.registration.or(file.registration.clone()).as_deref() {
        None | Some("open") => RegistrationPolicy::Open,
        Some("token") => RegistrationPolicy::Token,
        Some("closed") => RegistrationPolicy::Closed,
        Some(other) => {
            return Err(CliError::Usage(format!(
                "registration must be \"open\", \"token\" or \"closed\", not {other:?}"
            )))
        }
    };
    let asked = args.admin_listen.or(file.admin_listen.clone());
    let admin_listen = match asked.as_deref() {
        Some("off") => None,
        Some(address) => Some(address.to_owned()),
        None => Some(DEFAULT_ADMIN_LISTEN.to_owned()),
    };
    let store = args.store.or(file.store.clone());
    if let Some(url) = &store {
        if url_has_password(url) && std::env::args().any(|a| a.contains(url.as_str())) {
            tracing::warn!(
                "the PostgreSQL password in --store is visible to every local user (ps): \
                 give the URL without it and the password in PGPASSWORD or a password \
                 file (PGPASSFILE, ~/.pgpass), or the whole URL in SMC_STORE"
            );
        }
    }
    let bus = args.bus.or(file.bus.clone());
    if bus.is_some() && store.is_none() {
        return Err(CliError::Usage(
            "--bus joins a cluster, whose nodes share one PostgreSQL store: give --store \
             postgres://... too (the default SQLite store belongs to one node)"
                .into(),
        ));
    }
    let mut config = ServerConfig {
        data_dir,
        listen,
        limits,
        durability,
        registration,
        admin_listen,
        store,
        bus,
    };
    let server = match Server::start(config.clone()) {
        // The default admin address is busy (another server on this machine): the
        // server runs without it rather than not at all, and says loudly that whatever
        // answers there is not this server; an address asked for must work.
        Err(ServerError::AdminBind { address, source }) if asked.is_none() => {
            tracing::warn!(
                %address,
                error = %source,
                "admin listener NOT started: another process holds {address}, and whatever \
                 answers /healthz and /metrics there is not this server (--admin-listen sets \
                 another address, `off` turns it off)"
            );
            config.admin_listen = None;
            Server::start(config)?
        }
        other => other?,
    };
    let mut banner = format!(
        "smc server listening on {} (key fingerprint {})\n",
        server.address(),
        server.fingerprint()
    );
    if let Some(admin) = server.admin_address() {
        banner.push_str(&format!(
            "admin listener on http://{admin} (/metrics, /healthz)\n"
        ));
    }
    // One write: a script that reads the first line and closes the pipe must not make
    // a second write fail.
    std::io::Write::write_all(&mut std::io::stdout(), banner.as_bytes())?;
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

/// Whether a store URL carries a password (`scheme://user:password@host...`).
fn url_has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

#[cfg(test)]
mod password_tests {
    use super::url_has_password;

    #[test]
    fn a_password_in_the_url_is_seen() {
        assert!(url_has_password("postgres://smc:secret@db:5432/smc"));
        assert!(!url_has_password("postgres://smc@db:5432/smc"));
        assert!(!url_has_password("postgres://db:5432/smc"));
        assert!(!url_has_password("postgres://smc@db/smc?host=/run/x:y"));
    }
}
