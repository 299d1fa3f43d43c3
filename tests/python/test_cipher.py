"""The legacy cipher from Python, on the installed wheel: every vector, properties,
bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import smc
import smc.client
import smc.legacy
from smc import _smc

TABLE = smc.legacy.TABLE


def expected(case: dict):
    """What smc must do: smc_* overrides first, then the original's result."""
    if "smc_ok" in case:
        return ("ok", case["smc_ok"])
    if "smc_error" in case:
        return ("error", case["smc_error"])
    if "ok" in case:
        return ("ok", case["ok"])
    return ("error", case["error"])


def first_unsupported(text: str, decrypting: bool) -> tuple[str, int]:
    i = 0
    while i < len(text):
        if decrypting and text[i : i + 2] == "\\ ":
            i += 2
            continue
        if text[i] not in TABLE:
            return text[i], i
        i += 1
    raise AssertionError(f"no unsupported character in {text!r}")


@pytest.mark.parametrize("op", ["crypt", "decrypt"])
def test_text_vectors(vectors: dict, op: str) -> None:
    fn = getattr(smc.client, op)
    assert len(vectors[op]) > 100
    for case in vectors[op]:
        kind, value = expected(case)
        if kind == "ok":
            assert fn(case["M"], case["a"], case["b"]) == value, case
        else:
            assert value == "ValueError"
            with pytest.raises(ValueError) as info:
                fn(case["M"], case["a"], case["b"])
            character, position = first_unsupported(case["M"], op == "decrypt")
            assert isinstance(info.value, smc.UnsupportedCharacter)
            assert (info.value.character, info.value.position) == (character, position)
            assert repr(character) in str(info.value) and str(position) in str(info.value)


def test_pgcd_vectors(vectors: dict) -> None:
    for case in vectors["pgcd"]:
        assert smc.pgcd(case["a"], case["b"]) == case["ok"], case


def test_inverse_vectors(vectors: dict) -> None:
    for case in vectors["inverse"]:
        kind, value = expected(case)
        if kind == "ok":
            assert smc.inverse(case["a"]) == value, case
        else:
            with pytest.raises(ValueError):
                smc.inverse(case["a"])


def test_documented_examples() -> None:
    assert smc.crypt("Test", 35, 19) == "e[j-"
    assert smc.crypt(",", 35, 19) == "Z"
    assert smc.decrypt("Z", 35, 19) == "r"
    assert smc.crypt("é", 35, 19) == "\\ "
    assert smc.decrypt("\\ ", 35, 19) == "é"
    assert smc.crypt("x", 97, 5) == _smc.CRYPT_NOT_COPRIME
    assert smc.decrypt("x", 0, 5) == _smc.DECRYPT_NOT_COPRIME


def test_per_character_functions() -> None:
    assert smc.chiffrementAffine(35, 19, "T") == "e"
    assert smc.dechiffrementAffine(35, 19, "e") == "T"
    assert smc.dechiffrementAffine(35, 19, "\\ ") == "é"
    assert smc.chiffrementAffine(10**20 + 35 - 10**20 % 97, 19, "T") == "e"
    with pytest.raises(ValueError):
        smc.chiffrementAffine(35, 19, "ab")
    with pytest.raises(ValueError):
        smc.dechiffrementAffine(97, 19, "a")


def test_huge_ints_are_reduced_like_python() -> None:
    for a, b in [(10**20, 5), (-(10**30) + 1, 10**25), (2**63, -(2**63) - 1), (2**200 + 3, 7)]:
        if a % 97 == 0:
            continue
        assert smc.crypt("Bonjour", a, b) == smc.crypt("Bonjour", a % 97, b % 97)
        assert smc.decrypt(smc.crypt("Bonjour", a, b), a, b) == "Bonjour"
    assert smc.crypt("x", 97 * 10**20, 1) == _smc.CRYPT_NOT_COPRIME
    assert smc.inverse(10**20) == smc.inverse(10**20 % 97)
    assert smc.pgcd(10**30, 10**20) == 10**20
    assert smc.pgcd(-(2**64), 2**70) == 2**64


def test_booleans_are_ints_as_in_python() -> None:
    assert smc.crypt("Test", True, 0) == smc.crypt("Test", 1, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: smc.crypt(123, 35, 19),
        lambda: smc.crypt(None, 35, 19),
        lambda: smc.crypt(b"Test", 35, 19),
        lambda: smc.crypt("Test", 35.0, 19),
        lambda: smc.crypt("Test", "35", 19),
        lambda: smc.decrypt("Test", 35, None),
        lambda: smc.pgcd(1.5, 2),
        lambda: smc.inverse("3"),
        lambda: smc.chiffrementAffine(35, 19, 7),
        lambda: smc.legacy.encrypt(["T"]),
    ],
)
def test_wrong_types_raise_type_error(call) -> None:
    with pytest.raises(TypeError):
        call()


def test_errors_belong_to_the_hierarchy() -> None:
    with pytest.raises(smc.SmcError):
        smc.crypt("🙂", 35, 19)
    with pytest.raises(smc.NotCoprime) as info:
        smc.legacy.encrypt("x", 97, 1)
    assert info.value.a == 97 and isinstance(info.value, ValueError)


def test_lone_surrogate_is_an_error_not_a_crash() -> None:
    with pytest.raises((UnicodeEncodeError, ValueError)):
        smc.crypt("a\udcff", 35, 19)


def test_long_text_round_trips() -> None:
    text = "Bonjour George, comment vas-tu ? " * 40_000  # > 1 MB, GIL released
    assert smc.legacy.decrypt(smc.legacy.encrypt(text)) == text.replace(",", "r")


def test_pythonic_aliases_default_to_the_original_key() -> None:
    assert smc.legacy.encrypt("Test") == "e[j-"
    assert smc.legacy.decrypt("e[j-") == "Test"
    assert smc.legacy.DEFAULT_KEY == (35, 19)
    assert len(TABLE) == 101 and TABLE[81] == "\\ "


ONE_CHAR_ENTRIES = [e for e in TABLE[:97] if len(e) == 1]


@settings(max_examples=300, deadline=None)
@given(
    m=st.lists(st.sampled_from(ONE_CHAR_ENTRIES), max_size=200).map("".join),
    a=st.integers().filter(lambda a: a % 97 != 0),
    b=st.integers(),
)
def test_decrypt_inverts_crypt(m: str, a: int, b: int) -> None:
    assert smc.decrypt(smc.crypt(m, a, b), a, b) == m


@settings(max_examples=300, deadline=None)
@given(text=st.text(), a=st.integers(), b=st.integers())
def test_any_text_gives_a_result_or_value_error(text: str, a: int, b: int) -> None:
    for fn in (smc.crypt, smc.decrypt):
        try:
            assert isinstance(fn(text, a, b), str)
        except (ValueError, UnicodeEncodeError):
            pass
