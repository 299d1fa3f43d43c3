"""Soak of a long-running Python client: a bot process receives MESSAGES messages
(default 100,000) through ``recv`` while this process runs the server and sends them;
the bot samples its own resident memory every 2,000 messages into a CSV, then a PNG
plot is drawn (scripts/plot_soak.py) and the drift printed: RSS at the end against
RSS after the warm-up (the first fifth).

Usage (with the wheel installed, e.g. in .venv after scripts/test.sh):
    python scripts/soak_python.py [MESSAGES] [OUT_DIR]
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time

import smc

SAMPLE_EVERY = 2_000


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def bot(home: str, address: str, total: int, out_csv: str) -> None:
    """The long-running client: joins what it is invited to and reads everything."""
    received = 0
    with smc.Client(home, "bot", auto_join=True) as c, open(out_csv, "w", newline="") as f:
        c.connect(address)
        print("ready", flush=True)
        writer = csv.writer(f)
        writer.writerow(["received", "rss_kib", "seconds"])
        start = time.monotonic()
        writer.writerow([0, rss_kib(), 0.0])
        while received < total:
            m = c.recv(timeout=60)
            if m is None:
                raise SystemExit(f"bot: nothing for 60 s after {received} messages")
            received += 1
            if received % SAMPLE_EVERY == 0:
                writer.writerow([received, rss_kib(), round(time.monotonic() - start, 1)])
                f.flush()
    print(f"bot: received {received}", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--bot":
        bot(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join("target", "soak")
    os.makedirs(out, exist_ok=True)
    out_csv = os.path.join(out, "python_client.csv")
    with tempfile.TemporaryDirectory() as tmp, smc.Server(os.path.join(tmp, "server")) as server:
        if not server.running:
            server.start()
        address = server.address
        sender = smc.Client(os.path.join(tmp, "alice"), "alice", auto_join=True)
        sender.connect(address)
        # The bot registers first (so that it can be invited), in its own process.
        child = subprocess.Popen(
            [sys.executable, __file__, "--bot", os.path.join(tmp, "bot"), address, str(total), out_csv],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise SystemExit("the bot did not start")
        sender.create_room("soak")
        sender.invite("soak", "bot")
        started = time.monotonic()
        for i in range(total):
            while True:
                try:
                    sender.send("soak", f"message {i}")
                    break
                except smc.RateLimited:
                    time.sleep(0.01)
        sent_in = time.monotonic() - started
        code = child.wait(timeout=3600)
        print(child.stdout.read().strip())
        sender.close()
    if code != 0:
        raise SystemExit(f"the bot failed ({code})")
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    warm = next(r for r in rows if int(r["received"]) >= total // 5)
    last = rows[-1]
    drift = int(last["rss_kib"]) / int(warm["rss_kib"]) - 1
    peak = max(int(r["rss_kib"]) for r in rows)
    print(
        f"python client soak: {total} messages sent in {sent_in:.0f} s, received by the bot in "
        f"{float(last['seconds']):.0f} s; bot RSS after warm-up {warm['rss_kib']} KiB, at the end "
        f"{last['rss_kib']} KiB ({drift * 100:+.1f}%), peak {peak} KiB; samples in {out_csv}"
    )
    plot = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plot_soak.py")
    subprocess.run(
        [
            sys.executable,
            plot,
            out_csv,
            os.path.join(out, "python_client.png"),
            f"Python client soak: {total} messages through recv (python scripts/soak_python.py {total})",
        ],
        check=True,
    )


if __name__ == "__main__":
    main()
