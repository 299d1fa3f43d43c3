"""The main job, shown end to end with the real `smc` program.

A server on a temporary data directory; alice, bob and carol as three `smc chat`
processes in line mode (stdin: what they type; stdout: one line per message). alice
creates #general and invites the others; they talk, with accents and emoji; alice sends
a file (/send) and bob saves it (/save); then each member's screen is printed, and the
server's data directory is searched byte for byte for what was said and for the file's
content and name: it holds only ciphertext.

Usage: python scripts/demo.py path/to/smc   (scripts/demo.sh builds it and runs this)
"""

import os
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

FILE_NAME = "compte-rendu réunion 📎.txt"
SMC = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/smc")
TIMEOUT = 30.0

CONVERSATION = [
    ("alice", "Bonjour à tous ! Bienvenue dans #general 🎉"),
    ("bob", "Salut Alice ! Ça va ? Un café à 15 h ? ☕"),
    ("carol", "Très bien, merci. Je préfère un thé 🍵, à tout à l'heure !"),
    ("alice", "Parfait : rendez-vous à l'accueil, près de l'éléphant 🐘"),
    ("bob", "Naïve question : 日本語 et ünïcödé passent aussi ? 👍"),
    ("carol", "Oui, tout passe, et le serveur ne lit rien. 🔒"),
]


def fail(message):
    print(f"demo FAILED: {message}", file=sys.stderr)
    sys.exit(1)


class Process:
    """A child process whose stdout and stderr lines are collected as they come."""

    def __init__(self, name, args, env):
        self.name = name
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, text=True, encoding="utf-8", bufsize=1)
        self.out, self.err = [], []
        self.events = queue.Queue()
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, lines), daemon=True).start()

    def _pump(self, stream, lines):
        for line in stream:
            lines.append(line.rstrip("\n"))
            self.events.put(None)

    def wait_for(self, pattern, where="out"):
        """Waits until a line of stdout (or stderr) matches `pattern`."""
        lines = self.out if where == "out" else self.err
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for line in list(lines):
                if re.search(pattern, line):
                    return line
            if self.proc.poll() is not None and self.events.empty():
                break
            try:
                self.events.get(timeout=0.2)
            except queue.Empty:
                pass
        fail(f"{self.name} never printed {pattern!r}\n  stdout: {self.out}\n  stderr: {self.err}")

    def type(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()


def main():
    work = tempfile.mkdtemp(prefix="smc-demo-")
    env = dict(os.environ, NO_COLOR="1", RUST_LOG="warn")
    for var in ("SMC_CONFIG", "SMC_SERVER", "SMC_USER", "SMC_HOME", "SMC_PASSPHRASE"):
        env.pop(var, None)
    env["XDG_CONFIG_HOME"] = os.path.join(work, "config")  # no config file: defaults
    data = os.path.join(work, "server")
    print(f"==> smc server on a temporary data directory ({data})")
    server = Process("server", [SMC, "server", "--data-dir", data, "--listen", "127.0.0.1:0"], env)
    first = server.wait_for(r"listening on")
    address, fingerprint = re.search(r"listening on (\S+) \(key fingerprint ([^)]+)\)", first).groups()
    print(f"    listening on {address}, key fingerprint {fingerprint}")

    people = {}
    for name in ("bob", "carol", "alice"):
        people[name] = Process(name, [
            SMC, "chat", "--server", address, "--user", name,
            "--home", os.path.join(work, name), "--trust-server", fingerprint,
            "--room", "general", "--auto-join"], env)
        people[name].wait_for(r"connected to", where="err")
        print(f"==> {name} connected ({name}'s keys created in {os.path.join(work, name)})")

    alice = people["alice"]
    alice.type("/create general")
    alice.wait_for(r"created #general", where="err")
    alice.type("/invite bob carol")
    for name in ("bob", "carol"):
        line = people[name].wait_for(r"added you to #general", where="err")
        print(f"==> {name}: {line.removeprefix('smc: ')}")

    print("==> the conversation (each line is typed into one member's smc chat)")
    for speaker, text in CONVERSATION:
        people[speaker].type(text)
        for name, p in people.items():
            p.wait_for(re.escape(f"<{speaker}> {text}"))
        print(f"    {speaker:>5} typed: {text}")

    # A file: three chunks' worth of minutes, end-to-end encrypted like the messages.
    notes = os.path.join(work, FILE_NAME)
    content = ("Compte-rendu confidentiel : le budget de l'éléphant est validé. 🐘\n" * 2500).encode()
    with open(notes, "wb") as f:
        f.write(content)
    alice.type(f"/send {notes}")
    for name, p in people.items():
        p.wait_for(re.escape(f"<alice> [file 1] {FILE_NAME}"))
    print(f"    alice sent a file: {FILE_NAME} ({len(content)} bytes, /send)")
    saved = os.path.join(work, "bob-saved.txt")
    people["bob"].type(f"/save 1 {saved}")
    people["bob"].wait_for(r"saved file 1", where="err")
    with open(saved, "rb") as f:
        if f.read() != content:
            fail("the file bob saved differs from the one alice sent")
    print(f"    bob saved it (/save 1): the same {len(content)} bytes")

    for p in people.values():
        p.proc.stdin.close()
    for p in people.values():
        if p.proc.wait(timeout=TIMEOUT) != 0:
            fail(f"{p.name} exited with {p.proc.returncode}: {p.err}")

    for name, p in people.items():
        print(f"==> the conversation as {name} saw it (smc chat's output)")
        for line in p.out:
            print(f"    {line}")
        said = [line.split("> ", 1)[1] for line in p.out
                if re.search(r"#general <\w+> ", line) and "> [file " not in line]
        if said != [text for _, text in CONVERSATION]:
            fail(f"{name} did not see the conversation in order: {said}")

    server.proc.send_signal(signal.SIGTERM)
    if server.proc.wait(timeout=TIMEOUT) != 0:
        fail(f"the server exited with {server.proc.returncode}: {server.err}")

    print(f"==> what the server stored ({data})")
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(data) for f in fs)
    for path in files:
        print(f"    {os.path.relpath(path, data):24} {os.path.getsize(path):>8} bytes")
    db = sqlite3.connect(os.path.join(data, "smc.db"))
    rows = db.execute(
        "SELECT seq, sender, length(payload), hex(substr(payload, 1, 24)) FROM messages "
        "WHERE room = 'general' ORDER BY seq").fetchall()
    db.close()
    print(f"    #general holds {len(rows)} stored items (messages and group changes), e.g.:")
    for seq, sender, size, head in rows[-3:]:
        print(f"      seq {seq:>2} from {sender:<5} {size:>4} bytes: {head.lower()}...")
    blob = b"".join(open(p, "rb").read() for p in files)
    # Room and user names are what the server routes by (metadata it must see); the
    # words of the messages are not.
    words = {w for _, text in CONVERSATION for w in re.findall(r"\w{5,}", text)} - {"general"}
    print(f"==> searching every byte of the data directory for the {len(CONVERSATION)} messages "
          f"and their {len(words)} longer words")
    print("    (room and user names are routing metadata the server sees; the texts are not)")
    found = [t for _, t in CONVERSATION if t.encode() in blob]
    found += [w for w in words if w.encode() in blob or w.encode("utf-16-le") in blob]
    # The file: its name, and any 32 bytes of its content.
    print("    and for the file's name and for 32-byte pieces of its content")
    found += [n for n in (FILE_NAME, "Compte-rendu", "confidentiel") if n.encode() in blob]
    found += ["the file's content" for i in range(0, 4096, 32) if content[i:i + 32] in blob][:1]
    if found:
        fail(f"plaintext found in the server's data: {found}")
    print("    none found: the server stored only ciphertext (MLS and sealed file chunks)")
    shutil.rmtree(work)
    print("==> demo OK")


if __name__ == "__main__":
    main()
