"""Loss, transcription and WER/CER of a model over a sample set, and the test report
(TestReport: the one definition of report.json)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dstorch.errors import DstorchError
from dstorch.fs import atomic_write

if TYPE_CHECKING:  # torch loads only to run a model: reading report.json needs none of it
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
class Result:
    wav: str
    reference: str
    prediction: str
    loss: float
    wer: float
    cer: float


RESULT_KEYS = tuple(f.name for f in fields(Result))


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


def finite_or_none(value):
    """NaN/inf as None: json.dumps would write them as invalid JSON."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


class ReportError(DstorchError, ValueError):
    """report.json cannot be read as a test report; the message names the file and the fix."""


@dataclass
class Summary:
    """One decoder's figures over a sample set; `results` ranked best first (WER, CER, loss).

    None figures: nothing was decoded (a report read from an empty report.json).
    """

    samples: int = 0
    wer: float | None = None
    cer: float | None = None
    accuracy: float | None = None
    mean_loss: float | None = None
    results: list[Result] = field(default_factory=list)

    def to_json(self) -> dict:
        # A diverged model's NaN loss must not make report.json invalid JSON.
        ranked = [{k: finite_or_none(v) for k, v in asdict(r).items()} for r in self.results]
        middle = len(ranked) // 2
        return {
            "samples": self.samples,
            "wer": self.wer,
            "cer": self.cer,
            "accuracy": self.accuracy,
            "mean_loss": finite_or_none(self.mean_loss),
            "best": ranked[:3],
            "median": ranked[middle : middle + 1],
            "worst": ranked[-3:][::-1],
            "all": ranked,
        }

    @classmethod
    def from_json(cls, data: dict) -> Summary:
        """The figures and `all`; best/median/worst are views of `all`, rebuilt on write."""
        results = [Result(**{k: r[k] for k in RESULT_KEYS}) for r in data.get("all") or []]
        return cls(
            samples=data.get("samples", len(results)),
            wer=data.get("wer"),
            cer=data.get("cer"),
            accuracy=data.get("accuracy"),
            mean_loss=data.get("mean_loss"),
            results=results,
        )


@dataclass
class ScorerReport:
    """report.json's "scorer" section: what the scorer stage produced (file, LM mode,
    stored alpha/beta, tuning) and, when the scorer loaded, the test figures decoding with
    it at `beam_width`. Only `error` is set when no scorer was built."""

    file: str | None = None
    mode: str | None = None
    alpha: float | None = None
    beta: float | None = None
    tuning: dict | None = None  # dstorch.training.tune.Tuning as a dict (tune imports this module)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    beam_width: int | None = None
    figures: Summary | None = None

    def to_json(self) -> dict:
        if self.file is None:
            return {"error": self.error}
        out = {k: getattr(self, k) for k in ("file", "mode", "alpha", "beta", "tuning", "notes")}
        if self.error is not None:
            out["error"] = self.error
        if self.beam_width is not None:
            out["beam_width"] = self.beam_width
        if self.figures is not None:
            out |= self.figures.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict) -> ScorerReport:
        keys = ("file", "mode", "alpha", "beta", "tuning", "error", "beam_width")
        return cls(
            **{k: data.get(k) for k in keys},
            notes=list(data.get("notes") or []),
            figures=Summary.from_json(data) if data.get("all") is not None else None,
        )


@dataclass
class NoisyFigures:
    """One noisy test condition (a simulated room, noise at `snr` dB): per decoder
    ("no_scorer", "scorer"), which test samples were transcribed exactly."""

    condition: str
    snr: float
    exact: dict[str, dict[str, bool]] = field(default_factory=dict)  # decoder -> wav -> hit

    def accuracy(self, decoder: str, wavs: list[str] | None = None) -> float | None:
        """Exact share over `wavs` (default: all samples); None when none were decoded."""
        hits = self.exact.get(decoder, {})
        chosen = [hits[w] for w in (hits if wavs is None else wavs) if w in hits]
        return sum(chosen) / len(chosen) if chosen else None

    def to_json(self) -> dict:
        accuracy = {decoder: self.accuracy(decoder) for decoder in self.exact}
        return {"condition": self.condition, "snr": self.snr, "accuracy": accuracy} | {
            "exact": self.exact
        }

    @classmethod
    def from_json(cls, data: dict) -> NoisyFigures:
        return cls(data["condition"], float(data["snr"]), dict(data.get("exact") or {}))


@dataclass
class ClipCandidates:
    """One clip as a device hears it: what was said (`reference`, "" for nothing; a
    negative is no command), how long, and the decoder's best candidates [text, score]."""

    wav: str
    reference: str
    negative: bool
    seconds: float
    candidates: list[tuple[str, float | None]]  # best first; None: a score that was not finite


@dataclass
class ActingReport:
    """report.json's "acting" section (with TEST_NEGATIVE_FILES): the test commands and
    negatives decoded by `decoder` ("scorer" or "no_scorer"), each with its candidates, so
    dstorch.report can count outcomes and draw the gate's trade-off; `gate` is the gate
    file's content where one was exported beside the model."""

    decoder: str
    commands: list[str]
    clips: list[ClipCandidates] = field(default_factory=list)
    gate: dict | None = None

    def to_json(self) -> dict:
        clips = [
            asdict(c) | {"candidates": [[t, finite_or_none(s)] for t, s in c.candidates]}
            for c in self.clips
        ]
        return {"decoder": self.decoder, "commands": self.commands, "gate": self.gate} | {
            "clips": clips
        }

    @classmethod
    def from_json(cls, data: dict) -> ActingReport:
        clips = [
            ClipCandidates(
                c["wav"],
                c["reference"],
                bool(c["negative"]),
                float(c["seconds"]),
                [(str(t), s) for t, s in c["candidates"]],
            )
            for c in data.get("clips") or []
        ]
        return cls(data["decoder"], list(data["commands"]), clips, data.get("gate"))


@dataclass
class TestReport:
    """report.json: the test set decoded without a scorer (greedy, or the given decoder)
    and, when the job built one, with the scorer; `analysis` is added by dstorch.report.

    On disk the no-scorer figures are the top level (earlier readers use them); with a
    scorer section, "no_scorer" repeats its WER/CER/accuracy next to "scorer".
    """

    __test__ = False  # a report, not a pytest test class

    figures: Summary = field(default_factory=Summary)
    scorer: ScorerReport | None = None
    analysis: dict | None = None
    started_from: str | None = None  # the pretrained model training started from, or scratch
    noisy: list[NoisyFigures] = field(default_factory=list)  # dstorch.training.noisy
    acting: ActingReport | None = None  # dstorch.training.acting

    def to_json(self) -> dict:
        out = self.figures.to_json()
        if self.started_from is not None:
            out["started_from"] = self.started_from
        if self.scorer is not None:
            out["no_scorer"] = {k: out[k] for k in ("wer", "cer", "accuracy")}
            out["scorer"] = self.scorer.to_json()
        if self.noisy:
            out["noisy"] = [condition.to_json() for condition in self.noisy]
        if self.acting is not None:
            out["acting"] = self.acting.to_json()
        if self.analysis is not None:
            out["analysis"] = self.analysis
        return out

    @classmethod
    def from_json(cls, data: dict) -> TestReport:
        scorer = data.get("scorer")
        return cls(
            figures=Summary.from_json(data),
            scorer=ScorerReport.from_json(scorer) if scorer is not None else None,
            analysis=data.get("analysis"),
            started_from=data.get("started_from"),
            noisy=[NoisyFigures.from_json(c) for c in data.get("noisy") or []],
            acting=ActingReport.from_json(data["acting"]) if data.get("acting") else None,
        )

    def write(self, path: str | Path) -> Path:
        text = json.dumps(self.to_json(), indent=2, ensure_ascii=False, allow_nan=False)
        return atomic_write(Path(path), text + "\n")

    @classmethod
    def read(cls, path: str | Path) -> TestReport:
        """FileNotFoundError when absent; ReportError (one line) when unreadable."""
        try:
            return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ReportError(
                f"{path}: unreadable report ({e}); fetch it again (make export)"
            ) from None
