"""Plots a soak CSV (seconds + columns) into a PNG: memory, descriptors, file sizes.

Usage: python scripts/plot_soak.py SAMPLES.csv OUT.png TITLE
Columns used when present: rss_kib, fds, db_bytes, wal_bytes (server soak) or
rss_kib, received (Python client soak).
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    path, out, title = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit(f"{path}: no samples")
    x_name = "received" if "received" in rows[0] else "seconds"
    x = [float(r[x_name]) for r in rows]
    panels = [
        ("rss_kib", "resident memory (MiB)", 1 / 1024),
        ("fds", "open descriptors", 1),
        ("db_bytes", "smc.db (MiB)", 1 / 2**20),
        ("wal_bytes", "smc.db-wal (MiB)", 1 / 2**20),
    ]
    panels = [p for p in panels if p[0] in rows[0]]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.6 * len(panels)), sharex=True)
    if len(panels) == 1:
        axes = [axes]
    for ax, (column, label, scale) in zip(axes, panels):
        values = [float(r[column]) * scale for r in rows]
        ax.plot(x, values)
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.set_ylim(0, max(values) * 1.15 or 1)
    axes[-1].set_xlabel("seconds" if x_name == "seconds" else "messages received")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    main()
