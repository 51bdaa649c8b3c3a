#!/bin/bash
# Submit maskforge on a Slurm cluster: prepare as an array job (one worker per task; each reads
# SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT), then the epoch as a job that starts only when
# every prepare task succeeded. The last prepare worker publishes the documents manifest.
#
#   PIPELINE=pipelines/macbert-zh.toml INPUT='s3://corpus/zh/**/*.txt' OUTPUT=s3://bucket/run \
#   WORKERS=8 EPOCH=0 bash deploy/slurm/prepare-then-epoch.sh
#
# Credentials come from the environment Slurm passes on (AWS_*, GOOGLE_*, AZURE_*).
set -euo pipefail
: "${PIPELINE:?set PIPELINE}" "${OUTPUT:?set OUTPUT}"
WORKERS=${WORKERS:-4}
EPOCH=${EPOCH:-0}
MASKFORGE=${MASKFORGE:-maskforge}
CPUS=${CPUS:-4}
INPUT_FLAG=()
if [ -n "${INPUT:-}" ]; then INPUT_FLAG=(--input "$INPUT"); fi

prepare_job=$(sbatch --parsable --job-name=maskforge-prepare --array=0-$((WORKERS - 1)) \
    --cpus-per-task="$CPUS" --export=ALL \
    --wrap="$MASKFORGE prepare $PIPELINE ${INPUT_FLAG[*]} --output $OUTPUT --threads $CPUS --quiet")
sbatch --parsable --job-name=maskforge-epoch --dependency=afterok:"$prepare_job" \
    --cpus-per-task="$CPUS" --export=ALL \
    --wrap="$MASKFORGE epoch $PIPELINE --output $OUTPUT --epoch $EPOCH --threads $CPUS --quiet"
