"""Simulated room impulse responses: shoebox rooms of random size and reverberation time,
a talker and a microphone at a random distance, by the image-source method
(pyroomacoustics). A bank of rooms is made once per recipe and cached (augment.cache).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from dstorch.augment import cache, dsp

ROOM_VERSION = 1  # bump when the simulation changes
SIZE_M = ((3.0, 3.0, 2.4), (9.0, 7.0, 3.5))  # smallest and largest room (length, width, height)
MARGIN_M = 0.4  # talker and microphone keep this far from every wall
MAX_ORDER = 50  # image-source reflection order cap (~0.3 s per room; later tail is truncated)
PRE_DELAY = 40  # samples kept before the direct path (the fractional-delay filter's half)


def simulate(rt60: float, distance: float, rng: np.random.Generator) -> np.ndarray:
    """The impulse response from a talker to a microphone `distance` m away in a random room
    with reverberation time `rt60` s, direct path first. -> [L] float64, direct peak ~1.

    When `rt60` is too short for a room (walls would absorb more than all), another room is
    drawn; `distance` shrinks to what the room holds.
    """
    import pyroomacoustics as pra  # late: only needed when a bank is made

    for _ in range(100):
        dims = rng.uniform(*SIZE_M)
        try:
            absorption, order = pra.inverse_sabine(rt60, dims)
        except ValueError:  # rt60 too short for this room
            continue
        break
    else:
        raise ValueError(f"no room between {SIZE_M} has RT60 {rt60:.2f} s")
    source, mic = _positions(dims, distance, rng)
    room = pra.ShoeBox(
        dims,
        fs=dsp.SAMPLE_RATE,
        materials=pra.Material(absorption),
        max_order=min(order, MAX_ORDER),
    )
    room.add_source(source)
    room.add_microphone(mic)
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float64)
    start = max(0, int(np.argmax(np.abs(rir))) - PRE_DELAY)
    rir = rir[start:]
    return rir / float(np.max(np.abs(rir)))


def _positions(dims: np.ndarray, distance: float, rng: np.random.Generator):
    """A talker at 1.2-1.8 m height and a microphone `distance` m away (or as far as fits)."""
    low, high = np.full(3, MARGIN_M), dims - MARGIN_M
    source = rng.uniform(low, high)
    source[2] = min(rng.uniform(1.2, 1.8), high[2])
    for attempt in range(200):
        reach = distance * (1.0 - attempt / 200)
        angle, tilt = rng.uniform(0, 2 * math.pi), rng.uniform(-0.3, 0.3)
        step = reach * np.array([math.cos(angle), math.sin(angle), math.sin(tilt)])
        mic = source + step
        if np.all(mic >= low) and np.all(mic <= high):
            return source, mic
    return source, np.clip(source + 0.1, low, high)


def room_bank(
    rooms: int, rt60: tuple[float, float], distance: tuple[float, float], seed: int
) -> list[np.ndarray]:
    """`rooms` impulse responses, RT60 and distance uniform in the given [low, high] bounds.
    -> [[L_i] float32]; the same arguments give the same bank."""
    recipe = f"{ROOM_VERSION}|{rooms}|{rt60}|{distance}|{seed}|{SIZE_M}|{MAX_ORDER}"
    arrays = cache.bank("rooms", recipe, lambda: _make_bank(rooms, rt60, distance, seed))
    return [rir[:n] for rir, n in zip(arrays["rirs"], arrays["lengths"], strict=True)]


def _make_bank(rooms: int, rt60, distance, seed: int) -> dict[str, np.ndarray]:
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    rirs = [
        simulate(rng.uniform(*rt60), rng.uniform(*distance), rng)
        for _ in tqdm(range(rooms), desc="Simulating rooms", leave=False)
    ]
    lengths = np.array([len(r) for r in rirs])
    padded = np.zeros((rooms, int(lengths.max())), dtype=np.float32)
    for i, rir in enumerate(rirs):
        padded[i, : len(rir)] = rir
    return {"rirs": padded, "lengths": lengths}


def reverberate(audio: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """`audio` [N] as heard through `rir` [L], cut to [N] (the tail past the end is lost),
    at the original peak level."""
    if len(audio) == 0:
        return audio
    wet = signal.fftconvolve(audio, rir.astype(np.float64))[: len(audio)]
    return dsp.normalize(wet, dsp.max_dbfs(audio))
