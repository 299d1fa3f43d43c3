"""The Python API against three server nodes on one PostgreSQL and one NATS server
(``smc.Server(store=..., bus=...)``): members on different nodes chat in real time, and
a member whose node stops moves to another one with ``connect([...])``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import smc

import services


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[Path, int]]:
    yield from services.postgres()


@pytest.fixture(scope="module")
def nats() -> Iterator[str]:
    yield from services.nats()


def test_members_on_three_nodes_chat_and_one_moves_when_its_node_stops(
    tmp_path: Path, postgres: tuple[Path, int], nats: str
) -> None:
    url = services.database(postgres, "py_cluster")
    dirs = [tmp_path / f"node{i}" for i in range(3)]
    nodes = [smc.Server(d, store=url, bus=nats, admin_listen="127.0.0.1:0") for d in dirs]
    nodes[0].start()
    # One key for the cluster: the first node's, copied to the others (0600 kept).
    for d in dirs[1:]:
        d.mkdir()
        shutil.copy2(dirs[0] / "server.key", d / "server.key")
    for n in nodes[1:]:
        n.start()
    try:
        assert len({n.fingerprint for n in nodes}) == 1
        addresses = [n.address for n in nodes]
        alice = smc.Client(tmp_path / "alice", "alice", auto_join=True)
        bob = smc.Client(tmp_path / "bob", "bob", auto_join=True)
        assert alice.connect(addresses) == addresses[0]
        assert bob.connect(addresses[1:] + addresses[:1]) == addresses[1]
        alice.create_room("r")
        alice.invite("r", "bob")
        alice.send("r", "from node 0")
        m = bob.recv(timeout=20)
        assert m is not None and (m.sender, m.text) == ("alice", "from node 0")
        bob.send("r", "from node 1")
        m = alice.recv(timeout=20)
        assert m is not None and m.text == "from node 1"

        # bob's node stops; his next connect goes to the next address of his list.
        nodes[1].stop()
        with pytest.raises(smc.SmcError):
            bob.send("r", "while the node stops")
        assert bob.connect(addresses[1:] + addresses[:1]) == addresses[2]
        bob.send("r", "from node 2")
        texts = []
        while (m := alice.recv(timeout=5)) is not None:
            texts.append(m.text)
        # Whatever bob's client had to send again went out once, before the new one.
        assert texts[-1] == "from node 2"
        assert len(texts) == len(set(texts))
        alice.close()
        bob.close()
    finally:
        for n in nodes:
            n.stop()
