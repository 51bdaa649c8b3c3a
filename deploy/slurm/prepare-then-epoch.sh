#!/bin/bash
# Submit maskforge on a Slurm cluster: prepare as an array job (one worker per task; each reads
# SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT), then the epoch as a second array job that
# starts only when every prepare task succeeded. The last prepare worker publishes the
# documents manifest; the epoch workers exchange through the output's storage and the last one
# publishes the epoch. Prints the two job ids.
#
#   PIPELINE=pipelines/macbert-zh.toml INPUT='s3://corpus/zh/**/*.txt' OUTPUT=s3://bucket/run \
#   WORKERS=8 EPOCH=0 bash deploy/slurm/prepare-then-epoch.sh
#
# EPOCH=next builds the first epoch without a manifest (resolved once, at submission).
# EXTRA passes more maskforge flags to both jobs (e.g. EXTRA='--set pairs.negative_pool=5000').
# Credentials come from the environment Slurm passes on (AWS_*, GOOGLE_*, AZURE_*).
set -euo pipefail
: "${PIPELINE:?set PIPELINE}" "${OUTPUT:?set OUTPUT}"
WORKERS=${WORKERS:-4}
EPOCH=${EPOCH:-0}
MASKFORGE=${MASKFORGE:-maskforge}
CPUS=${CPUS:-4}
read -r -a extra <<<"${EXTRA:-}"
common=("$PIPELINE" --output "$OUTPUT" --threads "$CPUS" --quiet "${extra[@]}")
if [ -n "${INPUT:-}" ]; then common+=(--input "$INPUT"); fi
if [ "$EPOCH" = next ]; then
    EPOCH=$("$MASKFORGE" next-epoch "${common[@]}")
fi
# Quoted for the shell that runs --wrap, so globs in URLs reach maskforge untouched.
quoted() { printf '%q ' "$@"; }

prepare_job=$(sbatch --parsable --job-name=maskforge-prepare --array=0-$((WORKERS - 1)) \
    --cpus-per-task="$CPUS" --export=ALL \
    --wrap="$(quoted "$MASKFORGE" prepare "${common[@]}")")
epoch_job=$(sbatch --parsable --job-name=maskforge-epoch --array=0-$((WORKERS - 1)) \
    --dependency=afterok:"$prepare_job" --cpus-per-task="$CPUS" --export=ALL \
    --wrap="$(quoted "$MASKFORGE" epoch "${common[@]}" --epoch "$EPOCH")")
echo "$prepare_job $epoch_job"
