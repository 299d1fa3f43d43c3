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


class ServerKeyChanged(SmcError):
    """The server presented a key other than the one pinned in ``known_servers``.

    Attributes: ``pinned`` and ``presented`` (the two fingerprints). If the server's key
    really changed, remove its line from the client's ``known_servers`` file.
    """

    pinned: str | None

    def __init__(self, message: str, pinned: str, presented: str) -> None:
        super().__init__(message)
        self.pinned = pinned
        self.presented = presented


class ServerNotTrusted(ServerKeyChanged):
    """The server's key is not the one given to trust (``connect(..., fingerprint=)``,
    ``trust_server``); nothing was pinned.

    Attributes: ``expected`` (the fingerprint given) and ``presented`` (the server's);
    ``pinned`` is ``None``.
    """

    def __init__(self, message: str, expected: str, presented: str) -> None:
        SmcError.__init__(self, message)
        self.pinned = None
        self.expected = expected
        self.presented = presented


class NotAMember(SmcError, PermissionError):
    """The user is not a member of the room. Attribute: ``room``."""

    def __init__(self, message: str, room: str) -> None:
        super().__init__(message)
        self.room = room


class NotInvited(SmcError, LookupError):
    """The user has no pending invitation to the room. Attribute: ``room``."""

    def __init__(self, message: str, room: str) -> None:
        super().__init__(message)
        self.room = room


class UnknownUser(SmcError, LookupError):
    """No such user is registered on the server. Attribute: ``user``."""

    def __init__(self, message: str, user: str) -> None:
        super().__init__(message)
        self.user = user


class UnknownRoom(SmcError, LookupError):
    """No such room. Attribute: ``room``."""

    def __init__(self, message: str, room: str) -> None:
        super().__init__(message)
        self.room = room


class RoomExists(SmcError):
    """A room of that name exists already. Attribute: ``room``."""

    def __init__(self, message: str, room: str) -> None:
        super().__init__(message)
        self.room = room


class NameTaken(SmcError, PermissionError):
    """The user name is registered to another key. Attribute: ``user``."""

    def __init__(self, message: str, user: str) -> None:
        super().__init__(message)
        self.user = user


class RegistrationRefused(SmcError, PermissionError):
    """The server does not register this name: it registers by invitation token only
    (pass ``token=`` to ``Client.connect``) or registers nobody new."""


class StaleEpoch(SmcError):
    """A group-state change for an epoch that already has one. Attribute: ``current``."""

    def __init__(self, message: str, current: int) -> None:
        super().__init__(message)
        self.current = current


class NoKeyPackage(SmcError, LookupError):
    """The user has published no key package. Attribute: ``user``."""

    def __init__(self, message: str, user: str) -> None:
        super().__init__(message)
        self.user = user


class RateLimited(SmcError):
    """Too many requests, even after waiting: the client waits and sends a refused
    request again by itself as long as its request timeout allows, and raises this
    only past it. Attribute: ``retry_after`` (seconds until the server accepts it)."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QuotaExceeded(SmcError):
    """A server quota is full (a recipient's queue, stored key packages, rooms
    created...); nothing was stored."""


class InvalidRequest(SmcError, ValueError):
    """A request the protocol does not allow (a bad name, a version mismatch...)."""


class ServerFailure(SmcError):
    """The server failed to carry out the request; nothing was stored."""


class StorageFull(ServerFailure):
    """The server's disk is full: nothing was stored (reads still work); retry later."""


class FileUnavailable(SmcError, LookupError):
    """The file is not on the server: unknown, its upload not complete, not yours to
    read (you are not a member of its room), or deleted after the server's retention."""


class Cancelled(SmcError):
    """The transfer was stopped by its progress callback (a download leaves nothing at
    its destination)."""


class DeviceRevoked(SmcError):
    """This device was revoked by its user (from another device): the server refuses it
    from then on, and the client stops reconnecting."""


class LinkRefused(SmcError):
    """Linking a device failed: no offer at that code (none, expired or already used), a
    code that does not match, or a device that may not link or be linked."""


class RequestTimeout(SmcError, TimeoutError):
    """The server did not answer in time."""


class NotText(ProtocolError, ValueError):
    """Bytes that are not UTF-8 text where text is expected (a message's payload, a
    legacy peer's line). A ``ProtocolError`` and a ``ValueError``."""


__all__ += [
    "ServerKeyChanged",
    "ServerNotTrusted",
    "NotAMember",
    "UnknownUser",
    "UnknownRoom",
    "RoomExists",
    "NameTaken",
    "StaleEpoch",
    "NoKeyPackage",
    "RateLimited",
    "QuotaExceeded",
    "NotInvited",
    "RegistrationRefused",
    "InvalidRequest",
    "ServerFailure",
    "StorageFull",
    "FileUnavailable",
    "Cancelled",
    "DeviceRevoked",
    "LinkRefused",
    "RequestTimeout",
    "NotText",
]


class EncryptionError(SmcError):
    """End-to-end encryption (MLS) failed or refused an operation."""


class KeyChanged(EncryptionError):
    """A member's key changed since this client last saw it (their safety number is
    new). Sending to rooms they are in is refused until ``Client.verify(user)`` or
    ``Client.acknowledge_key_change(user)``. Attribute: ``user``."""

    def __init__(self, message: str, user: str) -> None:
        super().__init__(message)
        self.user = user


class Undecryptable(EncryptionError):
    """A message that cannot be read (replayed, forged, from a non-member, not bound to
    its room and sender...). It was skipped; the next ``recv`` goes on. Attributes:
    ``room``, ``seq``, ``sender`` (as the server claims) and ``reason``."""

    def __init__(self, message: str, room: str, seq: int, sender: str, reason: str) -> None:
        super().__init__(message)
        self.room = room
        self.seq = seq
        self.sender = sender
        self.reason = reason


class WrongPassphrase(EncryptionError):
    """The passphrase does not open the client's state (or one is needed)."""


__all__ += ["EncryptionError", "KeyChanged", "Undecryptable", "WrongPassphrase"]
