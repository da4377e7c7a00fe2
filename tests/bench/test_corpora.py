"""The generated corpora are encoded as the real ones ship."""

import soundfile as sf

from dstorch.bench.corpora import commonvoice_tree, ldc93s1_tree, librispeech_tree


def test_formats_and_layouts(tmp_path):
    expected = librispeech_tree(tmp_path / "ls", {"dev-clean": 2})
    flac = tmp_path / "ls" / "dev-clean" / "100" / "2000" / "100-2000-0000.flac"
    assert (sf.info(str(flac)).format, sf.info(str(flac)).samplerate) == ("FLAC", 16000)
    listing = (flac.parent / "100-2000.trans.txt").read_text().splitlines()
    assert listing[1] == "100-2000-0001 HE'S OPENING THE DOOR"
    assert expected["dev-clean"][1] == ("100-2000-0001", "he's opening the door")

    commonvoice_tree(tmp_path / "cv", {"train": [0, 1]})
    mp3 = sf.info(str(tmp_path / "cv" / "clips" / "common_voice_en_1.mp3"))
    assert (mp3.format, mp3.samplerate, mp3.channels) == ("MP3", 48000, 1)
    header = (tmp_path / "cv" / "train.tsv").read_text().splitlines()[0].split("\t")
    assert header[:4] == ["client_id", "path", "sentence_id", "sentence"]

    wav = ldc93s1_tree(tmp_path / "ldc")
    first, last, *words = (tmp_path / "ldc" / "LDC93S1.txt").read_text().split()
    assert (int(first), int(last)) == (0, sf.info(str(wav)).frames) and words[0] == "She"
