"""Training throughput and model FLOPs utilisation (MFU).

MFU = achieved model FLOP/s / the dense-matmul FLOP/s this machine reaches, both measured
in the same run, so the ratio means the same thing on a laptop, CI or an H100. On CUDA both
run in bf16 (the training step under autocast, as AUTOMATIC_MIXED_PRECISION=yes trains),
on one GPU; on the CPU in fp32.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from dstorch.features import CONTEXT_FRAMES, N_MFCC, SAMPLE_RATE, STEP
from dstorch.model import DeepSpeech, flops_per_step

SECONDS_PER_FRAME = STEP / SAMPLE_RATE


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int = 0, reps: int = 5) -> float:
    """Best FLOP/s of a square matmul: the baseline MFU is measured against. `size` 0: 8192
    on a GPU (smaller matmuls leave a big GPU's peak unreached), 4096 on the CPU."""
    size = size or (8192 if device.type == "cuda" else 4096)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b  # warm-up: first calls pay for allocation and kernel selection
    best = float("inf")
    for _ in range(reps):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


@dataclass
class TrainBench:
    device: str
    precision: str  # "bf16" (autocast on CUDA) or "fp32"
    n_hidden: int
    batch_size: int
    frames: int
    step_seconds: float
    audio_seconds_per_second: float
    model_flops_per_second: float
    peak_flops_per_second: float

    @property
    def mfu(self) -> float:
        return self.model_flops_per_second / self.peak_flops_per_second


def train_step_time(
    model: DeepSpeech, batch: int, frames: int, device: torch.device, amp: bool, steps: int
) -> float:
    """Median wall time of one Adam + CTC training step on random features."""
    inputs = torch.randn(batch, frames, CONTEXT_FRAMES, N_MFCC, device=device)
    labels = torch.randint(0, model.n_classes - 1, (batch, frames // 4), device=device)
    lengths = torch.full((batch,), frames, dtype=torch.long)
    label_lengths = torch.full((batch,), frames // 4, dtype=torch.long)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    times = []
    for i in range(steps + 1):
        _sync(device)
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits, _ = model(inputs)
        log_probs = logits.float().log_softmax(-1).transpose(0, 1)
        loss = torch.nn.functional.ctc_loss(
            log_probs, labels, lengths, label_lengths, blank=model.n_classes - 1
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _sync(device)
        if i:  # step 0 is warm-up
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def bench_training(
    device: torch.device,
    n_hidden: int = 2048,
    batch: int = 32,
    frames: int = 100,
    steps: int = 3,
    n_classes: int = 29,
    peak_size: int = 0,
) -> TrainBench:
    amp = device.type == "cuda"
    dtype = torch.bfloat16 if amp else torch.float32
    peak = matmul_peak(device, dtype, peak_size)
    model = DeepSpeech(n_classes=n_classes, n_hidden=n_hidden).to(device).train()
    seconds = train_step_time(model, batch, frames, device, amp, steps)
    # Backward costs about twice the forward pass: 3x forward FLOPs per training step.
    flops = 3 * flops_per_step(n_hidden, n_classes) * batch * frames
    return TrainBench(
        device=str(device),
        precision="bf16" if amp else "fp32",
        n_hidden=n_hidden,
        batch_size=batch,
        frames=frames,
        step_seconds=seconds,
        audio_seconds_per_second=batch * frames * SECONDS_PER_FRAME / seconds,
        model_flops_per_second=flops / seconds,
        peak_flops_per_second=peak,
    )


def format_bench(result: TrainBench) -> str:
    return (
        f"{result.device} {result.precision}: n_hidden {result.n_hidden}, "
        f"batch {result.batch_size} x "
        f"{result.frames * SECONDS_PER_FRAME:.1f}s: {result.step_seconds:.2f} s/step, "
        f"{result.audio_seconds_per_second:.1f} audio-s/s, "
        f"model {result.model_flops_per_second / 1e9:.1f} GFLOP/s vs matmul peak "
        f"{result.peak_flops_per_second / 1e9:.1f} GFLOP/s -> MFU {result.mfu:.1%}"
    )
