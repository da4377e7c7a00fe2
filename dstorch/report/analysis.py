"""The figures behind the evaluation report, computed from the test report.

Everything here is plain data (JSON-ready): per-command accuracy, the confusion between
commands, WER/CER per decoder, per-speaker accuracy and the worst samples. A "decoder" is
"no_scorer" (EvaluationReport.figures) or "scorer" (EvaluationReport.scorer's figures).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path

from dstorch.training.report_schema import EvaluationReport, Summary, finite_or_none

DECODERS = ("no_scorer", "scorer")
OTHER = "other"  # confusion column for predictions that are no command at all
UNKNOWN_SPEAKER = "?"
WORST = 10


def summaries(report: EvaluationReport) -> dict[str, Summary]:
    """decoder -> its figures; the scorer only when it decoded the test set."""
    out = {"no_scorer": report.figures}
    if report.scorer is not None and report.scorer.figures is not None:
        out["scorer"] = report.scorer.figures
    return out


def per_sample(report: EvaluationReport) -> dict[str, dict[str, dict]]:
    """decoder -> wav -> that sample's result (a JSON-ready dict).

    Samples are matched by wav path because the two lists are each sorted by their own
    error ranking, not in one shared order.
    """
    return {
        decoder: {r.wav: asdict(r) for r in figures.results}
        for decoder, figures in summaries(report).items()
    }


def headline(report: EvaluationReport) -> dict[str, dict]:
    """Corpus WER/CER/accuracy per decoder, as test_and_report computed them."""
    return {
        decoder: {
            "samples": len(figures.results),
            "wer": figures.wer,
            "cer": figures.cer,
            "accuracy": figures.accuracy,
        }
        for decoder, figures in summaries(report).items()
    }


def commands_of(decoded: dict) -> list[str]:
    """The commands: every reference sentence in the test set, sorted for stable output."""
    return sorted({r["reference"] for r in decoded["no_scorer"].values()})


def per_command(decoded: dict, commands: list[str]) -> list[dict]:
    """Samples and exact-match accuracy of each command, per decoder."""
    rows = []
    for command in commands:
        row: dict = {"command": command, "samples": 0, "accuracy": {}}
        for decoder, results in decoded.items():
            mine = [r for r in results.values() if r["reference"] == command]
            row["samples"] = len(mine)
            row["accuracy"][decoder] = _accuracy(mine)
        rows.append(row)
    return rows


def _accuracy(results: list[dict]) -> float | None:
    """Exact-match share; None (not 0) for no samples, so tables can say "n/a"."""
    if not results:
        return None
    return sum(r["prediction"] == r["reference"] for r in results) / len(results)


def confusion(decoded: dict, commands: list[str]) -> dict:
    """Rows: the reference command; columns: the commands then "other" (not a command)."""
    column = {c: i for i, c in enumerate(commands)}
    out: dict = {"labels": [*commands, OTHER]}
    for decoder, results in decoded.items():
        matrix = [[0] * (len(commands) + 1) for _ in commands]
        for r in results.values():
            predicted = column.get(r["prediction"], len(commands))
            matrix[column[r["reference"]]][predicted] += 1
        out[decoder] = matrix
    out["other_predictions"] = {
        decoder: Counter(
            r["prediction"] for r in results.values() if r["prediction"] not in column
        ).most_common(WORST)
        for decoder, results in decoded.items()
    }
    return out


def worst_samples(decoded: dict, speakers: dict[str, str], limit: int = WORST) -> list[dict]:
    """Misrecognized samples, worst first for the deployed decoder (the scorer if any).

    Ties go to samples that more decoders get wrong, then to the higher loss: the
    acoustic model's doubt shows what to re-record even where the scorer rescued it.
    """
    primary = "scorer" if "scorer" in decoded else "no_scorer"

    def wrong(wav: str) -> list[bool]:
        return [r[wav]["prediction"] != r[wav]["reference"] for r in decoded.values() if wav in r]

    def rank(r: dict) -> tuple:
        errors = (r["prediction"] != r["reference"], sum(wrong(r["wav"])))
        return (*errors, r["wer"], r["cer"], r["loss"])

    missed = sorted(
        (r for r in decoded[primary].values() if any(wrong(r["wav"]))), key=rank, reverse=True
    )
    return [_worst_row(r, decoded, speakers, primary) for r in missed[:limit]]


def _worst_row(r: dict, decoded: dict, speakers: dict[str, str], primary: str) -> dict:
    row = {
        "wav": r["wav"],
        "name": Path(r["wav"]).name,
        "speaker": speakers.get(r["wav"], UNKNOWN_SPEAKER),
        "reference": r["reference"],
        "ranked_by": primary,  # the decoder whose WER/CER/loss the row shows
        "wer": r["wer"],
        "cer": r["cer"],
        "loss": r["loss"],
    }
    for decoder, results in decoded.items():
        row[f"prediction_{decoder}"] = results.get(r["wav"], {}).get("prediction")
    return row


def per_speaker(decoded: dict, speakers: dict[str, str], seen: set[str]) -> list[dict]:
    """Accuracy per speaker; `seen_in_training` is False for voices the model never heard."""
    groups: dict[str, list[str]] = defaultdict(list)
    for wav in decoded["no_scorer"]:
        groups[speakers.get(wav, UNKNOWN_SPEAKER)].append(wav)
    rows = []
    for speaker in sorted(groups, key=lambda s: (s == UNKNOWN_SPEAKER, s)):  # "?" last
        wavs = groups[speaker]
        rows.append(
            {
                "speaker": speaker,
                "samples": len(wavs),
                "seen_in_training": None if speaker == UNKNOWN_SPEAKER else speaker in seen,
                "accuracy": _group_accuracy(decoded, wavs),
            }
        )
    return rows


def speaker_groups(decoded: dict, rows: list[dict], speakers: dict[str, str]) -> dict:
    """Accuracy over all unseen speakers' samples next to that over the seen ones."""
    out = {}
    for name, flag in (("unseen", False), ("seen", True)):
        names = [r["speaker"] for r in rows if r["seen_in_training"] is flag]
        wavs = [w for w in decoded["no_scorer"] if speakers.get(w) in names]
        out[name] = {
            "speakers": names,
            "samples": len(wavs),
            "accuracy": _group_accuracy(decoded, wavs),
        }
    return out


def _group_accuracy(decoded: dict, wavs: list[str]) -> dict[str, float | None]:
    return {
        decoder: _accuracy([results[w] for w in wavs if w in results])
        for decoder, results in decoded.items()
    }


def training(history: list[dict]) -> dict:
    """Epochs, the best dev loss and where it was reached, first and last learning rate."""
    clean = clean_history(history)
    dev = [(h["dev_loss"], h.get("epoch")) for h in clean if h.get("dev_loss") is not None]
    best = min(dev, key=lambda x: x[0]) if dev else (None, None)
    return {
        "epochs": len(clean),
        "best_dev_loss": best[0],
        "best_epoch": best[1],
        "last_train_loss": clean[-1].get("train_loss") if clean else None,
        "first_lr": clean[0].get("lr") if clean else None,
        "last_lr": clean[-1].get("lr") if clean else None,
    }


def clean_history(history: list[dict] | None) -> list[dict]:
    """History with NaN/inf as None: json.dumps would write them as invalid JSON."""
    return [{k: finite_or_none(v) for k, v in h.items()} for h in history or []]
