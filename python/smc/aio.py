"""smc for asyncio: :class:`Client`, with the same constructor arguments and methods
as :class:`smc.Client`, each a coroutine, and ``async for event in client.events()``.

Nothing here blocks the event loop. Calls run on a worker thread
(``asyncio.to_thread``; the Rust side releases the GIL), and waiting for an event
waits on the client's readiness descriptor with ``loop.add_reader``. That descriptor
is an eventfd, readable while a processed event waits. The client processes what
arrives on a thread of its own, so there is no polling.

Cancelling a task that awaits :meth:`Client.recv` or :meth:`Client.recv_event` loses
nothing: an event being taken at that moment is kept for the next call. Errors are the
same :class:`smc.SmcError` tree as the blocking client's.

Example::

    async with smc.aio.Client(home, "bot", auto_join=True) as bot:
        await bot.connect("127.0.0.1:7000")
        async for event in bot.events():
            if isinstance(event, smc.Message) and event.text == "!ping":
                await bot.send(event.room, "pong")
"""

from __future__ import annotations

import asyncio
import collections
import functools
import os
from types import TracebackType
from typing import Any, AsyncIterator, Callable, Deque, Sequence, TypeVar

from . import _smc
from ._smc import Attachment, Event, Message
from .exceptions import Undecryptable

__all__ = ["Client"]

T = TypeVar("T")


def _check_timeout(timeout: float | None) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if not timeout >= 0:
        raise ValueError("timeout must be a non-negative number of seconds, or None")


def _undecryptable(event: Event) -> Undecryptable:
    return Undecryptable(
        f"message {event.seq} of room {event.room} (from {event.user}, says the "
        f"server) cannot be read: {event.reason}",
        event.room,
        event.seq,
        event.user,
        event.reason,
    )


class Client:
    """A user's client for asyncio programs (see :class:`smc.Client` for each method).

    The home is opened by ``async with`` or by :meth:`open` (opening can take a while
    with a passphrase: Argon2id), on a worker thread.
    """

    def __init__(
        self,
        home: str | os.PathLike[str],
        user: str,
        passphrase: str | None = None,
        auto_join: bool = False,
        reconnect: bool = True,
    ) -> None:
        if not isinstance(user, str):
            raise TypeError(f"user must be str, not {type(user).__name__}")
        if passphrase is not None and not isinstance(passphrase, str):
            raise TypeError(f"passphrase must be str or None, not {type(passphrase).__name__}")
        self._args = (os.fspath(home), user, passphrase, bool(auto_join), bool(reconnect))
        self._client: _smc.Client | None = None
        # Events taken from the client but not handed out yet (a cancelled recv).
        self._kept: Deque[Message | Event] = collections.deque()
        self._taking: asyncio.Future[list[Message | Event]] | None = None

    @property
    def user(self) -> str:
        """The user's name."""
        return self._args[1]

    async def open(self) -> Client:
        """Opens the home (if not open yet); returns the client."""
        if self._client is None:
            home, user, passphrase, auto_join, reconnect = self._args
            self._client = await asyncio.to_thread(
                _smc.Client,
                home,
                user,
                passphrase=passphrase,
                auto_join=auto_join,
                reconnect=reconnect,
            )
        return self

    def _sync(self) -> _smc.Client:
        if self._client is None:
            raise RuntimeError("the client is not open: use `async with` or `await client.open()`")
        return self._client

    async def _call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(functools.partial(method, *args, **kwargs))

    async def connect(
        self,
        address: str | Sequence[str],
        fingerprint: str | None = None,
        token: str | None = None,
    ) -> str:
        """Connects to "host:port", or to the first of several addresses of one service
        that answers (see :meth:`smc.Client.connect`), opening the home first if
        needed; returns the address connected to. The client then stays connected
        (unless made with ``reconnect=False``): Events ``"disconnected"`` and
        ``"connected"`` say when it lost and regained the connection."""
        await self.open()
        used: str = await self._call(
            self._sync().connect, address, fingerprint=fingerprint, token=token
        )
        return used

    async def close(self) -> None:
        """Closes the client: its connection, state and home are released."""
        if self._client is not None:
            await self._call(self._client.close)

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the user's key."""
        return self._sync().fingerprint

    @property
    def connected(self) -> bool:
        """Whether a connection is open."""
        return self._client is not None and self._client.connected

    @property
    def device_id(self) -> str:
        """This device's id (16 hex digits)."""
        return self._sync().device_id

    async def link_code(self, timeout: float = 600) -> str:
        """Offers to link a new device of this user (see :meth:`smc.Client.link_code`):
        the one-time code to type on it."""
        code: str = await self._call(self._sync().link_code, timeout)
        return code

    async def link(
        self,
        address: str | Sequence[str],
        code: str,
        timeout: float | None = 60,
        name: str | None = None,
        history: bool = True,
        fingerprint: str | None = None,
    ) -> str:
        """Links this new home to its user's first device with the code shown there
        (see :meth:`smc.Client.link`), opening the home first if needed; returns the
        address linked through. The client then stays connected."""
        await self.open()
        used: str = await self._call(
            self._sync().link,
            address,
            code,
            timeout=timeout,
            name=name,
            history=history,
            fingerprint=fingerprint,
        )
        return used

    async def devices(self) -> list[_smc.Device]:
        """The user's devices (see :meth:`smc.Client.devices`)."""
        return await self._call(self._sync().devices)

    async def revoke_device(self, device_id: str) -> None:
        """Revokes the linked device `device_id` (only the first device revokes)."""
        await self._call(self._sync().revoke_device, device_id)

    async def create_room(self, name: str) -> None:
        """Creates room `name` (an end-to-end encrypted group) with this user alone in it."""
        await self._call(self._sync().create_room, name)

    async def invite(self, room: str, user: str) -> None:
        """Adds `user` to `room` (they accept, or join at once with auto-join)."""
        await self._call(self._sync().invite, room, user)

    async def leave(self, room: str) -> None:
        """Leaves `room`."""
        await self._call(self._sync().leave, room)

    async def accept(self, room: str) -> None:
        """Accepts the invitation to `room`."""
        await self._call(self._sync().accept, room)

    async def decline(self, room: str) -> None:
        """Declines the invitation to `room`."""
        await self._call(self._sync().decline, room)

    async def invitations(self) -> list[tuple[str, str]]:
        """The pending invitations: (room, inviter) pairs."""
        return await self._call(self._sync().invitations)

    async def rooms(self) -> list[str]:
        """The rooms whose group this client is in."""
        return await self._call(self._sync().rooms)

    async def members(self, room: str) -> list[str]:
        """The members of `room` who joined, sorted (see `invitees`)."""
        return await self._call(self._sync().members, room)

    async def invitees(self, room: str) -> list[str]:
        """The members of `room` invited who have not accepted yet, sorted."""
        return await self._call(self._sync().invitees, room)

    async def send(self, room: str, text: str) -> str:
        """Encrypts and sends `text`; returns the message id once the server stored it."""
        return await self._call(self._sync().send, room, text)

    async def send_file(
        self,
        room: str,
        path: str | os.PathLike[str],
        name: str | None = None,
        mime: str | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> str:
        """Sends the file at `path` to `room` (see ``smc.Client.send_file``); the
        transfer runs in a worker thread, `progress` is called from it."""
        return await self._call(self._sync().send_file, room, path, name, mime, progress)

    async def download(
        self,
        attachment: Attachment,
        path: str | os.PathLike[str],
        progress: Callable[[int, int], object] | None = None,
    ) -> None:
        """Downloads `attachment` into `path` (see ``smc.Client.download``)."""
        return await self._call(self._sync().download, attachment, path, progress)

    async def history(self, room: str, limit: int = 100, before: int | None = None) -> list[Message]:
        """The last `limit` messages of `room`, oldest first (before message `before`)."""
        return await self._call(self._sync().history, room, limit, before)

    async def safety_number(self, user: str) -> str:
        """The safety number shared with `user`: compare it out of band."""
        return await self._call(self._sync().safety_number, user)

    async def verify(self, user: str) -> None:
        """Marks `user`'s key as verified (also acknowledges a key change)."""
        await self._call(self._sync().verify, user)

    async def acknowledge_key_change(self, user: str) -> None:
        """Acknowledges that `user`'s key changed, without verifying it."""
        await self._call(self._sync().acknowledge_key_change, user)

    async def is_verified(self, user: str) -> bool:
        """Whether `user`'s current key was verified."""
        return await self._call(self._sync().is_verified, user)

    async def _readable(self) -> None:
        """Waits until the readiness descriptor is readable (an event waits)."""
        loop = asyncio.get_running_loop()
        fd = self._sync().fileno()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            loop.remove_reader(fd)

    async def _take(self, take: Callable[[], list[Message | Event]]) -> None:
        """Runs `take` on a worker thread and keeps what it took in ``self._kept``.
        Shielded: cancelling the caller never cancels the taking; what it takes is
        handed out by the next call."""
        if self._taking is None:
            self._taking = asyncio.ensure_future(asyncio.to_thread(take))
        taking = self._taking
        try:
            taken = await asyncio.shield(taking)
        except asyncio.CancelledError:
            if taking.done() and not taking.cancelled():
                self._taking = None
                if taking.exception() is None:
                    self._kept.extend(taking.result())
            raise
        except BaseException:
            self._taking = None
            raise
        self._taking = None
        self._kept.extend(taken)

    def _take_one(self) -> list[Message | Event]:
        event = self._sync().recv_event(0)
        return [] if event is None else [event]

    async def _next(self) -> Message | Event:
        while True:
            if self._kept:
                return self._kept.popleft()
            await self._take(self._take_one)
            if not self._kept:
                await self._readable()

    def _kept_messages(self, max: int) -> list[Message]:
        """Messages from the front of ``self._kept``, up to `max`, passing over other
        events and stopping before an unreadable message (raised when it comes first)."""
        batch: list[Message] = []
        while self._kept and len(batch) < max:
            event = self._kept[0]
            if isinstance(event, Message):
                batch.append(event)
                self._kept.popleft()
            elif event.kind == "undecryptable":
                if batch:
                    break
                self._kept.popleft()
                raise _undecryptable(event)
            else:
                self._kept.popleft()
        return batch

    async def _next_many(self, max: int) -> list[Message]:
        while True:
            batch = self._kept_messages(max)
            if batch:
                return batch
            if self._kept:
                continue
            sync = self._sync()
            await self._take(lambda: list(sync.recv_many(max, 0)))
            if not self._kept:
                await self._readable()

    async def recv_event(self, timeout: float | None = None) -> Message | Event | None:
        """The next event (a Message or an Event), or None after `timeout` seconds."""
        _check_timeout(timeout)
        try:
            return await asyncio.wait_for(self._next(), timeout)
        except asyncio.TimeoutError:
            return None

    async def recv(self, timeout: float | None = None) -> Message | None:
        """The next message from someone else, or None after `timeout` seconds; a
        message that cannot be read raises :class:`smc.Undecryptable`."""
        batch = await self.recv_many(1, timeout)
        return batch[0] if batch else None

    async def recv_many(self, max: int = 256, timeout: float | None = None) -> list[Message]:
        """The next message and those waiting behind it, up to `max` (at most 1024),
        taken at once (see :meth:`smc.Client.recv_many`); ``[]`` after `timeout`
        seconds. A batch stops before a message that cannot be read: the next call
        raises :class:`smc.Undecryptable` for it. Cancelling the call loses no message:
        a batch being taken at that moment is kept for the next call (only the report
        of an unreadable message met by a cancelled call can be lost)."""
        if isinstance(max, bool) or not isinstance(max, int):
            raise TypeError(f"max must be an int, not {type(max).__name__}")
        if max < 1:
            raise ValueError("max must be at least 1")
        _check_timeout(timeout)
        try:
            return await asyncio.wait_for(self._next_many(min(max, 1024)), timeout)
        except asyncio.TimeoutError:
            return []

    async def events(self) -> AsyncIterator[Message | Event]:
        """Every event as it comes, until the connection closes
        (:class:`smc.ConnectionClosed`) or the iterating task is cancelled."""
        while True:
            event = await self.recv_event()
            if event is not None:
                yield event

    async def __aenter__(self) -> Client:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<smc.aio.Client user={self.user!r}>"
