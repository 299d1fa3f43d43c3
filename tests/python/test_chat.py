"""smc.Server / smc.Client / smc.Message from Python, on loopback, through the wheel."""

from __future__ import annotations

import datetime
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import services
import smc


@pytest.fixture()
def server(tmp_path: Path):
    with smc.Server(tmp_path / "server") as s:
        yield s


def connect(home: Path, user: str, server: smc.Server) -> smc.Client:
    c = smc.Client(home, user, auto_join=True)
    c.connect(server.address)
    return c


def test_real_time_delivery_to_a_member_waiting_in_recv(server: smc.Server, tmp_path: Path) -> None:
    with connect(tmp_path / "a", "alice", server) as alice, smc.Client(tmp_path / "b", "bob") as bob:
        bob.connect(server.address)
        alice.create_room("general")
        alice.invite("general", "bob")
        # An invitation (bob does not join automatically): nothing of the room reaches
        # bob before he accepts.
        assert bob.rooms() == []
        assert bob.invitations() == [("general", "alice")]
        bob.accept("general")
        assert bob.invitations() == []
        assert bob.rooms() == ["general"]
        assert alice.members("general") == ["alice", "bob"]
        got: list[smc.Message | None] = []
        waiter = threading.Thread(target=lambda: got.append(bob.recv(timeout=10)))
        waiter.start()
        time.sleep(0.2)
        msg_id = alice.send("general", "Bonjour, Bob ! ça va ?")
        waiter.join()
        (m,) = got
        assert isinstance(m, smc.Message)
        assert (m.id, m.room, m.sender, m.text) == (msg_id, "general", "alice", "Bonjour, Bob ! ça va ?")
        assert m.timestamp.tzinfo is not None
        assert abs(m.timestamp - datetime.datetime.now(datetime.timezone.utc)) < datetime.timedelta(minutes=1)
        assert bob.recv(timeout=0.2) is None


def test_offline_history_and_restart(tmp_path: Path) -> None:
    data = tmp_path / "server"
    with smc.Server(data, port=services.free_port()) as server:
        address = server.address
        fingerprint = server.fingerprint
        alice = connect(tmp_path / "a", "alice", server)
        bob = connect(tmp_path / "b", "bob", server)
        alice.create_room("r")
        alice.invite("r", "bob")
        bob.close()
        ids = [alice.send("r", t) for t in ("one", "two", "three")]
        alice.close()
    host, port = address.rsplit(":", 1)
    with smc.Server(data, host=host, port=int(port)) as server:
        assert server.fingerprint == fingerprint
        del bob  # one client per home at a time
        bob = smc.Client(tmp_path / "b", "bob", auto_join=True)
        bob.connect(server.address)
        got = [bob.recv(timeout=10) for _ in range(3)]
        assert [m.text for m in got if m] == ["one", "two", "three"]
        assert [m.id for m in got if m] == ids
        assert bob.recv(timeout=0.2) is None
        assert [m.text for m in bob.history("r", limit=2)] == ["two", "three"]
        bob.close()
        del bob
        # A new process-equivalent client: nothing shown twice.
        bob = connect(tmp_path / "b", "bob", server)
        assert bob.recv(timeout=0.3) is None
    assert (tmp_path / "b" / "identity.key").stat().st_mode & 0o777 == 0o600
    assert (data / "server.key").stat().st_mode & 0o777 == 0o600


def test_recv_many_hands_out_missed_messages_in_batches_once(server: smc.Server, tmp_path: Path) -> None:
    alice = connect(tmp_path / "a", "alice", server)
    bob = connect(tmp_path / "b", "bob", server)
    alice.create_room("r")
    alice.invite("r", "bob")
    bob.close()
    sent = [f"m{i}" for i in range(40)]
    ids = [alice.send("r", t) for t in sent]
    bob.connect(server.address)
    got: list[smc.Message] = []
    while len(got) < len(sent):
        batch = bob.recv_many(max=16, timeout=10)
        assert batch, "a missed message did not arrive"
        assert len(batch) <= 16
        assert all(isinstance(m, smc.Message) for m in batch)
        got.extend(batch)
    assert [m.text for m in got] == sent
    assert [m.id for m in got] == ids
    assert bob.recv_many(timeout=0.2) == []
    # Live messages come through it too, and what was handed out is not handed out again.
    alice.send("r", "live")
    assert [m.text for m in bob.recv_many(timeout=10)] == ["live"]
    bob.close()
    bob.connect(server.address)
    assert bob.recv_many(timeout=0.3) == []
    with pytest.raises(ValueError):
        bob.recv_many(max=0)
    with pytest.raises(ValueError):
        bob.recv_many(timeout=-1)
    with pytest.raises(TypeError):
        bob.recv_many(max="10")  # type: ignore[arg-type]


def test_changed_server_key_raises_with_both_fingerprints(tmp_path: Path) -> None:
    with smc.Server(tmp_path / "first") as first:
        address = first.address
        pinned = first.fingerprint
        connect(tmp_path / "a", "alice", first).close()
    host, port = address.rsplit(":", 1)
    with smc.Server(tmp_path / "other", host=host, port=int(port)) as other:
        alice = smc.Client(tmp_path / "a", "alice")
        with pytest.raises(smc.ServerKeyChanged) as info:
            alice.connect(address)
        assert info.value.pinned == pinned
        assert info.value.presented == other.fingerprint
        assert pinned in str(info.value) and other.fingerprint in str(info.value)
        assert isinstance(info.value, smc.SmcError)


def test_refusals_are_typed_exceptions(server: smc.Server, tmp_path: Path) -> None:
    alice = connect(tmp_path / "a", "alice", server)
    carol = connect(tmp_path / "c", "carol", server)
    alice.create_room("private")
    with pytest.raises(smc.RoomExists):
        alice.create_room("private")
    with pytest.raises(smc.NotAMember) as info:
        carol.send("private", "hi")
    assert info.value.room == "private" and isinstance(info.value, PermissionError)
    with pytest.raises(smc.UnknownUser):
        alice.invite("private", "nobody")
    with pytest.raises(smc.UnknownRoom):
        alice.members("nowhere")
    with pytest.raises(smc.InvalidRequest):
        alice.create_room("")
    mallory = smc.Client(tmp_path / "m", "alice")
    with pytest.raises(smc.NameTaken):
        mallory.connect(server.address)
    with pytest.raises(smc.MessageTooLong):
        alice.send("private", "x" * (1024 * 1024 + 1))
    alice.close()
    with pytest.raises(smc.ConnectionClosed):
        alice.send("private", "after close")


def test_wrong_types_are_type_errors(server: smc.Server, tmp_path: Path) -> None:
    alice = connect(tmp_path / "a", "alice", server)
    with pytest.raises(TypeError):
        alice.send(1, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        alice.create_room(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        smc.Client(42, "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        alice.recv(timeout=-1)
    with pytest.raises(smc.SmcIOError):
        smc.Client(tmp_path / "z", "z").connect("127.0.0.1:1")


@pytest.mark.parametrize("timeout", [1e300, float(2**70), float("inf")])
def test_a_timeout_too_long_for_the_clock_waits_without_end(
    server: smc.Server, tmp_path: Path, timeout: float
) -> None:
    # Not a panic (PanicException) from turning it into a deadline: a wait without end,
    # which the next message ends.
    alice = connect(tmp_path / "a", "alice", server)
    bob = connect(tmp_path / "b", "bob", server)
    alice.create_room("r")
    alice.invite("r", "bob")
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(bob.recv(timeout=timeout)), daemon=True)
    waiter.start()
    time.sleep(0.3)
    alice.send("r", "after a long wait")
    waiter.join(timeout=10)
    assert [m.text for m in got if isinstance(m, smc.Message)] == ["after a long wait"]
    with pytest.raises(ValueError):
        bob.recv(timeout=float("nan"))


def test_recv_releases_the_gil(server: smc.Server, tmp_path: Path) -> None:
    bob = connect(tmp_path / "b", "bob", server)
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    assert bob.recv(timeout=0.5) is None
    stop.set()
    t.join()
    assert ticks > 50


def test_ctrl_c_interrupts_a_blocking_recv(server: smc.Server, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import smc, sys
        c = smc.Client({str(tmp_path / 'b')!r}, "bob", auto_join=True)
        c.connect({server.address!r})
        print("ready", flush=True)
        try:
            c.recv()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(0)
        sys.exit(3)
        """
    )
    # SIGINT back to its default in the child: a test run started in the background of
    # a non-interactive shell inherits it ignored, and Python then never raises
    # KeyboardInterrupt.
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "interrupted" in out


def test_invitations_are_accepted_or_declined(server: smc.Server, tmp_path: Path) -> None:
    alice = smc.Client(tmp_path / "a", "alice")
    bob = smc.Client(tmp_path / "b", "bob")
    carol = smc.Client(tmp_path / "c", "carol")
    for c in (alice, bob, carol):
        c.connect(server.address)
    alice.create_room("r")
    alice.invite("r", "bob")
    alice.invite("r", "carol")
    event = bob.recv_event(timeout=10)
    assert isinstance(event, smc.Event)
    assert (event.kind, event.room, event.user) == ("invited", "r", "alice")
    assert bob.rooms() == [] and bob.invitations() == [("r", "alice")]
    bob.accept("r")
    carol.decline("r")
    with pytest.raises(smc.NotInvited) as refused:
        carol.accept("r")
    assert refused.value.room == "r"
    with pytest.raises(TypeError):
        bob.accept(None)  # type: ignore[arg-type]
    # alice's client commits carol's self-removal, then sends.
    while alice.recv_event(timeout=0.5) is not None:
        pass
    alice.send("r", "just the two of us")
    assert alice.members("r") == ["alice", "bob"]
    message = bob.recv(timeout=10)
    assert message is not None and message.text == "just the two of us"
    assert carol.rooms() == []


def test_close_releases_the_home_at_once(server: smc.Server, tmp_path: Path) -> None:
    alice = connect(tmp_path / "a", "alice", server)
    alice.create_room("r")
    alice.close()
    assert not alice.connected
    with pytest.raises(smc.ConnectionClosed):
        alice.rooms()
    # The same home opens again right away (no garbage collection needed)...
    again = connect(tmp_path / "a", "alice", server)
    assert again.rooms() == ["r"]
    # ...and so after a `with` block.
    with again:
        pass
    third = smc.Client(tmp_path / "a", "alice")
    third.close()
    third.close()  # closing twice is harmless
    # connect opens a closed client's home again.
    third.connect(server.address)
    assert third.rooms() == ["r"]
    with pytest.raises(smc.SmcIOError):
        smc.Client(tmp_path / "a", "alice")  # in use again


def test_a_client_stays_current_without_recv(server: smc.Server, tmp_path: Path) -> None:
    """What arrives is processed as it arrives: once bob's rooms() lists the room, his
    members(), safety_number() and is_verified() agree with it, without any recv."""
    with connect(tmp_path / "a", "alice", server) as alice, connect(tmp_path / "b", "bob", server) as bob:
        alice.create_room("general")
        alice.invite("general", "bob")
        deadline = time.monotonic() + 10
        while "general" not in bob.rooms():
            assert time.monotonic() < deadline, "bob never joined on his own"
            time.sleep(0.02)
        assert bob.members("general") == ["alice", "bob"]
        assert bob.safety_number("alice") == alice.safety_number("bob")
        assert not bob.is_verified("alice")
        assert bob.invitations() == []


def test_the_readiness_descriptor_is_readable_exactly_while_an_event_waits(
    server: smc.Server, tmp_path: Path
) -> None:
    with connect(tmp_path / "a", "alice", server) as alice, connect(tmp_path / "b", "bob", server) as bob:
        alice.create_room("r")
        alice.invite("r", "bob")
        while bob.recv_event(timeout=0.5) is not None:
            pass
        assert select.select([bob], [], [], 0.2)[0] == [], "nothing waits"
        alice.send("r", "wake up")
        assert select.select([bob], [], [], 10)[0] == [bob]
        m = bob.recv(timeout=0)
        assert m is not None and m.text == "wake up"
        assert select.select([bob], [], [], 0.2)[0] == [], "taken: not readable"


def test_a_closed_client_refuses_calls_and_its_home_opens_in_a_with_block(
    server: smc.Server, tmp_path: Path
) -> None:
    c = connect(tmp_path / "a", "alice", server)
    c.close()
    again = smc.Client(tmp_path / "a", "alice")
    with pytest.raises(smc.SmcError):
        c.send("r", "closed")
    again.close()
    with smc.Client(tmp_path / "a", "alice") as inside:
        inside.connect(server.address)
    smc.Client(tmp_path / "a", "alice").close()


def test_history_pages_back_and_messages_compare_by_id(server: smc.Server, tmp_path: Path) -> None:
    with connect(tmp_path / "a", "alice", server) as alice, connect(tmp_path / "b", "bob", server) as bob:
        alice.create_room("r")
        alice.invite("r", "bob")
        for i in range(7):
            alice.send("r", f"m{i}")
        got = [bob.recv(timeout=10) for _ in range(7)]
        pages: list[list[str]] = []
        before = None
        while page := bob.history("r", limit=3, before=before):
            pages.append([m.text for m in page])
            before = page[0].seq
        assert pages == [["m4", "m5", "m6"], ["m1", "m2", "m3"], ["m0"]]
        # The same message from recv and from the history: equal, one in a set.
        (last,) = bob.history("r", limit=1)
        assert last == got[-1] and hash(last) == hash(got[-1])
        assert len({*got, *bob.history("r")}) == 7
        assert got[0] != got[1]
        with pytest.raises(TypeError):
            bob.history("r", before="m3")  # type: ignore[arg-type]


def test_a_server_with_an_admin_listener_serves_metrics_and_health(tmp_path: Path) -> None:
    import urllib.error
    import urllib.request

    with smc.Server(tmp_path / "server", admin_listen="127.0.0.1:0") as server:
        admin = server.admin_address
        assert admin is not None
        alice = connect(tmp_path / "a", "alice", server)
        alice.create_room("r")
        for i in range(3):
            alice.send("r", f"m{i}")
        with urllib.request.urlopen(f"http://{admin}/metrics", timeout=10) as page:
            assert page.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            lines = page.read().decode().splitlines()
        committed = next(line for line in lines if line.startswith("smc_messages_committed_total "))
        # The room's creation is not a message; the three sends are.
        assert float(committed.split()[1]) == 3.0
        with urllib.request.urlopen(f"http://{admin}/healthz", timeout=10) as health:
            assert health.status == 200
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://{admin}/nope", timeout=10)
        assert missing.value.code == 404
        alice.close()
    with smc.Server(tmp_path / "server2") as plain:
        assert plain.admin_address is None


def test_connect_takes_a_list_of_addresses_of_one_service(tmp_path: Path) -> None:
    import socket

    def dead_address() -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            host, port = s.getsockname()
        return f"{host}:{port}"

    with smc.Server(tmp_path / "genuine") as genuine, smc.Server(tmp_path / "other") as other:
        alice = smc.Client(tmp_path / "a", "alice")
        dead = dead_address()
        # The first address does not answer: the next one is used, and returned.
        assert alice.connect([dead, genuine.address]) == genuine.address
        assert alice.pinned_server(genuine.address) == genuine.fingerprint
        assert alice.pinned_server(dead) is None
        assert alice.connect(genuine.address) == genuine.address
        alice.close()
        # Another key at another address of the list: refused, not pinned.
        with pytest.raises(smc.ServerNotTrusted):
            alice.connect([other.address, genuine.address])
        assert alice.pinned_server(other.address) is None
        with pytest.raises(smc.SmcIOError):
            alice.connect([dead_address(), dead_address()])
        with pytest.raises(ValueError):
            alice.connect([])
        with pytest.raises(TypeError):
            alice.connect([1, 2])  # type: ignore[list-item]
        alice.close()
