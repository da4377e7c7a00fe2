#!/usr/bin/env bash
# Build KenLM's `lmplz` and `build_binary` from the `kenlm` source distribution
# and install them into <prefix_dir>/bin (default: build/kenlm in the repo root).
#
# Usage: scripts/build_kenlm.sh [prefix_dir]
# Env:   KENLM_CMAKE_ARGS  extra cmake options, e.g. -DBoost_USE_STATIC_LIBS=ON (the
#                          Docker image links Boost statically so the runtime needs no
#                          Boost libraries)
#        KENLM_JOBS        parallel compile jobs (default 2)
#
# Needs (Debian): cmake build-essential libboost-program-options-dev
#   libboost-system-dev libboost-thread-dev libboost-test-dev zlib1g-dev
#   libbz2-dev liblzma-dev
# Idempotent: does nothing when both binaries already exist.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${1:-$repo_root/build/kenlm}"
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
bin_dir="$prefix/bin"

if [[ -x "$bin_dir/lmplz" && -x "$bin_dir/build_binary" ]]; then
    echo "KenLM already built in $bin_dir"
    exit 0
fi

for tool in cmake make g++; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: '$tool' not found; install it: apt-get install cmake build-essential" >&2
        exit 1
    fi
done

# Prefer the project's virtual environment, so the sdist comes from the same
# package index configuration the rest of the project uses.
if [[ -x "$repo_root/.venv/bin/python" ]]; then
    python="$repo_root/.venv/bin/python"
else
    python="$(command -v python3)"
fi

src_root="$prefix/src"
mkdir -p "$src_root"
sdist="$(ls "$src_root"/kenlm-*.tar.gz 2>/dev/null | head -n1 || true)"
if [[ -z "$sdist" ]]; then
    # --no-build-isolation: otherwise pip would compile the sdist's build
    # requirements (cmake, from source because of --no-binary) just to read
    # the metadata.
    "$python" -m pip download --no-deps --no-binary :all: --no-build-isolation \
        kenlm -d "$src_root"
    sdist="$(ls "$src_root"/kenlm-*.tar.gz | head -n1)"
fi

src_dir="${sdist%.tar.gz}"
if [[ ! -f "$src_dir/CMakeLists.txt" ]]; then
    tar -xzf "$sdist" -C "$src_root"
fi

build_dir="$src_dir/build"
mkdir -p "$build_dir"
# Only the two programs we need: the full tree (tests, Python module,
# filter, interpolate) takes several times longer.
cmake -S "$src_dir" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
    -DCOMPILE_TESTS=OFF -DENABLE_PYTHON=OFF ${KENLM_CMAKE_ARGS:-} >"$build_dir/cmake.log" 2>&1 \
    || { echo "error: cmake configure failed, see $build_dir/cmake.log" >&2; exit 1; }
cmake --build "$build_dir" --target lmplz build_binary -- -j"${KENLM_JOBS:-2}"

mkdir -p "$bin_dir"
for exe in lmplz build_binary; do
    found="$(find "$build_dir" -type f -name "$exe" -perm -u+x | head -n1)"
    if [[ -z "$found" ]]; then
        echo "error: $exe was not produced in $build_dir" >&2
        exit 1
    fi
    install -m 0755 "$found" "$bin_dir/$exe"
done
echo "KenLM installed: $bin_dir/lmplz $bin_dir/build_binary"
