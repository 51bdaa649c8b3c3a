#!/usr/bin/env bash
# Whole-run benchmark of the epoch job against a plain read and rewrite of the same documents
# dataset (crates/pipeline/examples/rewrite.rs), on the Chinese corpora with the MacBERT pipeline
# and on English with the RoBERTa pipeline. Prints times and ratios (target: epoch <= 2x rewrite).
#
#   bash benches/epoch_vs_rewrite.sh        # corpora from ../shared/corpora or $MASKFORGE_CORPORA
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-measure}
CORPORA=${MASKFORGE_CORPORA:-../shared/corpora}
TARGET=${CARGO_TARGET_DIR:-target}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --quiet --profile "$PROFILE" -p maskforge --bin maskforge
cargo build --quiet --profile "$PROFILE" -p maskforge-pipeline --example rewrite
BIN="$TARGET/$PROFILE/maskforge"
REWRITE="$TARGET/$PROFILE/examples/rewrite"

seconds() { /usr/bin/time -f "%e" -o "$WORK/t" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err"; exit 1; }; cat "$WORK/t"; }

for case in "macbert-zh.toml zh" "roberta-en.toml en"; do
    set -- $case
    out="$WORK/$2"
    inputs=(); for f in "$CORPORA/$2"/*.txt; do inputs+=(--input "$f"); done
    "$BIN" prepare "pipelines/$1" "${inputs[@]}" --output "$out" --quiet >/dev/null
    t_epoch1=$(seconds "$BIN" epoch "pipelines/$1" --output "$out" --epoch 0 --threads 1 --quiet)
    t_epoch2=$(seconds "$BIN" epoch "pipelines/$1" --output "$out" --epoch 1 --threads 2 --quiet)
    t_rewrite=$(seconds "$REWRITE" "$out/documents" "$WORK/rewrite-$2")
    examples=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['stats']['examples'])" "$out/epochs/0/manifest.json")
    mb=$(du -cb "$out"/documents/*.parquet | tail -1 | awk '{printf "%.1f", $1/1e6}')
    python3 - "$1" "$mb" "$examples" "$t_epoch1" "$t_epoch2" "$t_rewrite" <<'PY'
import sys
name, mb, examples, e1, e2, rw = sys.argv[1], *map(float, sys.argv[2:])
print(f"{name}: documents {mb:.1f} MB Parquet, {examples:.0f} examples")
print(f"  epoch --threads 1   {e1:7.2f}s  ({examples / e1:,.0f} examples/s)")
print(f"  epoch --threads 2   {e2:7.2f}s  (speed-up {e1 / e2:.2f}x, target >= 1.8x)")
print(f"  read + rewrite      {rw:7.2f}s")
print(f"  epoch (2 threads) / rewrite: {e2 / rw:.2f}x (target <= 2x)")
PY
done
