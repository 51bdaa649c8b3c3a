#!/usr/bin/env bash
# Builds the trainer with its `cuda` feature on a machine with no GPU and no CUDA toolkit:
#   scripts/cuda_build.sh [extra cargo args, e.g. --release or --bin maskforge-train]
#
# The CUDA compiler comes from PyPI wheels, installed (once, pinned, --no-deps) into a virtual
# environment, $MASKFORGE_CACHE/cuda-venv (default ~/.cache/maskforge/cuda-venv). CUDA 13.0: no
# nvidia-cuda-nvcc-cu12 wheel (12.0 to 12.9) ships nvcc itself, only ptxas and libnvvm; the
# CUDA 13 wheels do, all under site-packages/nvidia/cu13 (bin, include, lib, nvvm).
# Downloads, about 105 MB (about 290 MB installed):
#   nvidia-cuda-nvcc     13.0.88   37 MB  nvcc, cudafe++, fatbinary, nvlink, ptxas
#   nvidia-nvvm          13.0.88   62 MB  cicc (nvcc's device front end), libnvvm, libdevice
#   nvidia-cuda-crt      13.0.88  0.1 MB  include/crt/*.h, which nvcc's own headers include
#   nvidia-cuda-runtime  13.0.96  2.2 MB  cuda_runtime.h, cuda.h, cuda_fp16/bf16/fp8.h and
#                                         libcudart.so.13 (candle-kernels links -lcudart)
#   nvidia-cuda-cccl     13.0.85  3.1 MB  nv/target, cuda/std, cub and thrust headers
# Not downloaded: cuBLAS (420 MB), cuRAND (60 MB), NVRTC (90 MB), and libcuda (the driver, in no
# wheel). candle's cudarc is built with `dynamic-linking`, so the binary links -lcuda -lnvrtc
# -lcurand -lcublas -lcublasLt; for that link this script makes stub libraries (one empty
# function per symbol that cudarc declares, with the real library's soname) in
# nvidia/cu13/lib/stubs (the linker keeps only libcuda.so.1, libcublas.so.13, libcurand.so.10
# and libcudart.so.13 as needed). So the binary starts only where those real libraries are on
# the loader's path, and its kernels (PTX 9.0) load only with an NVIDIA driver >= 580.
#
# CUDA_COMPUTE_CAP (default 90, the H200's; the kernels are built for sm_90a) is needed as no GPU
# is here to ask. The build goes to its own target dir, $MASKFORGE_CUDA_TARGET_DIR (default
# ~/.cache/maskforge/cuda-target), at nice 10. Warm (nothing to do), the whole script takes about 1 s.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${MASKFORGE_CACHE:-$HOME/.cache/maskforge}
venv=${MASKFORGE_CUDA_VENV:-$cache/cuda-venv}
export CARGO_TARGET_DIR=${MASKFORGE_CUDA_TARGET_DIR:-$cache/cuda-target}
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
# candle-kernels compiles its 15 kernel files on half the cores unless told otherwise.
export CUDAFORGE_THREADS=${CUDAFORGE_THREADS:-$(nproc)}

wheels=(
    nvidia-cuda-nvcc==13.0.88
    nvidia-nvvm==13.0.88
    nvidia-cuda-crt==13.0.88
    nvidia-cuda-runtime==13.0.96
    nvidia-cuda-cccl==13.0.85
)
# Stub name, its soname, cudarc's module that declares its symbols.
stubs=(
    "cuda libcuda.so.1 driver"
    "nvrtc libnvrtc.so.13 nvrtc"
    "curand libcurand.so.10 curand"
    "cublas libcublas.so.13 cublas"
    "cublasLt libcublasLt.so.13 cublaslt"
)

times=()
# Milliseconds since the epoch, and a duration from then to now in seconds.
now_ms() { date +%s%3N; }
since() { local ms=$(($(now_ms) - $1)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }
started_all=$(now_ms)
summary() {
    local status=$?
    echo
    echo "== step times =="
    for line in "${times[@]}"; do echo "$line"; done
    printf '%-8s %7s s\n' total "$(since "$started_all")"
    [ "$status" -eq 0 ] || echo "failed: exit $status"
    exit "$status"
}
trap summary EXIT

# Runs step NAME: a banner, the command, its time in the summary.
step() {
    local name=$1 start
    shift
    echo "== $name"
    start=$(now_ms)
    "$@"
    times+=("$(printf '%-8s %7s s' "$name" "$(since "$start")")")
}

site() { "$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

install_wheels() {
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    local stamp=$venv/.maskforge-cuda-wheels want
    want=$(printf '%s\n' "${wheels[@]}")
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$(site)/nvidia/cu13/bin/nvcc" ]; then
        echo "pinned wheels already installed in $venv"
        return
    fi
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-deps "${wheels[@]}"
    echo "$want" > "$stamp"
}

# The cudarc that Cargo.lock picks, from cargo's registry (fetched when missing).
cudarc_dir() {
    cargo metadata --format-version 1 --features maskforge-trainer/cuda |
        "$venv/bin/python" -c '
import json, os, sys
pkgs = [p for p in json.load(sys.stdin)["packages"] if p["name"] == "cudarc"]
assert len(pkgs) == 1, "expected one cudarc in the lock file, found %d" % len(pkgs)
print(os.path.dirname(pkgs[0]["manifest_path"]))'
}

make_stubs() {
    local dir stamp want src entry name soname module tmp
    dir=$cuda/lib/stubs
    stamp=$dir/.maskforge-stamp
    src=$(cudarc_dir)
    want="$src ${stubs[*]}"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "link stubs up to date in $dir"
        return
    fi
    mkdir -p "$dir"
    tmp=$(mktemp -d)
    for entry in "${stubs[@]}"; do
        read -r name soname module <<< "$entry"
        # cudarc's sys/mod.rs declares each C function in an `extern "C" { fn NAME(...` block.
        awk '/extern "C" \{/ { want = 1; next }
             want && match($0, /^[ \t]*(pub )?fn [A-Za-z_][A-Za-z_0-9]*\(/) {
                 s = substr($0, RSTART, RLENGTH - 1); sub(/.*fn /, "", s); print s; want = 0 }' \
            "$src/src/$module/sys/mod.rs" | sort -u | sed 's/.*/void &(void) {}/' > "$tmp/$name.c"
        [ -s "$tmp/$name.c" ] || { echo "no symbols found for $name in $src" >&2; exit 1; }
        cc -shared -fPIC -o "$dir/lib$name.so" -Wl,-soname,"$soname" "$tmp/$name.c"
        echo "lib$name.so ($soname): $(wc -l < "$tmp/$name.c") symbols"
    done
    rm -rf "$tmp"
    ln -sfn ../libcudart.so.13 "$dir/libcudart.so"
    echo "$want" > "$stamp"
}

build() {
    nice -n 10 cargo build -p maskforge-trainer --features cuda "$@"
}

step wheels install_wheels
cuda=$(site)/nvidia/cu13
# nvcc: cudaforge (candle-kernels' build script) takes $NVCC, cudarc runs `nvcc --version` from
# PATH to pick its CUDA 13.0 bindings. CUDA_HOME is where cudarc looks for the libraries to link
# (lib, lib/stubs); nvcc finds its headers and cicc itself, relative to its own path.
export NVCC=$cuda/bin/nvcc CUDA_HOME=$cuda PATH=$cuda/bin:$PATH
step stubs make_stubs
step build build "$@"
echo "built in $CARGO_TARGET_DIR (CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP)"
