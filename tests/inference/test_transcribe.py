"""dstorch.inference.transcribe: streaming, commands, CLI, end-to-end parity.

The decoder itself is tested in tests/decoder/, the model import in test_graph_import.py."""

from __future__ import annotations

import io
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ENGLISH, FIXTURES_DIR, ROOT, load_clip, random_model
from training_helpers import write_wav

from dstorch.cli import main
from dstorch.decoder.native import KernelBeamSearch
from dstorch.inference.transcribe import TranscribeError, Transcriber, parse_hot_words
from dstorch.runner.base import set_env_value
from dstorch.vad import speech_span, trim

SCORER = FIXTURES_DIR / "scorer" / "commands.scorer"
CLIPS = FIXTURES_DIR / "clips"
C = len(ENGLISH) + 1


@pytest.fixture(scope="module")
def sharp_model():
    """A random model with a sharpened output layer (like a trained one)."""
    model = random_model(C, seed=7, n_hidden=64)
    with torch.no_grad():
        model.layer_6.weight.mul_(8.0)
        model.layer_6.bias.mul_(8.0)
    return model


@pytest.fixture(scope="module")
def sharp_pbmm(tmp_path_factory, sharp_model) -> Path:
    """The sharp model as .pbmm."""
    from dstorch.alphabet import Alphabet
    from dstorch.export import export_model

    return export_model(sharp_model, Alphabet(ENGLISH), tmp_path_factory.mktemp("m"), "sharp")[1]


def test_stream_in_uneven_chunks_equals_whole_buffer(sharp_pbmm: Path) -> None:
    ours = Transcriber(sharp_pbmm, SCORER, beam_width=64)
    pcm = load_clip("speech")
    whole = ours.transcribe(pcm, 3)
    stream = ours.stream()
    cuts = [0, 1, 333, 512, 5000, 5001, 20000, len(pcm)]
    for start, end in zip(cuts, cuts[1:], strict=False):
        stream.feed(pcm[start:end])
        # The partial transcript depends on the audio so far, not on how it was cut.
        at_once = ours.stream()
        at_once.feed(pcm[:end])
        assert stream.intermediate() == at_once.intermediate(), end
    assert stream.intermediate(), "no partial transcript of the whole clip"
    assert stream.finish(3) == whole
    with pytest.raises(TranscribeError, match="finished"):
        stream.feed(pcm)


def _stream_probs(ours: Transcriber, pcm: np.ndarray, batch_steps: int | None):
    """(the probabilities each model call handed the decoder, the candidates)."""
    import dstorch.inference.transcribe as T

    stream, calls = T.Stream(ours, batch_steps), []
    search_next = stream.search.next
    stream.search.next = lambda probs: (calls.append(probs), search_next(probs))[1]
    stream.feed(pcm)
    return calls, stream.finish(3)


def test_whole_buffers_run_in_big_batches(sharp_pbmm: Path, monkeypatch) -> None:
    """transcribe runs the model over many steps per call (the LSTM is causal): the
    probabilities agree with the client's 16-step calls to float rounding, the candidates
    are the same, and long audio goes in blocks of WHOLE_BATCH_STEPS."""
    import dstorch.inference.transcribe as T

    ours = Transcriber(sharp_pbmm, SCORER, beam_width=64)
    pcm = np.resize(load_clip("speech"), 3 * 16000 + 123)
    small, expected = _stream_probs(ours, pcm, None)
    big, got = _stream_probs(ours, pcm, T.WHOLE_BATCH_STEPS)
    assert len(small) == 10 and len(big) == 1  # 150 steps: 16 at a time, or all at once
    np.testing.assert_allclose(np.concatenate(small), big[0], rtol=0, atol=1e-6)
    assert got == expected and ours.transcribe(pcm, 3) == expected
    monkeypatch.setattr(T, "WHOLE_BATCH_STEPS", 40)
    assert ours.transcribe(pcm, 3) == expected  # 3 blocks of 40 steps, then the rest


def test_parity_with_official_client(sharp_pbmm: Path, deepspeech_lib, parity_clips) -> None:
    """End to end (audio framing, features, imported graph, decoder): same transcripts,
    token timesteps and confidences as libdeepspeech.so, without and with the scorer, on
    speech, noise, silence and framing edge cases. Decoder settings are covered by
    tests/decoder/test_parity.py."""
    from dstorch.inference.official import OfficialModel

    clips = dict(parity_clips)
    clips.update({p.name: _read(p) for p in CLIPS.glob("*.wav")})
    with OfficialModel(sharp_pbmm, deepspeech_lib) as client:
        client.set_beam_width(100)
        for scorer in (None, SCORER):
            if scorer:
                client.enable_scorer(scorer)
            ours = Transcriber(sharp_pbmm, scorer, beam_width=100)
            assert isinstance(ours.stream().search, KernelBeamSearch)  # as production
            for name, pcm in clips.items():
                ref, got = client.stt_with_metadata(pcm, 3), ours.transcribe(pcm, 3)
                assert [c.text for c in got] == [r.text for r in ref], name
                assert [c.timesteps for c in got] == [[t.timestep for t in r.tokens] for r in ref]
                for c, r in zip(got, ref, strict=True):
                    assert c.confidence == pytest.approx(r.confidence, abs=1e-3)


def _read(path: Path) -> np.ndarray:
    from dstorch.inference.transcribe import read_audio

    return read_audio(path)


def test_commands_with_scorer_from_csv(sharp_pbmm: Path, tmp_path: Path) -> None:
    csv = tmp_path / "commands.csv"
    csv.write_text("id,en\n1,Turn on the light!\n2,stop\n3,play music\n", encoding="utf-8")
    ours = Transcriber(sharp_pbmm, SCORER, commands=csv)
    assert ours.grammar.sentences == ["turn on the light", "stop", "play music"]
    cands = ours.transcribe(load_clip("speech"), 3)
    assert sorted(c.text for c in cands) == sorted(ours.grammar.sentences)
    assert cands[0].confidence >= cands[1].confidence >= cands[2].confidence
    (tmp_path / "bad.txt").write_text("café\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not in the model's alphabet"):
        Transcriber(sharp_pbmm, commands=tmp_path / "bad.txt")


def run_cli(args: list[str], capsys, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(["transcribe", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_file_folder_stdin_json(sharp_pbmm, tmp_path, capsys, monkeypatch) -> None:
    pcm = load_clip("speech")
    expected = Transcriber(sharp_pbmm, SCORER).text(pcm)
    wav = write_wav(tmp_path / "a.wav", pcm)
    # The input as it is: the trim has its own test (test_cli_vad_trim_...).
    base = ["--model", str(sharp_pbmm), "--scorer", str(SCORER), "--vad_trim", "no"]
    assert run_cli([*base, "--audio", str(wav)], capsys) == (0, expected + "\n", "")
    code, out, _ = run_cli([*base, "--audio", "-"], capsys, pcm.tobytes(), monkeypatch)
    assert (code, out) == (0, expected + "\n")
    folder = tmp_path / "in"
    folder.mkdir()
    write_wav(folder / "a.wav", pcm)
    (folder / "junk.wav").write_bytes(b"RIFF....WAVEjunk")
    code, out, err = run_cli([*base, "--audio", str(folder)], capsys)
    assert code == 1 and out == f"a.wav\t{expected}\n"
    assert err.count("\n") == 1 and err.startswith("error: ") and "junk.wav" in err
    args = [*base, "--audio", str(wav), "--json", "--candidate_transcripts", "2"]
    code, out, _ = run_cli(args, capsys)
    record = json.loads(out)
    assert record["file"] == str(wav) and len(record["transcripts"]) == 2
    best = record["transcripts"][0]
    assert best["text"] == expected and isinstance(best["confidence"], float)
    assert [w["word"] for w in best["words"]] == expected.split()
    assert all(set(w) == {"word", "start_time", "duration"} for w in best["words"])


def configured(tmp_path: Path, models: Path, monkeypatch) -> Path:
    """A configuration.env whose MODELS_DIR/MODEL_NAME name models/cmds.*."""
    config = tmp_path / "configuration.env"
    shutil.copy(ROOT / "configuration.env", config)
    set_env_value(config, "MODELS_DIR", str(models))
    set_env_value(config, "MODEL_NAME", "cmds")
    monkeypatch.delenv("DSTORCH_MODELS_DIR", raising=False)
    monkeypatch.delenv("DSTORCH_MODEL_NAME", raising=False)
    return config


def test_cli_defaults_to_configured_model(sharp_pbmm, tmp_path, capsys, monkeypatch) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "cmds.pbmm").write_bytes(sharp_pbmm.read_bytes())
    (models / "cmds.scorer").write_bytes(SCORER.read_bytes())
    config = configured(tmp_path, models, monkeypatch)
    wav = write_wav(tmp_path / "a.wav", load_clip("speech"))
    code, out, _ = run_cli(["--config", str(config), "--audio", str(wav)], capsys)
    expected = Transcriber(sharp_pbmm, SCORER).text(trim(load_clip("speech")))  # trimmed
    assert code == 0 and out == expected + "\n"


def test_cli_refuses_a_half_installed_model(sharp_pbmm, tmp_path, capsys, monkeypatch) -> None:
    from dstorch.runner.install import install

    models = tmp_path / "models"
    sources = {"cmds.pbmm": sharp_pbmm, "cmds.scorer": SCORER}
    install(models, "cmds", {n: lambda t, p=p: shutil.copy(p, t) for n, p in sources.items()})
    (tmp_path / "new.scorer").write_bytes(SCORER.read_bytes() + b"another model's")
    (tmp_path / "new.scorer").replace(models / "cmds.scorer")  # an export cut short
    config = configured(tmp_path, models, monkeypatch)
    wav = write_wav(tmp_path / "a.wav", load_clip("speech"))
    code, out, err = run_cli(["--config", str(config), "--audio", str(wav)], capsys)
    assert code != 0 and out == "" and err.count("\n") == 1
    assert "cmds.scorer is not the file `make export` installed last" in err
    assert "run make export again" in err


def test_cli_official_client_matches(sharp_pbmm, tmp_path, capsys, deepspeech_lib) -> None:
    wav = write_wav(tmp_path / "a.wav", load_clip("speech"))
    base = ["--model", str(sharp_pbmm), "--scorer", str(SCORER), "--audio", str(wav), "--json"]
    ours = json.loads(run_cli(base, capsys)[1])
    theirs = json.loads(run_cli([*base, "--client", "official"], capsys)[1])
    assert theirs["transcripts"][0]["text"] == ours["transcripts"][0]["text"]
    assert theirs["transcripts"][0]["words"] == ours["transcripts"][0]["words"]


def test_cli_tflite_in_the_tflite_client_matches(
    sharp_pbmm, sharp_model, tmp_path, capsys, deepspeech_lib, deepspeech_tflite_lib
) -> None:
    """--client official picks the deepspeech-tflite library for a .tflite; with our scorer
    it answers as the TF client does with the .pbmm."""
    from dstorch.alphabet import Alphabet
    from dstorch.export import export_tflite

    tflite = export_tflite(sharp_model, Alphabet(ENGLISH), tmp_path, "sharp")
    wav = write_wav(tmp_path / "a.wav", load_clip("speech"))
    base = ["--scorer", str(SCORER), "--audio", str(wav), "--json", "--client", "official"]
    tf = json.loads(run_cli(["--model", str(sharp_pbmm), *base], capsys)[1])
    lite = json.loads(run_cli(["--model", str(tflite), *base], capsys)[1])
    assert lite["transcripts"][0]["text"] == tf["transcripts"][0]["text"]
    assert lite["transcripts"][0]["words"] == tf["transcripts"][0]["words"]
    code, _, err = run_cli(["--model", str(tflite), "--audio", str(wav)], capsys)
    assert code == 2 and "add --client official" in err


def test_bad_inputs_give_one_line_errors(sharp_pbmm, tmp_path, capsys) -> None:
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\xff\xff\xff\xff")
    with pytest.raises(TranscribeError, match="hot word"):
        parse_hot_words("lights=4")
    assert parse_hot_words("lights:4.5, off:-2") == {"lights": 4.5, "off": -2.0}
    with pytest.raises(TranscribeError, match="need a scorer"):
        Transcriber(sharp_pbmm, hot_words={"stop": 1.0})
    with pytest.raises(TranscribeError, match="int16"):
        Transcriber(sharp_pbmm).transcribe(np.zeros(10, np.float32))
    cases = [
        ["--model", str(junk), "--audio", str(tmp_path)],
        ["--model", str(tmp_path / "none.pbmm"), "--audio", str(tmp_path)],
        ["--model", str(sharp_pbmm), "--audio", str(tmp_path / "none.wav")],
        ["--model", str(sharp_pbmm), "--audio", str(junk)],
        ["--model", str(sharp_pbmm), "--scorer", str(junk), "--audio", str(junk)],
    ]
    for args in cases:
        code, out, err = run_cli(args, capsys)
        assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1


def test_cli_vad_trim_cuts_padding_and_keeps_input_times(
    sharp_pbmm, tmp_path, capsys, monkeypatch
) -> None:
    speech = load_clip("speech")
    pcm = np.concatenate([np.zeros(32000, np.int16), speech, np.zeros(24000, np.int16)])
    wav = write_wav(tmp_path / "padded.wav", pcm)
    start, end = speech_span(pcm)
    assert start > 16000 and end < len(pcm) - 16000  # the padding mostly goes
    ours = Transcriber(sharp_pbmm, SCORER)
    base = ["--model", str(sharp_pbmm), "--scorer", str(SCORER), "--audio", str(wav)]
    assert run_cli(base, capsys)[1] == ours.text(pcm[start:end]) + "\n"  # on by default
    assert run_cli([*base, "--vad_trim", "no"], capsys)[1] == ours.text(pcm) + "\n"
    stdin = [*base[:-1], "-"]  # raw PCM on stdin: trimmed once the stream has ended
    code, out, _ = run_cli(stdin, capsys, pcm.tobytes(), monkeypatch)
    assert (code, out) == (0, ours.text(pcm[start:end]) + "\n")
    best = ours.transcribe(pcm[start:end])[0]
    words = json.loads(run_cli([*base, "--json"], capsys)[1])["transcripts"][0]["words"]
    expected = [round(w.start_time + start / 16000, 4) for w in ours.words(best) if w.word]
    assert [w["start_time"] for w in words] == expected


def test_cli_gate_adds_the_command_or_the_rejection(
    sharp_pbmm, tmp_path, capsys, deepspeech_lib
) -> None:
    """A gate beside the model is read by default: JSON says which command to act on (or
    null, rejected), text marks a rejection; --gate none and --gate FILE; the official
    client's candidates get the same verdict."""
    from dstorch.rejection import Gate, gate_path

    pcm = load_clip("speech")
    answer = Transcriber(sharp_pbmm, SCORER).transcribe(pcm, 5)
    model = tmp_path / "m.pbmm"
    model.write_bytes(sharp_pbmm.read_bytes())
    wav = write_wav(tmp_path / "a.wav", pcm)
    base = ["--model", str(model), "--scorer", str(SCORER), "--audio", str(wav)]
    base += ["--vad_trim", "no"]
    per_second = answer[0].confidence / (len(pcm) / 16000)
    lenient = Gate("confidence_per_second", per_second - 1, 5, (answer[0].text, "stop"))
    lenient.save(gate_path(model))
    for client in ("dstorch", "official"):
        record = json.loads(run_cli([*base, "--json", "--client", client], capsys)[1])
        assert (record["command"], record["rejected"]) == (answer[0].text, False), client
        assert len(record["transcripts"]) == 1  # 5 asked of the decoder, 1 shown
    strict = tmp_path / "strict.json"
    Gate("confidence_per_second", per_second + 1, 5, (answer[0].text,)).save(strict)
    record = json.loads(run_cli([*base, "--json", "--gate", str(strict)], capsys)[1])
    assert (record["command"], record["rejected"]) == (None, True)
    assert record["transcripts"][0]["text"] == answer[0].text
    assert run_cli([*base, "--gate", str(strict)], capsys)[1] == f"{answer[0].text} [rejected]\n"
    assert run_cli(base, capsys)[1] == f"{answer[0].text}\n"  # the lenient one beside it
    record = json.loads(run_cli([*base, "--json", "--gate", "none"], capsys)[1])
    assert "command" not in record and "rejected" not in record
    code, _, err = run_cli([*base, "--gate", str(tmp_path / "nope.json")], capsys)
    assert code != 0 and "nope.json: no such gate file" in err and err.count("\n") == 1


def _readme_example() -> str:
    """The Python block of the README's "In your app" section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## In your app", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def _official_as_deepspeech_module(lib: Path):
    """The official library behind the `deepspeech` Python API the README uses: its wheel
    needs Python <= 3.9, so its calls go through dstorch's ctypes binding of the same
    libdeepspeech.so."""
    from types import ModuleType, SimpleNamespace

    from dstorch.inference.official import OfficialModel

    class Model:
        def __init__(self, path: str):
            self.model = OfficialModel(path, lib)

        def enableExternalScorer(self, path: str) -> None:  # noqa: N802 - the client's name
            self.model.enable_scorer(path)

        def sttWithMetadata(self, audio, num_results: int):  # noqa: N802
            found = self.model.stt_with_metadata(audio, num_results)
            return SimpleNamespace(
                transcripts=[
                    SimpleNamespace(
                        confidence=c.confidence,
                        tokens=[SimpleNamespace(text=t.text) for t in c.tokens],
                    )
                    for c in found
                ]
            )

    module = ModuleType("deepspeech")
    module.Model = Model
    return module


def test_readme_gate_example_says_what_the_gate_says(
    sharp_pbmm, tmp_path, capsys, monkeypatch, deepspeech_lib
) -> None:
    """The README's example, run as written against the official library, acts on the
    command exactly when dstorch's Gate would, for every measure a gate file may name."""
    from dstorch.inference.official import OfficialModel
    from dstorch.rejection import MEASURES, Candidate, Gate, normalise

    pcm = load_clip("speech")
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(sharp_pbmm, models / "commands.pbmm")
    shutil.copy(SCORER, models / "commands.scorer")
    write_wav(tmp_path / "a.wav", pcm)
    with OfficialModel(models / "commands.pbmm", deepspeech_lib) as official:
        official.enable_scorer(SCORER)
        found = official.stt_with_metadata(pcm, 5)
    candidates = [Candidate(c.text, c.confidence) for c in found]
    said = normalise(candidates[0].text)
    assert said, "the clip should decode to some text"
    monkeypatch.setitem(sys.modules, "deepspeech", _official_as_deepspeech_module(deepspeech_lib))
    monkeypatch.chdir(tmp_path)
    Gate(MEASURES[0], -math.inf, 5, (said, "stop")).save(models / "commands.gate.json")
    example: dict = {}
    exec(compile(_readme_example(), "README.md", "exec"), example)  # noqa: S102
    assert capsys.readouterr().out == f"{said}\n"
    seconds = len(pcm) / 16000
    for measure in MEASURES:
        score = Gate(measure, 0.0, 5, ()).score(candidates, seconds)
        for threshold in (score - 0.01, score + 0.01):
            gate = Gate(measure, threshold, 5, (said, "stop"))
            gate.save(models / "commands.gate.json")
            example["gate"] = json.loads((models / "commands.gate.json").read_text())
            expected = gate.command(candidates, seconds)
            assert example["command"](pcm) == expected, (measure, threshold)
    assert example["command"](pcm) is None  # the last gate was strict
