#!/usr/bin/env bash
# Build a small local stand-in for the CUDA PyTorch base image, without any registry.
#
# It mimics the layout the Dockerfile relies on (a Python environment at /opt/conda whose
# `python`/`pip` are first on PATH, with torch installed) so tests and offline machines can
# build the trainer image with BASE_IMAGE=<tag>. CPU only: no CUDA inside.
#
# Usage: scripts/make_base_image.sh <tag>
# Env:   PYTHON       host interpreter whose pip config supplies the torch wheel
#                     (default: .venv/bin/python, else python3)
#        TORCH_SPEC   default: the torch pin in pyproject.toml
#        SUITE        default bookworm (its Python 3.11 matches the wheels downloaded here)
set -euo pipefail

tag="${1:?usage: $0 <image tag>}"
suite="${SUITE:-bookworm}"
here="$(cd "$(dirname "$0")/.." && pwd)"
# pyproject.toml holds the one torch pin (the venv installs from it too).
torch_spec="${TORCH_SPEC:-$(grep -o '"torch==[^"]*"' "$here/pyproject.toml" | tr -d '"')}"
python="${PYTHON:-}"
if [ -z "$python" ]; then
    if [ -x "$here/.venv/bin/python" ]; then python="$here/.venv/bin/python"; else python=python3; fi
fi

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "make_base_image: $tag exists; nothing to do"
    exit 0
fi
for tool in debootstrap chroot docker; do
    command -v "$tool" >/dev/null || { echo "make_base_image: $tool not found" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "make_base_image: debootstrap needs root; run with sudo" >&2; exit 1; }

# The Debian mirror this machine already uses (one-line or deb822 sources), so no host
# name is baked in here and restricted networks keep working.
mirror_from_sources() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v s="$suite" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i ~ /:\/\//) {
            if ($(i + 1) == s) { print $i; exit } else break } }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # deb822: paragraphs separated by blank lines; keep URIs of a paragraph listing $suite.
        awk -v s="$suite" 'BEGIN { RS = "" } {
            uri = ""; ok = 0; n = split($0, lines, "\n")
            for (i = 1; i <= n; i++) {
                if (lines[i] ~ /^URIs:/) { split(lines[i], u, " "); uri = u[2] }
                if (lines[i] ~ /^Suites:/) { m = split(lines[i], w, " ");
                    for (j = 2; j <= m; j++) if (w[j] == s) ok = 1 }
            }
            if (ok && uri != "") { print uri; exit } }' "$f"
    done
}
mirror="${MIRROR:-$(mirror_from_sources | head -n 1)}"
if [ -z "$mirror" ]; then
    echo "make_base_image: no '$suite' mirror in /etc/apt/sources.list*; set MIRROR=<url>" >&2
    exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/dstorch-base.XXXXXX")"
# Deleting ~30k files takes half a minute on discard-mounted disks: do it in the background.
trap '(rm -rf --one-file-system "$work" >/dev/null 2>&1 &)' EXIT
rootfs="$work/rootfs"
t0=$SECONDS

echo "make_base_image: debootstrap $suite from $mirror"
debootstrap --variant=minbase --include=python3,python3-venv "$suite" "$rootfs" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
echo "make_base_image: rootfs ready ($((SECONDS - t0))s)"
# apt inside `docker build` (the trainer image's KenLM stage) uses these sources: the same
# mirror, plus the host's date checks, which a snapshot mirror with an expired Release
# file needs turned off. Read from the host now, never written down here.
echo "deb $mirror $suite main" >"$rootfs/etc/apt/sources.list"
conf="$rootfs/etc/apt/apt.conf.d/90dstorch-host"
if command -v apt-config >/dev/null; then
    apt-config dump | grep -E '^Acquire::Check-(Valid-Until|Date) ' >"$conf" || rm -f "$conf"
fi

# torch and its dependencies come from the host's pip configuration (find-links, indexes,
# certificates); the chroot then installs them with no network at all.
mkdir -p "$rootfs/tmp/wheels"
"$python" -m pip download --quiet --only-binary=:all: --dest "$rootfs/tmp/wheels" \
    --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 "$torch_spec" >"$work/pip.log" 2>&1 \
    || { tail -n 30 "$work/pip.log" >&2; exit 1; }
echo "make_base_image: wheels downloaded ($((SECONDS - t0))s)"
chroot "$rootfs" python3 -m venv /opt/conda
# --isolated: the host's PIP_* variables (paths outside the chroot) must not leak in.
chroot "$rootfs" /opt/conda/bin/pip install --isolated --quiet --no-cache-dir --no-index \
    --find-links /tmp/wheels "$torch_spec"
echo "make_base_image: torch installed ($((SECONDS - t0))s)"

# Trim what a training container never uses: the image is copied per layer under vfs.
rm -rf "$rootfs/tmp/wheels" "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/locale \
    "$rootfs"/opt/conda/lib/python3*/site-packages/torch/include
find "$rootfs/opt/conda" -name __pycache__ -type d -prune -exec rm -rf {} +

tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python"]' \
    - "$tag" >/dev/null
echo "make_base_image: built $tag in $((SECONDS - t0))s"
