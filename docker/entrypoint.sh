#!/bin/sh
# Container entrypoint: the training job over the three volumes.
# `exec` makes python PID 1, so `docker stop`'s SIGTERM reaches the job itself, which
# finishes its step, saves a checkpoint and exits 0 ("stopped").
# Configuration arrives as DSTORCH_<KEY> environment variables (every configuration.env key).
set -e
cd /opt/dstorch
exec python -m dstorch job --data_dir /data --checkpoint_dir /checkpoints --export_dir /model "$@"
