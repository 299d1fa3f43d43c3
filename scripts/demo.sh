#!/usr/bin/env bash
# The main job: secure chat on the embedded default store (SQLite), from Python and C,
# then the legacy SMC cipher kept for compatibility. (The console client of the next
# milestones will take over the first part.)
#
# Usage: bash scripts/demo.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

echo "==> building libsmc and the Python wheel (release)"
cargo build --release --locked --quiet
python -m pip install --quiet --force-reinstall --no-deps .

demo="$(mktemp -d)"
echo "==> Python: secure chat through an smc server (Noise transport, SQLite store in $demo)"
(cd /tmp && SMC_DEMO="$demo" python - <<'PY'
import os, smc

demo = os.environ["SMC_DEMO"]
with smc.Server(f"{demo}/server") as server:
    print(f"  server {server.address}, key fingerprint {server.fingerprint}")
    alice = smc.Client(f"{demo}/alice", "alice"); alice.connect(server.address)
    bob = smc.Client(f"{demo}/bob", "bob"); bob.connect(server.address)
    alice.create_room("general"); alice.invite("general", "bob")
    alice.send("general", "Bonjour Bob ! Ça va ? 🙂")
    m = bob.recv(timeout=5)
    print(f"  bob received in real time: [{m.room}] {m.sender}: {m.text}  ({m.timestamp:%H:%M:%S} UTC)")
    bob.close()
    del bob  # a home is used by one client at a time; bob comes back below
    alice.send("general", "Tu étais parti ? Voici ce que tu as manqué.")
    address = server.address
host, port = address.rsplit(":", 1)
with smc.Server(f"{demo}/server", host=host, port=int(port)) as server:
    bob = smc.Client(f"{demo}/bob", "bob"); bob.connect(server.address)
    m = bob.recv(timeout=5)
    print(f"  after a server restart, bob gets what he missed: {m.sender}: {m.text}")
    print(f"  history kept: {[x.text for x in bob.history('general')]}")
PY
)

echo "==> C: bindings/c/examples/chat.c linked with -lsmc"
cc -std=c11 -Wall -Wextra -Werror -I include bindings/c/examples/chat.c \
   -L target/release -lsmc -Wl,-rpath,"$ROOT/target/release" -o "$demo/chat"
"$demo/chat" "$demo/c" | sed 's/^/  /'
rm -rf "$demo"

echo "==> Python: the original functions, in Rust"
(cd /tmp && python - <<'PY'
import smc
from smc.client import crypt, decrypt

for line in ["Bonjour George, comment vas-tu ?", "Très bien, et toi ? On se voit à 18h30 ?"]:
    c = crypt(line, 35, 19)
    print(f"  {line!r:45} -> {c!r:45} -> {decrypt(c, 35, 19)!r}")
try:
    crypt("Ça va ? 🙂", 35, 19)
except ValueError as e:
    print(f"  unsupported input is a clear error: {e}")
print("  (the legacy cipher gives NO security: 9,312 keys, kept only for compatibility)")
PY
)

echo "==> C: bindings/c/examples/crypt.c linked with -lsmc"
out="$(mktemp -d)"
cc -std=c11 -Wall -Wextra -Werror -I include bindings/c/examples/crypt.c \
   -L target/release -lsmc -Wl,-rpath,"$ROOT/target/release" -o "$out/crypt"
echo "  $("$out/crypt" "Test")"
rm -rf "$out"
