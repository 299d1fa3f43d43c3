"""The exceptions smc raises. Every one derives from :class:`SmcError`.

Where the original SMC scripts raised a builtin (``ValueError``), smc raises a subclass
of both :class:`SmcError` and that builtin, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "SmcError",
    "CipherError",
    "UnsupportedCharacter",
    "NotCoprime",
    "NotATableEntry",
]


class SmcError(Exception):
    """Base class of every error smc raises."""


class CipherError(SmcError, ValueError):
    """An error of the legacy affine cipher (a ``ValueError``, as in the originals)."""


class UnsupportedCharacter(CipherError):
    """The text holds a character that is not in the legacy cipher's table.

    Attributes: ``character`` (the character) and ``position`` (its index in the text).
    """

    def __init__(self, message: str, character: str, position: int) -> None:
        super().__init__(message)
        self.character = character
        self.position = position


class NotCoprime(CipherError):
    """The key's ``a`` is not coprime with 97 (``a % 97 == 0``), so it has no inverse.

    Attribute: ``a``.
    """

    def __init__(self, message: str, a: int) -> None:
        super().__init__(message)
        self.a = a


class NotATableEntry(CipherError):
    """A per-character function got a string that is not one table entry.

    Attribute: ``entry``.
    """

    def __init__(self, message: str, entry: str) -> None:
        super().__init__(message)
        self.entry = entry


class SmcIOError(SmcError, OSError):
    """A file or network operation failed (log directory not writable, port in use,
    server unreachable...)."""


class ConnectionClosed(SmcError, ConnectionError):
    """The peer closed the connection."""


class MessageTooLong(SmcError, ValueError):
    """A message is larger than the protocol allows (64 KiB for the legacy protocol)."""


class ProtocolError(SmcError):
    """The peer sent something that does not follow the protocol."""


__all__ += ["SmcIOError", "ConnectionClosed", "MessageTooLong", "ProtocolError"]
