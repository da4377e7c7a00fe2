"""Named AUGMENT values: a word that stands for a list of `--augment` specs.

configuration.env says `AUGMENT=default` instead of a 300-character line; `split_specs`
replaces a preset's name by its specs wherever it stands among them, so
`AUGMENT=default vtlp[p=0.5]` adds to the default. The specs below are the one home of the
default augmentation: the measurements behind each are in docs/experiments.md.
"""

from __future__ import annotations

# Other speakers and microphones: level, pitch, speaking rate and a light echo.
SPEAKER = (
    "volume[p=0.5,dbfs=-35:-15]",
    "pitch[p=0.5,pitch=1~0.15]",
    "tempo[p=0.5,factor=1~0.15]",
    "reverb[p=0.3,delay=40~30,decay=10~5]",
)
# SpecAugment on the MFCC frames: the model may not lean on one band or one instant.
MASKS = (
    "frequency_mask[p=0.5,n=2,size=2]",
    "time_mask[p=0.5,n=2,size=4]",
)
# A real room, last (dstorch/augment/environment.py): 60% of the clips in a simulated room,
# 80% with noise at 2-18 dB SNR, babble (other voices) 3 times in 7, from five streams.
ROOMS = (
    "room[p=0.6]",
    "noise[p=0.8,kind=babble|babble|babble|pink|brown|white|hum,snr=10~8,seed=2~2]",
)
DEFAULT = SPEAKER + MASKS + ROOMS

# name -> specs, in the order they are applied
PRESETS: dict[str, tuple[str, ...]] = {"default": DEFAULT}


def expand(specs: list[str]) -> list[str]:
    """`specs` with every preset name replaced by its specs, in place."""
    return [spec for item in specs for spec in PRESETS.get(item, (item,))]
