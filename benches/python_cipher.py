"""Python-side cipher benchmark: smc.crypt against a plain-Python reference.

Run (with the wheel installed):  python benches/python_cipher.py
Prints figures for BENCHMARKS.md; asserts nothing about speed.
"""

from __future__ import annotations

import timeit

import smc

# The originals' algorithm in plain Python: one list.index search per character.
TABLE = list(smc.legacy.TABLE)


def reference_pgcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def reference_crypt(M: str, a: int, b: int) -> str:
    if reference_pgcd(a, 97) != 1:
        return "Chiffrement impossible. Veuillez choisir un nombre ( a ) premier avec 97."
    return "".join(TABLE[(a * TABLE.index(c) + b) % 97] for c in M)


def best(fn, number: int, repeat: int = 5) -> float:
    """Best time per call, in seconds."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main() -> None:
    sample = "Bonjour George, comment vas-tu ? Le rendez-vous est a 18h30 devant la gare. "
    mb = (sample * (1_000_000 // len(sample) + 1))[:1_000_000]
    assert smc.crypt(mb, 35, 19) == reference_crypt(mb, 35, 19)

    t_smc = best(lambda: smc.crypt(mb, 35, 19), number=20)
    t_ref = best(lambda: reference_crypt(mb, 35, 19), number=1, repeat=3)
    print(f"1 MB  smc.crypt        {t_smc * 1e3:9.3f} ms  ({len(mb) / t_smc / 1e6:8.1f} MB/s)")
    print(f"1 MB  plain Python     {t_ref * 1e3:9.3f} ms  ({len(mb) / t_ref / 1e6:8.1f} MB/s)")
    print(f"1 MB  ratio            {t_ref / t_smc:9.1f} x faster")

    msg = "Bonjour George, comment vas-t"  # 30 characters
    msg = msg + "u"
    assert len(msg) == 30
    t_small = best(lambda: smc.crypt(msg, 35, 19), number=200_000)
    t_small_ref = best(lambda: reference_crypt(msg, 35, 19), number=20_000)
    print(f"30 ch smc.crypt        {t_small * 1e9:9.0f} ns per call")
    print(f"30 ch plain Python     {t_small_ref * 1e9:9.0f} ns per call")


if __name__ == "__main__":
    main()
