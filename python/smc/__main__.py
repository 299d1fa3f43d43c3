"""``python -m smc``: the ``smc`` program (server, chat, keys, legacy tools), the same
code as the ``smc`` binary, run in-process through the Rust extension."""

import sys

from smc._smc import run_cli


def main() -> int:
    """Runs ``smc`` with this process's arguments; returns its exit code."""
    return run_cli(["smc", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
