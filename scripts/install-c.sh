#!/usr/bin/env bash
# Builds libsmc (release) and installs it as a C library under PREFIX, laid out as
# cargo-c would:
#   PREFIX/lib/libsmc.so.MAJOR.MINOR.PATCH (SONAME libsmc.so.MAJOR) and its links
#   libsmc.so.MAJOR and libsmc.so, PREFIX/lib/libsmc.a, PREFIX/include/smc.h and
#   PREFIX/lib/pkgconfig/smc.pc, whose Libs.private lists what a static link needs
#   (as rustc reports it).
#
# Usage: bash scripts/install-c.sh PREFIX
#        bash scripts/install-c.sh --from DIR LIBS_PRIVATE PREFIX
#   The second form builds nothing: it installs libsmc_ffi.so / .a already built in DIR
#   (scripts/release.sh: the wheel's release build, which compiles libsmc on its way),
#   with LIBS_PRIVATE (rustc's native-static-libs of that build) in smc.pc.
#   then: cc app.c $(pkg-config --cflags --libs smc)      (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig)
#   static: cc app.c $(pkg-config --cflags smc) $(pkg-config --variable=staticlib smc) \
#             $(pkg-config --static --libs-only-l smc | sed 's/-lsmc //')
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
USAGE="usage: bash scripts/install-c.sh [--from DIR LIBS_PRIVATE] PREFIX"
BUILT=""
if [ "${1:-}" = "--from" ]; then
    BUILT="$(realpath "${2:?$USAGE}")"
    LIBS_PRIVATE="${3:?$USAGE}"
    shift 3
fi
PREFIX="$(realpath -m "${1:?$USAGE}")"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -1)"
MAJOR="${VERSION%%.*}"

if [ -z "$BUILT" ]; then
    # SQLCipher's libcrypto: the system's when it has one (libssl-dev), as a
    # distribution's package links it (its security updates then reach libsmc;
    # pkg-config's Libs.private says -lcrypto for a static link); else OpenSSL compiled
    # in. The Python wheel always compiles its own (it must run on any manylinux system).
    if [ -z "${OPENSSL_NO_VENDOR+set}" ] && pkg-config --exists openssl 2>/dev/null; then
        export OPENSSL_NO_VENDOR=1
    fi

    echo "==> building libsmc $VERSION (release)"
    # The C ABI crate (bindings/c, package smc-ffi) built as `cargo build --release -p
    # smc-ffi` does, with rustc asked which system libraries the static library needs.
    # Cargo names its files libsmc_ffi.so / libsmc_ffi.a; they are installed as libsmc.
    NOTES="$(cargo rustc --release --locked -p smc-ffi --lib --quiet -- --print native-static-libs 2>&1)"
    LIBS_PRIVATE="$(printf '%s\n' "$NOTES" | sed -n 's/.*native-static-libs: //p' | tail -1)"
    [ -n "$LIBS_PRIVATE" ] || { printf '%s\n' "$NOTES" >&2; echo "no native-static-libs line" >&2; exit 1; }
    BUILT="$ROOT/target/release"
fi
for f in libsmc_ffi.so libsmc_ffi.a; do
    [ -f "$BUILT/$f" ] || { echo "$BUILT/$f: not built" >&2; exit 1; }
done

echo "==> installing into $PREFIX"
install -d "$PREFIX/lib/pkgconfig" "$PREFIX/include"
install -m 0755 "$BUILT/libsmc_ffi.so" "$PREFIX/lib/libsmc.so.$VERSION"
ln -sfn "libsmc.so.$VERSION" "$PREFIX/lib/libsmc.so.$MAJOR"
ln -sfn "libsmc.so.$MAJOR" "$PREFIX/lib/libsmc.so"
install -m 0644 "$BUILT/libsmc_ffi.a" "$PREFIX/lib/libsmc.a"
install -m 0644 "$ROOT/include/smc.h" "$PREFIX/include/smc.h"
cat > "$PREFIX/lib/pkgconfig/smc.pc" <<PC
prefix=$PREFIX
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include
staticlib=\${libdir}/libsmc.a

Name: smc
Description: Security Message Communication: an end-to-end encrypted messenger (C API)
Version: $VERSION
Libs: -L\${libdir} -lsmc
Libs.private: $LIBS_PRIVATE
Cflags: -I\${includedir}
PC
echo "==> installed: $(cd "$PREFIX" && find . -type f -o -type l | sort | tr '\n' ' ')"
