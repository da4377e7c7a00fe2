"""Bytes output mode (--bytes_output_mode): the byte alphabet, and a small Greek and
Chinese model that the official client decodes with our UTF-8 scorer as we do."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from dstorch.alphabet import Alphabet, AlphabetError, BytesAlphabet
from dstorch.bytes_mode import BYTE_LABELS, codepoint_sentence, encode_bytes, is_byte_labels
from dstorch.export.import_graph import parse_alphabet


def test_labels_are_bytes_minus_one() -> None:
    alphabet = BytesAlphabet()
    assert len(alphabet) == 255 and alphabet.blank == 255  # 256 classes with the blank
    assert alphabet.encode("a 你") == [0x61 - 1, 0x20 - 1, 0xE4 - 1, 0xBD - 1, 0xA0 - 1]
    assert alphabet.decode(alphabet.encode("όχι 开灯")) == "όχι 开灯"
    assert alphabet.decode(alphabet.encode("你")[:2]) == "\ufffd"  # a cut-off codepoint
    assert encode_bytes("a\0") is None
    with pytest.raises(AlphabetError, match="NUL"):
        alphabet.encode("a\0b", "x.csv:3")


def test_serialized_labels_are_raw_bytes() -> None:
    """UTF8Alphabet::Serialize: label i is the single byte i + 1, read back as such."""
    data = BytesAlphabet().serialize()
    assert data[:2] == (255).to_bytes(2, "little")
    assert data[2:7] == b"\x00\x00\x01\x00\x01" and data[-5:] == b"\xfe\x00\x01\x00\xff"
    assert parse_alphabet(data) == BYTE_LABELS
    assert parse_alphabet(Alphabet([" ", "é"]).serialize()) == [" ", "é"]


def test_checkpoint_labels_give_the_bytes_alphabet() -> None:
    assert isinstance(Alphabet.of(list(BYTE_LABELS)), BytesAlphabet)
    assert not is_byte_labels([" ", "a"]) and type(Alphabet.of([" ", "a"])) is Alphabet
    assert codepoint_sentence(" άνοιξε  φως ") == "ά ν ο ι ξ ε φ ω ς"


COMMANDS = [("el", "ναι"), ("el", "όχι"), ("el", "πάνω"), ("cmn", "开灯"), ("cmn", "关灯")]
TAKES = [("", 150), ("+m3", 180), ("+f2", 165), ("+f4", 150), ("+m1", 170)]


def render(folder: Path) -> Path:
    """espeak-ng takes of every command as 16 kHz WAVs; -> their DeepSpeech CSV."""
    rows = []
    for c, (voice, text) in enumerate(COMMANDS):
        for t, (variant, rate) in enumerate(TAKES):
            raw, wav = folder / f"raw{c}_{t}.wav", folder / f"c{c}_{t}.wav"
            cmd = ["espeak-ng", "-v", voice + variant, "-s", str(rate), "-w", str(raw), text]
            subprocess.run(cmd, check=True, capture_output=True)
            subprocess.run(["sox", raw, "-r", "16000", "-c", "1", "-b", "16", wav], check=True)
            rows.append([str(wav), wav.stat().st_size, text])
    path = folder / "train.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["wav_filename", "wav_filesize", "transcript"], *rows])
    return path


@pytest.fixture(scope="module")
def bytes_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A briefly trained bytes output mode model (.pbmm) and its training CSV."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("espeak-ng and sox are needed to render the Greek and Chinese takes")
    folder = tmp_path_factory.mktemp("bytes")
    train = render(folder)
    flags = "--n_hidden 128 --epochs 80 --train_batch_size 4 --dropout_rate 0 --device cpu"
    cmd = [sys.executable, "-m", "dstorch", "train", "--bytes_output_mode", *flags.split()]
    cmd += ["--train_files", str(train), "--checkpoint_dir", str(folder / "ckpt")]
    cmd += ["--export_dir", str(folder / "out"), "--export_file_name", "bytes"]
    cmd += ["--export_beam_width", "64"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    assert not (folder / "out" / "alphabet.txt").exists()  # the labels are the bytes
    return folder / "out" / "bytes.pbmm", train


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["commands", "open"])
def test_client_decodes_like_us_with_a_utf8_scorer(deepspeech_lib, bytes_model, mode) -> None:
    """The official client, our exported model and our UTF-8 scorer: its transcripts equal
    ours clip for clip, and it answers non-empty UTF-8 (Greek and Chinese)."""
    pytest.importorskip("kenlm")
    from dstorch.inference.official import OfficialModel
    from dstorch.inference.transcribe import Transcriber
    from dstorch.lm.scorer import ScorerError, build_scorer, read_scorer
    from dstorch.wav import read_wav

    model, train = bytes_model
    with open(train, encoding="utf-8") as f:
        clips = [(row["wav_filename"], row["transcript"]) for row in csv.DictReader(f)]
    try:
        scorer = build_scorer(
            [t for _, t in clips], BYTE_LABELS, model.with_suffix(f".{mode}.scorer"),
            alpha=1.0, beta=1.0, utf8=True, mode=mode,
        )  # fmt: skip
    except ScorerError as e:
        pytest.skip(str(e))
    assert read_scorer(scorer).utf8
    client = OfficialModel(model, deepspeech_lib)
    client.enable_scorer(scorer)
    ours = Transcriber(model, scorer)
    answers = [(client.stt(read_wav(wav)), ours.text(read_wav(wav)), text) for wav, text in clips]
    assert [a[0] for a in answers] == [a[1] for a in answers]
    assert sum(bool(c) and "\ufffd" not in c for c, _, _ in answers) >= len(clips) // 4
    known = {ch for _, text in COMMANDS for ch in text}
    assert all(set(c) <= known for c, _, _ in answers)  # only the scorer's codepoints
    client.disable_scorer()
    plain = Transcriber(model)
    assert all(client.stt(read_wav(w)) == plain.text(read_wav(w)) for w, _ in clips)
