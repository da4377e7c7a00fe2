"""Benchmarks: `make bench`. Prints figures and ratios measured in this one run."""

import argparse
import sys

import torch

from dstorch.bench.throughput import bench_training, format_bench
from dstorch.entry import command_line, run_guarded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n_hidden", type=int, default=2048)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--frames", type=int, default=100, help="time steps per sample")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        result = bench_training(device, args.n_hidden, args.batch_size, args.frames, args.steps)
        print("train  " + format_bench(result), flush=True)


if __name__ == "__main__":
    sys.exit(run_guarded(main, command_line()))
