#!/usr/bin/env bash
# Runs every test of smc: format and lint checks, the Rust tests (which include the
# header-freshness check and the C programs compiled against libsmc, under
# AddressSanitizer + UndefinedBehaviorSanitizer), the store-dependent tests again on
# PostgreSQL, the benchmarks once in a tiny configuration, the release artefacts (the
# C install tree checked with pkg-config, the manylinux wheel), the Python tests on
# that wheel in a fresh virtualenv, and the README's demo.
#
# Each stage prints its time; the run ends with a table of the stages (also when a
# stage fails: the table then ends at the failed one).
#
# Usage: bash scripts/test.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# Clippy runs inside the builds instead of as a build of its own: clippy-driver is the
# compiler of the workspace's crates (RUSTC_WORKSPACE_WRAPPER, as `cargo clippy` sets
# it, with its lints denied as `cargo clippy -- -D warnings` would), so every target the
# tests, the benchmarks and the wheel build is linted while it is compiled, and the
# dependencies are compiled once instead of once more in check mode. Every cargo
# command below runs with the same settings, so none rebuilds what another built.
RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)"
CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
# CI builds from scratch once: incremental compilation's bookkeeping is pure cost there.
if [ "${CI:-}" = true ]; then
    export CARGO_INCREMENTAL=0
fi
# The test builds link SQLCipher against the system's libcrypto when it has one
# (libssl-dev; .ci/run installs it): OpenSSL built from source is the longest step of
# a fresh test build (164 s of one core, on its critical path: 333 s -> 256 s for the
# library). The release artefacts link libcrypto statically (release.sh chooses how,
# below it runs without this), so what ships needs no system OpenSSL.
if pkg-config --exists openssl 2>/dev/null; then
    export OPENSSL_NO_VENDOR=1
fi
# The integration tests mostly wait on sockets, servers and child processes: six at a
# time on two cores take 58 s instead of 128 s (two at a time, cargo's default here).
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-6}"

STAGE_NAMES=()
STAGE_SECONDS=()
RUN_START=$SECONDS
summary() {
    local code="${1:-$?}"
    echo
    echo "==> stages (seconds)"
    local i
    for i in "${!STAGE_NAMES[@]}"; do
        printf '    %6s  %s\n' "${STAGE_SECONDS[$i]}" "${STAGE_NAMES[$i]}"
    done
    printf '    %6s  %s\n' "$((SECONDS - RUN_START))" "total"
    [ "$code" -eq 0 ] || echo "    (failed with exit code $code)"
}
trap summary EXIT

# stage NAME COMMAND...: runs COMMAND, prints and records how long it took.
stage() {
    local name="$1"
    shift
    echo "==> $name"
    local start=$SECONDS
    STAGE_NAMES+=("$name")
    STAGE_SECONDS+=("...")
    "$@"
    STAGE_SECONDS[${#STAGE_SECONDS[@]}-1]=$((SECONDS - start))
    echo "    ($name: $((SECONDS - start)) s)"
}

postgres_pass() {
    # The same test bodies with every server's store on PostgreSQL (SMC_TEST_STORE):
    # the tests whose outcome depends on the store. Not repeated: those that edit or
    # read the SQLite file themselves (a malicious server playing with smc.db, its file
    # modes, a SQLite backup and restores), and those that never reach the store's
    # behaviour (the legacy server, the transport's framing, names refused before any
    # store call). The cluster and store-contract tests run on PostgreSQL above.
    SMC_TEST_STORE=postgres cargo test --locked --test it -- \
        messaging:: e2e_groups:: server_mls_support:: server_bad_input:: adversary:: failover:: devices:: \
        --skip adversary::directs::a_flood --skip adversary::epochs::a_commit_without \
        --skip adversary::epochs::a_member_removed_by_a_commit --skip adversary::policy::removing_another \
        --skip adversary::removed:: --skip adversary::server_forgery:: --skip adversary::storage:: \
        --skip adversary::consent::a_server_that_claims --skip adversary::strangers::an_expired \
        --skip adversary::legacy:: --skip adversary::names:: --skip adversary::devices::a_device_the_server_moves \
        --skip e2e_groups::after_leaving --skip e2e_groups::the_servers_data_directory \
        --skip failover::a_standby --skip failover::a_backup_restored_twice \
        --skip failover::addresses_that_do_not_answer --skip failover::a_new_address_must_present \
        --skip failover::an_address_whose_host_is_gone --skip adversary::welcome::a_flood \
        --skip adversary::welcome::auto_join_takes \
        --skip messaging::stopping_the_server_under_load
}

auditwheel_check() {
    local audit flat
    audit="$(python -m auditwheel show "$WHEEL")"
    echo "$audit"
    # auditwheel wraps its lines: the checks read its output as one line.
    flat="$(echo "$audit" | tr -s '\n ' '  ')"
    grep -q 'consistent with the following platform tag: "manylinux_' <<<"$flat" \
        || { echo "not a manylinux wheel" >&2; return 1; }
    if grep -qi "external shared libraries" <<<"$flat"; then
        echo "the wheel needs external shared libraries" >&2
        return 1
    fi
    # The same wheel in the project's virtualenv (the stub check and the demo's tools).
    python -m pip install --quiet --force-reinstall --no-deps "$WHEEL"
}

stubs_check() {
    (cd "$ROOT/tests/python" && python -m mypy.stubtest smc --mypy-config-file /dev/null \
        && python -m mypy --strict --cache-dir=/dev/null "$ROOT/python/examples")
}

pytest_on_wheel() {
    FRESH="$(mktemp -d)"
    python -m venv "$FRESH/venv"
    "$FRESH/venv/bin/python" -m pip install --quiet "$WHEEL" pytest hypothesis
    # Run from outside the source tree so that `import smc` finds the installed wheel,
    # not python/.
    (cd "$ROOT/tests/python" && "$FRESH/venv/bin/python" -m pytest -q -p no:cacheprovider .)
    echo "==> the Python benchmarks once in a tiny configuration, on the installed wheel"
    (cd "$FRESH" && SMC_BENCH_QUICK=1 "$FRESH/venv/bin/python" "$ROOT/benches/python_recv.py")
    rm -rf "$FRESH"
}

# The release artefacts (the one release build of the wheel and the C library, with
# OpenSSL compiled from source: the longest build of the run) are built in the
# background from the start, at the lowest CPU priority: they take the cores the test
# build leaves idle (its serial steps) and those the tests leave idle (they mostly wait
# on sockets and processes), and the tests are not slowed by them. Their stage below
# waits for them and shows their log.
# Job control on for this one job: it gets a process group of its own (killed as a
# whole if the run stops early), in the same session (a new session would get a
# scheduler autogroup of its own, with as much CPU as the tests whatever its nice).
RELEASE_LOG="$(mktemp)"
set -m
nice -n 19 env -u OPENSSL_NO_VENDOR bash "$ROOT/scripts/release.sh" >"$RELEASE_LOG" 2>&1 &
RELEASE_PID=$!
set +m
stop_release() {
    if kill -0 "$RELEASE_PID" 2>/dev/null; then
        kill -- "-$RELEASE_PID" 2>/dev/null || true
    fi
    if [ -n "${C_INSTALL_PID:-}" ] && kill -0 "$C_INSTALL_PID" 2>/dev/null; then
        kill "$C_INSTALL_PID" 2>/dev/null || true
    fi
}
trap 'code=$?; stop_release; summary "$code"' EXIT
# await_job PID LOG: waits for a background job, shows its log, and fails as it failed.
await_job() {
    local code=0
    wait "$1" || code=$?
    cat "$2"
    rm -f "$2"
    return "$code"
}
release_artefacts() { await_job "$RELEASE_PID" "$RELEASE_LOG"; }

stage "cargo fmt --check" cargo fmt --all -- --check
# The C programs run once, under the sanitizers (SMC_C_SANITIZE, read by tests/it/c_abi.rs).
stage "cargo test, linted by clippy as it builds (Rust, header freshness, C ABI under ASan+UBSan)" \
    env SMC_C_SANITIZE=address,undefined cargo test --locked
stage "the store-dependent tests again on PostgreSQL (SMC_TEST_STORE)" postgres_pass
stage "every benchmark once in a tiny configuration, linted as it builds (SMC_BENCH_QUICK)" \
    env SMC_BENCH_QUICK=1 cargo test --locked --benches
# The wheel's build lints the Python extension's crate (the one crate not in the tests).
stage "the release artefacts (scripts/release.sh, in the background since the start): manylinux wheel, sdist, C install tree" \
    release_artefacts
WHEEL="$(ls "$ROOT"/dist/smc-*-manylinux_*.whl)"
# The installed C library's checks (C compiles, mostly) run beside the wheel's (pytest
# mostly waits on sockets): both only read dist/. Its stage below waits for it.
C_INSTALL_LOG="$(mktemp)"
bash "$ROOT/scripts/test_c_install.sh" \
    "$ROOT/dist/libsmc-$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -1)" \
    >"$C_INSTALL_LOG" 2>&1 &
C_INSTALL_PID=$!
c_install_checks() { await_job "$C_INSTALL_PID" "$C_INSTALL_LOG"; }
stage "auditwheel: a manylinux wheel that needs no library outside the policy" auditwheel_check
stage "the type stubs against the installed wheel (mypy.stubtest), the examples under mypy --strict" \
    stubs_check
stage "pytest on the wheel installed into a brand-new virtualenv outside the source tree" \
    pytest_on_wheel
stage "the C library as installed (beside the stages above): pkg-config, shared and static, SONAME, exports" \
    c_install_checks
# With the `smc` the test build made (target/debug/smc, the program the tests ran).
stage "the README's main command (scripts/demo.sh) runs to the end" \
    env SMC_DEMO_SMC="$ROOT/target/debug/smc" bash "$ROOT/scripts/demo.sh"
echo "==> all tests passed"
