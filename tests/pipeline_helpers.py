"""Shared helpers for the data-preparation tests (tests/prepare/).

Fixtures are real audio files written into tmp dirs at test time (seeded tones and noise via
soundfile; sox / espeak-ng where a test needs them), so nothing large is committed.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf
from config_helpers import shipped_config

from dstorch.datafiles import COMMANDS_CSV, REGISTRY_FILE
from dstorch.prepare import prepare
from dstorch.prepare.registry import load_registry

COMMANDS = {"1": "turn on the light", "2": "play music", "3": "stop", "4": "volume up"}
SPEAKERS = [f"{i:032x}" for i in range(1, 7)]


def tone(
    path: Path,
    seconds: float = 1.0,
    rate: int = 16000,
    channels: int = 1,
    subtype: str = "PCM_16",
    seed: int = 0,
    fmt: str | None = None,
) -> Path:
    """A distinct (seeded) tone plus noise, so no two fixtures have the same content."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    signal = 0.3 * np.sin(2 * np.pi * (200 + 10 * seed) * t) + 0.01 * rng.standard_normal(len(t))
    data = np.repeat(signal[:, None], channels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, rate, subtype=subtype, format=fmt)
    return path


def name(speaker: str, command: str, take: int, ext: str = "wav") -> str:
    return f"shapes_{speaker}_2_3_000000_{command}_{take:03d}.{ext}"


def project(root: Path, commands: dict = COMMANDS, speakers: int = 5, takes: int = 1) -> Path:
    """root/commands.csv + original/en/: every speaker says every command `takes` times."""
    root.mkdir(parents=True, exist_ok=True)
    rows = ["id,en"] + [f"{k},{v}" for k, v in commands.items()]
    (root / COMMANDS_CSV).write_text("\n".join(rows) + "\n", encoding="utf-8")
    seed = 0
    for speaker in SPEAKERS[:speakers]:
        for command in commands:
            for take in range(1, takes + 1):
                seed += 1
                tone(root / "original" / "en" / name(speaker, command, take), seed=seed)
    return root


def run(root: Path, messages: list | None = None, **overrides):
    """prepare() with the shipped configuration; no synthetic voices unless a test asks."""
    config = shipped_config(**{"synthetic_voices": "none", **overrides})
    return prepare(config, root, echo=(messages.append if messages is not None else _quiet))


def _quiet(_: str) -> None:
    pass


def splits(root: Path) -> dict[str, str]:
    return {
        s: e.split
        for s, e in load_registry(root / "data" / REGISTRY_FILE).items()
        if e.status == "ok"
    }


def snapshot(folder: Path) -> dict:
    return {
        p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


NO_Z = str(Path(__file__).parent / "fixtures/pipeline/alphabet_no_z.txt")
