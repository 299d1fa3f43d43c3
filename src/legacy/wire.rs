//! The original wire format and reply rule (PROTOCOL.md section 2), as pure functions.
//!
//! Client to server: `<timestamp>|<client id>[CLIENT <ip>:<port>]@<ciphertext>`, or the
//! literal `/stop`. The server logs each message as one line of `log.txt` and replies
//! with the line logged before it (or the only line), its `@`-separated parts joined by
//! `,`.

use std::net::SocketAddr;

use chrono::{NaiveDateTime, Timelike};

use crate::legacy::cipher::Key;

/// The message that ends a client's session (sent as is, not encrypted).
pub const STOP: &str = "/stop";

/// Largest message the legacy server and client accept, in bytes.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Python's `datetime.isoformat()`: `YYYY-MM-DDTHH:MM:SS.ffffff`, without the fraction
/// when the microsecond is 0.
pub fn isoformat(t: NaiveDateTime) -> String {
    if t.nanosecond() / 1000 == 0 {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        format!(
            "{}.{:06}",
            t.format("%Y-%m-%dT%H:%M:%S"),
            t.nanosecond() / 1000 % 1_000_000
        )
    }
}

/// Local time now, as the original client stamps its messages.
pub(crate) fn now_isoformat() -> String {
    isoformat(chrono::Local::now().naive_local())
}

/// `<client id>[CLIENT <ip>:<port>]`: how a client names itself (`data2` in the
/// originals), from its own socket address.
pub(crate) fn client_tag(client_id: &str, local: SocketAddr) -> String {
    format!("{client_id}[CLIENT {}:{}]", local.ip(), local.port())
}

/// One client message: `<timestamp>|<tag>@<ciphertext>`.
pub fn format_message(timestamp: &str, tag: &str, ciphertext: &str) -> String {
    format!("{timestamp}|{tag}@{ciphertext}")
}

/// The originals' `list_log()` on the text of `log.txt`: each line split on `@`.
pub fn list_log(log_text: &str) -> Vec<Vec<String>> {
    log_lines(log_text)
        .map(|line| line.split('@').map(str::to_owned).collect())
        .collect()
}

/// Lines as Python's text mode reads them (`\n`, `\r\n` and `\r` end a line).
fn log_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        let line = &rest[..end];
        let skip = match rest.as_bytes().get(end) {
            Some(b'\r') if rest.as_bytes().get(end + 1) == Some(&b'\n') => 2,
            Some(_) => 1,
            None => 0,
        };
        rest = &rest[end + skip..];
        Some(line)
    })
}

/// The originals' `str_log(data)`: the line before the last one (or the only line),
/// its parts joined by `,`; `""` for no line.
pub fn str_log(lines: &[Vec<String>]) -> String {
    match lines.len() {
        0 => String::new(),
        1 => lines[0].join(","),
        n => lines[n - 2].join(","),
    }
}

/// The reply to send for a logged line: its `@` become `,`.
pub fn reply_from_line(line: &[u8]) -> Vec<u8> {
    line.iter()
        .map(|&b| if b == b'@' { b',' } else { b })
        .collect()
}

/// A reply parsed losslessly: who sent the message it carries, and its ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The sender's timestamp.
    pub timestamp: String,
    /// The sender's tag, `<client id>[CLIENT <ip>:<port>]`.
    pub tag: String,
    /// The original ciphertext, `@` restored (ciphertext never holds `,`).
    pub ciphertext: String,
}

/// Parses a reply: everything up to the first `|` is the timestamp, then the tag up to
/// the first `,`, then the ciphertext with every further `,` read back as `@`.
/// `None` when the reply has no `|` or no `,` after it.
pub fn parse_reply(data: &str) -> Option<Reply> {
    let (timestamp, rest) = data.split_once('|')?;
    let (tag, cipher) = rest.split_once(',')?;
    Some(Reply {
        timestamp: timestamp.to_owned(),
        tag: tag.to_owned(),
        ciphertext: cipher.replace(',', "@"),
    })
}

/// The originals' `process_response(data, data2, messager)`, with smc's fix: what it
/// prints (without the final newline; `None` prints nothing) and the new counter.
///
/// As the original, the message is part 1 of the text after the first `|` split on `,`
/// (so a ciphertext that held `@` is cut there). A reply it cannot parse prints nothing
/// and leaves the counter unchanged (the original raised IndexError).
pub fn process_response(data: &str, data2: &str, messager: i64) -> (Option<String>, i64) {
    let Some((_, rest)) = data.split_once('|') else {
        return (None, messager);
    };
    let mut parts = rest.split('|').next().unwrap_or_default().split(',');
    let who = parts.next().unwrap_or_default();
    if who == data2 {
        return (Some(String::new()), messager);
    }
    let Some(cipher) = parts.next() else {
        return (None, messager);
    };
    match Key::ORIGINAL.decrypt(cipher) {
        Ok(text) => (
            Some(format!("Response: {text}")),
            messager.saturating_add(1),
        ),
        Err(_) => (None, messager),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn isoformat_omits_zero_microseconds() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(
            isoformat(d.and_hms_micro_opt(0, 41, 57, 803_071).unwrap()),
            "2026-11-24T00:41:57.803071"
        );
        assert_eq!(
            isoformat(d.and_hms_micro_opt(0, 41, 57, 0).unwrap()),
            "2026-11-24T00:41:57"
        );
        assert_eq!(
            isoformat(d.and_hms_micro_opt(0, 41, 57, 7).unwrap()),
            "2026-11-24T00:41:57.000007"
        );
    }

    #[test]
    fn lines_follow_python_text_mode() {
        let lines: Vec<_> = log_lines("a\nb\r\nc\rd").collect();
        assert_eq!(lines, ["a", "b", "c", "d"]);
    }

    #[test]
    fn parse_reply_restores_at_signs() {
        let r = parse_reply("2026-11-24T00:41:57.803071|#id[CLIENT 127.0.0.1:1],a|b,c").unwrap();
        assert_eq!(r.tag, "#id[CLIENT 127.0.0.1:1]");
        assert_eq!(r.ciphertext, "a|b@c");
        assert_eq!(parse_reply("no pipe"), None);
    }
}
