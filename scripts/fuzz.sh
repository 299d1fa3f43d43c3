#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of untrusted bytes (fuzz/src/lib.rs), with
# cargo fuzz (libFuzzer) on the machine's stable toolchain: RUSTC_BOOTSTRAP=1 lets
# stable rustc take the unstable flags cargo fuzz passes (-Zsanitizer, sancov passes).
#
# Usage: bash scripts/fuzz.sh [SECONDS per target, default 60] [TARGET...]
#   SMC_FUZZ_SANITIZER=address  builds with AddressSanitizer (default: none, faster)
#
# Each target runs from fuzz/corpus/<target> (plus fuzz/seeds/<target>); what it finds
# is minimised back into fuzz/corpus/<target> (a set cover of the edges reached), which
# is checked in and replayed by `cargo test --test it fuzz_replay` on stable. A crash is
# copied into fuzz/regressions/<target>/ (keep it: it becomes a regression input once fixed) and
# makes this script fail. The executions per target are printed and appended, with the
# date and the command, to fuzz/runs.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
export RUSTC_BOOTSTRAP=1
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
sanitizer="${SMC_FUZZ_SANITIZER:-none}"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
cargo fuzz build -O -s "$sanitizer" >/dev/null
failed=0
total=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    seeds=()
    [ -d "seeds/$t" ] && seeds=("seeds/$t")
    log="$(mktemp)"
    status=0
    cargo fuzz run -O -s "$sanitizer" "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=4096 \
        >"$log" 2>&1 || status=$?
    runs="$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)"
    total=$((total + runs))
    if [ "$status" -ne 0 ]; then
        failed=1
        mkdir -p "regressions/$t"
        cp artifacts/"$t"/* "regressions/$t/" 2>/dev/null || true
        echo "$t: CRASH after $runs executions (input in fuzz/regressions/$t/)"
        grep -m1 -A12 -E "panicked|ERROR: " "$log" || tail -20 "$log"
    else
        echo "$t: $runs executions in ${seconds}s, no crash"
    fi
    # Keep the checked-in corpus small: a smallest set of inputs that covers every edge
    # the run reached (counters ignored).
    minimal="$(mktemp -d)"
    cargo fuzz run -O -s "$sanitizer" "$t" "$minimal" "corpus/$t" -- \
        -set_cover_merge=1 -use_counters=0 >/dev/null 2>&1 &&
        rm -rf "corpus/$t" && mv "$minimal" "corpus/$t" || rm -rf "$minimal"
    printf '%s %s %s runs=%s status=%s (bash scripts/fuzz.sh %s, sanitizer %s)\n' \
        "$(date -u +%FT%TZ)" "$t" "${seconds}s" "$runs" "$status" "$seconds" "$sanitizer" >>runs.log
    rm -f "$log"
done
echo "total: $total executions"
exit "$failed"
