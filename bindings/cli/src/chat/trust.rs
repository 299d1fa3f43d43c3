//! The first connection to a server: its key fingerprint is shown and the user decides
//! to trust it (or gave the fingerprint with `--trust-server`). Nothing about the user
//! is sent before that.

use std::io::{BufRead, Write};

use smc::client::{same_fingerprint, ServerTrust};
use smc::error::ClientError;
use smc::Client;

use super::super::CliError;

/// Makes sure the key of the server at `addresses` (one service: every address
/// presents the same key, see [`Client::connect_any`]) is pinned: already for one of
/// them (then it is checked at every connection, for every address), from `expected`,
/// or by asking the user when `interactive`. Addresses that do not answer are passed
/// over.
pub(crate) fn ensure_trusted(
    client: &Client,
    addresses: &[String],
    expected: Option<&str>,
    interactive: bool,
) -> Result<(), CliError> {
    for address in addresses {
        if let Some(pinned) = client.pinned_server(address)? {
            return match expected {
                Some(fp) if !same_fingerprint(fp, &pinned) => Err(ClientError::ServerNotTrusted {
                    address: address.to_owned(),
                    expected: fp.to_owned(),
                    presented: pinned,
                }
                .into()),
                _ => Ok(()),
            };
        }
    }
    let mut unreachable = None;
    if let Some(fp) = expected {
        for address in addresses {
            match client.trust_server(address, fp) {
                Ok(()) => {
                    eprintln!("smc: trusted the server at {address} (key fingerprint {fp})");
                    return Ok(());
                }
                Err(e) if e.kind().is_disconnect() => unreachable = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        return Err(no_answer(unreachable));
    }
    let mut probed = None;
    for address in addresses {
        match client.probe_server(address) {
            Ok(probe) => {
                probed = Some((address, probe));
                break;
            }
            Err(e) if e.kind().is_disconnect() => unreachable = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    let Some((address, probe)) = probed else {
        return Err(no_answer(unreachable));
    };
    if let ServerTrust::Changed { pinned } = probe.trust {
        return Err(ClientError::ServerKeyChanged {
            address: address.to_owned(),
            pinned,
            presented: probe.fingerprint,
            known_servers: client.known_servers_path().to_owned(),
        }
        .into());
    }
    if !interactive {
        return Err(CliError::Declined(format!(
            "the server at {address} is not known yet; its key fingerprint is {}. Check it \
             with the server's operator (`smc fingerprint --data-dir DIR` on the server), then \
             run again with --trust-server '{}'",
            probe.fingerprint, probe.fingerprint
        )));
    }
    let mut out = std::io::stdout();
    writeln!(
        out,
        "The server at {address} is not known to this client yet."
    )?;
    writeln!(out, "Its key fingerprint is: {}", probe.fingerprint)?;
    writeln!(
        out,
        "Compare it with the one the server's operator gives you (`smc fingerprint --data-dir DIR`)."
    )?;
    write!(out, "Trust this server and remember its key? [y/N] ")?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
        client.trust_server(address, &probe.fingerprint)?;
        Ok(())
    } else {
        Err(CliError::Declined(format!(
            "the server at {address} was not trusted; nothing was sent to it"
        )))
    }
}

/// No address answered: the last one's error.
fn no_answer(last: Option<ClientError>) -> CliError {
    match last {
        Some(e) => e.into(),
        None => CliError::Usage("no server address given".into()),
    }
}
