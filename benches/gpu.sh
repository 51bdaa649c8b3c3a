#!/usr/bin/env bash
# The trainer on an NVIDIA GPU, for the day a GPU machine is at hand (never run in CI):
#   1. throughput: maskforge-train --device cuda against PyTorch (transformers' BertForPreTraining
#      of the same sizes, fp32, AdamW) on the same epoch, in real (unpadded) tokens per second;
#   2. the loss falls: held-out MLM loss at the first and the last evaluation;
#   3. resume: a run stopped at a checkpoint and resumed logs the same losses as an
#      uninterrupted one (GPU kernels are not bit-reproducible: the script prints the largest
#      relative difference; below 1e-3 is what the CPU test asks for).
#
#   bash benches/gpu.sh                 # builds what it needs (see below), then runs all three
#   PRESET=base STEPS=300 BATCH=32 LR=1e-4 bash benches/gpu.sh
#
# Needs: nvidia-smi and a driver >= 580 (the CUDA 13.0 build of scripts/cuda_build.sh), the CUDA
# 13 runtime libraries on the loader's path (libcudart.so.13, libcublas.so.13, libcurand.so.10:
# pip install nvidia-cuda-runtime nvidia-cublas nvidia-curand, then LD_LIBRARY_PATH), and for the
# PyTorch side torch with CUDA and transformers (skipped with a note when missing).
# Inputs, each built here when not given:
#   TRAIN    a maskforge-train built with --features cuda (default: scripts/cuda_build.sh --release)
#   DATA     an examples epoch (default: the NSP epoch of en/brown.txt, 128-token sequences)
#   MASKFORGE  the maskforge binary that builds DATA (default: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET=${PRESET:-tiny}
STEPS=${STEPS:-200}
BATCH=${BATCH:-32}
# The peak learning rate: the tiny model learns fast at 1e-3, BERT-base wants 1e-4.
LR=${LR:-$([ "$PRESET" = tiny ] && echo 1e-3 || echo 1e-4)}
CORPORA=${MASKFORGE_CORPORA:-../shared/corpora}
WORK=${WORK:-$(mktemp -d)}
echo "work folder: $WORK"

command -v nvidia-smi >/dev/null || { echo "no nvidia-smi: this script needs an NVIDIA GPU" >&2; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

if [ -z "${TRAIN:-}" ]; then
    bash scripts/cuda_build.sh --release --bin maskforge-train
    TRAIN=${MASKFORGE_CUDA_TARGET_DIR:-$HOME/.cache/maskforge/cuda-target}/release/maskforge-train
fi
if [ -z "${DATA:-}" ]; then
    if [ -z "${MASKFORGE:-}" ]; then
        cargo build --release --quiet -p maskforge --bin maskforge
        MASKFORGE=${CARGO_TARGET_DIR:-target}/release/maskforge
    fi
    "$MASKFORGE" run pipelines/bert-nsp-en.toml --input "$CORPORA/en/brown.txt" --output "$WORK/en" \
        --set pairs.max_seq_length=128 --quiet >/dev/null
    DATA=$WORK/en/epochs/0
fi

# One run configuration: the preset's model, evaluation every STEPS/4 steps, a checkpoint at
# the half-way step (the resume point) and at the end.
half=$((STEPS / 2))
cat >"$WORK/run.toml" <<CONF
[model]
$(sed -n '/^\[model\]/,/^\[train\]/p' "crates/trainer/configs/$PRESET.toml" | grep -E '^[a-z_]+ =')
[train]
seed = 1
batch_size = $BATCH
steps = $STEPS
learning_rate = $LR
warmup_steps = $((STEPS / 10))
eval_every = $((STEPS / 4))
eval_batches = 50
checkpoint_every = $half
CONF

losses() { grep -oE 'step [0-9]+: held-out MLM accuracy [0-9.]+ \(loss [0-9.]+\)' "$1" | sed -E 's/step ([0-9]+):.*loss ([0-9.]+)\)/\1 \2/'; }

echo "== 1. maskforge-train on cuda: $PRESET, $STEPS steps of $BATCH"
"$TRAIN" --data "$DATA" --config "$WORK/run.toml" --out "$WORK/full" --device cuda 2>"$WORK/full.log" | tee "$WORK/full.out"
ours=$(grep -oE '[0-9]+ tokens/s while training' "$WORK/full.out" | grep -oE '^[0-9]+')

echo "== 2. the held-out MLM loss falls"
losses "$WORK/full.log" | tee "$WORK/full.losses"
first=$(head -1 "$WORK/full.losses" | cut -d' ' -f2)
last=$(tail -1 "$WORK/full.losses" | cut -d' ' -f2)
python3 -c "import sys; f, l = $first, $last; print(f'MLM loss {f} -> {l}:', 'falls' if l < f - 0.5 else 'DOES NOT FALL'); sys.exit(0 if l < f - 0.5 else 1)"

echo "== 3. resume from step $half"
"$TRAIN" --data "$DATA" --resume "$WORK/full/step-$(printf '%07d' "$half")" --out "$WORK/resumed" --device cuda \
    2>"$WORK/resumed.log" >/dev/null
losses "$WORK/resumed.log" >"$WORK/resumed.losses"
python3 - "$WORK/full.losses" "$WORK/resumed.losses" <<'PY'
import sys
full = dict(l.split() for l in open(sys.argv[1]))
resumed = dict(l.split() for l in open(sys.argv[2]))
common = sorted(set(full) & set(resumed), key=int)
if not common:
    sys.exit("no common evaluation step between the runs")
worst = max(abs(float(full[s]) - float(resumed[s])) / max(float(full[s]), 1e-9) for s in common)
print(f"steps {common}: largest relative difference {worst:.2e}", "(ok)" if worst < 1e-3 else "(TOO LARGE)")
sys.exit(0 if worst < 1e-3 else 1)
PY

echo "== 4. PyTorch on the same epoch and sizes"
if python3 -c 'import torch, transformers; assert torch.cuda.is_available()' 2>/dev/null; then
    theirs=$(python3 benches/gpu_torch.py "$DATA" "$WORK/run.toml" --steps "$STEPS" --batch "$BATCH" --lr "$LR" | tail -1 | grep -oE '^[0-9]+')
    echo
    echo "| trainer | tokens/s | ratio |"
    echo "|---|---|---|"
    echo "| maskforge-train (candle, cuda) | $ours | $(python3 -c "print(f'{$ours / $theirs:.2f}x')") |"
    echo "| PyTorch $(python3 -c 'import torch; print(torch.__version__)') BertForPreTraining | $theirs | 1.00x |"
else
    echo "torch with CUDA and transformers are not installed: PyTorch side skipped (maskforge-train: $ours tokens/s)"
fi
