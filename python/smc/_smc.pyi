"""Type stubs of the private extension module ``smc._smc`` (built from bindings/python)."""

import datetime
from types import TracebackType
from typing import Callable, Literal, Sequence, final


__all__ = [
    "__version__",
    "crypt",
    "decrypt",
    "encrypt",
    "decrypt_text",
    "pgcd",
    "inverse",
    "chiffrementAffine",
    "dechiffrementAffine",
    "TABLE",
    "CRYPT_NOT_COPRIME",
    "DECRYPT_NOT_COPRIME",
    "LegacyServer",
    "LegacyClient",
    "log_append",
    "log_connection",
    "list_log",
    "str_log",
    "process_response",
    "probe_server",
    "Server",
    "Client",
    "Device",
    "Message",
    "Attachment",
    "Event",
    "run_cli",
    "_error_kinds",
]
__version__: str
TABLE: list[str]
CRYPT_NOT_COPRIME: str
DECRYPT_NOT_COPRIME: str

def crypt(M: str, a: int, b: int) -> str: ...
def decrypt(M: str, a: int, b: int) -> str: ...
def encrypt(text: str, a: int | None = None, b: int | None = None) -> str: ...
def decrypt_text(text: str, a: int | None = None, b: int | None = None) -> str: ...
def pgcd(a: int, b: int) -> int: ...
def inverse(a: int) -> int: ...
def probe_server(address: str) -> str: ...
def chiffrementAffine(a: int, b: int, L: str) -> str: ...
def dechiffrementAffine(a: int, b: int, L: str) -> str: ...

from os import PathLike

@final
class LegacyServer:
    """A legacy SMC server on background threads (insecure legacy protocol)."""

    def __new__(
        cls,
        host: str = "127.0.0.1",
        port: int = 50100,
        log_dir: str | PathLike[str] | None = None,
        verbose: bool = False,
    ) -> LegacyServer: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...
    @property
    def port(self) -> int | None: ...
    @property
    def address(self) -> str | None: ...
    @property
    def running(self) -> bool: ...
    def __enter__(self) -> LegacyServer: ...
    def __exit__(self, *args: object) -> bool: ...

@final
class LegacyClient:
    """A connection to a legacy SMC server (insecure legacy protocol)."""

    def __new__(cls, host: str = "127.0.0.1", port: int = 50100, client_id: str = ...) -> LegacyClient: ...
    @property
    def tag(self) -> str: ...
    def message_for(self, text: str) -> str: ...
    def exchange(self, message: str) -> str: ...
    def send(self, text: str) -> str | None: ...
    def close(self) -> None: ...
    def __enter__(self) -> LegacyClient: ...
    def __exit__(self, *args: object) -> bool: ...

def log_append(log_dir: str | PathLike[str], data: str) -> None: ...
def log_connection(log_dir: str | PathLike[str], description: str) -> None: ...
def list_log(log_dir: str | PathLike[str]) -> list[list[str]]: ...
def str_log(data: list[list[str]]) -> str: ...
def process_response(data: str, data2: str, messager: int) -> tuple[str | None, int]: ...


@final
class Server:
    """An smc server: Noise_XX transport, rooms, SQLite store in ``data_dir``.

    ``with Server(dir) as s:`` starts it on entry and stops it on exit.
    """

    def __new__(
        cls,
        data_dir: str | PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        admin_listen: str | None = None,
        store: str | None = None,
        bus: str | None = None,
    ) -> Server:
        """``store``: None for SQLite in ``data_dir``, or a PostgreSQL URL
        (``"postgres://user@host:port/db"``) shared by several servers.
        ``bus``: None for a single server, or a NATS URL (``"nats://host:4222"``)
        that the nodes of a cluster share (with the store and the key file
        ``server.key`` of ``data_dir``)."""
    def start(self) -> None: ...
    @property
    def admin_address(self) -> str | None:
        """``host:port`` of the admin listener (``GET /metrics``, ``GET /healthz``), or
        None without one (``admin_listen="127.0.0.1:0"`` starts one on a free port)."""
    def stop(self) -> None: ...
    @property
    def running(self) -> bool: ...
    @property
    def address(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...
    def __enter__(self) -> Server: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...

@final
class Message:
    """A chat message as stored by the server."""

    @property
    def id(self) -> str: ...
    @property
    def room(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def sender(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def timestamp(self) -> datetime.datetime: ...
    @property
    def attachment(self) -> Attachment | None:
        """The file this message carries, or None for a text (whose ``text`` it has)."""

@final
class Device:
    """One of the user's devices (``Client.devices``)."""

    @property
    def id(self) -> str:
        """Its id (16 hex digits)."""
    @property
    def name(self) -> str:
        """Its name ("first device" for the one that registered the name)."""
    @property
    def current(self) -> bool:
        """Whether it is this client's device."""
    @property
    def linked_at(self) -> datetime.datetime | None:
        """When it was linked (UTC), or None for the first device."""

@final
class Attachment:
    """A file a message carries, as its sender announced it inside the encryption:
    pass it to ``Client.download``. The server never sees its name or content."""

    @property
    def name(self) -> str:
        """The name its sender gave it (anything: save under ``safe_name``)."""
    @property
    def safe_name(self) -> str:
        """The name made safe to save under in a directory: no separators, no "..",
        no control or invisible characters, not hidden."""
    @property
    def size(self) -> int:
        """Its size in bytes."""
    @property
    def mime(self) -> str:
        """Its media type (``application/octet-stream`` when the sender gave none)."""
    @property
    def sha256(self) -> str:
        """The SHA-256 of its content, in hex (checked by ``Client.download``)."""

@final
class Event:
    """Something that happened in a room other than a message (see ``Client.recv_event``)."""

    @property
    def kind(self) -> Literal[
        "invited",
        "joined",
        "members_changed",
        "member_joined",
        "removed",
        "key_changed",
        "missing",
        "undecryptable",
        "disconnected",
        "connected",
        "device_linked",
        "device_revoked",
    ]: ...
    @property
    def room(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def added(self) -> list[str]: ...
    @property
    def removed(self) -> list[str]: ...
    @property
    def count(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def retrying(self) -> bool: ...
    @property
    def address(self) -> str: ...
    @property
    def device(self) -> str:
        """The new device's id (``"device_linked"``)."""
    @property
    def device_name(self) -> str:
        """The new device's name (``"device_linked"``)."""

@final
class Client:
    """A user's client. Every room is end-to-end encrypted (MLS). ``home`` keeps its
    keys, pinned servers, groups and decrypted history; with ``passphrase`` that state
    is encrypted at rest (Argon2id + SQLCipher), otherwise it is readable by its owner
    only (0600).

    What arrives is processed by a thread of the client's own as it arrives (messages
    decrypted and stored, invitations accepted with ``auto_join``, group changes), so
    ``rooms()``, ``members()``, ``safety_number()`` agree at any moment; ``recv`` and
    ``recv_event`` hand out what was processed. ``fileno()`` is readable while an event
    waits (``select``, ``loop.add_reader``; :mod:`smc.aio` builds on it).

    After ``connect`` the client stays connected: a lost connection is reconnected by
    that thread, with backoff, and said by the Events ``"disconnected"`` and
    ``"connected"``; calls made meanwhile wait for it. ``reconnect=False`` leaves that
    to the program (``"disconnected"`` is still said)."""

    def __new__(
        cls,
        home: str | PathLike[str],
        user: str,
        passphrase: str | None = None,
        auto_join: bool = False,
        reconnect: bool = True,
    ) -> Client: ...
    def fileno(self) -> int: ...
    @property
    def user(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def connected(self) -> bool: ...
    def connect(
        self,
        address: str | Sequence[str],
        fingerprint: str | None = None,
        token: str | None = None,
    ) -> str:
        """Connects to ``"host:port"``, or to the first of several addresses of one
        service that answers (tried in order); returns the address connected to."""
    def trust_server(self, address: str, fingerprint: str) -> None: ...
    def pinned_server(self, address: str) -> str | None: ...
    @property
    def device_id(self) -> str:
        """This device's id (16 hex digits)."""
    def link_code(self, timeout: float = 600.0) -> str:
        """Offers to link a new device of this user: the one-time code to type on it.
        Only the first device links (``LinkRefused`` otherwise); an Event
        ``"device_linked"`` says when it is linked."""
    def link(
        self,
        address: str | Sequence[str],
        code: str,
        timeout: float | None = 60.0,
        name: str | None = None,
        history: bool = True,
        fingerprint: str | None = None,
    ) -> str:
        """Links this new home to its user's first device with the code shown there,
        then stays connected; returns the address linked through. ``LinkRefused`` for
        a wrong, used or expired code."""
    def devices(self) -> list[Device]:
        """The user's devices, each checked against the user's identity key."""
    def revoke_device(self, device_id: str) -> None:
        """Revokes a linked device (only the first device revokes): its connections are
        closed and refused from then on (``DeviceRevoked``)."""
    def close(self) -> None: ...
    def create_room(self, name: str) -> None: ...
    def invite(self, room: str, user: str) -> None: ...
    def leave(self, room: str) -> None: ...
    def invitations(self) -> list[tuple[str, str]]: ...
    def accept(self, room: str) -> None: ...
    def decline(self, room: str) -> None: ...
    def rooms(self) -> list[str]:
        """The rooms whose group this client is in (not what the server claims)."""
    def members(self, room: str) -> list[str]:
        """The members of ``room`` who joined, sorted (see ``invitees``)."""
    def invitees(self, room: str) -> list[str]:
        """The members of ``room`` invited who have not accepted yet, sorted: they can
        read the room already; an ``Event`` ``member_joined`` says when each accepts."""
    def send(self, room: str, text: str) -> str: ...
    def send_file(
        self,
        room: str,
        path: str | PathLike[str],
        name: str | None = None,
        mime: str | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> str:
        """Sends the file at ``path`` to ``room``, end-to-end encrypted, in chunks (the
        server sees only sealed chunks and the size; the name and type travel inside
        the encryption). ``progress(done_bytes, total_bytes)`` is called as it goes;
        an exception it raises (or Ctrl-C) stops the upload and is raised here. A
        connection lost meanwhile is restored and the upload goes on where the server
        stopped. Returns the message id. Raises QuotaExceeded past the server's file
        size limit or your quota of stored files."""
    def download(
        self,
        attachment: Attachment,
        path: str | PathLike[str],
        progress: Callable[[int, int], object] | None = None,
    ) -> None:
        """Downloads ``attachment`` into ``path``: every chunk opened and checked, then
        the file's SHA-256; ``path`` appears only then. A tampered file raises
        Undecryptable and leaves nothing at ``path``; a file the server no longer has
        (retention) or that you may not read raises FileUnavailable."""
    def recv(self, timeout: float | None = None) -> Message | None:
        """The next message from someone else, or None after ``timeout`` seconds.
        ``None`` waits without end, as does a timeout too long for the clock
        (``math.inf``); a negative or NaN timeout raises ``ValueError``."""
    def recv_many(self, max: int = 256, timeout: float | None = None) -> list[Message]:
        """The next message and those waiting behind it, up to ``max`` (at most 1024),
        taken at once; ``[]`` after ``timeout`` seconds. A batch stops before a message
        that cannot be read: the next call raises :class:`smc.Undecryptable` for it."""
    def recv_event(self, timeout: float | None = None) -> Message | Event | None: ...
    def safety_number(self, user: str) -> str: ...
    def verify(self, user: str) -> None: ...
    def acknowledge_key_change(self, user: str) -> None: ...
    def is_verified(self, user: str) -> bool: ...
    def history(self, room: str, limit: int = 100, before: int | None = None) -> list[Message]:
        """The last ``limit`` messages, oldest first; with ``before`` (a ``seq``), the
        page placed before that message."""
    def __enter__(self) -> Client: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...

def run_cli(argv: list[str]) -> int:
    """Runs the ``smc`` program (``argv[0]`` is its name); returns the exit code."""
    ...

# For the tests: every error kind with the C status it maps to and the exception
# Python raises for it.
def _error_kinds() -> list[tuple[str, str, BaseException]]: ...
