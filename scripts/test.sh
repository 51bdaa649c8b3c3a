#!/usr/bin/env bash
# The README's test command: installs what the tests need when it is missing (pyarrow, numpy and
# datasets for the outside-consumer checks), then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import pyarrow, numpy, datasets' 2>/dev/null; then
    echo "installing the Python test requirements (tests/python/requirements.txt)"
    python3 -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi

cargo fmt --all --check
cargo test --workspace
