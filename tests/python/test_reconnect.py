"""A client that keeps itself connected, through the wheel: its server stopped and
started again on the same address, a smc.Client (and a smc.aio.Client) says so with the
Events "disconnected" and "connected", gets back by itself, and receives what it missed
once; with reconnect=False it says so and stays away."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import services
import smc
import smc.aio


def next_kind(client: smc.Client, kind: str, timeout: float = 20) -> smc.Event:
    """The next Event of `kind` (others passed over)."""
    deadline = time.monotonic() + timeout
    seen: list[object] = []
    while (left := deadline - time.monotonic()) > 0:
        e = client.recv_event(timeout=left)
        if isinstance(e, smc.Event) and e.kind == kind:
            return e
        seen.append(e)
    raise AssertionError(f"no {kind!r} event in {timeout} s; saw {seen}")


def test_a_client_gets_back_by_itself_after_a_server_restart(tmp_path: Path) -> None:
    data = tmp_path / "server"
    bob = smc.Client(tmp_path / "b", "bob", auto_join=True)
    alice = smc.Client(tmp_path / "a", "alice")
    with smc.Server(data, port=services.free_port()) as first:
        address = first.address
        alice.connect(address)
        bob.connect(address)
        alice.create_room("r")
        alice.invite("r", "bob")
        alice.send("r", "before")
        m = bob.recv(timeout=10)
        assert m is not None and m.text == "before"
    lost = next_kind(bob, "disconnected")
    assert lost.retrying and lost.reason
    host, port = address.rsplit(":", 1)
    with smc.Server(data, host=host, port=int(port)):
        # alice waits for the connection too, then sends what bob missed.
        alice.send("r", "missed")
        back = next_kind(bob, "connected")
        assert back.address == address
        m = bob.recv(timeout=10)
        assert m is not None and m.text == "missed"
        assert bob.recv(timeout=0.3) is None
        bob.send("r", "back")
        m = alice.recv(timeout=10)
        assert m is not None and m.text == "back"
    bob.close()
    alice.close()


def test_with_reconnect_false_the_loss_is_said_and_the_client_stays_away(tmp_path: Path) -> None:
    data = tmp_path / "server"
    bob = smc.Client(tmp_path / "b", "bob", reconnect=False)
    with smc.Server(data, port=services.free_port()) as first:
        address = first.address
        bob.connect(address)
    lost = next_kind(bob, "disconnected")
    assert not lost.retrying
    host, port = address.rsplit(":", 1)
    with smc.Server(data, host=host, port=int(port)):
        time.sleep(1.5)
        with pytest.raises(smc.ConnectionClosed):
            bob.recv(timeout=1)
        assert not bob.connected
        bob.connect(address)  # the program reconnects itself
        assert bob.connected
    bob.close()


def test_an_asyncio_client_gets_back_by_itself(tmp_path: Path) -> None:
    data = tmp_path / "server"

    async def main() -> None:
        async with smc.aio.Client(tmp_path / "b", "bob") as bob:
            with smc.Server(data, port=services.free_port()) as first:
                address = first.address
                await bob.connect(address)
            kinds: list[str] = []
            host, port = address.rsplit(":", 1)
            with smc.Server(data, host=host, port=int(port)):
                while "connected" not in kinds:
                    e = await bob.recv_event(timeout=20)
                    assert isinstance(e, smc.Event), f"{e!r} after {kinds}"
                    kinds.append(e.kind)
                assert kinds == ["disconnected", "connected"]
                assert bob.connected

    asyncio.run(main())


def test_a_server_that_comes_back_with_another_key_stops_the_reconnection(tmp_path: Path) -> None:
    bob = smc.Client(tmp_path / "b", "bob")
    with smc.Server(tmp_path / "server") as first:
        address = first.address
        bob.connect(address)
    assert next_kind(bob, "disconnected").retrying
    host, port = address.rsplit(":", 1)
    # Another key on the same address: the client gives up and says why.
    with smc.Server(tmp_path / "impostor", host=host, port=int(port)):
        final = next_kind(bob, "disconnected")
        assert not final.retrying
        assert "pinned" in final.reason, final.reason
        time.sleep(1.5)
        assert not bob.connected
        with pytest.raises(smc.ServerKeyChanged):
            bob.connect(address)
    bob.close()
