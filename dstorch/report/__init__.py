"""The evaluation report people look at: report.json (enriched), PNG plots, report.html.

`build_report` runs after the job's test (and in `dstorch report` on fetched models); it
keeps every key of the test report and adds an "analysis" section, so earlier readers of
report.json keep working. The history is stored there too, so the page and plots can be
rebuilt from report.json alone (e.g. where the trainer image lacks matplotlib).
"""

from __future__ import annotations

import datetime
from dataclasses import replace
from pathlib import Path

from dstorch.datafiles import REPORT_HTML, REPORT_JSON
from dstorch.report.acting import acting_analysis, acting_summary
from dstorch.report.analysis import (
    clean_history,
    commands_of,
    confusion,
    headline,
    per_command,
    per_sample,
    per_speaker,
    speaker_groups,
    training,
    worst_samples,
)
from dstorch.report.page import LABELS, pct, render
from dstorch.report.speakers import load_speakers
from dstorch.training.report_schema import EvaluationReport, ReportError, ScorerReport

SCORER_KEYS = ("file", "mode", "alpha", "beta", "beam_width")  # what the page says about the scorer


def analyze(report: EvaluationReport, history: list[dict], registry: Path | None = None) -> dict:
    """Every figure of the page, JSON-ready (no plots yet)."""
    decoded = per_sample(report)
    commands = commands_of(decoded)
    speakers, seen, notes = load_speakers(registry, list(decoded["no_scorer"]))
    speaker_rows = per_speaker(decoded, speakers, seen) if speakers else []
    scorer = report.scorer or ScorerReport()
    if scorer.error:
        notes.insert(0, f"scorer: {scorer.error}")
    elif "scorer" not in decoded:
        notes.insert(0, "no scorer: the figures are without a language model")
    if report.started_from:
        notes.insert(0, f"training started from: {report.started_from}")
    samples = len(decoded["no_scorer"])
    if not samples:
        notes.insert(0, "the test set is empty: no test figures")
    return {
        "generated": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "samples": samples,
        "decoders": list(decoded),
        "headline": headline(report),
        "commands": per_command(decoded, commands),
        "confusion": confusion(decoded, commands),
        "speakers": speaker_rows,
        "speaker_groups": speaker_groups(decoded, speaker_rows, speakers),
        "worst": worst_samples(decoded, speakers),
        "scorer": _scorer_facts(scorer),
        "noisy": noisy_rows(report, speakers, speaker_rows),
        "acting": acting_analysis(report),
        "training": training(history),
        "history": clean_history(history),
        "notes": notes,
    }


def noisy_rows(
    report: EvaluationReport, speakers: dict[str, str], speaker_rows: list
) -> list[dict]:
    """Per noisy condition: accuracy per decoder over all samples, unseen and seen voices."""
    groups = {
        name: [r["speaker"] for r in speaker_rows if r["seen_in_training"] is flag]
        for name, flag in (("unseen", False), ("seen", True))
    }
    rows = []
    for condition in report.noisy:
        wavs = list(next(iter(condition.exact.values()), {}))
        row = {"condition": condition.condition, "samples": len(wavs), "accuracy": {}}
        for decoder in condition.exact:
            row["accuracy"][decoder] = {"all": condition.accuracy(decoder)} | {
                name: condition.accuracy(decoder, [w for w in wavs if speakers.get(w) in names])
                for name, names in groups.items()
            }
        rows.append(row)
    return rows


def _scorer_facts(scorer: ScorerReport) -> dict | None:
    """What the page says about the scorer; None when none was built."""
    if scorer.file is None:
        return None
    facts = {k: getattr(scorer, k) for k in SCORER_KEYS}
    return {k: v for k, v in facts.items() if v is not None or k != "beam_width"}


def build_report(
    report: EvaluationReport, history: list[dict], out_dir: Path, registry: Path | None = None
) -> Path:
    """Write report.json (enriched), the plots and report.html into out_dir; -> the HTML."""
    from dstorch.fs import atomic_write

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    analysis = analyze(report, history, registry)
    analysis["plots"] = _plots(analysis, out_dir)
    replace(report, analysis=analysis).write(out_dir / REPORT_JSON)
    html_path = out_dir / REPORT_HTML
    atomic_write(html_path, render(analysis, out_dir, "Evaluation report"))
    return html_path


def _plots(analysis: dict, out_dir: Path) -> dict[str, str]:
    """The plots, or none with a note: a missing matplotlib must not fail a finished run."""
    from dstorch.report.plots import write_plots  # imports matplotlib only when drawing

    try:
        return write_plots(analysis, analysis["history"], out_dir)
    except ImportError as e:
        analysis["notes"].append(f"plots skipped ({e}); `dstorch report` can add them later")
        analysis["plots_skipped"] = True
        return {}


def summary_lines(analysis: dict, model_name: str) -> list[str]:
    """Five lines for the terminal: test size, both decoders, weakest spots, training;
    a sixth on acting (false accepts) where the test had negatives."""
    n_commands = len(analysis["commands"])
    lines = [f"{model_name}: {analysis['samples']} test samples, {n_commands} commands"]
    for decoder in ("no_scorer", "scorer"):
        lines.append(f"  {LABELS[decoder]}: {_figures(analysis['headline'].get(decoder))}")
    lines.append("  " + _weakest(analysis))
    if analysis.get("acting"):
        lines.append("  " + acting_summary(analysis["acting"]))
    train = analysis["training"]
    best = train["best_dev_loss"]
    where = "n/a" if best is None else f"{best:.4f} at epoch {train['best_epoch']}"
    lines.append(f"  training: {train['epochs']} epochs, best dev loss {where}")
    return lines


def voice_accuracy(analysis: dict) -> dict[str, float | None]:
    """{"unseen": accuracy, "seen": accuracy} of the test voices, with the scorer where
    there is one; None for a group without test samples."""
    decoder = analysis["decoders"][-1] if analysis["decoders"] else "no_scorer"
    groups = analysis["speaker_groups"]
    return {
        name: groups[name]["accuracy"].get(decoder) if groups[name]["samples"] else None
        for name in ("unseen", "seen")
    }


def voice_figures(analysis: dict) -> str:
    """One phrase: accuracy on voices never heard in training, and on heard ones."""
    groups, accuracy = analysis["speaker_groups"], voice_accuracy(analysis)
    return ", ".join(
        f"{name} speakers {pct(accuracy[name]) if accuracy[name] is not None else 'n/a'}"
        f" ({groups[name]['samples']} samples)"
        for name in ("unseen", "seen")
    )


def _figures(figures: dict | None) -> str:
    if not figures or figures["wer"] is None:
        return "n/a"
    return (
        f"accuracy {pct(figures['accuracy'])}, WER {figures['wer']:.3f}, CER {figures['cer']:.3f}"
    )


def _weakest(analysis: dict) -> str:
    """The least accurate command and, when known, how unseen voices fare."""
    decoder = analysis["decoders"][-1]  # the scorer's figures when there are some
    rows = [r for r in analysis["commands"] if r["accuracy"][decoder] is not None]
    if not rows:
        return "weakest command: n/a (empty test set)"
    weak = min(rows, key=lambda r: r["accuracy"][decoder])
    text = f"weakest command: “{weak['command']}” {pct(weak['accuracy'][decoder])}"
    groups = analysis["speaker_groups"]
    if groups["unseen"]["samples"] or groups["seen"]["samples"]:
        text += f"; {voice_figures(analysis)}"
    return text


def print_report_location(
    models_dir: Path | str, model_name: str, registry: Path | None = None
) -> int:
    """`dstorch report`: where report.html/json are, and a 5-line summary. -> exit status.

    Rebuilds the page first when report.json has no analysis yet or its plots were skipped
    (a trainer without matplotlib), using the history stored in report.json.
    """
    models_dir = Path(models_dir)
    json_path, html_path = models_dir / REPORT_JSON, models_dir / REPORT_HTML
    try:
        report = EvaluationReport.read(json_path)
    except FileNotFoundError:
        print(f"no report in {models_dir}/ yet: train (make run), then fetch it (make export)")
        return 1
    except ReportError as e:
        print(e)
        return 1
    analysis = report.analysis
    if analysis is None or analysis.get("plots_skipped") or not html_path.exists():
        history = (analysis or {}).get("history", [])
        build_report(replace(report, analysis=None), history, models_dir, registry)
        analysis = EvaluationReport.read(json_path).analysis
    for line in summary_lines(analysis, model_name):
        print(line)
    print(f"Report: {html_path.resolve()}")
    print(f"JSON:   {json_path.resolve()}")
    return 0
