#!/usr/bin/env bash
# The C library as its users get it: an installed libsmc (the tree PREFIX that
# scripts/install-c.sh wrote, e.g. dist/libsmc-VERSION from scripts/release.sh; without
# an argument, installed here into a temporary prefix). Builds every example and C test
# with pkg-config, linked to the shared library and to the static one, runs the
# programs linked to the installed shared library and the chat linked to the static one
# (tests/it/c_abi.rs runs them all against the build tree, under the sanitizers), and
# checks what the shared library exports (only smc_* symbols) and its SONAME.
#
# Usage: bash scripts/test_c_install.sh [PREFIX]
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if [ -n "${1:-}" ]; then
    PREFIX="$(realpath "$1")"
else
    PREFIX="$WORK/prefix"
    bash "$ROOT/scripts/install-c.sh" "$PREFIX" >/dev/null
fi
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
LIBDIR="$(pkg-config --variable=libdir smc)"
VERSION="$(pkg-config --modversion smc)"

echo "==> libsmc.so: SONAME and exported symbols"
soname="$(readelf -d "$LIBDIR/libsmc.so.$VERSION" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')"
[ "$soname" = "libsmc.so.${VERSION%%.*}" ] || { echo "SONAME is '$soname'" >&2; exit 1; }
others="$(nm -D --defined-only "$LIBDIR/libsmc.so" | awk '{print $3}' | grep -v '^smc_' || true)"
[ -z "$others" ] || { echo "exported beyond smc_*:" >&2; echo "$others" >&2; exit 1; }
echo "    SONAME $soname, $(nm -D --defined-only "$LIBDIR/libsmc.so" | wc -l) symbols, all smc_*"

echo "==> the header alone: C99 pedantic and C++17"
printf '#include <smc.h>\nint main(void) { return SMC_VERSION_MAJOR < 0 || smc_version() == 0; }\n' > "$WORK/h.c"
cc -std=c99 -Wall -Wextra -pedantic -Werror $(pkg-config --cflags smc) -c "$WORK/h.c" -o "$WORK/h.o"
cp "$WORK/h.c" "$WORK/h.cpp"
c++ -std=c++17 -Wall -Wextra -pedantic -Werror $(pkg-config --cflags smc) -c "$WORK/h.cpp" -o "$WORK/hpp.o"

STATIC_LIBS="$(pkg-config --static --libs-only-l smc | sed 's/-lsmc //')"
build() { # build NAME SOURCE: NAME.shared and NAME.static
    cc -std=c11 -Wall -Wextra -Werror "$2" $(pkg-config --cflags --libs smc) \
        -Wl,-rpath,"$LIBDIR" -o "$WORK/$1.shared"
    cc -std=c11 -Wall -Wextra -Werror "$2" $(pkg-config --cflags smc) \
        "$(pkg-config --variable=staticlib smc)" $STATIC_LIBS -o "$WORK/$1.static"
}
echo "==> every example and C test, built with pkg-config (shared and static)"
for src in "$ROOT"/bindings/c/examples/*.c "$ROOT"/tests/c/*.c; do
    build "$(basename "$src" .c)" "$src"
done
run() { # run PROGRAM KIND [ARG...]: a program that runs on its own (starting its own server)
    local dir="$WORK/run-$1-$2"
    mkdir -p "$dir"
    "$WORK/$1.$2" "$dir" "${@:3}" > "$dir.out" || { cat "$dir.out" >&2; echo "$1.$2 failed" >&2; exit 1; }
    rm -rf "$dir"
}
echo "==> running them (shared)"
[ "$("$WORK/crypt.shared")" = "e[j-" ] || { echo "crypt.shared" >&2; exit 1; }
for prog in chat events chat_bad_input server_trust legacy_bad_input legacy_chat; do
    run "$prog" shared
done
echo "==> files, an empty one and one of 100 MiB among them (shared)"
run files shared $((100 << 20))
echo "==> running the chat and the cipher (static)"
[ "$("$WORK/crypt.static")" = "e[j-" ] || { echo "crypt.static" >&2; exit 1; }
run chat static
# Captured first: `ldd | grep -q` fails under pipefail when grep's early exit makes
# ldd die of SIGPIPE.
LOADS="$(ldd "$WORK/chat.shared")"
grep -q "$LIBDIR/libsmc.so.${VERSION%%.*}" <<<"$LOADS" || { echo "chat.shared does not load the installed libsmc.so.${VERSION%%.*}" >&2; exit 1; }
LOADS="$(ldd "$WORK/chat.static")"
if grep -q libsmc <<<"$LOADS"; then echo "chat.static loads a libsmc.so" >&2; exit 1; fi
echo "==> the installed C library works (shared and static, pkg-config)"
