"""The report's acting section: outcomes with and without the gate, false accepts per
hour, the trade-off curve, confusable pairs, the page, the plot and `make report`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FIXTURES_DIR

from dstorch.report import build_report, print_report_location
from dstorch.report.plots import TRADEOFF_PNG
from dstorch.training.evaluate import summarize
from dstorch.training.report_schema import ActingReport, EvaluationReport, Result

ACTING = FIXTURES_DIR / "report" / "acting.json"
ON, OFF, MARK, MIKE = "turn on the light", "turn off the light", "call mark", "call mike"


def make_report() -> EvaluationReport:
    """A test report whose acting section is the fixture: 6 command clips (1 s), 4
    negatives (2 s), a margin gate at 2."""
    section = ActingReport.from_json(json.loads(ACTING.read_text()))
    said = [c for c in section.clips if not c.negative]
    results = [Result(c.wav, c.reference, c.candidates[0][0], 1.0, 0.0, 0.0) for c in said]
    return EvaluationReport(summarize(results), acting=section)


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, dict]:
    build_report(make_report(), [], tmp_path)
    return tmp_path, json.loads((tmp_path / "report.json").read_text())


def test_the_section_round_trips_typed(built):
    folder, _ = built
    acting = EvaluationReport.read(folder / "report.json").acting
    assert acting == make_report().acting
    assert acting.clips[8].candidates == [("", None)] and acting.clips[8].negative


def test_outcomes_with_and_without_the_gate(built):
    _, report = built
    acting = report["analysis"]["acting"]
    assert acting["deployed"] == "on" and acting["gate"]["measure"] == "margin"
    plain, gated = acting["outcomes"]["off"], acting["outcomes"]["on"]
    assert (plain["right"], plain["wrong"], plain["rejected"]) == (3, 2, 1)
    assert (gated["right"], gated["wrong"], gated["rejected"]) == (3, 0, 3)
    assert (plain["false_accepts"], plain["negatives"], gated["false_accepts"]) == (3, 4, 1)
    assert plain["false_accepts_per_hour"] == pytest.approx(3 * 3600 / 8)  # 8 s of negatives
    assert gated["false_accepts_per_hour"] == pytest.approx(3600 / 8)
    assert plain["by_kind"] == {
        "near miss": {"false_accepts": 1, "clips": 1},
        "other speech": {"false_accepts": 2, "clips": 2},
        "silence or noise": {"false_accepts": 0, "clips": 1},
    }
    assert plain["confusion"] == [
        {"said": ON, "taken": OFF, "clips": 1},
        {"said": MARK, "taken": MIKE, "clips": 1},
    ]


def test_tradeoff_curve_from_the_candidates_scores(built):
    _, report = built
    curve = report["analysis"]["acting"]["tradeoff"]
    assert (curve["measure"], curve["threshold"]) == ("margin", 2.0)
    points = [(p["threshold"], p["right_share"], p["false_accept_share"]) for p in curve["points"]]
    assert points == [(None, 0.5, 0.75), (1.0, 0.5, 0.5), (4.0, 0.5, 0.25), (8.0, 1 / 3, 0.0)]
    # At 2 the gate keeps margins 4, 8 and +inf: where the curve's point at 4 is.
    gate = curve["gate_point"]
    assert (gate["threshold"], gate["right_share"], gate["false_accept_share"]) == (2.0, 0.5, 0.25)


def test_confusable_pairs_each_way(built):
    _, report = built
    pairs = report["analysis"]["acting"]["pairs"]
    plain = {(p["a"], p["b"]): p for p in pairs["off"]}
    assert set(plain) == {(MARK, MIKE), (OFF, ON)}
    assert (plain[(MARK, MIKE)]["a_clips"], plain[(MARK, MIKE)]["a_as_b"]) == (2, 1)
    assert (plain[(OFF, ON)]["b_as_a"], plain[(OFF, ON)]["a_as_b"]) == (1, 0)
    assert all(p["a_as_b"] == p["b_as_a"] == 0 for p in pairs["on"])  # the gate stopped both


def test_page_plot_and_summary_line(built, capsys):
    folder, report = built
    assert report["analysis"]["plots"]["tradeoff"] == TRADEOFF_PNG
    assert (folder / TRADEOFF_PNG).read_bytes()[:4] == b"\x89PNG"
    html = (folder / "report.html").read_text()
    assert "<h2>Acting on commands</h2>" in html and "<h3>Confusable pairs</h3>" in html
    assert '<td>through the gate</td><td class="n">6</td>' in html
    assert "gate trade-off" in html and "Gate: margin ≥ 2" in html
    assert print_report_location(folder, "m") == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "acting" in x)
    assert line == (
        "  acting (with the gate): right 50.0%, wrong 0.0%, rejected 50.0% of 6 commands; "
        "false accepts 25.0% of 4 negatives (450 per hour)"
    )


def test_without_negatives_the_page_says_so(tmp_path: Path):
    build_report(replace(make_report(), acting=None), [], tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["analysis"]["acting"] is None and "acting" not in report
    assert "No negatives were tested" in (tmp_path / "report.html").read_text()
    assert not (tmp_path / TRADEOFF_PNG).exists()
