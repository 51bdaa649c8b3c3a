#!/usr/bin/env bash
# The README's test command: installs what the tests need when it is missing (pyarrow, numpy,
# datasets and transformers without torch for the outside-consumer checks, s3s-fs for the S3
# tests, Debian's Slurm and munge packages for the Slurm test, Debian's chromium for the report
# test), then runs every test of the
# workspace. The tests start the S3 server and the one-node Slurm cluster themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import pyarrow, numpy, datasets, transformers, jsonschema' 2>/dev/null; then
    echo "installing the Python test requirements (tests/python/requirements.txt)"
    python3 -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi

# A real S3-compatible server for the object-storage tests (verifies request signatures).
if ! command -v s3s-fs >/dev/null 2>&1; then
    echo "installing s3s-fs 0.14.1 (S3-compatible test server)"
    cargo install --quiet s3s-fs --version 0.14.1 --features binary --locked
fi

# A one-node Slurm cluster runs the repository's Slurm template (deploy/slurm/local-cluster.sh).
if ! command -v sbatch >/dev/null 2>&1 || ! command -v slurmctld >/dev/null 2>&1; then
    echo "installing Slurm and munge (Debian packages)"
    packages=(slurmctld slurmd slurm-client munge)
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; }
fi

# A real headless browser renders the report page (crates/cli/tests/report.rs).
if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
