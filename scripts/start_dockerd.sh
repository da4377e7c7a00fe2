#!/usr/bin/env bash
# Start a Docker engine in the background when none answers, then wait until it does.
#
# The flags suit sandboxes and CI VMs: no iptables/bridge (the trainer runs with
# network "none"; builds use the host network). Storage: overlay2 when the kernel and the
# filesystem allow it, else vfs, which works anywhere but copies every image layer whole
# (each build step and container start costs ~20-40 s with a 1 GB PyTorch image).
# Usage: scripts/start_dockerd.sh
# Env:   DOCKERD_STORAGE_DRIVER  auto (default: overlay2, falling back to vfs), vfs, overlay2
#        DOCKERD_LOG, DOCKERD_WAIT (seconds)
set -euo pipefail

log="${DOCKERD_LOG:-/var/log/dstorch-dockerd.log}"
wait_s="${DOCKERD_WAIT:-60}"
driver="${DOCKERD_STORAGE_DRIVER:-auto}"

answers() { docker info >/dev/null 2>&1; }

if answers; then
    echo "start_dockerd: a Docker engine already answers"
    exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
    echo "start_dockerd: dockerd not found; install it (apt-get install docker.io)" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "start_dockerd: no engine answers and starting one needs root; run: sudo $0" >&2
    exit 1
fi

# start <driver>: 0 once the engine answers, 1 if dockerd gave up (unsupported driver).
start() {
    echo "start_dockerd: starting dockerd, storage driver $1 (log: $log)"
    # setsid + nohup: the engine must outlive this script and the shell that ran it.
    setsid nohup dockerd --iptables=false --bridge=none --storage-driver="$1" \
        >>"$log" 2>&1 </dev/null &
    local pid=$!
    for _ in $(seq "$wait_s"); do
        if answers; then
            echo "start_dockerd: engine ready (pid $pid, storage driver $1)"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "start_dockerd: dockerd ($1) exited; last log lines:" >&2
            tail -n 5 "$log" >&2
            return 1
        fi
        sleep 1
    done
    echo "start_dockerd: dockerd did not answer within ${wait_s}s; see $log" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
}

case "$driver" in
    auto) start overlay2 || start vfs ;;
    *) start "$driver" ;;
esac
