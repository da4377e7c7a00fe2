"""Synthetic voices rendered by the real engines (espeak-ng, flite, festival) into data/."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pipeline_helpers import project, read_rows, run, snapshot

from dstorch.prepare import PrepareError
from dstorch.prepare.registry import load_registry
from dstorch.prepare.synthetic.catalog import choose, parse_spec
from dstorch.prepare.synthetic.plan import plan_takes
from dstorch.prepare.synthetic.render import render
from dstorch.wav import is_target_format

TWO = {"1": "turn on the light", "2": "stop"}
# One voice per engine, one take each per command: 6 takes, a few seconds to render.
VOICES = "espeak-ng:en-us+f3,flite:slt,festival:kal_diphone"


def synthetic(root: Path) -> dict:
    rows = load_registry(root / "data/registry.csv").values()
    return {e.source: e for e in rows if e.engine}


def digests(root: Path) -> dict[str, str]:
    folder = root / "data/synthetic"
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.wav"))
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    root = project(tmp_path_factory.mktemp("synthetic"), commands=TWO, speakers=4)
    before = snapshot(root / "original")
    messages: list[str] = []
    result = run(root, messages, synthetic_voices=VOICES, synthetic_takes=3)
    assert snapshot(root / "original") == before  # original/ is never written
    assert result.tally.rendered == 6
    assert "synthetic voices: espeak-ng (1 voice), flite (1 voice), festival (1 voice)" in messages
    return root


def test_takes_are_registered_train_only_with_engine_and_voice(rendered):
    takes = synthetic(rendered)
    assert {e.speaker for e in takes.values()} == {
        "espeak-ng:en-us+f3",
        "flite:slt",
        "festival:kal_diphone",
    }
    assert {(e.status, e.split) for e in takes.values()} == {("ok", "train")}
    for entry in takes.values():
        wav = rendered / "data" / entry.wav
        assert entry.wav.startswith("synthetic/en/") and is_target_format(wav)
        assert entry.engine == entry.speaker.split(":")[0] and entry.duration > 0.3
    train = {r["wav_filename"] for r in read_rows(rendered / "data/train.csv")}
    assert {e.wav for e in takes.values()} <= train
    for split in ("dev", "test"):
        assert not any(
            "synthetic" in r["wav_filename"] for r in read_rows(rendered / f"data/{split}.csv")
        )


def test_rendering_is_incremental_and_deterministic(rendered, tmp_path):
    before = snapshot(rendered / "data/synthetic")
    assert (
        run(rendered, synthetic_voices=VOICES, synthetic_takes=3, new_data=True).tally.rendered == 0
    )
    assert snapshot(rendered / "data/synthetic") == before  # nothing re-rendered
    # A lost take is rendered again, byte for byte; so is the same plan in another project.
    digest = digests(rendered)
    lost = next(iter(sorted((rendered / "data/synthetic").rglob("*.wav"))))
    lost.unlink()
    assert (
        run(rendered, synthetic_voices=VOICES, synthetic_takes=3, new_data=True).tally.rendered == 1
    )
    assert digests(rendered) == digest
    # Takes a run wrote before it was interrupted (no registry yet) are used, not redone.
    (rendered / "data/registry.csv").unlink()
    assert run(rendered, synthetic_voices=VOICES, synthetic_takes=3).tally.rendered == 0
    assert len(synthetic(rendered)) == 6
    other = project(tmp_path / "other", commands=TWO, speakers=2)
    run(other, synthetic_voices=VOICES, synthetic_takes=3)
    assert digests(other) == digest


def test_new_commands_wait_for_new_data_then_only_they_render(rendered):
    with open(rendered / "commands.csv", "a", encoding="utf-8") as f:
        f.write("3,volume up\n")
    messages: list[str] = []
    run(rendered, messages, synthetic_voices=VOICES, synthetic_takes=3)
    assert any(m.startswith("3 synthetic takes not rendered yet") for m in messages)
    result = run(rendered, messages, synthetic_voices=VOICES, synthetic_takes=3, new_data=True)
    assert result.tally.rendered == 3
    assert {e.id for e in synthetic(rendered).values()} == {"1", "2", "3"}
    assert result.tally.voices["3"] == {"espeak-ng": 1, "flite": 1, "festival": 1}
    # Turning the voices off drops the takes and their files.
    run(rendered, synthetic_voices="none", new_data=True)
    assert {e.status for e in synthetic(rendered).values()} == {"removed"}
    assert not list((rendered / "data/synthetic").rglob("*.wav"))


def test_a_language_no_engine_speaks_is_one_line_and_training_goes_on(tmp_path):
    root = project(tmp_path, commands=TWO, speakers=3)
    (root / "commands.csv").write_text("id,xx\n1,turn on the light\n2,stop\n", encoding="utf-8")
    (root / "original/en").rename(root / "original/xx")
    messages: list[str] = []
    result = run(root, messages, language="xx", synthetic_voices="auto")
    line = "no installed speech synthesizer speaks LANGUAGE=xx"
    assert sum(m.startswith(line) for m in messages) == 1
    assert result.tally.splits["train"] > 0 and not synthetic(root)


def test_render_api_gives_test_clips_of_held_out_voices(tmp_path):
    clips = render("flite:kal", TWO, tmp_path, "en", per_command=2, seed=7)
    assert len(clips) == 4 and {speaker for _, _, speaker in clips} == {"flite:kal"}
    assert {text for _, text, _ in clips} == set(TWO.values())
    assert all(is_target_format(wav) for wav, _, _ in clips)
    assert render("flite:kal", TWO, tmp_path, "en", per_command=2, seed=7) == clips


def test_plan_covers_every_voice_within_budget_and_is_stable():
    choices, _ = choose("espeak-ng:en-us,flite,festival", "en")
    voices = {(c.engine.name, base) for c in choices for base in c.voices}
    takes = plan_takes(choices, TWO, 30, seed=1)
    for command in TWO:
        mine = [t for t in takes if t.command == command]
        assert len(mine) == 30
        assert {(t.engine, t.voice.split("+")[0]) for t in mine} == voices
        assert len({t.recipe() for t in mine}) == 30
    more = plan_takes(choices, {**TWO, "3": "volume up"}, 30, seed=1)
    assert [t for t in more if t.command != "3"] == takes  # a new command changes no others
    assert plan_takes(choices, TWO, 30, seed=2) != takes


@pytest.mark.parametrize(
    "spec, message",
    [
        ("espeak-ng,say", "SYNTHETIC_VOICES: unknown engine 'say'"),
        ("flite:nobody", "SYNTHETIC_VOICES: flite has no voice 'nobody' for LANGUAGE=en"),
        ("espeak-ng:en-us+nosuch", "SYNTHETIC_VOICES: espeak-ng has no voice 'en-us+nosuch'"),
    ],
)
def test_bad_voice_lists_are_one_line_errors(spec, message):
    with pytest.raises(PrepareError, match="^" + message.replace("+", r"\+")) as error:
        choose(spec, "en")
    assert "\n" not in str(error.value)


def test_spec_words():
    assert parse_spec("auto") is None and parse_spec("") is None and parse_spec("none") == {}
    assert parse_spec("flite:slt, espeak-ng,flite:kal") == {
        "flite": {"slt", "kal"},
        "espeak-ng": set(),
    }
