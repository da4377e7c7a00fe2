"""Loss, transcription and WER/CER of a model over a sample set (the figures' types and
report.json: dstorch.training.report_schema)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dstorch.training.report_schema import Result, Summary

if TYPE_CHECKING:  # torch loads only to run a model: edit_distance and summarize need none
    import torch

    from dstorch.alphabet import Alphabet
    from dstorch.model import DeepSpeech
    from dstorch.training.data import Batch, FeatureCache, Sample


def edit_distance(a: list | str, b: list | str) -> int:
    """Levenshtein distance between two sequences."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def greedy_decode(log_probs: np.ndarray, alphabet: Alphabet) -> str:
    """Best-path CTC decode. log_probs [T, n_classes] -> text (repeats merged, blanks out)."""
    best = log_probs.argmax(axis=1)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    return alphabet.decode([int(i) for i in best[keep] if i != alphabet.blank])


def forward_losses(
    model: DeepSpeech, batch: Batch, device: torch.device, amp: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample CTC losses [B] and log-probabilities [B, T, C] of a batch.

    DeepSpeech reports the mean of per-sample losses, so callers average over the batch.
    """
    import torch

    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        logits, _ = model(batch.inputs.to(device, non_blocking=True))
    log_probs = logits.float().log_softmax(-1)
    losses = torch.nn.functional.ctc_loss(
        log_probs.transpose(0, 1),  # ctc_loss wants [T, B, C]
        batch.labels.to(device),
        batch.input_lengths.to(device),
        batch.label_lengths.to(device),
        blank=model.n_classes - 1,
        reduction="none",
        zero_infinity=True,
    )
    return losses, log_probs


@dataclass
class Output:
    """One sample's acoustic model output, kept so several decoders can reuse it."""

    sample: Sample
    log_probs: np.ndarray  # [T, n_classes], natural-log softmax
    loss: float


def forward_all(
    model: DeepSpeech,
    samples: list[Sample],
    cache: FeatureCache,
    batch_size: int,
    device: torch.device,
    desc: str = "Test",
) -> list[Output]:
    """One acoustic forward per sample (decoding is the cheap part to repeat)."""
    import torch
    from tqdm import tqdm

    from dstorch.training.data import collate

    model.eval()
    outputs = []
    batches = [samples[i : i + batch_size] for i in range(0, len(samples), batch_size)]
    with torch.no_grad():
        for chunk in tqdm(batches, desc=desc, leave=False):
            batch = collate(chunk, cache)
            losses, log_probs = forward_losses(model, batch, device, amp=False)
            for i, sample in enumerate(chunk):
                lp = log_probs[i, : batch.input_lengths[i]].cpu().numpy()
                outputs.append(Output(sample, lp, losses[i].item()))
    return outputs


def score_all(outputs: list[Output], decoder: Callable[[np.ndarray], str]) -> list[Result]:
    """Decode every output with `decoder(log_probs [T, C]) -> str` and score it."""
    return [score(o.sample, decoder(o.log_probs), o.loss) for o in outputs]


def evaluate(
    model: DeepSpeech,
    samples: list[Sample],
    alphabet: Alphabet,
    cache: FeatureCache,
    batch_size: int,
    device: torch.device,
    decoder=None,
    desc: str = "Test",
) -> list[Result]:
    """Per-sample loss and transcript. `decoder(log_probs [T, C]) -> str`; greedy if None."""
    decoder = decoder or (lambda lp: greedy_decode(lp, alphabet))
    return score_all(forward_all(model, samples, cache, batch_size, device, desc), decoder)


def score(sample: Sample, prediction: str, loss: float) -> Result:
    ref = sample.transcript
    words = max(len(ref.split()), 1)
    return Result(
        wav=str(sample.wav),
        reference=ref,
        prediction=prediction,
        loss=loss,
        wer=edit_distance(ref.split(), prediction.split()) / words,
        cer=edit_distance(ref, prediction) / max(len(ref), 1),
    )


def summarize(results: list[Result]) -> Summary:
    """Corpus WER/CER (errors over reference length), accuracy and the ranked samples."""
    word_errors = sum(edit_distance(r.reference.split(), r.prediction.split()) for r in results)
    char_errors = sum(edit_distance(r.reference, r.prediction) for r in results)
    words = max(sum(len(r.reference.split()) for r in results), 1)
    chars = max(sum(len(r.reference) for r in results), 1)
    return Summary(
        samples=len(results),
        wer=word_errors / words,
        cer=char_errors / chars,
        accuracy=sum(r.prediction == r.reference for r in results) / max(len(results), 1),
        mean_loss=float(np.mean([r.loss for r in results])) if results else None,
        results=sorted(results, key=lambda r: (r.wer, r.cer, r.loss)),
    )
