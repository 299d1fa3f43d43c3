"""Files from Python, through the wheel: send_file and download between two clients on
a real server, with progress; names in UTF-8; a progress callback that raises stops
the transfer and leaves nothing behind; a file the reader may not have raises
FileUnavailable; the same from smc.aio."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

import smc

CHUNK = 64 * 1024


@pytest.fixture()
def server(tmp_path: Path):
    with smc.Server(tmp_path / "server") as s:
        yield s


def pair(tmp_path: Path, server: smc.Server) -> tuple[smc.Client, smc.Client]:
    alice = smc.Client(tmp_path / "alice", "alice", auto_join=True)
    bob = smc.Client(tmp_path / "bob", "bob", auto_join=True)
    alice.connect(server.address)
    bob.connect(server.address)
    alice.create_room("r")
    alice.invite("r", "bob")
    alice.send("r", "hello")
    m = bob.recv(timeout=10)
    assert m is not None and m.text == "hello" and m.attachment is None
    return alice, bob


def write(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def write_mib(path: Path, mib: int) -> str:
    """Writes `mib` MiB of random bytes to `path`, a MiB at a time: their SHA-256 (hex)."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(mib):
            block = os.urandom(1 << 20)
            digest.update(block)
            f.write(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """The SHA-256 (hex) of the file at `path`, read a MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def test_a_file_arrives_whole_with_its_name_type_and_digest(server: smc.Server, tmp_path: Path) -> None:
    alice, bob = pair(tmp_path, server)
    with alice, bob:
        for size, name in [(0, "vide.txt"), (CHUNK + 1, "résumé 履歴書.pdf"), (3 * CHUNK + 7, "../../evil")]:
            source = tmp_path / f"source-{size}"
            data = write(source, size)
            sent_progress: list[tuple[int, int]] = []
            msg_id = alice.send_file(
                "r", source, name=name, mime="application/pdf", progress=lambda d, t: sent_progress.append((d, t))
            )
            assert sent_progress[-1] == (size, size)
            m = bob.recv(timeout=10)
            assert m is not None and m.id == msg_id and m.sender == "alice" and m.text == ""
            a = m.attachment
            assert isinstance(a, smc.Attachment)
            assert (a.name, a.size, a.mime) == (name, size, "application/pdf")
            assert a.sha256 == hashlib.sha256(data).hexdigest()
            assert "/" not in a.safe_name and not a.safe_name.startswith(".")
            out = tmp_path / "out"
            out.mkdir(exist_ok=True)
            got: list[tuple[int, int]] = []
            bob.download(a, out / a.safe_name, progress=lambda d, t: got.append((d, t)))
            assert (out / a.safe_name).read_bytes() == data
            assert got[-1] == (size, size)
            # The sender's history keeps the file too.
            (mine,) = alice.history("r", limit=1)
            assert mine.attachment is not None and mine.attachment.sha256 == a.sha256
        # Bad arguments are clear errors.
        with pytest.raises(TypeError):
            bob.download("not an attachment", tmp_path / "x")  # type: ignore[arg-type]
        with pytest.raises(smc.SmcIOError):
            alice.send_file("r", tmp_path / "does-not-exist")
        with pytest.raises(smc.UnknownRoom):
            alice.send_file("elsewhere", source)


def test_a_progress_callback_that_raises_stops_the_transfer(server: smc.Server, tmp_path: Path) -> None:
    alice, bob = pair(tmp_path, server)
    with alice, bob:
        source = tmp_path / "big"
        write(source, 20 * CHUNK)

        class Stop(Exception):
            pass

        def stop_at_half(done: int, total: int) -> None:
            if done >= total // 2:
                raise Stop()

        with pytest.raises(Stop):
            alice.send_file("r", source, progress=stop_at_half)
        # Nothing was announced; a full send works.
        assert bob.recv(timeout=1) is None
        alice.send_file("r", source)
        m = bob.recv(timeout=10)
        assert m is not None and m.attachment is not None
        out = tmp_path / "out"
        out.mkdir()
        with pytest.raises(Stop):
            bob.download(m.attachment, out / "big", progress=stop_at_half)
        assert list(out.iterdir()) == [], "a stopped download left a file behind"
        bob.download(m.attachment, out / "big")
        assert (out / "big").read_bytes() == source.read_bytes()


def test_a_reader_who_left_the_room_gets_file_unavailable(server: smc.Server, tmp_path: Path) -> None:
    alice, bob = pair(tmp_path, server)
    with alice, bob:
        source = tmp_path / "f"
        write(source, 100)
        alice.send_file("r", source)
        m = bob.recv(timeout=10)
        assert m is not None and m.attachment is not None
        bob.leave("r")
        with pytest.raises(smc.FileUnavailable):
            bob.download(m.attachment, tmp_path / "copy")
        assert not (tmp_path / "copy").exists()


def test_files_from_asyncio(server: smc.Server, tmp_path: Path) -> None:
    async def main() -> None:
        async with smc.aio.Client(tmp_path / "alice", "alice", auto_join=True) as alice, smc.aio.Client(
            tmp_path / "bob", "bob", auto_join=True
        ) as bob:
            await alice.connect(server.address)
            await bob.connect(server.address)
            await alice.create_room("r")
            await alice.invite("r", "bob")
            source = tmp_path / "a.bin"
            data = write(source, CHUNK + 3)
            await alice.send_file("r", source, name="a.bin")
            m = await bob.recv(timeout=10)
            assert m is not None and m.attachment is not None and m.attachment.name == "a.bin"
            await bob.download(m.attachment, tmp_path / "b.bin")
            assert (tmp_path / "b.bin").read_bytes() == data

    asyncio.run(main())


def test_a_100_mib_file_round_trip_in_bounded_memory(server: smc.Server, tmp_path: Path) -> None:
    import resource

    alice, bob = pair(tmp_path, server)
    with alice, bob:
        source = tmp_path / "big.bin"
        digest = write_mib(source, 100)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, the peak so far
        alice.send_file("r", source)
        m = bob.recv(timeout=60)
        assert m is not None and m.attachment is not None
        assert m.attachment.size == 100 << 20 and m.attachment.sha256 == digest
        dest = tmp_path / "copy.bin"
        bob.download(m.attachment, dest)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert sha256_of(dest) == digest
        # Both clients of this process sent and received 100 MiB holding a few chunks
        # each: the peak grew far less than the file.
        assert peak - before < 40 * 1024, f"the process's peak grew by {(peak - before) // 1024} MiB"


class Console:
    """``python -m smc chat`` in line mode (the wheel's console), its output read as it
    comes."""

    def __init__(self, tmp_path: Path, server: smc.Server, user: str) -> None:
        import queue
        import subprocess
        import sys
        import threading

        env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"),
                   XDG_DATA_HOME=str(tmp_path / "data"))
        for var in ("SMC_USER", "SMC_HOME", "SMC_SERVER", "SMC_CONFIG"):
            env.pop(var, None)
        self.user = user
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smc", "chat", "--server", server.address, "--user", user,
             "--trust-server", server.fingerprint, "--auto-join"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=tmp_path, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            self.lines.put(line)

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait(self, text: str, timeout: float = 120) -> str:
        import queue
        import time

        deadline = time.monotonic() + timeout
        while True:
            for line in self.seen:
                if text in line:
                    self.seen.remove(line)
                    return line
            try:
                self.seen.append(self.lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"{self.user} never printed {text!r}: {self.seen}") from None

    def finish(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=60)


def test_a_100_mib_file_from_console_to_console(server: smc.Server, tmp_path: Path) -> None:
    source = tmp_path / "gros fichier 大.bin"
    digest = write_mib(source, 100)
    bob = Console(tmp_path, server, "bob")
    bob.wait("connected to")
    alice = Console(tmp_path, server, "alice")
    alice.wait("connected to")
    alice.type("/create big")
    alice.wait("created #big")
    alice.type("/invite bob")
    bob.wait("alice added you to #big")
    alice.type(f"/send {source}")
    line = bob.wait("[file 1] gros fichier 大.bin (100.0 MiB)")
    assert "<alice>" in line, line
    dest = tmp_path / "saved.bin"
    bob.type(f"/save 1 {dest}")
    bob.wait("saved file 1")
    assert sha256_of(dest) == digest
    assert alice.finish() == 0
    assert bob.finish() == 0
