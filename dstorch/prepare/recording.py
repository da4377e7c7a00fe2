"""One recording: check it and bring its 16 kHz copy in DATA_DIR up to date (Processor),
against the transcripts of commands.csv (Transcripts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dstorch.alphabet import ctc_steps_needed
from dstorch.config import PipelineConfig
from dstorch.features import SAMPLE_RATE, STEP, WINDOW
from dstorch.prepare import sources
from dstorch.prepare.convert import QUIETEST_DBFS, convert
from dstorch.prepare.problems import FileProblem
from dstorch.prepare.registry import Entry, file_sha256
from dstorch.prepare.summary import Tally
from dstorch.vad import trim_wav

NAME_MAX = 255  # bytes in one file name: what Linux and macOS file systems allow
TRIM_VAD = "vad"  # registry `trim` value of a copy cut to its speech by dstorch.vad


@dataclass
class Transcripts:
    """Normalised transcripts by id, and the per-id problems that skip their files."""

    text: dict[str, str]
    problems: dict[str, FileProblem]
    alphabet_notes: list[str]


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
            done = self._copy(path, entry, prev)
            self.check_length(entry)
            entry.status = "ok"
            # Counted once usable: the summary never counts a file that no split holds.
            setattr(self.tally, done, getattr(self.tally, done) + 1)
        except FileProblem as problem:
            entry.status, entry.note = problem.code, problem.message
            self.say(f"{key}: {problem.message}")
            if problem.code != "name_too_long":  # (no copy can exist: unlink would fail too)
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

    def _copy(self, path: Path, entry: Entry, prev: Entry | None) -> str:
        """Bring the copy up to date; -> the Tally count it adds to (unchanged, converted
        or copied)."""
        # The copy's name can outgrow the source's (a.flac beside a.wav: a.flac.wav), and
        # every decoder would fail on it, each with a different misleading reason.
        if len(Path(entry.wav).name.encode()) > NAME_MAX:
            raise FileProblem(
                "name_too_long",
                f"file name too long for its copy in DATA_DIR (over {NAME_MAX} bytes); shorten it",
            )
        return self._audio(path, entry, prev)

    def _audio(self, path: Path, entry: Entry, prev: Entry | None) -> str:
        target = self.data_dir / entry.wav
        entry.trim = TRIM_VAD if self.config.vad_trim else ""
        same = prev and prev.sha256 == entry.sha256 and prev.trim == entry.trim
        if same and prev.status == "ok" and target.exists():
            entry.duration = prev.duration  # unchanged: no reconversion
            return "unchanged"
        result = convert(path, target)  # VAD_TRIM changed: converted (and trimmed) again
        entry.duration = result.samples / SAMPLE_RATE
        if result.silent:
            raise FileProblem(
                "silent", "digital silence only; check the microphone and re-record it"
            )
        if result.level_dbfs < QUIETEST_DBFS:
            raise FileProblem(
                "no_speech",
                f"near-silence only (its loudest 30 ms at {result.level_dbfs:.0f} dBFS, speech "
                f"is above {QUIETEST_DBFS} dBFS); check the microphone and re-record it",
            )
        # The copy only (original/ is never written), in a second atomic write: if it is
        # interrupted, the registry (saved last) does not list the copy yet, so it is redone.
        if entry.trim:
            entry.duration = trim_wav(target) / SAMPLE_RATE
        if result.converted:
            self.say(f"{entry.source}: converted from {result.was} to 16 kHz mono 16-bit WAV")
            return "converted"
        return "copied"

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
        needed = ctc_steps_needed(text)
        steps = max(0, 1 + (round(seconds * SAMPLE_RATE) - WINDOW) // STEP)
        if steps < needed:
            raise FileProblem(
                "transcript_too_long",
                f"{seconds:.2f} s is too short for "
                f"{text!r} (needs {(needed * STEP + WINDOW) / SAMPLE_RATE:.2f} s "
                "at least); re-record it slower or check its id",
            )
