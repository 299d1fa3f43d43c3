#!/usr/bin/env bash
# Builds the release artefacts into dist/:
#   - the Python wheel: abi3 (one wheel for CPython >= 3.9), tagged manylinux_2_28
#     (glibc 2.28: RHEL 8, Debian 10, Ubuntu 18.10 and later), built with zig as the
#     linker (maturin --zig) so that it links against that old glibc whatever this
#     machine has; OpenSSL is compiled in (vendored), so it needs no system library;
#   - the sdist, from which `pip install` builds the same thing from source;
#   - the C install tree, dist/libsmc-VERSION/ (scripts/install-c.sh).
#
# Usage: bash scripts/release.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
DIST="$ROOT/dist"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -1)"
rm -rf "$DIST"
mkdir -p "$DIST"
python -c "import ziglang" 2>/dev/null || python -m pip install --quiet ziglang

# The wheel and the C install tree are two release builds in two target directories:
# built side by side, each keeps the core the other leaves idle (one codegen unit per
# crate and the LTO link run on one core each).
echo "==> the C install tree (scripts/install-c.sh), in the background"
start=$SECONDS
C_LOG="$(mktemp)"
bash "$ROOT/scripts/install-c.sh" "$DIST/libsmc-$VERSION" > "$C_LOG" 2>&1 &
C_BUILD=$!
echo "==> wheel (maturin --zig, manylinux_2_28, abi3)"
# A target directory of its own: zig as the C compiler would otherwise make cargo
# rebuild the C parts of the other builds in target/.
if ! maturin build --release --locked --zig --compatibility manylinux_2_28 \
    --target-dir "$ROOT/target/wheel" --out "$DIST"; then
    kill "$C_BUILD" 2>/dev/null || true
    wait "$C_BUILD" 2>/dev/null || true
    exit 1
fi
echo "    (wheel: $((SECONDS - start)) s)"
if ! wait "$C_BUILD"; then
    cat "$C_LOG" >&2
    echo "the C install tree failed" >&2
    exit 1
fi
tail -1 "$C_LOG"
rm -f "$C_LOG"
echo "    (the C install tree, built beside the wheel: $((SECONDS - start)) s)"
echo "==> sdist"
maturin sdist --out "$DIST" >/dev/null
(cd "$DIST" && ls -l)
