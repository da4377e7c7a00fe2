"""Synthetic takes as registry rows: render what is new, keep what is there, drop the rest.

Rows live under data/synthetic/<lang>/ and carry the engine, so the splitter can tell them
from recordings. A take's file name holds a digest of its recipe (voice, rate, pitch, gain,
text), so a changed transcript or voice list renders new files instead of reusing stale ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock

import soundfile as sf

from dstorch.config import PipelineConfig
from dstorch.datafiles import SYNTHETIC_DIR
from dstorch.features import SAMPLE_RATE
from dstorch.prepare.problems import FileProblem
from dstorch.prepare.registry import Entry, file_sha256, source_key
from dstorch.prepare.synthetic.base import Take
from dstorch.prepare.synthetic.catalog import choose
from dstorch.prepare.synthetic.plan import plan_takes
from dstorch.prepare.synthetic.render import render_takes

FAILED = "synth_failed"  # the problem code of a take an engine could not render


@dataclass
class Synthesis:
    entries: dict[str, Entry] = field(default_factory=dict)  # every row under the prefix
    current: list[Entry] = field(default_factory=list)  # this run's takes
    notes: list[str] = field(default_factory=list)
    rendered: int = 0


def synthesize(
    config: PipelineConfig,
    root: Path,
    data_dir: Path,
    commands: dict[str, str],
    old: dict[str, Entry],
    check: Callable[[Entry], None],
    say: Callable[[str], None],
) -> Synthesis:
    """Bring data/synthetic/<LANGUAGE>/ up to date for {id: transcript}.

    Renders only missing takes, and only on NEW_DATA=yes or when this language has no
    synthetic rows yet; `check(entry)` raises FileProblem for takes the limits reject.
    """
    prefix = source_key(data_dir / SYNTHETIC_DIR / config.language, root) + "/"
    result = Synthesis({k: e for k, e in old.items() if k.startswith(prefix)})
    choices, result.notes = choose(config.synthetic_voices, config.language)
    takes = plan_takes(choices, commands, config.synthetic_takes, config.split_seed)
    wanted = {source_key(data_dir / t.relpath(config.language), root): t for t in takes}
    update = config.new_data or not result.entries
    _drop_unwanted(result.entries, wanted, data_dir)
    todo = []
    for key, take in wanted.items():
        prev, path = result.entries.get(key), data_dir / take.relpath(config.language)
        if prev and prev.status == "ok" and path.exists():
            result.current.append(_recheck(prev, check, say))
        elif update and path.exists() and not prev:
            # Rendered (atomically) by a run interrupted before it saved the registry.
            entry = _entry(take, key, path, "", None, check, config.language)
            result.entries[key] = entry
            result.current.append(entry)
        elif update:
            todo.append(take)
        elif prev and prev.status not in ("ok", "removed"):
            result.current.append(prev)  # a failed take keeps its note until NEW_DATA=yes
    lock = Lock()

    def done(take: Take, path: Path | None, error: str) -> None:
        key = source_key(data_dir / take.relpath(config.language), root)
        entry = _entry(take, key, path, error, result.entries.get(key), check, config.language)
        with lock:  # worker threads call this
            result.entries[key] = entry
            result.current.append(entry)
            if entry.status != "ok":
                say(f"{key}: {entry.note}")

    render_takes(todo, {c.engine.name: c.engine for c in choices}, data_dir, config.language, done)
    result.rendered = len(todo)
    waiting = len(wanted) - len(result.current)
    if waiting:
        result.notes.append(
            f"{waiting} synthetic takes not rendered yet (new commands or voices); "
            "add them with NEW_DATA=yes"
        )
    result.current.sort(key=lambda e: e.source)  # worker order must not matter
    return result


def _drop_unwanted(entries: dict[str, Entry], wanted: dict[str, Take], data_dir: Path) -> None:
    """Takes no longer planned (voice gone, transcript changed, fewer takes) are removed."""
    for key, entry in entries.items():
        if key not in wanted and entry.status != "removed":
            if entry.wav:
                (data_dir / entry.wav).unlink(missing_ok=True)
            entry.status, entry.note = "removed", "no longer planned (SYNTHETIC_VOICES/TAKES)"


def _recheck(entry: Entry, check: Callable[[Entry], None], say: Callable[[str], None]) -> Entry:
    try:
        check(entry)
    except FileProblem as problem:
        entry.status, entry.note = problem.code, problem.message
        say(f"{entry.source}: {problem.message}")
    return entry


def _entry(
    take: Take,
    key: str,
    path: Path | None,
    error: str,
    prev: Entry | None,
    check: Callable[[Entry], None],
    language: str,
) -> Entry:
    entry = Entry(
        source=key,
        id=take.command,
        speaker=take.speaker,
        split=prev.split if prev else "",  # a re-rendered take keeps its split
        wav=take.relpath(language),
        engine=take.engine,
    )
    if path is None:
        entry.status, entry.note = FAILED, error
        return entry
    stat = path.stat()
    entry.sha256, entry.bytes, entry.mtime_ns = file_sha256(path), stat.st_size, stat.st_mtime_ns
    entry.duration = sf.info(str(path)).frames / SAMPLE_RATE
    entry.status = "ok"
    try:
        check(entry)
    except FileProblem as problem:
        entry.status, entry.note = problem.code, problem.message
    return entry
