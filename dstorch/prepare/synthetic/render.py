"""Render planned takes to 16 kHz mono 16-bit WAVs, in parallel, with a progress bar.

`render` is the small public API for scripts such as the generalisation bench: render the
voices of some engines (e.g. one held out of training) as test-only clips.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from dstorch.fs import atomic_write
from dstorch.prepare.problems import PrepareError
from dstorch.prepare.registry import atomic_target
from dstorch.prepare.synthetic.base import Engine, EngineError, Take
from dstorch.prepare.synthetic.catalog import choose
from dstorch.prepare.synthetic.plan import plan_takes
from dstorch.training.data import CSV_HEADER
from dstorch.wav import SOX_TARGET

PAD = "0.15"  # seconds of silence before and after, as in a recording started by hand
TRIM = ["1", "0.01", "-50d"]  # sox silence: cut leading quiet below -50 dB


def _jobs(takes: list[Take], engines: dict[str, Engine]) -> list[tuple[Engine, list[Take]]]:
    """Work units: one take each, or one voice each where an engine is slow to start."""
    jobs: dict[tuple, list[Take]] = {}
    for take in takes:
        engine = engines[take.engine]
        key = (take.engine, take.voice) if getattr(engine, "batch_by_voice", False) else take
        jobs.setdefault(key, []).append(take)
    return [(engines[group[0].engine], group) for group in jobs.values()]


def render_takes(
    takes: list[Take],
    engines: dict[str, Engine],
    data_dir: Path,
    language: str,
    on_done: Callable[[Take, Path | None, str], None],
) -> None:
    """Write each take to data_dir/<take.relpath>; on_done(take, path or None, error)."""
    if not takes:
        return
    if not shutil.which("sox"):
        raise PrepareError("sox not found; install it (apt-get install sox) to render voices")
    bar = tqdm(total=len(takes), desc="synthetic voices", unit="take", leave=False, disable=None)
    workers = max(1, min(4, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(workers) as pool:

        def work(job: tuple[Engine, list[Take]]) -> None:
            engine, group = job
            for take, path, error in _render_group(engine, group, data_dir, language, scratch):
                on_done(take, path, error)
                bar.update(1)

        list(pool.map(work, _jobs(takes, engines)))  # list(): re-raise worker errors
    bar.close()


def _render_group(engine: Engine, group: list[Take], data_dir: Path, language: str, scratch):
    folder = Path(tempfile.mkdtemp(dir=scratch))
    raws = [folder / f"{i}.wav" for i in range(len(group))]
    try:
        engine.synthesize(group, raws)
    except EngineError as e:
        return [(take, None, str(e)) for take in group]
    results = []
    for take, raw in zip(group, raws, strict=True):
        target = data_dir / take.relpath(language)
        try:
            _finish(raw, target, engine.effects(take), take.gain)
            results.append((take, target, ""))
        except EngineError as e:
            results.append((take, None, f"{take.speaker} on {take.text!r}: {e}"))
    return results


def _finish(raw: Path, target: Path, effects: list[str], gain: float) -> None:
    """raw -> target: effects, silence trimmed and padded, peak at `gain` dBFS (atomic)."""
    with atomic_target(target) as tmp:
        command = ["sox", "-R", "-V1", str(raw), *SOX_TARGET]
        command += [str(tmp), *effects, "gain", "-n", "-1"]
        command += ["silence", *TRIM, "reverse", "silence", *TRIM, "reverse"]
        command += ["gain", "-n", str(gain), "pad", PAD, PAD]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise EngineError(f"sox failed ({result.stderr.strip() or result.returncode})")


def write_takes_csv(path: Path, folder: Path, takes: list[Take], language: str) -> None:
    """A DeepSpeech CSV of takes rendered under `folder`, sorted by id, the WAV paths
    relative to the CSV's own folder (so the data folder can move, e.g. into a volume)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for take in sorted(takes, key=lambda t: t.command):
        wav = folder / take.relpath(language)
        writer.writerow([os.path.relpath(wav, path.parent), wav.stat().st_size, take.text])
    atomic_write(path, out.getvalue())


def render(
    engines: str,
    commands: dict[str, str],
    out_dir: Path,
    language: str,
    per_command: int,
    seed: int,
) -> list[tuple[Path, str, str]]:
    """Render {id: transcript} with the voices `engines` selects (SYNTHETIC_VOICES syntax,
    e.g. "festival" or "flite:slt") into out_dir/synthetic/<language>/.

    -> [(wav, transcript, speaker)]; files already there are reused (names hold a digest
    of how they were made). The same arguments give the same takes and bytes, so a bench
    can train on some engines and test on clips of another.
    """
    choices, notes = choose(engines, language)
    if not choices:
        raise PrepareError(notes[0] if notes else f"no voices selected by {engines!r}")
    takes = plan_takes(choices, commands, per_command, seed)
    out_dir = Path(out_dir)
    todo = [t for t in takes if not (out_dir / t.relpath(language)).exists()]
    errors: list[str] = []
    by_name = {c.engine.name: c.engine for c in choices}
    render_takes(todo, by_name, out_dir, language, lambda t, p, e: errors.append(e) if e else 0)
    if errors:
        raise PrepareError(errors[0])
    return [(out_dir / t.relpath(language), t.text, t.speaker) for t in takes]
