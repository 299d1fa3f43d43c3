//! The `smc` program's config file, `$XDG_CONFIG_HOME/smc/config.toml` (or
//! `~/.config/smc/config.toml`, or `--config FILE` / `SMC_CONFIG`):
//!
//! ```toml
//! [chat]                        # smc chat, keygen, fingerprint, safety-number
//! server = "chat.example.org:50200"
//! user = "alice"
//! home = "/home/alice/.local/share/smc/alice"
//! trust_server = "K7QX 2MPA ..."  # the server's fingerprint, given by its operator
//!
//! [server]                      # smc server
//! data_dir = "/var/lib/smc"
//! listen = "0.0.0.0:50200"
//! log_format = "json"           # or "text"
//! durability = "full"           # or "normal"
//! ```
//!
//! A flag wins over an `SMC_*` environment variable, which wins over the file, which
//! wins over the built-in default. Unknown keys are refused (a typo must not be
//! silently ignored).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::CliError;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Settings of the client commands.
    #[serde(default)]
    pub chat: ChatSection,
    /// Settings of `smc server`.
    #[serde(default)]
    pub server: ServerSection,
}

/// `[chat]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChatSection {
    /// The server's address.
    pub server: Option<String>,
    /// The user's name.
    pub user: Option<String>,
    /// The user's home directory.
    pub home: Option<PathBuf>,
    /// The fingerprint of the server's key, trusted on the first connection.
    pub trust_server: Option<String>,
    /// Accept every invitation at once.
    pub auto_join: Option<bool>,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerSection {
    /// Directory of the server's key and store.
    pub data_dir: Option<PathBuf>,
    /// Address to listen on.
    pub listen: Option<String>,
    /// `text` or `json`.
    pub log_format: Option<String>,
    /// `full` or `normal`.
    pub durability: Option<String>,
    /// `open`, `token` or `closed`.
    pub registration: Option<String>,
    /// The admin listener's address, or `off`.
    pub admin_listen: Option<String>,
    /// A PostgreSQL URL (else SQLite in the data directory).
    pub store: Option<String>,
    /// A NATS URL: the bus between the nodes of a cluster.
    pub bus: Option<String>,
}

/// Where the config file is by default.
pub(crate) fn default_path() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|dir| dir.join("smc").join("config.toml"))
}

impl Config {
    /// Reads `explicit` (which must exist), or else the default file if there is one.
    pub(crate) fn load(explicit: Option<&Path>) -> Result<Config, CliError> {
        let (path, required) = match explicit {
            Some(p) => (p.to_owned(), true),
            None => match default_path() {
                Some(p) => (p, false),
                None => return Ok(Config::default()),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Config::default())
            }
            Err(e) => {
                return Err(CliError::Usage(format!(
                    "cannot read the config file {}: {e}",
                    path.display()
                )))
            }
        };
        Config::parse(&text, &path)
    }

    /// Parses the text of a config file (`path` only names it in the error); unknown
    /// keys are refused.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Config, CliError> {
        toml::from_str(text)
            .map_err(|e| CliError::Usage(format!("config file {}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_parse_and_typos_are_refused() {
        let c: Config =
            toml::from_str("[chat]\nuser = \"alice\"\n[server]\nlisten = \"x:1\"\n").unwrap();
        assert_eq!(c.chat.user.as_deref(), Some("alice"));
        assert_eq!(c.server.listen.as_deref(), Some("x:1"));
        assert!(toml::from_str::<Config>("[chat]\nusr = \"alice\"\n").is_err());
    }
}
