"""smc.aio through the installed wheel: many clients in one event loop, a loop that is
never blocked, cancellation that loses nothing, errors from the same tree, and the
example echo bot answering for real."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

import smc
import smc.aio

EXAMPLES = Path(__file__).resolve().parents[2] / "python" / "examples"


async def heartbeat(gaps: list[float], stop: asyncio.Event) -> None:
    """Ticks every 10 ms and records how late each tick was."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.01)
        gaps.append(loop.time() - before - 0.01)


def test_twenty_clients_in_one_loop_chat_and_the_loop_is_never_blocked(tmp_path: Path) -> None:
    async def main(address: str) -> float:
        stop = asyncio.Event()
        gaps: list[float] = []
        beat = asyncio.create_task(heartbeat(gaps, stop))
        clients = [smc.aio.Client(tmp_path / f"u{i}", f"u{i}", auto_join=True) for i in range(20)]
        for c in clients:
            await c.open()
        await asyncio.gather(*(c.connect(address) for c in clients))
        host = clients[0]
        await host.create_room("lobby")
        for c in clients[1:]:
            await host.invite("lobby", c.user)
        # Every member joined on its own (no recv needed to be current).
        for c in clients[1:]:
            for _ in range(200):
                if "lobby" in await c.rooms():
                    break
                await asyncio.sleep(0.05)
            # All can read the room; those who have not accepted yet are invitees (two
            # calls, so one who joins between them is in neither: asked again).
            want = sorted(x.user for x in clients)
            for _ in range(20):
                everyone = await c.members("lobby") + await c.invitees("lobby")
                if sorted(everyone) == want:
                    break
            assert sorted(everyone) == want

        async def collect(c: smc.aio.Client, want: int) -> list[str]:
            got: list[str] = []
            while len(got) < want:
                m = await c.recv(timeout=20)
                assert m is not None, f"{c.user} got only {got}"
                got.append(m.text)
            return got

        # Everyone says one thing; everyone reads the 19 others, all at once.
        readers = [asyncio.create_task(collect(c, 19)) for c in clients]
        await asyncio.gather(*(c.send("lobby", f"hi from {c.user}") for c in clients))
        results = await asyncio.gather(*readers)
        for c, got in zip(clients, results):
            assert sorted(got) == sorted(f"hi from {x.user}" for x in clients if x is not c)
        stop.set()
        await beat
        for c in clients:
            await c.close()
        return max(gaps)

    with smc.Server(tmp_path / "server") as server:
        worst = asyncio.run(main(server.address))
    print(f"longest heartbeat delay: {worst * 1000:.1f} ms")
    # A blocking call on the loop would hold it for a whole network wait (seconds);
    # the bound is loose because this machine is shared and noisy.
    assert worst < 0.5, f"the event loop was blocked for {worst:.3f} s"


def test_cancelling_a_pending_recv_loses_nothing(tmp_path: Path) -> None:
    async def main(address: str) -> None:
        async with smc.aio.Client(tmp_path / "a", "alice", auto_join=True) as alice, smc.aio.Client(
            tmp_path / "b", "bob", auto_join=True
        ) as bob:
            await alice.connect(address)
            await bob.connect(address)
            await alice.create_room("r")
            await alice.invite("r", "bob")
            waiting = asyncio.create_task(bob.recv())
            await asyncio.sleep(0.2)
            assert not waiting.done()
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            # The cancelled wait took nothing away: the next message is received.
            await alice.send("r", "after the cancel")
            m = await bob.recv(timeout=10)
            assert m is not None and m.text == "after the cancel"

    with smc.Server(tmp_path / "server") as server:
        asyncio.run(main(server.address))


def test_cancelled_recvs_hand_out_what_they_took(tmp_path: Path) -> None:
    """Every message arrives exactly once across cancelled and completed recvs."""

    async def main(address: str) -> None:
        async with smc.aio.Client(tmp_path / "a", "alice", auto_join=True) as alice, smc.aio.Client(
            tmp_path / "b", "bob", auto_join=True
        ) as bob:
            await alice.connect(address)
            await bob.connect(address)
            await alice.create_room("r")
            await alice.invite("r", "bob")
            for i in range(30):
                await alice.send("r", f"m{i}")
            seen: list[str] = []
            cancelled_in_flight = 0
            deadline = time.monotonic() + 60
            while len(seen) < 30:
                assert time.monotonic() < deadline, f"only {seen} after 60 s"
                t = asyncio.create_task(bob.recv(timeout=5))
                await asyncio.sleep(0)
                if len(seen) % 3 == 0:
                    t.cancel()
                try:
                    result = await t
                except asyncio.CancelledError:
                    cancelled_in_flight += 1
                    continue
                # Any other error is the test's failure, raised above; None: nothing came.
                assert result is not None, f"nothing more after {seen}"
                seen.append(result.text)
            assert seen == [f"m{i}" for i in range(30)]
            assert cancelled_in_flight > 0, "no cancel hit a recv in flight"

    with smc.Server(tmp_path / "server") as server:
        asyncio.run(main(server.address))


def test_errors_are_the_same_tree_and_arguments_are_checked(tmp_path: Path) -> None:
    async def main(address: str) -> None:
        async with smc.aio.Client(tmp_path / "a", "alice") as alice:
            await alice.connect(address)
            with pytest.raises(smc.UnknownRoom):
                await alice.send("nowhere", "hello?")
            with pytest.raises(smc.SmcError):
                await alice.invite("nowhere", "bob")
            with pytest.raises(TypeError):
                await alice.send("r", 42)  # type: ignore[arg-type]
            with pytest.raises(ValueError):
                await alice.recv(timeout=-1)
            assert await alice.recv_event(timeout=0.1) is None
        with pytest.raises(TypeError):
            smc.aio.Client(tmp_path / "x", 42)  # type: ignore[arg-type]

    with smc.Server(tmp_path / "server") as server:
        asyncio.run(main(server.address))


def test_the_example_echo_bot_answers_ping(tmp_path: Path) -> None:
    with smc.Server(tmp_path / "server") as server:
        # The bot's key must be known before it can be invited: it connects first.
        bot = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "echo_bot.py"), str(tmp_path / "bot"), server.address, "--answers", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert bot.stdout is not None
            assert "connected" in bot.stdout.readline()
            with smc.Client(tmp_path / "a", "alice", auto_join=True) as alice:
                alice.connect(server.address)
                for room in ["one", "two"]:
                    alice.create_room(room)
                    alice.invite(room, "echo")
                    alice.send(room, "!ping")
                got = []
                deadline = time.monotonic() + 30
                while len(got) < 2 and time.monotonic() < deadline:
                    m = alice.recv(timeout=1)
                    if m is not None:
                        got.append((m.room, m.sender, m.text))
                assert sorted(got) == [("one", "echo", "pong, alice"), ("two", "echo", "pong, alice")]
            out, err = bot.communicate(timeout=30)
            assert bot.returncode == 0, err
            assert "answered alice in #two" in out or "answered alice in #one" in out
        finally:
            if bot.poll() is None:
                bot.kill()


def test_recv_many_takes_batches_and_a_cancelled_batch_is_kept(tmp_path: Path) -> None:
    """Every message arrives exactly once, in order, across cancelled and completed
    recv_many calls; batches never exceed max."""

    async def main(address: str) -> None:
        async with smc.aio.Client(tmp_path / "a", "alice", auto_join=True) as alice, smc.aio.Client(
            tmp_path / "b", "bob", auto_join=True
        ) as bob:
            await alice.connect(address)
            await bob.connect(address)
            await alice.create_room("r")
            await alice.invite("r", "bob")
            for i in range(60):
                await alice.send("r", f"m{i}")
            seen: list[str] = []
            rounds = 0
            cancelled_in_flight = 0
            deadline = time.monotonic() + 60
            while len(seen) < 60:
                assert time.monotonic() < deadline, f"only {seen} after 60 s"
                t = asyncio.create_task(bob.recv_many(max=7, timeout=5))
                await asyncio.sleep(0)
                if rounds % 2 == 0:
                    t.cancel()
                rounds += 1
                try:
                    result = await t
                except asyncio.CancelledError:
                    cancelled_in_flight += 1
                    continue
                assert len(result) <= 7
                assert all(isinstance(m, smc.Message) for m in result)
                assert result, f"nothing more after {seen}"
                seen.extend(m.text for m in result)
            assert seen == [f"m{i}" for i in range(60)]
            assert cancelled_in_flight > 0, "no cancel hit a recv_many in flight"
            assert await bob.recv_many(timeout=0.2) == []
            # recv and recv_event go on from the same place.
            await alice.send("r", "one more")
            m = await bob.recv(timeout=10)
            assert m is not None and m.text == "one more"
            with pytest.raises(ValueError):
                await bob.recv_many(max=0)
            with pytest.raises(TypeError):
                await bob.recv_many(max="3")  # type: ignore[arg-type]

    with smc.Server(tmp_path / "server") as server:
        asyncio.run(main(server.address))
