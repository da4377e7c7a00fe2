"""Does the voice-activity trim (dstorch/vad.py) help the official client?

Clips of voices the model never heard (a synthesizer engine held out of its training) are
judged as they are, and padded with 1-3 s (seeded) before and after of silence, or of
silence then put in a room of the evaluation bank with noise (pink or babble) at 20 and
10 dB, and unpadded in that room at 10 dB; each with the trim off and on, without and
with a scorer. The SNR is that of the speech: the noise is scaled against the RMS of the
clip itself, not of the padded clip (whose quiet padding would otherwise make the noise
weaker than the name says).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dstorch.augment import Augmenter, parse_augmentations, quantize
from dstorch.augment.dsp import load_audio
from dstorch.augment.environment import EVAL_KINDS, EVAL_SEED
from dstorch.augment.noises import mix_at_snr
from dstorch.features import SAMPLE_RATE
from dstorch.inference.official import OfficialModel
from dstorch.vad import trim

PAD_SECONDS = (1.0, 3.0)  # padding before and after each clip, drawn per side
PAD_SEED = 13
# (name, padded, SNR in dB or None for no room and noise)
CONDITIONS = (
    ("clean, unpadded", False, None),
    ("padded: silence", True, None),
    ("padded: room + 20 dB", True, 20.0),
    ("padded: room + 10 dB", True, 10.0),
    ("unpadded: room + 10 dB", False, 10.0),  # does the trim cut into noisy speech?
)


@dataclass
class Row:
    condition: str
    scorer: str  # "none" or the scorer file's name
    exact: dict[str, float]  # trim setting ("off", "a=3") -> share of exact transcripts
    clips: int


def pad(audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """float audio [N] with PAD_SECONDS of zeros drawn for each side -> (padded [M],
    mask [M], True where the clip is)."""
    before, after = (round(rng.uniform(*PAD_SECONDS) * SAMPLE_RATE) for _ in range(2))
    mask = np.concatenate([np.zeros(before, bool), np.ones(len(audio), bool)])
    mask = np.concatenate([mask, np.zeros(after, bool)])
    return np.concatenate([np.zeros(before), audio, np.zeros(after)]), mask


def in_room(audio: np.ndarray, mask: np.ndarray, snr: float, index: int) -> np.ndarray:
    """audio [M] in an evaluation room, plus noise (pink or babble, alternating) at `snr`
    dB below the RMS of the speech (where mask [M] is True) -> [M] float."""
    rng = np.random.default_rng([EVAL_SEED, index])
    room = Augmenter(parse_augmentations([f"room[seed={EVAL_SEED}]"]), EVAL_SEED)
    wet = room.apply_audio(audio, 0.0, rng)
    kinds = EVAL_KINDS.split("|")
    noise_spec = f"noise[kind={EVAL_KINDS},snr={snr:g},seed={EVAL_SEED}]"
    noise = parse_augmentations([noise_spec])[0]
    raw = noise.noise(kinds[index % len(kinds)], len(wet), 0.0, rng)
    return mix_at_snr(wet, raw, snr, where=mask)


def conditions(clips: list[tuple[Path, str, str]]) -> dict[str, list[tuple[np.ndarray, str]]]:
    """{condition name: [(int16 pcm, transcript)]} for every clip [(wav, transcript, _)]."""
    rng = np.random.default_rng(PAD_SEED)
    out: dict[str, list[tuple[np.ndarray, str]]] = {name: [] for name, _, _ in CONDITIONS}
    for index, (wav, text, _) in enumerate(clips):
        clean = load_audio(wav)
        padded, mask = pad(clean, rng)
        for name, is_padded, snr in CONDITIONS:
            audio = padded if is_padded else clean
            if snr is not None:
                audio = in_room(audio, mask if is_padded else np.ones(len(audio), bool), snr, index)
            out[name].append((quantize(audio), text))
    return out


def exact(recognise: Callable[[np.ndarray], str], clips, aggressiveness: int | None) -> float:
    """Share of [(pcm, transcript)] recognised exactly, trimmed first unless None."""
    hits = []
    for pcm, text in clips:
        audio = pcm if aggressiveness is None else trim(pcm, aggressiveness=aggressiveness)
        hits.append(recognise(audio).strip() == text)
    return float(np.mean(hits)) if hits else float("nan")


def measure(model: Path, scorer: Path | None, clips: list, aggressiveness: list[int]) -> list[Row]:
    """Rows for every condition and scorer (none, then `scorer` if given)."""
    sets, rows = conditions(clips), []
    for scorer_path in [None] + ([scorer] if scorer else []):
        with OfficialModel(model) as client:
            if scorer_path is not None:
                client.enable_scorer(scorer_path)
            for name, _, _ in CONDITIONS:
                results = {"off": exact(client.stt, sets[name], None)}
                for a in aggressiveness:
                    results[f"a={a}"] = exact(client.stt, sets[name], a)
                label = "none" if scorer_path is None else scorer_path.name
                rows.append(Row(name, label, results, len(sets[name])))
                print(format_rows(rows[-1:], header=False), flush=True)
    return rows


def format_rows(rows: list[Row], header: bool = True) -> str:
    """Markdown: exact transcripts per trim setting, with the ratio to no trim."""
    settings = list(rows[0].exact) if rows else []
    lines = []
    if header:
        names = " | ".join("no trim" if s == "off" else f"trim {s}" for s in settings)
        lines += [f"| condition | scorer | {names} |", "|---|---|" + "---|" * len(settings)]
    for row in rows:
        base = row.exact["off"]
        cells = [f"{row.exact['off']:.0%} ({row.clips} clips)"]
        for s in settings[1:]:
            ratio = f"x{row.exact[s] / base:.2f}" if base else "n/a"
            cells.append(f"{row.exact[s]:.0%} ({ratio})")
        lines.append(f"| {row.condition} | {row.scorer} | {' | '.join(cells)} |")
    return "\n".join(lines)
