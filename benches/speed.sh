#!/usr/bin/env bash
# Side-by-side speed of maskforge against what a user would run instead, in one run:
#   - jieba-rs alone, Hugging Face WordPiece alone, the project's tokenizer alone, and jieba-rs +
#     the project's tokenizer (crates/text/examples/components.rs), one thread, every line;
#   - maskforge prepare (MacBERT pipeline) with 1 and 2 threads;
#   - the Python pipeline a user would write (benches/python_baseline.py: jieba +
#     BertTokenizerFast + whole-word DataCollatorForLanguageModeling, one process), in a venv
#     of its own under ~/.cache/maskforge/bench-venv;
#   - maskforge epoch with 1 and 2 threads with the full extended Cilin table, and a pyarrow read
#     + zstd rewrite of the same documents dataset;
#   - peak RSS of prepare and epoch on the corpus and on the corpus ten times over;
#   - the ratios, against the targets of issue 10.
# Release-grade `measure` profile (Cargo.toml); PROFILE=release for a full release build.
# MASKFORGE_BIN=path measures another maskforge binary (an older build, for before/after);
# REUSE_PYTHON=1 reuses the Python baseline's last result on the same files.
#
#   bash benches/speed.sh [CORPUS_FILE...]     # default: ../shared/corpora/zh/*.txt
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-measure}
SHARED=$(cd .. && pwd)/shared
CORPORA=${MASKFORGE_CORPORA:-$SHARED/corpora}
VOCAB_ROOT=${MASKFORGE_VOCAB:-$SHARED/vocab}
TARGET=${CARGO_TARGET_DIR:-target}
VENV=${MASKFORGE_BENCH_VENV:-$HOME/.cache/maskforge/bench-venv}
PIPELINE=pipelines/macbert-zh.toml
VOCAB=assets/vocab/bert-base-chinese/vocab.txt
CILIN="$VOCAB_ROOT/synonyms/cilin-extended.txt"
if [ $# -gt 0 ]; then FILES=("$@"); else FILES=("$CORPORA"/zh/*.txt); fi
for f in "${FILES[@]}"; do FILES_ABS+=("$(realpath "$f")"); done
FILES=("${FILES_ABS[@]}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --quiet --profile "$PROFILE" -p maskforge --bin maskforge
cargo build --quiet --profile "$PROFILE" -p maskforge-text --example components
BIN=${MASKFORGE_BIN:-$TARGET/$PROFILE/maskforge}
COMPONENTS="$TARGET/$PROFILE/examples/components"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import jieba, transformers, pyarrow, numpy" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet jieba transformers numpy pyarrow
fi
PY="$VENV/bin/python"
BYTES=$(du -cb "${FILES[@]}" | tail -1 | cut -f1)

# "SECONDS PEAK_KIB" of a command
measure() {
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/stdout" 2>"$WORK/stderr" || { cat "$WORK/stderr"; exit 1; }
    cat "$WORK/time"
}
prepare() { # threads output inputs...
    local threads=$1 out=$2; shift 2
    local inputs=(); for f in "$@"; do inputs+=(--input "$f"); done
    measure "$BIN" prepare "$PIPELINE" "${inputs[@]}" --output "$out" --threads "$threads" --quiet
}
epoch() { # threads output
    measure "$BIN" epoch "$PIPELINE" --output "$2" --epoch 0 --threads "$1" --set "masking.synonyms=$CILIN" --quiet
}

echo "corpus: ${#FILES[@]} files, $((BYTES / 1000000)) MB; profile $PROFILE; $(nproc) cores"
"$COMPONENTS" "$VOCAB" "${FILES[@]}" > "$WORK/components"
read -r t_one rss_p1 < <(prepare 1 "$WORK/one" "${FILES[@]}")
read -r t_two rss_p2 < <(prepare 2 "$WORK/two" "${FILES[@]}")
cmp -s "$WORK/one/documents/manifest.json" "$WORK/two/documents/manifest.json" || { echo "prepare: 1 and 2 threads differ"; exit 1; }
# The Python baseline is the slowest step; REUSE_PYTHON=1 reuses the last result for these files.
PY_CACHE="$HOME/.cache/maskforge/bench-python-$(printf '%s\n' "${FILES[@]}" | sha256sum | cut -c1-16).txt"
if [ "${REUSE_PYTHON:-0}" = 1 ] && [ -s "$PY_CACHE" ]; then
    cp "$PY_CACHE" "$WORK/python"
else
    "$PY" benches/python_baseline.py "$VOCAB_ROOT/bert-base-chinese" "${FILES[@]}" 2>/dev/null > "$WORK/python"
    mkdir -p "$(dirname "$PY_CACHE")" && cp "$WORK/python" "$PY_CACHE"
fi
read -r t_e1 _ < <(epoch 1 "$WORK/one")
cp "$WORK/one/epochs/0/manifest.json" "$WORK/epoch-1-thread.json"
read -r t_e2 rss_e1 < <(epoch 2 "$WORK/one")
cmp -s "$WORK/one/epochs/0/manifest.json" "$WORK/epoch-1-thread.json" || { echo "epoch: 1 and 2 threads differ"; exit 1; }
read -r t_rw _ < <(measure "$PY" -c '
import sys, pyarrow.parquet as pq, pathlib
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]); dst.mkdir()
for f in sorted(src.glob("*.parquet")):
    pq.write_table(pq.read_table(f), dst / f.name, compression="zstd")
' "$WORK/one/documents" "$WORK/rewrite")
# Ten distinct copies of the corpus (hard links where possible).
TEN=()
for i in $(seq 10); do
    mkdir -p "$WORK/corpus-$i"
    for f in "${FILES[@]}"; do
        ln "$f" "$WORK/corpus-$i/" 2>/dev/null || cp "$f" "$WORK/corpus-$i/"
        TEN+=("$WORK/corpus-$i/$(basename "$f")")
    done
done
read -r t_p10 rss_p10 < <(prepare 2 "$WORK/ten" "${TEN[@]}")
read -r t_e10 rss_e10 < <(epoch 2 "$WORK/ten")
examples=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['stats']['examples'])" "$WORK/one/epochs/0/manifest.json")
python_line=$(cat "$WORK/python")

python3 - "$BYTES" "$WORK/components" "$python_line" "$examples" \
    "$t_one" "$t_two" "$t_e1" "$t_e2" "$t_rw" "$t_p10" "$t_e10" "$rss_p2" "$rss_p10" "$rss_e1" "$rss_e10" <<'PY'
import re, sys
mb = int(sys.argv[1]) / 1e6
comp = {}
for line in open(sys.argv[2]):
    parts = line.split()
    if parts[0] == "differing_lines":
        differing = line.strip()
    else:
        comp[parts[0]] = float(parts[1])
python = float(re.search(r"in ([0-9.]+)s", sys.argv[3]).group(1))
examples = int(sys.argv[4])
one, two, e1, e2, rw, p10, e10 = map(float, sys.argv[5:12])
rss_p, rss_p10, rss_e, rss_e10 = (float(x) / 1024 for x in sys.argv[12:16])
rows = [
    ("jieba-rs alone (HMM)", comp["jieba"], mb),
    ("HF tokenizers WordPiece alone", comp["hf_tokenizer"], mb),
    ("maskforge tokenizer alone", comp["maskforge_tokenizer"], mb),
    ("jieba-rs + maskforge tokenizer", comp["jieba_plus_maskforge_tokenizer"], mb),
    ("maskforge prepare --threads 1", one, mb),
    ("maskforge prepare --threads 2", two, mb),
    ("Python: jieba + BertTokenizerFast + wwm collator", python, mb),
    ("maskforge epoch --threads 1 (full Cilin)", e1, None),
    ("maskforge epoch --threads 2 (full Cilin)", e2, None),
    ("pyarrow read + zstd rewrite of the documents", rw, None),
    ("maskforge prepare --threads 2, corpus x10", p10, 10 * mb),
    ("maskforge epoch --threads 2, corpus x10", e10, None),
]
print(f"| step | seconds | MB/s |\n|---|---:|---:|")
for name, t, size in rows:
    print(f"| {name} | {t:.2f} | {size / t:.2f} |" if size else f"| {name} | {t:.2f} | |")
print(f"\nepoch: {examples} examples; tokenizer check: {differing}\n")
def check(text, value, ok):
    print(f"| {text} | {value} | {'yes' if ok else 'NO'} |")
hf, ours, both = comp["hf_tokenizer"], comp["maskforge_tokenizer"], comp["jieba_plus_maskforge_tokenizer"]
print("| ratio (target) | value | met |\n|---|---:|:---:|")
check("prepare MB/s per core (>= 12)", f"{mb / one:.1f}", mb / one >= 12)
check("prepare vs Python per core (>= 25x)", f"{python / one:.1f}x", python / one >= 25)
check("prepare / (jieba-rs + tokenizer) (<= 1.5x)", f"{one / both:.2f}x", one / both <= 1.5)
check("prepare 2 threads vs 1 (>= 1.8x)", f"{one / two:.2f}x", one / two >= 1.8)
check("tokenizer vs HF (>= 8x zh, >= 2x en)", f"{hf / ours:.1f}x", hf / ours >= 8)
check("epoch 2 threads / rewrite (<= 1.5x)", f"{e2 / rw:.2f}x", e2 / rw <= 1.5)
check("epoch 2 threads vs 1 (>= 1.8x)", f"{e1 / e2:.2f}x", e1 / e2 >= 1.8)
check("prepare peak RSS x10 / x1 (flat)", f"{rss_p:.0f} -> {rss_p10:.0f} MiB ({rss_p10 / rss_p:.2f}x)", rss_p10 / rss_p <= 1.2)
check("epoch peak RSS x10 / x1 (<= 1.2x)", f"{rss_e:.0f} -> {rss_e10:.0f} MiB ({rss_e10 / rss_e:.2f}x)", rss_e10 / rss_e <= 1.2)
PY
