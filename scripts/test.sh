#!/usr/bin/env bash
# The README's test command: installs what the tests need when it is missing (pyarrow, numpy and
# datasets for the outside-consumer checks, s3s-fs for the S3 tests), then runs every test of the
# workspace. The tests start the S3 server themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import pyarrow, numpy, datasets' 2>/dev/null; then
    echo "installing the Python test requirements (tests/python/requirements.txt)"
    python3 -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi

# A real S3-compatible server for the object-storage tests (verifies request signatures).
if ! command -v s3s-fs >/dev/null 2>&1; then
    echo "installing s3s-fs 0.14.1 (S3-compatible test server)"
    cargo install --quiet s3s-fs --version 0.14.1 --features binary --locked
fi

cargo fmt --all --check
cargo test --workspace
