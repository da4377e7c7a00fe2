#!/bin/sh
# The image's KenLM builder stage: lmplz + build_binary into <prefix>/bin (Boost linked
# statically, so the runtime stage needs no Boost libraries) and a wheel of the `kenlm`
# Python package into <prefix>/wheels. Only this stage has compilers; the trainer stage
# copies the results. The sdist comes through the host's pip configuration.
#
# Usage: sh kenlm_stage.sh <prefix>     (build_kenlm.sh and pip_config.sh beside it)
set -eu
prefix="$1"
here="$(cd "$(dirname "$0")" && pwd)"
jobs="${KENLM_JOBS:-2}"
start="$(date +%s)"
. "$here/pip_config.sh"
pip="python -m pip --disable-pip-version-check --no-cache-dir"

# The wheel is built without isolation, against the apt cmake: setuptools (with its own
# bdist_wheel from 70.1 on) is all it needs here; this stage is thrown away anyway.
python -c 'import setuptools, sys; sys.exit(int(setuptools.__version__.split(".")[0]) < 71)' \
    || $pip install --progress-bar off "setuptools>=71"

KENLM_CMAKE_ARGS="-DBoost_USE_STATIC_LIBS=ON" KENLM_JOBS="$jobs" \
    bash "$here/build_kenlm.sh" "$prefix" || {
    cat "$prefix"/src/kenlm-*/build/cmake.log 2>/dev/null | tail -n 40 >&2
    exit 1
}
for exe in lmplz build_binary; do
    if ldd "$prefix/bin/$exe" | grep -E 'not found|libboost'; then
        echo "kenlm_stage: $exe needs the libraries above at run time" >&2
        exit 1
    fi
done

echo "kenlm_stage: lmplz and build_binary built in $(($(date +%s) - start))s"

# The Python module from the same sdist, in a fresh tree, compiled $jobs files at a time.
sdist="$(ls "$prefix"/src/kenlm-*.tar.gz | head -n 1)"
tree="$cfg/kenlm-python"
mkdir -p "$tree"
tar -xzf "$sdist" -C "$tree" --strip-components=1
printf '\n[build_ext]\nparallel = %s\n' "$jobs" >> "$tree/setup.cfg"
# setup.py's own build_ext first compiles everything once more with CMake, into a
# standalone libkenlm.so that `import kenlm` never loads: setuptools' plain build_ext
# skips it (if the line is not found, the build only takes longer).
sed -i '/cmdclass={"build_ext": build_ext}/d' "$tree/setup.py"
# -g0: no debug information (the sysconfig flags ask for it), a far smaller module.
CFLAGS="-g0" CXXFLAGS="-g0" $pip wheel --no-deps --no-build-isolation --progress-bar off -w "$prefix/wheels" "$tree"
rm -rf "$prefix/src" "$cfg"
echo "kenlm_stage: done in $(($(date +%s) - start))s"
ls -l "$prefix/bin" "$prefix/wheels"
