"""The original client.py's cipher functions (re-exported by :mod:`smc.client`).

The functions keep the originals' names, signatures and results, so that scripts
written against ``client.py`` keep working after ``from smc.client import *``; the work
is done in Rust. Where the originals crashed, smc differs as documented in
``PROTOCOL.md`` section 4 (for instance ``decrypt`` reads backslash+space as one entry).

.. warning:: The affine cipher gives **no security**: 96 x 97 keys, no integrity.
   It is kept only for compatibility with the original scripts.
"""

from __future__ import annotations

import operator

from . import _smc

__all__ = [
    "pgcd",
    "chiffrementAffine",
    "inverse",
    "dechiffrementAffine",
    "crypt",
    "decrypt",
]

crypt = _smc.crypt
decrypt = _smc.decrypt
inverse = _smc.inverse
chiffrementAffine = _smc.chiffrementAffine
dechiffrementAffine = _smc.dechiffrementAffine

_I64 = 1 << 63


def pgcd(a: int, b: int) -> int:
    """Euclid's algorithm with Python's floored ``%`` (``pgcd(35, -97) == -1``)."""
    a, b = operator.index(a), operator.index(b)
    if -_I64 <= a < _I64 and -_I64 <= b < _I64:
        return _smc.pgcd(a, b)
    # Beyond 64 bits: the same loop on Python ints (no fixed-width type holds them).
    while b:
        a, b = b, a % b
    return a
