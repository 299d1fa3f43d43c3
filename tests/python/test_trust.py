"""Trusting a server from Python: probe its fingerprint without an identity, insist
on the operator's fingerprint when connecting (refused on mismatch, nothing pinned),
or pin it explicitly. Without a fingerprint, ``connect`` trusts on first use."""

from __future__ import annotations

from pathlib import Path

import pytest

import smc


def test_probe_connect_with_fingerprint_and_trust(tmp_path: Path) -> None:
    with smc.Server(tmp_path / "server") as server:
        real = server.fingerprint
        assert smc.probe_server(server.address) == real

        alice = smc.Client(tmp_path / "a", "alice")
        with pytest.raises(smc.ServerKeyChanged) as refused:
            alice.connect(server.address, fingerprint="AAAA " * 8)
        assert refused.value.presented == real
        assert alice.pinned_server(server.address) is None, "nothing pinned"
        # As people type it: lower case, no spaces.
        alice.connect(server.address, fingerprint=real.replace(" ", "").lower())
        assert alice.pinned_server(server.address) == real

        bob = smc.Client(tmp_path / "b", "bob")
        with pytest.raises(smc.ServerKeyChanged):
            bob.trust_server(server.address, "BBBB")
        bob.trust_server(server.address, real)
        bob.connect(server.address)

        # Trust on first use stays the default, and is pinned.
        carol = smc.Client(tmp_path / "c", "carol")
        carol.connect(server.address)
        assert carol.pinned_server(server.address) == real


def test_wrong_types_are_type_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        smc.probe_server(None)  # type: ignore[arg-type]
    with smc.Server(tmp_path / "server") as server:
        alice = smc.Client(tmp_path / "a", "alice")
        with pytest.raises(TypeError):
            alice.connect(server.address, fingerprint=42)  # type: ignore[arg-type]
