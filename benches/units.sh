#!/usr/bin/env bash
# Scaling of prepare over worker processes on a corpus of few large files (issue 14): one large
# JSON Lines file and one large Parquet file (built from the shared corpora), prepared by one
# worker with one thread, then by 2 concurrent workers with one thread each. The files are cut
# into units of $UNIT_BYTES, so both workers get work. Checks that both give the same bytes,
# and prints the times, the CPU seconds, the speed-up and the input bytes each worker carried.
# Both runs are made twice: unpinned, and with each process pinned to a core of its own
# (taskset), which is how workers on separate machines scale: a "1 thread" worker also runs a
# reader thread and the shard encoder, so unpinned it uses more than one core.
#
#   bash benches/units.sh                  # corpora from ../shared/corpora or $MASKFORGE_CORPORA
#   COPIES=8 UNIT_BYTES=8388608 bash benches/units.sh
#   BIN=path/to/maskforge bash benches/units.sh   # a binary built already
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-measure}
CORPORA=${MASKFORGE_CORPORA:-../shared/corpora}
TARGET=${CARGO_TARGET_DIR:-target}
COPIES=${COPIES:-4}
UNIT_BYTES=${UNIT_BYTES:-4194304}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ -z "${BIN:-}" ]; then
    cargo build --quiet --profile "$PROFILE" -p maskforge --bin maskforge
    BIN="$TARGET/$PROFILE/maskforge"
fi
mkdir -p "$WORK/corpus"
# One large JSON Lines file: the poetry corpus one document a line, plus the fortunes, $COPIES times.
python3 - "$CORPORA" "$WORK/corpus" "$COPIES" <<'PY'
import json, sys, pyarrow as pa, pyarrow.parquet as pq
corpora, out, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
docs = [d.strip() for d in open(f"{corpora}/zh/chinese-poetry-12mb.txt", encoding="utf-8").read().split("\n\n") if d.strip()]
with open(f"{out}/large.jsonl", "w", encoding="utf-8") as f:
    for c in range(copies):
        for d in docs:
            f.write(json.dumps({"text": d}, ensure_ascii=False) + "\n")
        f.write(open(f"{corpora}/formats/fortunes-zh.jsonl", encoding="utf-8").read())
table = pq.read_table(f"{corpora}/formats/libreoffice-help-zh-cn.parquet")
pq.write_table(pa.concat_tables([table] * (copies * 4)), f"{out}/large.parquet", row_group_size=1000)
PY
ls -l "$WORK/corpus"
common=(pipelines/macbert-zh.toml --input "$WORK/corpus/large.jsonl" --input "$WORK/corpus/large.parquet"
    --set 'sources.0.format="auto"' --set "sources.0.unit_bytes=$UNIT_BYTES")
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

# run NAME PIN0 PIN1: one worker (pinned to PIN0), then two (pinned to PIN0 and PIN1); "" = unpinned.
run() {
    local name=$1 pins=("$2" "$3")
    pin() { if [ -n "$1" ]; then echo taskset -c "$1"; fi; }
    rm -rf "$WORK/one" "$WORK/two"
    local start one two
    start=$(now)
    RUST_LOG=info /usr/bin/time -f "%U %S" -o "$WORK/cpu-one" $(pin "${pins[0]}") "$BIN" prepare "${common[@]}" \
        --output "$WORK/one" --threads 1 2>"$WORK/one.log" >/dev/null
    one=$(elapsed "$start" "$(now)")
    start=$(now)
    for i in 0 1; do
        RUST_LOG=info /usr/bin/time -f "%U %S" -o "$WORK/cpu-two-$i" $(pin "${pins[i]}") "$BIN" prepare "${common[@]}" \
            --output "$WORK/two" --workers 2 --worker-index "$i" --threads 1 2>"$WORK/two-$i.log" >/dev/null &
        pids[i]=$!
    done
    wait "${pids[0]}" "${pids[1]}"
    two=$(elapsed "$start" "$(now)")
    cmp "$WORK/one/documents/manifest.json" "$WORK/two/documents/manifest.json"
    echo "$name: same manifest (and so the same shard checksums) from 1 worker and 2 workers"
    grep -ho "worker [0-9] of [0-9]: .*" "$WORK/one.log" "$WORK/two-0.log" "$WORK/two-1.log"
    python3 - "$name" "$one" "$two" "$WORK/cpu-one" "$WORK/cpu-two-0" "$WORK/cpu-two-1" <<'PY'
import sys
name, one, two = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
cpu = [sum(map(float, open(p).read().split()[-2:])) for p in sys.argv[4:]]
print(f"{name}: 1 worker {one:.2f}s ({cpu[0]:.2f} CPU s, {cpu[0] / one:.2f} cores busy); "
      f"2 workers {two:.2f}s ({cpu[1]:.2f} + {cpu[2]:.2f} CPU s); speed-up {one / two:.2f}x")
PY
}
run unpinned "" ""
run pinned 0 1
