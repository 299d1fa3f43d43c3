//! Files in `smc chat`: each file message is numbered as it is first shown, and shows as
//! `[file N] name (size)`; `/save N [PATH]` finds it by that number. Where a file is
//! saved by default, and how a transfer's progress is drawn.

use std::path::{Path, PathBuf};

use smc::client::{Attachment, Message};

/// The files shown so far, numbered from 1 in the order they were first shown.
#[derive(Debug, Default)]
pub(crate) struct Files {
    seen: Vec<(u64, Attachment)>,
}

impl Files {
    /// Gives a file message its number (the one it had if shown before) and its text as
    /// shown: `[file N] name (size)`. A text message is left as it is.
    pub(crate) fn label(&mut self, m: &mut Message) {
        let Some(attachment) = &m.attachment else {
            return;
        };
        let n = match self.seen.iter().position(|(id, _)| *id == m.id) {
            Some(i) => i + 1,
            None => {
                self.seen.push((m.id, attachment.clone()));
                self.seen.len()
            }
        };
        m.text = format!(
            "[file {n}] {} ({}) · /save {n} to download",
            attachment.name(),
            human_size(attachment.size())
        );
    }

    /// File number `n`.
    pub(crate) fn get(&self, n: usize) -> Option<Attachment> {
        self.seen.get(n.checked_sub(1)?).map(|(_, a)| a.clone())
    }
}

/// `bytes` for people: `12 B`, `3.4 KiB`, `5.6 MiB`, `1.2 GiB`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A path as typed at `/send` or `/save`: `~` and `~/...` are under the home
/// directory (`$HOME`), as in a shell; anything else is taken as it is.
pub(crate) fn typed_path(typed: &str, home: Option<&std::ffi::OsStr>) -> PathBuf {
    let rest = match typed.strip_prefix('~') {
        Some("") => Some(""),
        Some(rest) => rest.strip_prefix('/'),
        None => None,
    };
    match (rest, home) {
        (Some(rest), Some(home)) if !home.is_empty() => Path::new(home).join(rest),
        _ => PathBuf::from(typed),
    }
}

/// Where `/save` puts `attachment` when no path is given: its safe name in `dir`, with
/// ` (1)`, ` (2)`... before the extension if that is taken (nothing is overwritten).
pub(crate) fn default_path(dir: &Path, attachment: &Attachment) -> PathBuf {
    let name = attachment.safe_name();
    let first = dir.join(&name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name.as_str(), ""),
    };
    (1..)
        .map(|i| dir.join(format!("{stem} ({i}){ext}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// A progress bar of `width` cells for `done` of `total`, and the percentage.
pub(crate) fn bar(done: u64, total: u64, width: usize) -> String {
    let ratio = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    let filled = ((ratio * width as f64).round() as usize).min(width);
    format!(
        "[{}{}] {:>3}%",
        "#".repeat(filled),
        "-".repeat(width - filled),
        (ratio * 100.0).round() as u64
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_typed_tilde_is_the_home_directory() {
        use std::ffi::OsStr;
        let home = Some(OsStr::new("/home/ann"));
        assert_eq!(super::typed_path("~", home), Path::new("/home/ann"));
        assert_eq!(
            super::typed_path("~/a b.txt", home),
            Path::new("/home/ann/a b.txt")
        );
        // Another user's home, a tilde inside a name, and no known home: as typed.
        assert_eq!(super::typed_path("~bob/x", home), Path::new("~bob/x"));
        assert_eq!(super::typed_path("a~/x", home), Path::new("a~/x"));
        assert_eq!(super::typed_path("~/x", None), Path::new("~/x"));
    }

    use super::*;

    #[test]
    fn sizes_and_bars_read_well() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(65_537), "64.0 KiB");
        assert_eq!(human_size(100 << 20), "100.0 MiB");
        assert_eq!(bar(0, 0, 4), "[####] 100%");
        assert_eq!(bar(1, 4, 4), "[#---]  25%");
        assert_eq!(bar(4, 4, 4), "[####] 100%");
    }
}
