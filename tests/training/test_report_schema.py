"""dstorch.training.report_schema: the typed report (EvaluationReport) that report.json is
written from and read back into."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dstorch.training.evaluate import summarize
from dstorch.training.report_schema import (
    EvaluationReport,
    ReportError,
    Result,
    ScorerReport,
    Summary,
)

RESULTS = [  # wav, reference, prediction, loss, WER, CER
    Result("/d/a.wav", "turn on the light", "turn on the light", 0.5, 0.0, 0.0),
    Result("/d/b.wav", "stop", "top", 2.0, 1.0, 0.25),
    Result("/d/c.wav", "play music", "play", 3.5, 0.5, 0.6),
]


def test_report_json_keeps_the_shape_readers_know(tmp_path: Path) -> None:
    plain = EvaluationReport(summarize(RESULTS)).to_json()
    assert list(plain) == [
        *("samples", "wer", "cer", "accuracy", "mean_loss"),
        *("best", "median", "worst", "all"),
    ]
    assert plain["worst"][0]["wav"] == "/d/b.wav" and plain["median"][0]["wav"] == "/d/c.wav"
    scored = EvaluationReport(
        summarize(RESULTS),
        ScorerReport(file="m.scorer", mode="commands", alpha=2.0, beta=2.0, beam_width=100),
    )
    scored.scorer.figures = summarize(RESULTS[:1])
    data = scored.to_json()
    # "no_scorer" is written only next to a scorer section, as the job always did.
    assert data["no_scorer"] == {"wer": plain["wer"], "cer": plain["cer"], "accuracy": 1 / 3}
    assert data["scorer"]["file"] == "m.scorer" and data["scorer"]["beam_width"] == 100
    assert data["scorer"]["samples"] == 1 and data["scorer"]["all"][0]["wav"] == "/d/a.wav"
    assert EvaluationReport(scorer=ScorerReport(error="no lmplz")).to_json()["scorer"] == {
        "error": "no lmplz"
    }


@pytest.mark.parametrize(
    "report",
    [
        EvaluationReport(),
        EvaluationReport(summarize(RESULTS)),
        EvaluationReport(summarize(RESULTS), ScorerReport(error="lmplz failed"), {"samples": 3}),
        EvaluationReport(
            summarize(RESULTS),
            ScorerReport("m.scorer", "open", 0.9, 1.2, {"trials": 4}, ["tuned"], None, 64),
        ),
    ],
    ids=["empty", "plain", "scorer-error", "scorer-untested"],
)
def test_report_round_trips_through_report_json(report: EvaluationReport, tmp_path: Path) -> None:
    path = report.write(tmp_path / "report.json")
    assert EvaluationReport.read(path) == report
    assert EvaluationReport.from_json(json.loads(path.read_text())) == report


def test_round_trip_with_scorer_figures(tmp_path: Path) -> None:
    scorer = ScorerReport("m.scorer", "commands", 2.0, 2.0, beam_width=100)
    scorer.figures = summarize(RESULTS[1:])
    report = EvaluationReport(summarize(RESULTS), scorer)
    assert EvaluationReport.read(report.write(tmp_path / "r.json")) == report


def test_non_finite_loss_still_writes_valid_json(tmp_path: Path) -> None:
    diverged = summarize([Result("/d/x.wav", "stop", "", float("nan"), 1.0, 1.0)])
    path = EvaluationReport(diverged).write(tmp_path / "report.json")

    def strict(constant: str):
        raise AssertionError(f"invalid JSON constant {constant}")

    data = json.loads(path.read_text(), parse_constant=strict)
    assert data["mean_loss"] is None and data["all"][0]["loss"] is None


def test_unreadable_report_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        EvaluationReport.read(tmp_path / "absent.json")
    for text in ("{not json", '{"all": [{"wav": "x"}]}', "[]"):
        (tmp_path / "report.json").write_text(text)
        with pytest.raises(ReportError, match=r"report.json: unreadable report .*make export"):
            EvaluationReport.read(tmp_path / "report.json")


def test_summary_of_nothing_round_trips() -> None:
    assert Summary.from_json({}) == Summary()
