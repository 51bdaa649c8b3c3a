#!/usr/bin/env bash
# Worker processes against one process on this machine. First: prepare and epoch of the MacBERT
# pipeline on the Chinese corpora, once as one process with $CORES threads, once as $WORKERS
# concurrent worker processes sharing the same cores (threads split between them). Checks that
# both give the same bytes and prints the times. Then benches/units.sh: one large JSON Lines and
# one large Parquet file, cut into units, prepared by 1 worker and by 2 (one thread each).
#
#   bash benches/workers.sh                 # corpora from ../shared/corpora or $MASKFORGE_CORPORA
#   WORKERS=3 NEGATIVE_POOL=2000 bash benches/workers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-measure}
CORPORA=${MASKFORGE_CORPORA:-../shared/corpora}
TARGET=${CARGO_TARGET_DIR:-target}
WORKERS=${WORKERS:-3}
CORES=${CORES:-$(nproc)}
NEGATIVE_POOL=${NEGATIVE_POOL:-2000}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --quiet --profile "$PROFILE" -p maskforge --bin maskforge
BIN="$TARGET/$PROFILE/maskforge"
common=(pipelines/macbert-zh.toml --input "$CORPORA/zh/*.txt" --quiet --set pairs.negative_pool="$NEGATIVE_POOL")
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

for job in prepare epoch; do
    extra=(); [ "$job" = epoch ] && extra=(--epoch 0)
    start=$(now)
    "$BIN" "$job" "${common[@]}" --output "$WORK/one" "${extra[@]}" --threads "$CORES" >/dev/null
    one=$(elapsed "$start" "$(now)")
    start=$(now)
    pids=()
    for ((i = 0; i < WORKERS; i++)); do
        "$BIN" "$job" "${common[@]}" --output "$WORK/many" "${extra[@]}" --workers "$WORKERS" --worker-index "$i" \
            --threads $(( (CORES + WORKERS - 1) / WORKERS )) >/dev/null &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    many=$(elapsed "$start" "$(now)")
    echo "$job: 1 process ($CORES threads) ${one}s, $WORKERS workers ${many}s"
done
for dataset in documents epochs/0; do
    cmp "$WORK/one/$dataset/manifest.json" "$WORK/many/$dataset/manifest.json"
done
echo "same manifests (and so the same shard checksums) from 1 process and $WORKERS workers"

# Few large files, cut into units (issue 14): 1 worker against 2, one thread each.
bash benches/units.sh
