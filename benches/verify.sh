#!/usr/bin/env bash
# Speed of `maskforge verify` (plain and --deep) and `maskforge sql`, side by side with what a
# user would run instead, in one run on one corpus (default: the largest in ../shared/corpora):
#   - plain verify of the documents and of an epoch against `sha256sum` of the same shards (the
#     plain check also reads every Parquet footer and lists the folder);
#   - deep verify against a pyarrow read of every row of the same shards (the deep check also
#     decodes and checks each row, and restores each example's first segment in its document);
#   - an `sql` aggregate over the epoch against the same aggregate in pyarrow.
# Release-grade `measure` profile (Cargo.toml); PROFILE=release for a full release build;
# MASKFORGE_BIN=path measures another binary.
#
#   bash benches/verify.sh [CORPUS_FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-measure}
CORPORA=${MASKFORGE_CORPORA:-$(cd .. && pwd)/shared/corpora}
CORPUS=$(realpath "${1:-$CORPORA/zh/chinese-poetry-12mb.txt}")
TARGET=${CARGO_TARGET_DIR:-target}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --quiet --profile "$PROFILE" -p maskforge --bin maskforge
BIN=${MASKFORGE_BIN:-$TARGET/$PROFILE/maskforge}
python3 -c "import pyarrow" 2>/dev/null || { echo "needs pyarrow (pip install pyarrow)"; exit 1; }

# Wall seconds of a command that must succeed.
seconds() {
    /usr/bin/time -f "%e" -o "$WORK/time" "$@" >"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stdout" "$WORK/stderr"; exit 1; }
    cat "$WORK/time"
}
OUT="$WORK/out"
"$BIN" run pipelines/macbert-zh.toml --input "$CORPUS" --output "$OUT" --quiet >/dev/null
DOCS="$OUT/documents" EPOCH="$OUT/epochs/0"
mapfile -t DOC_SHARDS < <(find "$DOCS" -name '*.parquet' | sort)
mapfile -t EPOCH_SHARDS < <(find "$EPOCH" -name '*.parquet' | sort)
mb() { du -cb "$@" | tail -1 | awk '{printf "%.1f", $1 / 1e6}'; }
echo "corpus: $(basename "$CORPUS"), $(mb "$CORPUS") MB; documents $(mb "${DOC_SHARDS[@]}") MB in ${#DOC_SHARDS[@]} shards, epoch $(mb "${EPOCH_SHARDS[@]}") MB in ${#EPOCH_SHARDS[@]}; profile $PROFILE; $(nproc) cores"

PYREAD='
import sys, pyarrow.parquet as pq
rows = sum(pq.read_table(f).num_rows for f in sys.argv[1:])
print(rows)'
PYAGG='
import sys, pyarrow.parquet as pq, pyarrow.compute as pc
import pyarrow as pa
tables = [pq.read_table(f, columns=["pair_type", "num_tokens", "masked_positions"]) for f in sys.argv[1:]]
t = pa.concat_tables(tables)
t = t.append_column("masked", pc.list_value_length(t["masked_positions"]))
print(t.group_by("pair_type").aggregate([("num_tokens", "sum"), ("masked", "sum")]))'
QUERY="SELECT pair_type, sum(num_tokens), sum(cardinality(masked_positions)) FROM examples GROUP BY 1"

t_sha_d=$(seconds sha256sum "${DOC_SHARDS[@]}")
t_plain_d=$(seconds "$BIN" verify "$DOCS")
t_py_d=$(seconds python3 -c "$PYREAD" "${DOC_SHARDS[@]}")
t_deep_d=$(seconds "$BIN" verify "$DOCS" --deep)
t_sha_e=$(seconds sha256sum "${EPOCH_SHARDS[@]}")
t_plain_e=$(seconds "$BIN" verify "$EPOCH")
t_py_e=$(seconds python3 -c "$PYREAD" "${EPOCH_SHARDS[@]}")
t_deep_e=$(seconds "$BIN" verify "$EPOCH" --deep)
t_py_q=$(seconds python3 -c "$PYAGG" "${EPOCH_SHARDS[@]}")
t_sql=$(seconds "$BIN" sql "$EPOCH" "$QUERY")
t_import=$(seconds python3 -c "import pyarrow.parquet, pyarrow.compute")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
printf '\n| check | maskforge s | baseline | baseline s | maskforge / baseline |\n|---|---|---|---|---|\n'
printf '| verify documents | %s | sha256sum | %s | %s |\n' "$t_plain_d" "$t_sha_d" "$(ratio "$t_plain_d" "$t_sha_d")"
printf '| verify --deep documents | %s | pyarrow read | %s | %s |\n' "$t_deep_d" "$t_py_d" "$(ratio "$t_deep_d" "$t_py_d")"
printf '| verify epoch | %s | sha256sum | %s | %s |\n' "$t_plain_e" "$t_sha_e" "$(ratio "$t_plain_e" "$t_sha_e")"
printf '| verify --deep epoch | %s | pyarrow read | %s | %s |\n' "$t_deep_e" "$t_py_e" "$(ratio "$t_deep_e" "$t_py_e")"
printf '| sql aggregate over the epoch | %s | pyarrow group_by | %s | %s |\n' "$t_sql" "$t_py_q" "$(ratio "$t_sql" "$t_py_q")"
printf '\n(every pyarrow time includes %s s of interpreter start and `import pyarrow`)\n' "$t_import"
