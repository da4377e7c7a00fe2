# Sourced (`. pip_config.sh`) by the build steps that run pip: pip_install.sh and
# kenlm_stage.sh. Sets cfg (a scratch folder; the caller removes it) and, when the host
# lends one, PIP_CONFIG_FILE.
#
# PIP_HELPER (a build argument) is http://127.0.0.1:<port>/<secret token>, served by dstorch
# on the host for the length of the build (the build uses the host network), and only to
# requests that carry the token. It lends the build the host's pip configuration: pip.conf
# with its indexes and find-links rewritten to URLs reachable from here, plus the CA
# certificate pip trusts. They live in $cfg, removed
# before the step ends, so no index address or credential stays in the image.
cfg=/tmp/dstorch-pip
rm -rf "$cfg" && mkdir -p "$cfg"

if [ -n "${PIP_HELPER:-}" ]; then
    python - "$PIP_HELPER" "$cfg" <<'PY' || echo "pip_config: host pip configuration unreachable; using pip's defaults"
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
