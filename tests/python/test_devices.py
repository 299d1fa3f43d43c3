"""Linked devices through the wheel: a code shown by the first device links a new
home, which then chats... as the same user from its own key; both list the same
devices; a wrong code raises LinkRefused and spends the offer; a revoked device is
refused with DeviceRevoked. The same through smc.aio."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import smc
import smc.aio


def next_kind(client: smc.Client, kind: str, timeout: float = 20) -> smc.Event:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        e = client.recv_event(timeout=left)
        if isinstance(e, smc.Event) and e.kind == kind:
            return e
    raise AssertionError(f"no {kind!r} event in {timeout} s")


def test_a_linked_device_is_its_users_and_a_revoked_one_is_refused(tmp_path: Path) -> None:
    with smc.Server(tmp_path / "server") as server:
        alice = smc.Client(tmp_path / "alice", "alice")
        alice.connect(server.address)
        code = alice.link_code(timeout=600)
        laptop = smc.Client(tmp_path / "laptop", "alice")
        assert laptop.link(server.address, code, name="laptop") == server.address
        linked = next_kind(alice, "device_linked")
        assert (linked.device, linked.device_name) == (laptop.device_id, "laptop")

        for me in (alice, laptop):
            devices = me.devices()
            assert [d.id for d in devices] == [alice.device_id, laptop.device_id]
            assert [d.current for d in devices] == [me is alice, me is laptop]
            assert devices[0].linked_at is None
            assert devices[1].name == "laptop" and devices[1].linked_at is not None
        assert laptop.invitations() == []

        with pytest.raises(smc.LinkRefused):
            laptop.link_code()
        alice.revoke_device(laptop.device_id)
        assert [d.id for d in alice.devices()] == [alice.device_id]
        next_kind(laptop, "device_revoked")
        gone = next_kind(laptop, "disconnected")
        assert not gone.retrying
        laptop.close()
        with pytest.raises(smc.DeviceRevoked):
            laptop.connect(server.address)
        with pytest.raises(TypeError):
            alice.revoke_device(42)  # type: ignore[arg-type]
        with pytest.raises(smc.InvalidRequest):
            alice.revoke_device("not an id")
        alice.close()


def test_a_wrong_code_raises_link_refused_and_spends_the_offer(tmp_path: Path) -> None:
    with smc.Server(tmp_path / "server") as server:
        alice = smc.Client(tmp_path / "alice", "alice")
        alice.connect(server.address)
        code = alice.link_code()
        wrong = code[:-1] + ("1" if code[-1] == "0" else "0")
        guess = smc.Client(tmp_path / "guess", "alice")
        with pytest.raises(smc.LinkRefused):
            guess.link(server.address, wrong, timeout=20)
        late = smc.Client(tmp_path / "late", "alice")
        with pytest.raises(smc.LinkRefused):
            late.link(server.address, code, timeout=20)
        # A closed client opens its home again to link, as to connect.
        late.close()
        with pytest.raises(smc.LinkRefused):
            late.link(server.address, code, timeout=20)
        assert len(alice.devices()) == 1
        with pytest.raises(ValueError):
            alice.link_code(timeout=-1)
        alice.close()


def test_the_same_through_asyncio(tmp_path: Path) -> None:
    async def main(address: str) -> None:
        async with smc.aio.Client(tmp_path / "alice", "alice") as alice:
            await alice.connect(address)
            code = await alice.link_code()
            async with smc.aio.Client(tmp_path / "laptop", "alice") as laptop:
                await laptop.link(address, code, name="aio laptop")
                ids = [d.id for d in await alice.devices()]
                assert ids == [alice.device_id, laptop.device_id]
                await alice.revoke_device(laptop.device_id)
                assert len(await alice.devices()) == 1

    with smc.Server(tmp_path / "server") as server:
        asyncio.run(main(server.address))
