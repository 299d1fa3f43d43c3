#!/usr/bin/env bash
# Builds the release artefacts into dist/:
#   - the Python wheel: abi3 (one wheel for CPython >= 3.9), tagged manylinux_2_28
#     (glibc 2.28: RHEL 8, Debian 10, Ubuntu 18.10 and later), built with zig as the
#     linker (maturin --zig) so that it links against that old glibc whatever this
#     machine has; OpenSSL's libcrypto (SQLCipher's cipher, for the client's state at
#     rest) is linked in statically, so it needs no system library;
#   - the sdist, from which `pip install` builds the same thing from source;
#   - the C install tree, dist/libsmc-VERSION/ (scripts/install-c.sh), from the same
#     build as the wheel.
#
# Usage: bash scripts/release.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
DIST="$ROOT/dist"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -1)"
rm -rf "$DIST"
mkdir -p "$DIST"
python -c "import ziglang" 2>/dev/null || python -m pip install --quiet ziglang

# One release build serves both: the wheel's. The Python extension's crate depends on
# the C ABI crate (bindings/python/Cargo.toml), and cargo builds a library with all its
# crate types, so the wheel's build also writes libsmc_ffi.so and libsmc_ffi.a: the same
# release profile, the same zig toolchain (glibc 2.28), OpenSSL compiled in, so the C
# library runs on the same systems as the wheel and needs no system libcrypto.
# rustc's `--print native-static-libs` (in RUSTFLAGS, which reach only the target's
# crates, not build scripts) reports, while libsmc.a is written, what a static link needs.
HOST="$(rustc -vV | sed -n 's/^host: //p')"

# libcrypto: the build machine's static one when it has it (Debian's libssl-dev, kept
# up to date by the distribution's security updates), else OpenSSL compiled from source
# (openssl-src, the `vendored` feature). Compiling it is a third of this build's CPU
# time (about 400 of 1,230 CPU-seconds on the 2-core CI machine, where this build runs
# beside the tests): that is the whole difference. SQLCipher uses only libcrypto's
# AES-256-CBC, HMAC-SHA512, PBKDF2 and random numbers. The wheel stays manylinux_2_28
# (zig links it against glibc 2.28; test.sh checks it with auditwheel) either way.
# Debian splits OpenSSL's headers in two directories (opensslconf.h and configuration.h
# are under the multiarch one); zig's compiler searches neither, and adding the
# multiarch directory would put the machine's glibc headers in front of zig's glibc
# 2.28, so the two are merged into one directory of their own. Its path stays the same
# from run to run (openssl-sys's build script runs again, with everything after it, when
# OPENSSL_INCLUDE_DIR changes), and `cp -u` keeps the headers' times.
MULTIARCH="$(cc -print-multiarch 2>/dev/null || true)"
if [ -n "$MULTIARCH" ] && [ -e "/usr/lib/$MULTIARCH/libcrypto.a" ] \
    && [ -e /usr/include/openssl/evp.h ] && [ -e "/usr/include/$MULTIARCH/openssl/opensslconf.h" ]; then
    OPENSSL_INC="$ROOT/target/wheel/openssl-include"
    mkdir -p "$OPENSSL_INC/openssl"
    cp -u /usr/include/openssl/*.h "/usr/include/$MULTIARCH/openssl/"*.h "$OPENSSL_INC/openssl/"
    export OPENSSL_NO_VENDOR=1 OPENSSL_STATIC=1 OPENSSL_INCLUDE_DIR="$OPENSSL_INC" \
        OPENSSL_LIB_DIR="/usr/lib/$MULTIARCH"
    echo "==> libcrypto: the system's static one ($OPENSSL_LIB_DIR/libcrypto.a, $(pkg-config --modversion libcrypto 2>/dev/null || echo "version unknown"))"
else
    unset OPENSSL_NO_VENDOR
    echo "==> libcrypto: OpenSSL compiled from source (no static libcrypto on this machine)"
fi
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
echo "==> wheel (maturin --zig, manylinux_2_28, abi3), and libsmc from the same build"
start=$SECONDS
# A target directory of its own: zig as the C compiler would otherwise make cargo
# rebuild the C parts of the other builds in target/.
RUSTFLAGS="--print native-static-libs" maturin build --release --locked --zig \
    --compatibility manylinux_2_28 --target-dir "$ROOT/target/wheel" --out "$DIST" 2>&1 \
    | tee "$LOG"
echo "    (wheel and libsmc: $((SECONDS - start)) s)"
LIBS_PRIVATE="$(sed -n 's/.*native-static-libs: //p' "$LOG" | tail -1)"
[ -n "$LIBS_PRIVATE" ] || { echo "the wheel's build printed no native-static-libs line" >&2; exit 1; }
echo "==> the C install tree (scripts/install-c.sh --from the wheel's build)"
bash "$ROOT/scripts/install-c.sh" --from "$ROOT/target/wheel/$HOST/release/deps" \
    "$LIBS_PRIVATE" "$DIST/libsmc-$VERSION" | tail -1
echo "==> sdist"
maturin sdist --out "$DIST" >/dev/null
(cd "$DIST" && ls -l)
