#!/usr/bin/env bash
# CPU training throughput of the tiny and base BERT configurations: builds an NSP epoch of the
# Brown corpus (128-token sequences), then trains each configuration for a few steps and prints
# tokens per second (real, unpadded tokens) as maskforge-train reports them.
#
#   bash benches/train_throughput.sh        # corpora from ../shared/corpora or $MASKFORGE_CORPORA
#   TINY_STEPS=50 BASE_STEPS=2 BASE_BATCH=8 bash benches/train_throughput.sh   (base is slow on a CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-measure}
CORPORA=${MASKFORGE_CORPORA:-../shared/corpora}
TARGET=${CARGO_TARGET_DIR:-target}
TINY_STEPS=${TINY_STEPS:-50}
BASE_STEPS=${BASE_STEPS:-2}
BASE_BATCH=${BASE_BATCH:-8}
ONLY=${ONLY:-tiny base}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --quiet --profile "$PROFILE" -p maskforge --bin maskforge
cargo build --quiet --profile "$PROFILE" -p maskforge-trainer --bin maskforge-train
BIN="$TARGET/$PROFILE/maskforge"
TRAIN="$TARGET/$PROFILE/maskforge-train"

"$BIN" run pipelines/bert-nsp-en.toml --input "$CORPORA/en/brown.txt" --output "$WORK/en" --quiet >/dev/null
for preset in $ONLY; do
    steps=$TINY_STEPS batch=32
    if [ "$preset" = base ]; then steps=$BASE_STEPS batch=$BASE_BATCH; fi
    # No evaluation or checkpoint inside the measured steps (one checkpoint at the end).
    cat >"$WORK/$preset.toml" <<CONF
[model]
$(sed -n '/^\[model\]/,/^\[train\]/p' "crates/trainer/configs/$preset.toml" | grep -E '^[a-z_]+ =')
[train]
batch_size = $batch
steps = $steps
eval_every = 0
eval_batches = 1
checkpoint_every = 0
CONF
    echo "$preset: $("$TRAIN" --data "$WORK/en/epochs/0" --config "$WORK/$preset.toml" --out "$WORK/ckpt-$preset" --quiet)"
done
