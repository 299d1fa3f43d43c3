//! `smc admin`: what a server's operator does on its data directory (also while the
//! server runs: SQLite lets both at once): issue registration tokens, list the users,
//! release a name, check the database for damage, back it up and restore it.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::config::ServerSection;
use super::CliError;
use smc::identity::fingerprint;
use smc::server::store::{Durability, PostgresStore, SqliteStore, Store};
use smc::server::DataDir;

/// Options of `smc admin`.
#[derive(Debug, Args)]
pub(super) struct AdminArgs {
    /// The server's data directory (or SMC_DATA_DIR, or data_dir in the config file's
    /// [server] section).
    #[arg(long, env = "SMC_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The server's PostgreSQL store, when it has one (as `smc server --store`; or
    /// SMC_STORE, or store in the config file): issue-token, users and release act on
    /// it; check, backup and restore are for the SQLite store (PostgreSQL has pg_dump).
    #[arg(long, env = "SMC_STORE", global = true)]
    store: Option<String>,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Print new one-time registration tokens, one per line (for `smc server
    /// --registration token`; give one to each person, who passes it with `smc chat
    /// --token`).
    IssueToken {
        /// How many.
        #[arg(long, default_value_t = 1)]
        count: u32,
    },
    /// List the registered users: name, registration date, key fingerprint.
    Users,
    /// Release a name: the next key that connects with it takes it over (without the
    /// previous holder's rooms); for someone who lost their keys.
    Release {
        /// The user name.
        user: String,
    },
    /// Check smc.db for damage (SQLite's integrity check: every page, every index),
    /// without changing it; prints "ok" or the problems (and exits non-zero).
    Check,
    /// Back up the data directory into DEST, a new or empty directory, while the
    /// server runs: a consistent copy of smc.db (SQLite's online backup API) and the
    /// server's key, 0600. DEST is itself a data directory.
    Backup {
        /// Where the backup goes.
        dest: PathBuf,
    },
    /// Restore a backup (made by `smc admin backup`) into the data directory, which must
    /// hold no store or key yet (a restore never overwrites). The backup is checked
    /// for damage first. Start the server on the data directory afterwards.
    Restore {
        /// The backup's directory.
        backup: PathBuf,
    },
}

fn token() -> Result<String, CliError> {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes)
        .map_err(|e| CliError::Fatal(format!("no randomness for a token: {e}")))?;
    Ok(data_encoding::BASE32_NOPAD.encode(&bytes).to_lowercase())
}

/// `smc admin check`: SQLite's integrity check of smc.db, read-only.
fn check(data_dir: &std::path::Path) -> Result<(), CliError> {
    let db = DataDir::new(data_dir).database();
    let problems = smc::server::store::check(data_dir)?;
    if problems.is_empty() {
        println!("ok: {} has no damage", db.display());
        return Ok(());
    }
    for p in &problems {
        println!("{p}");
    }
    Err(CliError::Fatal(format!(
        "{} is damaged ({} problems): restore it from a backup",
        db.display(),
        problems.len()
    )))
}

/// Runs `smc admin`.
pub(super) fn run(args: AdminArgs, file: &ServerSection) -> Result<(), CliError> {
    if let Some(url) = args.store.clone().or(file.store.clone()) {
        return run_on_postgres(args.action, &url);
    }
    let data_dir = args.data_dir.or(file.data_dir.clone()).ok_or_else(|| {
        CliError::Usage(
            "smc admin needs the server's data directory: --data-dir DIR, SMC_DATA_DIR or \
             data_dir in the config file's [server] section"
                .into(),
        )
    })?;
    if let Action::Restore { backup } = &args.action {
        let copied = smc::server::store::restore(backup, &data_dir)?;
        println!(
            "restored {} into {}: {} rooms, {} messages, {} bytes, {} files ({} bytes); start the server on it",
            backup.display(),
            data_dir.display(),
            copied.rooms,
            copied.messages,
            copied.bytes,
            copied.files,
            copied.file_bytes
        );
        return Ok(());
    }
    if !DataDir::new(&data_dir).holds_data() {
        return Err(CliError::Usage(format!(
            "{} holds no smc server data (no smc.db)",
            data_dir.display()
        )));
    }
    // `check` reads the file as it is; the other actions open the store (migrating it).
    let open = || -> Result<Box<dyn Store>, CliError> {
        Ok(Box::new(SqliteStore::open(&data_dir, Durability::Full)?))
    };
    match args.action {
        Action::Check => return check(&data_dir),
        Action::Restore { .. } => {} // done above: it needs no store in the directory
        Action::Backup { dest } => {
            let copied = smc::server::store::backup(&data_dir, &dest)?;
            println!(
                "backed up {} into {}: {} rooms, {} messages, {} bytes, {} files ({} bytes) (smc.db, blobs/ and server.key, 0600)",
                data_dir.display(),
                dest.display(),
                copied.rooms,
                copied.messages,
                copied.bytes,
                copied.files,
                copied.file_bytes
            );
        }
        other => users_and_tokens(other, open()?.as_ref())?,
    }
    Ok(())
}

/// The actions on users and tokens, on either store.
fn users_and_tokens(action: Action, store: &dyn Store) -> Result<(), CliError> {
    match action {
        Action::IssueToken { count } => {
            for _ in 0..count.max(1) {
                let token = token()?;
                store.issue_token(&token, chrono::Utc::now().timestamp_millis())?;
                println!("{token}");
            }
        }
        Action::Users => {
            for u in store.users()? {
                let when = chrono::DateTime::from_timestamp_millis(u.created_ms)
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default();
                println!(
                    "{}\t{when}\t{}{}",
                    crate::terminal_safe::escape(&u.name),
                    fingerprint(&u.key),
                    if u.released { "\t(released)" } else { "" }
                );
            }
        }
        Action::Release { user } => {
            if !store.release(&user)? {
                return Err(CliError::Fatal(format!("no user {user:?}")));
            }
            println!("released {user:?}: the next key to connect with it takes it over");
        }
        // The file actions are the caller's (SQLite) or refused (PostgreSQL).
        Action::Check | Action::Backup { .. } | Action::Restore { .. } => {
            return Err(CliError::Usage(FILE_ACTIONS.into()))
        }
    }
    Ok(())
}

/// Why `check`, `backup` and `restore` are refused on a PostgreSQL store.
const FILE_ACTIONS: &str = "check, backup and restore are for the SQLite store; back a \
     PostgreSQL store up with pg_dump (and keep the data directory's server.key)";

/// `smc admin` on a PostgreSQL store: the actions on users and tokens.
fn run_on_postgres(action: Action, url: &str) -> Result<(), CliError> {
    let store = PostgresStore::open(url)?;
    match action {
        Action::Check | Action::Backup { .. } | Action::Restore { .. } => {
            Err(CliError::Usage(FILE_ACTIONS.into()))
        }
        other => users_and_tokens(other, &store),
    }
}
