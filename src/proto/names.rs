//! Rules for user and room names, the same on the server and in every client.
//!
//! A name is what people read to decide whom they talk to, so it must look like only
//! one thing: it is NFKC-normalised text without control, format (bidi overrides,
//! zero-width characters), separator or private-use characters, and the server keeps
//! it unique up to its confusable [`skeleton`] (Unicode TS #39), so `aliсe` with a
//! Cyrillic `с` cannot be registered beside `alice`.

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Longest user or room name, in bytes.
pub const MAX_NAME: usize = 64;

/// Why a name cannot hold character `c`, if it cannot.
fn forbidden(c: char) -> Option<&'static str> {
    match c.general_category() {
        GeneralCategory::Control => Some("a name cannot contain control characters"),
        GeneralCategory::Format => {
            Some("a name cannot contain invisible or direction-changing characters")
        }
        GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
            Some("a name cannot contain line separators")
        }
        GeneralCategory::PrivateUse | GeneralCategory::Surrogate => {
            Some("a name cannot contain private-use characters")
        }
        GeneralCategory::Unassigned => Some("a name cannot contain unassigned characters"),
        GeneralCategory::SpaceSeparator if c != ' ' => {
            Some("a name cannot contain spaces other than U+0020")
        }
        // Variation selectors and other default-ignorable marks change nothing visible.
        _ if matches!(c, '\u{034F}' | '\u{180B}'..='\u{180F}' | '\u{FE00}'..='\u{FE0F}'
            | '\u{E0100}'..='\u{E01EF}' | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}') =>
        {
            Some("a name cannot contain invisible characters")
        }
        _ => None,
    }
}

/// Whether `c` is a character no name may hold (control, invisible, direction-changing,
/// separator, private-use or unassigned): also what a file name is cleaned of.
pub(crate) fn unfit(c: char) -> bool {
    forbidden(c).is_some()
}

/// Checks a user or room name: 1 to 64 bytes, in NFKC form, no whitespace at the ends,
/// no control, format, separator or invisible characters. Returns why not.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("a name cannot be empty");
    }
    if name.len() > MAX_NAME {
        return Err("a name is at most 64 bytes");
    }
    if name.trim() != name {
        return Err("a name cannot start or end with whitespace");
    }
    if let Some(why) = name.chars().find_map(forbidden) {
        return Err(why);
    }
    let normalised = match is_nfkc_quick(name.chars()) {
        IsNormalized::Yes => true,
        _ => name.nfkc().eq(name.chars()),
    };
    if !normalised {
        return Err("a name must be in Unicode NFKC form (write it as it is displayed)");
    }
    Ok(())
}

/// The confusable skeletons of a name (UTS #39): two names look alike when they share
/// one, and the server lets only one of them exist. Two are computed, of the name as
/// written (`generaI` with a capital I looks like `general`) and of its lower case
/// (`ALICE` is `alice`); the same string once when they agree.
pub fn skeletons(name: &str) -> Vec<String> {
    let nfkc: String = name.nfkc().collect();
    let lower: String = nfkc.chars().flat_map(char::to_lowercase).collect();
    let mut out = vec![unicode_security::skeleton(&nfkc).collect::<String>()];
    let folded: String = unicode_security::skeleton(&lower).collect();
    if folded != out[0] {
        out.push(folded);
    }
    out
}

/// Whether two names look alike (share a skeleton, [`skeletons`]).
pub fn look_alike(a: &str, b: &str) -> bool {
    let theirs = skeletons(b);
    skeletons(a).iter().any(|s| theirs.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for name in [
            "alice",
            "Bob Smith",
            "élodie",
            "日本語",
            "ops-2026",
            "café ☕",
        ] {
            assert_eq!(check_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn invisible_control_and_unnormalised_names_are_refused() {
        for name in [
            "alice\u{200b}",
            "\u{202e}ecila",
            "al\u{2066}ice",
            "a\nb",
            "a\u{0}b",
            "a\u{1b}[31m",
            "ａｌｉｃｅ", // full width: not NFKC
            "ﬁle",        // ligature: not NFKC
            "a\u{2028}b",
            "a\u{00a0}b",
            "x\u{fe0f}",
            "\u{e000}",
            " alice",
            "",
        ] {
            assert!(check_name(name).is_err(), "{name:?} was accepted");
        }
    }

    #[test]
    fn lookalikes_share_a_skeleton() {
        for (a, b) in [
            ("alice", "ali\u{441}e"), // Cyrillic es
            ("alice", "ALICE"),
            ("general", "generaI"),
            ("paypal", "p\u{430}yp\u{430}l"),
            ("rn", "m"),
        ] {
            assert!(look_alike(a, b), "{a} / {b}");
        }
        assert!(!look_alike("alice", "bob"));
        assert!(!look_alike("alice", "alicia"));
    }
}
