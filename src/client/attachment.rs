//! Files as a received [`super::Message`] carries them.

use serde::{Deserialize, Serialize};

use crate::e2e::sealed::FileRef;

/// A file sent in a room: its name, size, media type and digest, and, hidden, where
/// it is on the server and the key that opens it. Hand it to
/// [`super::Client::download`] to fetch, open and check it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment(pub(crate) FileRef);

impl Attachment {
    /// The name the sender gave it. It may hold anything: [`Attachment::safe_name`]
    /// is what to save it under.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Its size, bytes.
    pub fn size(&self) -> u64 {
        self.0.size
    }

    /// Its media type as the sender gave it.
    pub fn mime(&self) -> &str {
        &self.0.mime
    }

    /// The SHA-256 of its content (checked by [`super::Client::download`]).
    pub fn sha256(&self) -> [u8; 32] {
        self.0.sha256
    }

    /// [`Attachment::sha256`] in lower-case hex.
    pub fn sha256_hex(&self) -> String {
        self.0.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Its name made safe to save under in a directory: no path separators, no `..`,
    /// no control or invisible characters, not hidden, at most 255 bytes; `file`
    /// when nothing is left.
    pub fn safe_name(&self) -> String {
        safe_file_name(&self.0.name)
    }
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("name", &self.0.name)
            .field("size", &self.0.size)
            .field("mime", &self.0.mime)
            .field("sha256", &self.sha256_hex())
            .finish_non_exhaustive()
    }
}

/// `name` as a file name that stays in the directory it is saved in.
pub(crate) fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' => '_',
            c if crate::proto::unfit(c) => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let mut out = String::new();
    for c in trimmed.chars() {
        if out.len() + c.len_utf8() > 255 {
            break;
        }
        out.push(c);
    }
    if out.is_empty() || out.chars().all(|c| c == '.' || c == '_') {
        "file".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn a_saved_name_stays_in_its_directory() {
        for (given, safe) in [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "_.._etc_passwd"),
            ("..", "file"),
            ("", "file"),
            ("/", "file"),
            (".bashrc", "bashrc"),
            ("a\u{0}b\nc\u{202e}d", "a_b_c_d"),
            ("C:\\x", "C__x"),
            ("résumé 履歴書.txt", "résumé 履歴書.txt"),
        ] {
            assert_eq!(safe_file_name(given), safe, "{given:?}");
        }
        let long = "é".repeat(300);
        assert!(safe_file_name(&long).len() <= 255);
    }
}
