"""``python -m smc`` runs the same ``smc`` program as the binary (through the wheel)."""

import os
import subprocess
import sys

import smc


def run(*args, tmp_path, **env):
    environment = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"),
                       XDG_DATA_HOME=str(tmp_path / "data"), **env)
    for var in ("SMC_USER", "SMC_HOME", "SMC_SERVER", "SMC_CONFIG"):
        environment.pop(var, None)
    return subprocess.run([sys.executable, "-m", "smc", *args], capture_output=True,
                          text=True, env=environment, cwd=tmp_path, stdin=subprocess.DEVNULL,
                          timeout=60)


def test_version_help_and_usage_errors(tmp_path):
    out = run("--version", tmp_path=tmp_path)
    assert out.returncode == 0
    assert out.stdout.strip() == f"smc {smc.__version__}"
    out = run("chat", "--help", tmp_path=tmp_path)
    assert out.returncode == 0 and "--trust-server" in out.stdout
    out = run("frobnicate", tmp_path=tmp_path)
    assert out.returncode == 2 and "unrecognized subcommand" in out.stderr


def test_keygen_then_chat_with_a_python_client_through_line_mode(tmp_path):
    out = run("keygen", "--user", "ann", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "created the identity of ann" in out.stdout
    assert (tmp_path / "data" / "smc" / "ann" / "state.db").exists()

    with smc.Server(str(tmp_path / "server")) as server:
        bob = smc.Client(str(tmp_path / "bob"), "bob", auto_join=True)
        bob.connect(server.address)
        # ann, through `python -m smc chat` in line mode: creates a room, invites bob,
        # says one thing; bob (the Python API) reads it.
        script = "/create py\n/invite bob\nBonjour depuis python -m smc 🐍\n"
        out = subprocess.run(
            [sys.executable, "-m", "smc", "chat", "--server", server.address, "--user", "ann",
             "--trust-server", server.fingerprint],
            input=script, capture_output=True, text=True, timeout=60, cwd=tmp_path,
            env=dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"),
                     XDG_DATA_HOME=str(tmp_path / "data")))
        assert out.returncode == 0, out.stderr
        assert "#py <ann> Bonjour depuis python -m smc 🐍" in out.stdout
        m = bob.recv(timeout=10)
        assert (m.room, m.sender, m.text) == ("py", "ann", "Bonjour depuis python -m smc 🐍")
        bob.close()
