#!/usr/bin/env bash
# Runs every test of smc: format and lint checks, the Rust tests (which include the
# header-freshness check and the C programs compiled against libsmc), then the Python
# tests on the wheel built and installed by `pip install .`.
#
# Usage: bash scripts/test.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test (Rust, header freshness, C ABI via the C compiler)"
cargo test --locked

echo "==> the server and end-to-end tests again with every server's store on PostgreSQL (SMC_TEST_STORE)"
# The same test bodies on the other store. Skipped here: the tests that edit or read
# the SQLite file themselves (a malicious server playing with smc.db, its file modes,
# a SQLite backup); the cluster and store-contract tests run on PostgreSQL above.
SMC_TEST_STORE=postgres cargo test --locked --test it -- \
    messaging:: e2e_groups:: server_mls_support:: server_bad_input:: adversary:: key_reuse:: failover:: \
    --skip adversary::directs::a_flood --skip adversary::epochs::a_commit_without \
    --skip adversary::epochs::a_member_removed_by_a_commit --skip adversary::policy::removing_another \
    --skip adversary::removed:: --skip adversary::server_forgery:: --skip adversary::storage:: \
    --skip e2e_groups::after_leaving --skip e2e_groups::the_servers_data_directory \
    --skip failover::a_standby --skip messaging::stopping_the_server_under_load

echo "==> every benchmark once in a tiny configuration (SMC_BENCH_QUICK; figures meaningless): they still run"
SMC_BENCH_QUICK=1 cargo test --locked --benches

echo "==> the C programs again under AddressSanitizer + UndefinedBehaviorSanitizer (and LeakSanitizer)"
SMC_C_SANITIZE=address,undefined cargo test --locked --test it c_abi::

echo "==> the C library installed into a prefix: pkg-config, shared and static, SONAME, exports"
bash "$ROOT/scripts/test_c_install.sh"

echo "==> the release artefacts (scripts/release.sh): manylinux wheel, sdist, C install tree"
bash "$ROOT/scripts/release.sh"
WHEEL="$(ls "$ROOT"/dist/smc-*-manylinux_*.whl)"
echo "==> auditwheel: a manylinux wheel that needs no library outside the policy"
AUDIT="$(python -m auditwheel show "$WHEEL")"
echo "$AUDIT"
# auditwheel wraps its lines: the checks read its output as one line.
FLAT="$(echo "$AUDIT" | tr -s '\n ' '  ')"
echo "$FLAT" | grep -q 'consistent with the following platform tag: "manylinux_' \
    || { echo "not a manylinux wheel" >&2; exit 1; }
if echo "$FLAT" | grep -qi "external shared libraries"; then
    echo "the wheel needs external shared libraries" >&2; exit 1
fi
# The same wheel in the project's virtualenv (the stub check and the demo's tools).
python -m pip install --quiet --force-reinstall --no-deps "$WHEEL"

echo "==> the type stubs against the installed wheel (mypy.stubtest), the examples under mypy --strict"
(cd "$ROOT/tests/python" && python -m mypy.stubtest smc --mypy-config-file /dev/null && python -m mypy --strict --cache-dir=/dev/null "$ROOT/python/examples")

echo "==> pytest on the wheel installed into a brand-new virtualenv outside the source tree"
FRESH="$(mktemp -d)"
python -m venv "$FRESH/venv"
"$FRESH/venv/bin/python" -m pip install --quiet "$WHEEL" pytest hypothesis
# Run from outside the source tree so that `import smc` finds the installed wheel, not python/.
(cd "$ROOT/tests/python" && "$FRESH/venv/bin/python" -m pytest -q -p no:cacheprovider .)
echo "==> the Python benchmarks once in a tiny configuration, on the installed wheel"
(cd "$FRESH" && SMC_BENCH_QUICK=1 "$FRESH/venv/bin/python" "$ROOT/benches/python_recv.py")
rm -rf "$FRESH"
echo "==> the README's main command (scripts/demo.sh) runs to the end"
bash "$ROOT/scripts/demo.sh"
echo "==> all tests passed"
