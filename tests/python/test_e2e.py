"""End-to-end encryption from Python, through the wheel: events, safety numbers,
verification, the passphrase-encrypted state, and unreadable messages reported as
exceptions (with a server whose database is tampered with between runs)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import smc


def connect(home: Path, user: str, address: str, passphrase: str | None = None) -> smc.Client:
    c = smc.Client(home, user, passphrase=passphrase, auto_join=True)
    c.connect(address)
    return c


def drain(c: smc.Client) -> list[smc.Message | smc.Event]:
    out: list[smc.Message | smc.Event] = []
    while (e := c.recv_event(timeout=0.5)) is not None:
        out.append(e)
    return out


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
    server = smc.Server(data)
    server.start()
    port = int(server.address.rsplit(":", 1)[1])
    alice = connect(tmp_path / "a", "alice", server.address)
    bob = connect(tmp_path / "b", "bob", server.address)
    alice.create_room("r")
    alice.invite("r", "bob")
    alice.send("r", "pay 10 € to bob")
    assert bob.recv(timeout=10).text == "pay 10 € to bob"
    bob.close()
    alice.close()
    server.stop()

    # The server replays the message as a new one.
    db = sqlite3.connect(data / "smc.db")
    (last,) = db.execute("SELECT last_seq FROM rooms WHERE name = 'r'").fetchone()
    db.execute(
        "INSERT INTO messages (room, seq, sender, ts_ms, payload, commit_epoch) "
        "SELECT room, ?, sender, ts_ms, payload, commit_epoch FROM messages WHERE room = 'r' AND seq = ?",
        (last + 1, last),
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
