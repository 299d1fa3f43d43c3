"""The legacy drop-ins and the Pythonic legacy API, on the installed wheel, with real
sockets on loopback, real files and real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import services
import smc
import smc.client
import smc.server


def _connect_when_up(port: int, client_id: str, alive=lambda: True) -> smc.LegacyClient:
    """Connects once a server listens on `port` (it may still be starting)."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return smc.LegacyClient("127.0.0.1", port, client_id)
        except OSError:
            assert time.monotonic() < deadline and alive(), "server did not come up"
            time.sleep(0.05)


def test_str_log_and_list_log_vectors(vectors: dict, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for case in vectors["str_log"]:
        (tmp_path / "log.txt").write_text("".join(l + "\n" for l in case["log_lines"]), encoding="utf-8")
        assert smc.server.list_log() == case["list_log"]
        assert smc.server.str_log(case["list_log"]) == case["str_log"]


def test_process_response_vectors(vectors: dict, capsys) -> None:
    for case in vectors["process_response"]:
        expected = case.get("smc_ok", case.get("ok"))
        stdout = case.get("smc_stdout", case["stdout"])
        assert smc.client.process_response(case["data"], case["data2"], case["messager"]) == expected, case
        assert capsys.readouterr().out == stdout, case


def test_server_file_functions(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert smc.server.process_server("a|#x[CLIENT 1:2]@abc") == "a|#x[CLIENT 1:2]@abc"
    assert smc.server.process_server("/stop") == "/stop"  # not logged
    smc.server.log("b|#y[CLIENT 1:3]@d@e")
    assert (tmp_path / "log.txt").read_text() == "a|#x[CLIENT 1:2]@abc\nb|#y[CLIENT 1:3]@d@e\n"
    assert smc.server.str_log(smc.server.list_log()) == "a|#x[CLIENT 1:2],abc"
    smc.server.log_connection("<socket.socket fd=4>")
    line = (tmp_path / "log_connection.txt").read_text()
    assert line.endswith("> <socket.socket fd=4> connected on server \n")
    assert smc.client.str2dict("a,b,c") == ["a", "b", "c"]


def test_legacy_server_and_clients_chat(tmp_path: Path) -> None:
    with smc.LegacyServer("127.0.0.1", 0, tmp_path) as server:
        assert server.running and server.port
        with smc.LegacyClient("127.0.0.1", server.port, "#a") as a, smc.LegacyClient(
            "127.0.0.1", server.port, "#b"
        ) as b, smc.LegacyClient("127.0.0.1", server.port, "#c") as c:
            assert a.send("Bonjour tout le monde") is None
            assert b.send("Salut") == "Bonjour tout le monde"
            assert c.send("Coucou é") == "Salut"
            b.close()  # /stop from one client; the others go on
            assert a.send("Et maintenant ?") == "Coucou é"
            with pytest.raises(ValueError) as info:
                a.send("ê")
            assert isinstance(info.value, smc.UnsupportedCharacter)
            with pytest.raises(smc.MessageTooLong):
                a.send("a" * 70_000)
            assert c.send("Encore") == "Et maintenant ?"
    assert not server.running
    lines = (tmp_path / "log.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5
    assert lines[0].split("@")[1] == smc.crypt("Bonjour tout le monde", 35, 19)


def test_legacy_server_wait_takes_any_timeout(tmp_path: Path) -> None:
    # A wait too long for the clock waits until the server stops (no PanicException);
    # NaN and negative waits are refused.
    server = smc.LegacyServer("127.0.0.1", 0, tmp_path)
    server.start()
    assert server.wait(0.05) is False
    threading.Timer(0.3, server.stop).start()
    assert server.wait(1e300) is True
    for bad in (float("nan"), -1.0):
        with pytest.raises(ValueError):
            server.wait(bad)


def test_unwritable_log_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(smc.SmcIOError) as info:
        smc.LegacyServer("127.0.0.1", 0, tmp_path / "missing" / "dir").start()
    assert "log.txt" in str(info.value) and isinstance(info.value, OSError)


def test_connect_refused_is_an_oserror() -> None:
    port = services.free_port()
    with pytest.raises(OSError):
        smc.LegacyClient("127.0.0.1", port, "#x")


def test_connection_server_in_a_thread_stopped_from_another(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    port = services.free_port()
    monkeypatch.setattr(smc.server, "PORT", port)  # read at call time
    t = threading.Thread(target=smc.server.connection_server, daemon=True)
    t.start()
    client = _connect_when_up(port, "#t")
    assert client.send("hello") is None
    smc.server.stop()
    t.join(10)
    assert not t.is_alive()
    with socket.socket() as s:  # the port is free again at once
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    assert (tmp_path / "log.txt").exists()


def test_python_m_smc_client_with_piped_stdin(tmp_path: Path) -> None:
    with smc.LegacyServer("127.0.0.1", 0, tmp_path) as server:
        other = smc.LegacyClient("127.0.0.1", server.port, "#8djfy6hdj71kq0")
        other.send("Salut, ça va ?")
        code = (
            "import smc.client as c; c.PORT = %d; c.documentation(); c.run()" % server.port
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            input="alice\nBonjour George\nê\nComment vas-tu ?\n/stop\n",
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stderr
        assert "Donnez votre nom d'utilisateur : " in out.stdout
        assert "> " in out.stdout
        # ',' and 'ç' come back as 'r' and 'z': the cipher's own aliasing (PROTOCOL.md 1).
        assert "Response: Salutr za va ?" in out.stdout
        assert "cannot send: unsupported character 'ê' at position 0" in out.stdout
        assert "Close all connection" in out.stdout
        assert "Message send : 4" in out.stdout and "Message receive : 1" in out.stdout


def test_python_m_smc_client_at_end_of_input(tmp_path: Path) -> None:
    with smc.LegacyServer("127.0.0.1", 0, tmp_path) as server:
        code = "import smc.client as c; c.PORT = %d; c.run()" % server.port
        out = subprocess.run(
            [sys.executable, "-c", code], input="bob\nBonjour\n", capture_output=True, text=True, timeout=30
        )
        assert out.returncode == 0, out.stderr
        assert "Information : bob#8hdjajcur5d9l2" in out.stdout


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery to a child is POSIX here")
def test_python_m_smc_server_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = smc.server.PORT  # `python -m smc.server` serves on the original's port, 50100
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            pytest.skip(f"port {port} is busy on this machine")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "smc.server"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # SIGINT back to its default (a run started in the background inherits it ignored).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        client = _connect_when_up(port, "#a", alive=lambda: proc.poll() is None)
        assert client.send("Bonjour") is None
        client.close()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Welcome in SMC server" in out and "Online" in out
    assert (tmp_path / "log.txt").read_text(encoding="utf-8").endswith("@" + smc.crypt("Bonjour", 35, 19) + "\n")
    assert "Traceback" not in err
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
