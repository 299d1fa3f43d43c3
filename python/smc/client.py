"""Drop-in replacement for the original ``client.py``.

Same names, signatures and results as the original (``from smc.client import *`` keeps
a script working); the socket, the cipher and the parsing run in Rust. Differences, all
where the original crashed: a reply it cannot parse prints nothing, a character outside
the cipher table is reported instead of killing the client, end of input (stdin piped
from another program) acts as ``/stop``. ``python -m smc.client`` runs it like
``python client.py``.

.. warning:: The legacy protocol and its affine cipher give **no security**.
"""

from __future__ import annotations

from typing import Any

from . import _smc
from ._original import (
    chiffrementAffine,
    crypt,
    dechiffrementAffine,
    decrypt,
    inverse,
    pgcd,
)
from .exceptions import CipherError

__all__ = [
    "HOST",
    "PORT",
    "client_data",
    "documentation",
    "info",
    "str2dict",
    "pgcd",
    "chiffrementAffine",
    "inverse",
    "dechiffrementAffine",
    "crypt",
    "decrypt",
    "process_response",
    "connection_client",
    "run",
]

#: Server address, as in the original.
HOST = "127.0.0.1"
#: Server port, as in the original.
PORT = 50100

#: The client's information, as in the original (client copy A's id).
client_data: dict[str, dict[str, Any]] = {
    "client": {
        "id": "#8hdjajcur5d9l2",
        "user_name": "",
        "message_send": 0,
        "message_receive": 0,
        "password": "test",
    }
}


def documentation() -> None:
    """Prints the client's banner."""
    print("\033[36m" + "Welcome in SMC (legacy client; the affine cipher gives no security)" + "\033[39m")


def info(client_data: dict[str, dict[str, Any]]) -> None:
    """Prints the client's information block (name, id, messages sent and received)."""
    c = client_data["client"]
    text = """
    Information : {}{} 
    Message send : {}
    Message receive : {}
    
    """.format(c["user_name"], c["id"], c["message_send"], c["message_receive"])
    print(text)


def str2dict(data: str) -> list[str]:
    """Splits a reply on ``,`` (the original's name kept: it returns a list)."""
    return data.split(",")


def process_response(data: str, data2: str, messager: int) -> int:
    """Prints ``Response: <decrypted text>`` for another client's message and returns
    ``messager + 1``; prints an empty line for one's own and returns ``messager``.
    A reply that cannot be parsed prints nothing and returns ``messager``."""
    out, messager = _smc.process_response(data, data2, messager)
    if out is not None:
        print(out)
    return messager


def connection_client(HOST: str, PORT: int) -> None:
    """The original client's session: asks the user name, then sends each typed line
    (encrypted) and prints the reply, until ``/stop`` or end of input."""
    c = client_data["client"]
    try:
        c["user_name"] = input("Donnez votre nom d'utilisateur : ")
    except EOFError:
        c["user_name"] = ""
    client = _smc.LegacyClient(HOST, PORT, c["id"])
    print("connection établie avec le serveur sur le port {}".format(PORT))
    client_info = client.tag[len(c["id"]) :]
    address = client_info[len("[CLIENT ") : -1]
    ip, _, port = address.rpartition(":")
    print("\033[31m" + "CLIENT " + c["user_name"] + " \033[36m" + ip + ":" + "\033[33m" + port)
    print("\033[31m" + "SERVER  " + "\033[36m" + HOST + ":" + "\033[33m" + str(PORT) + "\033[39m")
    message_s = 0
    message_r = 0
    try:
        while True:
            try:
                msg = input("> ")
            except EOFError:
                msg = "/stop"
            if msg:
                message_s += 1
                c["message_send"] = message_s
            if msg == "/stop":
                break
            try:
                message = client.message_for(msg)
            except CipherError as e:
                print(f"cannot send: {e}")
                continue
            response = client.exchange(message)
            message_r = process_response(response, c["id"] + client_info, message_r)
            c["message_receive"] = message_r
            c["message_send"] = message_s
    finally:
        print("Close all connection")
        client.close()
    info(client_data)


def run() -> None:
    """Runs the client against ``HOST``:``PORT``."""
    connection_client(HOST, PORT)


if __name__ == "__main__":
    documentation()
    run()
