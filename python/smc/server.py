"""Drop-in replacement for the original ``server.py``.

Same names as the original; the server itself (sockets, ``log.txt``,
``log_connection.txt``) runs in Rust. It serves many clients at once, a client's
``/stop`` ends only that client's session, and it answers at once instead of polling.
``python -m smc.server`` runs it like ``python server.py``; Ctrl-C stops it cleanly.
:func:`stop` stops a :func:`connection_server` running in another thread.

.. warning:: The legacy protocol and its affine cipher give **no security**.
"""

from __future__ import annotations

import os
import platform
import threading
from pathlib import Path
from typing import Any

from . import _smc

__all__ = [
    "HOST",
    "PORT",
    "client_connected",
    "server_data",
    "Clean",
    "documentation",
    "log",
    "log_connection",
    "process_server",
    "list_log",
    "str_log",
    "consoleCommand",
    "connection_server",
    "run",
    "stop",
]

#: Address to listen on (read when :func:`connection_server` starts).
HOST = "127.0.0.1"
#: Port to listen on (read when :func:`connection_server` starts).
PORT = 50100
#: Kept for compatibility; connections are tracked inside the Rust server.
client_connected: list[Any] = []
#: Kept for compatibility, as in the original.
server_data: dict[str, int] = {"count": 0}

_lock = threading.Lock()
_running: "_smc.LegacyServer | None" = None


def _here() -> Path:
    return Path.cwd()


def Clean() -> None:
    """Clears the console, as the original."""
    if platform.system() == "Windows":
        os.system("cls")
    elif platform.system() == "Linux":
        os.system("clear")


def documentation() -> None:
    """Prints the server's banner."""
    print("#~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~#")
    print("#                   " + "\033[31m" + "Welcome in SMC server" + "\033[39m" + "                      #")
    print("#~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~#")
    print("(smc legacy server: the affine cipher gives no security)")


def log(data: str) -> None:
    """Appends ``data`` and a newline to ``log.txt`` in the working directory."""
    _smc.log_append(_here(), data)


def log_connection(client_connected: Any) -> None:
    """Appends ``<now>> <client_connected> connected on server `` to ``log_connection.txt``."""
    _smc.log_connection(_here(), "{}".format(client_connected))


def process_server(data: str) -> str:
    """Logs ``data`` unless it is ``/stop``; returns it."""
    if data != "/stop":
        log(data)
    return data


def list_log() -> list[list[str]]:
    """The lines of ``log.txt``, each split on ``@``."""
    return _smc.list_log(_here())


def str_log(data: list[list[str]]) -> str:
    """The line before the last one of ``data`` (or the only one) joined by ``,``."""
    return _smc.str_log(data)


def consoleCommand(event: str) -> None:
    """``/log.txt`` prints the log; anything else exits, as the original."""
    if event == "/log.txt":
        print((_here() / "log.txt").read_text(encoding="utf-8", errors="replace"))
    else:
        raise SystemExit()


def connection_server() -> None:
    """Serves on ``HOST``:``PORT`` with the logs in the working directory, until Ctrl-C
    (KeyboardInterrupt, port released at once) or :func:`stop` from another thread."""
    global _running
    server = _smc.LegacyServer(HOST, PORT, _here(), True)
    server.start()
    with _lock:
        _running = server
    print("{serverver-status}:", "\033[32m", "Online", "\033[39m")
    print(f"<smc legacy server laddr={server.address}>")
    try:
        server.wait()
    finally:
        server.stop()
        with _lock:
            if _running is server:
                _running = None
        print("Close all connections")


def stop() -> None:
    """Stops the server started by :func:`connection_server` (from any thread)."""
    with _lock:
        server = _running
    if server is not None:
        server.stop()


def run() -> None:
    """Prints the server's address line, then serves (:func:`connection_server`)."""
    print("[" + "\033[31m" + "SERVER@" + "\033[36m" + HOST + " " + "\033[33m" + "-p " + str(PORT) + "\033[39m" + "]:\n")
    connection_server()


if __name__ == "__main__":
    documentation()
    try:
        run()
    except KeyboardInterrupt:
        print("stopped")
