#!/bin/sh
# Install the trainer's Python dependencies during `docker build`.
#
# PIP_HELPER (a build argument) is http://127.0.0.1:<port>, served by dstorch on the host
# for the length of the build (the build uses the host network). It lends this step the
# host's pip configuration: pip.conf with its indexes and find-links rewritten to URLs
# reachable from here, plus the CA certificate pip trusts. They live in a temporary folder
# removed before the step ends, so no index address or credential stays in the image.
set -eu
requirements="$1"
cfg=/tmp/dstorch-pip
rm -rf "$cfg" && mkdir -p "$cfg"

if [ -n "${PIP_HELPER:-}" ]; then
    python - "$PIP_HELPER" "$cfg" <<'PY' || echo "pip_install: host pip configuration unreachable; using pip's defaults"
import pathlib
import sys
import urllib.error
import urllib.request

base, out = sys.argv[1], pathlib.Path(sys.argv[2])
for name in ("pip.conf", "ca.pem"):
    try:
        data = urllib.request.urlopen(f"{base}/{name}", timeout=10).read()
    except urllib.error.HTTPError:  # 404: the host has no such setting
        continue
    (out / name).write_bytes(data)
PY
    if [ -f "$cfg/pip.conf" ]; then
        export PIP_CONFIG_FILE="$cfg/pip.conf"
    fi
fi

# Pin whatever torch the base image carries: a dependency must never replace it.
python - > "$cfg/constraints.txt" <<'PY'
import importlib.metadata as metadata

try:
    print("torch==" + metadata.version("torch"))
except metadata.PackageNotFoundError:
    pass
PY
python -m pip install --no-cache-dir --disable-pip-version-check --progress-bar off \
    -c "$cfg/constraints.txt" -r "$requirements"
rm -rf "$cfg"
