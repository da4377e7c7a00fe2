"""Import a corpus: rows -> normalised transcripts -> 16 kHz mono 16-bit WAVs (in parallel,
resumable) -> one DeepSpeech CSV per split, alphabet.txt, rejects.csv and import.json.

Output folder layout (never inside the source):
    clips/<name>.wav        converted audio; a WAV newer than its source is not redone
    <split>.csv             wav_filename (relative to the CSV), wav_filesize, transcript
    alphabet.txt            the given --alphabet, or the labels of the imported transcripts
    rejects.csv             split, source, problem, message: every row left out
    import.json             corpus, source, clips and seconds per split, role -> CSVs
"""

from __future__ import annotations

import csv
import io
import json
import os
import wave
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from dstorch.alphabet import Alphabet, AlphabetError
from dstorch.datafiles import ALPHABET_FILE
from dstorch.features import SAMPLE_RATE, frame_count
from dstorch.fs import atomic_write
from dstorch.importers.base import ROLES, CorpusError, Importer, Reject, Row
from dstorch.importers.text import Normaliser
from dstorch.prepare.convert import convert
from dstorch.prepare.problems import FileProblem
from dstorch.training.data import CSV_HEADER
from dstorch.wav import is_target_format

CLIPS_DIR = "clips"
MANIFEST = "import.json"
REJECTS_FILE = "rejects.csv"
# Summary wording per reject code (rejects.csv has the specifics of each row).
REJECTS = {
    "bad_row": "unusable line in the corpus's list file",
    "no_transcript": "audio file without a transcript file",
    "missing": "listed audio file not found",
    "unreadable": "not readable as audio",
    "empty": "no audio samples",
    "empty_transcript": "nothing left of the transcript after normalising",
    "bad_chars": "characters outside the alphabet (digits, symbols, other scripts)",
    "transcript_too_long": "clip too short for its transcript (fewer 20 ms steps than letters)",
    "too_long": "longer than --max_duration",
}


@dataclass
class Summary:
    """What an import did: clips and seconds per split, rejects per code, work done."""

    out: Path
    clips: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)
    rejects: Counter = field(default_factory=Counter)
    converted: int = 0  # WAVs written by this run
    reused: int = 0  # WAVs a previous run had written
    roles: dict[str, list[str]] = field(default_factory=dict)


def check_output(source: Path, out: Path) -> None:
    """Refuse an output folder inside the source (or the source inside the output)."""
    src, dst = source.resolve(), out.resolve()
    if src == dst or src in dst.parents or dst in src.parents:
        raise CorpusError(
            f"output {out} and source {source} overlap; the source is never written to: "
            "give --out a folder outside it"
        )


def wav_samples(path: Path) -> int:
    with wave.open(str(path), "rb") as w:
        return w.getnframes()


def convert_clip(job: tuple[Path, Path]) -> tuple[int, bool, str, str]:
    """(source, target WAV) -> (samples, converted now, reject code, message); runs in a
    worker process. A target already converted (and newer than its source) is kept."""
    src, dst = job
    if not src.is_file():
        return 0, False, "missing", f"{src.name} not found"
    if dst.is_file() and dst.stat().st_mtime >= src.stat().st_mtime and is_target_format(dst):
        return wav_samples(dst), False, "", ""
    try:
        return convert(src, dst).samples, True, "", ""
    except FileProblem as e:
        return 0, False, e.code, e.message


def convert_all(jobs: list[tuple[Path, Path]], workers: int) -> list[tuple[int, bool, str, str]]:
    """convert_clip over `jobs` in `workers` processes (1: in this one), with progress."""
    bar = tqdm(total=len(jobs), desc="import", unit="clip", disable=None)
    try:
        if workers <= 1 or len(jobs) < 2:
            results = []
            for job in jobs:
                results.append(convert_clip(job))
                bar.update()
            return results
        chunk = max(1, min(32, len(jobs) // (4 * workers)))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = []
            for result in pool.map(convert_clip, jobs, chunksize=chunk):
                results.append(result)
                bar.update()
            return results
    finally:
        bar.close()


def _limited(rows: list[Row | Reject], limit: int | None) -> list[Row | Reject]:
    """At most `limit` rows per split (the first ones in the corpus's order)."""
    if not limit:
        return rows
    seen: Counter = Counter()
    out = []
    for row in rows:
        if isinstance(row, Row):
            seen[row.split] += 1
            if seen[row.split] > limit:
                continue
        out.append(row)
    return out


def import_corpus(
    importer: Importer,
    source: Path,
    out: Path,
    alphabet: Path | None = None,
    limit: int | None = None,
    workers: int | None = None,
    max_duration: float = 0.0,
) -> Summary:
    """Import `source` (laid out as `importer` reads it) into `out`; -> the Summary."""
    source, out = Path(source), Path(out)
    check_output(source, out)
    given = _load_alphabet(alphabet)
    normalise = Normaliser(given)
    rows = _limited(list(importer.rows(source)), limit)
    rejects = [r for r in rows if isinstance(r, Reject)]
    accepted: list[tuple[Row, str]] = []
    for row in (r for r in rows if isinstance(r, Row)):
        try:
            accepted.append((row, normalise(row.transcript)))
        except FileProblem as e:
            rejects.append(Reject(row.split, _shown(row.audio, source), e.code, e.message))
    targets = {row.audio: out / CLIPS_DIR / f"{row.name}.wav" for row, _ in accepted}
    jobs = list(targets.items())
    results = dict(zip(targets, convert_all(jobs, workers or os.cpu_count() or 1), strict=True))
    summary = Summary(out)
    summary.converted = sum(r[1] for r in results.values())
    summary.reused = sum(1 for r in results.values() if not r[1] and not r[2])
    tables: dict[str, list[list[str]]] = {}
    for row, text in accepted:
        samples, _, code, message = results[row.audio]
        seconds = samples / SAMPLE_RATE
        if not code and max_duration and seconds > max_duration:
            code, message = "too_long", f"{seconds:.1f} s > --max_duration {max_duration:g}"
        elif not code and frame_count(samples) < len(text):
            code, message = "transcript_too_long", f"{seconds:.2f} s for {len(text)} letters"
        if code:
            rejects.append(Reject(row.split, _shown(row.audio, source), code, message))
            continue
        wav = targets[row.audio]
        relative = wav.relative_to(out).as_posix()
        tables.setdefault(row.split, []).append([relative, str(wav.stat().st_size), text])
        summary.clips[row.split] += 1
        summary.seconds[row.split] += seconds
    _write_outputs(importer, source, out, given, tables, rejects, summary)
    return summary


def _shown(path: Path, source: Path) -> str:
    return str(path.relative_to(source)) if path.is_relative_to(source) else str(path)


def _load_alphabet(path: Path | None) -> Alphabet | None:
    if path is None:
        return None
    try:
        return Alphabet.from_file(path)
    except AlphabetError as e:
        raise CorpusError(f"--alphabet: {e}") from None


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _write_outputs(importer, source, out, given, tables, rejects, summary: Summary) -> None:
    if not tables:
        _write_rejects(out, rejects)
        raise CorpusError(
            f"{source}: no clip could be imported ({len(rejects)} rows rejected; the reasons "
            f"are in {out / REJECTS_FILE})"
        )
    for split, rows in sorted(tables.items()):
        atomic_write(out / f"{split}.csv", _csv_text(CSV_HEADER, rows))
    texts = sorted({ch for rows in tables.values() for _, _, text in rows for ch in text})
    alphabet = given or Alphabet([" "] + [ch for ch in texts if ch != " "])
    alphabet.save(out / ALPHABET_FILE)
    _write_rejects(out, rejects)
    summary.rejects = Counter(r.code for r in rejects)
    splits = sorted(tables)
    summary.roles = {
        role: [f"{s}.csv" for s in names] for role, names in importer.roles(splits).items()
    }
    manifest = {
        "corpus": importer.name,
        "source": str(source.resolve()),
        "splits": {
            s: {"csv": f"{s}.csv", "clips": summary.clips[s], "seconds": summary.seconds[s]}
            for s in splits
        },
        "roles": summary.roles,
        "alphabet": ALPHABET_FILE,
        "rejected": len(rejects),
    }
    atomic_write(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def _write_rejects(out: Path, rejects: list[Reject]) -> None:
    rows = [[r.split, r.source, r.code, r.message] for r in rejects]
    atomic_write(out / REJECTS_FILE, _csv_text(["split", "source", "problem", "message"], rows))


def read_manifest(folder: Path) -> dict:
    """import.json of an imported folder; CorpusError naming the fix when there is none."""
    path = Path(folder) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorpusError(
            f"{path}: not found; import a corpus there first (dstorch import)"
        ) from None
    except json.JSONDecodeError as e:
        raise CorpusError(f"{path}: not valid JSON ({e}); import the corpus again") from None


def role_files(folder: Path, role: str) -> str:
    """The comma-separated CSV list for a trainer flag (--train_files...) of an import."""
    assert role in ROLES
    names = read_manifest(folder)["roles"].get(role, [])
    return ",".join(str(Path(folder) / name) for name in names)


def format_summary(summary: Summary) -> str:
    lines = [
        f"Imported into {summary.out}/ ({summary.converted} converted, "
        f"{summary.reused} already there):"
    ]
    for split in sorted(summary.clips):
        minutes = summary.seconds[split] / 60
        lines.append(f"  {split}.csv: {summary.clips[split]} clips, {minutes:.1f} min")
    if summary.rejects:
        lines.append(
            f"Rejected {sum(summary.rejects.values())} rows "
            f"(each with its reason in {summary.out / REJECTS_FILE}):"
        )
        for code, count in summary.rejects.most_common():
            lines.append(f"  {count:6d}  {code}: {REJECTS.get(code, code)}")
    for role in ROLES:
        files = ",".join(str(summary.out / name) for name in summary.roles.get(role, []))
        lines.append(f"--{role}_files {files or '(none)'}")
    return "\n".join(lines)
