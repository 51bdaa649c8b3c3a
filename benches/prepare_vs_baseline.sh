#!/usr/bin/env bash
# Whole-run benchmark of the prepare job on the Chinese corpora, side by side with its baselines:
#   1. jieba-rs + the tokenizer alone on the same lines (crates/text/examples/baseline.rs), 1 thread
#   2. maskforge prepare --threads 1, and --threads 2
#   3. peak memory of prepare on the corpus and on the corpus ten times over
# Prints times, throughput and ratios. Uses the `measure` profile (see Cargo.toml), which builds
# much faster than a clean release build; set PROFILE=release for a full release build.
#
#   bash benches/prepare_vs_baseline.sh            # corpora from ../shared/corpora or $MASKFORGE_CORPORA
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-measure}
CORPORA=${MASKFORGE_CORPORA:-../shared/corpora}
TARGET=${CARGO_TARGET_DIR:-target}
VOCAB=assets/vocab/bert-base-chinese/vocab.txt
FILES=("$CORPORA"/zh/*.txt)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --quiet --profile "$PROFILE" -p maskforge --bin maskforge
cargo build --quiet --profile "$PROFILE" -p maskforge-text --example baseline
BIN="$TARGET/$PROFILE/maskforge"
BASELINE="$TARGET/$PROFILE/examples/baseline"
MB=$(du -cb "${FILES[@]}" | tail -1 | awk '{printf "%.1f", $1/1e6}')

# seconds and peak RSS (KiB) of a command, as "SECONDS KIB"
measure() {
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr" || { cat "$WORK/stderr"; exit 1; }
    cat "$WORK/time"
}
prepare() { # threads, output, inputs...
    local threads=$1 out=$2; shift 2
    local inputs=(); for f in "$@"; do inputs+=(--input "$f"); done
    measure "$BIN" prepare pipelines/macbert-zh.toml "${inputs[@]}" --output "$out" --threads "$threads" --quiet
}

echo "corpus: ${#FILES[@]} files, $MB MB of Chinese text; profile $PROFILE"
read -r t_base _ < <(measure "$BASELINE" "$VOCAB" "${FILES[@]}")
read -r t_one rss_one < <(prepare 1 "$WORK/one" "${FILES[@]}")
read -r t_two _ < <(prepare 2 "$WORK/two" "${FILES[@]}")
# Ten distinct copies (inputs matched twice are read once), hard links where possible.
TEN=()
for i in $(seq 10); do
    mkdir -p "$WORK/corpus-$i"
    for f in "${FILES[@]}"; do
        ln "$f" "$WORK/corpus-$i/" 2>/dev/null || cp "$f" "$WORK/corpus-$i/"
        TEN+=("$WORK/corpus-$i/$(basename "$f")")
    done
done
read -r t_ten rss_ten < <(prepare 2 "$WORK/ten" "${TEN[@]}")
cmp -s "$WORK/one/documents/manifest.json" "$WORK/two/documents/manifest.json" || { echo "1 and 2 threads differ"; exit 1; }

python3 - "$MB" "$t_base" "$t_one" "$t_two" "$t_ten" "$rss_one" "$rss_ten" <<'PY'
import sys
mb, base, one, two, ten, rss1, rss10 = map(float, sys.argv[1:])
print(f"{'run':<44}{'seconds':>9}{'MB/s':>9}")
for name, t, size in [("jieba-rs + tokenizer alone (1 thread)", base, mb),
                      ("maskforge prepare --threads 1", one, mb),
                      ("maskforge prepare --threads 2", two, mb),
                      ("maskforge prepare --threads 2, corpus x10", ten, 10 * mb)]:
    print(f"{name:<44}{t:>9.2f}{size / t:>9.2f}")
print(f"prepare (1 thread) / baseline:   {one / base:.2f}x   (target <= 1.3x)")
print(f"speed-up 2 threads over 1:       {one / two:.2f}x   (target >= 1.8x)")
print(f"vs Python baseline 0.12-0.2 MB/s: {mb / one / 0.2:.0f}-{mb / one / 0.12:.0f}x per core (target >= 50x)")
print(f"peak RSS: corpus x1 {rss1 / 1024:.0f} MiB, x10 {rss10 / 1024:.0f} MiB (ratio {rss10 / rss1:.2f}, target flat)")
PY
