"""Real services for the Python cluster test, from Debian's packages: a temporary
PostgreSQL cluster (initdb, run as the postgres user when the tests run as root) and a
NATS server, each on a free loopback port, stopped when the test session ends."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


_next_port = 0


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port free now, below the kernel's ephemeral range.

    A port of that range (what binding port 0 gives) is also where the kernel takes a
    client's own end of a connection from: a client trying again the address of a
    server being restarted there may be given that very port, connect to itself and
    keep the server from binding it. A port below the range is never handed out so.
    """
    global _next_port
    end = _ephemeral_start()
    start = max(1024, end - 12000)
    span = end - start
    offset = os.getpid() % span
    for _ in range(span):
        port = start + (offset + _next_port) % span
        _next_port += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {start}..{end}")


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []


def postgres() -> Iterator[tuple[Path, int]]:
    """A running cluster: its binaries' directory and its port."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql)")
    bin_dir = versions[-1]
    root = Path(tempfile.mkdtemp(prefix="smc-py-postgres-"))
    os.chmod(root, 0o755)
    if os.getuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    run = _as_postgres()
    subprocess.run(
        [*run, bin_dir / "initdb", "--auth=trust", "--username=smc", "--encoding=UTF8", "--no-sync", "-D", data],
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    subprocess.run(
        [*run, bin_dir / "pg_ctl", "-w", "-t", "60", "-D", data, "-l", root / "log", "-o", options, "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield bin_dir, port
    finally:
        subprocess.run([*run, bin_dir / "pg_ctl", "-m", "immediate", "-D", data, "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def database(cluster: tuple[Path, int], name: str) -> str:
    """A new, empty database of `cluster`: its URL."""
    bin_dir, port = cluster
    subprocess.run(
        [bin_dir / "psql", "-h", "127.0.0.1", "-p", str(port), "-U", "smc", "-d", "postgres", "-c", f"CREATE DATABASE {name}"],
        check=True,
        capture_output=True,
    )
    return f"postgres://smc@127.0.0.1:{port}/{name}"


def nats() -> Iterator[str]:
    """A running NATS server: its URL."""
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    port = free_port()
    process = subprocess.Popen(
        [binary, "-a", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()
