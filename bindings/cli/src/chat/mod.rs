//! `smc chat`: the console client. Full screen ([`tui`]) on a terminal; one line per
//! message ([`line_mode`]) when stdin or stdout is not one. Both drive a [`worker`]
//! thread that owns the [`smc::Client`].

pub(super) mod commands;
pub(super) mod files;
pub(super) mod line_mode;
pub(super) mod notices;
pub(super) mod trust;
pub(super) mod tui;
pub(super) mod worker;

use std::io::IsTerminal;

use clap::Args;

use super::config::ChatSection;
use super::keys::{self, UserArgs};
use super::{logging, CliError};

/// Options of `smc chat`.
#[derive(Debug, Args)]
pub(super) struct ChatArgs {
    /// The server ("host:port"), or several addresses of one service separated by
    /// commas ("a:50200,b:50200"), tried in order at each (re)connection
    /// [default: 127.0.0.1:50200].
    #[arg(long, env = "SMC_SERVER")]
    pub server: Option<String>,
    /// Who the user is.
    #[command(flatten)]
    pub who: UserArgs,
    /// Trust the server if its key has this fingerprint (as `smc fingerprint
    /// --data-dir` prints it on the server), instead of asking on the first connection.
    #[arg(long, env = "SMC_TRUST_SERVER", value_name = "FINGERPRINT")]
    pub trust_server: Option<String>,
    /// The room to start in.
    #[arg(long)]
    pub room: Option<String>,
    /// One line per message even on a terminal (the default when stdin or stdout is
    /// not a terminal).
    #[arg(long)]
    pub lines: bool,
    /// Accept every invitation at once (for bots and scripts); otherwise each one is
    /// asked about, or accepted with /accept ROOM.
    #[arg(long, env = "SMC_AUTO_JOIN")]
    pub auto_join: bool,
    /// A one-time registration token from the server's operator (needed once, on a
    /// server that registers by invitation).
    #[arg(long, env = "SMC_TOKEN")]
    pub token: Option<String>,
    /// Link this new home to the user's first device with the code `/link` shows
    /// there (the first device must be running), then chat as that user from here.
    #[arg(long, value_name = "CODE")]
    pub link: Option<String>,
}

/// Runs `smc chat`.
pub(super) fn run(args: ChatArgs, file: &ChatSection) -> Result<(), CliError> {
    let (user, home) = args.who.resolve(file)?;
    let address = keys::server_address(args.server.clone(), file);
    let trust = args.trust_server.clone().or(file.trust_server.clone());
    let full_screen =
        !args.lines && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let new = keys::is_new_home(&home);
    let mut client = keys::open(home.clone(), &user)?;
    if new {
        eprintln!(
            "smc: created the identity of {user} in {} (key fingerprint {})",
            home.display(),
            client.fingerprint()
        );
        if keys::passphrase().is_none() {
            eprintln!(
                "smc: without a passphrase, what you receive is stored unencrypted there \
                 (readable by you only); set SMC_PASSPHRASE when creating a home to encrypt it"
            );
        }
    }
    client.set_auto_join(args.auto_join || file.auto_join.unwrap_or(false));
    client.set_registration_token(args.token.clone());
    trust::ensure_trusted(
        &client,
        &keys::server_addresses(&address),
        trust.as_deref(),
        full_screen,
    )?;
    if let Some(code) = &args.link {
        link(&mut client, &keys::server_addresses(&address), code, &user)?;
    }
    if full_screen {
        logging::to_file("warn", &smc::client::Home::new(&home).chat_log());
        tui::run(client, address, args.room)
    } else {
        logging::to_stderr("warn", false);
        line_mode::run(client, address, args.room)
    }
}

/// Links `client`'s new home to `user`'s first device with `code`, through the first
/// of `addresses` that answers (a server that cannot be reached is passed over).
fn link(
    client: &mut smc::Client,
    addresses: &[String],
    code: &str,
    user: &str,
) -> Result<(), CliError> {
    eprintln!("smc: linking this device to {user}'s first device (approve nothing there: the code is the approval)...");
    let mut last = None;
    for address in addresses {
        match client.link(address, code, None) {
            Ok(()) => {
                eprintln!(
                    "smc: linked: this device is {} of {user}",
                    client.device_id()?
                );
                return Ok(());
            }
            Err(e) if e.kind() == smc::ErrorKind::Unreachable => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last
        .map(Into::into)
        .unwrap_or_else(|| CliError::Usage("--link needs a server address".into())))
}
