"""Preprocessing: original/<lang>/ + commands.csv -> data/ (WAVs, CSVs, alphabet, registry).

`original/` is only ever read. Every file written under data/ is written atomically, so an
interrupted run leaves the previous state, and re-running continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from dstorch.alphabet import AlphabetError
from dstorch.config import LM_CORPUS, REGISTRY_FILE, PipelineConfig
from dstorch.features import SAMPLE_RATE, STEP, WINDOW
from dstorch.prepare import sources
from dstorch.prepare.audio import convert
from dstorch.prepare.lm_corpus import write_lm_corpus
from dstorch.prepare.ownership import claim
from dstorch.prepare.registry import (
    Entry,
    file_sha256,
    load_registry,
    save_registry,
    source_key,
)
from dstorch.prepare.report import FileProblem, PrepareError, Tally, format_summary
from dstorch.prepare.split import assign_splits, write_csvs
from dstorch.prepare.synthetic.takes import synthesize
from dstorch.vad import trim_wav

TRIM_VAD = "vad"  # registry `trim` value of a copy cut to its speech by dstorch.vad


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


@dataclass
class Transcripts:
    """Normalised transcripts by id, and the per-id problems that skip their files."""

    text: dict[str, str]
    problems: dict[str, FileProblem]
    alphabet_notes: list[str]


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
        _, more = sources.build_alphabet([t for t in text.values() if t], target)
        notes += more
    else:
        for key, value in text.items():
            try:
                given.encode(value, source=f"transcript of id {key} ({value!r})")
            except AlphabetError as e:
                problems.setdefault(key, FileProblem("bad_chars", f"{e} ({config.alphabet})"))
    return Transcripts(text, problems, notes)


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


def _hash(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError as e:
        raise FileProblem(
            "unreadable", f"cannot be read ({e.strerror}); check its permissions or copy it again"
        ) from None


class Processor:
    """Checks one recording and brings its WAV in data/ up to date."""

    def __init__(
        self,
        config: PipelineConfig,
        data_dir: Path,
        transcripts: Transcripts,
        parse: sources.NameParser,
        say: Callable[[str], None],
    ):
        self.config, self.data_dir, self.say = config, data_dir, say
        self.transcripts, self.parse = transcripts, parse
        self.seen: dict[str, str] = {}  # content hash -> first source with it
        self.tally = Tally()

    def __call__(self, path: Path, key: str, out: str, prev: Entry | None) -> Entry:
        stat = path.stat()
        quick = prev and (prev.bytes, prev.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
        entry = Entry(
            source=key,
            sha256=prev.sha256 if quick else "",
            bytes=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            split=prev.split if prev else "",
            wav=out,
        )
        try:
            entry.sha256 = entry.sha256 or _hash(path)
            self._identify(entry)
            self._audio(path, entry, prev)
            self.check_length(entry)
            entry.status = "ok"
        except FileProblem as problem:
            entry.status, entry.note = problem.code, problem.message
            self.say(f"{key}: {problem.message}")
            (self.data_dir / out).unlink(missing_ok=True)  # no stale audio for skipped files
        return entry

    def recheck(self, entry: Entry) -> Entry:
        """Re-check a registered file against today's commands.csv and limits, no audio."""
        if entry.status != "ok":
            return entry
        try:
            self._identify(entry)
            self.check_length(entry)
        except FileProblem as problem:
            entry.status, entry.note = problem.code, problem.message
            self.say(f"{entry.source}: {problem.message}")
        return entry

    def _identify(self, entry: Entry) -> None:
        entry.id, entry.speaker = self.parse(Path(entry.source).stem)
        if entry.id not in self.transcripts.text:
            raise FileProblem(
                "unknown_id",
                f"id {entry.id} is not in {self.config.commands_csv}"
                f"; add a row `{entry.id},<transcript>` or rename the file",
            )
        if entry.id in self.transcripts.problems:
            raise self.transcripts.problems[entry.id]
        first = self.seen.setdefault(entry.sha256, entry.source)
        if first != entry.source:
            raise FileProblem("duplicate_audio", f"same content as {first}; remove one copy")

    def _audio(self, path: Path, entry: Entry, prev: Entry | None) -> None:
        target = self.data_dir / entry.wav
        entry.trim = TRIM_VAD if self.config.vad_trim else ""
        same = prev and prev.sha256 == entry.sha256 and prev.trim == entry.trim
        if same and prev.status == "ok" and target.exists():
            entry.duration = prev.duration  # unchanged: no reconversion
            self.tally.unchanged += 1
            return
        result = convert(path, target)  # VAD_TRIM changed: converted (and trimmed) again
        entry.duration = result.samples / SAMPLE_RATE
        if result.silent:
            raise FileProblem(
                "silent", "digital silence only; check the microphone and re-record it"
            )
        # The copy only (original/ is never written), in a second atomic write: if it is
        # interrupted, the registry (saved last) does not list the copy yet, so it is redone.
        if entry.trim:
            entry.duration = trim_wav(target) / SAMPLE_RATE
        if result.converted:
            self.tally.converted += 1
            self.say(f"{entry.source}: converted from {result.was} to 16 kHz mono 16-bit WAV")
        else:
            self.tally.copied += 1

    def check_length(self, entry: Entry) -> None:
        """FileProblem if the clip is outside the duration limits or too short for its text."""
        seconds, config = entry.duration, self.config
        if seconds == 0:
            raise FileProblem("empty", "no audio samples; re-record or remove it")
        if seconds < config.min_duration:
            raise FileProblem(
                "too_short",
                f"{seconds:.2f} s is shorter than MIN_DURATION="
                f"{config.min_duration}; re-record it or lower MIN_DURATION",
            )
        if seconds > config.max_duration:
            raise FileProblem(
                "too_long",
                f"{seconds:.2f} s is longer than MAX_DURATION="
                f"{config.max_duration}; trim it or raise MAX_DURATION",
            )
        text = self.transcripts.text[entry.id]
        # CTC needs a time step per character, plus a blank between doubled letters.
        needed = len(text) + sum(a == b for a, b in zip(text, text[1:], strict=False))
        steps = max(0, 1 + (round(seconds * SAMPLE_RATE) - WINDOW) // STEP)
        if steps < needed:
            raise FileProblem(
                "transcript_too_long",
                f"{seconds:.2f} s is too short for "
                f"{text!r} (needs {(needed * STEP + WINDOW) / SAMPLE_RATE:.2f} s "
                "at least); re-record it slower or check its id",
            )


def _process_all(
    files: list[Path],
    outputs: dict[Path, str],
    old: dict[str, Entry],
    processor: Processor,
    root: Path,
    update: bool,
) -> tuple[dict, int]:
    """Registry rows for `files`; without `update` new/changed files wait (counted)."""
    keyed = [(f, source_key(f, root)) for f in files]
    keyed.sort(key=lambda fk: (fk[1] not in old, fk[1]))  # registered first: they win dups
    entries, pending = {}, 0
    # disable=None: no bar when output goes to a log file instead of a terminal
    for path, key in tqdm(keyed, desc="audio", unit="file", leave=False, disable=None):
        if not key.isprintable() or not _utf8(key):  # the registry and CSVs are UTF-8
            processor.say(f"{key!r}: file name is not valid UTF-8; rename it (skipped)")
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
    alphabet_path, registry_path = data_dir / "alphabet.txt", data_dir / REGISTRY_FILE
    transcripts = read_transcripts(config, root, alphabet_path)
    lm_notes = write_lm_corpus(
        data_dir, transcripts, config.lm_text, root, config.bytes_output_mode
    )
    processor = Processor(
        config, data_dir, transcripts, sources.NameParser(config.filename_pattern), say
    )
    old = load_registry(registry_path)
    update = config.new_data or not old
    entries, pending = _process_all(
        files, output_names(files, folder, config.language), old, processor, root, update
    )
    prefix = source_key(folder, root) + "/"
    _remove_gone(old, entries, prefix, data_dir, say)
    current = [e for k, e in sorted(entries.items()) if k.startswith(prefix)]
    synthesis = synthesize(
        config, root, data_dir, speakable(transcripts), old, processor.check_length, say
    )
    entries.update(synthesis.entries)
    current += synthesis.current
    processor.tally.rendered = synthesis.rendered
    holdout = {s.strip() for s in config.holdout_speakers.split(",") if s.strip()}
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
