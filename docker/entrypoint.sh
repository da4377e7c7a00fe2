#!/bin/sh
# Container entrypoint: the training job over the three volumes.
# `exec` makes python PID 1, so `docker stop`'s SIGTERM reaches the job itself, which
# finishes its step, saves a checkpoint and exits 0 ("stopped").
# Configuration arrives as DSTORCH_<KEY> environment variables (every configuration.env key).
# Arguments (the container's command) go before `-m dstorch job`: the runner passes
# `-m dstorch.training.launch <torchrun options>` for GPUS/NNODES (dstorch/runner/torchrun.py);
# torchrun, then PID 1, passes SIGTERM on to every rank.
set -e
cd /opt/dstorch
exec python "$@" -m dstorch job --data_dir /data --checkpoint_dir /checkpoints --export_dir /model
