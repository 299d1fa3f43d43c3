//! The legacy affine cipher for Python: the originals' functions (`crypt`, `decrypt`,
//! `pgcd`, `inverse`, `chiffrementAffine`, `dechiffrementAffine`) and raising variants.
//!
//! The originals accept any Python int for `a` and `b`; values beyond i64 are reduced
//! modulo 97 with Python-int arithmetic before they enter Rust (`a` and `a % 97` give
//! the same results everywhere in the cipher).

use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use smc::legacy::cipher::{self, Key, CRYPT_NOT_COPRIME, DECRYPT_NOT_COPRIME};
use smc::CipherError;

use crate::errors::cipher_error;

/// Texts longer than this are processed with the GIL released.
const DETACH_ABOVE: usize = 16 * 1024;

/// Any Python int as an i64 with the same residue modulo 97.
fn key_part(value: &Bound<'_, PyAny>) -> PyResult<i64> {
    match value.extract::<i64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => {
            value.rem(97)?.extract::<i64>()
        }
        Err(e) => Err(e),
    }
}

/// The key (a, b), defaulting to the originals' (35, 19).
fn key(a: Option<&Bound<'_, PyAny>>, b: Option<&Bound<'_, PyAny>>) -> PyResult<Key> {
    let a = a.map(key_part).transpose()?.unwrap_or(Key::ORIGINAL.a());
    let b = b.map(key_part).transpose()?.unwrap_or(Key::ORIGINAL.b());
    Key::new(a, b).map_err(cipher_error)
}

/// Runs `f` on `text`, without the GIL when the text is long.
fn run<T: Send>(py: Python<'_>, text: &str, f: impl FnOnce(&str) -> T + Send) -> T {
    if text.len() > DETACH_ABOVE {
        py.detach(|| f(text))
    } else {
        f(text)
    }
}

/// crypt(M, a, b) -> str: the original encryption. Returns the original French
/// sentence when `a` is not coprime with 97; raises ValueError (UnsupportedCharacter)
/// on a character outside the table.
#[pyfunction]
#[pyo3(signature = (M, a, b))]
#[allow(non_snake_case)]
fn crypt(
    py: Python<'_>,
    M: PyBackedStr,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let (a, b) = (key_part(a)?, key_part(b)?);
    match run(py, &M, |t| cipher::crypt(t, a, b)) {
        Ok(s) => Ok(s),
        Err(CipherError::NotCoprime { .. }) => Ok(CRYPT_NOT_COPRIME.to_owned()),
        Err(e) => Err(cipher_error(e)),
    }
}

/// decrypt(M, a, b) -> str: the original decryption (backslash+space read as one entry).
#[pyfunction]
#[pyo3(signature = (M, a, b))]
#[allow(non_snake_case)]
fn decrypt(
    py: Python<'_>,
    M: PyBackedStr,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let (a, b) = (key_part(a)?, key_part(b)?);
    match run(py, &M, |t| cipher::decrypt(t, a, b)) {
        Ok(s) => Ok(s),
        Err(CipherError::NotCoprime { .. }) => Ok(DECRYPT_NOT_COPRIME.to_owned()),
        Err(e) => Err(cipher_error(e)),
    }
}

/// encrypt(text, a=35, b=19) -> str: like crypt, but raises NotCoprime (a ValueError).
#[pyfunction]
#[pyo3(signature = (text, a=None, b=None))]
fn encrypt(
    py: Python<'_>,
    text: PyBackedStr,
    a: Option<&Bound<'_, PyAny>>,
    b: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let key = key(a, b)?;
    run(py, &text, |t| key.encrypt(t)).map_err(cipher_error)
}

/// decrypt_text(text, a=35, b=19) -> str: like decrypt, but raises NotCoprime.
#[pyfunction]
#[pyo3(signature = (text, a=None, b=None))]
fn decrypt_text(
    py: Python<'_>,
    text: PyBackedStr,
    a: Option<&Bound<'_, PyAny>>,
    b: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let key = key(a, b)?;
    run(py, &text, |t| key.decrypt(t)).map_err(cipher_error)
}

/// pgcd(a, b) -> int for a, b within 64 bits (the package falls back to Python ints).
#[pyfunction]
fn pgcd(a: i64, b: i64) -> i64 {
    cipher::pgcd(a, b)
}

/// inverse(a) -> int: smallest x >= 0 with a*x % 97 == 1; NotCoprime if a % 97 == 0.
#[pyfunction]
fn inverse(a: &Bound<'_, PyAny>) -> PyResult<i64> {
    cipher::inverse(key_part(a)?).map_err(cipher_error)
}

/// chiffrementAffine(a, b, L) -> str: encrypts one table entry.
#[pyfunction]
#[pyo3(name = "chiffrementAffine")]
#[allow(non_snake_case)]
fn chiffrement_affine(
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    L: PyBackedStr,
) -> PyResult<&'static str> {
    cipher::encrypt_entry(key_part(a)?, key_part(b)?, &L).map_err(cipher_error)
}

/// dechiffrementAffine(a, b, L) -> str: decrypts one table entry.
#[pyfunction]
#[pyo3(name = "dechiffrementAffine")]
#[allow(non_snake_case)]
fn dechiffrement_affine(
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    L: PyBackedStr,
) -> PyResult<&'static str> {
    cipher::decrypt_entry(key_part(a)?, key_part(b)?, &L).map_err(cipher_error)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(crypt, m)?)?;
    m.add_function(wrap_pyfunction!(decrypt, m)?)?;
    m.add_function(wrap_pyfunction!(encrypt, m)?)?;
    m.add_function(wrap_pyfunction!(decrypt_text, m)?)?;
    m.add_function(wrap_pyfunction!(pgcd, m)?)?;
    m.add_function(wrap_pyfunction!(inverse, m)?)?;
    m.add_function(wrap_pyfunction!(chiffrement_affine, m)?)?;
    m.add_function(wrap_pyfunction!(dechiffrement_affine, m)?)?;
    m.add("TABLE", cipher::TABLE.to_vec())?;
    m.add("CRYPT_NOT_COPRIME", CRYPT_NOT_COPRIME)?;
    m.add("DECRYPT_NOT_COPRIME", DECRYPT_NOT_COPRIME)?;
    Ok(())
}
