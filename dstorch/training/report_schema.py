"""report.json, the one definition: the test set's figures without and with the scorer,
the noisy conditions and the acting section (EvaluationReport and its parts), written by the
job and read by dstorch.report. Torch-free: reading report.json needs no model."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from dstorch.errors import DstorchError
from dstorch.fs import atomic_write


@dataclass
class Result:
    """One test sample decoded: what was said, what came out, its loss, WER and CER."""

    wav: str
    reference: str
    prediction: str
    loss: float
    wer: float
    cer: float


RESULT_KEYS = tuple(f.name for f in fields(Result))


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
class EvaluationReport:
    """report.json: the test set decoded without a scorer (greedy, or the given decoder)
    and, when the job built one, with the scorer; `analysis` is added by dstorch.report.

    On disk the no-scorer figures are the top level (earlier readers use them); with a
    scorer section, "no_scorer" repeats its WER/CER/accuracy next to "scorer".
    """

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
    def from_json(cls, data: dict) -> EvaluationReport:
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
    def read(cls, path: str | Path) -> EvaluationReport:
        """FileNotFoundError when absent; ReportError (one line) when unreadable."""
        try:
            return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ReportError(
                f"{path}: unreadable report ({e}); fetch it again (make export)"
            ) from None
