//! Where the PostgreSQL store's password comes from when its URL holds none, as libpq
//! does: `PGPASSWORD`, then the password file (`PGPASSFILE`, or `~/.pgpass`). A URL
//! given on the command line is visible to every local user (`ps`); these are not.

use std::path::PathBuf;

use postgres::config::Host;
use postgres::Config;

/// `config` with a password from the environment or the password file when it has
/// none (unchanged when neither has one).
pub(super) fn fill(mut config: Config) -> Config {
    if config.get_password().is_some() {
        return config;
    }
    let password = std::env::var("PGPASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| from_file(&config));
    if let Some(password) = password {
        config.password(password);
    }
    config
}

fn from_file(config: &Config) -> Option<String> {
    let path = std::env::var_os("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or_default().to_owned();
    let db = config.get_dbname().unwrap_or(&user).to_owned();
    lookup(&text, [&host, &port, &db, &user])
}

/// The password of the first line of a pgpass file whose four fields match (`*`
/// matches anything; `\:` and `\\` are escapes), as libpq reads it.
fn lookup(text: &str, wanted: [&str; 4]) -> Option<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = split(line);
            if fields.len() != 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(wanted)
                .all(|(field, want)| field == "*" || field == want);
            matches.then(|| fields[4].clone())
        })
}

fn split(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(next);
                }
            }
            ':' => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c)
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\n\
                    db.example:5432:other:smc:wrong\n\
                    db.example:5432:smc:smc:pa\\:ss\\\\word\n\
                    *:*:*:*:fallback\n";
        assert_eq!(
            lookup(text, ["db.example", "5432", "smc", "smc"]).as_deref(),
            Some("pa:ss\\word")
        );
        assert_eq!(
            lookup(text, ["elsewhere", "1", "x", "y"]).as_deref(),
            Some("fallback")
        );
        assert_eq!(lookup("a:b:c:d:e\n", ["a", "b", "c", "x"]), None);
    }
}
