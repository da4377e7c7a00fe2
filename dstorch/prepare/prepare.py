"""Preprocessing: original/<lang>/ + commands.csv -> data/ (WAVs, CSVs, alphabet, registry).

`original/` is only ever read. Every file written under data/ is written atomically, so an
interrupted run leaves the previous state, and re-running continues where it stopped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from dstorch.alphabet import Alphabet, AlphabetError
from dstorch.config import PipelineConfig
from dstorch.datafiles import ALPHABET_FILE, LM_CORPUS, REGISTRY_FILE
from dstorch.prepare import sources
from dstorch.prepare.lm_corpus import write_lm_corpus
from dstorch.prepare.ownership import claim
from dstorch.prepare.phrases import frequent_words, knows
from dstorch.prepare.problems import FileProblem, PrepareError
from dstorch.prepare.recording import Processor, Transcripts
from dstorch.prepare.registry import (
    Entry,
    load_registry,
    save_registry,
    source_key,
)
from dstorch.prepare.speech import prepare_speech
from dstorch.prepare.split import assign_splits, unheard_holdouts, write_csvs
from dstorch.prepare.summary import Tally, format_summary
from dstorch.prepare.synthetic.takes import synthesize


@dataclass
class PrepareResult:
    data_dir: Path
    registry: Path
    alphabet: Path
    csvs: dict[str, Path]  # split -> data/<split>.csv
    entries: list[Entry]  # this language's registry rows
    tally: Tally
    notes: list[str] = field(default_factory=list)
    lm_corpus: Path | None = None  # data/lm_corpus.txt, what the job builds the scorer from

    def summary(self) -> str:
        return format_summary(self.tally)


def check_config(config: PipelineConfig) -> None:
    fractions = (config.dev_fraction, config.test_fraction)
    if min(fractions) < 0 or sum(fractions) >= 1:
        raise PrepareError(
            f"DEV_FRACTION={config.dev_fraction} and TEST_FRACTION="
            f"{config.test_fraction} must be >= 0 and sum to less than 1"
        )
    if not 0 <= config.min_duration < config.max_duration:
        raise PrepareError(
            f"MIN_DURATION={config.min_duration} must be >= 0 and below "
            f"MAX_DURATION={config.max_duration}"
        )


def read_transcripts(config: PipelineConfig, root: Path, target: Path) -> Transcripts:
    """commands.csv's column for LANGUAGE, normalised and checked against the alphabet."""
    commands, notes = sources.read_commands(root / config.commands_csv, config.language)
    given = sources.load_alphabet(config.alphabet, root, target)
    keep = set(given.labels) if given else {"'"}
    text = {key: sources.normalise_text(raw, keep) for key, raw in commands.items()}
    problems = {
        key: FileProblem(
            "empty_transcript",
            f"id {key} has an empty `{config.language}` "
            f"transcript in {config.commands_csv}; fill it in",
        )
        for key, value in text.items()
        if not value
    }
    if given is None:
        # Speech that is no command spells other words: its letters join the alphabet.
        speech = config.speech_sets and knows(config.language)
        extra = [" ".join(frequent_words(config.language))] if speech else []
        _, more = sources.build_alphabet([t for t in text.values() if t] + extra, target)
        notes += _unspoken_notes(text, config.commands_csv) + more
    else:
        for key, value in text.items():
            try:
                given.encode(value, source=f"transcript of id {key} ({value!r})")
            except AlphabetError as e:
                problems.setdefault(key, FileProblem("bad_chars", f"{e} ({config.alphabet})"))
    return Transcripts(text, problems, notes)


def _unspoken_notes(text: dict[str, str], commands_csv: str) -> list[str]:
    """A warning per command whose transcript adds labels no one says to the alphabet."""
    notes = []
    for key, value in text.items():
        odd = sources.unspoken_characters(value)
        if odd:
            notes.append(
                f"warning: {commands_csv}: id {key} ({value!r}) has {' '.join(map(repr, odd))}, "
                "not letters, digits or an apostrophe; they become alphabet labels: spell "
                "them out as spoken or remove them"
            )
    return notes


def output_names(files: list[Path], folder: Path, language: str) -> dict[Path, str]:
    """data/-relative output per source; `a.mp3` next to `a.wav` becomes `a.mp3.wav`."""
    plain = {f: Path(language, f.relative_to(folder)).with_suffix(".wav").as_posix() for f in files}
    taken: dict[str, int] = {}
    for name in plain.values():
        taken[name] = taken.get(name, 0) + 1
    return {
        f: name
        if taken[name] == 1 or f.suffix.lower() == ".wav"
        else Path(language, f.relative_to(folder)).as_posix() + ".wav"
        for f, name in plain.items()
    }


def _process_all(
    keys: dict[Path, str],
    outputs: dict[Path, str],
    old: dict[str, Entry],
    processor: Processor,
    update: bool,
) -> tuple[dict, int]:
    """Registry rows for the files of `keys` ({file: registry key}); without `update`
    new/changed files wait (counted)."""
    keyed = list(keys.items())
    keyed.sort(key=lambda fk: (fk[1] not in old, fk[1]))  # registered first: they win dups
    entries, pending = {}, 0
    # disable=None: no bar when output goes to a log file instead of a terminal
    for path, key in tqdm(keyed, desc="audio", unit="file", leave=False, disable=None):
        if not key.isprintable() or not _utf8(key):  # the registry and CSVs are UTF-8
            processor.say(f"{key!r}: file name is not valid UTF-8; rename it (skipped)")
            continue
        if not path.exists():  # a symlink to a file that is gone (or out of reach)
            target = os.readlink(path)
            processor.say(f"{key}: a symlink to {target}, which is missing; fix or remove it")
            continue
        prev = old.get(key)
        if not update and (
            prev is None
            or prev.bytes != path.stat().st_size
            or prev.mtime_ns != path.stat().st_mtime_ns
        ):
            pending += 1
            if prev is not None:  # changed: keeps its old audio until NEW_DATA=yes
                entries[key] = processor.recheck(prev)
            continue
        entries[key] = processor(path, key, outputs[path], prev)
    return entries, pending


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _remove_gone(
    old: dict[str, Entry],
    entries: dict[str, Entry],
    prefix: str,
    data_dir: Path,
    say: Callable[[str], None],
) -> None:
    in_use = {e.wav for e in entries.values()}  # a.flac may now write what a.wav did
    for key, prev in old.items():
        if key.startswith(prefix) and key not in entries and prev.status != "removed":
            say(f"{key}: no longer in {prefix.rstrip('/')}; dropped from the data set")
            if prev.wav and prev.wav not in in_use:
                (data_dir / prev.wav).unlink(missing_ok=True)
            prev.status, prev.note = "removed", "source file deleted"
        if key not in entries:
            entries[key] = prev  # other languages' rows and history stay in the registry


def speakable(transcripts: Transcripts) -> dict[str, str]:
    """{id: transcript} of the commands synthetic voices should say (usable ones only)."""
    return {
        key: text
        for key, text in transcripts.text.items()
        if text and key not in transcripts.problems
    }


def _notes(entries: list[Entry], transcripts: Transcripts, config: PipelineConfig) -> list:
    used = {e.id for e in entries if e.status == "ok" and not e.engine}
    notes = [
        f"{config.commands_csv}: id {key} ({text!r}) has no usable recordings"
        for key, text in transcripts.text.items()
        if key not in used and text
    ]
    for split, fraction in (("dev", config.dev_fraction), ("test", config.test_fraction)):
        if fraction > 0 and not any(e.split == split and e.status == "ok" for e in entries):
            notes.append(
                f"{split}.csv is empty ({split.upper()}_FRACTION={fraction}): "
                "record more takes per command to evaluate the model"
            )
    return notes


def prepare(
    config: PipelineConfig, root: Path = Path("."), echo: Callable[[str], None] | None = None
) -> PrepareResult:
    """Convert, check and split the recordings; write data/ and print a summary."""
    say = echo or tqdm.write
    root = Path(root)
    check_config(config)
    folder = Path(config.original_dir) / config.language
    folder = folder if folder.is_absolute() else root / folder
    data_dir = (
        Path(config.data_dir) if Path(config.data_dir).is_absolute() else root / config.data_dir
    )
    files = sources.list_recordings(folder)
    claim(data_dir)  # before anything is written: never into a folder of someone else's
    alphabet_path, registry_path = data_dir / ALPHABET_FILE, data_dir / REGISTRY_FILE
    transcripts = read_transcripts(config, root, alphabet_path)
    lm_notes = write_lm_corpus(
        data_dir, transcripts, config.lm_text, root, config.bytes_output_mode
    )
    processor = Processor(
        config, data_dir, transcripts, sources.NameParser(config.filename_pattern), say
    )
    old = load_registry(registry_path)
    update = config.new_data or not old
    prefix = source_key(folder, root) + "/"
    # Keyed by their place in the folder, links not resolved: a recording that is a
    # symlink to a file elsewhere keeps its name (and its split), as a copy would.
    keys = {f: prefix + f.relative_to(folder).as_posix() for f in files}
    entries, pending = _process_all(
        keys, output_names(files, folder, config.language), old, processor, update
    )
    _remove_gone(old, entries, prefix, data_dir, say)
    current = [e for k, e in sorted(entries.items()) if k.startswith(prefix)]
    synthesis = synthesize(
        config, root, data_dir, speakable(transcripts), old, processor.check_length, say
    )
    entries.update(synthesis.entries)
    current += synthesis.current
    processor.tally.rendered = synthesis.rendered
    holdout = _holdouts(config, current)
    notes = (
        transcripts.alphabet_notes
        + synthesis.notes
        + assign_splits(
            current, config.dev_fraction, config.test_fraction, config.split_seed, holdout
        )
    )
    if pending:
        notes.append(
            f"{pending} new or changed recordings in {prefix} not used yet; "
            "add them with NEW_DATA=yes"
        )
    save_registry(registry_path, entries)
    csvs = write_csvs(data_dir, current, transcripts.text)
    labels = None if config.bytes_output_mode else Alphabet.from_file(alphabet_path).labels
    notes += prepare_speech(config, data_dir, list(speakable(transcripts).values()), labels)
    result = PrepareResult(
        data_dir,
        registry_path,
        alphabet_path,
        csvs,
        current,
        processor.tally,
        notes + lm_notes + _notes(current, transcripts, config),
        data_dir / LM_CORPUS,
    )
    return _finish(result, config, say)


def _holdouts(config: PipelineConfig, entries: list[Entry]) -> set[str]:
    """HOLDOUT_SPEAKERS as a set; PrepareError when a name matches nobody."""
    holdout = {s.strip() for s in config.holdout_speakers.split(",") if s.strip()}
    unknown = unheard_holdouts([e for e in entries if e.status != "removed"], holdout)
    if unknown:
        speakers = sorted({e.speaker for e in entries if e.speaker and not e.engine})
        shown = ", ".join(speakers[:8]) + (", ..." if len(speakers) > 8 else "") or "none"
        raise PrepareError(
            f"HOLDOUT_SPEAKERS={config.holdout_speakers}: {', '.join(unknown)} is no speaker, "
            f"synthetic voice or engine of the data (speakers: {shown}); fix the name"
        )
    return holdout


def _finish(
    result: PrepareResult, config: PipelineConfig, say: Callable[[str], None]
) -> PrepareResult:
    """Count, print the notes and the summary table; fail if nothing is left to train on."""
    for entry in result.entries:
        if entry.status == "ok":
            result.tally.add_sample(entry.split, entry.id, entry.duration, entry.engine)
        elif entry.status != "removed":
            result.tally.problems[entry.status] += 1
    for note in result.notes:
        say(note)
    say(result.summary())
    if result.tally.splits["train"] == 0:
        raise PrepareError(
            f"no usable recordings for training in {config.original_dir}/"
            f"{config.language}; fix the problems listed above"
        )
    return result
