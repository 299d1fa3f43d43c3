"""The Python API against three server nodes on one PostgreSQL and one NATS server:
three ``python -m smc server --store ... --bus ...`` processes sharing one key. Members
on different nodes chat in real time; a member whose node is killed (SIGKILL) moves to
another one with ``connect([...])`` and nothing acknowledged is lost. Also
``smc.Server(store=..., bus=...)`` in this process, as a fourth node."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import services
import smc


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[Path, int]]:
    yield from services.postgres()


@pytest.fixture(scope="module")
def nats() -> Iterator[str]:
    yield from services.nats()


def node(data: Path, url: str, bus: str) -> tuple[subprocess.Popen[str], str]:
    """``python -m smc server`` on ``data``: the process and the address it listens on."""
    process = subprocess.Popen(
        [sys.executable, "-m", "smc", "server", "--listen", "127.0.0.1:0", "--admin-listen", "off",
         "--store", url, "--bus", bus, "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("smc server listening on "), first
    return process, first.split()[4]


def test_members_on_three_nodes_chat_and_one_moves_when_its_node_is_killed(
    tmp_path: Path, postgres: tuple[Path, int], nats: str
) -> None:
    url = services.database(postgres, "py_cluster")
    dirs = [tmp_path / f"node{i}" for i in range(3)]
    processes: list[subprocess.Popen[str]] = []
    try:
        first, address = node(dirs[0], url, nats)
        processes.append(first)
        addresses = [address]
        # One key for the cluster: the first node's, copied to the others (0600 kept).
        for d in dirs[1:]:
            d.mkdir()
            shutil.copy2(dirs[0] / "server.key", d / "server.key")
            process, address = node(d, url, nats)
            processes.append(process)
            addresses.append(address)
        alice = smc.Client(tmp_path / "alice", "alice", auto_join=True)
        bob = smc.Client(tmp_path / "bob", "bob", auto_join=True)
        assert alice.connect(addresses) == addresses[0]
        bob_list = addresses[1:] + addresses[:1]
        assert bob.connect(bob_list) == addresses[1]
        alice.create_room("r")
        alice.invite("r", "bob")
        alice.send("r", "from node 0")
        m = bob.recv(timeout=20)
        assert m is not None and (m.sender, m.text) == ("alice", "from node 0")
        bob.send("r", "from node 1")
        m = alice.recv(timeout=20)
        assert m is not None and m.text == "from node 1"

        # bob's node is killed; his client moves to the next address of his list by
        # itself. A send made meanwhile waits for that, or (caught as the connection
        # died) fails and stays in the outbox, which goes out on the reconnection.
        processes[1].kill()
        processes[1].wait()
        try:
            bob.send("r", "while the node dies")
        except smc.SmcError:
            pass
        kinds = []
        while "connected" not in kinds:
            e = bob.recv_event(timeout=20)
            assert isinstance(e, smc.Event), (e, kinds)
            kinds.append(e.kind)
            if e.kind == "connected":
                assert e.address == addresses[2]
        assert kinds == ["disconnected", "connected"]
        bob.send("r", "from node 2")
        texts = []
        while (m := alice.recv(timeout=5)) is not None:
            texts.append(m.text)
        # The send made as the node died went out once: waiting for the reconnection,
        # or from the outbox on it. Whatever bob's client holds as sent, alice
        # received, once, in bob's order, and nothing else.
        sent = [m.text for m in bob.history("r") if m.sender == "bob" and m.text != "from node 1"]
        assert sent in (["from node 2"], ["while the node dies", "from node 2"]), sent
        assert texts == sent, (texts, sent)

        # A node in this process (smc.Server) joins the same cluster.
        extra = tmp_path / "node3"
        extra.mkdir()
        shutil.copy2(dirs[0] / "server.key", extra / "server.key")
        with smc.Server(extra, store=url, bus=nats) as fourth:
            assert fourth.fingerprint == alice.pinned_server(addresses[0])
            carol = smc.Client(tmp_path / "carol", "carol", auto_join=True)
            assert carol.connect([fourth.address]) == fourth.address
            alice.invite("r", "carol")
            alice.send("r", "to the fourth node")
            m = carol.recv(timeout=20)
            assert m is not None and m.text == "to the fourth node"
            carol.close()
        alice.close()
        bob.close()
    finally:
        for p in processes:
            p.kill()
            p.wait()
