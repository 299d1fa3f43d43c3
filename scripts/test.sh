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

echo "==> the C programs again under AddressSanitizer + UndefinedBehaviorSanitizer (and LeakSanitizer)"
SMC_C_SANITIZE=address,undefined cargo test --locked --test it c_abi::

echo "==> the C library installed into a prefix: pkg-config, shared and static, SONAME, exports"
bash "$ROOT/scripts/test_c_install.sh"

echo "==> pip install . (builds the abi3 wheel with maturin)"
python -m pip install --quiet --force-reinstall --no-deps .

echo "==> the type stubs against the installed wheel (mypy.stubtest), the examples under mypy --strict"
(cd "$ROOT/tests/python" && python -m mypy.stubtest smc --mypy-config-file /dev/null && python -m mypy --strict --cache-dir=/dev/null "$ROOT/python/examples")

echo "==> pytest on the installed wheel"
# Run from outside the source tree so that `import smc` finds the installed wheel, not python/.
(cd "$ROOT/tests/python" && python -m pytest -q -p no:cacheprovider .)
echo "==> the README's main command (scripts/demo.sh) runs to the end"
bash "$ROOT/scripts/demo.sh"
echo "==> all tests passed"
