"""Pythonic names for the legacy affine cipher.

.. warning:: The legacy cipher gives **no security**; it exists for compatibility.

Unlike the drop-in :func:`smc.client.crypt`, these raise :class:`smc.NotCoprime`
(a ``ValueError``) instead of returning a French sentence when ``a`` is not coprime
with 97. The key defaults to the original clients' ``(35, 19)``.
"""

from __future__ import annotations

from . import _smc
from ._original import pgcd

__all__ = ["encrypt", "decrypt", "inverse", "pgcd", "TABLE", "DEFAULT_KEY"]

#: The key both original clients used.
DEFAULT_KEY = (35, 19)
#: The 101 entries of the cipher table, in order (entry 81 is backslash+space).
TABLE: tuple[str, ...] = tuple(_smc.TABLE)

encrypt = _smc.encrypt
decrypt = _smc.decrypt_text
inverse = _smc.inverse
