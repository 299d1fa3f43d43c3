//! The legacy cipher against every entry of tests/data/vectors.json (the originals'
//! outputs, with smc's documented overrides), plus properties and bad input.

use proptest::prelude::*;
use serde_json::Value;
use smc::legacy::{self, Key, CRYPT_NOT_COPRIME, DECRYPT_NOT_COPRIME, TABLE};
use smc::CipherError;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/vectors.json");
    let text = std::fs::read_to_string(path).expect("vectors.json");
    serde_json::from_str(&quote_big_integers(&text)).expect("json")
}

/// The vectors hold integers beyond 64 bits (Python ints); serde_json would round them
/// to f64, so they are turned into strings of their exact digits before parsing.
fn quote_big_integers(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut chars = json.chars().peekable();
    let (mut in_string, mut escaped) = (false, false);
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '-' || c.is_ascii_digit() {
            let mut number = c.to_string();
            while let Some(&d) = chars.peek() {
                if !(d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+' | '-')) {
                    break;
                }
                number.push(d);
                chars.next();
            }
            if number.parse::<i64>().is_err() && number.bytes().skip(1).all(|b| b.is_ascii_digit())
            {
                out.push('"');
                out.push_str(&number);
                out.push('"');
            } else {
                out.push_str(&number);
            }
        } else {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    out
}

/// A JSON integer of any size, reduced into i64 keeping its residue modulo 97 (the
/// only thing the cipher depends on). Python callers do the same reduction.
fn key_part(v: &Value) -> i64 {
    if let Some(i) = v.as_i64() {
        return i;
    }
    let digits = v.as_str().expect("an integer or its digits").to_owned();
    let (neg, digits) = match digits.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, digits.as_str()),
    };
    let r = digits
        .bytes()
        .fold(0i64, |acc, d| (acc * 10 + i64::from(d - b'0')) % 97);
    if neg {
        -r
    } else {
        r
    }
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

/// The character the originals choked on: the first one that is not a one-character
/// table entry (for decryption, a backslash not followed by a space).
fn first_unsupported(text: &str, decrypting: bool) -> (char, usize) {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if decrypting && c == '\\' && chars.get(i + 1) == Some(&' ') {
            i += 2;
            continue;
        }
        if !TABLE.contains(&c.to_string().as_str()) {
            return (c, i);
        }
        i += 1;
    }
    panic!("no unsupported character in {text:?}");
}

#[test]
fn crypt_vectors() {
    let v = vectors();
    let cases = v["crypt"].as_array().unwrap();
    assert!(cases.len() > 200);
    for case in cases {
        let (m, a, b) = (s(&case["M"]), key_part(&case["a"]), key_part(&case["b"]));
        let got = legacy::crypt(m, a, b);
        if let Some(ok) = case.get("ok") {
            if s(ok) == CRYPT_NOT_COPRIME {
                assert!(matches!(got, Err(CipherError::NotCoprime { .. })), "{case}");
            } else {
                assert_eq!(got.as_deref(), Ok(s(ok)), "{case}");
                // Long texts take the table path: same result.
                let long = legacy::crypt(&m.repeat(40), a, b);
                assert_eq!(long, Ok(s(ok).repeat(40)), "{case} x40");
            }
        } else {
            assert_eq!(case["error"], "ValueError");
            let (character, position) = first_unsupported(m, false);
            assert_eq!(
                got,
                Err(CipherError::UnsupportedCharacter {
                    character,
                    position
                }),
                "{case}"
            );
        }
    }
}

#[test]
fn decrypt_vectors() {
    let v = vectors();
    for case in v["decrypt"].as_array().unwrap() {
        let (m, a, b) = (s(&case["M"]), key_part(&case["a"]), key_part(&case["b"]));
        let got = legacy::decrypt(m, a, b);
        let expected = case.get("smc_ok").or_else(|| case.get("ok"));
        match expected {
            Some(ok) if s(ok) == DECRYPT_NOT_COPRIME => {
                assert!(matches!(got, Err(CipherError::NotCoprime { .. })), "{case}")
            }
            Some(ok) => {
                assert_eq!(got.as_deref(), Ok(s(ok)), "{case}");
                let long = legacy::decrypt(&m.repeat(40), a, b);
                assert_eq!(long, Ok(s(ok).repeat(40)), "{case} x40");
            }
            None => {
                assert_eq!(case["smc_error"], "ValueError", "{case}");
                let (character, position) = first_unsupported(m, true);
                assert_eq!(
                    got,
                    Err(CipherError::UnsupportedCharacter {
                        character,
                        position
                    }),
                    "{case}"
                );
            }
        }
    }
}

#[test]
fn pgcd_vectors() {
    let v = vectors();
    for case in v["pgcd"].as_array().unwrap() {
        let (a, b) = (case["a"].as_i64().unwrap(), case["b"].as_i64().unwrap());
        assert_eq!(legacy::pgcd(a, b), case["ok"].as_i64().unwrap(), "{case}");
    }
}

#[test]
fn inverse_vectors() {
    let v = vectors();
    for case in v["inverse"].as_array().unwrap() {
        let a = case["a"].as_i64().unwrap();
        match case.get("ok") {
            Some(ok) => assert_eq!(legacy::inverse(a), Ok(ok.as_i64().unwrap()), "{case}"),
            None => assert_eq!(
                legacy::inverse(a),
                Err(CipherError::NotCoprime { a }),
                "{case}"
            ),
        }
    }
}

#[test]
fn protocol_examples() {
    let key = Key::ORIGINAL;
    assert_eq!(key.encrypt("Test").unwrap(), "e[j-");
    assert_eq!(key.encrypt(",").unwrap(), "Z");
    assert_eq!(key.decrypt("Z").unwrap(), "r");
    assert_eq!(key.encrypt("é").unwrap(), "\\ ");
    assert_eq!(key.decrypt("\\ ").unwrap(), "é");
    assert_eq!(
        key.decrypt(&key.encrypt("Bonjour Jacque, c'est George").unwrap())
            .unwrap(),
        "Bonjour Jacquer c'est George"
    );
}

#[test]
fn extreme_keys() {
    // i64::MIN and MAX reduce like Python ints do.
    for (a, b) in [(i64::MAX, i64::MIN), (i64::MIN, i64::MAX), (-1, -1)] {
        let key = Key::new(a, b).unwrap();
        assert_eq!(key.a(), a.rem_euclid(97));
        assert_eq!(key.b(), b.rem_euclid(97));
        assert_eq!(
            key.decrypt(&key.encrypt("Salut é ù tous").unwrap())
                .unwrap(),
            "Salut é ù tous"
        );
    }
    assert_eq!(legacy::pgcd(i64::MIN, -1), -1);
    assert_eq!(legacy::pgcd(i64::MIN, 0), i64::MIN);
    assert!(Key::new(97 * 1000, 1).is_err());
}

#[test]
fn per_entry_functions() {
    assert_eq!(legacy::encrypt_entry(35, 19, "T"), Ok("e"));
    assert_eq!(legacy::decrypt_entry(35, 19, "e"), Ok("T"));
    // The two-character entry is an entry too, as in the originals.
    assert_eq!(legacy::decrypt_entry(35, 19, "\\ "), Ok("é"));
    assert_eq!(legacy::encrypt_entry(0, 3, "a"), Ok("r"));
    assert!(matches!(
        legacy::encrypt_entry(35, 19, "ab"),
        Err(CipherError::NotAnEntry(_))
    ));
    assert!(matches!(
        legacy::decrypt_entry(97, 19, "a"),
        Err(CipherError::NotCoprime { a: 97 })
    ));
}

#[test]
fn error_names_character_and_position() {
    let err = Key::ORIGINAL.encrypt("Ça va").unwrap_err();
    assert_eq!(err.to_string(), "unsupported character 'Ç' at position 0");
    let err = Key::ORIGINAL.encrypt("emoji 🙂!").unwrap_err();
    assert_eq!(
        err,
        CipherError::UnsupportedCharacter {
            character: '🙂',
            position: 6
        }
    );
    let err = Key::ORIGINAL.decrypt("ab\\c").unwrap_err();
    assert_eq!(
        err,
        CipherError::UnsupportedCharacter {
            character: '\\',
            position: 2
        }
    );
    let err = Key::ORIGINAL.decrypt("ab\\").unwrap_err();
    assert_eq!(
        err,
        CipherError::UnsupportedCharacter {
            character: '\\',
            position: 2
        }
    );
}

/// Plaintexts over the one-character entries 0..=96 (entry 81, backslash+space, is two
/// characters and cannot be typed as one; 97..=100 alias 0..=3 by design).
fn plaintext() -> impl Strategy<Value = String> {
    let entries: Vec<&'static str> = TABLE[..97]
        .iter()
        .copied()
        .filter(|e| e.chars().count() == 1)
        .collect();
    proptest::collection::vec(proptest::sample::select(entries), 0..200).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn decrypt_inverts_crypt(m in plaintext(), a in any::<i64>(), b in any::<i64>()) {
        prop_assume!(a.rem_euclid(97) != 0);
        let c = legacy::crypt(&m, a, b).unwrap();
        prop_assert_eq!(legacy::decrypt(&c, a, b).unwrap(), m);
    }

    #[test]
    fn no_input_panics(text in ".*", a in any::<i64>(), b in any::<i64>()) {
        let _ = legacy::crypt(&text, a, b);
        let _ = legacy::decrypt(&text, a, b);
    }
}
