//! The original affine cipher: `y = a·x + b (mod 97)` over a fixed 101-entry table.
//!
//! **This cipher gives no security.** It is kept only for compatibility with the
//! original scripts; see `../shared/legacy/PROTOCOL.md`, sections 1 and 4.
//!
//! Behaviour kept from the originals:
//! - the index of a character is its *first* index in [`TABLE`], so entries 97..=100
//!   (`è ç à ,`) encrypt like 0..=3 and decrypt to `a z e r`;
//! - arithmetic is floored modulo 97, for any `a`, `b` (negative or huge);
//! - under some keys a character encrypts to the two-character entry 81
//!   (backslash + space), so ciphertext can be longer than plaintext.
//!
//! Deliberate differences: decryption reads backslash+space as entry 81 (the originals
//! crashed on it), [`inverse`] of a multiple of 97 is an error (the originals looped
//! forever), and errors name the offending character and its position.
//!
//! Speed: each call works from byte tables: one lookup per ASCII character and a
//! fixed-size store, no search through the table.

use crate::error::CipherError;

/// The modulus of the cipher: the number of distinct table positions reached.
pub const MODULUS: i64 = 97;

/// The originals' cipher table, in order (101 entries; entry 81 is two characters).
pub const TABLE: [&str; 101] = [
    "a", "z", "e", "r", "t", "y", "u", "i", "o", "p", "q", "s", "d", "f", "g", "h", "j", "k", "l",
    "m", "w", "x", "c", "v", "b", "n", "A", "Z", "E", "R", "T", "Y", "U", "I", "O", "P", "Q", "S",
    "D", "F", "G", "H", "J", "K", "L", "M", "W", "X", "C", "V", "B", "N", "1", "2", "3", "4", "5",
    "6", "7", "8", "9", "0", "-", "_", " ", "?", ".", "/", "§", ":", "!", "%", "$", "£", "€", "*",
    "=", "\"", "'", "|", "`", "\\ ", "^", "@", "&", "~", "#", "(", "{", "[", "<", ">", "]", "}",
    ")", "ù", "é", "è", "ç", "à", ",",
];

/// What the originals' `crypt` returns when `a` is not coprime with 97.
pub const CRYPT_NOT_COPRIME: &str =
    "Chiffrement impossible. Veuillez choisir un nombre ( a ) premier avec 97.";
/// What the originals' `decrypt` returns when `a` is not coprime with 97.
pub const DECRYPT_NOT_COPRIME: &str =
    "Déchiffrement impossible. Le nombre a n'est pas premier avec 97";

/// Index of the two-character entry backslash+space.
const BACKSLASH_SPACE: u8 = 81;
/// Marks an ASCII byte that is not a one-character entry.
const NONE: u8 = u8::MAX;

/// First table index of each ASCII byte, or [`NONE`].
static ASCII_INDEX: [u8; 128] = ascii_index();

/// Each table entry as UTF-8 bytes padded to 4, so that one fixed-size copy writes it.
static ENTRY_BYTES: [[u8; 4]; 97] = entry_bytes();
/// The length in bytes of each entry of [`ENTRY_BYTES`].
static ENTRY_LEN: [u8; 97] = entry_len();

const fn ascii_index() -> [u8; 128] {
    let mut out = [NONE; 128];
    let mut i = TABLE.len();
    // Walk backwards so that the first occurrence wins.
    while i > 0 {
        i -= 1;
        let bytes = TABLE[i].as_bytes();
        if bytes.len() == 1 && bytes[0] < 128 {
            out[bytes[0] as usize] = i as u8;
        }
    }
    out
}

const fn entry_bytes() -> [[u8; 4]; 97] {
    let mut out = [[0u8; 4]; 97];
    let mut i = 0;
    while i < 97 {
        let bytes = TABLE[i].as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            out[i][j] = bytes[j];
            j += 1;
        }
        i += 1;
    }
    out
}

const fn entry_len() -> [u8; 97] {
    let mut out = [0u8; 97];
    let mut i = 0;
    while i < 97 {
        out[i] = TABLE[i].len() as u8;
        i += 1;
    }
    out
}

/// First table index of a non-ASCII one-character entry.
fn non_ascii_index(c: char) -> Option<u8> {
    Some(match c {
        '§' => 68,
        '£' => 73,
        '€' => 74,
        'ù' => 95,
        'é' => 96,
        'è' => 97,
        'ç' => 98,
        'à' => 99,
        _ => return None,
    })
}

/// First table index of `c` when `c` alone is a table entry.
fn char_index(c: char) -> Option<u8> {
    if c.is_ascii() {
        match ASCII_INDEX[c as usize] {
            NONE => None,
            i => Some(i),
        }
    } else {
        non_ascii_index(c)
    }
}

/// First index in [`TABLE`] of a whole entry (one character, or backslash+space).
pub(crate) fn entry_index(entry: &str) -> Option<usize> {
    TABLE.iter().position(|e| *e == entry)
}

/// Floored remainder, as Python's `%`: the result has the sign of `m`.
fn floor_mod(x: i128, m: i128) -> i128 {
    let r = x % m;
    if r != 0 && ((r < 0) != (m < 0)) {
        r + m
    } else {
        r
    }
}

/// The originals' `pgcd`: Euclid with Python's floored `%` (`while b: a, b = b, a % b`),
/// so signs follow Python: `pgcd(35, -97) == -1`, `pgcd(0, 0) == 0`.
pub fn pgcd(a: i64, b: i64) -> i64 {
    // i128 avoids the one overflowing case, i64::MIN % -1.
    let (mut a, mut b) = (a as i128, b as i128);
    while b != 0 {
        (a, b) = (b, floor_mod(a, b));
    }
    // |result| <= max(|a|, |b|) of the inputs, and only i64::MIN reaches 2^63 as itself.
    a as i64
}

/// `a` reduced modulo 97 into `0..97`.
fn reduce(a: i64) -> u32 {
    a.rem_euclid(MODULUS) as u32
}

/// The originals' `inverse`: the smallest `x >= 0` with `a·x % 97 == 1`.
///
/// # Errors
/// [`CipherError::NotCoprime`] when `a % 97 == 0` (the originals looped forever).
pub fn inverse(a: i64) -> Result<i64, CipherError> {
    let r = reduce(a);
    (1..MODULUS as u32)
        .find(|x| r * x % MODULUS as u32 == 1)
        .map(i64::from)
        .ok_or(CipherError::NotCoprime { a })
}

/// A key `(a, b)` of the affine cipher, reduced modulo 97, with `a` invertible.
///
/// Not a secret worth protecting: there are 96 × 97 keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    a: u32,
    b: u32,
    a_inv: u32,
}

impl Key {
    /// The key the original clients use: `a = 35, b = 19`.
    pub const ORIGINAL: Key = Key {
        a: 35,
        b: 19,
        a_inv: 61,
    };

    /// Builds a key from any `a`, `b`.
    ///
    /// # Errors
    /// [`CipherError::NotCoprime`] when `a % 97 == 0`.
    pub fn new(a: i64, b: i64) -> Result<Key, CipherError> {
        Ok(Key {
            a: reduce(a),
            b: reduce(b),
            a_inv: inverse(a)? as u32,
        })
    }

    /// The multiplier, in `1..97`.
    pub fn a(&self) -> i64 {
        i64::from(self.a)
    }

    /// The offset, in `0..97`.
    pub fn b(&self) -> i64 {
        i64::from(self.b)
    }

    #[inline(always)]
    fn enc(&self, x: u8) -> usize {
        ((self.a * x as u32 + self.b) % MODULUS as u32) as usize
    }

    #[inline(always)]
    fn dec(&self, x: u8) -> usize {
        (self.a_inv * (x as u32 + MODULUS as u32 - self.b) % MODULUS as u32) as usize
    }

    /// Encrypts `text` character by character, as the originals' `crypt`.
    ///
    /// # Errors
    /// [`CipherError::UnsupportedCharacter`] for the first character that is not a
    /// one-character table entry (a lone backslash, `ê`, a newline, an emoji...).
    pub fn encrypt(&self, text: &str) -> Result<String, CipherError> {
        let other = |c| char_index(c).map(|x| self.enc(x));
        if text.len() < TABLE_WORTHWHILE {
            transform(text, |byte, _| direct(byte, |x| self.enc(x)), other)
        } else {
            let map = AsciiMap::new(|x| self.enc(x));
            transform(text, |byte, _| map.get(byte), other)
        }
    }

    /// Decrypts `text`, as the originals' `decrypt`, except that backslash+space is
    /// read as the single entry 81 (so whatever [`Key::encrypt`] produced decrypts).
    ///
    /// # Errors
    /// [`CipherError::UnsupportedCharacter`] for the first character that is neither a
    /// one-character table entry nor the backslash of a backslash+space pair.
    pub fn decrypt(&self, text: &str) -> Result<String, CipherError> {
        let other = |c| char_index(c).map(|x| self.dec(x));
        let y = self.dec(BACKSLASH_SPACE);
        let backslash_space = Some((ENTRY_BYTES[y], ENTRY_LEN[y] as usize, 2));
        if text.len() < TABLE_WORTHWHILE {
            transform(
                text,
                |byte, next| match byte {
                    b'\\' if next == Some(b' ') => backslash_space,
                    _ => direct(byte, |x| self.dec(x)),
                },
                other,
            )
        } else {
            let map = AsciiMap::new(|x| self.dec(x));
            transform(
                text,
                |byte, next| match byte {
                    b'\\' if next == Some(b' ') => backslash_space,
                    _ => map.get(byte),
                },
                other,
            )
        }
    }
}

/// Below this many bytes, computing each character directly beats building a table.
const TABLE_WORTHWHILE: usize = 256;

/// What one ASCII input byte becomes: output bytes padded to 4, their length, and how
/// many input bytes were consumed.
type Step = Option<([u8; 4], usize, usize)>;

/// Maps an ASCII byte through `f` (table index to table index) without a table.
#[inline(always)]
fn direct(byte: u8, f: impl Fn(u8) -> usize) -> Step {
    match ASCII_INDEX[byte as usize] {
        NONE => None,
        x => {
            let y = f(x);
            Some((ENTRY_BYTES[y], ENTRY_LEN[y] as usize, 1))
        }
    }
}

/// The output of every ASCII byte under one key, computed once per long text.
struct AsciiMap {
    bytes: [[u8; 4]; 128],
    len: [u8; 128],
}

impl AsciiMap {
    fn new(f: impl Fn(u8) -> usize) -> Self {
        let mut map = AsciiMap {
            bytes: [[0; 4]; 128],
            len: [0; 128],
        };
        for (byte, &x) in ASCII_INDEX.iter().enumerate() {
            if x != NONE {
                let y = f(x);
                map.bytes[byte] = ENTRY_BYTES[y];
                map.len[byte] = ENTRY_LEN[y];
            }
        }
        map
    }

    #[inline(always)]
    fn get(&self, byte: u8) -> Step {
        let len = self.len[byte as usize];
        (len != 0).then_some((self.bytes[byte as usize], len as usize, 1))
    }
}

/// The shared loop of encryption and decryption.
///
/// `ascii(byte, next_byte)` maps an ASCII byte to (padded output, output length, input
/// bytes consumed) or `None` if unsupported; `other(char)` maps a non-ASCII character to
/// an output entry index.
#[inline(always)]
fn transform(
    text: &str,
    ascii: impl Fn(u8, Option<u8>) -> Step,
    other: impl Fn(char) -> Option<usize>,
) -> Result<String, CipherError> {
    let input = text.as_bytes();
    // Every input byte yields at most 3 output bytes (an ASCII byte may become `€`; a
    // multi-byte character yields at most 3 bytes too), plus 4 bytes of slack for the
    // fixed-size stores.
    let mut out = vec![0u8; input.len() * 3 + 4];
    let mut pos = 0;
    let mut i = 0;
    while i < input.len() {
        let byte = input[i];
        if byte < 128 {
            match ascii(byte, input.get(i + 1).copied()) {
                Some((bytes, len, used)) => {
                    out[pos..pos + 4].copy_from_slice(&bytes);
                    pos += len;
                    i += used;
                }
                None => return Err(unsupported(text, i)),
            }
        } else {
            // `text` is a str and `i` a character boundary: this cannot fail.
            let c = text[i..]
                .chars()
                .next()
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            match other(c) {
                Some(y) => {
                    out[pos..pos + 4].copy_from_slice(&ENTRY_BYTES[y]);
                    pos += ENTRY_LEN[y] as usize;
                    i += c.len_utf8();
                }
                None => return Err(unsupported(text, i)),
            }
        }
    }
    out.truncate(pos);
    // Only whole table entries were written: always valid UTF-8.
    String::from_utf8(out).map_err(|_| unreachable_utf8())
}

#[cold]
fn unreachable_utf8() -> CipherError {
    CipherError::NotAnEntry(String::from("<invalid output>"))
}

#[cold]
fn unsupported(text: &str, byte_index: usize) -> CipherError {
    let character = text[byte_index..].chars().next().unwrap_or('\u{FFFD}');
    CipherError::UnsupportedCharacter {
        character,
        position: text[..byte_index].chars().count(),
    }
}

/// The originals' `crypt(M, a, b)`.
///
/// # Errors
/// [`CipherError::NotCoprime`] where the originals returned [`CRYPT_NOT_COPRIME`]
/// (checked before the text), and [`CipherError::UnsupportedCharacter`].
pub fn crypt(text: &str, a: i64, b: i64) -> Result<String, CipherError> {
    Key::new(a, b)?.encrypt(text)
}

/// The originals' `decrypt(M, a, b)`, reading backslash+space as one entry.
///
/// # Errors
/// [`CipherError::NotCoprime`] where the originals returned [`DECRYPT_NOT_COPRIME`]
/// (checked before the text), and [`CipherError::UnsupportedCharacter`].
pub fn decrypt(text: &str, a: i64, b: i64) -> Result<String, CipherError> {
    Key::new(a, b)?.decrypt(text)
}

fn entry_position(entry: &str) -> Result<i64, CipherError> {
    entry_index(entry)
        .map(|i| i as i64)
        .ok_or_else(|| CipherError::NotAnEntry(entry.to_owned()))
}

/// The originals' `chiffrementAffine(a, b, L)`: `TABLE[(a·x + b) mod 97]` where `x` is
/// the first index of the entry `L`. Works for any `a` (no coprimality check, as the
/// originals).
///
/// # Errors
/// [`CipherError::NotAnEntry`] when `entry` is not a table entry.
pub fn encrypt_entry(a: i64, b: i64, entry: &str) -> Result<&'static str, CipherError> {
    let x = entry_position(entry)?;
    let y = (i128::from(reduce(a)) * i128::from(x) + i128::from(reduce(b))) % 97;
    Ok(TABLE[y as usize])
}

/// The originals' `dechiffrementAffine(a, b, L)`: `TABLE[(inverse(a)·(x − b)) mod 97]`.
///
/// # Errors
/// [`CipherError::NotAnEntry`], or [`CipherError::NotCoprime`] when `a % 97 == 0`.
pub fn decrypt_entry(a: i64, b: i64, entry: &str) -> Result<&'static str, CipherError> {
    let x = entry_position(entry)?;
    let inv = inverse(a)?;
    let y = floor_mod(
        i128::from(inv) * (i128::from(x) - i128::from(reduce(b))),
        97,
    );
    Ok(TABLE[y as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_index_agrees_with_the_table() {
        for (i, entry) in TABLE.iter().enumerate() {
            let mut chars = entry.chars();
            let c = chars.next().unwrap();
            if chars.next().is_none() {
                let first = TABLE.iter().position(|e| e == entry).unwrap();
                assert_eq!(char_index(c), Some(first as u8), "entry {i} {entry:?}");
            }
        }
        assert_eq!(char_index('\\'), None);
        assert_eq!(char_index('ê'), None);
    }

    #[test]
    fn original_key_matches_new() {
        assert_eq!(Key::new(35, 19).unwrap(), Key::ORIGINAL);
    }
}
