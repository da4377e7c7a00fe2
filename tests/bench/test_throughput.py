"""`make bench`'s training figures: audio seconds per second and MFU, bf16 on a GPU."""

import pytest
import torch

from dstorch.bench.throughput import SECONDS_PER_FRAME, bench_training, format_bench
from dstorch.model import flops_per_step


def check(result, device: str, precision: str) -> None:
    assert result.device.startswith(device) and result.precision == precision
    audio = result.batch_size * result.frames * SECONDS_PER_FRAME
    assert result.audio_seconds_per_second == pytest.approx(audio / result.step_seconds)
    flops = 3 * flops_per_step(result.n_hidden, 29) * result.batch_size * result.frames
    assert result.model_flops_per_second == pytest.approx(flops / result.step_seconds)
    assert 0 < result.mfu == result.model_flops_per_second / result.peak_flops_per_second
    line = format_bench(result)
    assert f"{device}" in line and precision in line and "audio-s/s" in line and "MFU" in line


def test_cpu_training_figures():
    torch.manual_seed(0)
    result = bench_training(
        torch.device("cpu"), n_hidden=32, batch=2, frames=20, steps=1, peak_size=256
    )
    check(result, "cpu", "fp32")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_one_gpu_reports_bf16_mfu():
    result = bench_training(torch.device("cuda"), n_hidden=512, batch=8, frames=50, steps=2)
    check(result, "cuda", "bf16")
    assert result.mfu < 1  # measured against this GPU's own bf16 matmul peak
