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

echo "==> wheel (maturin --zig, manylinux_2_28, abi3)"
start=$SECONDS
# A target directory of its own: zig as the C compiler would otherwise make cargo
# rebuild the C parts of the other builds in target/.
maturin build --release --locked --zig --compatibility manylinux_2_28 \
    --target-dir "$ROOT/target/wheel" --out "$DIST"
echo "    (wheel: $((SECONDS - start)) s)"
echo "==> sdist"
maturin sdist --out "$DIST" >/dev/null
echo "==> the C install tree"
start=$SECONDS
bash "$ROOT/scripts/install-c.sh" "$DIST/libsmc-$VERSION" >/dev/null
echo "    (the C install tree: $((SECONDS - start)) s)"
(cd "$DIST" && ls -l)
