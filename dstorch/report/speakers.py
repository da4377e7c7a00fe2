"""Who spoke each test sample, and which voices the model heard in training.

The speaker comes from data/registry.csv (filled by `dstorch prepare`), not from the file
name, because the file name pattern is configurable and the registry already applied it.
"""

from __future__ import annotations

from pathlib import Path, PurePath


def load_speakers(registry: Path | None, wavs: list[str]) -> tuple[dict[str, str], set, list]:
    """-> ({test wav: speaker}, speakers with a train take, notes for the report)."""
    if registry is None:
        return {}, set(), []
    from dstorch.prepare.registry import load_registry

    try:
        entries = list(load_registry(Path(registry)).values())
    except (OSError, ValueError) as e:  # a bad registry must not cost the whole report
        return {}, set(), [f"speakers unknown: {e}"]
    if not entries:
        return {}, set(), [f"speakers unknown: {registry} is missing or empty"]
    by_wav = {e.wav: e for e in entries if e.wav}
    matched = {w: by_wav[key] for w in wavs if (key := _registry_key(w, by_wav))}
    notes = []
    if len(matched) < len(wavs):
        notes.append(f"{len(wavs) - len(matched)} test samples are not in {registry}")
    speakers = {w: e.speaker for w, e in matched.items() if e.speaker}
    languages = {_language(e.wav) for e in matched.values()}
    return speakers, seen_speakers(entries, languages), notes


def _registry_key(wav: str, by_wav: dict) -> str | None:
    """The registry's data/-relative path that `wav` ends with.

    Test CSV paths are resolved against the CSV's folder (absolute or relative to the
    working directory), while the registry stores them relative to data/; matching the
    longest path tail that the registry knows works for both.
    """
    parts = PurePath(wav).parts
    for start in range(len(parts)):
        key = PurePath(*parts[start:]).as_posix()
        if key in by_wav:
            return key
    return None


def _language(wav: str) -> str:
    """The language folder: the registry writes data/<lang>/... for every file."""
    parts = PurePath(wav).parts
    return parts[0] if len(parts) > 1 else ""


def seen_speakers(entries: list, languages: set[str]) -> set[str]:
    """Speakers with a usable train take in the tested language(s).

    Only "ok" rows count because only they are in train.csv; a take in another language
    trained another model, so it does not make the voice known to this one.
    """
    return {
        e.speaker
        for e in entries
        if e.split == "train" and e.status == "ok" and _language(e.wav) in languages
    }
