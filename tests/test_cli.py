"""The CLI: every subcommand parses, and user errors are one line without a traceback."""

import subprocess
import sys

from conftest import FIXTURES_DIR

from dstorch.cli import build_parser

FIXTURES = FIXTURES_DIR / "clips"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dstorch", *args], capture_output=True, text=True)


def test_every_subcommand_has_help():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in ("train", "export", "evaluate", "job", "prepare", "preview", "run", "stop"):
        assert name in commands
    for name in commands:
        assert run(name, "--help").returncode == 0, name


def test_preview_writes_wavs_and_rejects_bad_specs(tmp_path):
    wav = str(FIXTURES / "go_en_m1.wav")
    ok = run(
        "preview", wav, "--augment", "volume[p=1,dbfs=-20]", "--n", "2", "--out_dir", str(tmp_path)
    )
    assert ok.returncode == 0, ok.stderr
    assert len(list(tmp_path.glob("*.wav"))) == 3
    bad = run("preview", wav, "--augment", "bogus[p=1]", "--out_dir", str(tmp_path))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: --augment 'bogus[p=1]'")
