#!/bin/sh
# Install the trainer's Python dependencies during `docker build`, with the host's pip
# configuration (see pip_config.sh beside this file).
#
# Usage: sh pip_install.sh <requirements> [<wheel folder>]
# Wheels in the folder (built in an earlier stage, such as kenlm, which is published
# only as source and so needs the compilers this stage lacks) are preferred and pinned:
# pip must neither build them again nor take a newer sdist from an index.
set -eu
requirements="$1"
wheels="${2:-}"
. "$(dirname "$0")/pip_config.sh"

# Pin whatever torch the base image carries: a dependency must never replace it. Every
# other package gets the version the venv has: the project's constraints.txt (beside this
# script), less what the image itself pins (torch, the builder stage's wheels).
python - "$wheels" "$(dirname "$0")/constraints.txt" > "$cfg/constraints.txt" <<'PY'
import importlib.metadata as metadata
import pathlib
import re
import sys

pins = {}
try:
    pins["torch"] = metadata.version("torch")
except metadata.PackageNotFoundError:
    pass
if sys.argv[1]:
    for wheel in sorted(pathlib.Path(sys.argv[1]).glob("*.whl")):
        name, version = wheel.name.split("-")[:2]  # the wheel file name convention
        pins[name.lower().replace("_", "-")] = version
for name, version in pins.items():
    print(f"{name}=={version}")
project = pathlib.Path(sys.argv[2])
for line in project.read_text().splitlines() if project.is_file() else []:
    name = re.split(r"[=<>!~ ;\[]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
    if name and not name.startswith("#") and name not in pins:
        print(line.strip())
PY
set --
if [ -n "$wheels" ]; then
    set -- --find-links "$wheels"
fi
python -m pip install --no-cache-dir --disable-pip-version-check --progress-bar off \
    -c "$cfg/constraints.txt" "$@" -r "$requirements"
rm -rf "$cfg"
