"""End-to-end encryption from Python, through the wheel: events, safety numbers,
verification, the passphrase-encrypted state, and unreadable messages reported as
exceptions (with a server whose database is tampered with between runs); a changed key
(smc.KeyChanged and the key_changed event), a dropped message (missing), a left room
routed again."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import services
import smc


def connect(home: Path, user: str, address: str, passphrase: str | None = None) -> smc.Client:
    c = smc.Client(home, user, passphrase=passphrase, auto_join=True)
    c.connect(address)
    return c


def pair_in_room(data: Path, tmp_path: Path) -> tuple[smc.Server, int, smc.Client, smc.Client]:
    """A started server on ``data`` (and its port, to restart it on the same address),
    with alice and bob in room "r" that alice created."""
    server = smc.Server(data, port=services.free_port())
    server.start()
    port = int(server.address.rsplit(":", 1)[1])
    alice = connect(tmp_path / "a", "alice", server.address)
    bob = connect(tmp_path / "b", "bob", server.address)
    alice.create_room("r")
    alice.invite("r", "bob")
    return server, port, alice, bob


def drain(c: smc.Client) -> list[smc.Message | smc.Event]:
    out: list[smc.Message | smc.Event] = []
    while (e := c.recv_event(timeout=0.5)) is not None:
        out.append(e)
    return out


def test_an_invitee_is_listed_apart_until_they_accept_and_the_others_hear_it(
    tmp_path: Path,
) -> None:
    with smc.Server(tmp_path / "server") as server:
        alice = connect(tmp_path / "a", "alice", server.address)
        bob = smc.Client(tmp_path / "b", "bob")  # asked about each invitation
        bob.connect(server.address)
        alice.create_room("r")
        alice.invite("r", "bob")
        assert alice.members("r") == ["alice"]
        assert alice.invitees("r") == ["bob"]
        changed = [e for e in drain(alice) if isinstance(e, smc.Event)]
        assert [(e.kind, e.added) for e in changed] == [("members_changed", ["bob"])], changed
        with pytest.raises(TypeError):
            alice.invitees(42)  # type: ignore[arg-type]

        bob.accept("r")
        joined = None
        for _ in range(20):
            e = alice.recv_event(timeout=0.5)
            if isinstance(e, smc.Event) and e.kind == "member_joined":
                joined = e
                break
        assert joined is not None, "alice never heard that bob joined"
        assert (joined.room, joined.user) == ("r", "bob")
        assert alice.members("r") == ["alice", "bob"]
        assert alice.invitees("r") == []


def test_events_safety_numbers_and_verification(tmp_path: Path) -> None:
    with smc.Server(tmp_path / "server") as server:
        alice = connect(tmp_path / "a", "alice", server.address)
        bob = connect(tmp_path / "b", "bob", server.address)
        alice.create_room("r")
        alice.invite("r", "bob")
        alice.send("r", "salut Bob, ça chiffre 🔐")
        events = drain(bob)
        kinds = [e.kind if isinstance(e, smc.Event) else "message" for e in events]
        assert kinds == ["invited", "joined", "message"], events
        invited, joined, message = events
        assert isinstance(invited, smc.Event) and (invited.room, invited.user) == ("r", "alice")
        assert isinstance(joined, smc.Event) and (joined.room, joined.user) == ("r", "alice")
        assert isinstance(message, smc.Message) and message.text == "salut Bob, ça chiffre 🔐"

        number = alice.safety_number("bob")
        assert number == bob.safety_number("alice")
        assert len(number.replace(" ", "")) == 60 and number.replace(" ", "").isdigit()
        assert not alice.is_verified("bob")
        alice.verify("bob")
        assert alice.is_verified("bob")
        with pytest.raises(smc.UnknownUser):
            alice.safety_number("nobody")
        with pytest.raises(TypeError):
            alice.safety_number(42)  # type: ignore[arg-type]

        bob.leave("r")
        left = [e for e in drain(alice) if isinstance(e, smc.Event)]
        assert any(e.kind == "members_changed" and e.removed == ["bob"] for e in left), left
        assert alice.members("r") == ["alice"]


def test_the_state_needs_its_passphrase(tmp_path: Path) -> None:
    with smc.Server(tmp_path / "server") as server:
        alice = connect(tmp_path / "a", "alice", server.address, passphrase="tr0ub4dor&3")
        bob = connect(tmp_path / "b", "bob", server.address)
        alice.create_room("r")
        alice.invite("r", "bob")
        alice.send("r", "kept under lock")
        alice.close()
        del alice
        with pytest.raises(smc.WrongPassphrase):
            smc.Client(tmp_path / "a", "alice", passphrase="tr0ub4dor&4")
        with pytest.raises(smc.WrongPassphrase):
            smc.Client(tmp_path / "a", "alice")
        with pytest.raises(TypeError):
            smc.Client(tmp_path / "a", "alice", passphrase=1234)  # type: ignore[arg-type]
        assert issubclass(smc.WrongPassphrase, smc.EncryptionError)
        alice = connect(tmp_path / "a", "alice", server.address, passphrase="tr0ub4dor&3")
        assert [m.text for m in alice.history("r")] == ["kept under lock"]
        data = b"".join(p.read_bytes() for p in (tmp_path / "a").iterdir())
        assert b"kept under lock" not in data
        assert bob.recv(timeout=10).text == "kept under lock"


def test_a_replayed_message_raises_undecryptable_and_recv_goes_on(tmp_path: Path) -> None:
    data = tmp_path / "server"
    server, port, alice, bob = pair_in_room(data, tmp_path)
    alice.send("r", "pay 10 € to bob")
    assert bob.recv(timeout=10).text == "pay 10 € to bob"
    bob.close()
    alice.close()
    server.stop()

    # The server replays alice's message as a new one (bob's word that he joined may
    # come after it).
    db = sqlite3.connect(data / "smc.db")
    (last,) = db.execute("SELECT last_seq FROM rooms WHERE name = 'r'").fetchone()
    (replayed,) = db.execute(
        "SELECT max(seq) FROM messages WHERE room = 'r' AND sender = 'alice' "
        "AND commit_epoch IS NULL"
    ).fetchone()
    db.execute(
        "INSERT INTO messages (room, seq, sender, ts_ms, payload, commit_epoch) "
        "SELECT room, ?, sender, ts_ms, payload, commit_epoch FROM messages WHERE room = 'r' AND seq = ?",
        (last + 1, replayed),
    )
    db.execute("UPDATE rooms SET last_seq = ? WHERE name = 'r'", (last + 1,))
    db.commit()
    db.close()

    with smc.Server(data, port=port) as server:
        bob.connect(server.address)
        with pytest.raises(smc.Undecryptable) as info:
            bob.recv(timeout=10)
        assert info.value.room == "r" and info.value.sender == "alice"
        assert "replayed" in info.value.reason
        alice.connect(server.address)
        alice.send("r", "the real next one")
        assert bob.recv(timeout=10).text == "the real next one"
        assert [m.text for m in bob.history("r")] == ["pay 10 € to bob", "the real next one"]


def release(data: Path, user: str) -> None:
    """The operator releases ``user``'s name (``smc admin release``), as after a lost key."""
    out = subprocess.run(
        [sys.executable, "-m", "smc", "admin", "release", user, "--data-dir", str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def test_a_changed_key_raises_key_changed_and_is_an_event(tmp_path: Path) -> None:
    data = tmp_path / "server"
    with smc.Server(data) as server:
        alice = connect(tmp_path / "a", "alice", server.address)
        bob = connect(tmp_path / "b", "bob", server.address)
        alice.create_room("r")
        alice.invite("r", "bob")
        alice.verify("bob")
        before = alice.safety_number("bob")
        bob.close()

        # bob lost his key; the name is released and a new key takes it.
        release(data, "bob")
        new_bob = connect(tmp_path / "b2", "bob", server.address)
        alice.create_room("r2")
        with pytest.raises(smc.KeyChanged) as info:
            alice.invite("r2", "bob")
        assert info.value.user == "bob"
        assert isinstance(info.value, smc.EncryptionError)
        events = [e for e in drain(alice) if isinstance(e, smc.Event)]
        assert any(e.kind == "key_changed" and e.user == "bob" for e in events), events
        assert alice.safety_number("bob") != before
        assert not alice.is_verified("bob"), "a new key is not verified"
        # Nothing goes to the room the old key is in until alice acknowledges.
        with pytest.raises(smc.KeyChanged):
            alice.send("r", "is that you?")
        alice.acknowledge_key_change("bob")
        alice.send("r", "is that you?")
        alice.invite("r2", "bob")
        alice.send("r2", "welcome back")
        assert new_bob.recv(timeout=10).text == "welcome back"


def test_a_message_the_server_dropped_is_a_missing_event(tmp_path: Path) -> None:
    data = tmp_path / "server"
    server, port, alice, bob = pair_in_room(data, tmp_path)
    drain(bob)
    bob.close()
    for text in ["one", "two", "three"]:
        alice.send("r", text)
    alice.close()
    server.stop()

    # The server drops "two" while bob is away.
    db = sqlite3.connect(data / "smc.db")
    (last,) = db.execute("SELECT last_seq FROM rooms WHERE name = 'r'").fetchone()
    db.execute("DELETE FROM messages WHERE room = 'r' AND seq = ?", (last - 1,))
    db.commit()
    db.close()

    with smc.Server(data, port=port) as server:
        bob.connect(server.address)
        events = drain(bob)
        texts = [e.text for e in events if isinstance(e, smc.Message)]
        assert texts == ["one", "three"], events
        missing = [e for e in events if isinstance(e, smc.Event) and e.kind == "missing"]
        assert [(e.room, e.user, e.count) for e in missing] == [("r", "alice", 1)], events


def test_a_left_room_routed_again_by_the_server_stays_unreadable(tmp_path: Path) -> None:
    data = tmp_path / "server"
    server, port, alice, bob = pair_in_room(data, tmp_path)
    drain(bob)
    bob.leave("r")
    left = [e for e in drain(alice) if isinstance(e, smc.Event)]
    assert any(e.kind == "members_changed" and e.removed == ["bob"] for e in left), left
    alice.send("r", "bob is gone")
    bob.close()
    alice.close()
    server.stop()

    # A malicious server routes the room to bob again.
    db = sqlite3.connect(data / "smc.db")
    db.execute("INSERT INTO members (room, user, joined_seq) VALUES ('r', 'bob', 0)")
    db.commit()
    db.close()
    with smc.Server(data, port=port) as server:
        bob.connect(server.address)
        events = drain(bob)
        assert not [e for e in events if isinstance(e, smc.Message)], events
        unreadable = [e for e in events if isinstance(e, smc.Event) and e.kind == "undecryptable"]
        assert unreadable and all(e.room == "r" for e in unreadable), events
        assert all("no longer in the room" in e.reason for e in unreadable), events
