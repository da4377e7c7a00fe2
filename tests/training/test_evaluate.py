"""dstorch.training.evaluate: edit distance, greedy decoding, corpus figures, and the typed report
(TestReport) that report.json is written from and read back into."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dstorch.alphabet import Alphabet
from dstorch.training.evaluate import (
    ReportError,
    Result,
    ScorerReport,
    Summary,
    TestReport,
    edit_distance,
    greedy_decode,
    summarize,
)


def result(wav: str, reference: str, prediction: str, loss: float = 1.0) -> Result:
    words = max(len(reference.split()), 1)
    return Result(
        wav=wav,
        reference=reference,
        prediction=prediction,
        loss=loss,
        wer=edit_distance(reference.split(), prediction.split()) / words,
        cer=edit_distance(reference, prediction) / max(len(reference), 1),
    )


RESULTS = [
    result("/d/a.wav", "turn on the light", "turn on the light", 0.5),
    result("/d/b.wav", "stop", "top", 2.0),
    result("/d/c.wav", "play music", "play", 3.5),
]


def test_edit_distance() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], ["a", "b"]) == 2
    assert edit_distance(["a", "b"], ["a", "b"]) == 0


def test_greedy_decode_merges_repeats_and_drops_blanks() -> None:
    alphabet = Alphabet([" ", "a", "b"])  # blank is index 3
    path = [1, 1, 3, 1, 2, 3, 3, 0, 2, 2]  # a a _ a b _ _ ' ' b b
    log_probs = np.log(np.eye(4)[path] * 0.97 + 0.01)
    assert greedy_decode(log_probs, alphabet) == "aab b"


def test_corpus_figures_weigh_by_reference_length() -> None:
    figures = summarize(RESULTS)
    # Word errors 0 + 1 + 1 over 4 + 1 + 2 words, not the mean of per-sample WERs.
    assert figures.wer == pytest.approx(2 / 7)
    assert figures.cer == pytest.approx((0 + 1 + 6) / (17 + 4 + 10))
    assert figures.accuracy == pytest.approx(1 / 3) and figures.samples == 3
    assert figures.mean_loss == pytest.approx(2.0)
    # Ranked best first by the sample's own WER: "play" misses half, "top" all of "stop".
    assert [r.wav for r in figures.results] == ["/d/a.wav", "/d/c.wav", "/d/b.wav"]


def test_report_json_keeps_the_shape_readers_know(tmp_path: Path) -> None:
    plain = TestReport(summarize(RESULTS)).to_json()
    assert list(plain) == [
        *("samples", "wer", "cer", "accuracy", "mean_loss"),
        *("best", "median", "worst", "all"),
    ]
    assert plain["worst"][0]["wav"] == "/d/b.wav" and plain["median"][0]["wav"] == "/d/c.wav"
    scored = TestReport(
        summarize(RESULTS),
        ScorerReport(file="m.scorer", mode="commands", alpha=2.0, beta=2.0, beam_width=100),
    )
    scored.scorer.figures = summarize(RESULTS[:1])
    data = scored.to_json()
    # "no_scorer" is written only next to a scorer section, as the job always did.
    assert data["no_scorer"] == {"wer": plain["wer"], "cer": plain["cer"], "accuracy": 1 / 3}
    assert data["scorer"]["file"] == "m.scorer" and data["scorer"]["beam_width"] == 100
    assert data["scorer"]["samples"] == 1 and data["scorer"]["all"][0]["wav"] == "/d/a.wav"
    assert TestReport(scorer=ScorerReport(error="no lmplz")).to_json()["scorer"] == {
        "error": "no lmplz"
    }


@pytest.mark.parametrize(
    "report",
    [
        TestReport(),
        TestReport(summarize(RESULTS)),
        TestReport(summarize(RESULTS), ScorerReport(error="lmplz failed"), {"samples": 3}),
        TestReport(
            summarize(RESULTS),
            ScorerReport("m.scorer", "open", 0.9, 1.2, {"trials": 4}, ["tuned"], None, 64),
        ),
    ],
    ids=["empty", "plain", "scorer-error", "scorer-untested"],
)
def test_report_round_trips_through_report_json(report: TestReport, tmp_path: Path) -> None:
    path = report.write(tmp_path / "report.json")
    assert TestReport.read(path) == report
    assert TestReport.from_json(json.loads(path.read_text())) == report


def test_round_trip_with_scorer_figures(tmp_path: Path) -> None:
    scorer = ScorerReport("m.scorer", "commands", 2.0, 2.0, beam_width=100)
    scorer.figures = summarize(RESULTS[1:])
    report = TestReport(summarize(RESULTS), scorer)
    assert TestReport.read(report.write(tmp_path / "r.json")) == report


def test_non_finite_loss_still_writes_valid_json(tmp_path: Path) -> None:
    diverged = summarize([result("/d/x.wav", "stop", "", loss=float("nan"))])
    path = TestReport(diverged).write(tmp_path / "report.json")

    def strict(constant: str):
        raise AssertionError(f"invalid JSON constant {constant}")

    data = json.loads(path.read_text(), parse_constant=strict)
    assert data["mean_loss"] is None and data["all"][0]["loss"] is None


def test_unreadable_report_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        TestReport.read(tmp_path / "absent.json")
    for text in ("{not json", '{"all": [{"wav": "x"}]}', "[]"):
        (tmp_path / "report.json").write_text(text)
        with pytest.raises(ReportError, match=r"report.json: unreadable report .*make export"):
            TestReport.read(tmp_path / "report.json")


def test_summary_of_nothing() -> None:
    assert Summary.from_json({}) == Summary()
    assert summarize([]).samples == 0 and summarize([]).mean_loss is None
