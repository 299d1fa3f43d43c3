"""smc: Security Message Communication.

A Rust core with Python bindings. The messenger: :class:`Server` (Noise-encrypted
transport, rooms, durable SQLite store) and :class:`Client` (a user's identity, pinned
server keys, real-time and offline delivery of :class:`Message` objects).

It also keeps the legacy SMC system, byte-exact:
the original cipher functions (``smc.crypt``, ``smc.decrypt``...) under their original
names, also in :mod:`smc.client`, and Pythonic aliases in :mod:`smc.legacy`; the
legacy server and client (:class:`LegacyServer`, :class:`LegacyClient`, and the drop-in
modules :mod:`smc.server` and :mod:`smc.client`).

.. warning:: The legacy affine cipher gives **no security**; it is kept only so that
   the original scripts keep working.
"""

from __future__ import annotations

from . import aio, legacy
from ._smc import (
    Attachment,
    Client,
    Device,
    Event,
    LegacyClient,
    LegacyServer,
    Message,
    Server,
    __version__,
    probe_server,
)
from ._original import (
    chiffrementAffine,
    crypt,
    dechiffrementAffine,
    decrypt,
    inverse,
    pgcd,
)
from .exceptions import (
    CipherError,
    ConnectionClosed,
    EncryptionError,
    KeyChanged,
    Undecryptable,
    WrongPassphrase,
    InvalidRequest,
    MessageTooLong,
    NameTaken,
    NoKeyPackage,
    NotAMember,
    NotATableEntry,
    NotCoprime,
    NotText,
    ProtocolError,
    RateLimited,
    QuotaExceeded,
    NotInvited,
    RegistrationRefused,
    RequestTimeout,
    RoomExists,
    ServerFailure,
    ServerKeyChanged,
    ServerNotTrusted,
    StorageFull,
    FileUnavailable,
    Cancelled,
    DeviceRevoked,
    LinkRefused,
    SmcError,
    SmcIOError,
    StaleEpoch,
    UnknownRoom,
    UnknownUser,
    UnsupportedCharacter,
)

__all__ = [
    "__version__",
    "aio",
    "legacy",
    "pgcd",
    "chiffrementAffine",
    "inverse",
    "dechiffrementAffine",
    "crypt",
    "decrypt",
    "SmcError",
    "CipherError",
    "UnsupportedCharacter",
    "NotCoprime",
    "NotATableEntry",
    "SmcIOError",
    "ConnectionClosed",
    "MessageTooLong",
    "ProtocolError",
    "LegacyServer",
    "LegacyClient",
    "Server",
    "Client",
    "Device",
    "probe_server",
    "Message",
    "Attachment",
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
    "Event",
    "EncryptionError",
    "KeyChanged",
    "Undecryptable",
    "WrongPassphrase",
]
