#!/usr/bin/env bash
# Soak of the server: a real `smc server` with many connected clients and steady traffic
# (benches/soak.rs), sampling its RSS, open descriptors and SQLite file sizes every 5 s;
# then a plot of the curves (matplotlib) beside the CSV.
#
# Usage: bash scripts/soak.sh [MINUTES, default 10] [CLIENTS, default 500] [OUT_DIR, default target/soak]
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
minutes="${1:-10}"
clients="${2:-500}"
out="${3:-$ROOT/target/soak}"
mkdir -p "$out"
python -c "import matplotlib" 2>/dev/null || python -m pip install --quiet matplotlib
cargo bench --locked --bench soak -- --minutes "$minutes" --clients "$clients" \
    --out "$out/soak.csv" | tee "$out/soak.txt"
python "$ROOT/scripts/plot_soak.py" "$out/soak.csv" "$out/soak.png" \
    "smc server soak: $clients clients, $minutes min (bash scripts/soak.sh $minutes $clients)"
echo "curves: $out/soak.png, samples: $out/soak.csv"
