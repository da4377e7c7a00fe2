"""Augmentations for a real room, needing no recordings from the user: generated noise at
an SNR (`noise`) and the reverberation of simulated rooms (`room`); and the noisy test
conditions evaluation uses, drawn from other banks than training's.

Both work on float64 samples [N] at 16 kHz and keep N.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from dstorch.augment import cache, noises, rooms
from dstorch.augment.params import Augmentation, Param

# Banks for evaluation: seeds that no default spec uses, so the test rooms and babble
# voices/sentences are not those heard in training.
EVAL_SEED = 1000
# The dev set's rooms and babble (--dev_snrs): neither training's nor evaluation's.
DEV_SEED = 500
EVAL_KINDS = "pink|babble"


class Noise(Augmentation):
    NAME = "noise"
    DOC = (
        "add generated noise at an SNR (RMS over the clip): white, pink, brown, mains hum, or "
        "babble of synthetic voices speaking other sentences (made once, cached in data/augment)"
    )
    PARAMS = {
        "kind": Param(
            "str",
            "|".join(noises.KINDS),
            doc="kinds to draw from, |-separated; one named twice is drawn twice as often",
        ),
        "snr": Param("float", "15~5", low=-30.0, high=100.0, doc="dB speech over noise"),
        "talkers": Param("int", "4~2", low=1, high=20, clamp=True, doc="voices in babble"),
        "voices": Param("str", "espeak-ng", doc="babble's synthetic voices (SYNTHETIC_VOICES)"),
        "seed": Param(
            "int",
            "0",
            low=0,
            doc="which babble stream (voices, sentence order); a range (2~2) draws among them",
        ),
    }

    def kinds(self) -> list[str]:
        return str(self.values["kind"]).split("|")

    def check(self) -> None:
        bad = [k for k in self.kinds() if k not in noises.KINDS]
        if bad:
            raise self.error(f"kind {bad[0]!r} is unknown; use {'|'.join(noises.KINDS)}")
        if "babble" in self.kinds() and not self._babble_made():
            engine = str(self.values["voices"]).split(":")[0].split(",")[0]
            if not shutil.which(engine):
                raise self.error(
                    f"babble needs {engine!r} installed (or `dstorch prepare` run where it is); "
                    "or leave babble out"
                )

    def seeds(self) -> range:
        """The babble streams a spec draws from: seed=2~2 is five streams (0 to 4)."""
        low, high = self.values["seed"].bounds()
        return range(int(low), int(high) + 1)

    def _babble_made(self) -> bool:
        """Every stream of the spec is in the cache (a trainer without synthesizers needs no
        engine then)."""
        voices = str(self.values["voices"])
        paths = (cache.path_for("babble", noises.babble_recipe(voices, s)) for s in self.seeds())
        return all(path.exists() for path in paths)

    def warm(self) -> None:
        """Make the babble streams now (prepare), not in the middle of training."""
        if "babble" in self.kinds():
            for seed in self.seeds():
                noises.babble_stream(str(self.values["voices"]), seed)

    def noise(self, kind: str, n: int, clock: float, rng: np.random.Generator) -> np.ndarray:
        """One noise of `kind`, [n], RMS 1."""
        if kind in noises.COLOURS:
            return noises.coloured(n, noises.COLOURS[kind], rng)
        if kind == "hum":
            return noises.hum(n, rng)
        seeds = self.seeds()
        # One stream: no draw, so a constant seed keeps the random stream it always had.
        seed = seeds[0] if len(seeds) == 1 else int(self.pick("seed", clock, rng))
        stream = noises.babble_stream(str(self.values["voices"]), seed)
        return noises.babble(n, rng, stream, self.pick("talkers", clock, rng))

    def apply(self, audio: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        kinds = self.kinds()
        kind = kinds[int(rng.integers(len(kinds)))]
        snr = self.pick("snr", clock, rng)
        return noises.mix_at_snr(audio, self.noise(kind, len(audio), clock, rng), snr)


class Room(Augmentation):
    NAME = "room"
    DOC = (
        "reverberation of a simulated shoebox room (image sources): a bank of `rooms` random "
        "rooms whose RT60 and talker-microphone distance span the given ranges, cached in "
        "data/augment; each sample gets one of them"
    )
    PARAMS = {
        "rt60": Param("float", "0.45~0.35", low=0.05, high=2.0, doc="s reverberation time"),
        "distance": Param("float", "1.5~1.2", low=0.1, high=6.0, doc="m talker to microphone"),
        "rooms": Param("int", "48", low=1, high=10000, doc="rooms in the bank"),
        "seed": Param("int", "0", low=0, doc="which bank"),
    }

    def bank(self) -> list[np.ndarray]:
        return rooms.room_bank(
            int(self.values["rooms"].start),
            self.values["rt60"].bounds(),
            self.values["distance"].bounds(),
            int(self.values["seed"].start),
        )

    def warm(self) -> None:
        """Simulate the rooms now (prepare), not in the middle of training."""
        self.bank()

    def apply(self, audio: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        bank = self.bank()
        return rooms.reverberate(audio, bank[int(rng.integers(len(bank)))])


ENVIRONMENT_AUGMENTATIONS: list[type[Augmentation]] = [Noise, Room]


def warm_banks(specs: list[str], data_dir: str | Path) -> list[str]:
    """Make the banks the `noise`/`room` specs among `specs` use, in <data_dir>/augment.
    -> the specs warmed."""
    from dstorch.augment.parse import parse_augmentations  # late: parse imports this module

    cache.use_data_dir(data_dir)
    warmed = []
    for augmentation in parse_augmentations(specs):
        if isinstance(augmentation, (Noise, Room)):
            augmentation.warm()
            warmed.append(augmentation.spec)
    return warmed


def warm_for_training(augment: str, data_dir: str | Path) -> list[str]:
    """Make every bank that AUGMENT, the noisy dev set and test report use, in <data_dir>/augment:
    prepare does it because a Docker trainer has no synthesizers. -> the specs warmed."""
    from dstorch.augment.parse import split_specs  # late: parse imports this module

    conditions = condition_specs(10.0) + condition_specs(10.0, DEV_SEED)  # any SNR: same banks
    return warm_banks(split_specs(augment) + conditions, data_dir)


def condition_name(snr: float | None) -> str:
    """How reports name a test condition: "clean" or "room + <snr> dB"."""
    return "clean" if snr is None else f"room + {snr:g} dB"


def condition_specs(snr: float | None, seed: int = EVAL_SEED) -> list[str]:
    """A test condition: every clip in a room of the evaluation bank, plus noise of
    EVAL_KINDS at exactly `snr` dB (None: reverberation only)."""
    specs = [f"room[seed={seed}]"]
    if snr is not None:
        specs.append(f"noise[kind={EVAL_KINDS},snr={snr:g},seed={seed}]")
    return specs
