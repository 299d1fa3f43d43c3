"""A Python client receiving through ``recv``: messages per second, one process.

Run (with the wheel installed):  python benches/python_recv.py [N, default 10000]
Prints figures for BENCHMARKS.md; asserts nothing about speed. ``SMC_BENCH_QUICK=1``
runs it with 50 messages, only to show that it still runs (scripts/test.sh does).

A server and two clients in this process: the sender sends N messages of 100 B to a
room while the receiver is away, then the receiver connects and takes them one by one
with ``recv`` (each decrypted, checked and stored by its background thread, then
handed to Python). Then the same receiver, up to date, takes N live messages while
the sender sends them from a thread. Last, the receiver goes away again and takes N
more missed messages in batches with ``recv_many``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time

import smc


def main() -> None:
    quick = bool(os.environ.get("SMC_BENCH_QUICK"))
    n = 50 if quick else int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    text = "x" * 100
    with tempfile.TemporaryDirectory() as tmp, smc.Server(os.path.join(tmp, "server")) as server:
        address = server.address
        bob = smc.Client(os.path.join(tmp, "bob"), "bob", auto_join=True)
        bob.connect(address)
        alice = smc.Client(os.path.join(tmp, "alice"), "alice", auto_join=True)
        alice.connect(address)
        alice.create_room("bench")
        alice.invite("bench", "bob")
        alice.send("bench", "hello")
        first = bob.recv(timeout=30)
        assert first is not None and first.text == "hello"
        bob.close()

        start = time.perf_counter()
        for _ in range(n):
            alice.send("bench", text)
        send_secs = time.perf_counter() - start

        start = time.perf_counter()
        bob.connect(address)
        for _ in range(n):
            m = bob.recv(timeout=30)
            assert m is not None, "a missed message did not arrive"
        catch_up = time.perf_counter() - start

        def sender() -> None:
            for _ in range(n):
                alice.send("bench", text)

        thread = threading.Thread(target=sender)
        start = time.perf_counter()
        thread.start()
        for _ in range(n):
            m = bob.recv(timeout=30)
            assert m is not None, "a live message did not arrive"
        live = time.perf_counter() - start
        thread.join()

        start = time.perf_counter()
        for _ in range(n):
            assert bob.recv(timeout=0) is None
        empty = time.perf_counter() - start

        # The same catch-up again, taken in batches with recv_many.
        bob.close()
        for _ in range(n):
            alice.send("bench", text)
        start = time.perf_counter()
        bob.connect(address)
        got = 0
        while got < n:
            batch = bob.recv_many(max=256, timeout=30)
            assert batch, "a missed message did not arrive"
            got += len(batch)
        catch_up_many = time.perf_counter() - start
        alice.close()
        bob.close()

    print(f"python send ({n} x 100 B, one thread): {n / send_secs:.0f} messages/s")
    print(
        f"python recv, catch-up of {n} missed messages (connect to last recv): "
        f"{catch_up:.3f} s = {n / catch_up:.0f} messages/s"
    )
    print(
        f"python recv_many(256), catch-up of {n} missed messages (connect to last batch): "
        f"{catch_up_many:.3f} s = {n / catch_up_many:.0f} messages/s"
    )
    print(f"python recv, {n} live messages while a thread sends them: {n / live:.0f} messages/s")
    print(f"python recv(timeout=0) with nothing waiting: {empty / n * 1e6:.1f} us per call")


if __name__ == "__main__":
    main()
