"""The evaluation report: figures in report.json, plots, report.html, `dstorch report`."""

from __future__ import annotations

import json
import random
import struct
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import FIXTURES_DIR

from dstorch.report import build_report, print_report_location, voice_accuracy
from dstorch.report.plots import ACCURACY_PNG, CONFUSION_PNG, LOSS_PNG
from dstorch.training.evaluate import edit_distance, summarize
from dstorch.training.report_schema import EvaluationReport, NoisyFigures, Result, ScorerReport

REGISTRY = FIXTURES_DIR / "report" / "registry.csv"
DATA = "/anywhere/data/en"  # the registry matches test paths by their data/-relative tail

# (file, reference, heard without scorer, heard with scorer). Speakers: alice and bob
# trained; carol trained only in German and dave's train take was removed (both unseen);
# eve is not in the registry.
SAMPLES = [
    ("yes_alice_1.wav", "yes", "yes", "yes"),
    ("yes_bob_1.wav", "yes", "yes s", "yes"),
    ("yes_carol_1.wav", "yes", "no", "no"),
    ("no_alice_1.wav", "no", "no", "no"),
    ("no_bob_1.wav", "no", "know", "no"),
    ("no_dave_1.wav", "no", "", "no"),
    ("stop_alice_1.wav", "stop", "stop", "stop"),
    ("stop_carol_1.wav", "stop", "top", "stop"),
    ("stop_eve_1.wav", "stop", "stop", "yes"),
]


def _results(column: int, seed: int) -> list[Result]:
    rng = random.Random(seed)
    results = []
    for row in SAMPLES:
        ref, heard = row[1], row[column]
        results.append(
            Result(
                wav=f"{DATA}/{row[0]}",
                reference=ref,
                prediction=heard,
                loss=rng.uniform(0.1, 5.0),
                wer=edit_distance(ref.split(), heard.split()) / max(len(ref.split()), 1),
                cer=edit_distance(ref, heard) / max(len(ref), 1),
            )
        )
    rng.shuffle(results)  # pairing must go by wav, not by position
    return results


def make_report(scorer: bool = True) -> EvaluationReport:
    """What job.test_and_report writes: the figures, plus the scorer section."""
    report = EvaluationReport(summarize(_results(2, seed=1)))
    if scorer:
        report.scorer = ScorerReport(
            file="m.scorer",
            mode="commands",
            alpha=0.9,
            beta=1.2,
            beam_width=100,
            figures=summarize(_results(3, seed=2)),
        )
    return report


def make_history(epochs: int = 12, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    history = []
    for epoch in range(1, epochs + 1):
        train = 40 / epoch + rng.uniform(0, 1)
        history.append(
            {
                "epoch": epoch,
                "train_loss": train,
                "dev_loss": train * 1.2 + rng.uniform(0, 1),
                "lr": 0.002 if epoch <= 8 else 0.0002,
            }
        )
    return history


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def load_json(path: Path) -> dict:
    def strict(constant: str):
        raise AssertionError(f"invalid JSON constant {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=strict)


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, dict]:
    html = build_report(make_report(), make_history(), tmp_path, registry=REGISTRY)
    assert html == tmp_path / "report.html"
    return tmp_path, load_json(tmp_path / "report.json")


def test_confusion_counts(built):
    _, report = built
    confusion = report["analysis"]["confusion"]
    assert confusion["labels"] == ["no", "stop", "yes", "other"]
    assert confusion["no_scorer"] == [[1, 0, 0, 2], [0, 2, 0, 1], [1, 0, 1, 1]]
    assert confusion["scorer"] == [[3, 0, 0, 0], [0, 2, 1, 0], [1, 0, 2, 0]]
    others = dict(confusion["other_predictions"]["no_scorer"])
    assert others == {"know": 1, "": 1, "top": 1, "yes s": 1}


def test_per_command_accuracy_and_headline(built):
    _, report = built
    analysis = report["analysis"]
    by_command = {r["command"]: r for r in analysis["commands"]}
    assert by_command["no"]["samples"] == 3
    assert by_command["no"]["accuracy"] == pytest.approx({"no_scorer": 1 / 3, "scorer": 1.0})
    assert by_command["stop"]["accuracy"] == pytest.approx({"no_scorer": 2 / 3, "scorer": 2 / 3})
    assert by_command["yes"]["accuracy"] == pytest.approx({"no_scorer": 1 / 3, "scorer": 2 / 3})
    assert analysis["headline"]["no_scorer"]["accuracy"] == pytest.approx(4 / 9)
    assert analysis["headline"]["scorer"]["accuracy"] == pytest.approx(7 / 9)
    assert analysis["decoders"] == ["no_scorer", "scorer"]
    # The original keys stay for earlier readers of report.json.
    assert report["samples"] == 9 and report["scorer"]["file"] == "m.scorer"


def test_worst_samples_ranked_by_the_scorer(built):
    _, report = built
    worst = report["analysis"]["worst"]
    wrong = {w["name"] for w in worst if w["prediction_scorer"] != w["reference"]}
    assert wrong == {"yes_carol_1.wav", "stop_eve_1.wav"}
    assert {w["name"] for w in worst[:2]} == wrong  # misrecognitions come first
    assert len(worst) == 6  # then those only the greedy decoding got wrong; no correct ones
    eve = next(w for w in worst if w["name"] == "stop_eve_1.wav")
    assert eve["prediction_no_scorer"] == "stop" and eve["speaker"] == "?"


def test_unseen_speakers(built):
    _, report = built
    analysis = report["analysis"]
    speakers = {r["speaker"]: r for r in analysis["speakers"]}
    assert {s: r["seen_in_training"] for s, r in speakers.items()} == {
        "alice": True,
        "bob": True,
        "carol": False,  # trained only in German
        "dave": False,  # the train take was removed
        "?": None,  # eve: not in the registry
    }
    assert speakers["bob"]["accuracy"] == {"no_scorer": 0.0, "scorer": 1.0}
    unseen = analysis["speaker_groups"]["unseen"]
    assert unseen["speakers"] == ["carol", "dave"] and unseen["samples"] == 3
    assert unseen["accuracy"] == pytest.approx({"no_scorer": 0.0, "scorer": 2 / 3})
    seen = analysis["speaker_groups"]["seen"]
    assert seen["samples"] == 5
    assert seen["accuracy"] == pytest.approx({"no_scorer": 3 / 5, "scorer": 1.0})
    # What state.json and `make status` get: the scorer's figures, groups apart.
    assert voice_accuracy(analysis) == pytest.approx({"unseen": 2 / 3, "seen": 1.0})
    assert any("1 test samples are not in" in n for n in analysis["notes"])


def test_plots_are_images(built):
    out, report = built
    assert report["analysis"]["plots"] == {
        "loss": LOSS_PNG,
        "confusion": CONFUSION_PNG,
        "accuracy": ACCURACY_PNG,
    }
    for name in (LOSS_PNG, CONFUSION_PNG, ACCURACY_PNG):
        width, height = png_size(out / name)
        assert 200 <= width <= 3000 and 150 <= height <= 3000, (name, width, height)


def test_html_shows_the_numbers(built):
    out, _ = built
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for figure in ("44.4%", "77.8%", "33.3%", "66.7%", "100.0%", "m.scorer"):
        assert figure in page, figure
    assert "mode commands, alpha 0.9, beta 1.2, beam_width 100" in page
    assert page.count("data:image/png;base64,") == 3  # self-contained
    assert "yes_carol_1.wav" in page and "no (unseen)" in page
    assert '<td class="n">2</td>' in page  # a confusion count


def test_without_scorer_and_with_scorer_error(tmp_path: Path):
    report = make_report(scorer=False)
    build_report(report, make_history(3), tmp_path / "plain")
    analysis = load_json(tmp_path / "plain" / "report.json")["analysis"]
    assert analysis["decoders"] == ["no_scorer"] and "scorer" not in analysis["confusion"]
    assert analysis["speakers"] == []  # no registry given
    assert any(n.startswith("no scorer") for n in analysis["notes"])

    report = replace(
        make_report(scorer=False), scorer=ScorerReport(error="lmplz not found; make kenlm")
    )
    build_report(report, [], tmp_path / "error")
    page = (tmp_path / "error" / "report.html").read_text(encoding="utf-8")
    assert "lmplz not found; make kenlm" in page
    assert not (tmp_path / "error" / LOSS_PNG).exists()  # no history, no loss plot


def test_empty_test_set(tmp_path: Path):
    build_report(make_report(), make_history(), tmp_path, registry=REGISTRY)
    assert (tmp_path / CONFUSION_PNG).exists()
    # rebuilt in place
    build_report(EvaluationReport(), make_history(2), tmp_path, registry=REGISTRY)
    analysis = load_json(tmp_path / "report.json")["analysis"]
    assert analysis["samples"] == 0 and analysis["commands"] == []
    assert analysis["notes"][0].startswith("the test set is empty")
    assert analysis["plots"] == {"loss": LOSS_PNG}
    assert not (tmp_path / CONFUSION_PNG).exists()  # the old run's plot is gone
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "The test set is empty" in page
    build_report(EvaluationReport(), [], tmp_path / "bare")  # nothing at all still gives a page
    assert "The test set is empty" in (tmp_path / "bare" / "report.html").read_text()


def test_all_correct_has_no_worst_samples(tmp_path: Path):
    result = Result("/d/en/yes_a_1.wav", "yes", "yes", 0.1, 0.0, 0.0)
    build_report(EvaluationReport(summarize([result])), [], tmp_path)
    assert load_json(tmp_path / "report.json")["analysis"]["worst"] == []
    assert "Every test sample was recognized" in (tmp_path / "report.html").read_text()


def test_without_matplotlib_plots_come_later(tmp_path: Path, monkeypatch, capsys):
    """A trainer image without matplotlib still writes the page; `dstorch report` adds plots."""
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` fail
    build_report(make_report(), make_history(), tmp_path, registry=REGISTRY)
    analysis = load_json(tmp_path / "report.json")["analysis"]
    assert analysis["plots"] == {} and analysis["plots_skipped"] is True
    assert any(n.startswith("plots skipped") for n in analysis["notes"])
    monkeypatch.undo()
    assert print_report_location(tmp_path, "commands", registry=REGISTRY) == 0
    analysis = load_json(tmp_path / "report.json")["analysis"]
    assert set(analysis["plots"]) == {"loss", "confusion", "accuracy"}  # history was kept
    assert "plots_skipped" not in analysis
    assert "unseen speakers" in capsys.readouterr().out


def test_untrusted_text_is_escaped(tmp_path: Path):
    result = Result("/d/en/x_a_1.wav", "yes", "<script>alert(1)</script>", 1.0, 1.0, 1.0)
    build_report(EvaluationReport(summarize([result])), [], tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_non_finite_history_stays_valid_json(tmp_path: Path):
    history = make_history(3)
    history[0]["dev_loss"] = float("inf")
    history[1]["train_loss"] = float("nan")
    build_report(make_report(), history, tmp_path)
    analysis = load_json(tmp_path / "report.json")["analysis"]
    assert analysis["history"][0]["dev_loss"] is None
    assert analysis["training"]["best_epoch"] in (2, 3)


def test_print_report_location(built, capsys):
    out, _ = built
    assert print_report_location(out, "commands") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7
    assert lines[0] == "commands: 9 test samples, 3 commands"
    assert "accuracy 44.4%" in lines[1] and "accuracy 77.8%" in lines[2]
    assert "unseen speakers 66.7%" in lines[3]
    assert "12 epochs" in lines[4]
    assert lines[5].endswith("report.html") and lines[6].endswith("report.json")


def test_print_report_location_builds_a_missing_page(tmp_path: Path, capsys):
    assert print_report_location(tmp_path, "commands") == 1
    assert "no report" in capsys.readouterr().out
    # A report.json straight from test_and_report (no analysis yet): the page is built.
    make_report(scorer=False).write(tmp_path / "report.json")
    assert print_report_location(tmp_path, "commands") == 0
    assert (tmp_path / "report.html").exists() and (tmp_path / ACCURACY_PNG).exists()
    assert "with scorer: n/a" in capsys.readouterr().out


def test_noisy_conditions_by_voice_group(tmp_path: Path):
    """report.json keeps which samples each decoder got in a noisy room; the analysis and
    the page split them into unseen (carol, dave) and seen (alice, bob) voices."""
    report = make_report()
    # In the room at 10 dB: only alice's samples come through (and with the scorer, carol's).
    exact = {
        "no_scorer": {f"{DATA}/{row[0]}": "alice" in row[0] for row in SAMPLES},
        "scorer": {f"{DATA}/{row[0]}": "alice" in row[0] or "carol" in row[0] for row in SAMPLES},
    }
    report.noisy = [NoisyFigures("room + 10 dB", 10.0, exact)]
    build_report(report, make_history(), tmp_path, registry=REGISTRY)
    stored = load_json(tmp_path / "report.json")
    assert stored["noisy"][0]["accuracy"] == pytest.approx({"no_scorer": 3 / 9, "scorer": 5 / 9})
    (row,) = stored["analysis"]["noisy"]
    assert row["condition"] == "room + 10 dB" and row["samples"] == 9
    assert row["accuracy"]["scorer"] == pytest.approx(
        {"all": 5 / 9, "unseen": 2 / 3, "seen": 3 / 5}
    )
    assert row["accuracy"]["no_scorer"]["unseen"] == 0.0
    assert EvaluationReport.read(tmp_path / "report.json").noisy[0].exact == exact
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "In a noisy room" in html and "room + 10 dB" in html and "66.7%" in html
