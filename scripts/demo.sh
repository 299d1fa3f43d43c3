#!/usr/bin/env bash
# The main job: a local demo of secure chat on the embedded default store (SQLite).
# Builds the `smc` program, starts `smc server` on a temporary data directory, runs
# alice, bob and carol as three `smc chat` clients (line mode, scripted by
# scripts/demo.py), prints the conversation as each of them saw it, and shows that the
# server's data holds only ciphertext. Exits 0 when all of that holds.
#
# Usage: bash scripts/demo.sh      (the full-screen client: smc chat --help)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The development profile (its dependencies optimised, see Cargo.toml): the demo starts
# sooner than after a release build, and `scripts/test.sh` has built most of it already.
# SMC_DEMO_SMC: an `smc` already built (scripts/test.sh passes the one its tests built:
# the same program, whose build here would differ only by the tests' dev-dependency
# features, and cost a fresh clone half a minute).
if [ -z "${SMC_DEMO_SMC:-}" ]; then
    echo "==> building smc"
    cargo build --locked --quiet -p smc-cli --bin smc
fi
exec python3 scripts/demo.py "${SMC_DEMO_SMC:-target/debug/smc}"
