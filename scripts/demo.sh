#!/usr/bin/env bash
# The main job, for now: the legacy SMC cipher from Python and from C, on the real
# libsmc. (The secure chat demo replaces this once the v2 server exists.)
#
# Usage: bash scripts/demo.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

echo "==> building libsmc and the Python wheel (release)"
cargo build --release --locked --quiet
python -m pip install --quiet --force-reinstall --no-deps .

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
